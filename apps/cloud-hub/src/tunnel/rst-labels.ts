import { RstReason } from '@nowconnect/frames';

const LABELS: Record<RstReason, string> = {
  [RstReason.UNSPECIFIED]: 'reset',
  [RstReason.CONNECT_REFUSED]: 'refused',
  [RstReason.CONNECT_TIMEOUT]: 'timeout',
  [RstReason.NO_ROUTE]: 'no_route',
  [RstReason.UNKNOWN_CONNECTOR]: 'unknown_connector',
  [RstReason.LIMIT]: 'limit',
  [RstReason.PROTOCOL]: 'protocol',
  [RstReason.FLOW_CONTROL]: 'flow_control',
  [RstReason.PEER_RESET]: 'reset',
  [RstReason.SHUTDOWN]: 'shutdown',
  [RstReason.DNS]: 'dns',
  [RstReason.AGENT_BUSY]: 'agent_busy',
};

/** The `reason` label of nowconnect_open_failed_total for an agent's RST (closed set). */
export function rstReasonLabel(reason: RstReason): string {
  return LABELS[reason] ?? 'reset';
}
