import { encodeControl, FrameType, TARGET_HEALTH_VERSION, type TargetFailureReason } from '@nowconnect/frames';
import type { TargetPools } from './target-pool';

/** Coalesce bursts (a failing target fails many dials at once) into one frame per this many ms. */
const COALESCE_MS = 200;

/**
 * Sends TARGET_HEALTH on one tunnel: a full snapshot at once (the hub starts from it), then again
 * whenever a verdict or a failure count changes, at most every COALESCE_MS. Failure counts are this
 * tunnel's own (its dials since it started), so no failure is counted twice across tunnels or hubs.
 */
export class TargetHealthReporter {
  /** Failed dials of this tunnel, by connector and reason (cumulative, as the frame carries them). */
  private readonly failures = new Map<string, Map<TargetFailureReason, number>>();
  private readonly unsubscribe: () => void;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly pools: TargetPools,
    private readonly send: (frame: Buffer) => void,
  ) {
    this.unsubscribe = pools.subscribe(() => this.schedule());
    this.flush();
  }

  /** One failed dial of this tunnel (reported with the next frame). */
  recordFailure(connector: string, reason: TargetFailureReason): void {
    let byReason = this.failures.get(connector);
    if (byReason === undefined) this.failures.set(connector, (byReason = new Map()));
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
    this.schedule();
  }

  schedule(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, COALESCE_MS);
    this.timer.unref();
  }

  private flush(): void {
    if (this.stopped) return;
    const connectors = [...this.pools.byName.values()].map((p) => p.snapshot(this.failures.get(p.name)));
    this.send(encodeControl(FrameType.TARGET_HEALTH, { v: TARGET_HEALTH_VERSION, connectors }));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unsubscribe();
  }
}
