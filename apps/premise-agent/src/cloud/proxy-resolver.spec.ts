import { resolveProxy } from './proxy-resolver';

const P = 'http://proxy.corp:3128';

describe('resolveProxy', () => {
  const href = (u: URL | undefined): string | undefined => u?.href;

  it('returns undefined with no explicit proxy and no env', () => {
    expect(resolveProxy('wss://hub.example.com/tunnel', undefined, {})).toBeUndefined();
    expect(resolveProxy('ws://hub.example.com/tunnel', undefined, { HTTP_PROXY: '' })).toBeUndefined();
  });

  it('lets an explicit proxy_url win for ws:// and wss:// alike, ignoring env and NO_PROXY', () => {
    const env = { HTTPS_PROXY: 'http://other:1', HTTP_PROXY: 'http://other:2', NO_PROXY: '*' };
    expect(href(resolveProxy('wss://hub.example.com/t', P, env))).toBe('http://proxy.corp:3128/');
    expect(href(resolveProxy('ws://hub.example.com/t', P, env))).toBe('http://proxy.corp:3128/');
  });

  it('uses HTTPS_PROXY for wss:// and HTTP_PROXY for ws:// (curl)', () => {
    const env = { HTTPS_PROXY: 'http://s-proxy:8443', HTTP_PROXY: 'http://h-proxy:8080' };
    expect(href(resolveProxy('wss://hub.example.com/t', undefined, env))).toBe('http://s-proxy:8443/');
    expect(href(resolveProxy('ws://hub.example.com/t', undefined, env))).toBe('http://h-proxy:8080/');
    expect(resolveProxy('ws://hub.example.com/t', undefined, { HTTPS_PROXY: 'http://s:1' })).toBeUndefined();
    expect(resolveProxy('wss://hub.example.com/t', undefined, { HTTP_PROXY: 'http://h:1' })).toBeUndefined();
  });

  it('prefers the lowercase variables over the uppercase ones, and accepts either alone', () => {
    const both = { http_proxy: 'http://lower:1', HTTP_PROXY: 'http://upper:2', https_proxy: 'http://lower:3', HTTPS_PROXY: 'http://upper:4' };
    expect(href(resolveProxy('ws://h/t', undefined, both))).toBe('http://lower:1/');
    expect(href(resolveProxy('wss://h/t', undefined, both))).toBe('http://lower:3/');
    expect(href(resolveProxy('ws://h/t', undefined, { HTTP_PROXY: 'http://upper:2' }))).toBe('http://upper:2/');
    expect(href(resolveProxy('wss://h/t', undefined, { https_proxy: 'http://lower:3' }))).toBe('http://lower:3/');
  });

  it('reads a scheme-less proxy as http:// and keeps credentials', () => {
    const u = resolveProxy('wss://h/t', undefined, { HTTPS_PROXY: 'user:pw@proxy.corp:3128' });
    expect(u?.protocol).toBe('http:');
    expect(u?.hostname).toBe('proxy.corp');
    expect(u?.port).toBe('3128');
    expect(u?.username).toBe('user');
    expect(u?.password).toBe('pw');
  });

  it('throws a clear error for https:// and socks proxies, without echoing credentials', () => {
    expect(() => resolveProxy('wss://h/t', 'https://u:secret@proxy:443', {})).toThrow(/only http:\/\//);
    expect(() => resolveProxy('wss://h/t', undefined, { HTTPS_PROXY: 'socks5://proxy:1080' })).toThrow(/socks5/);
    expect(() => resolveProxy('ws://h/t', 'socks5h://u:secret@p:1', {})).not.toThrow(/secret/);
    expect(() => resolveProxy('ws://h/t', 'socks5h://u:secret@p:1', {})).toThrow(Error);
  });

  describe('NO_PROXY', () => {
    const via = (target: string, noProxy: string, key = 'NO_PROXY'): boolean =>
      resolveProxy(target, undefined, { HTTPS_PROXY: P, HTTP_PROXY: P, [key]: noProxy }) !== undefined;

    it('matches host suffixes on label boundaries, with or without a leading dot', () => {
      expect(via('wss://hub.example.com/t', 'example.com')).toBe(false);
      expect(via('wss://example.com/t', 'example.com')).toBe(false);
      expect(via('wss://hub.example.com/t', '.example.com')).toBe(false);
      expect(via('wss://example.com/t', '.example.com')).toBe(false);
      expect(via('wss://badexample.com/t', 'example.com')).toBe(true);
      expect(via('wss://hub.example.org/t', 'example.com')).toBe(true);
    });

    it('is case-insensitive, trims entries, ignores empty ones', () => {
      expect(via('wss://HUB.Example.COM/t', ' foo.local , ,EXAMPLE.com ')).toBe(false);
      expect(via('wss://hub.example.com/t', ',,')).toBe(true);
    });

    it('treats * as every host', () => {
      expect(via('wss://anything.example/t', '*')).toBe(false);
      expect(via('ws://10.1.2.3:8765/t', 'foo.local, *')).toBe(false);
    });

    it('honours an optional :port against the default or explicit target port', () => {
      expect(via('wss://hub.example.com/t', 'hub.example.com:443')).toBe(false);
      expect(via('wss://hub.example.com:8443/t', 'hub.example.com:443')).toBe(true);
      expect(via('wss://hub.example.com:8443/t', 'example.com:8443')).toBe(false);
      expect(via('ws://hub.example.com/t', 'hub.example.com:80')).toBe(false);
    });

    it('matches IP literals exactly (no suffix or prefix match)', () => {
      expect(via('ws://10.0.0.5:8765/t', '10.0.0.5')).toBe(false);
      expect(via('ws://10.0.0.5:8765/t', '0.0.5')).toBe(true);
      expect(via('ws://110.0.0.5:8765/t', '10.0.0.5')).toBe(true);
      expect(via('ws://10.0.0.5:8765/t', '10.0.0.5:8765')).toBe(false);
      expect(via('ws://10.0.0.5:8765/t', '10.0.0.5:9999')).toBe(true);
      expect(via('wss://[::1]:8443/t', '::1')).toBe(false);
      expect(via('wss://[::1]:8443/t', '[::1]:8443')).toBe(false);
      expect(via('wss://[::1]:8443/t', '0:0:0:0:0:0:0:1')).toBe(false);
      expect(via('wss://[::1]:8443/t', '[::1]:443')).toBe(true);
    });

    it('prefers no_proxy over NO_PROXY', () => {
      const env = { HTTPS_PROXY: P, no_proxy: 'a.example', NO_PROXY: 'b.example' };
      expect(resolveProxy('wss://b.example/t', undefined, env)).toBeDefined();
      expect(resolveProxy('wss://a.example/t', undefined, env)).toBeUndefined();
      expect(via('wss://a.example/t', 'a.example', 'no_proxy')).toBe(false);
    });
  });
});
