/**
 * Progress on stderr: a live bar rewritten in place when stderr is a TTY, otherwise a plain line
 * at most every `plainEveryMs`.
 */
export class Progress {
  private lastPlain = 0;
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly plainEveryMs = 5000,
  ) {}

  get tty(): boolean {
    return this.out.isTTY === true;
  }

  /** fraction in 0..1; text after the bar. */
  update(fraction: number, text: string, now = Date.now()): void {
    if (this.tty) {
      const width = 24;
      const f = Math.max(0, Math.min(1, fraction));
      const full = Math.round(f * width);
      this.out.write(`\r[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${text}\u001b[K`);
      this.drawn = true;
      return;
    }
    if (now - this.lastPlain < this.plainEveryMs) return;
    this.lastPlain = now;
    this.out.write(`${text}\n`);
  }

  /** Ends the live line (a TTY bar gets its newline). */
  done(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
