import { httpRequest, pollUntil } from './http';

/** GET <httpUrl>/metrics and return the Prometheus text. */
export async function scrape(httpUrl: string, ca?: string | Buffer): Promise<string> {
  const r = await httpRequest(`${httpUrl.replace(/\/$/, '')}/metrics`, { timeoutMs: 5000, ca });
  if (r.status !== 200) throw new Error(`GET /metrics answered ${r.status}: ${r.text.slice(0, 200)}`);
  return r.text;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

/** Parse the samples of a Prometheus text exposition (comments skipped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  const lineRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = lineRe.exec(line);
    if (!m || m[1] === undefined || m[3] === undefined) continue;
    const labels: Record<string, string> = {};
    if (m[2]) {
      for (const lm of m[2].matchAll(labelRe)) {
        if (lm[1] !== undefined && lm[2] !== undefined) labels[lm[1]] = unescapeLabel(lm[2]);
      }
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    out.push({ name: m[1], labels, value });
  }
  return out;
}

/**
 * Sum of the series named `name` whose labels include every given pair (other labels may vary);
 * 0 when no series matches.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of parseMetrics(text)) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** Whether any series named `name` exists in the text (e.g. to check a metric is exported at all). */
export function hasMetric(text: string, name: string): boolean {
  return parseMetrics(text).some((s) => s.name === name) || new RegExp(`^# (TYPE|HELP) ${name} `, 'm').test(text);
}

/**
 * Poll /metrics until metricValue(name, labels) satisfies `pred` (e.g. v => v >= 1); returns the value.
 * Counters move asynchronously, so assert on them through this rather than one scrape.
 */
export async function waitForMetric(
  httpUrl: string,
  name: string,
  labels: Record<string, string>,
  pred: (v: number) => boolean,
  { timeoutMs = 10_000, intervalMs = 50, ca }: { timeoutMs?: number; intervalMs?: number; ca?: string | Buffer } = {},
): Promise<number> {
  let last: number | undefined;
  return pollUntil(
    async () => {
      last = metricValue(await scrape(httpUrl, ca), name, labels);
      return pred(last) ? last : undefined;
    },
    { timeoutMs, intervalMs, what: () => `${name}${JSON.stringify(labels)} (last value ${String(last)})` },
  );
}
