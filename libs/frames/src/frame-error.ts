/** Every way untrusted bytes can fail to be a frame. Codes are stable; branch on them. */
export enum FrameErrorCode {
  UNSUPPORTED_VERSION = 'NC_ERR_UNSUPPORTED_VERSION',
  UNKNOWN_TYPE = 'NC_ERR_UNKNOWN_TYPE',
  FRAME_TOO_LARGE = 'NC_ERR_FRAME_TOO_LARGE',
  INVALID_FLOW_ID = 'NC_ERR_INVALID_FLOW_ID',
  INVALID_PAYLOAD = 'NC_ERR_INVALID_PAYLOAD',
  RESERVED_FLAGS = 'NC_ERR_RESERVED_FLAGS',
  TRUNCATED = 'NC_ERR_TRUNCATED',
  /** Well-formed, but not allowed from this peer or in this session state. */
  UNEXPECTED_FRAME = 'NC_ERR_UNEXPECTED_FRAME',
  /** Not a binary WebSocket message. */
  NOT_BINARY = 'NC_ERR_NOT_BINARY',
}

export class FrameError {
  constructor(
    readonly code: FrameErrorCode,
    readonly message: string,
    /** Byte offset (within the input handed to the decoder) where the bad frame starts. */
    readonly offset: number,
  ) {}
}
