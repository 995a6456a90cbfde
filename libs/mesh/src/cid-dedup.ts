/**
 * Replay filter: the last accepted seq per CID, in a bounded LRU. A frame is
 * accepted only when its seq is greater than the last one accepted for its
 * CID; replays and old seqs are dropped and reported through `onDrop`. When
 * full, the least recently used CID is forgotten (a forgotten CID starts
 * afresh: size the cap above the live flows of a link).
 */
export interface CidDedupOptions {
  readonly maxEntries: number;
  readonly onDrop?: (cid: number, seq: number, lastSeq: number) => void;
}

export class CidDedup {
  /** Map iteration order is insertion order: re-inserting on use keeps the LRU at the front. */
  private readonly last = new Map<number, number>();
  private readonly maxEntries: number;
  private dropCount = 0;
  private evictCount = 0;

  constructor(private readonly options: CidDedupOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) throw new RangeError('CidDedup: maxEntries must be a positive integer');
    this.maxEntries = options.maxEntries;
  }

  accept(cid: number, seq: number): boolean {
    const prev = this.last.get(cid);
    if (prev !== undefined) {
      if (seq <= prev) {
        this.dropCount++;
        this.options.onDrop?.(cid, seq, prev);
        return false;
      }
      this.last.delete(cid);
    } else if (this.last.size >= this.maxEntries) {
      const oldest = this.last.keys().next();
      if (oldest.done !== true) {
        this.last.delete(oldest.value);
        this.evictCount++;
      }
    }
    this.last.set(cid, seq);
    return true;
  }

  /** The last accepted seq of `cid`, if remembered (does not refresh its LRU position). */
  lastSeq(cid: number): number | undefined {
    return this.last.get(cid);
  }

  get size(): number {
    return this.last.size;
  }

  get dropped(): number {
    return this.dropCount;
  }

  get evicted(): number {
    return this.evictCount;
  }

  clear(): void {
    this.last.clear();
  }
}
