/**
 * Just enough PromQL to find which metrics and label names an expression uses, for the check that
 * every metric a rule or dashboard names is really exported by the hub (observability-coverage.ts).
 */

/** One vector selector: `name{label="v", ...}`; `labels` are the label names its matchers use. */
export interface SelectorRef {
  readonly name: string;
  readonly labels: readonly string[];
  /** The matchers themselves (label, operator, value as written). */
  readonly matchers?: ReadonlyArray<{ readonly label: string; readonly op: string; readonly value: string }>;
}

/** Label names of a `by`/`without` clause and the metric names inside the aggregation it applies to. */
export interface GroupingRef {
  readonly clause: string;
  readonly labels: readonly string[];
  readonly metrics: readonly string[];
}

export interface ExprRefs {
  readonly selectors: readonly SelectorRef[];
  readonly groupings: readonly GroupingRef[];
  /** Labels of on()/ignoring()/group_left()/group_right(): must exist on some metric of the expression. */
  readonly matchingLabels: readonly string[];
}

const AGGREGATORS = new Set([
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio',
]);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan', 'start', 'end']);
const GROUPING = new Set(['by', 'without']);
const MATCHING = new Set(['on', 'ignoring', 'group_left', 'group_right']);

type Tok = { kind: 'ident' | 'num' | 'str' | 'punct' | 'op'; text: string };

function tokenize(expr: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  let bracket = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '[') {
      bracket++;
      i++;
      continue;
    }
    if (c === ']') {
      bracket--;
      i++;
      continue;
    }
    if (bracket > 0) {
      // range / subquery durations, Grafana's $__rate_interval: not identifiers
      i++;
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < expr.length && expr[i] !== '\n') i++;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < expr.length && expr[j] !== c) j += expr[j] === '\\' && c !== '`' ? 2 : 1;
      if (j >= expr.length) throw new Error(`unterminated string in ${JSON.stringify(expr)}`);
      out.push({ kind: 'str', text: expr.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    const num = /^(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+)/.exec(expr.slice(i));
    if (num) {
      out.push({ kind: 'num', text: num[0] });
      i += num[0].length;
      continue;
    }
    const id = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i));
    if (id) {
      out.push({ kind: 'ident', text: id[0] });
      i += id[0].length;
      continue;
    }
    if ('(){},'.includes(c)) {
      out.push({ kind: 'punct', text: c });
      i++;
      continue;
    }
    const op = /^(?:==|!=|=~|!~|>=|<=|[-+*/%^<>=])/.exec(expr.slice(i));
    if (op) {
      out.push({ kind: 'op', text: op[0] });
      i += op[0].length;
      continue;
    }
    if (c === '$') throw new Error(`template variable outside a string or range in ${JSON.stringify(expr)}`);
    throw new Error(`unexpected character ${JSON.stringify(c)} in ${JSON.stringify(expr)}`);
  }
  if (bracket !== 0) throw new Error(`unbalanced [] in ${JSON.stringify(expr)}`);
  return out;
}

function labelList(toks: Tok[], i: number, expr: string): { labels: string[]; next: number } {
  if (toks[i]?.text !== '(') throw new Error(`expected ( after grouping keyword in ${JSON.stringify(expr)}`);
  const labels: string[] = [];
  let j = i + 1;
  while (j < toks.length && toks[j]!.text !== ')') {
    const t = toks[j]!;
    if (t.kind === 'ident') labels.push(t.text);
    else if (t.text !== ',') throw new Error(`unexpected ${t.text} in a label list of ${JSON.stringify(expr)}`);
    j++;
  }
  if (j >= toks.length) throw new Error(`unterminated label list in ${JSON.stringify(expr)}`);
  return { labels, next: j + 1 };
}

/** Metric names (selectors with their matcher labels) and label names of an expression. */
export function promqlRefs(expr: string): ExprRefs {
  const toks = tokenize(expr);
  const selectors: SelectorRef[] = [];
  const groupings: GroupingRef[] = [];
  const matchingLabels: string[] = [];
  // One frame per open parenthesis: the metric names seen inside it (propagated outwards on close).
  const frames: Array<{ metrics: string[]; grouping?: { clause: string; labels: string[] } }> = [{ metrics: [] }];
  let pendingGrouping: { clause: string; labels: string[] } | undefined;
  let lastClosed: string[] | undefined;
  let i = 0;
  while (i < toks.length) {
    const t = toks[i]!;
    const next = toks[i + 1];
    if (t.kind === 'punct' && t.text === '(') {
      frames.push({ metrics: [], ...(pendingGrouping ? { grouping: pendingGrouping } : {}) });
      pendingGrouping = undefined;
      i++;
      continue;
    }
    if (t.kind === 'punct' && t.text === ')') {
      const f = frames.pop();
      if (f === undefined || frames.length === 0) throw new Error(`unbalanced ) in ${JSON.stringify(expr)}`);
      if (f.grouping) groupings.push({ ...f.grouping, metrics: [...new Set(f.metrics)] });
      frames.at(-1)!.metrics.push(...f.metrics);
      lastClosed = f.metrics;
      i++;
      continue;
    }
    if (t.kind === 'punct' && t.text === '{') throw new Error(`selector without a metric name in ${JSON.stringify(expr)}`);
    if (t.kind !== 'ident') {
      if (t.kind !== 'punct' || t.text !== ',') lastClosed = undefined;
      i++;
      continue;
    }
    if (GROUPING.has(t.text)) {
      const { labels, next: after } = labelList(toks, i + 1, expr);
      if (toks[i - 1]?.text === ')' && lastClosed !== undefined) {
        // trailing form: sum(expr) by (labels)
        groupings.push({ clause: t.text, labels, metrics: [...new Set(lastClosed)] });
      } else {
        pendingGrouping = { clause: t.text, labels };
      }
      i = after;
      continue;
    }
    if (MATCHING.has(t.text)) {
      if (next?.text === '(') {
        const { labels, next: after } = labelList(toks, i + 1, expr);
        matchingLabels.push(...labels);
        i = after;
      } else {
        i++;
      }
      continue;
    }
    if (AGGREGATORS.has(t.text) || KEYWORDS.has(t.text) || next?.text === '(') {
      // a function or aggregation call, or an operator keyword
      i++;
      continue;
    }
    // a metric name
    const labels: string[] = [];
    const matchers: Array<{ label: string; op: string; value: string }> = [];
    let j = i + 1;
    if (toks[j]?.text === '{') {
      j++;
      while (j < toks.length && toks[j]!.text !== '}') {
        const name = toks[j];
        const op = toks[j + 1];
        const value = toks[j + 2];
        if (name?.kind !== 'ident' || op?.kind !== 'op' || value?.kind !== 'str') {
          throw new Error(`bad matcher near ${name?.text ?? 'end'} in ${JSON.stringify(expr)}`);
        }
        labels.push(name.text);
        matchers.push({ label: name.text, op: op.text, value: value.text });
        j += 3;
        if (toks[j]?.text === ',') j++;
      }
      if (j >= toks.length) throw new Error(`unterminated {} in ${JSON.stringify(expr)}`);
      j++;
    }
    selectors.push({ name: t.text, labels, ...(matchers.length > 0 ? { matchers } : {}) });
    frames.at(-1)!.metrics.push(t.text);
    lastClosed = undefined;
    i = j;
  }
  if (frames.length !== 1) throw new Error(`unbalanced ( in ${JSON.stringify(expr)}`);
  return { selectors, groupings, matchingLabels };
}

/** Grafana's `label_values(<selector>, <label>)` variable query as a PromQL expression plus the label it lists. */
export function grafanaVariableQuery(query: string): { expr: string; label?: string } {
  const m = /^\s*label_values\(\s*(.*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s.exec(query);
  if (m) return { expr: m[1]!, label: m[2]! };
  const q = /^\s*query_result\((.*)\)\s*$/s.exec(query);
  return { expr: q ? q[1]! : query };
}
