import { Test } from '@nestjs/testing';
import { createServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { parsePremiseConfig } from '@nowconnect/ha-config';
import { EventLog } from '@nowconnect/logging';
import { AgentModule } from './agent.module';
import { AgentRunner } from './tunnel/agent-runner';

async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('AgentModule wiring', () => {
  it('starts the runner on bootstrap, reports a refused hub, and stops cleanly', async () => {
    const port = await deadPort();
    const events: Record<string, unknown>[] = [];
    let onFailed: () => void = () => undefined;
    const failed = new Promise<void>((resolve) => (onFailed = resolve));
    const log = new EventLog(
      new Writable({
        write: (chunk: Buffer, _enc, cb) => {
          for (const line of chunk.toString().split('\n').filter(Boolean)) {
            const e = JSON.parse(line) as Record<string, unknown>;
            events.push(e);
            if (e.event === 'cloud_connect_failed') onFailed();
          }
          cb();
        },
      }),
    );
    const config = parsePremiseConfig({}, {
      NC_CLOUD_URL: `ws://127.0.0.1:${port}/tunnel`,
      NC_AGENT_ID: 'unit-agent',
      NC_TOKEN: 'not-a-real-token',
      NC_CONNECTORS: 'echo=127.0.0.1:7',
    });
    const moduleRef = await Test.createTestingModule({ imports: [AgentModule.forRoot(config, log)] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    await failed;
    await app.get(AgentRunner).stop();
    await app.close();
    expect(events[0]).toMatchObject({ event: 'connecting_to_cloud', url: `ws://127.0.0.1:${port}/tunnel`, agent_id: 'unit-agent', attempt: 1 });
    expect(events.find((e) => e.event === 'cloud_connect_failed')).toMatchObject({ reason: 'refused' });
    expect(JSON.stringify(events)).not.toContain('not-a-real-token');
  });
});
