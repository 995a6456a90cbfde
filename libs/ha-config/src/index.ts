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
  MeshIngressConfig,
  HaConfig,
  CloudConfig,
  ConnectorConfig,
  HealthCheckConfig,
  HealthKind,
  TargetStrategy,
  TokenSource,
  PremiseConfig,
  AgentLimitsConfig,
} from './config.types';
export { ConfigError } from './config-error';
export { parseCloudConfig } from './cloud-config';
export { parsePremiseConfig } from './premise-config';
export { loadCloudConfig, loadPremiseConfig, readSecretFile, parseYaml } from './load';
export { configKindOf } from './keys/config-kind';
export { cloudConfigFiles, premiseConfigFiles, checkFilesReadable, type NamedFile } from './config-files';
export { exitOnConfigError, handleMainArgs } from './run-with-config';
export { parseCidr, cidrAllows } from './cidr';
export { formatHostPort } from './host-port';
export { HaConfigModule, CLOUD_CONFIG, PREMISE_CONFIG } from './ha-config.module';
