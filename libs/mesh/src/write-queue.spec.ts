import { LinkWriteQueue } from './write-queue';

/** A socket whose writes complete only when the test says so. */
class ManualSink {
  readonly written: Buffer[] = [];
  readonly payloads: (Buffer | undefined)[] = [];
  private readonly pending: Array<() => void> = [];
  readonly sink = (frame: Buffer, done: () => void, payload: Buffer | undefined): void => {
    this.written.push(frame);
    this.payloads.push(payload);
    this.pending.push(done);
  };
  /** Completes the oldest `n` writes. */
  complete(n = 1): void {
    for (let i = 0; i < n; i++) this.pending.shift()?.();
  }
  get outstanding(): number {
    return this.pending.length;
  }
}

const frame = (n: number, fill = 1): Buffer => Buffer.alloc(n, fill);

describe('LinkWriteQueue', () => {
  it('hands a frame with a payload (an M_DATA head and its bytes) over together, counting both against the caps', () => {
    const s = new ManualSink();
    const q = new LinkWriteQueue({ maxDepth: 10, maxInflightBytes: 100, sink: s.sink });
    const payload = frame(50, 9);
    q.push(frame(28, 1), payload);
    q.push(frame(28, 2), frame(50, 8)); // 28 + 50 more would pass 100: waits
    expect(s.written.map((b) => b[0])).toEqual([1]);
    expect(s.payloads[0]).toBe(payload); // the very buffer: not copied
    expect(q.inflightBytes).toBe(78);
    expect(q.queuedBytes).toBe(78);
    s.complete();
    expect(s.written.map((b) => b[0])).toEqual([1, 2]);
    expect(q.inflightBytes).toBe(78);
    expect(q.queuedBytes).toBe(0);
  });

  it('hands frames to the socket in order while under the in-flight cap', () => {
    const s = new ManualSink();
    const q = new LinkWriteQueue({ maxDepth: 10, maxInflightBytes: 100, sink: s.sink });
    q.push(frame(40, 1));
    q.push(frame(40, 2));
    q.push(frame(40, 3)); // 120 > 100: waits
    expect(s.written.map((b) => b[0])).toEqual([1, 2]);
    expect(q.inflightBytes).toBe(80);
    expect(q.depth).toBe(1);
    expect(q.queuedBytes).toBe(40);
    s.complete();
    expect(s.written.map((b) => b[0])).toEqual([1, 2, 3]);
    expect(q.inflightBytes).toBe(80);
    expect(q.depth).toBe(0);
    s.complete(2);
    expect(q.inflightBytes).toBe(0);
  });

  it('a frame larger than the cap still goes out alone (no wedge)', () => {
    const s = new ManualSink();
    const q = new LinkWriteQueue({ maxDepth: 10, maxInflightBytes: 10, sink: s.sink });
    q.push(frame(50));
    expect(s.written).toHaveLength(1);
    expect(q.inflightBytes).toBe(50);
    q.push(frame(1));
    expect(s.written).toHaveLength(1);
    s.complete();
    expect(s.written).toHaveLength(2);
  });

  it('tryAdmitOpen refuses at the depth cap (queue_full) and at the in-flight cap (inflight_cap)', () => {
    const s = new ManualSink();
    const q = new LinkWriteQueue({ maxDepth: 2, maxInflightBytes: 100, sink: s.sink });
    expect(q.tryAdmitOpen()).toBeNull();
    q.push(frame(100)); // in flight: exactly at the cap
    expect(q.tryAdmitOpen()).toBe('inflight_cap');
    q.push(frame(10));
    q.push(frame(10));
    expect(q.depth).toBe(2);
    expect(q.tryAdmitOpen()).toBe('queue_full');
    expect(q.congested).toBe(true);
    s.complete();
    expect(q.tryAdmitOpen()).toBeNull();
  });

  it('never drops: pushes past the depth cap are kept (existing flows), and the gauges say so', () => {
    const s = new ManualSink();
    const q = new LinkWriteQueue({ maxDepth: 3, maxInflightBytes: 10, sink: s.sink });
    for (let i = 0; i < 8; i++) q.push(frame(10, i));
    expect(q.depth).toBe(7);
    for (let i = 0; i < 8 && s.outstanding > 0; i++) s.complete();
    expect(s.written.map((b) => b[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(q.depth).toBe(0);
  });

  it('calls onDrain once per congested -> clear transition', () => {
    const s = new ManualSink();
    const q = new LinkWriteQueue({ maxDepth: 2, maxInflightBytes: 10, sink: s.sink });
    let drains = 0;
    q.onDrain(() => drains++);
    q.push(frame(10));
    expect(q.congested).toBe(true); // in-flight cap reached
    s.complete();
    expect(drains).toBe(1);
    q.push(frame(5));
    s.complete();
    expect(drains).toBe(1); // 5 < 10: never congested, no drain event
  });

  it('survives a sink that completes synchronously (no recursion blow-up, order kept)', () => {
    const written: number[] = [];
    const q = new LinkWriteQueue({ maxDepth: 5, maxInflightBytes: 1, sink: (f, done) => (written.push(f[0]!), done()) });
    for (let i = 0; i < 5000; i++) q.push(frame(1, i % 256));
    expect(written).toHaveLength(5000);
    expect(written.slice(0, 3)).toEqual([0, 1, 2]);
    expect(q.depth).toBe(0);
    expect(q.inflightBytes).toBe(0);
  });

  it('ignores a second completion of the same write', () => {
    const dones: Array<() => void> = [];
    const q = new LinkWriteQueue({ maxDepth: 5, maxInflightBytes: 100, sink: (_f, done) => dones.push(done) });
    q.push(frame(10));
    q.push(frame(10));
    dones[0]!();
    dones[0]!();
    expect(q.inflightBytes).toBe(10);
  });

  it('whenEmpty fires once every queued frame has been handed to the socket', () => {
    const s = new ManualSink();
    const q = new LinkWriteQueue({ maxDepth: 5, maxInflightBytes: 10, sink: s.sink });
    let now = 0;
    q.whenEmpty(() => now++);
    expect(now).toBe(1); // nothing queued: at once
    q.push(frame(10));
    q.push(frame(10));
    q.push(frame(10));
    let later = 0;
    q.whenEmpty(() => later++);
    s.complete();
    expect(later).toBe(0); // one still queued
    s.complete();
    expect(later).toBe(1);
    s.complete();
    expect(later).toBe(1);
  });

  it('close() forgets what is queued and ignores later pushes', () => {
    const s = new ManualSink();
    const q = new LinkWriteQueue({ maxDepth: 5, maxInflightBytes: 10, sink: s.sink });
    q.push(frame(10));
    q.push(frame(10));
    q.close();
    expect(q.depth).toBe(0);
    q.push(frame(10));
    s.complete();
    expect(s.written).toHaveLength(1);
  });

  it('refuses zero caps', () => {
    expect(() => new LinkWriteQueue({ maxDepth: 0, maxInflightBytes: 1, sink: () => undefined })).toThrow(RangeError);
    expect(() => new LinkWriteQueue({ maxDepth: 1, maxInflightBytes: 0, sink: () => undefined })).toThrow(RangeError);
  });
});

describe('LinkWriteQueue: control backlog (issue 13 finding 3)', () => {
  it('counts control frames (no payload) until the socket wrote them; M_DATA is not control; close forgets them', () => {
    const pending: Array<() => void> = [];
    const q = new LinkWriteQueue({ maxDepth: 2, maxInflightBytes: 1 << 20, sink: (_f, done) => pending.push(done) });
    for (let i = 0; i < 5; i++) q.push(Buffer.alloc(20));
    q.push(Buffer.alloc(28), Buffer.alloc(100));
    expect(q.controlBacklog).toBe(5);
    expect(q.inflightFrames).toBe(6);
    pending.shift()!();
    pending.shift()!();
    expect(q.controlBacklog).toBe(3);
    expect(q.inflightFrames).toBe(4);
    q.close();
    expect(q.controlBacklog).toBe(0);
    for (const done of pending) done();
    expect(q.controlBacklog).toBe(0);
  });
});
