import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import type { CloudConfig, PremiseConfig } from './config.types';
import { parseCloudConfig } from './cloud-config';
import { CLOUD_CONFIG, HaConfigModule, PREMISE_CONFIG } from './ha-config.module';
import { parsePremiseConfig } from './premise-config';

@Injectable()
class NeedsCloudConfig {
  constructor(@Inject(CLOUD_CONFIG) readonly config: CloudConfig) {}
}

describe('HaConfigModule', () => {
  it('forCloud provides CLOUD_CONFIG and ConfigService, globally', async () => {
    const config = parseCloudConfig({ auth: { hs256_secret_file: 's' }, server: { bind: '127.0.0.1:0' } }, {});
    const moduleRef = await Test.createTestingModule({
      imports: [HaConfigModule.forCloud(config)],
      providers: [NeedsCloudConfig],
    }).compile();
    expect(moduleRef.get(CLOUD_CONFIG)).toBe(config);
    expect(moduleRef.get(NeedsCloudConfig).config).toBe(config);
    const configService = moduleRef.get(ConfigService);
    expect(configService.get('server')).toEqual(config.server);
    expect(configService.get<number>('server.bind.port')).toBe(0);
    expect(configService.get('ha.replicaId')).toBe('hub-a');
    await moduleRef.close();
  });

  it('ConfigService<CloudConfig, true> answers typed sections from the parsed config, never from process.env', async () => {
    const config = parseCloudConfig({ auth: { hs256_secret_file: 's' }, server: { bind: '127.0.0.1:0' }, ha: { enabled: true, mode: 'shadow' } }, {});
    process.env.ha = 'from-env';
    try {
      const moduleRef = await Test.createTestingModule({ imports: [HaConfigModule.forCloud(config)] }).compile();
      const cs = moduleRef.get<ConfigService<CloudConfig, true>>(ConfigService);
      const ha = cs.get('ha', { infer: true });
      expect(ha).toEqual(config.ha);
      expect(ha.mode).toBe('shadow');
      expect(cs.get('ha.leaseSec', { infer: true })).toBe(config.ha.leaseSec);
      await moduleRef.close();
    } finally {
      delete process.env.ha;
    }
  });

  it('forPremise provides PREMISE_CONFIG', async () => {
    const config: PremiseConfig = parsePremiseConfig({}, { NC_CLOUD_URL: 'ws://h/tunnel', NC_AGENT_ID: 'a', NC_TOKEN: 't', NC_CONNECTORS: 'c=h:1' });
    const moduleRef = await Test.createTestingModule({ imports: [HaConfigModule.forPremise(config)] }).compile();
    expect(moduleRef.get(PREMISE_CONFIG)).toBe(config);
    expect(moduleRef.get(ConfigService).get('agentId')).toBe('a');
    await moduleRef.close();
  });
});
