import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ts from 'typescript';
import {
  GcHeadroomDeps,
  growingPercentFor,
  growingPercentSetByOperator,
  reserveGcHeadroom,
  SMALL_HEAP_BYTES,
  SMALL_HEAP_GROWING_PERCENT,
  SMALL_HEAP_RESUME_BYTES,
} from './gc-headroom';

const MiB = 1024 * 1024;

describe('growingPercentFor', () => {
  it('gives a small heap the large factor and a large heap back to V8, with hysteresis between', () => {
    expect(growingPercentFor(18 * MiB, 0)).toBe(SMALL_HEAP_GROWING_PERCENT);
    expect(growingPercentFor(SMALL_HEAP_BYTES + 1, SMALL_HEAP_GROWING_PERCENT)).toBe(0);
    // Between the two lines the factor in force stays.
    const between = (SMALL_HEAP_BYTES + SMALL_HEAP_RESUME_BYTES) / 2;
    expect(growingPercentFor(between, 0)).toBe(0);
    expect(growingPercentFor(between, SMALL_HEAP_GROWING_PERCENT)).toBe(SMALL_HEAP_GROWING_PERCENT);
    expect(growingPercentFor(SMALL_HEAP_RESUME_BYTES - 1, 0)).toBe(SMALL_HEAP_GROWING_PERCENT);
  });
});

describe('growingPercentSetByOperator', () => {
  it("sees the flag among node's arguments, in either spelling, and nothing else", () => {
    expect(growingPercentSetByOperator(['--heap-growing-percent=50'])).toBe(true);
    expect(growingPercentSetByOperator(['--max-old-space-size=512', '--heap_growing_percent=20'])).toBe(true);
    expect(growingPercentSetByOperator(['--heap-growing-percent'])).toBe(true);
    expect(growingPercentSetByOperator(['--max-semi-space-size=4', '--trace-gc'])).toBe(false);
    expect(growingPercentSetByOperator([])).toBe(false);
  });
});

describe('reserveGcHeadroom (fake heap)', () => {
  afterEach(() => jest.useRealTimers());

  it('sets the factor at once, follows the heap size, sets only changes, and gives V8 its default back on stop', () => {
    jest.useFakeTimers();
    let used = 10 * MiB;
    const set: number[] = [];
    const deps: GcHeadroomDeps = { usedHeapBytes: () => used, setGrowingPercent: (p) => set.push(p) };
    const stop = reserveGcHeadroom(deps, 1000);
    expect(set).toEqual([SMALL_HEAP_GROWING_PERCENT]);
    jest.advanceTimersByTime(1000);
    expect(set).toEqual([SMALL_HEAP_GROWING_PERCENT]); // unchanged: not set again
    used = 80 * MiB;
    jest.advanceTimersByTime(1000);
    expect(set).toEqual([SMALL_HEAP_GROWING_PERCENT, 0]);
    used = 56 * MiB; // between the lines: stays with V8
    jest.advanceTimersByTime(1000);
    expect(set).toEqual([SMALL_HEAP_GROWING_PERCENT, 0]);
    used = 20 * MiB;
    jest.advanceTimersByTime(1000);
    expect(set).toEqual([SMALL_HEAP_GROWING_PERCENT, 0, SMALL_HEAP_GROWING_PERCENT]);
    stop();
    expect(set).toEqual([SMALL_HEAP_GROWING_PERCENT, 0, SMALL_HEAP_GROWING_PERCENT, 0]);
    jest.advanceTimersByTime(5000);
    expect(set).toHaveLength(4); // no checks after stop
  });
});

/**
 * The real V8 of this Node: a child process with a ~30 MiB live heap reads 2 GiB "from sockets"
 * (64 KiB buffers dropped at once, 64 per event-loop turn, as a relay's reads are) and counts the
 * full GCs that start during that churn. First with the heap's growth factor forced to 1.1 (the
 * limit V8 gives a small heap when it judges GC cheap: the storm the bench saw), then the same
 * start with reserveGcHeadroom() called before the churn.
 */
describe('reserveGcHeadroom (real V8, child process)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nc-gc-headroom-'));
    const source = readFileSync(join(__dirname, 'gc-headroom.ts'), 'utf8');
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
    writeFileSync(join(dir, 'gc-headroom.js'), js);
    writeFileSync(join(dir, 'driver.js'), DRIVER);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function run(mode: 'tight' | 'headroom'): Promise<{ major: number; turns: number }> {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [join(dir, 'driver.js'), mode], { timeout: 60_000 }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`${err.message}\n${stderr}`));
        resolve(JSON.parse(stdout) as { major: number; turns: number });
      });
    });
  }

  it('a small heap under relay-like buffer churn: full GCs storm at factor 1.1, and stop with the headroom', async () => {
    const tight = await run('tight');
    const headroom = await run('headroom');
    expect(tight.turns).toBe(512);
    expect(headroom.turns).toBe(512);
    // The setup reproduces the storm (10-15 full GCs per 2 GiB here)...
    expect(tight.major).toBeGreaterThanOrEqual(5);
    // ...and the headroom stops it: at most the one full GC that recomputes the limit.
    expect(headroom.major).toBeLessThanOrEqual(2);
  }, 120_000);
});

const DRIVER = `
const { PerformanceObserver, constants, performance } = require('node:perf_hooks');
const v8 = require('node:v8');
const mode = process.argv[2];
v8.setFlagsFromString('--heap-growing-percent=10');
let churnStart = Infinity;
let major = 0;
const count = (entries) => {
  for (const e of entries) {
    if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR && e.startTime >= churnStart) major++;
  }
};
const observer = new PerformanceObserver((list) => count(list.getEntries()));
observer.observe({ entryTypes: ['gc'] });
const live = [];
globalThis.keepAlive = live;
for (let i = 0; i < 200000; i++) live.push({ i, s: 'k' + i, a: [i, i + 1] });
let stop = () => {};
if (mode === 'headroom') stop = require('./gc-headroom.js').reserveGcHeadroom();
let turns = 0;
let sink = 0;
function turn() {
  for (let j = 0; j < 64; j++) {
    const b = Buffer.allocUnsafe(65536);
    b[0] = j;
    sink += b[0];
  }
  if (++turns < 512) return setImmediate(turn);
  // gc entries are queued from an immediate after each GC: one more turn, then take what is left.
  setImmediate(() => {
    count(observer.takeRecords());
    observer.disconnect();
    stop();
    process.stdout.write(JSON.stringify({ major, turns, sink: sink > 0 }));
  });
}
setImmediate(() => {
  churnStart = performance.now();
  turn();
});
`;
