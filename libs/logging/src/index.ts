export { LoggingModule } from './logging.module';
export { EventLog } from './event-log';
export type { LogLevel } from './event-log';
export { JsonNestLogger } from './json-nest-logger';
export { maskIp } from './mask-ip';
