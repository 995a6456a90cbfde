import { Counter, Registry } from 'prom-client';
import { HubMetrics } from './hub-metrics';

/** A HubMetrics with only the byte counter wired (the rest is unused by these tests). */
function hubMetricsWith(bytes: Counter<'direction' | 'connector'>): HubMetrics {
  const m = new HubMetrics();
  Object.assign(m, { tcpBytes: bytes, authExpired: { inc: () => undefined }, slowConsumers: { inc: () => undefined }, flowsTotal: { labels: () => ({ inc: () => undefined }) } });
  m.onModuleInit();
  return m;
}

async function valueOf(registry: Registry, direction: string, connector: string): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((x) => x.name === 'nowconnect_tcp_bytes_total') as { values: { value: number; labels: Record<string, string> }[] };
  return metric.values.find((v) => v.labels.direction === direction && v.labels.connector === connector)?.value;
}

describe('HubMetrics: nowconnect_tcp_bytes_total', () => {
  let registry: Registry;
  let bytes: Counter<'direction' | 'connector'>;

  beforeEach(() => {
    registry = new Registry();
    bytes = new Counter({ name: 'nowconnect_tcp_bytes_total', help: 'bytes', labelNames: ['direction', 'connector'], registers: [registry] });
  });

  it('adds the data path\'s byte counts to the counter when it is collected (every scrape), exactly', async () => {
    const m = hubMetricsWith(bytes);
    for (let i = 0; i < 1000; i++) m.flow.bytesOut('ldap', 65536);
    m.flow.bytesIn('ldap', 40);
    m.flow.bytesOut('pg', 7);
    expect(await valueOf(registry, 'c2a', 'ldap')).toBe(65536 * 1000);
    expect(await valueOf(registry, 'a2c', 'ldap')).toBe(40);
    expect(await valueOf(registry, 'c2a', 'pg')).toBe(7);
    m.flow.bytesIn('ldap', 2);
    expect(await valueOf(registry, 'a2c', 'ldap')).toBe(42);
    expect(await valueOf(registry, 'c2a', 'ldap')).toBe(65536 * 1000);
  });

  it('two hubs in one process share the counter: a scrape collects both; a destroyed one flushes and unhooks', async () => {
    const a = hubMetricsWith(bytes);
    const b = hubMetricsWith(bytes);
    a.flow.bytesOut('ldap', 100);
    b.flow.bytesOut('ldap', 5);
    expect(await valueOf(registry, 'c2a', 'ldap')).toBe(105);
    a.flow.bytesOut('ldap', 1);
    a.onModuleDestroy();
    expect(await valueOf(registry, 'c2a', 'ldap')).toBe(106);
    a.flow.bytesOut('ldap', 1000); // after destroy: no longer collected
    b.flow.bytesOut('ldap', 1);
    expect(await valueOf(registry, 'c2a', 'ldap')).toBe(107);
  });

  it('primeConnector shows both directions at 0 before any traffic', async () => {
    const m = hubMetricsWith(bytes);
    Object.assign(m, { tcpConnections: { labels: () => ({ inc: () => undefined }) }, tcpActive: { labels: () => ({ inc: () => undefined }) }, noAgent: { labels: () => ({ inc: () => undefined }) } });
    m.primeConnector('idle');
    expect(await valueOf(registry, 'c2a', 'idle')).toBe(0);
    expect(await valueOf(registry, 'a2c', 'idle')).toBe(0);
  });
});
