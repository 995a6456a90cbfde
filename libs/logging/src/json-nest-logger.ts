import type { LoggerService } from '@nestjs/common';
import type { EventLog, LogLevel } from './event-log';

/** Nest's own messages as JSON lines (`event: "nest"`), so stdout stays one JSON object per line. */
export class JsonNestLogger implements LoggerService {
  constructor(
    private readonly events: EventLog,
    private readonly chatty = false,
  ) {}

  log(message: unknown, context?: unknown): void {
    if (this.chatty) this.emit('info', message, context);
  }

  error(message: unknown, _trace?: unknown, context?: unknown): void {
    this.emit('error', message, context);
  }

  warn(message: unknown, context?: unknown): void {
    this.emit('warn', message, context);
  }

  debug(): void {}

  verbose(): void {}

  private emit(level: LogLevel, message: unknown, context: unknown): void {
    const msg = message instanceof Error ? message.message : String(message);
    this.events.write(level, 'nest', { context: typeof context === 'string' ? context : undefined, message: msg });
  }
}
