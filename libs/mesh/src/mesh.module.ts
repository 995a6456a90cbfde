import { Module } from '@nestjs/common';

/**
 * The mesh data plane is plain classes (MeshLink, LinkWriteQueue, PeerSet,
 * CertReloader, ...) created with `new` by the hub's singletons; this module
 * lets apps declare the dependency the Nest way. It provides nothing stateful.
 */
@Module({})
export class MeshModule {}
