import type { HealthCheckConfig, PremiseConfig } from '@nowconnect/ha-config';
import type { EventLog } from '@nowconnect/logging';
import { HealthState } from './health-state';
import { probe, type ProbeResult } from './health-probe';
import type { TargetPool, TargetPools, TargetSlot } from './target-pool';

type Prober = (kind: HealthCheckConfig['kind'], slot: TargetSlot, timeoutMs: number) => Promise<ProbeResult>;

interface Check {
  readonly pool: TargetPool;
  readonly slot: TargetSlot;
  readonly health: HealthCheckConfig;
  readonly state: HealthState;
  timer: NodeJS.Timeout | undefined;
  running: boolean;
}

/**
 * Active health checks of every target of every connector with `health:` configured: one check
 * per target every interval_sec (the first at start), `fall` / `rise` consecutive results flip
 * the verdict; a flip sets the slot's `up`, logs `target_unhealthy` / `target_healthy` and tells
 * the pools' subscribers (the tunnel sends TARGET_HEALTH). Connectors without `health:` are never
 * checked: their targets stay up (a failed dial still skips to the next target).
 */
export class HealthChecker {
  private readonly checks: Check[] = [];
  private stopped = false;

  constructor(
    config: PremiseConfig,
    private readonly pools: TargetPools,
    private readonly log: EventLog,
    private readonly prober: Prober = (kind, slot, timeoutMs) => probe(kind, slot.address, timeoutMs),
  ) {
    for (const c of config.connectors) {
      const pool = pools.get(c.name);
      if (c.health === undefined || pool === undefined) continue;
      for (const slot of pool.slots) {
        this.checks.push({ pool, slot, health: c.health, state: new HealthState(c.health.fall, c.health.rise), timer: undefined, running: false });
      }
    }
  }

  start(): void {
    for (const check of this.checks) {
      void this.run(check);
      check.timer = setInterval(() => void this.run(check), check.health.intervalSec * 1000);
      check.timer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    for (const check of this.checks) clearInterval(check.timer);
  }

  private async run(check: Check): Promise<void> {
    if (check.running || this.stopped) return; // timeout_ms <= interval: a slow check never overlaps
    check.running = true;
    let result: ProbeResult;
    try {
      result = await this.prober(check.health.kind, check.slot, check.health.timeoutMs);
    } catch {
      result = { ok: false, reason: 'error' };
    } finally {
      check.running = false;
    }
    if (this.stopped) return;
    if (!check.state.observe(result.ok, result.ok ? undefined : result.reason)) return;
    check.slot.up = check.state.up;
    const fields = { connector: check.pool.name, target: check.slot.name, kind: check.health.kind };
    if (check.slot.up) {
      this.log.info('target_healthy', { ...fields, rise: check.health.rise });
    } else {
      this.log.warn('target_unhealthy', { ...fields, fall: check.health.fall, reason: check.state.lastFailure, healthy_left: check.pool.slots.filter((s) => s.up).length });
    }
    this.pools.changed();
  }
}
