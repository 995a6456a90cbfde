/**
 * The exporter side of the observability check: metric families of real /metrics scrapes, the label
 * names the hub source declares, and the coverage check of rule and dashboard expressions against them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseMetrics } from './metrics';
import { promqlRefs } from './observability-promql';
/** A metric family as exported: its TYPE and the label names its samples carry (empty when no sample). */
export interface Family {
  readonly name: string;
  readonly type: string;
  readonly sampleLabels: Set<string>;
  /** Values seen per label name across the samples. */
  readonly sampleValues: Map<string, Set<string>>;
  samples: number;
}

/** Metric families of one or more /metrics texts, keyed by family name (# TYPE lines). */
export function families(texts: readonly string[]): Map<string, Family> {
  const out = new Map<string, Family>();
  for (const text of texts) {
    for (const m of text.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/gm)) {
      if (!out.has(m[1]!)) out.set(m[1]!, { name: m[1]!, type: m[2]!, sampleLabels: new Set(), sampleValues: new Map(), samples: 0 });
    }
    for (const s of parseMetrics(text)) {
      const fam = familyOf(out, s.name);
      if (fam === undefined) continue;
      fam.samples++;
      for (const [l, v] of Object.entries(s.labels)) {
        if (l === 'le' || l === 'quantile') continue;
        fam.sampleLabels.add(l);
        const values = fam.sampleValues.get(l) ?? new Set<string>();
        values.add(v);
        fam.sampleValues.set(l, values);
      }
    }
  }
  return out;
}

/** The family a sample or series name belongs to (histogram/summary suffixes resolved). */
export function familyOf(fams: ReadonlyMap<string, Family>, name: string): Family | undefined {
  const direct = fams.get(name);
  if (direct) return direct;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!m) return undefined;
  const base = fams.get(m[1]!);
  if (base === undefined) return undefined;
  if (base.type === 'histogram') return base;
  if (base.type === 'summary' && m[2] !== 'bucket') return base;
  return undefined;
}

/**
 * Label names each hub metric is declared with in the source (the `counter(name, help, [labels])`,
 * `gauge(...)`, `histogram(name, help, buckets, [labels])` helpers and `collectedGauge(...)` of
 * apps/cloud-hub/src). Used for the label check of a family that has no sample yet (prom-client prints
 * only # HELP and # TYPE for a labelled counter without children), and cross-checked against the
 * sampled labels of every family that has samples.
 */
export function declaredLabels(srcDir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts')) files.push(p);
    }
  };
  walk(srcDir);
  const labelsArgIndex: Record<string, number> = { counter: 2, gauge: 2, collectedGauge: 2, histogram: 3 };
  for (const file of files) {
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/\b(counter|gauge|histogram|collectedGauge)\(\s*'(nowconnect_[a-z0-9_]+)'/g)) {
      const args = callArgs(src, m.index! + m[1]!.length);
      const idx = labelsArgIndex[m[1]!]!;
      const arg = args[idx]?.trim();
      const labels = arg === undefined || arg === '' ? [] : [...arg.matchAll(/'([a-zA-Z_][a-zA-Z0-9_]*)'/g)].map((x) => x[1]!);
      if (arg !== undefined && arg !== '' && !arg.startsWith('[')) throw new Error(`${file}: labels of ${m[2]} are not a literal array: ${arg}`);
      out.set(m[2]!, labels);
    }
  }
  return out;
}

/** Top-level arguments of the call whose `(` is at `open` (quotes and nesting respected). */
function callArgs(src: string, open: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let cur = '';
  for (let i = open; i < src.length; i++) {
    const c = src[i]!;
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      cur += src.slice(i, j + 1);
      i = j;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') {
      depth++;
      if (depth === 1) continue;
    } else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) {
        if (cur.trim() !== '') args.push(cur);
        return args;
      }
    } else if (c === ',' && depth === 1) {
      args.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  throw new Error('unterminated call');
}

// ---- the check ------------------------------------------------------------------------------

/** Labels Prometheus attaches to every scraped series (scrape target), allowed in any expression. */
export const TARGET_LABELS: ReadonlySet<string> = new Set(['job', 'instance']);

export interface CoverageInput {
  /** Where the expression comes from (rule name, dashboard/panel), for the report. */
  readonly where: string;
  readonly expr: string;
  /** Extra label names used on the expression's metrics (e.g. a Grafana label_values() label). */
  readonly extraLabels?: readonly string[];
}

export interface CoverageResult {
  /** Metric names no scrape exports, with where they are used. */
  readonly missingMetrics: string[];
  /** Label names used with a metric that does not carry them. */
  readonly badLabels: string[];
  /** Metric names checked (exported), and those skipped by the allow-list. */
  readonly checked: Set<string>;
  readonly allowed: Set<string>;
  /** Families whose labels were checked from the source declaration (no sample in the scrape). */
  readonly labelsFromSource: Set<string>;
}

/**
 * Every metric named in `inputs` must be exported (a # TYPE line of its family in one of the scrapes;
 * `_bucket`/`_sum`/`_count` of a histogram count as its family), unless allow-listed; every label
 * name used with it (matchers, and by/without of an aggregation over it) must be one of its labels,
 * a target label (job, instance), or `le` for a histogram's `_bucket`.
 */
export function checkCoverage(
  inputs: readonly CoverageInput[],
  fams: ReadonlyMap<string, Family>,
  declared: ReadonlyMap<string, readonly string[]>,
  allowList: ReadonlyMap<string, string>,
): CoverageResult {
  const missing = new Map<string, Set<string>>();
  const badLabels: string[] = [];
  const checked = new Set<string>();
  const allowed = new Set<string>();
  const labelsFromSource = new Set<string>();

  const labelsOf = (name: string): Set<string> | undefined => {
    const fam = familyOf(fams, name);
    if (fam === undefined) return undefined;
    const set = new Set<string>(TARGET_LABELS);
    if (fam.samples > 0) for (const l of fam.sampleLabels) set.add(l);
    else {
      labelsFromSource.add(fam.name);
      for (const l of declared.get(fam.name) ?? []) set.add(l);
    }
    if (name !== fam.name && name.endsWith('_bucket')) set.add('le');
    return set;
  };

  for (const input of inputs) {
    const refs = promqlRefs(input.expr);
    const names = new Set(refs.selectors.map((s) => s.name));
    for (const name of names) {
      if (allowList.has(name)) {
        allowed.add(name);
        continue;
      }
      if (familyOf(fams, name) === undefined) {
        const set = missing.get(name) ?? new Set();
        set.add(input.where);
        missing.set(name, set);
      } else {
        checked.add(name);
      }
    }
    const check = (metric: string, label: string, how: string): void => {
      if (allowList.has(metric)) return;
      const labels = labelsOf(metric);
      if (labels !== undefined && !labels.has(label)) {
        badLabels.push(`${input.where}: label "${label}" (${how}) is not a label of ${metric} (has: ${[...labels].sort().join(', ')})`);
      }
    };
    for (const s of refs.selectors) for (const l of s.labels) check(s.name, l, 'matcher');
    // An equality matcher on a literal value must name a value the hubs really export (when the
    // family has samples carrying that label): catches typos such as state="Up" or type="DATA".
    for (const s of refs.selectors) {
      const fam = allowList.has(s.name) ? undefined : familyOf(fams, s.name);
      for (const m of s.matchers ?? []) {
        const seen = fam?.sampleValues.get(m.label);
        if (m.op !== '=' || m.value.includes('$') || seen === undefined || seen.has(m.value)) continue;
        badLabels.push(`${input.where}: ${s.name}{${m.label}="${m.value}"} matches no exported value (seen: ${[...seen].sort().join(', ')})`);
      }
    }
    for (const g of refs.groupings) {
      for (const l of g.labels) for (const metric of g.metrics) check(metric, l, g.clause);
    }
    for (const l of [...refs.matchingLabels, ...(input.extraLabels ?? [])]) {
      const ok = [...names].some((n) => allowList.has(n) || labelsOf(n)?.has(l));
      if (!ok) badLabels.push(`${input.where}: label "${l}" is on none of ${[...names].join(', ')}`);
    }
  }
  return {
    missingMetrics: [...missing].map(([name, where]) => `${name} (used in ${[...where].join('; ')})`),
    badLabels,
    checked,
    allowed,
    labelsFromSource,
  };
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
export function githubSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Anchors of every markdown heading in a file (duplicate headings get -1, -2 as on GitHub). */
export function markdownAnchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) inFence = !inFence;
    if (inFence) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = githubSlug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}
