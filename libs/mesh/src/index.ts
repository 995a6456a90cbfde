export {
  MeshModule,
  MeshCertReloader,
  MeshLinkFactory,
  MESH_CERT_RELOADER,
  MESH_LINK_FACTORY,
  MESH_PEER_SET_FACTORY,
} from './mesh.module';
export type {
  MeshModuleOptions,
  MeshModuleAsyncOptions,
  MeshLinkDefaults,
  MeshLinkContext,
  CertReloadHandlers,
  PeerSetFactory,
} from './mesh.module';
export type { MeshMetrics, MeshFrameDir, BackpressureReason, MeshLinkFailure } from './mesh-metrics';
export { NOOP_MESH_METRICS } from './mesh-metrics';
export { CidDedup } from './cid-dedup';
export type { CidDedupOptions } from './cid-dedup';
export { EpochFence } from './epoch-fence';
export type { EpochLookup } from './epoch-fence';
export { LinkState, LinkEvent, LINK_STATES, nextLinkState, MeshLinkState } from './link-state';
export type { LinkStateListener } from './link-state';
export { BreakerState, ReconnectPolicy } from './reconnect-policy';
export type { ReconnectPolicyOptions } from './reconnect-policy';
export { LinkWriteQueue } from './write-queue';
export type { FrameSink, LinkWriteQueueOptions } from './write-queue';
export { PeerSet, normalizeMeshUrl, preferredDialer, shouldDial, keepLink } from './peer-set';
export type { PeerTarget, PeerSetSelf } from './peer-set';
export { CertReloader, earliestNotAfter } from './cert-reloader';
export type { CertFilesConfig, CertReloaderOptions, TlsMaterial } from './cert-reloader';
export {
  verifyIngressClientCert,
  NGINX_VERIFY_HEADER,
  NGINX_SUBJECT_HEADER,
  NGINX_CERT_HEADER,
  ENVOY_XFCC_HEADER,
} from './ingress-client-cert';
export type { IngressCertConfig, IngressVerdict, IngressVia, IngressRefusal } from './ingress-client-cert';
export type { LinkRole, MeshChannel } from './mesh-channels';
export { MeshLink } from './mesh-link';
export type { MeshLinkOptions, MeshLinkHandler, MeshOpenRequest, OpenRefusal } from './mesh-link';
export type { LinkSocketOptions } from './link-socket';
export {
  MeshKeyPair,
  parseMeshKey,
  verifyMeshProof,
  helloTranscript,
  certReplicaNames,
  MESH_IDENTITY_CONTEXT,
  REPLICA_SAN_PREFIX,
} from './mesh-identity';
export type { MeshIdentity, PeerKeyLookup, IdentityRefusal } from './mesh-identity';
