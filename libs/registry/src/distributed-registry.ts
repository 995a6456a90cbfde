/**
 * DistributedRegistry: the `OwnershipRegistry` on Redis (ioredis; standalone, Sentinel or Cluster URL, see redis-url.ts).
 *
 * Key schema (every multi-key script touches keys of ONE hash tag, so it stays in one slot on
 * Redis Cluster; `<p>` is the configurable prefix, default `nc`):
 *   <p>:{agent:<id>}:epoch      STRING  INCR counter, no TTL: epochs stay strictly increasing per
 *                                       agent across releases and lease expiries (~60 B per agent)
 *   <p>:{agent:<id>}:owner      HASH    {replica, epoch}, PEXPIRE = lease; refreshed by heartbeat
 *                                       of the owning replica; absent = no live owner
 *   <p>:{agent:<id>}:holders    HASH    replicaId -> "<epoch>:<expiresAtMs>": one entry per (agent,
 *                                       replica) link (issue 15, holder-scripts.ts); the owner key
 *                                       above is kept as the latest holder for single-owner readers
 *   <p>:{agent:<id>}:connectors SET     the connectors of the agent's last HELLO (setConnectors
 *                                       takes the agent out of the ones it no longer announces)
 *   <p>:{conn:<name>}:agents    SET     agent ids announced for connector <name> (not leased:
 *                                       readers filter by live owner, the sweeper prunes)
 *   <p>:{connectors}            SET     names of connectors ever indexed (the sweeper walks it)
 *   <p>:{replicas}              HASH    replicaId -> JSON {replicaId, meshUrl, startedAt, expiresAt}
 *                                       (expiresAt on the Redis clock; the sweeper HDELs expired)
 * Sizing: ~3 keys per agent + one set member per (agent, connector) + one hash field per replica;
 * write load = 1 EVALSHA per claim + (1 per agent per heartbeat interval) + 1 SADD per connector
 * on HELLO. Round trips: claim 1, getOwner 1, release 1, addConnectors 1 (commands sent in
 * parallel), setConnectors 1 (+1 when the agent dropped connectors since its last HELLO), listAgents 2 (SMEMBERS, then the EXISTS of every member in parallel), listOwners 2
 * (SMEMBERS, then HMGET of every owner in parallel), heartbeat 1 (parallel scripts), listReplicas 1,
 * removeReplica 1. Holders: claimHolder 1, releaseHolder 1, heartbeatHolders 1 per 1000 agents (parallel scripts),
 * getHolders 1, listHolders 2 (SMEMBERS, then one script per member in parallel).
 */
import {
  AgentHolders,
  AgentOwner,
  ClaimOptions,
  HeartbeatResult,
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
import { LuaScript, RedisStore, RedisStoreOptions } from './redis-store';
import { CLAIM_HOLDER, LIST_HOLDERS, REFRESH_HOLDER, RELEASE_HOLDER } from './holder-scripts';

/** Holder refresh scripts in flight at once during a heartbeat (see heartbeatHolders). */
export const HEARTBEAT_BATCH = 1000;

export interface DistributedRegistryOptions extends RedisStoreOptions {
  /** Lease of owner entries and replica records (ms), default 15000. */
  lease_ms?: number;
  /** Key prefix, default 'nc'. */
  keyPrefix?: string;
}

const CLAIM = new LuaScript('claim', 2, `
local e = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[3]) or 0
if e <= floor then
  e = floor + 1
  redis.call('SET', KEYS[1], e)
end
redis.call('HSET', KEYS[2], 'replica', ARGV[1], 'epoch', e)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return e`);

const RELEASE = new LuaScript('release', 1, `
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`);

/** Replace the agent's announced set with ARGV; returns the connectors it no longer announces. */
const SET_AGENT_CONNECTORS = new LuaScript('set_agent_connectors', 1, `
local old = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
local keep = {}
for i = 1, #ARGV do
  keep[ARGV[i]] = true
  redis.call('SADD', KEYS[1], ARGV[i])
end
local gone = {}
for _, c in ipairs(old) do
  if not keep[c] then gone[#gone + 1] = c end
end
return gone`);

/** 1 refreshed, 0 no owner entry, -1 owned by another replica. */
const REFRESH_OWNER = new LuaScript('refresh_owner', 1, `
local r = redis.call('HGET', KEYS[1], 'replica')
if not r then return 0 end
if r == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return -1`);

const NOW_MS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** ARGV: id, meshUrl, startedAt, leaseMs, mode ('register' | 'refresh'), meshKey ('' = none). */
const PUT_REPLICA = new LuaScript('put_replica', 1, `${NOW_MS}
local exp = now + tonumber(ARGV[4])
if ARGV[5] == 'refresh' then
  local cur = redis.call('HGET', KEYS[1], ARGV[1])
  if not cur then return 0 end
  local rec = cjson.decode(cur)
  if tonumber(rec.expiresAt) <= now then return 0 end
  rec.expiresAt = exp
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
  return 1
end
local rec = {replicaId = ARGV[1], meshUrl = ARGV[2], startedAt = tonumber(ARGV[3]), expiresAt = exp}
if ARGV[6] ~= nil and ARGV[6] ~= '' then rec.meshKey = ARGV[6] end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
return 1`);

/** Returns {nowMs, json...} of the records not yet expired. */
const LIST_REPLICAS = new LuaScript('list_replicas', 1, `${NOW_MS}
local out = {tostring(now)}
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  if tonumber(cjson.decode(v).expiresAt) > now then out[#out + 1] = v end
end
return out`);

const PRUNE_REPLICAS = new LuaScript('prune_replicas', 1, `${NOW_MS}
local kv = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #kv, 2 do
  if tonumber(cjson.decode(kv[i + 1]).expiresAt) <= now then
    redis.call('HDEL', KEYS[1], kv[i])
    n = n + 1
  end
end
return n`);

export class DistributedRegistry implements OwnershipRegistry, SweepableRegistry {
  readonly store: RedisStore;
  readonly leaseMs: number;
  private readonly p: string;

  constructor(opts: DistributedRegistryOptions) {
    this.leaseMs = opts.lease_ms ?? DEFAULT_LEASE_MS;
    this.p = opts.keyPrefix ?? 'nc';
    this.store = new RedisStore(opts);
  }

  /** Subscribe to 'degraded' / 'recovered' / 'ready' (log `registry_degraded` / `registry_recovered`). */
  on(event: 'degraded' | 'recovered' | 'ready', listener: () => void): this {
    this.store.on(event, listener);
    return this;
  }

  waitReady(timeoutMs?: number): Promise<void> {
    return this.store.waitReady(timeoutMs);
  }

  ownerKey(agentId: string): string {
    return `${this.p}:{agent:${agentId}}:owner`;
  }
  epochKey(agentId: string): string {
    return `${this.p}:{agent:${agentId}}:epoch`;
  }
  holdersKey(agentId: string): string {
    return `${this.p}:{agent:${agentId}}:holders`;
  }
  agentConnectorsKey(agentId: string): string {
    return `${this.p}:{agent:${agentId}}:connectors`;
  }
  connectorKey(connector: string): string {
    return `${this.p}:{conn:${connector}}:agents`;
  }
  private get connectorsKey(): string {
    return `${this.p}:{connectors}`;
  }
  private get replicasKey(): string {
    return `${this.p}:{replicas}`;
  }

  claimOwnership(agentId: string, replicaId: string, opts: ClaimOptions = {}): Promise<number> {
    return this.store.run('claim', async (c) => {
      const e = await this.store.evalScript(c, CLAIM, [this.epochKey(agentId), this.ownerKey(agentId)], [
        replicaId,
        this.leaseMs,
        opts.minEpoch ?? 0,
      ]);
      return Number(e);
    });
  }

  claimHolder(agentId: string, replicaId: string, opts: ClaimOptions = {}): Promise<number> {
    return this.store.run('claim_holder', async (c) => {
      const keys = [this.epochKey(agentId), this.holdersKey(agentId), this.ownerKey(agentId)];
      return Number(await this.store.evalScript(c, CLAIM_HOLDER, keys, [replicaId, this.leaseMs, opts.minEpoch ?? 0]));
    });
  }

  releaseHolder(agentId: string, replicaId: string, epoch: number): Promise<boolean> {
    return this.store.run('release_holder', async (c) => {
      const keys = [this.holdersKey(agentId), this.ownerKey(agentId)];
      return Number(await this.store.evalScript(c, RELEASE_HOLDER, keys, [replicaId, String(epoch)])) === 1;
    });
  }

  /**
   * Round trips: 1 per batch of HEARTBEAT_BATCH agents (batches in sequence, the scripts of a batch in
   * parallel), so no script waits behind more than one batch and the per-command timeout holds with
   * 10,000+ agents per hub (docs/registry.md "Heartbeat load").
   */
  heartbeatHolders(replicaId: string, held: readonly HeldLink[]): Promise<HolderHeartbeatResult> {
    return this.store.run('heartbeat', async (c) => {
      const results: unknown[] = [];
      for (let i = 0; i === 0 || i < held.length; i += HEARTBEAT_BATCH) {
        const batch = held.slice(i, i + HEARTBEAT_BATCH);
        const out = await Promise.all([
          ...(i === 0 ? [this.store.evalScript(c, PUT_REPLICA, [this.replicasKey], [replicaId, '', 0, this.leaseMs, 'refresh'])] : []),
          ...batch.map((h) =>
            this.store.evalScript(c, REFRESH_HOLDER, [this.holdersKey(h.agentId), this.ownerKey(h.agentId)], [
              replicaId,
              String(h.epoch),
              this.leaseMs,
            ]),
          ),
        ]);
        results.push(...(i === 0 ? out.slice(1) : out));
      }
      const res: HolderHeartbeatResult = { missing: [], lost: [], refreshed: [] };
      held.forEach((h, i) => {
        const [status, links, first] = ((results[i] as unknown[]) ?? []).map(Number);
        if (status === 1) res.refreshed.push({ agentId: h.agentId, links: links ?? 1, first: first === 1 });
        else if (status === -1) res.lost.push(h.agentId);
        else res.missing.push(h.agentId);
      });
      return res;
    });
  }

  getHolders(agentId: string): Promise<HolderRecord[]> {
    return this.store.run('get_holders', async (c) =>
      parseHolders(await this.store.evalScript(c, LIST_HOLDERS, [this.holdersKey(agentId), this.ownerKey(agentId)], [])),
    );
  }

  /** Round trips: 2 (SMEMBERS, then one list_holders script per member in parallel). */
  listHolders(connector: string): Promise<AgentHolders[]> {
    return this.store.run('list_holders', async (c) => {
      const members = (await c.smembers(this.connectorKey(connector))).sort();
      const lists = await Promise.all(
        members.map((a) => this.store.evalScript(c, LIST_HOLDERS, [this.holdersKey(a), this.ownerKey(a)], [])),
      );
      const out: AgentHolders[] = [];
      members.forEach((agentId, i) => {
        const holders = parseHolders(lists[i]);
        if (holders.length > 0) out.push({ agentId, holders });
      });
      return out;
    });
  }

  getOwner(agentId: string): Promise<OwnerRecord | undefined> {
    return this.store.run('get_owner', async (c) => {
      const [replica, epoch] = await c.hmget(this.ownerKey(agentId), 'replica', 'epoch');
      if (replica == null || epoch == null) return undefined;
      return { replicaId: replica, epoch: Number(epoch) };
    });
  }

  release(agentId: string, epoch: number): Promise<boolean> {
    return this.store.run('release', async (c) => {
      const r = await this.store.evalScript(c, RELEASE, [this.ownerKey(agentId)], [String(epoch)]);
      return Number(r) === 1;
    });
  }

  addConnectors(agentId: string, connectors: readonly string[]): Promise<void> {
    return this.store.run('add_connectors', async (c) => {
      if (connectors.length === 0) return;
      await Promise.all([
        c.sadd(this.connectorsKey, ...connectors),
        ...connectors.map((name) => c.sadd(this.connectorKey(name), agentId)),
      ]);
    });
  }

  /** Round trips: 1 (script + SADDs in parallel), +1 (SREMs) when connectors were dropped. */
  setConnectors(agentId: string, connectors: readonly string[]): Promise<void> {
    return this.store.run('set_connectors', async (c) => {
      const [gone] = await Promise.all([
        this.store.evalScript(c, SET_AGENT_CONNECTORS, [this.agentConnectorsKey(agentId)], [...connectors]),
        ...(connectors.length === 0
          ? []
          : [c.sadd(this.connectorsKey, ...connectors), ...connectors.map((name) => c.sadd(this.connectorKey(name), agentId))]),
      ]);
      const dropped = (gone as string[] | null) ?? [];
      if (dropped.length > 0) await Promise.all(dropped.map((name) => c.srem(this.connectorKey(name), agentId)));
    });
  }

  listAgents(connector: string): Promise<string[]> {
    return this.store.run('list_agents', async (c) => {
      const members = await c.smembers(this.connectorKey(connector));
      const live = await Promise.all(members.map((a) => this.live(c, a)));
      return members.filter((_, i) => live[i]).sort();
    });
  }

  /** Round trips: 2 (SMEMBERS, then HMGET of every member's owner in parallel). */
  listOwners(connector: string): Promise<AgentOwner[]> {
    return this.store.run('list_owners', async (c) => {
      const members = (await c.smembers(this.connectorKey(connector))).sort();
      const owners = await Promise.all(members.map((a) => c.hmget(this.ownerKey(a), 'replica', 'epoch')));
      const out: AgentOwner[] = [];
      members.forEach((agentId, i) => {
        const [replica, epoch] = owners[i] ?? [];
        if (replica != null && epoch != null) out.push({ agentId, replicaId: replica, epoch: Number(epoch) });
      });
      return out;
    });
  }

  heartbeat(replicaId: string, agentIds: readonly string[]): Promise<HeartbeatResult> {
    return this.store.run('heartbeat', async (c) => {
      const [, ...results] = await Promise.all([
        this.store.evalScript(c, PUT_REPLICA, [this.replicasKey], [replicaId, '', 0, this.leaseMs, 'refresh']),
        ...agentIds.map((a) =>
          this.store.evalScript(c, REFRESH_OWNER, [this.ownerKey(a)], [replicaId, this.leaseMs]),
        ),
      ]);
      const res: HeartbeatResult = { missing: [], lost: [] };
      agentIds.forEach((a, i) => {
        const r = Number(results[i]);
        if (r === 0) res.missing.push(a);
        else if (r === -1) res.lost.push(a);
      });
      return res;
    });
  }

  removeReplica(replicaId: string): Promise<void> {
    return this.store.run('remove_replica', async (c) => {
      await c.hdel(this.replicasKey, replicaId);
    });
  }

  registerReplica(rec: ReplicaInfo): Promise<void> {
    return this.store.run('register_replica', async (c) => {
      await this.store.evalScript(c, PUT_REPLICA, [this.replicasKey], [
        rec.replicaId,
        rec.meshUrl,
        rec.startedAt,
        this.leaseMs,
        'register',
        rec.meshKey ?? '',
      ]);
    });
  }

  listReplicas(): Promise<ReplicaRecord[]> {
    return this.store.run('list_replicas', async (c) => {
      const out = (await this.store.evalScript(c, LIST_REPLICAS, [this.replicasKey], [])) as string[];
      return out
        .slice(1)
        .map((s) => parseReplica(s))
        .filter((r): r is ReplicaRecord => r !== undefined)
        .sort((a, b) => (a.replicaId < b.replicaId ? -1 : a.replicaId > b.replicaId ? 1 : 0));
    });
  }

  /**
   * Remove index members whose owner key is gone. A claim racing the check is re-added: after
   * SREM the owner is checked again and the member restored if it became live meanwhile.
   */
  pruneConnectorIndex(): Promise<number> {
    return this.store.run('prune_index', async (c) => {
      let removed = 0;
      const connectors = await c.smembers(this.connectorsKey);
      for (const name of connectors) {
        const key = this.connectorKey(name);
        const members = await c.smembers(key);
        const live = await Promise.all(members.map((a) => this.live(c, a)));
        const dead = members.filter((_, i) => !live[i]);
        if (dead.length === 0) continue;
        await Promise.all(dead.map((a) => c.del(this.agentConnectorsKey(a))));
        removed += await c.srem(key, ...dead);
        const again = await Promise.all(dead.map((a) => this.live(c, a)));
        const revived = dead.filter((_, i) => again[i]);
        if (revived.length > 0) {
          await c.sadd(key, ...revived);
          removed -= revived.length;
        }
      }
      return removed;
    });
  }

  /** An owner or a holders key exists (one EXISTS: both keys share the agent's slot). */
  private async live(c: RedisStore['client'], agentId: string): Promise<boolean> {
    return (await c.exists(this.ownerKey(agentId), this.holdersKey(agentId))) > 0;
  }

  pruneReplicas(): Promise<number> {
    return this.store.run('prune_replicas', async (c) =>
      Number(await this.store.evalScript(c, PRUNE_REPLICAS, [this.replicasKey], [])),
    );
  }

  isHealthy(): boolean {
    return this.store.isHealthy();
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

function parseHolders(reply: unknown): HolderRecord[] {
  const flat = Array.isArray(reply) ? (reply as unknown[]) : [];
  const out: HolderRecord[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ replicaId: String(flat[i]), epoch: Number(flat[i + 1]) });
  return out.sort((a, b) => (a.replicaId < b.replicaId ? -1 : a.replicaId > b.replicaId ? 1 : 0));
}

function parseReplica(s: string): ReplicaRecord | undefined {
  try {
    const o = JSON.parse(s) as Partial<ReplicaRecord>;
    if (typeof o.replicaId !== 'string') return undefined;
    return {
      replicaId: o.replicaId,
      meshUrl: typeof o.meshUrl === 'string' ? o.meshUrl : '',
      startedAt: Number(o.startedAt),
      ...(typeof o.meshKey === 'string' && o.meshKey !== '' ? { meshKey: o.meshKey } : {}),
      expiresAt: Number(o.expiresAt),
    };
  } catch {
    return undefined;
  }
}
