/**
 * Checks that the runbooks (docs/runbooks/*.md) only name things that exist:
 * - metric names `nowconnect_*` (anywhere, code blocks too) are declared in the hub or libs source
 *   (`counter('nowconnect_...'`, `gauge(`, `collectedGauge(`, `histogram(`, `name: 'nowconnect_...'`); `_bucket`, `_sum`,
 *   `_count` of a declared histogram are accepted;
 * - log events: `"event":"x"` (as in a grep of the JSON logs), and an inline code span right after the
 *   words log / logs / event / events / logged as (`log \`cidr_blocked\``), must be an event the source
 *   emits (`log.info('x'`, `.warn(`, `.error(`, `.write('info', 'x'`);
 * - every other inline code span that is one snake_case word (`queue_full`, `token_file`) must occur in
 *   the product source (event, reason, label value, config key...), so an invented name fails too;
 * - config keys written `section.key[.key]` (`ha.mesh.send_queue_depth`, `limits.flow_window_bytes`,
 *   `listeners[].allow_cidrs`) inside inline code or code blocks are keys the real config parser
 *   (libs/ha-config `parseCloudConfig`, which rejects unknown keys) accepts;
 * - `NC_*` environment variables occur in the source (or the compose files and scripts that define them);
 * - relative links resolve: the file exists and, for a `.md#anchor`, the anchor is a heading there.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, parseCloudConfig } from '@nowconnect/ha-config';
import { markdownAnchors } from './observability-coverage';

export interface SourceVocabulary {
  /** Declared metric names. */
  metrics: Set<string>;
  /** Declared histogram names (their _bucket/_sum/_count series exist too). */
  histograms: Set<string>;
  /** Log event names the code emits. */
  events: Set<string>;
  /** Every snake_case word of the source text. */
  words: Set<string>;
  /** Every NC_* name of the source text. */
  envVars: Set<string>;
}

export interface DocFile {
  /** Absolute path. */
  file: string;
  text: string;
}

export interface CheckOptions {
  /** Metric names that are not ours (blackbox exporter, Prometheus itself), with the reason. */
  foreignMetrics: ReadonlyMap<string, string>;
  /** Snake_case words that are not ours (PromQL functions, other tools' names), with the reason. */
  foreignWords: ReadonlyMap<string, string>;
  /** Reads a link target; undefined when it does not exist. */
  readTarget: (absPath: string) => string | undefined;
  /** Check only the relative links whose target matches (and nothing else): for docs outside docs/runbooks. */
  linksOnly?: RegExp;
}

const SNAKE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$/;
const SNAKE_G = /\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b/g;
const METRIC_G = /\bnowconnect_[a-z0-9_]*[a-z0-9]/g;
const CONFIG_KEY_G = /(?<![\w./-])(server|auth|listeners(?:\[\d*\])?|limits|logging|ha)((?:\.[a-z][a-z0-9_]*)+)(?![\w-]|\.[a-z])/g;

export function listSourceFiles(roots: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(p);
      } else if (/\.ts$/.test(e.name) && !/\.(spec|test-util)\.ts$/.test(e.name)) {
        out.push(p);
      }
    }
  };
  for (const r of roots) walk(r);
  return out.sort();
}

/** What the product source declares, read from its text (spec files excluded). */
export function sourceVocabulary(texts: readonly string[]): SourceVocabulary {
  const v: SourceVocabulary = { metrics: new Set(), histograms: new Set(), events: new Set(), words: new Set(), envVars: new Set() };
  for (const t of texts) {
    for (const m of t.matchAll(/\b\w*?(counter|gauge|histogram|summary)\(\s*['"](nowconnect_[a-z0-9_]+)['"]/gi)) {
      v.metrics.add(m[2]!);
      if (m[1]!.toLowerCase() === 'histogram') v.histograms.add(m[2]!);
    }
    for (const m of t.matchAll(/\bnew\s+(Counter|Gauge|Histogram|Summary)\(\s*\{\s*name:\s*['"](nowconnect_[a-z0-9_]+)['"]/g)) {
      v.metrics.add(m[2]!);
      if (m[1] === 'Histogram') v.histograms.add(m[2]!);
    }
    for (const m of t.matchAll(/\.(?:info|warn|error|debug)\(\s*['"]([a-z][a-z0-9_]*)['"]/g)) v.events.add(m[1]!);
    for (const m of t.matchAll(/\.write\(\s*['"](?:info|warn|error|debug)['"],\s*['"]([a-z][a-z0-9_]*)['"]/g)) v.events.add(m[1]!);
    for (const m of t.matchAll(SNAKE_G)) v.words.add(m[0]);
    for (const m of t.matchAll(/\bNC_[A-Z0-9_]+\b/g)) v.envVars.add(m[0]);
  }
  return v;
}

/** NC_* names defined outside the TypeScript source (compose files, scripts) count as known env vars too. */
export function addEnvVars(v: SourceVocabulary, texts: readonly string[]): void {
  for (const t of texts) for (const m of t.matchAll(/\bNC_[A-Z0-9_]+\b/g)) v.envVars.add(m[0]);
}

/** A cloud.yaml the parser accepts; a key under test is injected into it with a null value. */
function baseConfig(): Record<string, unknown> {
  return {
    auth: { audience: 'nowconnect', hs256_secret_file: '/run/secrets/nc-jwt' },
    listeners: [{ name: 'l1', bind: '127.0.0.1:0', connector: 'c1' }],
  };
}

/**
 * undefined when the real parser knows `key` (`ha.mesh.send_queue_depth`, `listeners[].bind`), else why
 * not. The key is set to null (which the parser treats as absent for its value) so that only the key
 * names are judged: a ConfigError `unknown key` at the key or one of its parents means it is unknown.
 */
export function configKeyProblem(key: string): string | undefined {
  const parts = key.replace(/^listeners(\[\d*\])?/, 'listeners').split('.');
  const raw = baseConfig();
  let node: Record<string, unknown> = raw;
  for (let i = 0; i < parts.length; i++) {
    const k = parts[i]!;
    const last = i === parts.length - 1;
    if (i === 0 && k === 'listeners') {
      if (last) return undefined;
      node = (raw.listeners as Record<string, unknown>[])[0]!;
      continue;
    }
    if (last) {
      node[k] = null;
    } else {
      const next = node[k] !== undefined && node[k] !== null && typeof node[k] === 'object' ? (node[k] as Record<string, unknown>) : {};
      node[k] = next;
      node = next;
    }
  }
  try {
    parseCloudConfig(raw, {});
    return undefined;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (err.detail === 'unknown key') return `config key ${key} is unknown to the config parser (${err.message})`;
    return undefined; // another complaint (a required sibling): the key names themselves passed
  }
}

interface Span {
  text: string;
  line: number;
  /** Up to 40 characters of the line before the span. */
  before: string;
}

/** Inline code spans outside fenced blocks, and the fenced blocks' lines. */
function scan(markdown: string): { spans: Span[]; fenced: { text: string; line: number }[]; prose: { text: string; line: number }[] } {
  const spans: Span[] = [];
  const fenced: { text: string; line: number }[] = [];
  const prose: { text: string; line: number }[] = [];
  let inFence = false;
  markdown.split('\n').forEach((l, i) => {
    const line = i + 1;
    if (/^\s*```/.test(l)) {
      inFence = !inFence;
      return;
    }
    if (inFence) {
      fenced.push({ text: l, line });
      return;
    }
    prose.push({ text: l, line });
    for (const m of l.matchAll(/`([^`]+)`/g)) {
      spans.push({ text: m[1]!, line, before: l.slice(Math.max(0, m.index! - 40), m.index!) });
    }
  });
  return { spans, fenced, prose };
}

function metricKnown(name: string, v: SourceVocabulary): boolean {
  if (v.metrics.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m !== null && v.histograms.has(m[1]!);
}

/** Every problem found in the docs, as `file:line: what`. Empty = all good. */
export function checkRunbooks(docs: readonly DocFile[], v: SourceVocabulary, opts: CheckOptions): string[] {
  const problems: string[] = [];
  for (const doc of docs) {
    const where = (line: number): string => `${path.basename(doc.file)}:${line}`;
    const { spans, fenced, prose } = scan(doc.text);
    if (opts.linksOnly !== undefined) {
      problems.push(...linkProblems(doc, prose, opts).map((p) => `${where(p.line)}: ${p.problem}`));
      continue;
    }
    const allLines = [...prose, ...fenced];

    for (const { text, line } of allLines) {
      for (const m of text.matchAll(METRIC_G)) {
        if (!metricKnown(m[0], v) && !opts.foreignMetrics.has(m[0])) problems.push(`${where(line)}: metric ${m[0]} is not declared in the source`);
      }
      for (const m of text.matchAll(/"event"\s*:\s*"([a-z][a-z0-9_]*)"/g)) {
        if (!v.events.has(m[1]!)) problems.push(`${where(line)}: log event ${m[1]} is not emitted by the source`);
      }
      for (const m of text.matchAll(/\bNC_[A-Z0-9_]+\b/g)) {
        if (!v.envVars.has(m[0])) problems.push(`${where(line)}: env var ${m[0]} does not occur in the source`);
      }
    }

    const keyTexts = [...spans.map((s) => ({ text: s.text, line: s.line })), ...fenced];
    for (const { text, line } of keyTexts) {
      for (const m of text.matchAll(CONFIG_KEY_G)) {
        const problem = configKeyProblem(m[1]! + m[2]!);
        if (problem) problems.push(`${where(line)}: ${problem}`);
      }
    }
    // Keys in YAML blocks: every mapping key path of a block whose top level is a cloud.yaml section.
    for (const key of yamlBlockKeys(doc.text)) {
      const problem = configKeyProblem(key.key);
      if (problem) problems.push(`${where(key.line)}: ${problem}`);
    }

    for (const s of spans) {
      const t = s.text.trim();
      if (/\b(?:logs?|events?|logged as)\b:?\s*$/i.test(s.before) && SNAKE.test(t) && !v.events.has(t)) {
        problems.push(`${where(s.line)}: \`${t}\` is written as a log event but the source emits no such event`);
        continue;
      }
      if (SNAKE.test(t) && !t.startsWith('nowconnect_') && !v.words.has(t) && !v.events.has(t) && !opts.foreignWords.has(t)) {
        problems.push(`${where(s.line)}: \`${t}\` does not occur in the product source (event, reason, label value or key)`);
      }
    }

    problems.push(...linkProblems(doc, prose, opts).map((p) => `${where(p.line)}: ${p.problem}`));
  }
  return problems;
}

function linkProblems(doc: DocFile, prose: { text: string; line: number }[], opts: CheckOptions): { line: number; problem: string }[] {
  const out: { line: number; problem: string }[] = [];
  for (const { text, line } of prose) {
    const bare = text.replace(/`[^`]*`/g, '``');
    for (const m of bare.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (opts.linksOnly !== undefined && !opts.linksOnly.test(m[1]!)) continue;
      const problem = linkProblem(doc, m[1]!, opts);
      if (problem) out.push({ line, problem });
    }
  }
  return out;
}

function linkProblem(doc: DocFile, target: string, opts: CheckOptions): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined; // http:, https:, mailto:
  const fromFile = doc.file;
  const hash = target.indexOf('#');
  const filePart = hash >= 0 ? target.slice(0, hash) : target;
  const anchor = hash >= 0 ? target.slice(hash + 1) : undefined;
  const abs = filePart === '' ? fromFile : path.resolve(path.dirname(fromFile), filePart);
  const text = abs === fromFile ? doc.text : opts.readTarget(abs);
  if (text === undefined) return `link ${target}: ${path.relative(path.dirname(fromFile), abs) || abs} does not exist`;
  if (anchor !== undefined && anchor !== '') {
    if (!abs.endsWith('.md')) return `link ${target}: anchor on a file that is not markdown`;
    if (!markdownAnchors(text).has(anchor)) return `link ${target}: #${anchor} is not a heading of ${path.basename(abs)}`;
  }
  return undefined;
}

/** Mapping key paths (`ha.mesh.send_queue_depth`) of ```yaml blocks that start at a cloud.yaml section. */
function yamlBlockKeys(markdown: string): { key: string; line: number }[] {
  const out: { key: string; line: number }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*```ya?ml\s*$/.test(lines[i]!)) continue;
    const stack: { indent: number; key: string }[] = [];
    let j = i + 1;
    let cloudYaml = false;
    for (; j < lines.length && !/^\s*```/.test(lines[j]!); j++) {
      const m = /^(\s*)([a-z][a-z0-9_]*):(\s|$)/.exec(lines[j]!);
      if (!m) continue;
      const indent = m[1]!.length;
      while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop();
      if (stack.length === 0) cloudYaml = ['server', 'auth', 'limits', 'logging', 'ha'].includes(m[2]!);
      stack.push({ indent, key: m[2]! });
      if (cloudYaml && stack.length > 1) out.push({ key: stack.map((s) => s.key).join('.'), line: j + 1 });
    }
    i = j;
  }
  return out;
}
