/**
 * Bench hygiene (issue 16, item 6): `npm run bench -- --help` documents the flags and exits 0; a bad flag
 * exits 2; and when the reader of its stdout goes away (`npm run bench | head -1`) the bench stops at once,
 * kills every process it started (checked by pid) and removes its temporary directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AGENT_MAIN, HUB_MAIN, cleanupAll, makeTmpDir, requireBuilt } from './support';
import { pollUntil } from './support/http';
import { Proc } from './support/proc';

const ROOT = path.resolve(__dirname, '..');
const BENCH = path.join(ROOT, 'bench/run.js');

/** Still in the process table (a zombie counts: nobody reaped it). */
const exists = (pid: number): boolean => fs.existsSync(`/proc/${pid}`);

afterAll(async () => {
  await cleanupAll();
});

describe('npm run bench (bench/run.js)', () => {
  it('--help prints the usage with every flag and exits 0, starting nothing', async () => {
    const p = Proc.node(BENCH, ['--help'], { name: 'bench --help', cwd: ROOT });
    expect(await p.waitForExit(30_000)).toEqual({ code: 0, signal: null });
    const out = p.stdoutText();
    expect(out).toMatch(/^Usage: npm run bench -- \[options\]/);
    for (const f of ['--quick', '--only', '--workloads', '--flows', '--agents', '--window', '--bulk-mb', '--dist', '--out', '--cpu-prof', '--help']) expect([f, out.includes(f)]).toEqual([f, true]);
    expect(p.stderrText()).toBe('');
  });

  it('an unknown flag or value exits 2 naming it', async () => {
    const bad = Proc.node(BENCH, ['--fast'], { name: 'bench --fast', cwd: ROOT });
    expect((await bad.waitForExit(30_000)).code).toBe(2);
    expect(bad.stderrText()).toContain("Unknown option '--fast'");
    const only = Proc.node(BENCH, ['--only', 'tunel'], { name: 'bench --only tunel', cwd: ROOT });
    expect((await only.waitForExit(30_000)).code).toBe(2);
    expect(only.stderrText()).toContain('--only: unknown tunel');
    const mb = Proc.node(BENCH, ['--bulk-mb', '0'], { name: 'bench --bulk-mb 0', cwd: ROOT });
    expect((await mb.waitForExit(30_000)).code).toBe(2);
    expect(mb.stderrText()).toContain('--bulk-mb: expected an integer from 1 to 100000');
  });

  it('piped into a reader that closes early: stops, kills its processes and removes its temporary directory', async () => {
    requireBuilt(HUB_MAIN);
    requireBuilt(AGENT_MAIN);
    const dir = makeTmpDir('nc-bench-pipe-');
    const errFile = path.join(dir, 'bench.err');
    // A real shell pipe: `head -1` takes the bench's header line and exits, closing the read end.
    const script = `"$0" bench/run.js --quick --only direct,tunnel --workloads rr,rate --out "$1" 2>"$2" | head -1`;
    const sh = new Proc('sh', ['-c', script, process.execPath, path.join(dir, 'out.json'), errFile], { name: 'bench | head -1', cwd: ROOT });
    // Backstop only: the bench notices within a second; the quick rr+rate run itself takes far longer.
    expect(await sh.waitForExit(120_000)).toEqual({ code: 0, signal: null });
    expect(sh.stdoutText()).toMatch(/^NowConnect bench \(quick\): variants direct,tunnel; workloads rr,rate$/);
    const err = fs.readFileSync(errFile, 'utf8');
    expect(err).toContain('[bench] stdout closed');
    expect(err).not.toContain('done in');
    const tmp = /\[bench\] temporary directory (\S+) \(pid (\d+)\)/.exec(err);
    expect(tmp).not.toBeNull();
    const children = [...err.matchAll(/\[bench\] started (\S+) \(pid (\d+)\)/g)].map((m) => [m[1]!, Number(m[2])] as const);
    expect(children.map(([name]) => name)).toContain('target');
    expect([tmp![1], fs.existsSync(tmp![1]!)]).toEqual([tmp![1], false]);
    expect(exists(Number(tmp![2]))).toBe(false);
    expect(children.filter(([, pid]) => exists(pid))).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'out.json'))).toBe(false);
  });
  it('the issue\'s case, `npm run bench | head -3` (head takes npm\'s banner and exits first): stops at its first write, nothing left', async () => {
    requireBuilt(HUB_MAIN);
    const dir = makeTmpDir('nc-bench-npm-');
    const errFile = path.join(dir, 'bench.err');
    const sh = new Proc('sh', ['-c', 'npm run bench -- --quick --out "$0" 2>"$1" | head -3', path.join(dir, 'out.json'), errFile], { name: 'npm run bench | head -3', cwd: ROOT });
    expect(await sh.waitForExit(120_000)).toEqual({ code: 0, signal: null });
    // npm's bench process runs on after head has gone; wait (bounded) for the bench to report, by its stderr.
    await pollUntil(async () => (fs.readFileSync(errFile, 'utf8').includes('[bench] stdout closed') ? true : undefined), { timeoutMs: 60_000, intervalMs: 100, what: () => fs.readFileSync(errFile, 'utf8') });
    const err = fs.readFileSync(errFile, 'utf8');
    const tmp = /\[bench\] temporary directory (\S+) \(pid (\d+)\)/.exec(err)!;
    await pollUntil(async () => (exists(Number(tmp[2])) ? undefined : true), { timeoutMs: 30_000, intervalMs: 50, what: () => `bench pid ${tmp[2]} to exit` });
    const children = [...err.matchAll(/\[bench\] started (\S+) \(pid (\d+)\)/g)].map((m) => [m[1]!, Number(m[2])] as const);
    expect(children.filter(([, pid]) => exists(pid))).toEqual([]);
    expect(fs.existsSync(tmp[1]!)).toBe(false);
    expect(err).not.toContain('done in');
  });

  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('%s while a hub is up: exits %d, kills its processes, removes its temporary directory', async (sig, code) => {
    requireBuilt(HUB_MAIN);
    const dir = makeTmpDir('nc-bench-sig-');
    const bench = Proc.node(BENCH, ['--quick', '--only', 'tunnel', '--workloads', 'rr', '--out', path.join(dir, 'out.json')], { name: `bench (${sig})`, cwd: ROOT });
    await bench.waitForLine(/\[bench\] started hub-\S+ \(pid \d+\)/, 60_000);
    bench.signal(sig);
    expect(await bench.waitForExit(30_000)).toEqual({ code, signal: null });
    const err = bench.stderrText();
    const tmp = /\[bench\] temporary directory (\S+) \(pid (\d+)\)/.exec(err);
    const children = [...err.matchAll(/\[bench\] started (\S+) \(pid (\d+)\)/g)].map((m) => [m[1]!, Number(m[2])] as const);
    expect(children.map(([name]) => name)).toEqual(expect.arrayContaining(['target', expect.stringMatching(/^hub-/)]));
    expect(children.filter(([, pid]) => exists(pid))).toEqual([]);
    expect(fs.existsSync(tmp![1]!)).toBe(false);
    expect(err).toContain(`(${sig}): stopped`);
  });
});
