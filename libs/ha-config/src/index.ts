export type {
  HostPort,
  TlsFiles,
  ServerConfig,
  AuthKeyConfig,
  AuthConfig,
  Cidr,
  ListenerConfig,
  LimitsConfig,
  LoggingConfig,
  HaMode,
  MeshTlsConfig,
  MeshConfig,
  HaConfig,
  CloudConfig,
  ConnectorConfig,
  HealthCheckConfig,
  HealthKind,
  TargetStrategy,
  TokenSource,
  PremiseConfig,
} from './config.types';
export { ConfigError } from './config-error';
export { parseCloudConfig } from './cloud-config';
export { parsePremiseConfig } from './premise-config';
export { loadCloudConfig, loadPremiseConfig, readSecretFile } from './load';
export { exitOnConfigError } from './run-with-config';
export { parseCidr, cidrAllows } from './cidr';
export { formatHostPort } from './host-port';
export { HaConfigModule, CLOUD_CONFIG, PREMISE_CONFIG } from './ha-config.module';
