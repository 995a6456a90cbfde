import { Module } from '@nestjs/common';

/**
 * The local RouterRegistry is created per hub by the hub's module (it is
 * generic over the hub's session type). The distributed (Redis) registry of
 * the HA issue will be provided from here.
 */
@Module({})
export class RegistryModule {}
