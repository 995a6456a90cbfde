import { Module } from '@nestjs/common';

/**
 * Kept as a marker (issue 17): the codec is pure functions with no state or I/O, so it provides nothing;
 * apps import it only to declare the dependency the Nest way. Code uses the functions directly.
 */
@Module({})
export class FramesModule {}
