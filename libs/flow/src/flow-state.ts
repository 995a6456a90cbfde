/**
 * The life of one flow, at either end of a tunnel. One enum, one transition
 * function; every caller goes through `transition` so an unexpected event is
 * seen in one place (and answered with RST by the flow).
 *
 *            local end (FIN sent)             remote FIN
 *   OPEN ──────────────────────────► LOCAL_FIN ─────────────► CLOSED
 *     │                                                         ▲
 *     └──────────► REMOTE_FIN ──────────────────────────────────┘
 *     remote FIN                  local end (FIN sent)
 *
 *   any state ── RST (sent or received), socket error ──► CLOSED
 */
export enum FlowState {
  OPEN = 'open',
  LOCAL_FIN = 'local_fin',
  REMOTE_FIN = 'remote_fin',
  CLOSED = 'closed',
}

export enum FlowEvent {
  /** Our socket's read side ended and we sent FIN. */
  LOCAL_FIN = 'local_fin',
  /** The peer sent FIN. */
  REMOTE_FIN = 'remote_fin',
  /** The peer sent DATA. */
  REMOTE_DATA = 'remote_data',
  /** RST sent or received, or the socket failed. */
  RESET = 'reset',
}

/** Returns the next state, or null when the event is a protocol violation in this state. */
export function transition(state: FlowState, event: FlowEvent): FlowState | null {
  switch (state) {
    case FlowState.OPEN:
      if (event === FlowEvent.LOCAL_FIN) return FlowState.LOCAL_FIN;
      if (event === FlowEvent.REMOTE_FIN) return FlowState.REMOTE_FIN;
      if (event === FlowEvent.REMOTE_DATA) return FlowState.OPEN;
      return FlowState.CLOSED;
    case FlowState.LOCAL_FIN:
      if (event === FlowEvent.REMOTE_FIN) return FlowState.CLOSED;
      if (event === FlowEvent.REMOTE_DATA) return FlowState.LOCAL_FIN;
      if (event === FlowEvent.RESET) return FlowState.CLOSED;
      return null;
    case FlowState.REMOTE_FIN:
      if (event === FlowEvent.LOCAL_FIN) return FlowState.CLOSED;
      if (event === FlowEvent.RESET) return FlowState.CLOSED;
      return null;
    case FlowState.CLOSED:
      return FlowState.CLOSED;
  }
}
