import { Injectable } from '@nestjs/common';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * One JSON object per line on stdout, `event` naming what happened (SPEC §8).
 * Callers pass fields only: never tokens, secrets or payload bytes.
 */
@Injectable()
export class EventLog {
  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  info(event: string, fields: Record<string, unknown> = {}): void {
    this.write('info', event, fields);
  }

  warn(event: string, fields: Record<string, unknown> = {}): void {
    this.write('warn', event, fields);
  }

  error(event: string, fields: Record<string, unknown> = {}): void {
    this.write('error', event, fields);
  }

  write(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    this.out.write(`${JSON.stringify({ ts: new Date().toISOString(), level, event, ...fields })}\n`);
  }
}
