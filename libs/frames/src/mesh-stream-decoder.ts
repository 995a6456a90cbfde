import { FrameError } from './frame-error';
import { FrameStreamDecoder, type FrameStreamFormat } from './frame-stream-decoder';
import { MESH_FLOW_PREFIX_BYTES, MeshFrameType } from './mesh-frame-types';
import { checkMeshHeader, parseMeshFrame, type MeshFrame } from './mesh-frames';

/** An M_DATA frame as it starts: its header fields (payload empty), and how many payload bytes follow. */
export type MeshDataStart = Extract<MeshFrame, { type: MeshFrameType.M_DATA }>;

/** Where a MeshStreamDecoder delivers what it decodes. */
export interface MeshStreamHandler {
  /** A whole frame of any type but M_DATA. */
  frame(frame: MeshFrame): void;
  /** An M_DATA frame begins (cid, epoch, seq checked); `length` payload bytes follow through `data`. */
  dataStart(frame: MeshDataStart, length: number): void;
  /** The next bytes of the current M_DATA payload, a view of the input (no copy). */
  data(piece: Buffer): void;
}

const MESH_FORMAT: FrameStreamFormat = { checkHeader: checkMeshHeader, streamedType: MeshFrameType.M_DATA, prefixBytes: MESH_FLOW_PREFIX_BYTES };

/**
 * Mesh frames from binary WebSocket messages whose bytes arrive in pieces (see
 * FrameStreamDecoder): an M_DATA payload is handed on as it arrives, after its
 * header and epoch/seq prefix were checked; every other frame whole, with the same
 * errors and offsets as `decodeMeshFrames`. Pure: no I/O.
 */
export class MeshStreamDecoder {
  private readonly decoder: FrameStreamDecoder;

  constructor(maxFrameBytes: number, handler: MeshStreamHandler) {
    this.decoder = new FrameStreamDecoder(maxFrameBytes, MESH_FORMAT, {
      frame: (type, cid, payload, offset) => {
        const frame = parseMeshFrame(payload, type as MeshFrameType, cid, 0, payload.length, offset);
        if (frame instanceof FrameError) return frame;
        handler.frame(frame);
        return null;
      },
      start: (type, cid, prefix, length, offset) => {
        const frame = parseMeshFrame(prefix, type as MeshFrameType, cid, 0, prefix.length, offset);
        if (frame instanceof FrameError) return frame;
        handler.dataStart(frame as MeshDataStart, length);
        return null;
      },
      piece: (bytes) => handler.data(bytes),
    });
  }

  /** Feeds bytes of the current message. Returns null or the (sticky) error. */
  push(buf: Buffer): FrameError | null {
    return this.decoder.push(buf);
  }

  /** The current message ended: a frame cut short is TRUNCATED. */
  endMessage(): FrameError | null {
    return this.decoder.endMessage();
  }
}
