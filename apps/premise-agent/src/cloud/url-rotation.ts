/**
 * The agent's fail-over list of hub URLs (SPEC §4): one tunnel at a time, to `current()`; after a
 * failed dial or a dead hub, `advance()` moves to the next URL, wrapping around to the first.
 */
export class UrlRotation {
  private readonly urls: readonly string[];
  private index = 0;

  constructor(urls: readonly string[]) {
    if (urls.length === 0) throw new RangeError('UrlRotation: at least one hub URL is required');
    this.urls = [...urls];
  }

  get size(): number {
    return this.urls.length;
  }

  current(): string {
    return this.urls[this.index] as string; // index is always within bounds
  }

  /** Moves to the next URL (wrapping) and returns it. */
  advance(): string {
    this.index = (this.index + 1) % this.urls.length;
    return this.current();
  }

  /** Back to the first (preferred) URL. */
  reset(): void {
    this.index = 0;
  }
}
