import { connect, createServer, Socket, type NetConnectOpts, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { EventLog } from '@nowconnect/logging';
import { dialTargets } from './target-dialer';
import { TargetPool } from './target-pool';

function listen(): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer((c) => c.destroy());
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

/** A port nothing listens on (a server bound and closed at once). */
async function deadPort(): Promise<number> {
  const s = await listen();
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function pool(ports: number[], strategy: 'failover' | 'round_robin' = 'failover'): TargetPool {
  const targets = ports.map((port) => ({ host: '127.0.0.1', port }));
  return new TargetPool({ name: 'c', target: targets[0]!, targets, strategy, connectTimeoutMs: 1000, health: undefined });
}

class RecordingLog extends EventLog {
  readonly lines: Array<{ event: string; fields: Record<string, unknown> }> = [];
  override warn(event: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ event, fields });
  }
}

/** Counts failed dials by reason (what the tunnel reports in TARGET_HEALTH). */
function counter(): { failed: (r: string) => void; counts: Map<string, number> } {
  const counts = new Map<string, number>();
  return { failed: (r) => counts.set(r, (counts.get(r) ?? 0) + 1), counts };
}

describe('dialTargets', () => {
  let live: Server;
  let livePort: number;
  beforeAll(async () => {
    live = await listen();
    livePort = (live.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((r) => live.close(r)));

  it('skips a refusing target and connects to the next, logging and counting the failure', async () => {
    const dead = await deadPort();
    const p = pool([dead, livePort]);
    const log = new RecordingLog();
    const c = counter();
    const outcome = await dialTargets(p, 7, log, c.failed).done;
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.slot.name).toBe(`127.0.0.1:${livePort}`);
    expect(outcome.attempts).toBe(2);
    outcome.socket.destroy();
    expect(log.lines).toEqual([
      { event: 'target_connect_failed', fields: { flow: 7, connector: 'c', target: `127.0.0.1:${dead}`, reason: 'refused', next: `127.0.0.1:${livePort}` } },
    ]);
    expect(c.counts.get('refused')).toBe(1);
    // the connected target stays counted (the flow owns it now); the failed one is released
    expect(p.slots.map((x) => x.active)).toEqual([0, 1]);
  });

  it('counts a dial in progress in active (least_flows), and releases it on cancel', () => {
    const p = pool([livePort]);
    const dial = dialTargets(p, 1, new RecordingLog(), () => undefined);
    expect(p.slots[0]!.active).toBe(1);
    dial.cancel();
    expect(p.slots[0]!.active).toBe(0);
  });

  it('a target that never answers costs connect_timeout_ms, then the next one is dialled', async () => {
    const silent = 1; // the fake dialer below never connects to this port
    const p = new TargetPool({
      name: 'c',
      target: { host: '127.0.0.1', port: silent },
      targets: [
        { host: '127.0.0.1', port: silent },
        { host: '127.0.0.1', port: livePort },
      ],
      strategy: 'failover',
      connectTimeoutMs: 150,
      health: undefined,
    });
    const dialer = (o: NetConnectOpts): Socket => ((o as { port: number }).port === silent ? new Socket() : connect(o));
    const log = new RecordingLog();
    const t0 = Date.now();
    const c = counter();
    const outcome = await dialTargets(p, 3, log, c.failed, dialer).done;
    const ms = Date.now() - t0;
    expect(outcome).toMatchObject({ ok: true, attempts: 2 });
    if (outcome.ok) outcome.socket.destroy();
    expect(ms).toBeGreaterThanOrEqual(140);
    expect(log.lines[0]).toMatchObject({ event: 'target_connect_failed', fields: { target: '127.0.0.1:1', reason: 'timeout' } });
    expect(c.counts.get('timeout')).toBe(1);
  });

  it('fails with the last reason when every target fails', async () => {
    const p = pool([await deadPort(), await deadPort()]);
    const c = counter();
    const outcome = await dialTargets(p, 1, new RecordingLog(), c.failed).done;
    expect(outcome).toMatchObject({ ok: false, attempts: 2, failure: { label: 'refused' } });
    expect(c.counts.get('refused')).toBe(2);
  });

  it('cancel ends the dial without a socket', async () => {
    const dial = dialTargets(pool([livePort]), 1, new RecordingLog(), () => undefined);
    dial.cancel();
    expect(await dial.done).toMatchObject({ ok: false, failure: undefined });
  });

  it('round_robin alternates the first target over consecutive flows', async () => {
    const other = await listen();
    const p = pool([livePort, (other.address() as AddressInfo).port], 'round_robin');
    const firsts = [p.nextOrder()[0]!.name, p.nextOrder()[0]!.name, p.nextOrder()[0]!.name];
    expect(firsts[0]).not.toBe(firsts[1]);
    expect(firsts[0]).toBe(firsts[2]);
    await new Promise((r) => other.close(r));
  });
});
