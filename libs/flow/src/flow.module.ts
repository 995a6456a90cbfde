import { Module } from '@nestjs/common';

/** The flow data plane is plain classes created with `new` by the apps' singletons. */
@Module({})
export class FlowModule {}
