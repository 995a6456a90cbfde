import { EventEmitter, once } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { decodeMeshFrames, DEFAULT_MAX_FRAME_BYTES, encodeMeshHello, MeshFrame, MeshRstReason } from '@nowconnect/frames';
import WebSocket, { WebSocketServer } from 'ws';
import type { LinkState } from './link-state';
import { MeshLink, MeshLinkHandler, MeshLinkOptions, MeshOpenRequest } from './mesh-link';
import type { BackpressureReason, MeshLinkFailure, MeshMetrics } from './mesh-metrics';

/** Test-only (not exported from the barrel): recorders and loopback ws pairs for MeshLink specs. */

export type LinkEventRecord =
  | { kind: 'up' }
  | { kind: 'open'; req: MeshOpenRequest }
  | { kind: 'openAck'; cid: number }
  | { kind: 'data'; cid: number; payload: Buffer }
  | { kind: 'fin'; cid: number }
  | { kind: 'reset'; cid: number; reason: MeshRstReason }
  | { kind: 'writable'; cid: number }
  | { kind: 'down'; reason: string }
  | { kind: 'state'; from: LinkState; to: LinkState };

/** A MeshLinkHandler that logs every callback and lets a test await one. */
export class Recorder implements MeshLinkHandler {
  readonly log: LinkEventRecord[] = [];
  private readonly events = new EventEmitter();
  /** Called on `open` (default: accept). */
  onOpen: (link: MeshLink, req: MeshOpenRequest) => void = (link, req) => link.acceptFlow(req.cid);
  /** Called on `data` (default: consume at once). */
  onData: (link: MeshLink, cid: number, payload: Buffer) => void = (link, cid, payload) => link.consumed(cid, payload.length);
  onWritable: (link: MeshLink, cid: number) => void = () => undefined;

  constructor() {
    this.events.setMaxListeners(100);
  }

  private record(e: LinkEventRecord): void {
    this.log.push(e);
    this.events.emit('event', e);
  }

  up(): void {
    this.record({ kind: 'up' });
  }
  open(link: MeshLink, req: MeshOpenRequest): void {
    this.record({ kind: 'open', req });
    this.onOpen(link, req);
  }
  openAck(_link: MeshLink, cid: number): void {
    this.record({ kind: 'openAck', cid });
  }
  data(link: MeshLink, cid: number, payload: Buffer): void {
    this.record({ kind: 'data', cid, payload: Buffer.from(payload) });
    this.onData(link, cid, payload);
  }
  fin(_link: MeshLink, cid: number): void {
    this.record({ kind: 'fin', cid });
  }
  reset(_link: MeshLink, cid: number, reason: MeshRstReason): void {
    this.record({ kind: 'reset', cid, reason });
  }
  writable(link: MeshLink, cid: number): void {
    this.record({ kind: 'writable', cid });
    this.onWritable(link, cid);
  }
  down(_link: MeshLink, reason: string): void {
    this.record({ kind: 'down', reason });
  }
  stateChange(_link: MeshLink, from: LinkState, to: LinkState): void {
    this.record({ kind: 'state', from, to });
  }

  /** Resolves with the first logged event (past or future) of `kind` matching `pred`. */
  waitFor<K extends LinkEventRecord['kind']>(
    kind: K,
    pred: (e: Extract<LinkEventRecord, { kind: K }>) => boolean = () => true,
  ): Promise<Extract<LinkEventRecord, { kind: K }>> {
    const match = (e: LinkEventRecord): e is Extract<LinkEventRecord, { kind: K }> =>
      e.kind === kind && pred(e as Extract<LinkEventRecord, { kind: K }>);
    const hit = this.log.find(match);
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve) => {
      const listener = (e: LinkEventRecord): void => {
        if (!match(e)) return;
        this.events.off('event', listener);
        resolve(e);
      };
      this.events.on('event', listener);
    });
  }

  /** Resolves once `cond()` holds, re-checked after every event. */
  until(cond: () => boolean): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve) => {
      const listener = (): void => {
        if (!cond()) return;
        this.events.off('event', listener);
        resolve();
      };
      this.events.on('event', listener);
    });
  }

  bytes(cid: number): Buffer {
    return Buffer.concat(this.log.flatMap((e) => (e.kind === 'data' && e.cid === cid ? [e.payload] : [])));
  }

  count(kind: LinkEventRecord['kind']): number {
    return this.log.filter((e) => e.kind === kind).length;
  }
}

export class RecordingMetrics implements MeshMetrics {
  readonly frames = new Map<string, number>();
  readonly rtts: number[] = [];
  readonly drops: Array<[string, BackpressureReason]> = [];
  epochMismatches = 0;
  dedupDrops = 0;
  linkErrors = 0;
  reconnects = 0;
  private readonly events = new EventEmitter();

  frame(dir: 'in' | 'out', type: string): void {
    const key = `${dir}:${type}`;
    this.frames.set(key, (this.frames.get(key) ?? 0) + 1);
  }
  rtt(seconds: number): void {
    this.rtts.push(seconds);
    this.events.emit('rtt', seconds);
  }
  epochMismatch(): void {
    this.epochMismatches++;
  }
  dedupDropped(): void {
    this.dedupDrops++;
  }
  backpressureDrop(peer: string, reason: BackpressureReason): void {
    this.drops.push([peer, reason]);
  }
  linkError(): void {
    this.linkErrors++;
  }
  linkReconnect(): void {
    this.reconnects++;
  }
  readonly failures: MeshLinkFailure[] = [];
  linkFailed(reason: MeshLinkFailure): void {
    this.failures.push(reason);
  }
  nextRtt(): Promise<number> {
    return once(this.events, 'rtt').then(([s]) => s as number);
  }
}

export function linkOptions(over: Partial<MeshLinkOptions> & Pick<MeshLinkOptions, 'role' | 'localReplicaId'>): MeshLinkOptions {
  return {
    maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
    flowWindowBytes: 64 * 1024,
    sendQueueDepth: 1000,
    perLinkMaxInflightBytes: 8 * 1024 * 1024,
    keepaliveMs: 60_000,
    helloTimeoutMs: 10_000,
    ownerEpoch: () => undefined,
    ...over,
  };
}

const running = new Set<MeshServer>();

/** A loopback ws (or wss) server on /mesh; every accepted socket is handed to `onSocket`. */
export class MeshServer {
  readonly sockets: WebSocket[] = [];
  private constructor(
    readonly server: http.Server | https.Server,
    readonly wss: WebSocketServer,
    readonly url: string,
  ) {}

  static async start(onSocket: (ws: WebSocket, req: http.IncomingMessage) => void, tlsOptions?: https.ServerOptions): Promise<MeshServer> {
    const server = tlsOptions === undefined ? http.createServer() : https.createServer(tlsOptions);
    const wss = new WebSocketServer({ server, path: '/mesh', perMessageDeflate: false });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const s = new MeshServer(server, wss, `${tlsOptions === undefined ? 'ws' : 'wss'}://127.0.0.1:${port}/mesh`);
    running.add(s);
    wss.on('connection', (ws, req) => {
      s.sockets.push(ws);
      onSocket(ws, req);
    });
    return s;
  }

  async stop(): Promise<void> {
    running.delete(this);
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** afterEach: stop every server started by MeshServer.start (their sockets are terminated). */
export async function stopMeshServers(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
}

export interface LinkPair {
  server: MeshServer;
  dialer: MeshLink;
  acceptor: MeshLink;
  d: Recorder;
  a: Recorder;
  dm: RecordingMetrics;
  am: RecordingMetrics;
}

/** A dialer and an acceptor MeshLink over loopback ws, both up. */
export async function linkPair(
  dialerOver: Partial<MeshLinkOptions> = {},
  acceptorOver: Partial<MeshLinkOptions> = {},
): Promise<LinkPair> {
  const d = new Recorder();
  const a = new Recorder();
  const dm = new RecordingMetrics();
  const am = new RecordingMetrics();
  let resolveAccepted: (l: MeshLink) => void = () => undefined;
  const accepted = new Promise<MeshLink>((resolve) => (resolveAccepted = resolve));
  const server = await MeshServer.start((ws) => {
    resolveAccepted(new MeshLink(ws, linkOptions({ role: 'acceptor', localReplicaId: 'hub-b', metrics: am, ...acceptorOver }), a));
  });
  const ws = new WebSocket(server.url, { perMessageDeflate: false });
  const dialer = new MeshLink(ws, linkOptions({ role: 'dialer', localReplicaId: 'hub-a', metrics: dm, ...dialerOver }), d);
  const acceptor = await accepted;
  await Promise.all([d.waitFor('up'), a.waitFor('up')]);
  return { server, dialer, acceptor, d, a, dm, am };
}

/** A bare ws client speaking raw mesh frames (to inject replays, garbage, ...). */
export class RawPeer {
  readonly frames: MeshFrame[] = [];
  private readonly events = new EventEmitter();
  closed: Promise<number>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      decodeMeshFrames(data, DEFAULT_MAX_FRAME_BYTES, (f) => {
        this.frames.push(f);
        this.events.emit('frame', f);
      });
    });
    ws.on('error', () => undefined);
    this.closed = once(ws, 'close').then(([code]) => code as number);
  }

  static async connect(url: string): Promise<RawPeer> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const peer = new RawPeer(ws);
    await once(ws, 'open');
    return peer;
  }

  send(...frames: Buffer[]): void {
    this.ws.send(Buffer.concat(frames), { binary: true });
  }

  /** Sends M_HELLO and waits for the acceptor's. */
  async hello(id = 'hub-raw'): Promise<void> {
    this.send(encodeMeshHello(id));
    await this.waitFor((f) => f.type === 0x20);
  }

  waitFor(pred: (f: MeshFrame) => boolean): Promise<MeshFrame> {
    const hit = this.frames.find(pred);
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve) => {
      const listener = (f: MeshFrame): void => {
        if (!pred(f)) return;
        this.events.off('frame', listener);
        resolve(f);
      };
      this.events.on('frame', listener);
    });
  }
}
