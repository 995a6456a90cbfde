import type { AgentOwner } from '@nowconnect/registry';

/**
 * Origin side of cross-replica routing among holders (issue 15, docs/mesh.md "Holders and routing"):
 * an agent with links to several replicas is reachable through each of them. A new flow goes to the
 * usable candidate (replica alive, mesh link up) with the fewest flows this hub has in flight to that
 * (agent, replica) holder; ties rotate, so equal holders share the load instead of the first one
 * taking everything. Plain class, O(candidates) per pick; counts only what this hub opened.
 */
export class HolderChoice {
  private readonly inflight = new Map<string, number>();
  private cursor = 0;

  /** The candidate to open through, or undefined when none is usable. */
  pick(candidates: readonly AgentOwner[], usable: (c: AgentOwner) => boolean): AgentOwner | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    const start = this.cursor++ % n;
    let best: AgentOwner | undefined;
    let bestCount = Infinity;
    for (let i = 0; i < n; i++) {
      const c = candidates[(start + i) % n]!;
      if (!usable(c)) continue;
      const count = this.inflight.get(key(c)) ?? 0;
      if (count < bestCount) {
        best = c;
        bestCount = count;
      }
    }
    return best;
  }

  /** A flow opened through `c`; the returned function (idempotent) marks it closed. */
  opened(c: AgentOwner): () => void {
    const k = key(c);
    this.inflight.set(k, (this.inflight.get(k) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.inflight.get(k) ?? 1) - 1;
      if (left <= 0) this.inflight.delete(k);
      else this.inflight.set(k, left);
    };
  }

  /** Flows in flight through one holder (tests, GET /status). */
  count(agentId: string, replicaId: string): number {
    return this.inflight.get(`${agentId}\u0000${replicaId}`) ?? 0;
  }
}

function key(c: AgentOwner): string {
  return `${c.agentId}\u0000${c.replicaId}`;
}
