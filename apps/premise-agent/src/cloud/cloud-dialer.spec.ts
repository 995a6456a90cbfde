import WebSocket from 'ws';
import { CloudConnectError } from './connect-error';
import { dialCloud, type CloudConnection, type DialCloudOptions } from './cloud-dialer';
import {
  deadPort,
  startSilentServer,
  startStatusServer,
  startWsHub,
  type Closable,
  type WsHub,
} from './cloud-test-servers';

const TOKEN = 'test.jwt.token-abc123';

describe('dialCloud (plain ws://, real local servers)', () => {
  let hub: WsHub;
  const closables: Closable[] = [];
  const opened: CloudConnection[] = [];

  const base = (url: string, extra: Partial<DialCloudOptions> = {}): DialCloudOptions => ({
    url,
    token: TOKEN,
    env: {}, // never pick up the sandbox's own proxy variables
    maxPayload: 1 << 20,
    handshakeTimeoutMs: 5_000,
    ...extra,
  });

  const dialErr = async (o: DialCloudOptions): Promise<CloudConnectError> => {
    const err: unknown = await dialCloud(o).then(
      (c) => {
        opened.push(c);
        throw new Error('dial unexpectedly succeeded');
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CloudConnectError);
    expect((err as Error).message).not.toContain(TOKEN);
    return err as CloudConnectError;
  };

  beforeAll(async () => {
    hub = await startWsHub(TOKEN);
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
    await hub.close();
  });

  it('opens a WebSocket with the bearer token and returns the socket ws uses', async () => {
    const conn = await dialCloud(base(`ws://127.0.0.1:${hub.port}/tunnel`));
    opened.push(conn);
    expect(conn.ws.readyState).toBe(WebSocket.OPEN);
    expect(conn.ws.binaryType).toBe('nodebuffer');
    expect(conn.ws.extensions).toBe(''); // perMessageDeflate: false
    // ws keeps the socket we handed it through createConnection as its private _socket.
    expect((conn.ws as unknown as { _socket: unknown })._socket).toBe(conn.socket);

    const echoed = new Promise<Buffer>((resolve) => conn.ws.once('message', (d) => resolve(d as Buffer)));
    conn.ws.send(Buffer.from([1, 2, 3, 250]));
    expect([...(await echoed)]).toEqual([1, 2, 3, 250]);
  });

  it('maps a 401 upgrade answer to reason auth (not permanent) without leaking the token', async () => {
    const err = await dialErr(base(`ws://127.0.0.1:${hub.port}/tunnel`, { token: 'wrong-token' }));
    expect(err.reason).toBe('auth');
    expect(err.status).toBe(401);
    expect(err.permanent).toBe(false);
    expect(err.message).not.toContain('wrong-token');
  });

  it('maps another non-101 answer to reason http with the status', async () => {
    const s = await startStatusServer(503);
    closables.push(s);
    const err = await dialErr(base(`ws://127.0.0.1:${s.port}/tunnel`));
    expect(err.reason).toBe('http');
    expect(err.status).toBe(503);
  });

  it('maps a refused port to reason refused', async () => {
    const port = await deadPort();
    const err = await dialErr(base(`ws://127.0.0.1:${port}/tunnel`));
    expect(err.reason).toBe('refused');
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('maps a server that accepts and never answers to reason timeout', async () => {
    const s = await startSilentServer();
    closables.push(s);
    const err = await dialErr(base(`ws://127.0.0.1:${s.port}/tunnel`, { handshakeTimeoutMs: 150 }));
    expect(err.reason).toBe('timeout');
  });

  it('rejects an unsupported proxy scheme as a permanent proxy error', async () => {
    const err = await dialErr(
      base(`ws://127.0.0.1:${hub.port}/tunnel`, { proxyUrl: 'socks5://user:secret@127.0.0.1:1080' }),
    );
    expect(err.reason).toBe('proxy');
    expect(err.permanent).toBe(true);
    expect(err.message).not.toContain('secret');
  });

  it('rejects a bad hub URL scheme as permanent', async () => {
    const err = await dialErr(base(`http://127.0.0.1:${hub.port}/tunnel`));
    expect(err.permanent).toBe(true);
  });

  it('refuses an empty token before dialling', async () => {
    const err = await dialErr(base(`ws://127.0.0.1:${hub.port}/tunnel`, { token: '' }));
    expect(err.reason).toBe('auth');
  });
});
