/**
 * `npm start` (scripts/start-demo.js): the embedded demo starts a hub and an agent, prints how to try it,
 * and the printed commands work — an echo through the forwarded port and the hub's /healthz through the
 * tunnel. Ctrl-C (SIGINT) stops the demo and every child it started, checked by pid.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AGENT_MAIN, HUB_MAIN, cleanupAll, connectTcp, freePorts, makeTmpDir, readUntilClose, requireBuilt } from './support';
import { Proc } from './support/proc';

const ROOT = path.resolve(__dirname, '..');

/** Alive = signal 0 succeeds and /proc does not show a zombie (an orphan not reaped yet is gone for us). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const started: number[] = [];

afterAll(async () => {
  // Backstop only: a child the demo failed to stop is killed by pid so it cannot outlive the run.
  for (const pid of started) {
    if (!alive(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await cleanupAll();
});

describe('npm start (scripts/start-demo.js)', () => {
  it('starts a hub and an agent, echoes through the printed port, and SIGINT stops the demo and all its children', async () => {
    requireBuilt(HUB_MAIN);
    requireBuilt(AGENT_MAIN);
    const [hubPort, httpPort, echoPort] = (await freePorts(3)) as [number, number, number];
    const runDir = makeTmpDir('nc-start-demo-');
    const demo = Proc.node(path.join(ROOT, 'scripts/start-demo.js'), [], {
      name: 'start-demo',
      cwd: ROOT,
      env: { NC_DEMO_HUB_PORT: String(hubPort), NC_DEMO_HTTP_PORT: String(httpPort), NC_DEMO_ECHO_PORT: String(echoPort), NC_DEMO_RUN_DIR: runDir },
    });
    const ready = await demo.waitForLine('[demo] Ctrl-C stops everything.', 90_000);
    expect(ready).toBe('[demo] Ctrl-C stops everything.');

    // The pids the demo printed for its children.
    const pids = demo
      .stdoutLines()
      .map((l) => /^\[demo\] (hub|agent) started \(pid (\d+)\)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, Number(m[2])] as const);
    expect(pids.map(([name]) => name).sort()).toEqual(['agent', 'hub']);
    for (const [, pid] of pids) {
      started.push(pid);
      expect(alive(pid)).toBe(true);
    }

    // Use what it printed: the nc line names the echo port, the curl line the forwarded HTTP port.
    const out = demo.stdoutText();
    const printedEcho = Number(/echo hello \| nc -q1 127\.0\.0\.1 (\d+)/.exec(out)?.[1]);
    const printedHttp = Number(/curl -s http:\/\/127\.0\.0\.1:(\d+)\/healthz/.exec(out)?.[1]);
    expect([printedEcho, printedHttp]).toEqual([echoPort, httpPort]);

    const s = await connectTcp(printedEcho);
    const closed = readUntilClose(s, 20_000);
    s.end('hello through the tunnel\n');
    expect((await closed).data.toString()).toBe('hello through the tunnel\n');

    const health = await fetch(`http://127.0.0.1:${printedHttp}/healthz`, { signal: AbortSignal.timeout(20_000) });
    expect(health.status).toBe(200);

    // Ctrl-C: the demo stops its children and exits 0; no child pid is left.
    demo.signal('SIGINT');
    const exit = await demo.waitForExit(30_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(demo.stdoutLines()).toEqual(expect.arrayContaining(['[demo] stopping hub and agent ...']));
    expect(pids.map(([name, pid]) => [name, alive(pid)])).toEqual(pids.map(([name]) => [name, false]));
  });
});
