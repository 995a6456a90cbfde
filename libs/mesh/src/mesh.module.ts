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
import WebSocket from 'ws';
import { zeroMask } from '@nowconnect/flow';
import { CertReloader, type CertFilesConfig, type TlsMaterial } from './cert-reloader';
import { MeshLink, type MeshLinkHandler, type MeshLinkOptions } from './mesh-link';
import { PeerSet, type PeerSetSelf } from './peer-set';

/** Injection token: the `MeshCertReloader` of `ha.mesh.tls` (loaded, not started), or `null` (HA off, or no TLS files). */
export const MESH_CERT_RELOADER = Symbol('NOWCONNECT_MESH_CERT_RELOADER');
/** Injection token: the `MeshLinkFactory`, or `null` when HA is off. */
export const MESH_LINK_FACTORY = Symbol('NOWCONNECT_MESH_LINK_FACTORY');
/** Injection token: a `PeerSetFactory` bound to the static peers, or `null` when HA is off. */
export const MESH_PEER_SET_FACTORY = Symbol('NOWCONNECT_MESH_PEER_SET_FACTORY');
const MESH_OPTIONS = Symbol('NOWCONNECT_MESH_OPTIONS');

/** The per-link limits every mesh link of a replica shares (from `limits.*` and `ha.mesh.*`). */
export type MeshLinkDefaults = Omit<MeshLinkOptions, 'role' | 'expectedPeerId' | 'identity' | 'metrics' | 'ownerEpoch' | 'processBudget' | 'dedupMaxEntries'>;

/** What differs per link, or is known only to the consumer (its identity, metrics, owner epochs). */
export type MeshLinkContext = Pick<MeshLinkOptions, 'identity' | 'metrics' | 'ownerEpoch'>;

/** What the factory of `forRootAsync` returns; `null` = HA off: nothing created, no timer, no socket. */
export interface MeshModuleOptions {
  /** `ha.mesh.tls` files; absent = no TLS material (no cert reloader). */
  readonly tls?: CertFilesConfig;
  /** `ha.mesh.peers`. */
  readonly staticPeers: readonly string[];
  readonly link: MeshLinkDefaults;
  /** Largest WebSocket message accepted on a link (max_frame_bytes plus slack). */
  readonly maxPayloadBytes: number;
  /** Cert reloader polling interval / debounce (tests); CertReloader's defaults otherwise. */
  readonly certPollIntervalMs?: number;
  readonly certDebounceMs?: number;
}

export interface MeshModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Nest's factory signature
  readonly useFactory: (...args: any[]) => MeshModuleOptions | null | Promise<MeshModuleOptions | null>;
  readonly inject?: NonNullable<Extract<Provider, { useFactory: unknown }>['inject']>;
}

/** What a reload of the mesh certificate files is reported to (set by the consumer before start()). */
export interface CertReloadHandlers {
  readonly onReload?: (material: TlsMaterial, generation: number) => void;
  readonly onError?: (err: Error) => void;
}

/**
 * A CertReloader whose reload/error callbacks are set after construction: the module creates (and
 * validates) it from config, the consumer that serves with it says what a reload means.
 */
export class MeshCertReloader extends CertReloader {
  private readonly handlers: { current: CertReloadHandlers };

  /** Loads the files now; throws when they are missing or invalid (a start-up error). */
  constructor(files: CertFilesConfig, timing: { pollIntervalMs?: number; debounceMs?: number } = {}) {
    const handlers: { current: CertReloadHandlers } = { current: {} };
    super({
      files,
      ...timing,
      onReload: (material, generation) => handlers.current.onReload?.(material, generation),
      onError: (err) => handlers.current.onError?.(err),
    });
    this.handlers = handlers;
  }

  setHandlers(handlers: CertReloadHandlers): void {
    this.handlers.current = handlers;
  }
}

/** The peer set of this replica: its own URLs are known only once its HTTP server listens. */
export type PeerSetFactory = (self: PeerSetSelf) => PeerSet;

/**
 * Creates the mesh links of a replica with the shared limits: acceptor links on an upgraded
 * WebSocket, dialer links on a new WebSocket (no compression, zero mask, the cert reloader's current
 * material for `wss:`). Provided by MeshModule's factory (not a class provider).
 */
export class MeshLinkFactory {
  constructor(
    readonly defaults: MeshLinkDefaults,
    readonly maxPayloadBytes: number,
    private readonly tls: CertReloader | null = null,
  ) {}

  /** An acceptor link on a WebSocket upgraded on `/mesh`. */
  accept(ws: WebSocket, context: MeshLinkContext, handler: MeshLinkHandler): MeshLink {
    return new MeshLink(ws, this.options('acceptor', undefined, context), handler);
  }

  /** A dialer link to `url` (expecting `expectedPeerId` when known). */
  dial(url: string, expectedPeerId: string | undefined, context: MeshLinkContext, handler: MeshLinkHandler): MeshLink {
    const m = this.tls?.material;
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: this.maxPayloadBytes,
      handshakeTimeout: this.defaults.helloTimeoutMs,
      generateMask: zeroMask, // the dialer is the WebSocket client: no XOR pass, no payload copy
      skipUTF8Validation: true,
      ...(url.startsWith('wss:') && m !== undefined ? { cert: m.cert, key: m.key, ca: m.ca } : {}),
    });
    return new MeshLink(ws, this.options('dialer', expectedPeerId, context), handler);
  }

  options(role: MeshLinkOptions['role'], expectedPeerId: string | undefined, context: MeshLinkContext): MeshLinkOptions {
    return { ...this.defaults, role, ...(expectedPeerId === undefined ? {} : { expectedPeerId }), ...context };
  }
}

/** Stops the cert reloader's watcher and polling on shutdown (after the importing module's hooks). */
@Injectable()
export class MeshLifecycle implements OnApplicationShutdown {
  constructor(@Optional() @Inject(MESH_CERT_RELOADER) private readonly reloader: CertReloader | null) {}

  onApplicationShutdown(): void {
    this.reloader?.stop();
  }
}

/**
 * The mesh's collaborators as a Nest module. `forRootAsync` takes a factory (typically reading the parsed
 * config, see the hub's module) and provides, and exports:
 * - `MESH_CERT_RELOADER`: a `MeshCertReloader` of the TLS files (loaded and validated when the module is
 *   built, its watcher started by the consumer), `null` without TLS files or with HA off;
 * - `MESH_LINK_FACTORY`: a `MeshLinkFactory` with the shared link limits and the reloader's material;
 * - `MESH_PEER_SET_FACTORY`: creates the `PeerSet` of the static peers once the replica's own mesh URL
 *   is known (after its HTTP server listens);
 * all `null` when the factory returns `null` (HA off); and stops the reloader in `onApplicationShutdown`.
 * The link set, tie-break, reconnects and flows stay in the consumer (the hub's MeshManager), and so
 * does the dedicated `ha.mesh.listen` listener (the reason is written where it is created).
 */
@Module({})
export class MeshModule {
  static forRootAsync(options: MeshModuleAsyncOptions): DynamicModule {
    return {
      module: MeshModule,
      imports: options.imports ?? [],
      providers: [
        { provide: MESH_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] },
        {
          provide: MESH_CERT_RELOADER,
          useFactory: (opts: MeshModuleOptions | null): MeshCertReloader | null =>
            opts === null || opts.tls === undefined
              ? null
              : new MeshCertReloader(opts.tls, {
                  ...(opts.certPollIntervalMs === undefined ? {} : { pollIntervalMs: opts.certPollIntervalMs }),
                  ...(opts.certDebounceMs === undefined ? {} : { debounceMs: opts.certDebounceMs }),
                }),
          inject: [MESH_OPTIONS],
        },
        {
          provide: MESH_LINK_FACTORY,
          useFactory: (opts: MeshModuleOptions | null, reloader: MeshCertReloader | null): MeshLinkFactory | null =>
            opts === null ? null : new MeshLinkFactory(opts.link, opts.maxPayloadBytes, reloader),
          inject: [MESH_OPTIONS, MESH_CERT_RELOADER],
        },
        {
          provide: MESH_PEER_SET_FACTORY,
          useFactory: (opts: MeshModuleOptions | null): PeerSetFactory | null =>
            opts === null ? null : (self: PeerSetSelf) => new PeerSet(self, opts.staticPeers),
          inject: [MESH_OPTIONS],
        },
        MeshLifecycle,
      ],
      exports: [MESH_CERT_RELOADER, MESH_LINK_FACTORY, MESH_PEER_SET_FACTORY],
    };
  }
}
