import * as http from 'node:http';
import * as https from 'node:https';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  body: unknown;
}

export interface HttpOptions {
  timeoutMs?: number;
  method?: string;
  headers?: Record<string, string>;
  /** Extra CA (PEM) for https URLs. */
  ca?: string | Buffer;
  body?: string | Buffer;
}

/** One HTTP(S) request; rejects on network error or timeout, resolves for any status. */
export function httpRequest(url: string, opts: HttpOptions = {}): Promise<HttpResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise<HttpResult>((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: false,
        ...(u.protocol === 'https:' && opts.ca ? { ca: opts.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`HTTP ${opts.method ?? 'GET'} ${url} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

/** GET a URL and parse its JSON body. */
export async function getJson(
  url: string,
  timeoutMs = 5000,
  ca?: string | Buffer,
): Promise<{ status: number; body: unknown; text: string }> {
  const r = await httpRequest(url, { timeoutMs, ca });
  return { status: r.status, body: r.body, text: r.text };
}

/**
 * Poll `fn` every `intervalMs` until it returns a non-undefined value or `timeoutMs` passes
 * (only for conditions that have no event to await, e.g. an HTTP endpoint becoming ready).
 */
export async function pollUntil<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  {
    timeoutMs = 20_000,
    intervalMs = 50,
    what = 'condition',
    abort,
  }: { timeoutMs?: number; intervalMs?: number; what?: string | (() => string); abort?: () => string | undefined } = {},
): Promise<T> {
  const describe = (): string => (typeof what === 'function' ? what() : what);
  const deadline = Date.now() + timeoutMs;
  const maxIters = Math.ceil(timeoutMs / Math.max(1, intervalMs)) + 1000;
  let lastErr: unknown;
  for (let i = 0; i < maxIters; i++) {
    const why = abort?.();
    if (why !== undefined) throw new Error(`gave up waiting for ${describe()}: ${why}`);
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const detail = lastErr instanceof Error ? `: last error ${lastErr.message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}${detail}`);
}

/** Poll a URL until it answers `status` (default 200). */
export async function waitForHttpStatus(
  url: string,
  status = 200,
  {
    timeoutMs = 20_000,
    intervalMs = 50,
    ca,
    abort,
  }: { timeoutMs?: number; intervalMs?: number; ca?: string | Buffer; abort?: () => string | undefined } = {},
): Promise<HttpResult> {
  let lastStatus: number | undefined;
  return pollUntil(
    async () => {
      const r = await httpRequest(url, { timeoutMs: 2000, ca });
      lastStatus = r.status;
      return r.status === status ? r : undefined;
    },
    {
      timeoutMs,
      intervalMs,
      what: () => `${url} to answer ${status}${lastStatus !== undefined ? ` (last ${lastStatus})` : ''}`,
      abort,
    },
  );
}
