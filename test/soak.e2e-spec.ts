/**
 * Reliability, issue 6 item 6: the soak in its CI form (60 s) — mixed traffic through two HA hubs
 * and an agent, a fault every 20 s (agent kill -9 + restart, redis kill -9 + restart), samples of
 * RSS, heap, open fds and event-loop lag every 3 s; no flow corrupted or hung and growth that levels
 * off (last third vs middle third, test/soak/verdict.ts). `npm run soak -- --duration 10m` is the long form.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cleanupAll, makeTmpDir } from './support';
import { writeReport } from './soak/report';
import { runSoak } from './soak/soak';

afterAll(async () => {
  await cleanupAll();
});

describe('soak (CI form: 60 s)', () => {
  it('mixed traffic with periodic faults: every flow exact, reset or refused; RSS, heap and fds level off', async () => {
    const r = await runSoak({
      durationMs: 60_000,
      sampleEveryMs: 3000,
      faultEveryMs: 20_000,
      concurrency: 6,
      seed: `ci-soak-${Date.now().toString(36)}`,
      note: () => undefined,
    });
    const dir = makeTmpDir('nc-soak-');
    const files = writeReport(dir, r);
    process.stdout.write(`${r.line}\n`);
    for (const v of r.verdicts) process.stdout.write(`  ${v.proc} ${v.metric}: middle ${v.middleMean.toFixed(1)} last ${v.lastMean.toFixed(1)} limit ${v.limit.toFixed(1)} ${v.ok ? 'ok' : 'GROWING'}\n`);
    for (const ex of r.tally.examples) process.stdout.write(`  bad flow: ${JSON.stringify(ex)}\n`);
    expect(fs.existsSync(files.md) && fs.existsSync(files.json)).toBe(true);
    expect(path.basename(files.md)).toBe('report.md');
    expect(r.tally.attempted).toBeGreaterThan(100);
    expect(r.tally.counts.corrupted).toBe(0);
    expect(r.tally.counts.hung).toBe(0);
    expect(r.faults.map((f) => f.kind)).toEqual(['agent_kill', 'redis_kill']);
    for (const f of r.faults) expect(f.backMs).toBeGreaterThanOrEqual(0);
    const hubSamples = r.samples.filter((s) => s.proc === 'hub_a');
    expect(hubSamples.length).toBeGreaterThanOrEqual(15);
    expect(hubSamples.every((s) => s.heapUsedMiB !== null && s.lagP99Ms !== null)).toBe(true);
    expect(r.verdicts.length).toBe(6);
    expect(r.verdicts.filter((v) => !v.ok)).toEqual([]);
    expect(r.pass).toBe(true);
  }, 240_000);
});
