import type { TargetStrategy } from '@nowconnect/ha-config';

/** What the strategy sees of one target. */
export interface TargetView {
  /** Health verdict (always true without health checks). */
  readonly up: boolean;
  /** Flows this agent currently carries to the target. */
  readonly active: number;
}

/**
 * The order in which a new flow tries a connector's targets (indices into `targets`). Pure.
 *
 * - Only healthy targets while at least one is healthy; when none is, every target (last resort:
 *   a hub normally stops routing here first, see no_healthy_target).
 * - failover: configuration order — the first healthy target takes every flow.
 * - round_robin: configuration order rotated to start at `cursor` (mod n).
 * - least_flows: fewest active flows first; ties in round_robin order (so equal targets alternate).
 * The rest of the list is where a flow goes next when a dial fails (skip-to-next).
 */
export function dialOrder(strategy: TargetStrategy, targets: readonly TargetView[], cursor: number): number[] {
  const n = targets.length;
  if (n === 0) return [];
  const healthy: number[] = [];
  for (let i = 0; i < n; i++) if (targets[i]!.up) healthy.push(i);
  const eligible = healthy.length > 0 ? healthy : targets.map((_, i) => i);
  if (strategy === 'failover') return eligible;
  const start = ((cursor % n) + n) % n;
  const rotated = (i: number): number => (i - start + n) % n;
  const order = [...eligible].sort((a, b) => rotated(a) - rotated(b));
  if (strategy === 'round_robin') return order;
  return order.sort((a, b) => targets[a]!.active - targets[b]!.active || rotated(a) - rotated(b));
}
