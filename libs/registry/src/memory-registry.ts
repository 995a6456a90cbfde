import {
  AgentHolders,
  AgentOwner,
  ClaimOptions,
  HeartbeatResult,
  Clock,
  DEFAULT_LEASE_MS,
  HeldLink,
  HolderHeartbeatResult,
  HolderRecord,
  OwnerRecord,
  OwnershipRegistry,
  ReplicaInfo,
  ReplicaRecord,
  SweepableRegistry,
} from './ownership-registry';

export interface MemoryRegistryOptions {
  /** Lease of owner entries and replica records (ms). */
  leaseMs?: number;
  /** Injectable clock (epoch ms); defaults to Date.now. */
  now?: Clock;
}

interface OwnerEntry extends OwnerRecord {
  expiresAt: number;
}

/**
 * In-memory `OwnershipRegistry` for a single replica (HA off, or HA without `redis_url`).
 * Same semantics as the Redis one: strictly increasing epochs per agent (kept after release or
 * expiry), release only by the current epoch holder, leases against an injectable clock.
 */
export class MemoryOwnershipRegistry implements OwnershipRegistry, SweepableRegistry {
  private readonly leaseMs: number;
  private readonly now: Clock;
  private readonly epochs = new Map<string, number>();
  /** The legacy single-owner entry, kept as the latest holder (as the Redis owner key). */
  private readonly owners = new Map<string, OwnerEntry>();
  /** agentId -> replicaId -> holder entry. */
  private readonly holders = new Map<string, Map<string, OwnerEntry>>();
  private readonly index = new Map<string, Set<string>>();
  /** agentId -> the connectors of its last setConnectors. */
  private readonly announced = new Map<string, Set<string>>();
  private readonly replicas = new Map<string, ReplicaRecord>();
  private closed = false;

  constructor(opts: MemoryRegistryOptions = {}) {
    this.leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    this.now = opts.now ?? Date.now;
  }

  async claimOwnership(agentId: string, replicaId: string, opts: ClaimOptions = {}): Promise<number> {
    this.assertOpen();
    const epoch = Math.max(this.epochs.get(agentId) ?? 0, opts.minEpoch ?? 0) + 1;
    this.epochs.set(agentId, epoch);
    this.owners.set(agentId, { replicaId, epoch, expiresAt: this.now() + this.leaseMs });
    return epoch;
  }

  async claimHolder(agentId: string, replicaId: string, opts: ClaimOptions = {}): Promise<number> {
    this.assertOpen();
    const epoch = Math.max(this.epochs.get(agentId) ?? 0, opts.minEpoch ?? 0) + 1;
    this.epochs.set(agentId, epoch);
    const expiresAt = this.now() + this.leaseMs;
    let map = this.holders.get(agentId);
    if (map === undefined) this.holders.set(agentId, (map = new Map()));
    map.set(replicaId, { replicaId, epoch, expiresAt });
    this.owners.set(agentId, { replicaId, epoch, expiresAt });
    return epoch;
  }

  async releaseHolder(agentId: string, replicaId: string, epoch: number): Promise<boolean> {
    this.assertOpen();
    let released = false;
    const map = this.liveHolderMap(agentId);
    if (map.get(replicaId)?.epoch === epoch) {
      map.delete(replicaId);
      released = true;
    }
    const o = this.liveOwner(agentId);
    if (o !== undefined && o.replicaId === replicaId && o.epoch === epoch) {
      released = true;
      const best = [...map.values()].reduce<OwnerEntry | undefined>((a, b) => (a === undefined || b.epoch > a.epoch ? b : a), undefined);
      if (best === undefined) this.owners.delete(agentId);
      else this.owners.set(agentId, { ...best });
    }
    return released;
  }

  async heartbeatHolders(replicaId: string, held: readonly HeldLink[]): Promise<HolderHeartbeatResult> {
    this.assertOpen();
    const expiresAt = this.now() + this.leaseMs;
    const res: HolderHeartbeatResult = { missing: [], lost: [], refreshed: [] };
    for (const h of held) {
      const map = this.liveHolderMap(h.agentId);
      const mine = map.get(replicaId);
      if (mine === undefined || mine.epoch < h.epoch) {
        res.missing.push(h.agentId);
        continue;
      }
      if (mine.epoch > h.epoch) {
        res.lost.push(h.agentId);
        continue;
      }
      mine.expiresAt = expiresAt;
      const o = this.liveOwner(h.agentId);
      if (o === undefined) this.owners.set(h.agentId, { replicaId, epoch: h.epoch, expiresAt });
      else if (o.replicaId === replicaId && o.epoch === h.epoch) o.expiresAt = expiresAt;
      const all = this.holdersOf(h.agentId);
      res.refreshed.push({ agentId: h.agentId, links: all.length, first: all.every((x) => x.replicaId >= replicaId) });
    }
    const r = this.replicas.get(replicaId);
    if (r && r.expiresAt > this.now()) r.expiresAt = expiresAt;
    return res;
  }

  async getHolders(agentId: string): Promise<HolderRecord[]> {
    this.assertOpen();
    return this.holdersOf(agentId);
  }

  async listHolders(connector: string): Promise<AgentHolders[]> {
    this.assertOpen();
    const out: AgentHolders[] = [];
    for (const agentId of [...(this.index.get(connector) ?? [])].sort()) {
      const holders = this.holdersOf(agentId);
      if (holders.length > 0) out.push({ agentId, holders });
    }
    return out;
  }

  async getOwner(agentId: string): Promise<OwnerRecord | undefined> {
    this.assertOpen();
    const o = this.liveOwner(agentId);
    return o ? { replicaId: o.replicaId, epoch: o.epoch } : undefined;
  }

  async release(agentId: string, epoch: number): Promise<boolean> {
    this.assertOpen();
    const o = this.liveOwner(agentId);
    if (!o || o.epoch !== epoch) return false;
    this.owners.delete(agentId);
    return true;
  }

  async addConnectors(agentId: string, connectors: readonly string[]): Promise<void> {
    this.assertOpen();
    for (const c of connectors) {
      let set = this.index.get(c);
      if (!set) this.index.set(c, (set = new Set()));
      set.add(agentId);
    }
  }

  async setConnectors(agentId: string, connectors: readonly string[]): Promise<void> {
    this.assertOpen();
    const now = new Set(connectors);
    for (const c of this.announced.get(agentId) ?? []) {
      if (!now.has(c)) this.index.get(c)?.delete(agentId);
    }
    this.announced.set(agentId, now);
    await this.addConnectors(agentId, connectors);
  }

  async listAgents(connector: string): Promise<string[]> {
    this.assertOpen();
    const set = this.index.get(connector);
    if (!set) return [];
    return [...set].filter((a) => this.isLive(a)).sort();
  }

  async listOwners(connector: string): Promise<AgentOwner[]> {
    this.assertOpen();
    const out: AgentOwner[] = [];
    for (const agentId of await this.listAgents(connector)) {
      const o = this.liveOwner(agentId);
      if (o) out.push({ agentId, replicaId: o.replicaId, epoch: o.epoch });
    }
    return out;
  }

  async heartbeat(replicaId: string, agentIds: readonly string[]): Promise<HeartbeatResult> {
    this.assertOpen();
    const expiresAt = this.now() + this.leaseMs;
    const res: HeartbeatResult = { missing: [], lost: [] };
    for (const a of agentIds) {
      const o = this.liveOwner(a);
      if (o === undefined) res.missing.push(a);
      else if (o.replicaId !== replicaId) res.lost.push(a);
      else o.expiresAt = expiresAt;
    }
    const r = this.replicas.get(replicaId);
    if (r && r.expiresAt > this.now()) r.expiresAt = expiresAt;
    return res;
  }

  async removeReplica(replicaId: string): Promise<void> {
    this.assertOpen();
    this.replicas.delete(replicaId);
  }

  async registerReplica(rec: ReplicaInfo): Promise<void> {
    this.assertOpen();
    this.replicas.set(rec.replicaId, {
      replicaId: rec.replicaId,
      meshUrl: rec.meshUrl,
      startedAt: rec.startedAt,
      ...(rec.meshKey === undefined ? {} : { meshKey: rec.meshKey }),
      expiresAt: this.now() + this.leaseMs,
    });
  }

  async listReplicas(): Promise<ReplicaRecord[]> {
    this.assertOpen();
    const now = this.now();
    return [...this.replicas.values()]
      .filter((r) => r.expiresAt > now)
      .map((r) => ({ ...r }))
      .sort((a, b) => (a.replicaId < b.replicaId ? -1 : a.replicaId > b.replicaId ? 1 : 0));
  }

  async pruneConnectorIndex(): Promise<number> {
    let removed = 0;
    for (const [connector, set] of this.index) {
      for (const a of [...set]) {
        if (!this.isLive(a)) {
          set.delete(a);
          this.announced.delete(a);
          removed++;
        }
      }
      if (set.size === 0) this.index.delete(connector);
    }
    return removed;
  }

  async pruneReplicas(): Promise<number> {
    const now = this.now();
    let removed = 0;
    for (const [id, r] of this.replicas) {
      if (r.expiresAt <= now) {
        this.replicas.delete(id);
        removed++;
      }
    }
    return removed;
  }

  isHealthy(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private liveOwner(agentId: string): OwnerEntry | undefined {
    const o = this.owners.get(agentId);
    if (!o) return undefined;
    if (o.expiresAt <= this.now()) {
      this.owners.delete(agentId);
      return undefined;
    }
    return o;
  }

  /** The agent's holder entries with expired ones dropped (a live map, possibly empty). */
  private liveHolderMap(agentId: string): Map<string, OwnerEntry> {
    const map = this.holders.get(agentId) ?? new Map<string, OwnerEntry>();
    const now = this.now();
    for (const [id, h] of map) if (h.expiresAt <= now) map.delete(id);
    if (map.size === 0) this.holders.delete(agentId);
    return map;
  }

  /** Live holders, the legacy owner entry merged in (its replica once, the higher epoch), by replicaId. */
  private holdersOf(agentId: string): HolderRecord[] {
    const byReplica = new Map<string, number>();
    for (const h of this.liveHolderMap(agentId).values()) byReplica.set(h.replicaId, h.epoch);
    const o = this.liveOwner(agentId);
    if (o !== undefined && o.epoch > (byReplica.get(o.replicaId) ?? 0)) byReplica.set(o.replicaId, o.epoch);
    return [...byReplica]
      .map(([replicaId, epoch]) => ({ replicaId, epoch }))
      .sort((a, b) => (a.replicaId < b.replicaId ? -1 : a.replicaId > b.replicaId ? 1 : 0));
  }

  private isLive(agentId: string): boolean {
    return this.liveOwner(agentId) !== undefined || this.liveHolderMap(agentId).size > 0;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('registry closed');
  }
}
