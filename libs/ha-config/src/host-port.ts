import { isIP } from 'node:net';
import type { HostPort } from './config.types';
import { ConfigError } from './config-error';

const BRACKETED = /^\[([^\]]+)\]:([^:]*)$/;
const PLAIN = /^([^:[\]]+):([^:]*)$/;
const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`);
const DIGITS = /^[0-9]{1,5}$/;

/**
 * `host:port`, `1.2.3.4:port` or `[v6]:port` -> HostPort (host without brackets).
 * minPort 0 allows an ephemeral port (binds); dial targets pass 1.
 */
export function parseHostPort(value: unknown, path: string, minPort: 0 | 1): HostPort {
  if (typeof value !== 'string') throw new ConfigError(path, 'expected host:port');
  const text = value.trim();
  const bracketed = BRACKETED.exec(text);
  const plain = bracketed ? null : PLAIN.exec(text);
  const host = bracketed?.[1] ?? plain?.[1];
  const portText = bracketed?.[2] ?? plain?.[2];
  if (host === undefined || portText === undefined || !DIGITS.test(portText)) throw new ConfigError(path, 'expected host:port');
  if (bracketed ? isIP(host) !== 6 : !isHostOrIPv4(host)) throw new ConfigError(path, 'expected host:port');
  const port = Number(portText);
  if (port < minPort || port > 65535) throw new ConfigError(path, `port must be from ${minPort} to 65535`);
  return { host, port };
}

function isHostOrIPv4(host: string): boolean {
  if (isIP(host) === 4) return true;
  if (/^[0-9.]+$/.test(host)) return false; // looks like an address but is not one
  return host.length <= 253 && HOSTNAME.test(host);
}

/** `[::1]:389` for IPv6 hosts, `host:port` otherwise. */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
