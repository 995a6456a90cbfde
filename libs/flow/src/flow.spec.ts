import { once } from 'node:events';
import type { Socket } from 'node:net';
import { decodeRstReason, decodeWindowIncrement, DEFAULT_MAX_FRAME_BYTES, encodeData, FrameDecoder, FrameType, RstReason } from '@nowconnect/frames';
import { Flow, FlowHost, FlowInit } from './flow';
import type { FlowMetrics } from './flow-metrics';
import { FlowState } from './flow-state';
import type { FrameTransport } from './frame-transport';
import { closeSocketPairs, socketPair } from './socket-pair.test-util';
import { IDLE_AFTER_MS } from './receive-window';
import { WindowBudget } from './window-budget';

// ---- fakes of the flow's surroundings ---------------------------------------

interface Sent {
  readonly type: FrameType;
  readonly flowId: number;
  readonly payload: Buffer;
}

/** Decodes every frame the flow sends (so a malformed one is caught) and lets tests await them. */
class RecordingTransport implements FrameTransport {
  congested = false;
  queuedBytes = 0;
  maxMessageBytes = 1 << 20;
  flushes = 0;
  readonly frames: Sent[] = [];
  readonly decodeErrors: string[] = [];
  /** Runs as each frame is sent, to check invariants at that instant. */
  onFrame: (frame: Sent) => void = () => undefined;
  private readonly decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
  private readonly drainListeners: Array<() => void> = [];
  private waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  send(frame: Buffer): void {
    const err = this.decoder.push(frame, (f) => {
      const sent = { type: f.type, flowId: f.flowId, payload: Buffer.from(f.payload) };
      this.frames.push(sent);
      this.onFrame(sent);
    });
    if (err !== null) this.decodeErrors.push(err.code);
    this.waiters = this.waiters.filter((w) => {
      if (!w.test()) return true;
      w.resolve();
      return false;
    });
  }

  sendData(flowId: number, payload: Buffer): void {
    this.send(encodeData(flowId, payload));
  }

  flush(): void {
    this.flushes++;
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  drain(): void {
    this.congested = false;
    for (const l of this.drainListeners) l();
  }

  of(type: FrameType): Sent[] {
    return this.frames.filter((f) => f.type === type);
  }

  dataBytes(): number {
    return this.of(FrameType.DATA).reduce((n, f) => n + f.payload.length, 0);
  }

  data(): Buffer {
    return Buffer.concat(this.of(FrameType.DATA).map((f) => f.payload));
  }

  /** Resolves once `test` holds, re-checked after every frame sent. */
  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }
}

class RecordingMetrics implements FlowMetrics {
  out = 0;
  in = 0;
  finsSent = 0;
  finsRecv = 0;
  rstsSent = 0;
  rstsRecv = 0;
  bytesOut(_c: string, n: number): void {
    this.out += n;
  }
  bytesIn(_c: string, n: number): void {
    this.in += n;
  }
  finSent(): void {
    this.finsSent++;
  }
  finRecv(): void {
    this.finsRecv++;
  }
  rstSent(): void {
    this.rstsSent++;
  }
  rstRecv(): void {
    this.rstsRecv++;
  }
}

class TestHost implements FlowHost {
  readonly metrics = new RecordingMetrics();
  readonly closed: Flow[] = [];
  readonly failures: NodeJS.ErrnoException[] = [];
  readonly waiting = new Set<Flow>();
  rstReason = RstReason.CONNECT_TIMEOUT;
  private onClosed: Array<() => void> = [];

  constructor(
    readonly transport: RecordingTransport,
    readonly maxDataPayload: number,
  ) {
    transport.onDrain(() => {
      for (const f of [...this.waiting]) {
        this.waiting.delete(f);
        f.resumeSending();
      }
    });
  }

  waitForDrain(flow: Flow): void {
    this.waiting.add(flow);
  }

  socketFailed(_flow: Flow, err: Error): RstReason {
    this.failures.push(err);
    return this.rstReason;
  }

  flowClosed(flow: Flow): void {
    this.closed.push(flow);
    for (const r of this.onClosed.splice(0)) r();
  }

  whenClosed(): Promise<void> {
    if (this.closed.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.onClosed.push(resolve));
  }
}

// ---- real sockets -------------------------------------------------------------

afterEach(closeSocketPairs);

/** Reads everything a socket receives; await a byte count. */
class Reader {
  private readonly chunks: Buffer[] = [];
  private total = 0;
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  constructor(socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.total += c.length;
      this.waiters = this.waiters.filter((w) => (this.total >= w.n ? (w.resolve(), false) : true));
    });
  }

  get length(): number {
    return this.total;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  until(n: number): Promise<void> {
    if (this.total >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

async function errorOf(socket: Socket): Promise<NodeJS.ErrnoException> {
  const [err] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
  return err;
}

/** Deterministic, position-dependent bytes (so a reordering or a loss shows). */
function pattern(n: number, from = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (from + i) % 251;
  return b;
}

const FLOW_ID = 7;

function setup(maxDataPayload = 16 * 1024): { t: RecordingTransport; host: TestHost } {
  const t = new RecordingTransport();
  return { t, host: new TestHost(t, maxDataPayload) };
}

function startFlow(host: TestHost, socket: Socket, init: Partial<FlowInit> = {}): Flow {
  const flow = new Flow(host, { id: FLOW_ID, connector: 'db', socket, sendWindow: 1 << 20, recvWindow: 1 << 20, ...init });
  flow.start();
  return flow;
}

const rsts = (t: RecordingTransport): Array<[number, RstReason]> => t.of(FrameType.RST).map((f) => [f.flowId, decodeRstReason(f.payload)]);
const updates = (t: RecordingTransport): number[] => t.of(FrameType.WINDOW_UPDATE).map((f) => decodeWindowIncrement(f.payload));


// ---- socket -> tunnel -----------------------------------------------------------

describe('Flow: socket to tunnel', () => {
  it('sends what the socket reads as DATA frames within the credit and maxDataPayload, pausing at zero credit', async () => {
    const { t, host } = setup(300);
    const { mine, app } = await socketPair();
    let granted = 1000;
    const violations: string[] = [];
    t.onFrame = (f) => {
      if (f.type !== FrameType.DATA) return;
      if (f.payload.length > 300) violations.push(`frame of ${f.payload.length} > maxDataPayload`);
      if (t.dataBytes() > granted) violations.push(`sent ${t.dataBytes()} with credit ${granted}`);
    };
    const flow = startFlow(host, mine, { sendWindow: 1000 });
    const paused = once(mine, 'pause');
    const input = pattern(2500);
    app.write(input);

    await paused;
    const resumed = once(mine, 'resume');
    expect(t.dataBytes()).toBe(1000);
    expect(mine.isPaused()).toBe(true);

    granted += 700;
    flow.onWindowUpdate(700);
    await t.until(() => t.dataBytes() === 1700);

    granted += 5000;
    flow.onWindowUpdate(5000);
    await t.until(() => t.dataBytes() === 2500);
    await resumed;

    expect(violations).toEqual([]);
    expect(t.data().equals(input)).toBe(true);
    expect(new Set(t.frames.map((f) => f.flowId))).toEqual(new Set([FLOW_ID]));
    expect(t.frames.every((f) => f.type === FrameType.DATA)).toBe(true);
    expect([flow.bytesOut, host.metrics.out]).toEqual([2500, 2500]);
    expect(mine.isPaused()).toBe(false);
    expect(t.decodeErrors).toEqual([]);
  });

  it('pauses while the transport is congested and resumes when the host relays drain', async () => {
    const { t, host } = setup(1000);
    const { mine, app } = await socketPair();
    const flow = startFlow(host, mine);
    t.congested = true;
    const paused = once(mine, 'pause');
    const input = pattern(5000, 17);
    app.write(input);

    await paused;
    expect(t.frames).toEqual([]);
    expect([...host.waiting]).toEqual([flow]);

    const resumed = once(mine, 'resume');
    t.drain();
    await t.until(() => t.dataBytes() === 5000);
    await resumed;
    expect(t.data().equals(input)).toBe(true);
    expect(t.of(FrameType.DATA).every((f) => f.payload.length <= 1000)).toBe(true);
  });

  it('stops mid-chunk when the transport becomes congested after a frame', async () => {
    const { t, host } = setup(1000);
    const { mine, app } = await socketPair();
    const flow = startFlow(host, mine);
    t.onFrame = () => {
      t.congested = true;
    };
    const paused = once(mine, 'pause');
    const input = pattern(5000);
    app.write(input);

    await paused;
    expect(t.frames).toHaveLength(1);
    expect([...host.waiting]).toEqual([flow]);

    t.onFrame = () => undefined;
    t.drain();
    await t.until(() => t.dataBytes() === 5000);
    expect(t.data().equals(input)).toBe(true);
  });

  it('waits for credit when both congested and out of credit, then for drain', async () => {
    const { t, host } = setup(1000);
    const { mine, app } = await socketPair();
    const flow = startFlow(host, mine, { sendWindow: 0 });
    t.congested = true;
    const paused = once(mine, 'pause');
    app.write(pattern(100));
    await paused;
    expect(host.waiting.size).toBe(0); // no credit: a drain would not help yet

    flow.onWindowUpdate(100);
    expect(t.frames).toEqual([]);
    expect([...host.waiting]).toEqual([flow]);

    t.drain();
    await t.until(() => t.dataBytes() === 100);
    expect(t.data().equals(pattern(100))).toBe(true);
  });

  it('sends FIN when the socket ends, only after the data it read before the end', async () => {
    const { t, host } = setup(300);
    const { mine, app } = await socketPair();
    const flow = startFlow(host, mine, { sendWindow: 1000 });
    const paused = once(mine, 'pause');
    const input = pattern(3000);
    app.end(input);

    await paused;
    expect(t.of(FrameType.FIN)).toEqual([]);
    expect(flow.state).toBe(FlowState.OPEN);

    flow.onWindowUpdate(10_000);
    await t.until(() => t.of(FrameType.FIN).length === 1);
    expect(t.frames.at(-1)?.type).toBe(FrameType.FIN);
    expect(t.data().equals(input)).toBe(true);
    expect(flow.state).toBe(FlowState.LOCAL_FIN);
    expect(host.metrics.finsSent).toBe(1);
    expect(host.closed).toEqual([]);
  });
});

// ---- tunnel -> socket -----------------------------------------------------------

describe('Flow: tunnel to socket', () => {
  it('writes the exact bytes and returns credit only once half the window has flushed', async () => {
    const { t, host } = setup();
    const { mine, app } = await socketPair();
    const reader = new Reader(app);
    const flow = startFlow(host, mine, { recvWindow: 1000 });

    const parts = [pattern(400, 0), pattern(100, 400), pattern(499, 500), pattern(1, 999)];
    flow.onRemoteData(parts[0]!);
    await reader.until(400);
    expect(updates(t)).toEqual([]);

    flow.onRemoteData(parts[1]!);
    await t.until(() => updates(t).length === 1);
    expect(updates(t)).toEqual([500]);

    flow.onRemoteData(parts[2]!);
    await reader.until(999);
    expect(updates(t)).toEqual([500]);

    flow.onRemoteData(parts[3]!);
    await t.until(() => updates(t).length === 2);
    await reader.until(1000);
    expect(updates(t)).toEqual([500, 500]);
    expect(reader.bytes().equals(Buffer.concat(parts))).toBe(true);
    expect(t.of(FrameType.WINDOW_UPDATE).every((f) => f.flowId === FLOW_ID)).toBe(true);
    expect([flow.bytesIn, host.metrics.in]).toEqual([1000, 1000]);

    // The whole window is available again: another full window is accepted.
    flow.onRemoteData(pattern(1000, 1000));
    await reader.until(2000);
    expect(rsts(t)).toEqual([]);
  });

  it('answers DATA beyond the receive window with RST FLOW_CONTROL and resets the socket', async () => {
    const { t, host } = setup();
    const { mine, app } = await socketPair();
    new Reader(app);
    // After data the app has read, Linux may report the reset as EOF; so check the flow asks for a reset.
    const resetAndDestroy = jest.spyOn(mine, 'resetAndDestroy');
    const mineClosed = once(mine, 'close');
    const flow = startFlow(host, mine, { recvWindow: 1000 });

    flow.onRemoteData(pattern(999));
    // Credit for what the kernel already took may come back at once: exceed what is granted by one byte.
    const credit = 1000 + updates(t).reduce((a, b) => a + b, 0) - 999;
    flow.onRemoteData(pattern(credit + 1));

    expect(rsts(t)).toEqual([[FLOW_ID, RstReason.FLOW_CONTROL]]);
    expect([flow.state, flow.end]).toEqual([FlowState.CLOSED, 'rst_sent']);
    expect(resetAndDestroy).toHaveBeenCalledTimes(1);
    await mineClosed;
    await host.whenClosed();
    expect(host.closed).toEqual([flow]);
    expect(host.metrics.rstsSent).toBe(1);
  });

  it('refuses a single DATA larger than the whole window', async () => {
    const { t, host } = setup();
    const { mine } = await socketPair();
    const flow = startFlow(host, mine, { recvWindow: 1000 });
    flow.onRemoteData(pattern(1001));
    expect(rsts(t)).toEqual([[FLOW_ID, RstReason.FLOW_CONTROL]]);
    expect(flow.bytesIn).toBe(0);
  });

  it('bounds a slow reader to one window: no credit is returned beyond what the socket flushed', async () => {
    const WINDOW = 64 * 1024;
    const CHUNK = 16 * 1024;
    const { t, host } = setup();
    const { mine, app } = await socketPair();
    app.pause(); // the program at the other end stops reading
    const flow = startFlow(host, mine, { recvWindow: WINDOW });

    let fed = 0;
    let granted = 0;
    const violations: string[] = [];
    t.onFrame = (f) => {
      if (f.type !== FrameType.WINDOW_UPDATE) return;
      granted += decodeWindowIncrement(f.payload);
      const flushed = fed - mine.writableLength;
      if (granted > flushed) violations.push(`granted ${granted} with only ${flushed} flushed`);
    };
    /** A well-behaved peer: sends exactly its credit. */
    const feedCredit = (): void => {
      for (let credit = WINDOW + granted - fed; credit > 0; credit = WINDOW + granted - fed) {
        const n = Math.min(credit, CHUNK);
        const from = fed;
        fed += n; // counted before the call: the flow may grant credit for it during the call
        flow.onRemoteData(pattern(n, from));
      }
    };

    // Feed until the kernel buffers are full and the flow holds back credit.
    let stuck = false;
    for (let round = 0; round < 10_000 && !stuck; round++) {
      feedCredit();
      // More than half a window unflushed: the flow cannot owe an update.
      if (mine.writableLength > WINDOW / 2) {
        stuck = true;
      } else {
        // At least half a window has flushed: an update is due.
        const seen = updates(t).length;
        await t.until(() => updates(t).length > seen);
      }
    }
    expect(stuck).toBe(true);
    expect(violations).toEqual([]);
    expect(fed - granted).toBe(WINDOW); // the peer is out of credit
    expect(mine.writableLength).toBeLessThanOrEqual(WINDOW); // memory held for the slow reader
    expect(rsts(t)).toEqual([]);

    // The reader comes back: everything arrives, in order, and credit flows again.
    let checked = 0;
    let corrupt = -1;
    const received = new Promise<void>((resolve) => {
      app.on('data', (c: Buffer) => {
        if (corrupt < 0 && !c.equals(pattern(c.length, checked))) corrupt = checked;
        checked += c.length;
        if (checked === fed) resolve();
      });
    });
    const target = fed + 4 * WINDOW;
    const before = updates(t).length;
    app.resume();
    for (let round = 0; round < 10_000 && fed < target; round++) {
      const seen = updates(t).length;
      await t.until(() => updates(t).length > seen);
      feedCredit();
    }
    await received;
    expect(corrupt).toBe(-1);
    expect(updates(t).length).toBeGreaterThan(before);
    expect(violations).toEqual([]);

    // A peer that ignores its credit by one byte is reset.
    flow.onRemoteData(pattern(WINDOW + granted - fed + 1));
    expect(rsts(t)).toEqual([[FLOW_ID, RstReason.FLOW_CONTROL]]);
  });
});

// ---- half close and ending ------------------------------------------------------

describe('Flow: FIN, RST and ending', () => {
  it('remote FIN half-closes the socket while the other direction still flows; FIN both ways closes once', async () => {
    const { t, host } = setup();
    const { mine, app } = await socketPair();
    const reader = new Reader(app);
    const appEnded = once(app, 'end');
    const flow = startFlow(host, mine);

    flow.onRemoteData(Buffer.from('request'));
    flow.onRemoteFin();
    await appEnded;
    expect(reader.bytes().toString()).toBe('request');
    expect(flow.state).toBe(FlowState.REMOTE_FIN);

    app.write('response');
    await t.until(() => t.dataBytes() === 8);
    expect(t.data().toString()).toBe('response');

    const mineClosed = once(mine, 'close');
    app.end();
    await t.until(() => t.of(FrameType.FIN).length === 1);
    await host.whenClosed();
    await mineClosed;
    expect([flow.state, flow.end]).toEqual([FlowState.CLOSED, 'fin']);
    expect(host.closed).toEqual([flow]);
    expect([host.metrics.finsSent, host.metrics.finsRecv]).toEqual([1, 1]);
    expect(rsts(t)).toEqual([]);

    flow.abandon(); // late: no second flowClosed
    flow.onRemoteFin();
    expect(host.closed).toHaveLength(1);
    expect(t.frames.map((f) => f.type)).toEqual([FrameType.DATA, FrameType.FIN]);
  });

  it('local end sends FIN; DATA still reaches the socket; remote FIN then closes once', async () => {
    const { t, host } = setup();
    const { mine, app } = await socketPair();
    const reader = new Reader(app);
    const flow = startFlow(host, mine);

    app.end();
    await t.until(() => t.of(FrameType.FIN).length === 1);
    expect(t.frames.map((f) => [f.type, f.flowId, f.payload.length])).toEqual([[FrameType.FIN, FLOW_ID, 0]]);
    expect(flow.state).toBe(FlowState.LOCAL_FIN);

    flow.onRemoteData(Buffer.from('late reply'));
    await reader.until(10);
    expect(reader.bytes().toString()).toBe('late reply');

    const appEnded = once(app, 'end');
    flow.onRemoteFin();
    await appEnded;
    await host.whenClosed();
    expect([flow.state, flow.end]).toEqual([FlowState.CLOSED, 'fin']);
    expect(host.closed).toEqual([flow]);
  });

  it('a second remote FIN is a protocol violation: RST PROTOCOL', async () => {
    const { t, host } = setup();
    const { mine } = await socketPair();
    const flow = startFlow(host, mine);
    flow.onRemoteFin();
    flow.onRemoteFin();
    expect(rsts(t)).toEqual([[FLOW_ID, RstReason.PROTOCOL]]);
    expect(flow.end).toBe('rst_sent');
    await host.whenClosed();
    expect(host.closed).toEqual([flow]);
  });

  it('DATA after remote FIN is a protocol violation: RST PROTOCOL, nothing written', async () => {
    const { t, host } = setup();
    const { mine } = await socketPair();
    const flow = startFlow(host, mine);
    flow.onRemoteFin();
    flow.onRemoteData(Buffer.from('x'));
    expect(rsts(t)).toEqual([[FLOW_ID, RstReason.PROTOCOL]]);
    expect(flow.bytesIn).toBe(0);
  });

  it('remote RST resets the local TCP connection (ECONNRESET) without echoing a frame', async () => {
    const { t, host } = setup();
    const { mine, app } = await socketPair();
    new Reader(app);
    const appError = errorOf(app);
    const flow = startFlow(host, mine);

    flow.onRemoteRst();
    expect((await appError).code).toBe('ECONNRESET');
    await host.whenClosed();
    expect([flow.state, flow.end]).toEqual([FlowState.CLOSED, 'rst_recv']);
    expect(host.closed).toEqual([flow]);
    expect(t.frames).toEqual([]);
    expect(host.metrics.rstsRecv).toBe(1);

    flow.onRemoteRst();
    flow.onRemoteData(Buffer.from('late'));
    flow.onWindowUpdate(10);
    expect(t.frames).toEqual([]);
    expect(host.closed).toHaveLength(1);
  });

  // Regression: Node refuses a TCP reset while the socket's shutdown (our end()) is in
  // flight, and then never emits 'close'; the flow was never closed and its fd leaked.
  it('remote RST right after remote FIN still closes the socket and the flow', async () => {
    const { t, host } = setup();
    const { mine } = await socketPair();
    const mineClosed = once(mine, 'close');
    const flow = startFlow(host, mine);

    flow.onRemoteFin(); // socket.end(): shutdown in flight
    flow.onRemoteRst();
    await mineClosed;
    await host.whenClosed();
    expect([flow.state, flow.end]).toEqual([FlowState.CLOSED, 'rst_recv']);
    expect(host.closed).toEqual([flow]);
    expect(t.frames).toEqual([]);
  });

  it('abandon() right after remote FIN still closes the socket and the flow', async () => {
    const { host } = setup();
    const { mine } = await socketPair();
    const mineClosed = once(mine, 'close');
    const flow = startFlow(host, mine);

    flow.onRemoteFin();
    flow.abandon();
    await mineClosed;
    await host.whenClosed();
    expect(host.closed).toEqual([flow]);
  });

  it('remote RST once our FIN has completed still resets the connection', async () => {
    const { host } = setup();
    const { mine, app } = await socketPair();
    const reader = new Reader(app);
    const flow = startFlow(host, mine);
    const resetAndDestroy = jest.spyOn(mine, 'resetAndDestroy');
    const finished = once(mine, 'finish');
    const appEnded = once(app, 'end');

    flow.onRemoteFin();
    await finished;
    await appEnded;
    flow.onRemoteRst();
    await host.whenClosed();
    expect(resetAndDestroy).toHaveBeenCalledTimes(1);
    expect(reader.length).toBe(0);
  });

  it('a socket error sends RST with the reason the host names', async () => {
    const { t, host } = setup();
    host.rstReason = RstReason.CONNECT_TIMEOUT;
    const { mine, app } = await socketPair();
    const flow = startFlow(host, mine);

    app.resetAndDestroy();
    await host.whenClosed();
    expect(host.failures.map((e) => e.code)).toEqual(['ECONNRESET']);
    expect(rsts(t)).toEqual([[FLOW_ID, RstReason.CONNECT_TIMEOUT]]);
    expect([flow.state, flow.end]).toEqual([FlowState.CLOSED, 'rst_sent']);
    expect(host.closed).toEqual([flow]);
  });

  it('reset(reason) sends one RST, resets the socket, and closes once', async () => {
    const { t, host } = setup();
    const { mine, app } = await socketPair();
    new Reader(app);
    const appError = errorOf(app);
    const flow = startFlow(host, mine);

    flow.reset(RstReason.SHUTDOWN);
    flow.reset(RstReason.LIMIT);
    expect(rsts(t)).toEqual([[FLOW_ID, RstReason.SHUTDOWN]]);
    expect((await appError).code).toBe('ECONNRESET');
    await host.whenClosed();
    expect(host.closed).toEqual([flow]);
    expect(host.metrics.rstsSent).toBe(1);
  });

  it('abandon() resets the socket, sends nothing, and calls flowClosed once', async () => {
    const { t, host } = setup();
    const { mine, app } = await socketPair();
    new Reader(app);
    const appError = errorOf(app);
    const flow = startFlow(host, mine);

    flow.abandon();
    flow.abandon();
    expect((await appError).code).toBe('ECONNRESET');
    await host.whenClosed();
    const mineClosed = mine.closed ? Promise.resolve() : once(mine, 'close');
    await mineClosed;
    flow.abandon();
    expect([flow.state, flow.end]).toEqual([FlowState.CLOSED, 'transport_lost']);
    expect(host.closed).toEqual([flow]);
    expect(t.frames).toEqual([]);
  });

  it('abandon() after a clean FIN keeps end = fin', async () => {
    const { host } = setup();
    const { mine, app } = await socketPair();
    const flow = startFlow(host, mine);
    const appEnded = once(app, 'end');
    flow.onRemoteFin();
    await appEnded;
    app.end();
    await host.whenClosed();
    flow.abandon();
    expect(flow.end).toBe('fin');
    expect(host.closed).toHaveLength(1);
  });

  it('the peer closing the socket without an error while the flow is open sends RST PEER_RESET', async () => {
    const { t, host } = setup();
    const { mine } = await socketPair();
    const flow = startFlow(host, mine);
    mine.destroy();
    await host.whenClosed();
    expect(rsts(t)).toEqual([[FLOW_ID, RstReason.PEER_RESET]]);
    expect(flow.end).toBe('rst_sent');
  });

  it('a WINDOW_UPDATE that overflows the 31-bit credit is answered with RST FLOW_CONTROL', async () => {
    const { t, host } = setup();
    const { mine } = await socketPair();
    const flow = startFlow(host, mine, { sendWindow: 0x7fffffff });
    flow.onWindowUpdate(1);
    expect(rsts(t)).toEqual([[FLOW_ID, RstReason.FLOW_CONTROL]]);
    expect(flow.state).toBe(FlowState.CLOSED);
  });
});

// ---- window growth within the tunnel's budget -------------------------------------

describe('Flow: receive window growth (per-flow ceiling, per-tunnel budget)', () => {
  let now = 1_000_000;
  beforeEach(() => {
    now = 1_000_000;
  });
  /** An injected clock and a 50 ms round trip (see receive-window.spec.ts for the sizing rule itself). */
  const tuned = { clock: () => now, rtt: { rttMs: () => 50 } };

  /** A well-behaved peer: sends exactly the credit it holds (initial window + every increment). */
  function peer(flow: Flow, t: RecordingTransport, initial: number): { feed(n: number): void; credit(): number; sent: number } {
    const state = {
      sent: 0,
      credit: () => initial + updates(t).reduce((a, b) => a + b, 0) - state.sent,
      feed(n: number) {
        const from = state.sent;
        state.sent += n;
        flow.onRemoteData(pattern(n, from));
      },
    };
    return state;
  }

  it('doubles the window of a flow that consumes half of it quickly, up to maxRecvWindow', async () => {
    const { t, host } = setup();
    const { mine, app } = await socketPair();
    const reader = new Reader(app);
    const budget = new WindowBudget(1 << 20);
    const flow = startFlow(host, mine, { recvWindow: 1000, maxRecvWindow: 4000, budget, ...tuned });
    const p = peer(flow, t, 1000);
    p.feed(600); // the kernel takes it at once: half the window consumed within 0 ms
    expect(updates(t)).toEqual([600 + 1000]); // consumed + growth to 2000
    expect(budget.inUse).toBe(1000);
    p.feed(p.credit()); // 2000 in flight -> consumed, window doubles to 4000 (the ceiling)
    expect(updates(t)).toEqual([1600, 2000 + 2000]);
    expect(budget.inUse).toBe(3000);
    p.feed(p.credit());
    expect(updates(t)).toEqual([1600, 4000, 4000]); // at the ceiling: no more growth
    expect(budget.inUse).toBe(3000);
    expect(rsts(t)).toEqual([]);
    await reader.until(p.sent);
    expect(reader.bytes().equals(pattern(p.sent))).toBe(true);

    // Closing the flow gives its growth back to the tunnel.
    flow.reset(RstReason.SHUTDOWN);
    await host.whenClosed();
    expect(budget.inUse).toBe(0);
  });

  it('never grows past the tunnel budget, which flows share', async () => {
    const { t, host } = setup();
    const a = await socketPair();
    const b = await socketPair();
    const budget = new WindowBudget(500);
    const fa = startFlow(host, a.mine, { id: 1, recvWindow: 1000, maxRecvWindow: 8000, budget, ...tuned });
    const fb = startFlow(host, b.mine, { id: 2, recvWindow: 1000, maxRecvWindow: 8000, budget, ...tuned });
    fa.onRemoteData(pattern(1000));
    expect(t.of(FrameType.WINDOW_UPDATE).map((f) => [f.flowId, decodeWindowIncrement(f.payload)])).toEqual([[1, 1500]]);
    fb.onRemoteData(pattern(1000));
    expect(t.of(FrameType.WINDOW_UPDATE).map((f) => [f.flowId, decodeWindowIncrement(f.payload)])).toEqual([
      [1, 1500],
      [2, 1000], // budget spent by flow 1: flow 2 keeps its window
    ]);
    expect(budget.inUse).toBe(500);
  });

  it('gives growth back, halving at a time, when the flow stays slow', async () => {
    const { t, host } = setup();
    const { mine } = await socketPair();
    const budget = new WindowBudget(1 << 20);
    const flow = startFlow(host, mine, { recvWindow: 1000, maxRecvWindow: 4000, budget, ...tuned });
    const p = peer(flow, t, 1000);
    p.feed(1000);
    p.feed(p.credit());
    expect(budget.inUse).toBe(3000); // window 4000
    for (let i = 0; i < 2; i++) {
      now += 5000; // the next half windows take seconds
      p.feed(2000);
    }
    // Two slow grants in a row (a hiccup, or the start of a slow phase): nothing given back yet.
    expect(updates(t)).toEqual([2000, 4000, 2000, 2000]);
    expect(budget.inUse).toBe(3000);
    now += 5000;
    p.feed(2000);
    // The third: 2000 consumed, 2000 of growth given back: no update at all; the peer still holds 2000.
    expect(updates(t)).toHaveLength(4);
    expect(p.credit()).toBe(2000);
    expect(budget.inUse).toBe(1000); // window 2000
    now += 5000;
    p.feed(p.credit());
    expect(budget.inUse).toBe(0); // back to the initial window
    // The peer may always send what it was granted, and nothing more.
    p.feed(p.credit());
    expect(rsts(t)).toEqual([]);
    flow.onRemoteData(pattern(p.credit() + 1));
    expect(rsts(t)).toEqual([[FLOW_ID, RstReason.FLOW_CONTROL]]);
  });

  it('a flow that goes silent gives its growth back at the idle sweep, without a grant', async () => {
    const { t, host } = setup();
    const { mine } = await socketPair();
    const budget = new WindowBudget(1 << 20);
    const flow = startFlow(host, mine, { recvWindow: 1000, maxRecvWindow: 4000, budget, ...tuned });
    const p = peer(flow, t, 1000);
    p.feed(1000);
    p.feed(p.credit());
    expect(flow.recvWindow).toBe(4000);
    expect(budget.inUse).toBe(3000);
    p.feed(1500); // under half the window: no grant; then the peer goes silent holding 2500 of credit
    expect(updates(t)).toHaveLength(2);
    flow.sweepIdle(); // not idle yet
    expect(budget.inUse).toBe(3000);
    now += IDLE_AFTER_MS;
    flow.sweepIdle();
    // The 1500 consumed are not granted back: the window is what the peer still holds.
    expect(flow.recvWindow).toBe(2500);
    expect(budget.inUse).toBe(1500);
    expect(updates(t)).toHaveLength(2);
    expect(p.credit()).toBe(2500);
    // The peer spends the rest slowly; the next sweeps take it back, down to the initial window.
    p.feed(1000);
    now += IDLE_AFTER_MS;
    flow.sweepIdle();
    expect(flow.recvWindow).toBe(1500);
    p.feed(700);
    now += IDLE_AFTER_MS;
    flow.sweepIdle();
    expect(flow.recvWindow).toBe(1000); // never below the initial window: 200 consumed stay to be granted
    expect(budget.inUse).toBe(0);
    expect(updates(t)).toHaveLength(2);
    expect(p.credit()).toBe(800); // window 1000 = 800 the peer holds + 200 consumed
    p.feed(300); // 500 consumed: half the initial window, granted as usual
    expect(updates(t)).toEqual([2000, 4000, 500]);
    expect(rsts(t)).toEqual([]);
    flow.onRemoteData(pattern(p.credit() + 1));
    expect(rsts(t)).toEqual([[FLOW_ID, RstReason.FLOW_CONTROL]]);
  });

  it('without a budget the window stays fixed', async () => {
    const { t, host } = setup();
    const { mine } = await socketPair();
    const flow = startFlow(host, mine, { recvWindow: 1000, maxRecvWindow: 4000, ...tuned });
    const p = peer(flow, t, 1000);
    for (let i = 0; i < 5; i++) p.feed(p.credit());
    expect(updates(t).every((u) => u === 1000)).toBe(true);
  });
});
