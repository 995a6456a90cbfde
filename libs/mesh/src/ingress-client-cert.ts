import type { IncomingHttpHeaders } from 'node:http';

/**
 * `/mesh` on the plain port with `ha.mesh.require_mtls: true`: TLS (and the
 * client certificate check) happened at the ingress, so the upgrade is
 * accepted only when it carries the ingress's verified-client headers
 * (docs/mesh.md "Ingress headers"):
 *
 * - ingress-nginx (`auth-tls-verify-client: "on"`): `ssl-client-verify: SUCCESS`
 *   and a non-empty `ssl-client-subject-dn` or `ssl-client-cert`;
 * - Envoy (`forward_client_cert_details: SANITIZE_SET`): `x-forwarded-client-cert`
 *   with an element holding a `Hash=` and one of `Subject=`, `URI=`, `DNS=`, `Cert=`.
 *
 * Anything else is refused: no header, `ssl-client-verify` other than SUCCESS
 * (FAILED:..., NONE) even when XFCC is present too, a header sent twice, or an
 * XFCC that does not parse. These headers prove something only when the
 * ingress strips client-supplied copies and the plain port is reachable
 * through the ingress alone.
 */
export type IngressVia = 'not_required' | 'nginx' | 'envoy';

export type IngressRefusal = 'no_client_cert' | 'client_cert_not_verified' | 'ambiguous_header' | 'malformed_header';

export type IngressVerdict =
  | { readonly ok: true; readonly via: IngressVia; readonly subject: string | undefined }
  | { readonly ok: false; readonly reason: IngressRefusal };

export interface IngressCertConfig {
  readonly requireMtls: boolean;
}

export const NGINX_VERIFY_HEADER = 'ssl-client-verify';
export const NGINX_SUBJECT_HEADER = 'ssl-client-subject-dn';
export const NGINX_CERT_HEADER = 'ssl-client-cert';
export const ENVOY_XFCC_HEADER = 'x-forwarded-client-cert';

const MAX_HEADER_CHARS = 16 * 1024;

type One = string | undefined | 'ambiguous';

function one(headers: IncomingHttpHeaders, name: string): One {
  const v = headers[name];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.length === 1 ? v[0]!.trim() : 'ambiguous';
  return v.trim();
}

function refuse(reason: IngressRefusal): IngressVerdict {
  return { ok: false, reason };
}

export function verifyIngressClientCert(headers: IncomingHttpHeaders, cfg: IngressCertConfig): IngressVerdict {
  if (!cfg.requireMtls) return { ok: true, via: 'not_required', subject: undefined };
  const verify = one(headers, NGINX_VERIFY_HEADER);
  const xfcc = one(headers, ENVOY_XFCC_HEADER);
  if (verify === 'ambiguous' || xfcc === 'ambiguous') return refuse('ambiguous_header');
  if (verify !== undefined) {
    if (verify !== 'SUCCESS') return refuse('client_cert_not_verified');
    const subject = one(headers, NGINX_SUBJECT_HEADER);
    const cert = one(headers, NGINX_CERT_HEADER);
    if (subject === 'ambiguous' || cert === 'ambiguous') return refuse('ambiguous_header');
    if ((subject === undefined || subject === '') && (cert === undefined || cert === '')) return refuse('no_client_cert');
    return { ok: true, via: 'nginx', subject: subject === undefined || subject === '' ? undefined : subject.slice(0, 512) };
  }
  if (xfcc !== undefined) {
    const elements = parseXfcc(xfcc);
    if (elements === null) return refuse('malformed_header');
    const good = elements.find((e) => /^[0-9a-fA-F]{32,128}$/.test(e.get('hash') ?? '') && ['subject', 'uri', 'dns', 'cert'].some((k) => (e.get(k) ?? '') !== ''));
    if (good === undefined) return refuse('no_client_cert');
    return { ok: true, via: 'envoy', subject: good.get('subject')?.slice(0, 512) };
  }
  return refuse('no_client_cert');
}

/**
 * XFCC: elements separated by ',', pairs by ';', `key=value` with values
 * optionally double-quoted (`\"` escapes inside). Keys are lower-cased.
 * Returns null when the header does not parse. Exported for tests.
 */
export function parseXfcc(value: string): Array<Map<string, string>> | null {
  if (value.length === 0 || value.length > MAX_HEADER_CHARS) return null;
  const out: Array<Map<string, string>> = [];
  let current = new Map<string, string>();
  let i = 0;
  const n = value.length;
  for (;;) {
    const eq = value.indexOf('=', i);
    if (eq < 0) return null;
    const key = value.slice(i, eq).trim().toLowerCase();
    if (!/^[a-z]+$/.test(key)) return null;
    i = eq + 1;
    let val = '';
    if (value[i] === '"') {
      i++;
      for (;;) {
        if (i >= n) return null;
        const c = value[i]!;
        if (c === '\\' && i + 1 < n) {
          val += value[i + 1];
          i += 2;
        } else if (c === '"') {
          i++;
          break;
        } else {
          val += c;
          i++;
        }
      }
      while (i < n && value[i] === ' ') i++;
    } else {
      const stop = nextDelimiter(value, i);
      val = value.slice(i, stop).trim();
      i = stop;
    }
    current.set(key, val);
    if (i >= n) break;
    const d = value[i];
    if (d === ',') {
      out.push(current);
      current = new Map();
    } else if (d !== ';') {
      return null;
    }
    i++;
  }
  out.push(current);
  return out;
}

function nextDelimiter(s: string, from: number): number {
  for (let j = from; j < s.length; j++) if (s[j] === ';' || s[j] === ',') return j;
  return s.length;
}
