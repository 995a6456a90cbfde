export { FramesModule } from './frames.module';
export {
  PROTOCOL_VERSION,
  HEADER_BYTES,
  DEFAULT_MAX_FRAME_BYTES,
  MAX_CONTROL_PAYLOAD_BYTES,
  PING_PAYLOAD_BYTES,
  MAX_CONNECTOR_NAME_BYTES,
  MESH_TYPE_FIRST,
  MESH_TYPE_LAST,
  FrameType,
  RstReason,
  frameTypeName,
} from './frame-types';
export type { Frame } from './frame';
export { FrameError, FrameErrorCode } from './frame-error';
export {
  writeHeader,
  encodeFrame,
  encodeData,
  encodeOpen,
  encodeOpenAck,
  encodeFin,
  encodeRst,
  encodeWindowUpdate,
  encodePing,
  encodeControl,
} from './encode';
export { decodeFrames, FrameDecoder, checkHeader } from './decode';
export { MessageStreamDecoder } from './message-stream-decoder';
export type { MessageStreamHandler } from './message-stream-decoder';
export { MeshStreamDecoder } from './mesh-stream-decoder';
export type { MeshStreamHandler, MeshDataStart } from './mesh-stream-decoder';
export type { HelloBody, HelloAckBody, GoawayBody, ReauthBody } from './control';
export type { TargetHealthBody, ConnectorHealth, TargetHealthEntry, TargetFailureReason } from './target-health';
export { decodeTargetHealth, TARGET_HEALTH_VERSION, TARGET_FAILURE_REASONS } from './target-health';
export { decodeHello, decodeHelloAck, decodeGoaway, decodeReauth, decodeOpen, decodeRstReason, decodeWindowIncrement, isValidName, NAME_PATTERN, MAX_HELD_REPLICAS, MAX_ACK_REPLICAS, MAX_ACK_STRIPES, MAX_STRIPE_OF_KEYS, isStripeKey } from './control';
export {
  MeshFrameType,
  MeshRstReason,
  MeshGoawayReason,
  MESH_FLOW_PREFIX_BYTES,
  MESH_MAX_WINDOW_BYTES,
  MESH_MAX_CID,
  MESH_PING_BYTES,
  MESH_HELLO_NONCE_BYTES,
  MESH_HELLO_PROOF_BYTES,
  meshFrameTypeName,
} from './mesh-frame-types';
export type { MeshFrame, MeshFlowFrame, MeshFlowHeader, MeshHelloIdentity, MeshOpenFields } from './mesh-frames';
export {
  encodeMeshHello,
  encodeMeshOpen,
  encodeMeshOpenAck,
  encodeMeshData,
  encodeMeshDataHead,
  encodeMeshFin,
  encodeMeshRst,
  encodeMeshWindowUpdate,
  encodeMeshPing,
  encodeMeshGoaway,
  decodeMeshFrames,
  isMeshFlowFrame,
  meshMaxDataPayload,
} from './mesh-frames';
