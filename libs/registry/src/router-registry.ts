/** What the router needs to know of a connected agent session. */
export interface RoutableAgent {
  readonly agentId: string;
  readonly connectors: readonly string[];
  /** False once the agent is draining (GOAWAY) or its limits are reached. */
  canAcceptFlow(): boolean;
  /**
   * False when the agent reported (TARGET_HEALTH) that no target of this connector is healthy.
   * Absent, or no report yet: healthy (agents without health checks, older agents).
   */
  hasHealthyTarget?(connector: string): boolean;
}

/**
 * Local routing table: which connected agents serve which connector. New flows
 * are spread round-robin over the agents of a connector that can accept one.
 * Plain class, O(agents of the connector) per pick.
 */
export class RouterRegistry<A extends RoutableAgent> {
  private readonly byConnector = new Map<string, A[]>();
  private readonly cursor = new Map<string, number>();
  private readonly all = new Set<A>();

  add(agent: A): void {
    if (this.all.has(agent)) return;
    this.all.add(agent);
    for (const c of agent.connectors) {
      const list = this.byConnector.get(c);
      if (list === undefined) this.byConnector.set(c, [agent]);
      else list.push(agent);
    }
  }

  remove(agent: A): void {
    if (!this.all.delete(agent)) return;
    for (const c of agent.connectors) {
      const list = this.byConnector.get(c);
      if (list === undefined) continue;
      const i = list.indexOf(agent);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) {
        this.byConnector.delete(c);
        this.cursor.delete(c);
      }
    }
  }

  /** The next agent for a connector that can accept a flow and has a healthy target for it, or undefined. */
  pick(connector: string): A | undefined {
    const list = this.byConnector.get(connector);
    if (list === undefined || list.length === 0) return undefined;
    const start = this.cursor.get(connector) ?? 0;
    for (let i = 0; i < list.length; i++) {
      const idx = (start + i) % list.length;
      const agent = list[idx]!;
      if (agent.canAcceptFlow() && agent.hasHealthyTarget?.(connector) !== false) {
        this.cursor.set(connector, (idx + 1) % list.length);
        return agent;
      }
    }
    return undefined;
  }

  /** Agents with this id (normally zero or one). */
  byAgentId(agentId: string): A[] {
    return [...this.all].filter((a) => a.agentId === agentId);
  }

  agents(): readonly A[] {
    return [...this.all];
  }

  get size(): number {
    return this.all.size;
  }

  /** Why pick() found no agent although some serve the connector: every accepting one has no healthy target. */
  onlyUnhealthy(connector: string): boolean {
    const list = this.byConnector.get(connector) ?? [];
    const accepting = list.filter((a) => a.canAcceptFlow());
    return accepting.length > 0 && accepting.every((a) => a.hasHealthyTarget?.(connector) === false);
  }

  hasConnector(connector: string): boolean {
    return (this.byConnector.get(connector)?.length ?? 0) > 0;
  }
}
