import { EventLog } from '@nowconnect/logging';
import type { PremiseConfig } from '@nowconnect/ha-config';
import { decodeFrames, decodeTargetHealth, type TargetHealthBody } from '@nowconnect/frames';
import { HealthChecker } from './health-checker';
import type { ProbeResult } from './health-probe';
import { TargetPools, type TargetSlot } from './target-pool';
import { TargetHealthReporter } from './target-health-reporter';

class RecordingLog extends EventLog {
  readonly events: Array<{ event: string; fields: Record<string, unknown> }> = [];
  override info(event: string, fields: Record<string, unknown> = {}): void {
    this.events.push({ event, fields });
  }
  override warn(event: string, fields: Record<string, unknown> = {}): void {
    this.events.push({ event, fields });
  }
}

const targets = [
  { host: 'dc1', port: 389 },
  { host: 'dc2', port: 389 },
];
const config = {
  connectors: [
    { name: 'ad', target: targets[0]!, targets, strategy: 'failover', connectTimeoutMs: 3000, health: { intervalSec: 10, timeoutMs: 2000, fall: 3, rise: 2, kind: 'tcp' } },
    { name: 'plain', target: targets[0]!, targets: [targets[0]!], strategy: 'failover', connectTimeoutMs: 3000, health: undefined },
  ],
} as unknown as PremiseConfig;

function decodeSent(frames: Buffer[]): TargetHealthBody[] {
  const out: TargetHealthBody[] = [];
  for (const f of frames) {
    decodeFrames(f, 1 << 20, (frame) => {
      const body = decodeTargetHealth(Buffer.from(frame.payload));
      if (!('code' in body)) out.push(body);
    });
  }
  return out;
}

describe('HealthChecker + TargetHealthReporter', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('flips a target after fall failures and back after rise passes, logs the events, reports snapshots', async () => {
    const pools = new TargetPools(config.connectors);
    const log = new RecordingLog();
    const down = new Set<string>(['dc2:389']);
    const probes: string[] = [];
    const prober = async (_kind: string, slot: TargetSlot): Promise<ProbeResult> => {
      probes.push(slot.name);
      return down.has(slot.name) ? { ok: false, reason: 'refused' } : { ok: true };
    };
    const checker = new HealthChecker(config, pools, log, prober);
    const sent: Buffer[] = [];
    const reporter = new TargetHealthReporter(pools, (f) => sent.push(f));
    checker.start();
    await jest.advanceTimersByTimeAsync(0); // check 1 (at start)
    await jest.advanceTimersByTimeAsync(20_000); // checks 2 and 3
    expect(pools.get('ad')!.slots.map((s) => s.up)).toEqual([true, false]);
    expect(log.events.filter((e) => e.event === 'target_unhealthy')).toEqual([
      { event: 'target_unhealthy', fields: { connector: 'ad', target: 'dc2:389', kind: 'tcp', fall: 3, reason: 'refused', healthy_left: 1 } },
    ]);
    expect(probes.every((p) => p === 'dc1:389' || p === 'dc2:389')).toBe(true); // 'plain' has no checks
    down.clear();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(pools.get('ad')!.slots[1]!.up).toBe(false); // one pass < rise
    await jest.advanceTimersByTimeAsync(10_000);
    expect(pools.get('ad')!.slots[1]!.up).toBe(true);
    expect(log.events.filter((e) => e.event === 'target_healthy')).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1000); // coalesced reports flushed
    const bodies = decodeSent(sent);
    expect(bodies[0]!.connectors.map((c) => c.name)).toEqual(['ad', 'plain']);
    expect(bodies.map((b) => b.connectors[0]!.targets[1]!.up)).toEqual([true, false, true]);
    checker.stop();
    reporter.stop();
  });

  it("reports this tunnel's connect failures by connector and reason", () => {
    const pools = new TargetPools(config.connectors);
    const sent: Buffer[] = [];
    const reporter = new TargetHealthReporter(pools, (f) => sent.push(f));
    reporter.recordFailure('ad', 'refused');
    reporter.recordFailure('ad', 'refused');
    reporter.recordFailure('ad', 'timeout');
    jest.advanceTimersByTime(500); // one coalesced frame
    const bodies = decodeSent(sent);
    expect(bodies).toHaveLength(2);
    expect(bodies[0]!.connectors[0]!.failures).toEqual({});
    expect(bodies[1]!.connectors[0]!.failures).toEqual({ refused: 2, timeout: 1 });
    expect(bodies[1]!.connectors[1]!.failures).toEqual({});
    reporter.stop();
  });
});
