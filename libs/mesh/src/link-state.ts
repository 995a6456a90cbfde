/**
 * The life of one mesh link (seed "Mesh link state machine"). One enum, one
 * transition function; the link and the gauge nowconnect_mesh_links{peer,state}
 * go through `MeshLinkState` so an illegal move is seen in one place.
 *
 *            DIAL                 UP (hello exchanged)          DRAIN (GOAWAY sent or received)
 *   DOWN ──────────► CONNECTING ─────────────────────► UP ──────────────────────► DRAINING
 *    ▲                   │                              │                            │
 *    └───────────────────┴──────── LOST (socket closed, handshake failed, dead) ─────┘
 *
 * DRAINING ends in DOWN once its last flow is gone (CLOSED) or the socket is lost.
 */
export enum LinkState {
  CONNECTING = 'connecting',
  UP = 'up',
  DRAINING = 'draining',
  DOWN = 'down',
}

export enum LinkEvent {
  /** A dial starts (or an inbound socket is accepted). */
  DIAL = 'dial',
  /** Both sides exchanged M_HELLO. */
  UP = 'up',
  /** GOAWAY sent or received: no new flows, existing ones finish. */
  DRAIN = 'drain',
  /** The link closed on purpose (drain finished, shutdown). */
  CLOSED = 'closed',
  /** The socket failed, the handshake failed or the peer went silent. */
  LOST = 'lost',
}

export const LINK_STATES: readonly LinkState[] = [LinkState.CONNECTING, LinkState.UP, LinkState.DRAINING, LinkState.DOWN];

/** The next state, or null when `event` is illegal in `state`. */
export function nextLinkState(state: LinkState, event: LinkEvent): LinkState | null {
  switch (state) {
    case LinkState.DOWN:
      return event === LinkEvent.DIAL ? LinkState.CONNECTING : null;
    case LinkState.CONNECTING:
      if (event === LinkEvent.UP) return LinkState.UP;
      if (event === LinkEvent.LOST || event === LinkEvent.CLOSED) return LinkState.DOWN;
      return null;
    case LinkState.UP:
      if (event === LinkEvent.DRAIN) return LinkState.DRAINING;
      if (event === LinkEvent.LOST || event === LinkEvent.CLOSED) return LinkState.DOWN;
      return null;
    case LinkState.DRAINING:
      if (event === LinkEvent.DRAIN) return LinkState.DRAINING;
      if (event === LinkEvent.LOST || event === LinkEvent.CLOSED) return LinkState.DOWN;
      return null;
  }
}

export type LinkStateListener = (from: LinkState, to: LinkState, event: LinkEvent) => void;

/** Holds one link's state; `apply` refuses illegal moves (returns false) and reports real changes. */
export class MeshLinkState {
  private state: LinkState;

  constructor(
    initial: LinkState = LinkState.DOWN,
    private readonly onChange: LinkStateListener = () => undefined,
  ) {
    this.state = initial;
  }

  get current(): LinkState {
    return this.state;
  }

  apply(event: LinkEvent): boolean {
    const next = nextLinkState(this.state, event);
    if (next === null) return false;
    const from = this.state;
    this.state = next;
    if (from !== next) this.onChange(from, next, event);
    return true;
  }
}
