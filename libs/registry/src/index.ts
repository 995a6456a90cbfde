export { RegistryModule } from './registry.module';
export { RouterRegistry } from './router-registry';
export type { RoutableAgent } from './router-registry';
