import { Module } from '@nestjs/common';

/**
 * The codec is pure functions; this module exists so apps can declare the
 * dependency the Nest way. It provides nothing stateful.
 */
@Module({})
export class FramesModule {}
