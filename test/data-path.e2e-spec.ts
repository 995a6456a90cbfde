/**
 * Data path through real processes (dist/): client -> hub listener -> agent tunnel -> target.
 * Exact bytes under concurrency, half-close in both directions, resets both ways, and per-flow
 * flow control (a stalled reader neither blocks another flow nor grows the hub's memory).
 */
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import {
  cleanupAll,
  connectTcp,
  freePort,
  listener,
  pumpEcho,
  readUntilClose,
  sha256,
  startAgentConnected,
  startEchoServer,
  startHub,
  waitForMetric,
  type AgentHandle,
  type HubHandle,
  type TargetServer,
} from './support';
import { procMemKiB, readExactly, snapshot, waitClosed, writeUntilStalled } from './support/flows';

const MiB = 1024 * 1024;
const CONNECTOR = 'echo';

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await cleanupAll();
});

interface Rig {
  hub: HubHandle;
  agent: AgentHandle;
  port: number;
}

/** A hub with one listener for `connector`, and an agent serving it at 127.0.0.1:targetPort. */
async function rig(agentId: string, connector: string, targetPort: number): Promise<Rig> {
  const port = await freePort();
  const hub = await startHub({ config: { listeners: [listener('l1', connector, port)] }, waitReady: true });
  await hub.proc.waitForEvent('listener_started', (e) => e.connector === connector);
  const agent = await startAgentConnected(hub, { agentId, connectors: { [connector]: `127.0.0.1:${targetPort}` } });
  return { hub, agent, port };
}

const FLOW_METRICS = {
  conns: { name: 'nowconnect_tcp_connections_total', labels: { connector: CONNECTOR } },
  c2a: { name: 'nowconnect_tcp_bytes_total', labels: { direction: 'c2a', connector: CONNECTOR } },
  a2c: { name: 'nowconnect_tcp_bytes_total', labels: { direction: 'a2c', connector: CONNECTOR } },
  active: { name: 'nowconnect_tcp_active_connections', labels: { connector: CONNECTOR } },
  finSent: { name: 'nowconnect_fin_sent_total' },
  finRecv: { name: 'nowconnect_fin_recv_total' },
  rstSent: { name: 'nowconnect_rst_sent_total' },
  rstRecv: { name: 'nowconnect_rst_recv_total' },
};

async function waitIdle(hub: HubHandle): Promise<void> {
  await waitForMetric(hub.httpUrl, FLOW_METRICS.active.name, FLOW_METRICS.active.labels, (v) => v === 0, {
    timeoutMs: 15_000,
  });
}

describe('data path: echo target through hub + agent', () => {
  let echo: TargetServer;
  let r: Rig;

  beforeAll(async () => {
    echo = await startEchoServer();
    closers.push(() => echo.close());
    r = await rig('dp-agent', CONNECTOR, echo.port);
  });

  afterEach(async () => {
    // every test leaves no flow behind, so counter deltas of the next test are its own
    if (r.hub.proc.running) await waitIdle(r.hub);
  });

  it('carries 16 concurrent flows of 8 MiB each with exact sha256 both ways, and counts them', async () => {
    const FLOWS = 16;
    const SIZE = 8 * MiB;
    const before = await snapshot(r.hub.httpUrl, FLOW_METRICS);
    const acceptedBefore = echo.accepted();

    const results = await Promise.all(
      Array.from({ length: FLOWS }, () => pumpEcho(r.port, SIZE, { timeoutMs: 50_000 })),
    );

    for (const [i, res] of results.entries()) {
      expect({ flow: i, recvBytes: res.recvBytes, recvSha: res.recvSha }).toEqual({
        flow: i,
        recvBytes: SIZE,
        recvSha: res.sentSha,
      });
    }
    expect(new Set(results.map((x) => x.sentSha)).size).toBe(FLOWS); // 16 distinct random streams
    expect(echo.accepted() - acceptedBefore).toBe(FLOWS);

    await waitIdle(r.hub);
    const after = await snapshot(r.hub.httpUrl, FLOW_METRICS);
    expect(after.conns! - before.conns!).toBe(FLOWS);
    expect(after.c2a! - before.c2a!).toBeGreaterThanOrEqual(FLOWS * SIZE);
    expect(after.a2c! - before.a2c!).toBeGreaterThanOrEqual(FLOWS * SIZE);
    expect(after.active).toBe(0);
    console.log(
      `data-path: ${FLOWS} x ${SIZE / MiB} MiB echoed; slowest flow ${Math.max(...results.map((x) => x.elapsedMs))} ms; ` +
        `c2a delta ${after.c2a! - before.c2a!}, a2c delta ${after.a2c! - before.a2c!}`,
    );
  });
});

describe('data path: half-close and reset', () => {
  let target: net.Server;
  let targetPort: number;
  /** What the target does with each accepted socket (set per test). */
  let onTarget: (s: net.Socket) => void = (s) => s.destroy();
  let r: Rig;

  beforeAll(async () => {
    target = net.createServer({ allowHalfOpen: true }, (s) => onTarget(s));
    await new Promise<void>((res) => target.listen(0, '127.0.0.1', res));
    targetPort = (target.address() as net.AddressInfo).port;
    closers.push(() => new Promise((res) => target.close(res)));
    r = await rig('hc-agent', CONNECTOR, targetPort);
  });

  afterEach(async () => {
    if (r.hub.proc.running) await waitIdle(r.hub);
  });

  it('client FIN first: the target reads to end, THEN replies, and the client gets the whole reply', async () => {
    const request = crypto.randomBytes(2 * MiB + 123);
    const replyBody = crypto.randomBytes(MiB + 7);
    const targetSaw = new Promise<{ bytes: number; sha: string; wroteAfterEnd: boolean }>((resolve, reject) => {
      onTarget = (s) => {
        const h = crypto.createHash('sha256');
        let bytes = 0;
        s.on('error', reject);
        s.on('data', (d: Buffer) => {
          bytes += d.length;
          h.update(d);
        });
        s.on('end', () => {
          const sha = h.digest('hex');
          // the reply starts with the sha of everything received: it can only be written after the client's FIN
          s.end(Buffer.concat([Buffer.from(`${sha}\n`), replyBody]));
          resolve({ bytes, sha, wroteAfterEnd: true });
        });
      };
    });

    const before = await snapshot(r.hub.httpUrl, FLOW_METRICS);
    const c = await connectTcp(r.port);
    const clientClosed = readUntilClose(c, 20_000, true);
    c.end(request); // data, then our FIN; our read side stays open
    const seen = await targetSaw;
    expect(seen.bytes).toBe(request.length);
    expect(seen.sha).toBe(sha256(request));

    const info = await clientClosed;
    expect(info.error).toBeUndefined();
    expect(info.ended).toBe(true);
    expect(info.bytes).toBe(65 + replyBody.length);
    expect(info.data.subarray(0, 65).toString()).toBe(`${sha256(request)}\n`);
    expect(sha256(info.data.subarray(65))).toBe(sha256(replyBody));

    // one FIN each way crossed the hub: client's FIN sent to the agent, target's FIN received from it
    const finSent = await waitForMetric(r.hub.httpUrl, 'nowconnect_fin_sent_total', {}, (v) => v >= before.finSent! + 1);
    const finRecv = await waitForMetric(r.hub.httpUrl, 'nowconnect_fin_recv_total', {}, (v) => v >= before.finRecv! + 1);
    expect(finSent - before.finSent!).toBe(1);
    expect(finRecv - before.finRecv!).toBe(1);
  });

  it('target FIN first: the client keeps sending after it and the target still receives everything', async () => {
    const greeting = crypto.randomBytes(512 * 1024 + 3);
    const upload = crypto.randomBytes(3 * MiB + 11);
    const targetGot = new Promise<{ bytes: number; sha: string; ended: boolean }>((resolve, reject) => {
      onTarget = (s) => {
        const h = crypto.createHash('sha256');
        let bytes = 0;
        s.on('error', reject);
        s.on('data', (d: Buffer) => {
          bytes += d.length;
          h.update(d);
        });
        s.on('end', () => resolve({ bytes, sha: h.digest('hex'), ended: true }));
        s.end(greeting); // half-close at once: our FIN, reading goes on
      };
    });

    const before = await snapshot(r.hub.httpUrl, FLOW_METRICS);
    const c = await connectTcp(r.port);
    const gotGreeting = new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      c.on('data', (d: Buffer) => chunks.push(d));
      c.once('end', () => resolve(Buffer.concat(chunks))); // the target's FIN reached us
      c.once('error', reject);
    });
    const greetingSeen = await gotGreeting;
    expect(greetingSeen.length).toBe(greeting.length);
    expect(sha256(greetingSeen)).toBe(sha256(greeting));

    // after the peer's FIN our direction is still open: send a large upload, then our FIN
    const closed = waitClosed(c, 20_000);
    c.end(upload);
    const got = await targetGot;
    expect(got).toEqual({ bytes: upload.length, sha: sha256(upload), ended: true });
    expect((await closed).error).toBeUndefined();

    const finRecv = await waitForMetric(r.hub.httpUrl, 'nowconnect_fin_recv_total', {}, (v) => v >= before.finRecv! + 1);
    const finSent = await waitForMetric(r.hub.httpUrl, 'nowconnect_fin_sent_total', {}, (v) => v >= before.finSent! + 1);
    expect(finRecv - before.finRecv!).toBe(1);
    expect(finSent - before.finSent!).toBe(1);
  });

  it('target reset (resetAndDestroy) reaches the client promptly as ECONNRESET', async () => {
    const targetReset = new Promise<void>((resolve) => {
      onTarget = (s) => {
        s.on('error', () => undefined);
        s.once('data', () => {
          s.resetAndDestroy();
          resolve();
        });
      };
    });
    const before = await snapshot(r.hub.httpUrl, FLOW_METRICS);
    const c = await connectTcp(r.port);
    const closed = readUntilClose(c, 10_000, true);
    c.write('hello target');
    await targetReset;
    const t0 = Date.now();
    const info = await closed;
    const promptMs = Date.now() - t0;
    expect(info.error).toBe('ECONNRESET');
    expect(info.ended).toBe(false);
    expect(promptMs).toBeLessThan(2000);

    const rstRecv = await waitForMetric(r.hub.httpUrl, 'nowconnect_rst_recv_total', {}, (v) => v >= before.rstRecv! + 1);
    expect(rstRecv - before.rstRecv!).toBe(1);
    console.log(`data-path: target reset reached the client after ${promptMs} ms`);
  });

  it('client reset (resetAndDestroy) reaches the target promptly as ECONNRESET', async () => {
    let targetSock: net.Socket | undefined;
    const targetHasData = new Promise<net.Socket>((resolve) => {
      onTarget = (s) => {
        targetSock = s;
        s.once('data', () => resolve(s));
      };
    });
    const before = await snapshot(r.hub.httpUrl, FLOW_METRICS);
    const c = await connectTcp(r.port);
    c.on('error', () => undefined);
    c.write('hello');
    const ts = await targetHasData;
    expect(ts).toBe(targetSock);
    const targetClosed = waitClosed(ts, 10_000);
    ts.resume();
    const t0 = Date.now();
    c.resetAndDestroy();
    const info = await targetClosed;
    const promptMs = Date.now() - t0;
    expect(info.error).toBe('ECONNRESET');
    expect(promptMs).toBeLessThan(2000);

    const rstSent = await waitForMetric(r.hub.httpUrl, 'nowconnect_rst_sent_total', {}, (v) => v >= before.rstSent! + 1);
    expect(rstSent - before.rstSent!).toBe(1);
    console.log(`data-path: client reset reached the target after ${promptMs} ms`);
  });
});

describe('data path: a stalled reader does not block other flows nor grow hub memory', () => {
  let echo: TargetServer;
  let r: Rig;
  const BOUND_MIB = 64;

  beforeAll(async () => {
    echo = await startEchoServer();
    closers.push(() => echo.close());
    r = await rig('stall-agent', CONNECTOR, echo.port);
  });

  it(`flow B (32 MiB, exact sha256) completes while flow A (64 MiB, never read) is stalled; hub RSS <= baseline + ${BOUND_MIB} MiB`, async () => {
    const pid = r.hub.proc.pid;
    if (pid === undefined) throw new Error('hub has no pid');
    // warm the path (JIT, buffers) so the baseline is not the cold process
    const warm = await pumpEcho(r.port, 4 * MiB);
    expect(warm.recvSha).toBe(warm.sentSha);
    await waitIdle(r.hub);
    const baseline = procMemKiB(pid).rssKiB;

    // Flow A: connect, never read, write up to 64 MiB until the tunnel stops taking it
    const a = await connectTcp(r.port);
    a.pause();
    a.on('error', () => undefined);
    const block = crypto.randomBytes(64 * 1024);
    const aRes = await writeUntilStalled(a, block, 64 * MiB, 2000);
    expect(aRes.stalled).toBe(true);
    expect(aRes.written).toBeLessThan(64 * MiB);
    const aBytesRead = a.bytesRead; // 0: A never read
    const aWritten = aRes.written;
    const rssStalled = procMemKiB(pid).rssKiB;

    // Flow B on the same agent/tunnel, while A stays stalled
    let aDrained = false;
    a.once('drain', () => {
      aDrained = true;
    });
    const b = await pumpEcho(r.port, 32 * MiB, { timeoutMs: 40_000 });
    expect(b.recvBytes).toBe(32 * MiB);
    expect(b.recvSha).toBe(b.sentSha);
    expect(aDrained).toBe(false); // A was still stalled the whole time
    expect(a.destroyed).toBe(false);

    const mem = procMemKiB(pid);
    const grewMiB = (Math.max(rssStalled, mem.rssKiB) - baseline) / 1024;
    console.log(
      `stalled-reader: A wrote ${(aWritten / MiB).toFixed(1)} MiB before stalling (read ${aBytesRead}); ` +
        `B 32 MiB in ${b.elapsedMs} ms; hub VmRSS baseline ${(baseline / 1024).toFixed(1)} MiB, ` +
        `with A stalled ${(rssStalled / 1024).toFixed(1)} MiB, after B ${(mem.rssKiB / 1024).toFixed(1)} MiB ` +
        `(growth ${grewMiB.toFixed(1)} MiB), VmHWM ${(mem.hwmKiB / 1024).toFixed(1)} MiB`,
    );
    expect(rssStalled).toBeLessThan(baseline + BOUND_MIB * 1024);
    expect(mem.rssKiB).toBeLessThan(baseline + BOUND_MIB * 1024);

    // A is still a live flow; closing it brings the gauge back to 0
    const aClosed = waitClosed(a, 10_000);
    a.destroy();
    await aClosed;
    await waitIdle(r.hub);
  });
});
