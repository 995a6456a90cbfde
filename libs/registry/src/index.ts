export { createRegistry, OWNERSHIP_REGISTRY, REGISTRY_SWEEPER, RegistryLifecycle, RegistryModule } from './registry.module';
export type { HaRegistry, RegistryModuleAsyncOptions, RegistryModuleOptions } from './registry.module';
export { RouterRegistry } from './router-registry';
export type { RoutableAgent } from './router-registry';
export { DEFAULT_LEASE_MS } from './ownership-registry';
export type {
  AgentHolders,
  AgentOwner,
  ClaimOptions,
  HeldLink,
  HolderHeartbeatResult,
  HolderRecord,
  HeartbeatResult,
  Clock,
  OwnerRecord,
  OwnershipRegistry,
  ReplicaInfo,
  ReplicaRecord,
  SweepableRegistry,
} from './ownership-registry';
export { MemoryOwnershipRegistry } from './memory-registry';
export type { MemoryRegistryOptions } from './memory-registry';
export { LuaScript, RedisStore, RegistryUnavailableError } from './redis-store';
export type { RedisStoreOptions } from './redis-store';
export { DistributedRegistry } from './distributed-registry';
export type { DistributedRegistryOptions } from './distributed-registry';
export { RegistrySweeper } from './registry-sweeper';
export type { RegistrySweeperOptions, SweepResult } from './registry-sweeper';
export type { RedisClient } from './redis-store';
export { describeRedisUrl, parseRedisUrl, RedisUrlError, validateRedisUrl } from './redis-url';
export type {
  ClusterRedisUrl,
  ParsedRedisUrl,
  RedisHostPort,
  RedisUrlKind,
  SentinelRedisUrl,
  StandaloneRedisUrl,
} from './redis-url';
