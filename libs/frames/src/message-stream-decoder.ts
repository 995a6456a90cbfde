import { checkHeader, checkPayload } from './decode';
import { Frame } from './frame';
import { FrameError } from './frame-error';
import { FrameType } from './frame-types';
import { FrameStreamDecoder, type FrameStreamFormat, type FrameStreamSink } from './frame-stream-decoder';

/** Where a MessageStreamDecoder delivers what it decodes. */
export interface MessageStreamHandler {
  /** A whole frame of any type but DATA. */
  frame(frame: Frame): void;
  /**
   * Part of a DATA frame's payload, in order, as a view of the input (no copy).
   * `first` is true for the first piece of each frame (a frame of n bytes comes as
   * one or more pieces adding up to n).
   */
  data(flowId: number, piece: Buffer, first: boolean): void;
}

const TUNNEL_FORMAT: FrameStreamFormat = { checkHeader, streamedType: FrameType.DATA, prefixBytes: 0 };

/**
 * The tunnel's frames from binary WebSocket messages whose bytes arrive in pieces
 * (see FrameStreamDecoder): DATA payload handed on as it arrives, every other frame
 * whole, with the same errors and offsets as `decodeFrames`. Pure: no I/O.
 */
export class MessageStreamDecoder {
  private readonly decoder: FrameStreamDecoder;
  private flowId = 0;
  private first = false;

  constructor(maxFrameBytes: number, handler: MessageStreamHandler) {
    const sink: FrameStreamSink = {
      frame: (type, flowId, payload, offset) => {
        const bad = checkPayload(type, payload, offset);
        if (bad !== null) return bad;
        handler.frame({ type: type as FrameType, flags: 0, flowId, payload });
        return null;
      },
      start: (_type, flowId) => {
        this.flowId = flowId;
        this.first = true;
        return null;
      },
      piece: (bytes) => {
        const first = this.first;
        this.first = false;
        handler.data(this.flowId, bytes, first);
      },
    };
    this.decoder = new FrameStreamDecoder(maxFrameBytes, TUNNEL_FORMAT, sink);
  }

  get maxFrameBytes(): number {
    return this.decoder.maxFrameBytes;
  }

  set maxFrameBytes(n: number) {
    this.decoder.maxFrameBytes = n;
  }

  /** Payload bytes of the current frame still to come (0 once a DATA piece completes its frame). */
  get remainingPayload(): number {
    return this.decoder.remainingPayload;
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
