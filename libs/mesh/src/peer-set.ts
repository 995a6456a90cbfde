/**
 * Which peers to dial. Merges the static `ha.mesh.peers` URLs with the
 * registry's replica records (peer discovery), never including this hub
 * (by replica id, or by one of its own mesh URLs).
 *
 * Tie-break for two hubs that dial each other (docs/mesh.md "Tie-break"):
 * each pair of hubs keeps ONE link, the one dialed by the hub whose
 * replica id sorts first (plain code-unit comparison, the same on every
 * hub). So:
 * - a hub always dials peers whose replica id is unknown (static URLs not
 *   yet seen in the registry) or sorts after its own;
 * - it does not dial a peer whose id sorts before its own while an inbound
 *   link from that peer is up (that peer is the preferred dialer); it dials
 *   it otherwise, so a one-way reachable pair still gets its link;
 * - when both links come up anyway (both dialed at once), both hubs keep the
 *   link dialed by the lower id and close the other with M_GOAWAY
 *   DUPLICATE_LINK (`keepLink`). Links are symmetric: either end opens flows.
 */
import type { ReplicaRecord } from '@nowconnect/registry';

export interface PeerTarget {
  /** Normalised ws:// or wss:// URL to dial. */
  readonly url: string;
  /** Known from the registry (or a completed handshake); undefined for a static URL not seen there. */
  readonly replicaId: string | undefined;
  readonly fromConfig: boolean;
  readonly fromRegistry: boolean;
}

export interface PeerSetSelf {
  readonly replicaId: string;
  /** Every URL this hub is reachable at on the mesh (what it registers, plus aliases). */
  readonly meshUrls: readonly string[];
}

/** WHATWG normalisation: lower-case scheme and host, default port dropped, trailing slash kept as given. */
export function normalizeMeshUrl(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') return undefined;
    u.hash = '';
    return u.href;
  } catch {
    return undefined;
  }
}

/** The replica id that dials when two hubs know each other: the one sorting first. */
export function preferredDialer(a: string, b: string): string {
  return a < b ? a : b;
}

/**
 * Should `self` dial a target? Yes unless the target's replica id is known,
 * sorts before `self`, and an inbound link from it is already up.
 */
export function shouldDial(self: string, target: PeerTarget, inboundUpFrom: ReadonlySet<string>): boolean {
  const peer = target.replicaId;
  if (peer === undefined) return true;
  if (peer === self) return false;
  const peerIsPreferred = preferredDialer(self, peer) === peer;
  return !(peerIsPreferred && inboundUpFrom.has(peer));
}

/**
 * Two up links join the same pair of hubs: which to keep? The one dialed by
 * the preferred dialer. `dialedBy` is the replica id of the side that dialed
 * the link under consideration; true = keep it, false = close it (GOAWAY DUPLICATE_LINK).
 */
export function keepLink(dialedBy: string, a: string, b: string): boolean {
  return dialedBy === preferredDialer(a, b);
}

export class PeerSet {
  private readonly selfUrls: ReadonlySet<string>;
  private readonly staticUrls: readonly string[];
  private records: readonly ReplicaRecord[] = [];
  /** Replica ids learned from handshakes on static URLs (url -> replica id). */
  private readonly learned = new Map<string, string>();

  constructor(
    private readonly self: PeerSetSelf,
    staticPeers: readonly string[],
    private readonly now: () => number = Date.now,
  ) {
    this.selfUrls = new Set(self.meshUrls.map(normalizeMeshUrl).filter((u): u is string => u !== undefined));
    this.staticUrls = [...new Set(staticPeers.map(normalizeMeshUrl).filter((u): u is string => u !== undefined))];
  }

  /** Replace the registry view (the latest listReplicas()). */
  updateReplicas(records: readonly ReplicaRecord[]): void {
    this.records = records;
  }

  /** A handshake on `url` met `replicaId`: remember it (so self-URLs and tie-breaks apply to static peers too). */
  learn(url: string, replicaId: string): void {
    const u = normalizeMeshUrl(url);
    if (u !== undefined) this.learned.set(u, replicaId);
  }

  /**
   * The peers to keep a link with, sorted by URL; self never included. One
   * target per known replica id: a configured URL wins over a registry one
   * (the operator chose it, e.g. for its certificate SAN), then the first URL.
   */
  targets(): PeerTarget[] {
    const now = this.now();
    const byUrl = new Map<string, { replicaId: string | undefined; fromConfig: boolean; fromRegistry: boolean }>();
    for (const url of this.staticUrls) byUrl.set(url, { replicaId: this.learned.get(url), fromConfig: true, fromRegistry: false });
    for (const rec of this.records) {
      if (rec.expiresAt <= now) continue;
      const url = normalizeMeshUrl(rec.meshUrl);
      if (url === undefined) continue;
      const entry = byUrl.get(url);
      byUrl.set(url, { replicaId: rec.replicaId, fromConfig: entry?.fromConfig ?? false, fromRegistry: true });
    }
    const candidates = [...byUrl]
      .filter(([url, e]) => !this.selfUrls.has(url) && e.replicaId !== this.self.replicaId)
      .map(([url, e]): PeerTarget => ({ url, ...e }))
      .sort((a, b) => Number(b.fromConfig) - Number(a.fromConfig) || compare(a.url, b.url));
    const seenIds = new Set<string>();
    const out: PeerTarget[] = [];
    for (const t of candidates) {
      if (t.replicaId !== undefined) {
        if (seenIds.has(t.replicaId)) continue;
        seenIds.add(t.replicaId);
      }
      out.push(t);
    }
    return out.sort((a, b) => compare(a.url, b.url));
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
