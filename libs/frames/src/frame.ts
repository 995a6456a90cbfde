import { FrameType } from './frame-types';

/** A decoded frame. `payload` is a view into the decoded input (no copy). */
export interface Frame {
  readonly type: FrameType;
  readonly flags: number;
  readonly flowId: number;
  readonly payload: Buffer;
}
