import { isIPv4, isIPv6 } from 'node:net';

/**
 * Masks a client address for logs: IPv4 keeps three octets (`10.1.2.x`), IPv6
 * is cut to its /48 (`2001:db8:1::/48`); IPv4-mapped IPv6 is treated as IPv4.
 */
export function maskIp(ip: string | undefined, enabled: boolean): string {
  if (ip === undefined || ip === '') return 'unknown';
  const v4 = ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  if (!enabled) return v4;
  if (isIPv4(v4)) {
    const parts = v4.split('.');
    return `${parts[0]}.${parts[1]}.${parts[2]}.x`;
  }
  if (isIPv6(v4)) {
    const groups = expandIpv6(v4).slice(0, 3).map((g) => g.replace(/^0+(?=.)/, ''));
    return `${groups.join(':')}::/48`;
  }
  return 'invalid';
}

function expandIpv6(ip: string): string[] {
  const [head = '', tail = ''] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = ip.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const fill = Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0');
  return [...h, ...fill, ...t];
}
