import { register } from 'prom-client';
import type { ConnectorHealth } from '@nowconnect/frames';
import { Test } from '@nestjs/testing';
import { HubMetrics } from '../metrics/hub-metrics';
import { HUB_METRIC_PROVIDERS } from '../metrics/hub-metric-providers';
import type { HubTunnelSession } from './hub-tunnel-session';
import { TargetUpGauge } from './target-up-gauge';

function session(reports: ConnectorHealth[]): HubTunnelSession {
  return { targetHealth: new Map(reports.map((r) => [r.name, r])) } as unknown as HubTunnelSession;
}

async function series(): Promise<string[]> {
  const m = await register.getSingleMetric('nowconnect_target_up')!.get();
  return m.values.map((v) => `${v.labels.connector} ${v.labels.target} ${v.value}`).sort();
}

describe('TargetUpGauge', () => {
  it('1 when any agent sees a target up, 0 when all reporting see it down, gone when nobody reports it', async () => {
    const ref = await Test.createTestingModule({ providers: [...HUB_METRIC_PROVIDERS, HubMetrics] }).compile();
    const gauge = new TargetUpGauge(ref.get(HubMetrics));
    const a = session([{ name: 'ad', targets: [{ target: 'dc1:389', up: false }, { target: 'dc2:389', up: true }], failures: {} }]);
    const b = session([{ name: 'ad', targets: [{ target: 'dc1:389', up: true }, { target: 'dc2:389', up: true }], failures: {} }]);
    gauge.update([a, b], ['ad']);
    expect(await series()).toEqual(['ad dc1:389 1', 'ad dc2:389 1']);
    gauge.update([a], ['ad']); // b left
    expect(await series()).toEqual(['ad dc1:389 0', 'ad dc2:389 1']);
    gauge.update([], ['ad']); // a left too
    expect(await series()).toEqual([]);
  });
});
