import { maskIp } from './mask-ip';

describe('maskIp', () => {
  it.each([
    ['10.1.2.3', '10.1.2.x'],
    ['127.0.0.1', '127.0.0.x'],
    ['::ffff:192.168.7.9', '192.168.7.x'],
    ['2001:db8:1:2::5', '2001:db8:1::/48'],
    ['2001:0db8:0001:abcd:0:0:0:1', '2001:db8:1::/48'],
    ['::1', '0:0:0::/48'],
    ['fe80::1', 'fe80:0:0::/48'],
  ])('masks %s as %s', (ip, masked) => {
    expect(maskIp(ip, true)).toBe(masked);
  });

  it('leaves addresses alone when masking is off (IPv4-mapped shown as IPv4)', () => {
    expect(maskIp('10.1.2.3', false)).toBe('10.1.2.3');
    expect(maskIp('::ffff:10.1.2.3', false)).toBe('10.1.2.3');
  });

  it('never echoes something that is not an address', () => {
    expect(maskIp(undefined, true)).toBe('unknown');
    expect(maskIp('', true)).toBe('unknown');
    expect(maskIp('not-an-ip', true)).toBe('invalid');
  });
});
