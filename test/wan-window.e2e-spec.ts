/**
 * WAN flow control through real processes (dist/): the agent's tunnel runs through a relay
 * that delays every byte 25 ms each way (a 50 ms round trip), and one flow, with the hub's
 * default config, must grow its window to cover that round trip within 2 s, in both
 * directions. A fixed 256 KiB window caps a flow at 256 KiB / 50 ms = 5.2 MB/s; the second
 * after the first two must run well above it.
 */
import * as net from 'node:net';
import { cleanupAll, connectTcp, freePort, listener, startAgentConnected, startHub, type AgentHandle, type HubHandle } from './support';
import { startDelayRelay, type DelayRelay } from './support/delay-relay';

const ONE_WAY_MS = 25;
const RTT_MS = 2 * ONE_WAY_MS;
const KiB = 1024;
/** What the old fixed default window allows at this round trip (bytes per second). */
const FIXED_WINDOW_RATE = (256 * KiB * 1000) / RTT_MS;
/** The flow must beat the fixed window by this much in the second after the first two. */
const MIN_GAIN = 2.5;
const CHUNK = Buffer.alloc(64 * KiB, 0x5a);

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await cleanupAll();
});

/** Writes CHUNKs for as long as the socket lives, respecting backpressure. */
function writeForever(s: net.Socket): void {
  const pump = (): void => {
    while (!s.destroyed && s.write(CHUNK));
  };
  s.on('drain', pump);
  s.on('error', () => undefined);
  pump();
}

/** Servers the agent dials: one that sends without end (download), one that counts what it gets (upload). */
async function startServer(onConn: (s: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const socks = new Set<net.Socket>();
  const server = net.createServer((s) => {
    socks.add(s);
    s.on('error', () => undefined);
    s.on('close', () => socks.delete(s));
    onConn(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of socks) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Counts the bytes a socket receives, by arrival time; resolves once `spanMs` have passed
 * since the first byte (checked at each arrival: a stalled flow ends on the backstop).
 */
function meter(s: net.Socket, spanMs: number, backstopMs: number): Promise<{ rate(fromMs: number, toMs: number): number; total: number }> {
  const marks: Array<[number, number]> = [];
  let total = 0;
  let t0 = -1;
  return new Promise((resolve, reject) => {
    const result = {
      rate(fromMs: number, toMs: number): number {
        let n = 0;
        for (const [t, b] of marks) if (t - t0 >= fromMs && t - t0 < toMs) n += b;
        return (n * 1000) / (toMs - fromMs);
      },
      get total() {
        return total;
      },
    };
    const backstop = setTimeout(() => {
      s.off('data', onData);
      reject(new Error(`meter: ${spanMs} ms of data not seen within ${backstopMs} ms (${total} bytes)`));
    }, backstopMs);
    const onData = (d: Buffer): void => {
      const now = performance.now();
      if (t0 < 0) t0 = now;
      marks.push([now, d.length]);
      total += d.length;
      if (now - t0 >= spanMs) {
        clearTimeout(backstop);
        s.off('data', onData);
        s.pause();
        resolve(result);
      }
    };
    s.on('data', onData);
  });
}

describe('WAN: one flow across a 50 ms round trip (delay relay between agent and hub), default config', () => {
  let relay: DelayRelay;
  let hub: HubHandle;
  let agent: AgentHandle;
  let port: number;
  let sinkPort: number;
  /** The next connection the agent makes to the sink (the upload's far end). */
  let nextUpload: () => Promise<net.Socket>;

  beforeAll(async () => {
    const source = await startServer((s) => writeForever(s));
    closers.push(() => source.close());
    const uploads: net.Socket[] = [];
    const waiting: Array<(s: net.Socket) => void> = [];
    const sink = await startServer((s) => {
      const w = waiting.shift();
      if (w !== undefined) w(s);
      else uploads.push(s);
    });
    closers.push(() => sink.close());
    nextUpload = () => {
      const ready = uploads.shift();
      return ready !== undefined ? Promise.resolve(ready) : new Promise((resolve) => waiting.push(resolve));
    };

    port = await freePort();
    sinkPort = await freePort();
    hub = await startHub({ config: { listeners: [listener('down', 'down', port), listener('up', 'up', sinkPort)] }, waitReady: true });
    closers.push(() => hub.stop());
    relay = await startDelayRelay(hub.port, ONE_WAY_MS);
    closers.push(() => relay.close());
    agent = await startAgentConnected(hub, {
      agentId: 'wan-agent',
      urls: [`ws://127.0.0.1:${relay.port}/tunnel`],
      connectors: { down: `127.0.0.1:${source.port}`, up: `127.0.0.1:${sink.port}` },
    });
    closers.push(() => agent.stop());
  });

  it('download (agent -> hub): the hub grows the flow\'s window to cover the round trip within 2 s', async () => {
    const client = await connectTcp(port);
    closers.push(async () => client.destroy());
    const m = await meter(client, 3000, 30_000);
    client.destroy();
    const rate = m.rate(2000, 3000);
    process.stdout.write(`wan-window download: ${(rate / 1e6).toFixed(1)} MB/s in [2 s, 3 s) (fixed window: ${(FIXED_WINDOW_RATE / 1e6).toFixed(1)})\n`);
    expect(rate).toBeGreaterThan(MIN_GAIN * FIXED_WINDOW_RATE);
  });

  it('upload (hub -> agent): the agent grows the flow\'s window to cover the round trip within 2 s', async () => {
    const accepted = nextUpload();
    const client = await connectTcp(sinkPort);
    closers.push(async () => client.destroy());
    writeForever(client);
    const m = await meter(await accepted, 3000, 30_000);
    client.destroy();
    const rate = m.rate(2000, 3000);
    process.stdout.write(`wan-window upload: ${(rate / 1e6).toFixed(1)} MB/s in [2 s, 3 s) (fixed window: ${(FIXED_WINDOW_RATE / 1e6).toFixed(1)})\n`);
    expect(rate).toBeGreaterThan(MIN_GAIN * FIXED_WINDOW_RATE);
  });
});
