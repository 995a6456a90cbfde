import { isIP } from 'node:net';
import type { Cidr } from './config.types';
import { ConfigError } from './config-error';

/** IPv4/IPv6 CIDR parsing and matching for `listeners[].allow_cidrs`. No dependencies beyond node:net. */

interface Address {
  readonly family: 4 | 6;
  readonly value: bigint;
}

const BITS = { 4: 32, 6: 128 } as const;
const MAPPED_PREFIX = 0xffffn << 32n; // ::ffff:0:0/96
const MAPPED_MASK = ~0xffffffffn & ((1n << 128n) - 1n);

function ipv4ToBigint(text: string): bigint {
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function groupsToBigint(groups: readonly string[]): bigint {
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group === '' ? '0' : group, 16)), 0n);
}

/** Expands `::`, and an embedded dotted IPv4 tail, into 8 groups. Input must already pass isIP() === 6. */
function ipv6ToBigint(text: string): bigint {
  let body = text;
  const lastColon = body.lastIndexOf(':');
  const tail = body.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4ToBigint(tail);
    body = `${body.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', rest] = body.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  if (rest === undefined) return groupsToBigint(headGroups);
  const restGroups = rest === '' ? [] : rest.split(':');
  const zeros = new Array<string>(8 - headGroups.length - restGroups.length).fill('0');
  return groupsToBigint([...headGroups, ...zeros, ...restGroups]);
}

/** A literal IP address (IPv6 zone id ignored) -> family + numeric value; anything else -> undefined. */
function parseAddress(text: string): Address | undefined {
  const bare = text.split('%')[0] ?? '';
  const family = isIP(bare);
  if (family === 4) return { family: 4, value: ipv4ToBigint(bare) };
  if (family === 6) return { family: 6, value: ipv6ToBigint(bare) };
  return undefined;
}

/**
 * `10.0.0.0/8`, `2001:db8::/32`, or a bare address (= /32 or /128). Host bits
 * are masked off (`10.1.2.3/8` matches 10.0.0.0/8); a bad address or prefix
 * length is a ConfigError at `path`.
 */
export function parseCidr(text: string, path = 'cidr'): Cidr {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addrText = slash < 0 ? trimmed : trimmed.slice(0, slash);
  if (addrText.includes('%')) throw new ConfigError(path, 'expected an IPv4 or IPv6 CIDR like 10.0.0.0/8');
  const addr = parseAddress(addrText);
  if (addr === undefined) throw new ConfigError(path, 'expected an IPv4 or IPv6 CIDR like 10.0.0.0/8');
  const bits = BITS[addr.family];
  let prefix: number = bits;
  if (slash >= 0) {
    const prefixText = trimmed.slice(slash + 1);
    prefix = /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
    if (prefix < 0 || prefix > bits) throw new ConfigError(path, `prefix length must be from 0 to ${bits}`);
  }
  const hostBits = BigInt(bits - prefix);
  const network = (addr.value >> hostBits) << hostBits;
  return { text: trimmed, family: addr.family, network, prefix };
}

function inCidr(cidr: Cidr, addr: Address): boolean {
  if (cidr.family !== addr.family) return false;
  const hostBits = BigInt(BITS[cidr.family] - cidr.prefix);
  return addr.value >> hostBits === cidr.network >> hostBits;
}

/**
 * Whether a client may use a listener. `undefined` list = allow all. An
 * IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, as a dual-stack socket reports
 * IPv4 clients) is matched as IPv4 (and also against IPv6 CIDRs as written).
 * A remote address that is not an IP literal is refused.
 */
export function cidrAllows(cidrs: readonly Cidr[] | undefined, remoteAddress: string | undefined): boolean {
  if (cidrs === undefined) return true;
  if (remoteAddress === undefined) return false;
  const addr = parseAddress(remoteAddress);
  if (addr === undefined) return false;
  const candidates: Address[] = [addr];
  if (addr.family === 6 && (addr.value & MAPPED_MASK) === MAPPED_PREFIX) {
    candidates.push({ family: 4, value: addr.value & 0xffffffffn });
  }
  return cidrs.some((cidr) => candidates.some((candidate) => inCidr(cidr, candidate)));
}
