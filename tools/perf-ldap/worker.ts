import { Client } from 'ldapts';
import { classifyError, isConnectionKind } from './errors';
import type { PerfOptions } from './options';
import type { Stats } from './stats';

export interface WorkerContext {
  readonly opts: PerfOptions;
  readonly stats: Stats;
  /** Absolute end (Date.now() ms) of the whole run (warm-up + measurement); moved earlier on an interrupt. */
  readonly end: { at: number };
}

const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 1000;

/** Sleeps ms, in slices of at most 100 ms so an interrupt (end.at moved earlier) is seen soon. */
async function sleepUntilEnd(ms: number, end: { at: number }): Promise<void> {
  const until = Math.min(Date.now() + ms, end.at);
  for (let i = 0; i < 100_000 && Date.now() < Math.min(until, end.at); i++) {
    await new Promise((r) => setTimeout(r, Math.max(1, Math.min(100, Math.min(until, end.at) - Date.now()))));
  }
}

async function drop(client: Client | undefined): Promise<void> {
  if (client === undefined) return;
  await client.unbind().catch(() => undefined);
}

/**
 * One worker: its own connection (bound once when --bind-dn), searching in a loop until end.at.
 * A connection-level error (timeout, reset, refused, closed) replaces the connection after a
 * back-off (50 ms doubling to 1 s, never past end.at) so a dead target is not hammered.
 */
export async function runWorker(ctx: WorkerContext): Promise<void> {
  const { opts, stats } = ctx;
  let client: Client | undefined;
  let backoff = 0;
  const searchOpts = {
    scope: opts.scope,
    filter: opts.filter,
    ...(opts.attributes.length > 0 ? { attributes: [...opts.attributes] } : {}),
    timeLimit: Math.max(1, Math.ceil(opts.timeoutMs / 1000)),
  };
  try {
    while (Date.now() < ctx.end.at) {
      if (backoff > 0) {
        await sleepUntilEnd(backoff, ctx.end);
        if (Date.now() >= ctx.end.at) break;
      }
      if (client === undefined) {
        const c = new Client({ url: opts.url, timeout: opts.timeoutMs, connectTimeout: opts.timeoutMs });
        if (opts.bindDn !== undefined) {
          try {
            await c.bind(opts.bindDn, opts.password);
          } catch (e) {
            stats.recordError(classifyError(e));
            await drop(c);
            backoff = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, backoff * 2));
            continue;
          }
        }
        client = c;
        stats.connects++;
      }
      const t0 = process.hrtime.bigint();
      try {
        await client.search(opts.base, searchOpts);
        stats.recordOk(process.hrtime.bigint() - t0);
        backoff = 0;
      } catch (e) {
        const kind = classifyError(e);
        stats.recordError(kind);
        if (isConnectionKind(kind) || !client.isConnected) {
          await drop(client);
          client = undefined;
          backoff = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, backoff * 2));
        }
      }
    }
  } finally {
    await drop(client);
  }
}
