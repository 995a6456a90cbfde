import { SweepableRegistry } from './ownership-registry';

export interface SweepResult {
  removedIndexEntries: number;
  removedReplicas: number;
}

export interface RegistrySweeperOptions {
  /** Sweep interval (ms), default 30000. */
  intervalMs?: number;
  /** Injectable timer (tests); defaults to setInterval / clearInterval. */
  setInterval?: (fn: () => void, ms: number) => unknown;
  clearInterval?: (handle: unknown) => void;
  /** Called after each sweep (result) or failure (error); a failed sweep is retried next tick. */
  onSweep?: (result: SweepResult | undefined, error?: unknown) => void;
}

/**
 * Prunes what leases alone do not: connector-index entries whose agent has no live owner, and
 * replica records past their lease. Sweeps never overlap; a failing sweep (Redis down) is reported
 * and retried at the next tick.
 */
export class RegistrySweeper {
  private handle: unknown;
  private running: Promise<SweepResult> | undefined;
  private readonly intervalMs: number;

  constructor(
    private readonly registry: SweepableRegistry,
    private readonly opts: RegistrySweeperOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 30_000;
  }

  start(): void {
    if (this.handle !== undefined) return;
    const tick = (): void => {
      if (this.running) return;
      this.sweepOnce().then(
        (r) => this.opts.onSweep?.(r),
        (e: unknown) => this.opts.onSweep?.(undefined, e),
      );
    };
    if (this.opts.setInterval) {
      this.handle = this.opts.setInterval(tick, this.intervalMs);
    } else {
      const h = setInterval(tick, this.intervalMs);
      h.unref();
      this.handle = h;
    }
  }

  stop(): void {
    if (this.handle === undefined) return;
    if (this.opts.clearInterval) this.opts.clearInterval(this.handle);
    else clearInterval(this.handle as NodeJS.Timeout);
    this.handle = undefined;
  }

  sweepOnce(): Promise<SweepResult> {
    if (this.running) return this.running;
    const p = (async (): Promise<SweepResult> => {
      const removedIndexEntries = await this.registry.pruneConnectorIndex();
      const removedReplicas = await this.registry.pruneReplicas();
      return { removedIndexEntries, removedReplicas };
    })();
    this.running = p;
    const clear = (): void => {
      this.running = undefined;
    };
    p.then(clear, clear);
    return p;
  }
}
