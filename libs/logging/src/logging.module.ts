import { Module } from '@nestjs/common';

/** JSON-lines event log shared by both apps; each app provides its EventLog instance. */
@Module({})
export class LoggingModule {}
