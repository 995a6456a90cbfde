import type { ConnectorConfig, HostPort, TargetStrategy } from '@nowconnect/ha-config';
import { formatHostPort } from '@nowconnect/ha-config';
import type { ConnectorHealth, TargetFailureReason } from '@nowconnect/frames';
import { dialOrder } from './target-strategy';

/** One configured target of a connector and what the agent knows of it. */
export interface TargetSlot {
  /** The configured `host:port` text: the name in logs, frames and the hub's metric labels. */
  readonly name: string;
  readonly address: HostPort;
  up: boolean;
  active: number;
}

/** A connector's targets and strategy; the verdicts and open-flow counts are the agent's (shared by its tunnels). */
export class TargetPool {
  readonly name: string;
  readonly strategy: TargetStrategy;
  readonly connectTimeoutMs: number;
  readonly slots: readonly TargetSlot[];
  private cursor = 0;

  constructor(config: ConnectorConfig) {
    this.name = config.name;
    this.strategy = config.strategy;
    this.connectTimeoutMs = config.connectTimeoutMs;
    this.slots = config.targets.map((address) => ({ name: formatHostPort(address), address, up: true, active: 0 }));
  }

  /** The targets a new flow tries, in order; advances the rotation. */
  nextOrder(): TargetSlot[] {
    const order = dialOrder(this.strategy, this.slots, this.cursor);
    if (order.length > 0) this.cursor = (order[0]! + 1) % this.slots.length;
    return order.map((i) => this.slots[i]!);
  }

  get anyUp(): boolean {
    return this.slots.some((s) => s.up);
  }

  /** This connector in a TARGET_HEALTH body, with one tunnel's connect-failure counts. */
  snapshot(failureCounts: ReadonlyMap<TargetFailureReason, number> | undefined): ConnectorHealth {
    const failures: Partial<Record<TargetFailureReason, number>> = {};
    for (const [reason, n] of failureCounts ?? []) failures[reason] = n;
    return { name: this.name, targets: this.slots.map((s) => ({ target: s.name, up: s.up })), failures };
  }
}

/** Every connector's pool; tells subscribers (the tunnel sessions) when health or failure counts change. */
export class TargetPools {
  readonly byName: ReadonlyMap<string, TargetPool>;
  private readonly listeners = new Set<() => void>();

  constructor(connectors: readonly ConnectorConfig[]) {
    this.byName = new Map(connectors.map((c) => [c.name, new TargetPool(c)]));
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  get(name: string): TargetPool | undefined {
    return this.byName.get(name);
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  changed(): void {
    for (const l of this.listeners) l();
  }
}
