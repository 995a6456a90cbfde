import { Test } from '@nestjs/testing';
import type { INestApplication } from '@nestjs/common';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseCloudConfig } from '@nowconnect/ha-config';
import { EventLog } from '@nowconnect/logging';
import { TunnelAuthenticator } from './auth';
import { HubModule } from './hub.module';
import { HubState } from './health/hub-state';
import { HubWsAdapter } from './tunnel/hub-ws-adapter';
import { TunnelSessions } from './tunnel/tunnel-sessions';

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HubModule wiring', () => {
  let app: INestApplication;
  let port: number;
  const lines: string[] = [];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nc-hub-module-'));
    writeFileSync(join(dir, 'secret'), 'a-test-secret-that-is-long-enough-0123456789\n');
    const config = parseCloudConfig(
      { server: { bind: '127.0.0.1:0' }, auth: { hs256_secret_file: join(dir, 'secret') }, listeners: [] },
      {},
    );
    const log = new EventLog(new Writable({ write: (chunk: Buffer, _enc, cb) => (lines.push(...chunk.toString().split('\n').filter(Boolean)), cb()) }));
    const moduleRef = await Test.createTestingModule({
      imports: [HubModule.forRoot(config, await TunnelAuthenticator.fromConfig(config.auth), log)],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    const sessions = app.get(TunnelSessions);
    app.useWebSocketAdapter(new HubWsAdapter(app, { maxPayload: 1 << 20, verify: (_p, req) => sessions.verifyUpgrade(req) }));
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    await app.close();
  });

  it('serves /healthz', async () => {
    const res = await get(port, '/healthz');
    expect(res).toEqual({ status: 200, body: '{"status":"ok"}' });
  });

  it('/readyz is 503 not_ready until started, then 200 ready, then 503 while draining', async () => {
    const state = app.get(HubState);
    state.phase = 'starting';
    let res = await get(port, '/readyz');
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body).status).toBe('not_ready');
    state.phase = 'ready';
    res = await get(port, '/readyz');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ status: 'ready', details: { hub: { status: 'up', phase: 'ready', agents: 0 } } });
    state.phase = 'draining';
    res = await get(port, '/readyz');
    expect(res.status).toBe(503);
  });

  it('exposes the SPEC metrics on /metrics', async () => {
    const res = await get(port, '/metrics');
    expect(res.status).toBe(200);
    for (const name of ['nowconnect_agents_connected', 'nowconnect_fin_sent_total', 'nowconnect_rst_recv_total', 'nowconnect_tunnel_auth_failures_total']) {
      expect(res.body).toContain(`# TYPE ${name}`);
    }
  });

  it('refuses a /tunnel upgrade without a token with 401 and counts it', async () => {
    const res = await get(port, '/tunnel', { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' });
    expect(res.status).toBe(401);
    const metrics = await get(port, '/metrics');
    expect(metrics.body).toContain('nowconnect_tunnel_auth_failures_total{reason="missing_token"} 1');
    expect(lines.some((l) => JSON.parse(l).event === 'tunnel_auth_failed')).toBe(true);
  });
});
