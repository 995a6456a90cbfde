import { encodeControl, FrameType, TARGET_HEALTH_VERSION } from '@nowconnect/frames';
import type { TargetPools } from './target-pool';

/** Coalesce bursts (a failing target fails many dials at once) into one frame per this many ms. */
const COALESCE_MS = 200;

/**
 * Sends TARGET_HEALTH on one tunnel: a full snapshot at once (the hub starts from it), then again
 * whenever a verdict or a failure count changes, at most every COALESCE_MS. Failure counts are
 * those since this tunnel started, so the hub never counts one failure twice across reconnects.
 */
export class TargetHealthReporter {
  private readonly baseline: ReturnType<TargetPools['failureBaseline']>;
  private readonly unsubscribe: () => void;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly pools: TargetPools,
    private readonly send: (frame: Buffer) => void,
  ) {
    this.baseline = pools.failureBaseline();
    this.unsubscribe = pools.subscribe(() => this.schedule());
    this.flush();
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
    const connectors = [...this.pools.byName.values()].map((p) => p.snapshot(this.baseline.get(p.name)));
    this.send(encodeControl(FrameType.TARGET_HEALTH, { v: TARGET_HEALTH_VERSION, connectors }));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unsubscribe();
  }
}
