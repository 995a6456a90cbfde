import {
  type DynamicModule,
  Inject,
  Injectable,
  Module,
  type ModuleMetadata,
  type OnApplicationShutdown,
  Optional,
  type Provider,
} from '@nestjs/common';
import { DistributedRegistry } from './distributed-registry';
import { MemoryOwnershipRegistry } from './memory-registry';
import type { OwnershipRegistry, SweepableRegistry } from './ownership-registry';
import { RegistrySweeper, type SweepResult } from './registry-sweeper';

/** What the HA control plane runs on: the ownership registry with its sweeping operations. */
export type HaRegistry = OwnershipRegistry & SweepableRegistry;

/** Injection token: the `HaRegistry` (Redis or memory), or `null` when HA is off. */
export const OWNERSHIP_REGISTRY = Symbol('NOWCONNECT_OWNERSHIP_REGISTRY');
/** Injection token: the `RegistrySweeper` of that registry (not started), or `null` when HA is off. */
export const REGISTRY_SWEEPER = Symbol('NOWCONNECT_REGISTRY_SWEEPER');
const REGISTRY_OPTIONS = Symbol('NOWCONNECT_REGISTRY_OPTIONS');

/** What the factory of `forRootAsync` returns; `null` = HA off: no registry, no socket, no timer. */
export interface RegistryModuleOptions {
  /** Redis URL (standalone, Sentinel or Cluster); absent = the in-memory registry (one replica). */
  readonly redisUrl?: string;
  /** Lease of owner entries and replica records (ms). */
  readonly leaseMs: number;
  /** Sweeper interval (ms). */
  readonly sweepIntervalMs: number;
  /** After every Redis operation (`nowconnect_registry_op_seconds{op}` / `_op_errors_total{op}`). */
  readonly onOp?: (op: string, seconds: number, ok: boolean) => void;
  /** After every sweep (result) or failed sweep (undefined). */
  readonly onSweep?: (result: SweepResult | undefined) => void;
}

export interface RegistryModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Nest's factory signature
  readonly useFactory: (...args: any[]) => RegistryModuleOptions | null | Promise<RegistryModuleOptions | null>;
  readonly inject?: NonNullable<Extract<Provider, { useFactory: unknown }>['inject']>;
}

/** The Redis registry for a URL, the in-memory one without (the choice `ha.redis_url` makes). */
export function createRegistry(opts: RegistryModuleOptions): HaRegistry {
  if (opts.redisUrl !== undefined) return new DistributedRegistry({ url: opts.redisUrl, lease_ms: opts.leaseMs, onOp: opts.onOp });
  return new MemoryOwnershipRegistry({ leaseMs: opts.leaseMs });
}

/**
 * Last step of the hub's shutdown (SPEC §9 order: drain -> mesh GOAWAY -> release holders -> close Redis):
 * stops the sweeper and closes the registry's connection. Nest calls `onApplicationShutdown` of the
 * importing (app) module first, so whoever releases its holdings there still has the connection.
 */
@Injectable()
export class RegistryLifecycle implements OnApplicationShutdown {
  constructor(
    @Optional() @Inject(OWNERSHIP_REGISTRY) private readonly registry: HaRegistry | null,
    @Optional() @Inject(REGISTRY_SWEEPER) private readonly sweeper: RegistrySweeper | null,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    this.sweeper?.stop();
    await this.registry?.close().catch(() => undefined);
  }
}

/**
 * The HA ownership registry as a Nest module. `forRootAsync` takes a factory (typically reading the parsed
 * config, see the hub's module) and provides, and exports:
 * - `OWNERSHIP_REGISTRY`: `DistributedRegistry` when a Redis URL is given (its client starts connecting
 *   when the module is built; 'degraded' / 'recovered' are for the consumer to log), else
 *   `MemoryOwnershipRegistry`; `null` when the factory returns `null` (HA off);
 * - `REGISTRY_SWEEPER`: a `RegistrySweeper` on it, not started (the consumer starts it when it starts
 *   its lease upkeep), or `null`;
 * and closes the connection (stops the sweeper) in `onApplicationShutdown`.
 * The local RouterRegistry is not provided here: it is generic over the hub's session type, and the hub
 * creates it per TunnelSessions.
 */
@Module({})
export class RegistryModule {
  static forRootAsync(options: RegistryModuleAsyncOptions): DynamicModule {
    return {
      module: RegistryModule,
      imports: options.imports ?? [],
      providers: [
        { provide: REGISTRY_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] },
        {
          provide: OWNERSHIP_REGISTRY,
          useFactory: (opts: RegistryModuleOptions | null): HaRegistry | null => (opts === null ? null : createRegistry(opts)),
          inject: [REGISTRY_OPTIONS],
        },
        {
          provide: REGISTRY_SWEEPER,
          useFactory: (opts: RegistryModuleOptions | null, registry: HaRegistry | null): RegistrySweeper | null =>
            opts === null || registry === null
              ? null
              : new RegistrySweeper(registry, { intervalMs: opts.sweepIntervalMs, onSweep: opts.onSweep && ((r) => opts.onSweep!(r)) }),
          inject: [REGISTRY_OPTIONS, OWNERSHIP_REGISTRY],
        },
        RegistryLifecycle,
      ],
      exports: [OWNERSHIP_REGISTRY, REGISTRY_SWEEPER],
    };
  }
}
