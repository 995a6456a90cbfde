import type { ListenerConfig } from '@nowconnect/ha-config';

/** Why a listener refused a client before routing it (nowconnect_open_failed_total{reason}). */
export type AdmissionRefusal = 'limit_active' | 'limit_client_ip' | 'limit_rate';

/**
 * A token bucket: `rate` tokens a second, holding at most `burst`; starts full. Refills lazily
 * from the clock on each take, so it costs nothing between clients.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * One listener's admission limits, counted on this replica only (a cluster-wide limit would put a
 * Redis round trip on every new flow; see docs/connectors.md): concurrent flows
 * (`max_active_flows`), concurrent flows per client address (`max_flows_per_client_ip`) and new
 * flows per second (`max_new_flows_per_sec`, token bucket with a burst of one second's worth).
 * A client admitted holds its place until release() (its socket closed).
 */
export class ListenerAdmission {
  private active = 0;
  private readonly perIp = new Map<string, number>();
  private readonly bucket: TokenBucket | undefined;

  constructor(
    private readonly config: Pick<ListenerConfig, 'maxActiveFlows' | 'maxFlowsPerClientIp' | 'maxNewFlowsPerSec'>,
    now: () => number = Date.now,
  ) {
    const rate = config.maxNewFlowsPerSec;
    this.bucket = rate === undefined ? undefined : new TokenBucket(rate, rate, now);
  }

  /** True when the listener has any admission limit (else admit() always passes and costs nothing). */
  get limited(): boolean {
    return this.config.maxActiveFlows !== undefined || this.config.maxFlowsPerClientIp > 0 || this.bucket !== undefined;
  }

  /** Admits one client (counted until release) or says which limit refused it. */
  admit(ip: string): AdmissionRefusal | undefined {
    const { maxActiveFlows, maxFlowsPerClientIp } = this.config;
    if (maxActiveFlows !== undefined && this.active >= maxActiveFlows) return 'limit_active';
    const fromIp = this.perIp.get(ip) ?? 0;
    if (maxFlowsPerClientIp > 0 && fromIp >= maxFlowsPerClientIp) return 'limit_client_ip';
    if (this.bucket !== undefined && !this.bucket.take()) return 'limit_rate';
    this.active++;
    this.perIp.set(ip, fromIp + 1);
    return undefined;
  }

  release(ip: string): void {
    this.active--;
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  get activeFlows(): number {
    return this.active;
  }

  get clientAddresses(): number {
    return this.perIp.size;
  }
}

/**
 * At most one log line per key (listener + reason) a second; the next line says how many were
 * left out meanwhile. The counter is always incremented by the caller: the log is for humans.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `write(suppressed)` when this key may log now; otherwise counts a suppressed line. */
  maybe(key: string, write: (suppressed: number) => void): void {
    const t = this.now();
    const entry = this.last.get(key);
    if (entry !== undefined && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    write(entry?.suppressed ?? 0);
    this.last.set(key, { at: t, suppressed: 0 });
  }
}
