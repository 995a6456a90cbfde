import { spawn, type ChildProcess } from 'node:child_process';

export type JsonEvent = Record<string, unknown>;
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}
export interface ProcOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Label used in error messages. */
  name?: string;
  /** Start from a copy of process.env with NC_* and proxy variables removed (default true). */
  inheritEnv?: boolean;
}

const MAX_LINES = 200_000;
const TAIL_LINES = 30;

/** Env vars that would silently change hub/agent behaviour when inherited from the developer's shell. */
const SCRUBBED_ENV = /^(NC_.*|https?_proxy|no_proxy|all_proxy)$/i;

export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!SCRUBBED_ENV.test(k)) env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

interface Waiter {
  test: (line: string, ev: JsonEvent | undefined) => boolean;
  resolve: (v: { line: string; ev: JsonEvent | undefined }) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const registry = new Set<Proc>();

/**
 * A spawned child process whose stdout lines are collected and parsed as JSON events
 * (one JSON object per line with an `event` field).
 */
export class Proc {
  readonly child: ChildProcess;
  readonly name: string;
  readonly events: JsonEvent[] = [];
  private readonly outLines: string[] = [];
  private readonly errLines: string[] = [];
  /** stdout and stderr interleaved, prefixed, for diagnostics. */
  private readonly allLines: string[] = [];
  private droppedEvents = 0;
  private outBuf = '';
  private errBuf = '';
  private waiters = new Set<Waiter>();
  private exitInfo: ExitInfo | undefined;
  private spawnError: Error | undefined;
  private readonly exited: Promise<ExitInfo>;

  constructor(command: string, args: string[] = [], opts: ProcOptions = {}) {
    this.name = opts.name ?? `${command} ${args.join(' ')}`.slice(0, 80);
    const env = opts.inheritEnv === false ? { ...opts.env } : cleanEnv(opts.env);
    this.child = spawn(command, args, {
      cwd: opts.cwd,
      env: env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    registry.add(this);
    this.child.stdout?.setEncoding('utf8');
    this.child.stderr?.setEncoding('utf8');
    this.child.stdout?.on('data', (d: string) => this.onData('out', d));
    this.child.stderr?.on('data', (d: string) => this.onData('err', d));

    this.exited = new Promise<ExitInfo>((resolve) => {
      let done = false;
      let fallback: NodeJS.Timeout | undefined;
      const finish = (info: ExitInfo): void => {
        if (done) return;
        done = true;
        if (fallback) clearTimeout(fallback);
        this.flushPartial();
        this.exitInfo = info;
        registry.delete(this);
        const why = this.spawnError
          ? `failed to start: ${this.spawnError.message}`
          : `exited (code=${info.code}, signal=${info.signal})`;
        for (const w of this.waiters) {
          clearTimeout(w.timer);
          w.reject(new Error(`${this.name} ${why} before the awaited output\n${this.tail()}`));
        }
        this.waiters.clear();
        resolve(info);
      };
      // 'close' comes after stdio is drained, so late lines are still seen; 'exit' is the fallback
      // when a grandchild keeps the pipes open.
      this.child.once('close', (code, signal) => finish({ code, signal }));
      this.child.once('exit', (code, signal) => {
        fallback = setTimeout(() => finish({ code, signal }), 2000);
        fallback.unref();
      });
      this.child.once('error', (err) => {
        this.spawnError = err;
        if (this.child.pid === undefined) finish({ code: null, signal: null });
      });
    });
  }

  /** `node <script> ...args` with the current Node binary. */
  static node(script: string, args: string[] = [], opts: ProcOptions = {}): Proc {
    return new Proc(process.execPath, [script, ...args], { name: script, ...opts });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Exit info once the process has ended, else undefined. */
  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  get running(): boolean {
    return this.exitInfo === undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  stdoutLines(): string[] {
    return [...this.outLines];
  }

  stderrText(): string {
    return this.errLines.join('\n') + (this.errBuf ? `\n${this.errBuf}` : '');
  }

  stdoutText(): string {
    return this.outLines.join('\n') + (this.outBuf ? `\n${this.outBuf}` : '');
  }

  /** Events (parsed JSON stdout lines) whose `event` field equals `name`. */
  eventsNamed(name: string): JsonEvent[] {
    return this.events.filter((e) => e.event === name);
  }

  /** Events named `name` recorded at or after `mark` (from mark()). */
  eventsSince(mark: number, name: string): JsonEvent[] {
    return this.events.slice(Math.max(0, mark - this.droppedEvents)).filter((e) => e.event === name);
  }

  /** Last n lines of stdout+stderr, for error messages. */
  tail(n = TAIL_LINES): string {
    const lines = this.allLines.slice(-n);
    if (this.outBuf) lines.push(`[out] ${this.outBuf}`);
    if (this.errBuf) lines.push(`[err] ${this.errBuf}`);
    return `--- last ${lines.length} lines of ${this.name} (pid ${this.pid}) ---\n${lines.join('\n')}`;
  }

  /**
   * Resolves with the first event named `event` (and matching `pred`) already seen or still to come.
   * Rejects on timeout or when the process exits first; the message carries the output tail.
   */
  async waitForEvent(event: string, pred?: (e: JsonEvent) => boolean, timeoutMs = 20_000): Promise<JsonEvent> {
    return this.waitForEventSince(0, event, pred, timeoutMs);
  }

  /** A position in the event stream; pass it to waitForEventSince to ignore events seen before it. */
  mark(): number {
    return this.droppedEvents + this.events.length;
  }

  /** Like waitForEvent, but only events recorded at or after `mark` (from mark()) count. */
  async waitForEventSince(
    mark: number,
    event: string,
    pred?: (e: JsonEvent) => boolean,
    timeoutMs = 20_000,
  ): Promise<JsonEvent> {
    const match = (e: JsonEvent): boolean => {
      if (e.event !== event) return false;
      try {
        return pred ? pred(e) : true;
      } catch {
        return false;
      }
    };
    const seen = this.events.slice(Math.max(0, mark - this.droppedEvents)).find(match);
    if (seen) return seen;
    const r = await this.addWaiter(
      (_line, ev) => ev !== undefined && match(ev),
      timeoutMs,
      `event '${event}'${pred ? ' (with predicate)' : ''}`,
    );
    return r.ev as JsonEvent;
  }

  /** Resolves with the first stdout or stderr line matching `re` (already seen or future). */
  async waitForLine(re: RegExp | string, timeoutMs = 20_000): Promise<string> {
    const test = (line: string): boolean => (typeof re === 'string' ? line.includes(re) : re.test(line));
    const seen = [...this.outLines, ...this.errLines].find(test);
    if (seen !== undefined) return seen;
    const r = await this.addWaiter((line) => test(line), timeoutMs, `line matching ${String(re)}`);
    return r.line;
  }

  /** Resolves when the process has exited; rejects after timeoutMs (the process is left running). */
  waitForExit(timeoutMs = 20_000): Promise<ExitInfo> {
    if (this.exitInfo) return Promise.resolve(this.exitInfo);
    return new Promise<ExitInfo>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms\n${this.tail()}`)),
        timeoutMs,
      );
      void this.exited.then((info) => {
        clearTimeout(timer);
        resolve(info);
      });
    });
  }

  /** Send `signal` (by pid) and wait for exit; escalates to SIGKILL after timeoutMs. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<ExitInfo> {
    if (!this.running) return this.exited;
    this.signal(signal);
    try {
      return await this.waitForExit(timeoutMs);
    } catch {
      return this.kill();
    }
  }

  /** SIGKILL by pid and wait for the exit. */
  async kill(): Promise<ExitInfo> {
    if (!this.running) return this.exited;
    this.signal('SIGKILL');
    return this.waitForExit(10_000);
  }

  /** Send a signal to this process's pid only. */
  signal(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined || !this.running) return;
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }

  private addWaiter(
    test: Waiter['test'],
    timeoutMs: number,
    what: string,
  ): Promise<{ line: string; ev: JsonEvent | undefined }> {
    if (this.exitInfo) {
      return Promise.reject(
        new Error(`${this.name} already exited (code=${this.exitInfo.code}) while waiting for ${what}\n${this.tail()}`),
      );
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        test,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} from ${this.name}\n${this.tail()}`));
        }, timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  private onData(kind: 'out' | 'err', chunk: string): void {
    let buf = (kind === 'out' ? this.outBuf : this.errBuf) + chunk;
    let idx = buf.indexOf('\n');
    // bounded: each iteration consumes one line of the chunk
    while (idx !== -1) {
      const line = buf.slice(0, idx).replace(/\r$/, '');
      buf = buf.slice(idx + 1);
      this.onLine(kind, line);
      idx = buf.indexOf('\n');
    }
    if (kind === 'out') this.outBuf = buf;
    else this.errBuf = buf;
  }

  private flushPartial(): void {
    if (this.outBuf) {
      const l = this.outBuf;
      this.outBuf = '';
      this.onLine('out', l);
    }
    if (this.errBuf) {
      const l = this.errBuf;
      this.errBuf = '';
      this.onLine('err', l);
    }
  }

  private onLine(kind: 'out' | 'err', line: string): void {
    const store = kind === 'out' ? this.outLines : this.errLines;
    push(store, line);
    push(this.allLines, `[${kind}] ${line}`);
    let ev: JsonEvent | undefined;
    if (kind === 'out') {
      const t = line.trim();
      if (t.startsWith('{')) {
        try {
          const parsed: unknown = JSON.parse(t);
          if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
            ev = parsed as JsonEvent;
            this.events.push(ev);
            if (this.events.length > MAX_LINES) {
              const n = this.events.length - MAX_LINES;
              this.events.splice(0, n);
              this.droppedEvents += n;
            }
          }
        } catch {
          /* not JSON */
        }
      }
    }
    for (const w of this.waiters) {
      let ok = false;
      try {
        ok = w.test(line, ev);
      } catch {
        ok = false;
      }
      if (ok) {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        w.resolve({ line, ev });
      }
    }
  }
}

function push<T>(arr: T[], v: T): void {
  arr.push(v);
  if (arr.length > MAX_LINES) arr.splice(0, arr.length - MAX_LINES);
}

/** Processes started through Proc that are still running. */
export function liveProcs(): Proc[] {
  return [...registry];
}

/** SIGKILL (by pid) every Proc still running and wait for them; safe to call from afterAll. */
export async function stopAll(): Promise<void> {
  const live = [...registry];
  await Promise.all(live.map((p) => p.kill().catch(() => undefined)));
}
