import { MESH_MAX_CID } from '@nowconnect/frames';
import type { ReceiveWindow } from '@nowconnect/flow';

/** Which end of a link this hub is: it decides the parity of the CIDs it allocates. */
export type LinkRole = 'dialer' | 'acceptor';

/** One cross-replica flow as one link sees it: identity, sequence numbers and credit both ways. */
export interface MeshChannel {
  readonly cid: number;
  readonly agentId: string;
  readonly connector: string;
  /** The agent's owner epoch the flow was opened under; every frame of the flow carries it. */
  readonly epoch: number;
  /** This hub sent the M_OPEN (origin side); false: the peer did (owner side). */
  readonly localOpened: boolean;
  /** M_OPEN_ACK sent (owner side) or received (origin side). */
  acked: boolean;
  /** Last seq this hub sent on the flow. */
  sendSeq: number;
  /** Bytes of M_DATA the peer still accepts. */
  sendCredit: number;
  /** Our initial receive window for the flow (announced in M_OPEN / M_OPEN_ACK). */
  readonly recvWindow: number;
  /** Our auto-tuned receive window (absent: fixed at recvWindow). */
  readonly window: ReceiveWindow | undefined;
  /** Bytes the peer may still send before our next M_WINDOW_UPDATE. */
  recvAvailable: number;
  /** Bytes delivered and flushed since the last M_WINDOW_UPDATE. */
  consumed: number;
  finSent: boolean;
  finRecv: boolean;
}

/**
 * The flows of one link. CIDs are scoped to the link: the dialer allocates
 * odd CIDs, the acceptor even ones, each side strictly increasing and never
 * reused on the link (so an M_OPEN whose CID is not above the peer's last one
 * is a replay). When a side runs out (2^32) the link drains and a new one is
 * dialed.
 */
export class ChannelTable {
  private readonly channels = new Map<number, MeshChannel>();
  private nextCid: number;
  private highestRemoteCid = 0;

  constructor(readonly role: LinkRole) {
    this.nextCid = role === 'dialer' ? 1 : 2;
  }

  get size(): number {
    return this.channels.size;
  }

  get(cid: number): MeshChannel | undefined {
    return this.channels.get(cid);
  }

  values(): IterableIterator<MeshChannel> {
    return this.channels.values();
  }

  /** A CID for a new local flow, or undefined when this side's CID space is used up. */
  allocate(): number | undefined {
    if (this.nextCid > MESH_MAX_CID) return undefined;
    const cid = this.nextCid;
    this.nextCid += 2;
    return cid;
  }

  /** Does `cid` have the parity the peer allocates? */
  isRemoteParity(cid: number): boolean {
    return (cid % 2 === 1) === (this.role === 'acceptor');
  }

  /** Is `cid` above every CID the peer opened so far (not a replayed open)? Records it when so. */
  claimRemote(cid: number): boolean {
    if (cid <= this.highestRemoteCid) return false;
    this.highestRemoteCid = cid;
    return true;
  }

  add(init: {
    cid: number;
    agentId: string;
    connector: string;
    epoch: number;
    localOpened: boolean;
    sendCredit: number;
    recvWindow: number;
    window?: ReceiveWindow;
  }): MeshChannel {
    const ch: MeshChannel = {
      window: undefined,
      ...init,
      acked: false,
      sendSeq: 0,
      recvAvailable: init.recvWindow,
      consumed: 0,
      finSent: false,
      finRecv: false,
    };
    this.channels.set(ch.cid, ch);
    return ch;
  }

  delete(cid: number): boolean {
    return this.channels.delete(cid);
  }

  clear(): MeshChannel[] {
    const all = [...this.channels.values()];
    this.channels.clear();
    return all;
  }
}
