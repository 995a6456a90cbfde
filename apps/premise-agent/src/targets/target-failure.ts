import { RstReason } from '@nowconnect/frames';

export interface TargetFailure {
  /** `reason` of target_connect_failed. */
  readonly label: 'refused' | 'timeout' | 'dns' | 'unreachable' | 'reset' | 'error';
  /** What the hub is told (it becomes nowconnect_open_failed_total{reason}). */
  readonly rst: RstReason;
}

/** Classifies a failed dial to a target by the error's code (never its message). */
export function targetFailure(err: Error): TargetFailure {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ECONNREFUSED':
      return { label: 'refused', rst: RstReason.CONNECT_REFUSED };
    case 'ETIMEDOUT':
      return { label: 'timeout', rst: RstReason.CONNECT_TIMEOUT };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return { label: 'dns', rst: RstReason.DNS };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { label: 'unreachable', rst: RstReason.NO_ROUTE };
    case 'ECONNRESET':
      return { label: 'reset', rst: RstReason.PEER_RESET };
    default:
      return { label: 'error', rst: RstReason.UNSPECIFIED };
  }
}
