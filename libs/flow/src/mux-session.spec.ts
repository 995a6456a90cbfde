import { once } from 'node:events';
import type { Socket } from 'node:net';
import {
  encodeData,
  encodeFin,
  encodeFrame,
  encodeOpen,
  encodePing,
  encodeRst,
  encodeWindowUpdate,
  Frame,
  FrameDecoder,
  FrameError,
  FrameErrorCode,
  FrameType,
  RstReason,
} from '@nowconnect/frames';
import type { Flow } from './flow';
import { NOOP_FLOW_METRICS } from './flow-metrics';
import type { FrameTransport } from './frame-transport';
import { MuxOptions, MuxSession } from './mux-session';
import { IDLE_SWEEP_MS } from './receive-window';
import { closeSocketPairs, socketPair } from './socket-pair.test-util';
import { WindowBudget } from './window-budget';

interface Sent {
  readonly type: FrameType;
  readonly flowId: number;
  readonly payload: Buffer;
}

class RecordingTransport implements FrameTransport {
  congested = false;
  queuedBytes = 0;
  maxMessageBytes = 1 << 20;
  flushes = 0;
  readonly frames: Sent[] = [];
  onFrame: (f: Sent) => void = () => undefined;
  private readonly decoder = new FrameDecoder(1 << 20);
  private readonly drainListeners: Array<() => void> = [];
  private waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  send(frame: Buffer): void {
    const err = this.decoder.push(frame, (f) => {
      const sent = { type: f.type, flowId: f.flowId, payload: Buffer.from(f.payload) };
      this.frames.push(sent);
      this.onFrame(sent);
    });
    if (err !== null) throw new Error(`session sent an invalid frame: ${err.code}`);
    this.waiters = this.waiters.filter((w) => (w.test() ? (w.resolve(), false) : true));
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

  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }
}

/** The smallest concrete session: records what the roles would act on. */
class TestSession extends MuxSession {
  readonly errors: FrameError[] = [];
  readonly rtts: number[] = [];
  readonly closedFlows: Flow[] = [];
  deadPeers = 0;

  constructor(transport: FrameTransport, options: Partial<MuxOptions> = {}) {
    super(transport, { maxFrameBytes: 4096, flowWindowBytes: 64 * 1024, keepaliveMs: 1000, metrics: NOOP_FLOW_METRICS, ...options });
  }

  override socketFailed(): RstReason {
    return RstReason.PEER_RESET;
  }

  protected override protocolError(err: FrameError): void {
    this.errors.push(err);
    this.teardown();
  }

  protected override deadPeer(): void {
    this.deadPeers++;
    this.teardown();
  }

  slowConsumers: Array<[number, number]> = [];
  protected override slowConsumer(queued: number, cap: number): void {
    this.slowConsumers.push([queued, cap]);
    this.teardown();
  }

  protected override onRtt(seconds: number): void {
    this.rtts.push(seconds);
  }

  protected override onFlowClosed(flow: Flow): void {
    this.closedFlows.push(flow);
  }

  open(id: number, socket: Socket): Flow {
    return this.addFlow(id, 'db', socket);
  }

  register(type: FrameType, handler: (f: Frame) => void): void {
    this.handle(type, handler);
  }

  unregister(type: FrameType): void {
    this.unhandle(type);
  }

  keepalive(): void {
    this.startKeepalive();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const OPAQUE = hex('0102030405060708');
const codes = (s: TestSession): FrameErrorCode[] => s.errors.map((e) => e.code);

function setup(options: Partial<MuxOptions> = {}): { t: RecordingTransport; s: TestSession } {
  const t = new RecordingTransport();
  return { t, s: new TestSession(t, options) };
}

// ---- real sockets for the flows --------------------------------------------------

afterEach(closeSocketPairs);
afterEach(() => jest.useRealTimers());

// ---- decoding and dispatch --------------------------------------------------------

describe('MuxSession: protocol errors', () => {
  it('garbage closes the session with the decoder error code', () => {
    const { t, s } = setup();
    s.handleMessage(hex('ff'.repeat(12)), true);
    expect(codes(s)).toEqual([FrameErrorCode.UNSUPPORTED_VERSION]);
    expect(s.errors[0]?.offset).toBe(0);
    expect(s.isClosed).toBe(true);

    s.handleMessage(encodePing(FrameType.PING, OPAQUE), true); // ignored once closed
    expect(t.frames).toEqual([]);
    expect(s.errors).toHaveLength(1);
  });

  it.each([
    ['a truncated header', hex('01 09 0000'), FrameErrorCode.TRUNCATED],
    ['a truncated payload', encodePing(FrameType.PING, OPAQUE).subarray(0, 15), FrameErrorCode.TRUNCATED],
    ['an unknown type', hex('01 0e 0000 00000000 00000000'), FrameErrorCode.UNKNOWN_TYPE],
    ['a mesh type', hex('01 20 0000 00000001 00000000'), FrameErrorCode.UNKNOWN_TYPE],
    ['flow id 0 on DATA', hex('01 05 0000 00000000 00000001 61'), FrameErrorCode.INVALID_FLOW_ID],
    ['a zero WINDOW_UPDATE', hex('01 08 0000 00000001 00000004 00000000'), FrameErrorCode.INVALID_PAYLOAD],
    ['reserved flags', hex('01 06 0100 00000001 00000000'), FrameErrorCode.RESERVED_FLAGS],
    ['a frame above maxFrameBytes', encodeData(1, Buffer.alloc(4096 - 12 + 1)), FrameErrorCode.FRAME_TOO_LARGE],
  ])('%s -> %s', (_what, message, code) => {
    const { s } = setup();
    s.handleMessage(message, true);
    expect(codes(s)).toEqual([code]);
  });

  it('a text message is NOT_BINARY, even when its bytes are a valid frame', () => {
    const { t, s } = setup();
    s.handleMessage(encodePing(FrameType.PING, OPAQUE), false);
    expect(codes(s)).toEqual([FrameErrorCode.NOT_BINARY]);
    expect(t.frames).toEqual([]);
  });

  it('a frame with no handler is UNEXPECTED_FRAME: frames before it are dispatched, none after', () => {
    const { t, s } = setup();
    s.handleMessage(Buffer.concat([encodePing(FrameType.PING, OPAQUE), encodeOpen(1, 'db'), encodePing(FrameType.PING, OPAQUE)]), true);
    expect(codes(s)).toEqual([FrameErrorCode.UNEXPECTED_FRAME]);
    expect(s.errors[0]?.message).toBe('unexpected OPEN frame');
    expect(t.frames.map((f) => f.type)).toEqual([FrameType.PONG]);
  });

  it('roles add and remove handlers in the table', () => {
    const { s } = setup();
    const opened: Array<[number, string]> = [];
    s.register(FrameType.OPEN, (f) => opened.push([f.flowId, f.payload.toString()]));
    s.handleMessage(encodeOpen(3, 'db'), true);
    expect(opened).toEqual([[3, 'db']]);
    expect(s.errors).toEqual([]);

    s.unregister(FrameType.OPEN);
    s.handleMessage(encodeOpen(4, 'db'), true);
    expect(opened).toHaveLength(1);
    expect(codes(s)).toEqual([FrameErrorCode.UNEXPECTED_FRAME]);
  });
});

describe('MuxSession: session frames', () => {
  it('answers PING with a PONG carrying the same 8 bytes', () => {
    const { t, s } = setup();
    s.handleMessage(hex('01 09 0000 00000000 00000008 0102030405060708'), true);
    expect(t.frames).toEqual([{ type: FrameType.PONG, flowId: 0, payload: OPAQUE }]);
    expect(s.errors).toEqual([]);
  });

  it('turns a PONG for its own PING into an RTT, and ignores implausible ones', () => {
    const { s } = setup();
    const fresh = Buffer.alloc(8);
    fresh.writeDoubleBE(performance.now(), 0);
    s.handleMessage(encodePing(FrameType.PONG, fresh), true);
    expect(s.rtts).toHaveLength(1);
    expect(s.rtts[0]).toBeGreaterThanOrEqual(0);
    expect(s.rtts[0]).toBeLessThan(60);

    const future = Buffer.alloc(8);
    future.writeDoubleBE(performance.now() + 1e6, 0);
    const nan = hex('7ff8000000000000');
    const ancient = Buffer.alloc(8);
    ancient.writeDoubleBE(performance.now() - 4_000_000, 0);
    for (const p of [future, nan, ancient]) s.handleMessage(encodePing(FrameType.PONG, p), true);
    expect(s.rtts).toHaveLength(1);
  });

  it('sizes flow windows with the PONG round trip: no growth before a sample (a probe PING goes out), growth after', async () => {
    const { t, s } = setup({ processBudget: new WindowBudget(1 << 30) });
    const { mine } = await socketPair();
    // A frozen clock: the drain rate must not depend on how busy the machine running the test is.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
    const flow = s.open(1, mine);
    const feed = (n: number): void => {
      for (let off = 0; off < n; off += 4000) s.handleMessage(encodeData(1, Buffer.alloc(Math.min(4000, n - off))), true);
    };
    const increments = (): number[] => t.of(FrameType.WINDOW_UPDATE).map((f) => f.payload.readUInt32BE(0));
    feed(32 * 1024); // half the 64 KiB window: a grant, with no round trip known yet
    expect(increments()).toEqual([32 * 1024]);
    expect(t.of(FrameType.PING)).toHaveLength(1); // the probe
    expect(flow.recvWindow).toBe(64 * 1024);
    const sentAt = Buffer.alloc(8);
    sentAt.writeDoubleBE(performance.now() - 50, 0); // a 50 ms round trip
    s.handleMessage(encodePing(FrameType.PONG, sentAt), true);
    expect(s.rtt.lastMs).toBeGreaterThanOrEqual(50);
    feed(32 * 1024); // the next half window, drained at once: far faster than the window needs
    expect(increments()).toEqual([32 * 1024, 32 * 1024 + 64 * 1024]);
    expect(flow.recvWindow).toBe(128 * 1024);
    expect(s.windowBudget.inUse).toBe(64 * 1024);
    jest.useRealTimers();
  });

  it('a flow that goes silent gives its grown window back to the tunnel budget within two sweep intervals', async () => {
    const { t, s } = setup({ processBudget: new WindowBudget(1 << 30) });
    const { mine } = await socketPair();
    jest.useFakeTimers();
    try {
      s.keepalive();
      const flow = s.open(1, mine);
      const feed = (n: number): void => {
        for (let off = 0; off < n; off += 4000) s.handleMessage(encodeData(1, Buffer.alloc(Math.min(4000, n - off))), true);
      };
      const sentAt = Buffer.alloc(8);
      sentAt.writeDoubleBE(performance.now() - 50, 0);
      s.handleMessage(encodePing(FrameType.PONG, sentAt), true);
      feed(32 * 1024);
      expect(flow.recvWindow).toBe(128 * 1024);
      expect(s.windowBudget.inUse).toBe(64 * 1024);
      feed(60 * 1024); // under half the grown window: no grant; then silence
      const updates = t.of(FrameType.WINDOW_UPDATE).length;
      jest.advanceTimersByTime(2 * IDLE_SWEEP_MS);
      // The 60 KiB consumed are withheld for good: the window is the 68 KiB the peer still holds as credit,
      // and only those 4 KiB above the initial window stay taken from the budget.
      expect(flow.recvWindow).toBe(68 * 1024);
      expect(s.windowBudget.inUse).toBe(4 * 1024);
      expect(t.of(FrameType.WINDOW_UPDATE).length).toBe(updates);
      feed(4 * 1024); // the peer spends 4 KiB of it and goes silent again: the next sweep takes them back
      jest.advanceTimersByTime(IDLE_SWEEP_MS);
      expect(flow.recvWindow).toBe(64 * 1024);
      expect(s.windowBudget.inUse).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('counts and ignores frames for unknown flows', () => {
    const { t, s } = setup();
    s.handleMessage(Buffer.concat([encodeData(42, Buffer.from('x')), encodeFin(42), encodeRst(42, RstReason.LIMIT), encodeWindowUpdate(42, 1)]), true);
    expect(s.unknownFlowFrames).toBe(4);
    expect(s.errors).toEqual([]);
    expect(t.frames).toEqual([]);
    expect(s.isClosed).toBe(false);
  });
});

describe('MuxSession: flows', () => {
  it('dispatches DATA, WINDOW_UPDATE, FIN and RST to the flow by id', async () => {
    const { t, s } = setup({ flowWindowBytes: 4 });
    const { mine, app } = await socketPair();
    const flow = s.open(5, mine);
    expect(s.flows.get(5)).toBe(flow);

    const got: Buffer[] = [];
    app.on('data', (c: Buffer) => got.push(c));
    const appEnded = once(app, 'end');
    s.handleMessage(Buffer.concat([encodeData(5, Buffer.from('hey!')), encodeFin(5)]), true);
    await appEnded;
    expect(Buffer.concat(got).toString()).toBe('hey!');

    const paused = once(mine, 'pause');
    app.write('back!!'); // 6 bytes against a credit of 4
    await paused;
    expect(t.of(FrameType.DATA)).toEqual([{ type: FrameType.DATA, flowId: 5, payload: Buffer.from('back') }]);
    s.handleMessage(encodeWindowUpdate(5, 2), true);
    expect(t.of(FrameType.DATA).map((f) => f.payload.toString())).toEqual(['back', '!!']);

    // The app has already seen EOF, so its reset shows on our side only: the flow asks for it.
    const resetAndDestroy = jest.spyOn(mine, 'resetAndDestroy');
    const mineClosed = once(mine, 'close');
    s.handleMessage(encodeRst(5, RstReason.SHUTDOWN), true);
    await mineClosed;
    expect(resetAndDestroy).toHaveBeenCalledTimes(1);
    expect(s.flows.size).toBe(0);
    expect(s.closedFlows).toEqual([flow]);
    expect(flow.end).toBe('rst_recv');
    expect(s.unknownFlowFrames).toBe(0);

    s.handleMessage(encodeData(5, Buffer.from('late')), true);
    expect(s.unknownFlowFrames).toBe(1);
    expect(s.errors).toEqual([]);
  });

  it('relays transport drain to waiting flows, one at a time while the transport stays clear', async () => {
    const { t, s } = setup();
    const a = await socketPair();
    const b = await socketPair();
    s.open(1, a.mine);
    s.open(2, b.mine);
    t.congested = true;
    const paused = [once(a.mine, 'pause'), once(b.mine, 'pause')];
    a.app.write('from-a');
    b.app.write('from-b');
    await Promise.all(paused);
    expect(t.frames).toEqual([]);

    t.onFrame = () => {
      t.congested = true; // each frame fills the transport again
    };
    t.drain();
    expect(t.of(FrameType.DATA)).toHaveLength(1);
    const first = t.frames[0]!.flowId;

    t.drain();
    expect(t.of(FrameType.DATA).map((f) => f.flowId)).toEqual([first, 3 - first]);
    expect(t.of(FrameType.DATA).map((f) => f.payload.toString()).sort()).toEqual(['from-a', 'from-b']);
  });

  it('a protocol error tears down: every flow is abandoned and its socket reset', async () => {
    const { t, s } = setup();
    const a = await socketPair();
    const b = await socketPair();
    s.open(1, a.mine);
    s.open(2, b.mine);
    a.app.resume();
    b.app.resume();
    const errors = [once(a.app, 'error'), once(b.app, 'error')];

    s.handleMessage(hex('00'.repeat(12)), true);
    expect(codes(s)).toEqual([FrameErrorCode.UNSUPPORTED_VERSION]);
    const got = (await Promise.all(errors)).map(([e]) => (e as NodeJS.ErrnoException).code);
    expect(got).toEqual(['ECONNRESET', 'ECONNRESET']);
    await Promise.all([a.mine, b.mine].map((m) => (m.closed ? Promise.resolve() : once(m, 'close'))));
    expect(s.flows.size).toBe(0);
    expect(s.closedFlows.map((f) => f.end)).toEqual(['transport_lost', 'transport_lost']);
    expect(t.frames).toEqual([]);
  });
});

describe('MuxSession: keepalive', () => {
  it('pings at once (a first round trip to size windows), every interval, and declares the peer dead after three silent intervals', () => {
    jest.useFakeTimers();
    const { t, s } = setup({ keepaliveMs: 1000 });
    s.keepalive();
    expect(t.frames.map((f) => [f.type, f.flowId, f.payload.length])).toEqual([[FrameType.PING, 0, 8]]);

    jest.advanceTimersByTime(1000);
    expect(t.frames.map((f) => [f.type, f.flowId, f.payload.length])).toEqual([
      [FrameType.PING, 0, 8],
      [FrameType.PING, 0, 8],
    ]);

    jest.advanceTimersByTime(2000); // t = 3000: silent for exactly 3 intervals, not more
    expect(t.of(FrameType.PING)).toHaveLength(4);
    expect(s.deadPeers).toBe(0);

    jest.advanceTimersByTime(1000); // t = 4000
    expect(s.deadPeers).toBe(1);
    expect(t.of(FrameType.PING)).toHaveLength(4);
    expect(s.isClosed).toBe(true);

    jest.advanceTimersByTime(10_000); // timer stopped by teardown
    expect(s.deadPeers).toBe(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('a PONG to one of its own PINGs keeps the session alive', () => {
    jest.useFakeTimers();
    const { t, s } = setup({ keepaliveMs: 1000 });
    s.keepalive();
    for (let i = 0; i < 10; i++) {
      jest.advanceTimersByTime(2500);
      const pings = t.of(FrameType.PING);
      s.handleMessage(encodePing(FrameType.PONG, pings[pings.length - 1]!.payload), true);
    }
    expect(s.deadPeers).toBe(0);
    expect(s.isClosed).toBe(false);
  });

  it('a peer that only sends PINGs (or PONGs it made up) and never answers ours is dead after three intervals', () => {
    jest.useFakeTimers();
    const { s } = setup({ keepaliveMs: 1000 });
    s.keepalive();
    for (let i = 0; i < 40 && !s.isClosed; i++) {
      jest.advanceTimersByTime(100);
      s.handleMessage(Buffer.concat([encodePing(FrameType.PING, OPAQUE), encodePing(FrameType.PONG, OPAQUE)]), true);
    }
    expect(s.deadPeers).toBe(1);
    expect(s.isClosed).toBe(true);
  });

  it('DATA and WINDOW_UPDATE for a live flow are progress too', async () => {
    const { s } = setup({ keepaliveMs: 1000 });
    const { mine } = await socketPair();
    s.open(1, mine);
    jest.useFakeTimers();
    s.keepalive();
    for (let i = 0; i < 10; i++) {
      jest.advanceTimersByTime(2500);
      s.handleMessage(i % 2 === 0 ? encodeWindowUpdate(1, 1) : encodeData(1, Buffer.from('x')), true);
    }
    expect(s.deadPeers).toBe(0);
    jest.useRealTimers();
  });

  it('a session answers its own PING echo as a PONG with the same payload', () => {
    const { t, s } = setup();
    const ping = encodeFrame(FrameType.PING, 0, OPAQUE);
    s.handleMessage(Buffer.concat([ping, ping]), true);
    expect(t.of(FrameType.PONG).map((f) => f.payload.toString('hex'))).toEqual(['0102030405060708', '0102030405060708']);
  });
});

describe('MuxSession: slow consumer', () => {
  it('closes the link once the unread backlog passes the cap, and stops answering PINGs past it', () => {
    const { t, s } = setup({ slowConsumerBytes: 1000 });
    s.handleMessage(encodePing(FrameType.PING, OPAQUE), true);
    expect(t.of(FrameType.PONG)).toHaveLength(1);
    t.queuedBytes = 1001;
    s.handleMessage(Buffer.concat([encodePing(FrameType.PING, OPAQUE), encodePing(FrameType.PING, OPAQUE)]), true);
    expect(t.of(FrameType.PONG)).toHaveLength(1);
    expect(s.slowConsumers).toEqual([[1001, 1000]]);
    expect(s.isClosed).toBe(true);
  });

  it('leaves a link whose backlog stays under the cap alone', () => {
    const { t, s } = setup({ slowConsumerBytes: 1000 });
    t.queuedBytes = 1000;
    for (let i = 0; i < 100; i++) s.handleMessage(encodePing(FrameType.PING, OPAQUE), true);
    expect(s.slowConsumers).toEqual([]);
    expect(t.of(FrameType.PONG)).toHaveLength(100);
  });
});
