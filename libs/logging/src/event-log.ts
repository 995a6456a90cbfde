import { Injectable } from '@nestjs/common';
import { writeSync } from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Flush at once when this many lines are waiting (bounds the buffer under a burst). */
const MAX_PENDING_LINES = 256;

/** Logs with lines waiting: flushed synchronously if the process exits before their turn ends. */
const unflushed = new Set<EventLog>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const log of [...unflushed]) log.flushSync();
  });
}

/**
 * One JSON object per line on stdout, `event` naming what happened (SPEC §8).
 * Callers pass fields only: never tokens, secrets or payload bytes.
 *
 * Lines written in one event-loop turn go out in one write at the end of the turn (a connection's
 * open and close on a busy hub cost one syscall between them, not one each); order is kept, and
 * lines still waiting when the process exits are written synchronously.
 */
@Injectable()
export class EventLog {
  private pending: string[] = [];
  private scheduled = false;

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  info(event: string, fields: Record<string, unknown> = {}): void {
    this.write('info', event, fields);
  }

  warn(event: string, fields: Record<string, unknown> = {}): void {
    this.write('warn', event, fields);
  }

  error(event: string, fields: Record<string, unknown> = {}): void {
    this.write('error', event, fields);
  }

  write(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    this.pending.push(`${JSON.stringify({ ts: new Date().toISOString(), level, event, ...fields })}\n`);
    if (this.pending.length >= MAX_PENDING_LINES) {
      this.flush();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      unflushed.add(this);
      installExitHook();
      setImmediate(() => this.flush()).unref();
    }
  }

  /** Writes what is waiting (normally called at the end of the turn). */
  flush(): void {
    this.scheduled = false;
    unflushed.delete(this);
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.out.write(text);
  }

  /** On process exit: stdout/stderr get a synchronous write, so nothing waiting is lost. */
  flushSync(): void {
    if (this.pending.length === 0) return;
    const fd = this.out === process.stdout ? 1 : this.out === process.stderr ? 2 : undefined;
    if (fd === undefined) {
      this.flush();
      return;
    }
    const text = this.pending.join('');
    this.pending = [];
    this.scheduled = false;
    unflushed.delete(this);
    try {
      writeSync(fd, text);
    } catch {
      /* stdout gone: nothing to do */
    }
  }
}
