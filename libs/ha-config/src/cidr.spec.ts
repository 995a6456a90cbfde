import { cidrAllows, parseCidr } from './cidr';
import { ConfigError } from './config-error';

function failure(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseCidr', () => {
  it('parses IPv4 and masks host bits', () => {
    expect(parseCidr('10.1.2.3/8')).toEqual({ text: '10.1.2.3/8', family: 4, network: 0x0a000000n, prefix: 8 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ text: '0.0.0.0/0', family: 4, network: 0n, prefix: 0 });
  });

  it('parses IPv6 incl. :: and embedded IPv4', () => {
    expect(parseCidr('2001:db8::/32')).toMatchObject({ family: 6, prefix: 32, network: 0x20010db8n << 96n });
    expect(parseCidr('::1/128')).toMatchObject({ family: 6, network: 1n });
    expect(parseCidr('::ffff:10.0.0.0/104')).toMatchObject({ family: 6, network: (0xffffn << 32n) | 0x0a000000n });
    expect(parseCidr('2001:db8:1:2:3:4:5:6/48').network).toBe(0x20010db80001n << 80n);
  });

  it('treats a bare address as a host route', () => {
    expect(parseCidr('127.0.0.1')).toMatchObject({ family: 4, prefix: 32 });
    expect(parseCidr('fe80::1')).toMatchObject({ family: 6, prefix: 128 });
  });

  it.each([
    ['10.0.0.0/33', 'x: prefix length must be from 0 to 32'],
    ['::/129', 'x: prefix length must be from 0 to 128'],
    ['10.0.0.0/', 'x: prefix length must be from 0 to 32'],
    ['10.0.0.0/-1', 'x: prefix length must be from 0 to 32'],
    ['10.0.0.0/8/8', 'x: prefix length must be from 0 to 32'],
    ['10.0.0/8', 'x: expected an IPv4 or IPv6 CIDR like 10.0.0.0/8'],
    ['256.0.0.0/8', 'x: expected an IPv4 or IPv6 CIDR like 10.0.0.0/8'],
    ['example.com/8', 'x: expected an IPv4 or IPv6 CIDR like 10.0.0.0/8'],
    ['fe80::1%eth0/64', 'x: expected an IPv4 or IPv6 CIDR like 10.0.0.0/8'],
    ['', 'x: expected an IPv4 or IPv6 CIDR like 10.0.0.0/8'],
  ])('rejects %j', (text, message) => {
    expect(failure(() => parseCidr(text, 'x')).message).toBe(message);
  });
});

describe('cidrAllows', () => {
  const list = ['10.0.0.0/8', '127.0.0.1/32', '2001:db8::/32'].map((c) => parseCidr(c));

  it('allows everything when the list is undefined', () => {
    expect(cidrAllows(undefined, '8.8.8.8')).toBe(true);
    expect(cidrAllows(undefined, 'garbage')).toBe(true);
  });

  it('matches IPv4', () => {
    expect(cidrAllows(list, '10.255.1.2')).toBe(true);
    expect(cidrAllows(list, '127.0.0.1')).toBe(true);
    expect(cidrAllows(list, '127.0.0.2')).toBe(false);
    expect(cidrAllows(list, '11.0.0.1')).toBe(false);
  });

  it('matches IPv4-mapped IPv6 as IPv4', () => {
    expect(cidrAllows(list, '::ffff:127.0.0.1')).toBe(true);
    expect(cidrAllows(list, '::ffff:10.9.8.7')).toBe(true);
    expect(cidrAllows(list, '::ffff:7f00:1')).toBe(true);
    expect(cidrAllows(list, '::ffff:192.168.0.1')).toBe(false);
  });

  it('matches IPv6, ignoring a zone id', () => {
    expect(cidrAllows(list, '2001:db8:abcd::1')).toBe(true);
    expect(cidrAllows(list, '2001:db9::1')).toBe(false);
    expect(cidrAllows(list, '::1')).toBe(false);
    expect(cidrAllows([parseCidr('fe80::/10')], 'fe80::1%eth0')).toBe(true);
  });

  it('does not confuse families', () => {
    expect(cidrAllows([parseCidr('::/0')], '10.0.0.1')).toBe(false);
    expect(cidrAllows([parseCidr('0.0.0.0/0')], '::1')).toBe(false);
    expect(cidrAllows([parseCidr('0.0.0.0/0')], '::ffff:1.2.3.4')).toBe(true);
    expect(cidrAllows([parseCidr('::ffff:0:0/96')], '::ffff:1.2.3.4')).toBe(true);
  });

  it('refuses non-addresses and an empty list', () => {
    expect(cidrAllows(list, 'localhost')).toBe(false);
    expect(cidrAllows(list, '')).toBe(false);
    expect(cidrAllows(list, undefined)).toBe(false);
    expect(cidrAllows([], '10.0.0.1')).toBe(false);
  });
});
