import { Writable } from 'node:stream';
import type { HelloAckBody } from '@nowconnect/frames';
import { EventLog } from '@nowconnect/logging';
import type { AgentSessionOptions, AgentTunnelSession, SessionEnd } from './agent-tunnel-session';
import { CLOSE_STRIPE_REFUSED, StripeBoard, StripeSet } from './stripe-set';

/** A stand-in for a dialled tunnel: the test decides its HELLO_ACK or its close. */
class FakeSession {
  ready: Promise<HelloAckBody>;
  ended: Promise<SessionEnd>;
  goaway: Promise<string>;
  shutdowns = 0;
  private ack!: (a: HelloAckBody) => void;
  private end!: (e: SessionEnd) => void;

  constructor(readonly keys: readonly string[]) {
    this.ready = new Promise((r) => (this.ack = r));
    this.ended = new Promise((r) => (this.end = r));
    this.goaway = new Promise(() => undefined);
  }

  accept(replicaId: string, key: string): void {
    this.ack({ replica_id: replicaId, flow_window_bytes: 1, max_frame_bytes: 16384, keepalive_sec: 1, stripe_key: key, stripes: 8 });
  }

  close(code: number, reason: string): void {
    this.end({ established: false, dead: false, code, reason });
  }

  shutdown(): void {
    this.shutdowns++;
    this.close(1000, 'shutdown');
  }
}

const KEY_A = 'a'.repeat(32);
const KEY_B = 'b'.repeat(32);
const URL = 'ws://lb.example/tunnel';

function capture(): { log: EventLog; events: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  return { log: new EventLog(out), events: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Dials recorded in order; each waits for the test to answer it. */
class Dialer {
  readonly dials: FakeSession[] = [];
  private waiters: (() => void)[] = [];

  open = (extra: Pick<AgentSessionOptions, 'stripe' | 'siblings'>): Promise<AgentTunnelSession | undefined> => {
    const s = new FakeSession(extra.stripe!.keys);
    this.dials.push(s);
    for (const w of this.waiters.splice(0)) w();
    return Promise.resolve(s as unknown as AgentTunnelSession);
  };

  /** Resolves with the n-th dial (0-based) once it was made. */
  async nth(n: number): Promise<FakeSession> {
    while (this.dials.length <= n) await new Promise<void>((r) => this.waiters.push(r));
    return this.dials[n]!;
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

describe('StripeSet behind one load-balanced URL (StripeBoard)', () => {
  const head = { recordTargetFailure: jest.fn() } as unknown as AgentTunnelSession;
  let board: StripeBoard;
  let stopping: boolean;
  const sets: StripeSet[] = [];

  beforeEach(() => {
    board = new StripeBoard();
    stopping = false;
  });

  afterEach(async () => {
    stopping = true;
    for (const s of sets.splice(0)) s.shutdown();
  });

  function stripeSet(key: string, replica: string, link: number, count: number, dialer: Dialer, log: EventLog): StripeSet {
    const set = new StripeSet(head, key, replica, URL, link, count, {
      log,
      board,
      isStopping: () => stopping,
      open: dialer.open,
      reportFailure: () => undefined,
    });
    sets.push(set);
    return set;
  }

  it('a dial names its own link first, then the other links of the URL that still want a stripe', async () => {
    const { log } = capture();
    const da = new Dialer();
    const db = new Dialer();
    const a = stripeSet(KEY_A, 'hub-a', 0, 2, da, log);
    const b = stripeSet(KEY_B, 'hub-b', 1, 2, db, log);
    expect(board.keysFor(a)).toEqual([KEY_A, KEY_B]);
    expect(board.keysFor(b)).toEqual([KEY_B, KEY_A]);
    // a's first dial was made before b existed: it named a only.
    expect((await da.nth(0)).keys).toEqual([KEY_A]);
    expect((await db.nth(0)).keys).toEqual([KEY_B, KEY_A]);
    (await db.nth(0)).accept('hub-b', KEY_B);
    await flush();
    expect(b.wants).toBe(false);
    expect(board.keysFor(a)).toEqual([KEY_A]);
    a.stop();
    expect(board.keysFor(b)).toEqual([KEY_B]);
    expect(board.get(KEY_A)).toBeUndefined();
  });

  it('a dial of link a that reached link b`s replica fills b`s slot; a keeps dialling for its own', async () => {
    const { log, events } = capture();
    const da = new Dialer();
    const db = new Dialer();
    const a = stripeSet(KEY_A, 'hub-a', 0, 2, da, log);
    const b = stripeSet(KEY_B, 'hub-b', 1, 2, db, log);
    const [a0, b0] = [await da.nth(0), await db.nth(0)];
    a0.accept('hub-b', KEY_B); // a's dial reached hub-b: it joins b
    await flush();
    expect(b.sessions).toEqual([a0]);
    expect(a.sessions).toEqual([]);
    // b's own dial lands on hub-b too, now that b is full: not needed, closed at once.
    b0.accept('hub-b', KEY_B);
    await flush();
    expect(b0.shutdowns).toBe(1);
    expect(b.sessions).toEqual([a0]);
    // a's next dial names a only (b wants nothing) and lands on hub-a.
    const a1 = await da.nth(1);
    expect(a1.keys).toEqual([KEY_A]);
    a1.accept('hub-a', KEY_A);
    await flush();
    expect(a.sessions).toEqual([a1]);
    log.flush();
    const ups = events().filter((e) => e.event === 'agent_stripe_up');
    expect(ups).toEqual([
      expect.objectContaining({ replica_id: 'hub-b', link: 1, stripe: 1, dialled_for_link: 0 }),
      expect.objectContaining({ replica_id: 'hub-a', link: 0, stripe: 1 }),
    ]);
    expect(ups[1]).not.toHaveProperty('dialled_for_link');
    expect(events().filter((e) => e.event === 'agent_stripe_redial')).toEqual([expect.objectContaining({ link: 1, reason: 'not_needed', joined_replica: 'hub-b' })]);
  });

  it('a refusal (4010) is re-dialled; a dropped stripe empties its slot and is re-dialled', async () => {
    const { log, events } = capture();
    const da = new Dialer();
    const a = stripeSet(KEY_A, 'hub-a', 0, 2, da, log);
    (await da.nth(0)).close(CLOSE_STRIPE_REFUSED, 'stripe refused: stripe_unknown');
    const a1 = await da.nth(1);
    a1.accept('hub-a', KEY_A);
    await flush();
    expect(a.sessions).toEqual([a1]);
    a1.close(1006, 'gone');
    await flush();
    expect(a.sessions).toEqual([]);
    const a2 = await da.nth(2);
    expect(a2.keys).toEqual([KEY_A]);
    log.flush();
    const names = events().map((e) => e.event);
    expect(names).toEqual(['agent_stripe_redial', 'agent_stripe_up', 'agent_stripe_down']);
    expect(events()[0]).toMatchObject({ code: CLOSE_STRIPE_REFUSED, slow: false });
  });
});
