import { getHeapStatistics, setFlagsFromString } from 'node:v8';

/**
 * Old-generation headroom for a relay process (hub, agent).
 *
 * A relay reads about a gigabyte of socket data per gigabyte it carries, each read into a fresh
 * 64 KiB buffer that dies within microseconds. V8 counts those buffers as external memory, frees
 * them only at a young-generation GC (forced every ~32 MiB of such buffers), and adds the external
 * memory allocated since the last full GC to the old generation's size when it decides whether to
 * start one. With V8's own growth factor a small heap (the hub's is ~18 MiB) gets an old-generation
 * limit only 20-30 MiB above its live size: less than one young cycle of read buffers. Then every
 * cycle starts a full mark-compact that frees almost nothing (19.3 -> 18.8 MB) and recomputes the
 * same limit: 11-92 full GCs per 4 GiB relayed, in a third to a half of the bench runs, each 3-13 ms
 * on the main thread plus concurrent marking on the other core (docs/flow-control.md, "Full-GC storms").
 *
 * While the heap is small, the old generation is given V8's largest growth factor (4, the top of
 * the range V8 picks from itself): a ~18 MiB heap gets a ~90 MiB limit, and the read buffers no
 * longer reach it. Above `SMALL_HEAP_BYTES` V8's own heuristic is back in charge (a larger heap
 * gets the headroom by its size), so the most this adds is 4 x 64 MiB of old-generation limit.
 * `--heap-growing-percent` is read at each full GC, so setting it at run time takes effect at the
 * next one; 0 is V8's default (its own heuristic).
 */
export const SMALL_HEAP_GROWING_PERCENT = 300;
/** Heap size (used, all spaces) above which V8's own growth heuristic applies again. */
export const SMALL_HEAP_BYTES = 64 * 1024 * 1024;
/** Back to the small-heap factor below this (hysteresis, so a heap near the line does not flap). */
export const SMALL_HEAP_RESUME_BYTES = 48 * 1024 * 1024;
/** How often the heap size is checked. */
export const HEAP_CHECK_MS = 2000;

export interface GcHeadroomDeps {
  readonly usedHeapBytes: () => number;
  readonly setGrowingPercent: (percent: number) => void;
}

const V8_DEPS: GcHeadroomDeps = {
  usedHeapBytes: () => getHeapStatistics().used_heap_size,
  setGrowingPercent: (percent) => setFlagsFromString(`--heap-growing-percent=${percent}`),
};

/**
 * Decides the growth percent for a heap of `usedBytes`, given the one in force (`current`):
 * the small-heap factor below SMALL_HEAP_RESUME_BYTES, V8's own (0) above SMALL_HEAP_BYTES,
 * unchanged in between.
 */
export function growingPercentFor(usedBytes: number, current: number): number {
  if (usedBytes > SMALL_HEAP_BYTES) return 0;
  if (usedBytes < SMALL_HEAP_RESUME_BYTES) return SMALL_HEAP_GROWING_PERCENT;
  return current;
}

/**
 * True when the operator gave V8's growth factor on node's command line
 * (`node --heap-growing-percent=N dist/apps/cloud-hub/main.js`): theirs stands. (Node refuses
 * this flag in NODE_OPTIONS.)
 */
export function growingPercentSetByOperator(execArgv: readonly string[]): boolean {
  return execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg));
}

/**
 * Applies the small-heap growth factor now and re-checks the heap every HEAP_CHECK_MS (an
 * unref'd timer: it never keeps the process alive), unless the operator gave `--heap-growing-percent`
 * on node's command line. Returns a function that stops the checks
 * and gives the decision back to V8.
 */
export function reserveGcHeadroom(deps: GcHeadroomDeps = V8_DEPS, checkMs = HEAP_CHECK_MS): () => void {
  if (deps === V8_DEPS && growingPercentSetByOperator(process.execArgv)) return () => undefined;
  let current = 0; // V8's own heuristic until the first check
  const check = (): void => {
    const next = growingPercentFor(deps.usedHeapBytes(), current);
    if (next !== current) {
      deps.setGrowingPercent(next);
      current = next;
    }
  };
  check();
  const timer = setInterval(check, checkMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    if (current !== 0) deps.setGrowingPercent(0);
    current = 0;
  };
}
