export { FlowModule } from './flow.module';
export { FlowState, FlowEvent, transition } from './flow-state';
export type { FlowMetrics } from './flow-metrics';
export { NOOP_FLOW_METRICS } from './flow-metrics';
export type { FrameTransport } from './frame-transport';
export { Flow } from './flow';
export { resetSocket } from './reset-socket';
export type { FlowHost, FlowInit, FlowEnd } from './flow';
export { DEFAULT_SLOW_CONSUMER_BYTES, MuxSession } from './mux-session';
export type { MuxOptions } from './mux-session';
export { WsTransport, zeroMask } from './ws-transport';
export { WsFrameReader } from './ws-frame-reader';
export type { WsPayloadSink } from './ws-frame-reader';
export {
  WindowBudget,
  INITIAL_FLOW_WINDOW_BYTES,
  DEFAULT_MAX_FLOW_WINDOW_BYTES,
  DEFAULT_TUNNEL_WINDOW_BYTES,
  DEFAULT_PROCESS_WINDOW_BYTES,
  PROCESS_WINDOW_BUDGET,
} from './window-budget';
export { ReceiveWindow, RttEstimator, MONOTONIC_CLOCK, RTT_FLOOR_MS, RTT_MAX_AGE_MS, IDLE_AFTER_MS, IDLE_SWEEP_MS } from './receive-window';
export type { Clock, RttSource } from './receive-window';
export type { WsTransportOptions } from './ws-transport';
export { reserveGcHeadroom } from './gc-headroom';
