import * as tls from 'node:tls';
import WebSocket from 'ws';
import { CloudConnectError } from './connect-error';
import { dialCloud, type CloudConnection, type DialCloudOptions } from './cloud-dialer';
import {
  deadPort,
  makeTestPki,
  startConnectProxy,
  startWsHub,
  type Closable,
  type TestPki,
  type WsHub,
} from './cloud-test-servers';

const TOKEN = 'tls.test.token-xyz789';

describe('dialCloud over TLS (private CA) and through an HTTP CONNECT proxy', () => {
  let pki: TestPki;
  let tlsHub: WsHub;
  let plainHub: WsHub;
  const closables: Closable[] = [];
  const opened: CloudConnection[] = [];

  const base = (url: string, extra: Partial<DialCloudOptions> = {}): DialCloudOptions => ({
    url,
    token: TOKEN,
    env: {},
    maxPayload: 1 << 20,
    handshakeTimeoutMs: 5_000,
    ...extra,
  });
  const keep = (c: CloudConnection): CloudConnection => {
    opened.push(c);
    return c;
  };
  const dialErr = async (o: DialCloudOptions): Promise<CloudConnectError> => {
    const err: unknown = await dialCloud(o).then(
      (c) => {
        keep(c);
        throw new Error('dial unexpectedly succeeded');
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CloudConnectError);
    expect((err as Error).message).not.toContain(TOKEN);
    return err as CloudConnectError;
  };
  const echo = async (ws: WebSocket): Promise<string> => {
    const got = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
    ws.send('ping');
    return got;
  };

  beforeAll(async () => {
    pki = makeTestPki();
    tlsHub = await startWsHub(TOKEN, { key: pki.key, cert: pki.cert });
    plainHub = await startWsHub(TOKEN);
  });

  afterEach(async () => {
    for (const c of opened.splice(0)) {
      if (c.ws.readyState !== WebSocket.CLOSED) {
        const closed = new Promise((resolve) => c.ws.once('close', resolve));
        c.ws.terminate();
        await closed;
      }
    }
    for (const c of closables.splice(0)) await c.close();
  });

  afterAll(async () => {
    await tlsHub.close();
    await plainHub.close();
    pki.remove();
  });

  const proxy = async (opts: Parameters<typeof startConnectProxy>[0] = {}) => {
    const p = await startConnectProxy(opts);
    closables.push(p);
    return p;
  };

  describe('TLS', () => {
    it('connects with ca_file (system roots + private CA), no SNI for an IP host', async () => {
      const before = tlsHub.servernames.length;
      const c = keep(await dialCloud(base(`wss://127.0.0.1:${tlsHub.port}/tunnel`, { caFile: pki.caFile })));
      expect(c.socket).toBeInstanceOf(tls.TLSSocket);
      expect((c.socket as tls.TLSSocket).authorized).toBe(true);
      expect(await echo(c.ws)).toBe('ping');
      expect(tlsHub.servernames.slice(before)).toEqual(['']);
    });

    it('fails with reason tls without ca_file (verification is never skipped)', async () => {
      const err = await dialErr(base(`wss://127.0.0.1:${tlsHub.port}/tunnel`));
      expect(err.reason).toBe('tls');
      expect(err.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });

    it('fails with reason tls when ca_file cannot be read', async () => {
      const err = await dialErr(base(`wss://127.0.0.1:${tlsHub.port}/tunnel`, { caFile: `${pki.dir}/missing.pem` }));
      expect(err.reason).toBe('tls');
      expect(err.code).toBe('ENOENT');
    });

    it('fails with reason tls when wss:// meets a plain (non-TLS) port', async () => {
      const err = await dialErr(base(`wss://127.0.0.1:${plainHub.port}/tunnel`, { caFile: pki.caFile }));
      expect(err.reason).toBe('tls');
    });
  });

  describe('HTTP CONNECT proxy', () => {
    it('carries ws:// through the proxy (explicit proxy_url)', async () => {
      const p = await proxy();
      const c = keep(
        await dialCloud(base(`ws://127.0.0.1:${plainHub.port}/tunnel`, { proxyUrl: `http://127.0.0.1:${p.port}` })),
      );
      expect(await echo(c.ws)).toBe('ping');
      expect(p.connects).toEqual([`127.0.0.1:${plainHub.port}`]);
      expect((c.ws as unknown as { _socket: unknown })._socket).toBe(c.socket);
    });

    it('carries wss:// through the proxy picked from HTTPS_PROXY, with Basic credentials', async () => {
      const p = await proxy({ auth: 'agent:p@ss:word' });
      const env = { HTTPS_PROXY: `http://agent:p%40ss%3Aword@127.0.0.1:${p.port}` };
      const c = keep(await dialCloud(base(`wss://127.0.0.1:${tlsHub.port}/tunnel`, { caFile: pki.caFile, env })));
      expect(c.socket).toBeInstanceOf(tls.TLSSocket);
      expect(await echo(c.ws)).toBe('ping');
      expect(p.connects).toEqual([`127.0.0.1:${tlsHub.port}`]);
    });

    it('sends SNI for a host name and checks the certificate against it', async () => {
      const p = await proxy({ route: () => tlsHub.port });
      const before = tlsHub.servernames.length;
      const c = keep(
        await dialCloud(base('wss://hub.test/tunnel', { caFile: pki.caFile, proxyUrl: `http://127.0.0.1:${p.port}` })),
      );
      expect(await echo(c.ws)).toBe('ping');
      expect(p.connects).toEqual(['hub.test:443']);
      expect(tlsHub.servernames.slice(before)).toEqual(['hub.test']);

      const err = await dialErr(
        base('wss://other.test/tunnel', { caFile: pki.caFile, proxyUrl: `http://127.0.0.1:${p.port}` }),
      );
      expect(err.reason).toBe('tls');
      expect(err.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    });

    it('maps wrong proxy credentials to reason proxy with status 407, without echoing them', async () => {
      const p = await proxy({ auth: 'agent:right' });
      const err = await dialErr(
        base(`ws://127.0.0.1:${plainHub.port}/tunnel`, { proxyUrl: `http://agent:wrong-pass@127.0.0.1:${p.port}` }),
      );
      expect(err.reason).toBe('proxy');
      expect(err.status).toBe(407);
      expect(err.message).not.toContain('wrong-pass');
      expect(p.connects).toHaveLength(1);
    });

    it('maps a dead proxy port to reason proxy (not refused); no direct fallback', async () => {
      const port = await deadPort();
      const before = plainHub.upgrades;
      const err = await dialErr(base(`ws://127.0.0.1:${plainHub.port}/tunnel`, { proxyUrl: `http://127.0.0.1:${port}` }));
      expect(err.reason).toBe('proxy');
      expect(err.code).toBe('ECONNREFUSED');
      expect(plainHub.upgrades).toBe(before);
    });

    it('maps a target the proxy cannot reach to reason proxy with its status', async () => {
      const dead = await deadPort();
      const p = await proxy();
      const err = await dialErr(base(`ws://127.0.0.1:${dead}/tunnel`, { proxyUrl: `http://127.0.0.1:${p.port}` }));
      expect(err.reason).toBe('proxy');
    });

    it('skips the env proxy for a NO_PROXY host', async () => {
      const port = await deadPort();
      const env = { http_proxy: `http://127.0.0.1:${port}`, no_proxy: '127.0.0.1' };
      const c = keep(await dialCloud(base(`ws://127.0.0.1:${plainHub.port}/tunnel`, { env })));
      expect(await echo(c.ws)).toBe('ping');
    });

    it('gets 401 through the proxy as reason auth', async () => {
      const p = await proxy();
      const err = await dialErr(
        base(`wss://127.0.0.1:${tlsHub.port}/tunnel`, {
          caFile: pki.caFile,
          token: 'bad',
          proxyUrl: `http://127.0.0.1:${p.port}`,
        }),
      );
      expect(err.reason).toBe('auth');
      expect(err.status).toBe(401);
    });
  });
});
