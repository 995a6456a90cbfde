import type { EventLog } from '@nowconnect/logging';

/** The `exp` claim of a JWT in epoch ms, read without verifying (the hub verifies); undefined when absent or unreadable. */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Share of the remaining lifetime after which a fresh token is looked for. */
const REFRESH_AT = 0.8;
const MIN_DELAY_MS = 1000;
/** While the token file holds no fresher token, look again at most this long later. */
const MAX_RETRY_MS = 60_000;
const MAX_TIMER_MS = 0x7fffffff;

/**
 * In-band re-authentication on the agent: before the tunnel's token expires (at 80 % of its
 * remaining lifetime) the token source is read again (the token file, re-read each time); a token
 * with a later `exp` is sent to the hub (REAUTH). While the file still holds the old token, it is
 * looked at again (every quarter of the remaining time, 1 s to 60 s) until the hub closes the
 * tunnel at `exp` + skew (4003) — then the runner reconnects with whatever the file holds.
 */
export class TokenRefresher {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private expiresAt: number | undefined,
    private readonly readToken: () => Promise<string>,
    private readonly send: (token: string) => void,
    private readonly log: EventLog,
    private readonly hub: string,
  ) {}

  start(): void {
    if (this.expiresAt === undefined) return; // the hub refuses tokens without exp: nothing to renew
    this.schedule(Math.max(MIN_DELAY_MS, (this.expiresAt - Date.now()) * REFRESH_AT));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.refresh(), Math.min(delayMs, MAX_TIMER_MS));
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    const current = this.expiresAt!;
    let token: string | undefined;
    try {
      token = await this.readToken();
    } catch (err) {
      this.log.warn('tunnel_reauth_failed', { hub: this.hub, reason: 'token', detail: err instanceof Error ? err.message : String(err) });
    }
    if (this.stopped) return;
    const exp = token === undefined ? undefined : tokenExpiry(token);
    if (token !== undefined && exp !== undefined && exp > current) {
      this.expiresAt = exp;
      this.send(token);
      this.log.info('tunnel_reauth_sent', { hub: this.hub, exp: new Date(exp).toISOString() });
      this.schedule(Math.max(MIN_DELAY_MS, (exp - Date.now()) * REFRESH_AT));
      return;
    }
    this.schedule(Math.min(MAX_RETRY_MS, Math.max(MIN_DELAY_MS, (current - Date.now()) / 4)));
  }
}
