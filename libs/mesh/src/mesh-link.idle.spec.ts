import { IDLE_SWEEP_MS, WindowBudget } from '@nowconnect/flow';
import { linkPair, stopMeshServers, type LinkPair } from './mesh-link.test-util';

// Every wait below is for an event; a missing one fails the test here rather than at jest's global 120 s.
jest.setTimeout(15_000);

const KiB = 1024;
const initial = 64 * KiB;

afterEach(async () => {
  jest.useRealTimers();
  await stopMeshServers();
});

/**
 * A link pair on a frozen clock (jest's fake timers also fake performance.now; sockets and setImmediate stay
 * real): the round trip measures 0 (counted as RTT_FLOOR_MS) and a grant comes 0 ms after the last, so every
 * grant of a flow that has a round trip grows its window, as in mux-session.spec.ts.
 */
async function frozenPair(): Promise<LinkPair> {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
  return linkPair({}, { flowWindowBytes: initial, processBudget: new WindowBudget(1 << 30), ownerEpoch: () => 1 });
}

/** Opens a flow dialer -> acceptor and waits until the acceptor has a round trip to size its window with. */
async function openFlow(p: LinkPair): Promise<number> {
  const r = p.dialer.openFlow('agent-1', 'c', 1);
  if (!('cid' in r)) throw new Error(`refused: ${r.refused}`);
  await p.d.waitFor('openAck', (e) => e.cid === r.cid);
  // The acceptor pinged when the flow's window was created (a probe): its PONG gives the round trip.
  if (p.acceptor.lastRttSeconds === undefined) await p.am.nextRtt();
  return r.cid;
}

/** The dialer sends `n` bytes on `cid` (it has the credit) and they are consumed at the acceptor. */
async function send(p: LinkPair, cid: number, n: number): Promise<void> {
  const target = p.a.bytes(cid).length + n;
  expect(p.dialer.sendData(cid, Buffer.alloc(n, 7))).toBe(n);
  await p.a.until(() => p.a.bytes(cid).length >= target);
}

const windowOf = (p: LinkPair, cid: number): number | undefined => p.acceptor.channel(cid)?.window?.size;
/** M_WINDOW_UPDATEs the acceptor has sent (counted as they are queued). */
const updatesSent = (p: LinkPair): number => p.am.frames.get('out:M_WINDOW_UPDATE') ?? 0;

/** Grows the acceptor's window of a new flow to 128 KiB (one grant of half the initial window). */
async function grownFlow(p: LinkPair): Promise<number> {
  const cid = await openFlow(p);
  await send(p, cid, 32 * KiB); // half the 64 KiB window, drained at once: a grant that doubles the window
  await p.d.waitFor('writable', (e) => e.cid === cid); // the dialer has the M_WINDOW_UPDATE (32 + 64 KiB)
  expect(windowOf(p, cid)).toBe(128 * KiB);
  return cid;
}

describe('MeshLink: idle window sweep', () => {
  it('a flow that goes silent gives its grown window back to the link budget within two sweep intervals', async () => {
    const p = await frozenPair();
    const cid = await grownFlow(p);
    expect(p.acceptor.windowBudget.inUse).toBe(64 * KiB);
    await send(p, cid, 60 * KiB); // under half the grown window: no grant; then silence
    const updates = updatesSent(p);
    jest.advanceTimersByTime(2 * IDLE_SWEEP_MS);
    // The 60 KiB consumed are withheld for good: the window is the 68 KiB the dialer still holds as credit,
    // and only those 4 KiB above the initial window stay taken from the link's budget.
    expect(windowOf(p, cid)).toBe(68 * KiB);
    expect(p.acceptor.windowBudget.inUse).toBe(4 * KiB);
    expect(p.acceptor.channel(cid)?.consumed).toBe(0);
    await send(p, cid, 4 * KiB); // the dialer spends 4 KiB of it and goes silent again: the next sweep takes them back
    jest.advanceTimersByTime(IDLE_SWEEP_MS);
    expect(windowOf(p, cid)).toBe(initial);
    expect(p.acceptor.windowBudget.inUse).toBe(0);
    // No credit was granted meanwhile: the dialer has exactly the 64 KiB initial window left.
    expect(updatesSent(p)).toBe(updates);
    expect(p.dialer.sendData(cid, Buffer.alloc(initial + 1))).toBe(initial);
  });

  it('a busy flow keeps its window while a silent one on the same link gives its growth back', async () => {
    const p = await frozenPair();
    const silent = await grownFlow(p);
    const busy = await grownFlow(p);
    expect(p.acceptor.windowBudget.inUse).toBe(128 * KiB);
    await send(p, silent, 60 * KiB);
    await send(p, busy, 60 * KiB);
    jest.advanceTimersByTime(IDLE_SWEEP_MS / 2);
    const updates = updatesSent(p);
    await send(p, busy, 4 * KiB); // 64 KiB consumed: a grant, half a sweep interval before the sweep
    expect(updatesSent(p)).toBe(updates + 1);
    expect(windowOf(p, busy)).toBe(128 * KiB);
    await send(p, busy, 60 * KiB); // not yet granted when the sweep runs
    jest.advanceTimersByTime(IDLE_SWEEP_MS / 2);
    expect(windowOf(p, silent)).toBe(68 * KiB);
    expect(windowOf(p, busy)).toBe(128 * KiB);
    expect(p.acceptor.channel(busy)?.consumed).toBe(60 * KiB);
    expect(p.acceptor.windowBudget.inUse).toBe(4 * KiB + 64 * KiB);
  });

  it('the sweep timer is cleared when the link closes (no timer left behind)', async () => {
    const p = await frozenPair();
    await grownFlow(p);
    p.dialer.close();
    await p.a.waitFor('down');
    await p.d.waitFor('down');
    jest.advanceTimersByTime(60_000); // fires any pending timeout (none of ours); intervals would stay
    expect(jest.getTimerCount()).toBe(0);
  });
});
