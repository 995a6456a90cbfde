import { connect } from 'node:net';
import { Client } from 'ldapts';
import type { HealthKind, HostPort } from '@nowconnect/ha-config';
import { formatHostPort } from '@nowconnect/ha-config';
import { targetFailure } from './target-failure';

/** The result of one check: ok, or the reason it failed (a closed set of short labels). */
export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** kind tcp: a TCP connect within timeoutMs, closed at once. */
export function probeTcp(address: HostPort, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = connect({ host: address.host, port: address.port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ ok: false, reason: 'timeout' });
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ ok: true });
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, reason: targetFailure(err).label });
    });
  });
}

/**
 * kind ldap: an anonymous read of the root DSE (base '', scope base) with ldapts — what every LDAP
 * server answers without credentials, so a listening but wedged slapd or domain controller fails it.
 */
export async function probeLdap(address: HostPort, timeoutMs: number): Promise<ProbeResult> {
  const client = new Client({ url: `ldap://${formatHostPort(address)}`, timeout: timeoutMs, connectTimeout: timeoutMs });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<ProbeResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: 'timeout' }), timeoutMs);
  });
  const check = (async (): Promise<ProbeResult> => {
    try {
      await client.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['namingContexts'] });
      return { ok: true };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (typeof code === 'string' && code.startsWith('E')) return { ok: false, reason: targetFailure(err as Error).label };
      return { ok: false, reason: 'ldap_error' };
    }
  })();
  try {
    return await Promise.race([check, deadline]);
  } finally {
    clearTimeout(timer);
    void client.unbind().catch(() => undefined);
  }
}

export function probe(kind: HealthKind, address: HostPort, timeoutMs: number): Promise<ProbeResult> {
  return kind === 'ldap' ? probeLdap(address, timeoutMs) : probeTcp(address, timeoutMs);
}
