/**
 * Ownership registry (control plane of HA, seed "Control plane – DistributedRegistry" and
 * "Ownership and epoch fencing"). Two implementations share this contract:
 * - `MemoryOwnershipRegistry` (HA off, or `ha.enabled` without `redis_url`),
 * - `DistributedRegistry` (Redis through `ioredis`).
 *
 * Semantics every implementation keeps (checked by `registry.contract.ts`):
 * - `claimOwnership` is atomic and returns an epoch strictly greater than every epoch previously
 *   issued for that agent; the claim makes the caller the owner, fencing any earlier holder.
 * - the owner entry carries a lease; `heartbeat` refreshes the leases of the agents the replica
 *   still owns; without a heartbeat the entry expires and `getOwner` returns undefined.
 * - `release(agentId, epoch)` succeeds only for the current epoch holder.
 * - `listAgents(connector)` lists agents indexed under that connector that have a live owner.
 * - replica records carry a lease too; `listReplicas` returns only unexpired ones.
 *
 * Holders (issue 15, docs/registry.md "Holders"): an agent may hold links to several replicas at
 * once. Each (agent, replica) link is a holder entry with its own lease and epoch:
 * - `claimHolder` is atomic (one round trip), issues an epoch from the same per-agent counter as
 *   `claimOwnership` (strictly increasing, never at or below `minEpoch`), and makes the claimer the
 *   replica's holder of the agent without touching other replicas' holder entries; it also keeps the
 *   legacy owner entry (`getOwner`) as the latest holder, so single-owner readers still find the agent;
 * - `heartbeatHolders` refreshes the replica's holder leases (given the epochs it holds); an entry
 *   gone is `missing`, an entry of this replica with a newer epoch is `lost` (a stale holder);
 * - `releaseHolder` succeeds only with the replica's current holder epoch;
 * - `listHolders(connector)` lists the agents indexed under it with their live holders, a legacy
 *   owner entry (written by a replica running the single-owner code) counting as a holder too.
 * The legacy single-owner methods (`claimOwnership`, `heartbeat`, `release`, `listOwners`) keep their
 * exact behaviour on the owner entry: they are what a not-yet-upgraded replica does.
 */

export interface OwnerRecord {
  replicaId: string;
  epoch: number;
}

export interface ReplicaInfo {
  replicaId: string;
  meshUrl: string;
  /** Epoch ms when the replica started. */
  startedAt: number;
  /**
   * The replica's mesh identity key for this run (docs/mesh.md "Identity"): its per-instance Ed25519
   * public key, base64url of the 32 raw bytes. A mesh peer's M_HELLO proof is checked against it; only
   * the public half is ever stored. Absent for a replica that has none (it cannot join the mesh).
   */
  meshKey?: string;
}

export interface ReplicaRecord extends ReplicaInfo {
  /** Epoch ms (registry clock) when the record's lease runs out unless refreshed. */
  expiresAt: number;
}

/** An agent indexed under a connector, with its live owner. */
export interface AgentOwner extends OwnerRecord {
  agentId: string;
}

/** What a heartbeat found for the agents the replica thought it owned. */
export interface HeartbeatResult {
  /** Owner entry gone (lease expired, or Redis lost its data): re-claim with `minEpoch`. */
  missing: string[];
  /** Another replica owns the agent now: this replica's epoch is stale. */
  lost: string[];
}

export interface ClaimOptions {
  /**
   * The returned epoch is > minEpoch even if the registry lost its counters (Redis restarted
   * without persistence): a hub re-asserting an agent passes the epoch it holds, so the fence
   * never goes backwards.
   */
  minEpoch?: number;
}

/** One (agent, replica) link's entry: the replica holding it and the epoch it was claimed under. */
export interface HolderRecord {
  replicaId: string;
  epoch: number;
}

/** An agent indexed under a connector, with its live holders (sorted by replicaId, never empty). */
export interface AgentHolders {
  agentId: string;
  holders: HolderRecord[];
}

/** A holder entry the replica believes it has: agent and the epoch it holds. */
export interface HeldLink {
  agentId: string;
  epoch: number;
}

/** What a holder heartbeat found, per agent given. */
export interface HolderHeartbeatResult extends HeartbeatResult {
  /**
   * Agents whose entry was refreshed, with their number of live holders (this one included) and
   * whether this replica sorts first among them (so one replica per agent counts it in
   * `nowconnect_agents_by_links`).
   */
  refreshed: { agentId: string; links: number; first: boolean }[];
}

export interface OwnershipRegistry {
  /** Atomically become the owner of `agentId`; returns the new (strictly increasing) epoch. */
  claimOwnership(agentId: string, replicaId: string, opts?: ClaimOptions): Promise<number>;
  getOwner(agentId: string): Promise<OwnerRecord | undefined>;
  /** Drop ownership if `epoch` is the current one; false (and no change) otherwise. */
  release(agentId: string, epoch: number): Promise<boolean>;
  /** Index `agentId` under each connector (additive). */
  addConnectors(agentId: string, connectors: readonly string[]): Promise<void>;
  /**
   * The agent now serves exactly `connectors` (its HELLO): index it under each, and take it out of
   * the connectors it announced before but no longer does, so lookups stop routing those to it.
   */
  setConnectors(agentId: string, connectors: readonly string[]): Promise<void>;
  /** Agents indexed under `connector` that currently have a live owner or holder (sorted). */
  listAgents(connector: string): Promise<string[]>;
  /**
   * Agents indexed under `connector` that have a live owner, with that owner (sorted by agentId).
   * What listener selection needs to find a cross-replica owner in one call.
   */
  listOwners(connector: string): Promise<AgentOwner[]>;
  /** Refresh the leases of the agents `replicaId` still owns, and of its replica record. */
  heartbeat(replicaId: string, agentIds: readonly string[]): Promise<HeartbeatResult>;
  /** Atomically become `replicaId`'s holder of `agentId` (other replicas' entries stay); the new epoch. */
  claimHolder(agentId: string, replicaId: string, opts?: ClaimOptions): Promise<number>;
  /** Drop `replicaId`'s holder entry if `epoch` is its current one; false (and no change) otherwise. */
  releaseHolder(agentId: string, replicaId: string, epoch: number): Promise<boolean>;
  /** Refresh the leases of the holder entries `replicaId` still has (with the epochs it holds), and of its replica record. */
  heartbeatHolders(replicaId: string, held: readonly HeldLink[]): Promise<HolderHeartbeatResult>;
  /** Live holders of one agent (sorted by replicaId). */
  getHolders(agentId: string): Promise<HolderRecord[]>;
  /** Agents indexed under `connector` with at least one live holder, with them (sorted by agentId). */
  listHolders(connector: string): Promise<AgentHolders[]>;
  registerReplica(rec: ReplicaInfo): Promise<void>;
  /** Remove the replica's record at once (clean shutdown), instead of waiting for its lease. */
  removeReplica(replicaId: string): Promise<void>;
  /** Unexpired replica records (sorted by replicaId). */
  listReplicas(): Promise<ReplicaRecord[]>;
  isHealthy(): boolean;
  close(): Promise<void>;
}

/** What the sweeper needs beyond the public contract: prune what leases alone do not. */
export interface SweepableRegistry {
  /** Remove connector-index entries whose agent has no live owner nor holder; returns how many. */
  pruneConnectorIndex(): Promise<number>;
  /** Remove replica records past their lease; returns how many. */
  pruneReplicas(): Promise<number>;
}

export const DEFAULT_LEASE_MS = 15_000;

export type Clock = () => number;
