import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import type { CloudConfig, PremiseConfig } from './config.types';

/** Injection tokens for the typed config: `@Inject(CLOUD_CONFIG) config: CloudConfig`. */
export const CLOUD_CONFIG = 'NOWCONNECT_CLOUD_CONFIG';
export const PREMISE_CONFIG = 'NOWCONNECT_PREMISE_CONFIG';

/**
 * Hands an already parsed config (see loadCloudConfig / loadPremiseConfig,
 * called before NestFactory.create) to Nest: as a typed value under
 * CLOUD_CONFIG / PREMISE_CONFIG, and through ConfigService for code that
 * prefers `config.get('server')` (typed: `ConfigService<CloudConfig, true>` and `get('ha', { infer: true })`,
 * as the hub's RegistryModule factory does). Nothing is parsed or validated here.
 */
@Module({})
export class HaConfigModule {
  static forCloud(config: CloudConfig): DynamicModule {
    return HaConfigModule.build(CLOUD_CONFIG, config);
  }

  static forPremise(config: PremiseConfig): DynamicModule {
    return HaConfigModule.build(PREMISE_CONFIG, config);
  }

  private static build(token: string, config: CloudConfig | PremiseConfig): DynamicModule {
    // skipProcessEnv: ConfigService answers from the parsed config only (env was read by the parser,
    // with its precedence rules); a stray `server` or `ha` variable cannot shadow a section.
    const configModule = ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, skipProcessEnv: true, load: [() => ({ ...config })] });
    return {
      module: HaConfigModule,
      global: true,
      imports: [configModule],
      providers: [{ provide: token, useValue: config }],
      exports: [token],
    };
  }
}
