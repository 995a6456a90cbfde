/**
 * Reliability, issue 6 items 1-2: the flow invariant checker proves it detects what it must (a
 * deliberately faulty proxy: corruption, duplication, reordering, silent truncation, resets, hangs,
 * refusals), then every chaos scenario of `npm run chaos` runs in a short bounded form against real
 * hubs, agents, redis-server and sockets on loopback. Each prints its outcome line; the test fails
 * on any corrupted or hung flow, or when the fault did not really happen or hit flows.
 */
import * as net from 'node:net';
import * as path from 'node:path';
import { cleanupAll, freePort, Proc, REPO_ROOT } from './support';
import { runFlow, Tally, type FlowOptions } from './chaos/invariant';
import { SCENARIOS } from './chaos/scenarios';
import { startFaultProxy, type FaultMode } from './chaos/support/fault-proxy';
import type { ScenarioOptions } from './chaos/support/scenario';
import { startVerifyingEcho, type VerifyingEcho } from './chaos/support/targets';

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await cleanupAll();
});

describe('the invariant checker (against a deliberately faulty proxy)', () => {
  let echo: VerifyingEcho;
  beforeAll(async () => {
    echo = await startVerifyingEcho();
    closers.push(() => echo.close());
  });

  async function through(mode: FaultMode, o: Partial<FlowOptions> = {}, afterBytes = 1000) {
    const proxy = await startFaultProxy(echo.port, mode, afterBytes);
    closers.push(() => proxy.close());
    return runFlow({ port: proxy.port, bytes: 256 * 1024, seed: 'self-test', deadlineMs: 10_000, ...o }, (t) => echo.seen.has(t));
  }

  it('a faithful path: completed_exact, and the target saw exactly the bytes sent', async () => {
    const t = new Tally();
    t.add(await through('pass'));
    t.add(await runFlow({ port: echo.port, bytes: 3000, rounds: 3, seed: 'self-test', deadlineMs: 10_000 }));
    await new Promise<void>((r) => setImmediate(r));
    expect(t.counts.completed_exact).toBe(2);
    expect(t.crossCheck(echo.records)).toBe(2);
    expect(t.counts.completed_exact).toBe(2);
  });

  it.each([
    ['corrupt', 'bytes_differ'],
    ['duplicate', 'bytes_differ'],
    ['reorder', 'bytes_differ'],
    ['truncate', 'truncated'],
  ] as const)('%s -> corrupted (%s)', async (mode, kind) => {
    const r = await through(mode);
    expect(r).toMatchObject({ outcome: 'corrupted', corrupt: kind });
    if (mode !== 'truncate') expect(r.badOffset).toBeGreaterThanOrEqual(1000);
    else expect(r.badOffset).toBe(1000);
  });

  it('duplicated bytes at the end of the stream -> corrupted (excess_bytes)', async () => {
    const r = await through('duplicate', { bytes: 1500 }, 1400);
    expect(r.outcome).toBe('corrupted');
    expect(['excess_bytes', 'bytes_differ']).toContain(r.corrupt);
  });

  it('a reset mid-stream -> reset, also when it arrives behind unread data (Node reports that as a clean end)', async () => {
    expect(await through('reset')).toMatchObject({ outcome: 'reset' });
    const hidden = await through('reset', { bytes: 4 * 1024 * 1024, pauseReadMs: 1500 }, 3 * 1024 * 1024);
    expect(hidden.outcome).toBe('reset');
  });

  it('a stream that stops without closing -> hung at the deadline', async () => {
    const r = await through('blackhole', { deadlineMs: 1500 });
    expect(r).toMatchObject({ outcome: 'hung', end: 'deadline' });
  });

  it('closed before any byte and never reached the target -> refused; a closed port -> refused', async () => {
    expect(await through('refuse')).toMatchObject({ outcome: 'refused', recvBytes: 0 });
    const port = await freePort();
    expect(await runFlow({ port, bytes: 100, seed: 's', deadlineMs: 5000 })).toMatchObject({ outcome: 'refused', end: 'connect:ECONNREFUSED' });
  });

  it('a clean FIN with zero bytes on a flow the target did see -> corrupted (truncated), not refused', async () => {
    // The target reads the tag, then the server side sends a FIN with nothing echoed.
    const seen = new Set<string>();
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      s.once('data', (d: Buffer) => {
        seen.add(d.subarray(0, 8).toString('hex'));
        s.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => server.close(() => r(undefined))));
    const r = await runFlow({ port: (server.address() as net.AddressInfo).port, bytes: 64, seed: 's', deadlineMs: 5000 }, (t) => seen.has(t));
    expect(r).toMatchObject({ outcome: 'corrupted', corrupt: 'truncated', recvBytes: 0 });
  });

  it('the target received other bytes than were sent -> corrupted (target_mismatch)', async () => {
    const t = new Tally();
    const r = await runFlow({ port: echo.port, bytes: 500, seed: 'self-test', deadlineMs: 10_000 });
    t.add(r);
    expect(t.crossCheck(new Map([[r.tag, { bytes: 500, sha256: '0'.repeat(64) }]]))).toBe(1);
    expect(t.counts).toMatchObject({ completed_exact: 0, corrupted: 1 });
    expect(t.corruptKinds.target_mismatch).toBe(1);
  });
});

describe('chaos scenarios, short bounded forms (npm run chaos)', () => {
  const opts: ScenarioOptions = {
    flows: 40,
    durationMs: 30_000,
    concurrency: 6,
    flowDeadlineMs: 30_000,
    seed: `ci-${Date.now().toString(36)}`,
    note: () => undefined,
  };

  it.each(Object.keys(SCENARIOS))('%s: no corrupted or hung flow; the fault happened and hit flows', async (name) => {
    const r = await SCENARIOS[name]!(opts);
    process.stdout.write(`${r.line}\n`);
    for (const ex of r.tally.examples) process.stdout.write(`  bad flow: ${JSON.stringify(ex)}\n`);
    expect(r.tally.attempted).toBeGreaterThan(0);
    expect(r.tally.counts.corrupted).toBe(0);
    expect(r.tally.counts.hung).toBe(0);
    expect(r.checks).toEqual(Object.fromEntries(Object.keys(r.checks).map((k) => [k, true])));
  }, 240_000);
});

describe('CLIs: npm run chaos / npm run soak', () => {
  const run = async (entry: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> => {
    const p = new Proc(process.execPath, [path.join(REPO_ROOT, 'scripts', 'run-ts.js'), path.join(REPO_ROOT, entry), ...args], { cwd: REPO_ROOT, name: entry });
    const exit = await p.waitForExit(60_000);
    return { code: exit.code, out: p.stdoutText(), err: p.stderrText() };
  };

  it.each([
    ['test/chaos/main.ts', ['--flows', 'many'], /^chaos: --flows: expected a whole number/],
    ['test/chaos/main.ts', ['--scenario', 'nope'], /^chaos: --scenario: unknown scenario 'nope'/],
    ['test/soak/main.ts', ['--duration', '5x'], /^soak: --duration: expected a duration/],
    ['test/soak/main.ts', ['--bogus'], /^soak: unknown argument '--bogus'/],
  ])('%s %j: exit 2 with one line', async (entry, args, re) => {
    const r = await run(entry, args);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err.trim()).toMatch(re);
  }, 90_000);

  it.each(['test/chaos/main.ts', 'test/soak/main.ts'])('%s --help: usage on stdout, exit 0', async (entry) => {
    const r = await run(entry, ['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: npm run (chaos|soak) -- /);
  }, 90_000);
});
