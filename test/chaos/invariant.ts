/**
 * The flow invariant (issue 6 item 1) and its checker.
 *
 * Every flow a client starts ends in exactly one of:
 *  - completed_exact  the client received a clean end of stream (FIN) after exactly the bytes it sent,
 *                     in order (length and sha256 equal), and the target received exactly those bytes
 *                     too (its sha256 of the client->target direction, cross-checked when available);
 *  - reset            the client saw an error (ECONNRESET, EPIPE, ...) after the flow had reached the
 *                     target, and every byte received before it was a correct prefix of what was sent;
 *  - refused          the connection failed at once (ECONNREFUSED), or it was closed (FIN or RST)
 *                     before any byte came back AND the target never saw the flow: the flow never
 *                     existed end to end, and a client waiting for an answer gets none — visibly;
 *  - corrupted        any byte differs from what was sent at that offset (changed, duplicated,
 *                     reordered, extra), the target received other bytes than were sent, or the
 *                     stream was silently TRUNCATED: a clean FIN (no error) before all bytes came back,
 *                     including a clean FIN with zero bytes on a flow the target did see;
 *  - hung             neither completion nor an error within the flow's deadline.
 *
 * Why a clean FIN is not "visible": TCP's FIN means "this is all the data". A client reading a raw
 * stream (a file, a dump) cannot tell a FIN sent after a fault from the real end, so a tunnel must
 * turn every fault into a reset (RST, surfaced as ECONNRESET/EPIPE), never a FIN. Only a FIN before
 * the first byte on a flow that never reached the target is accepted as a (visible) refusal: the
 * client sent a request and got no answer at all, and SPEC §9 says refusals close the client "at once".
 * Half-close is respected: the client ends its side (FIN) after sending and keeps reading; the
 * target ends its side after echoing everything.
 */
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import { kernelEnd } from './kernel-tcp';

export type Outcome = 'completed_exact' | 'reset' | 'refused' | 'corrupted' | 'hung';
export const OUTCOMES: readonly Outcome[] = ['completed_exact', 'reset', 'refused', 'corrupted', 'hung'];

/** Why a flow counts as corrupted. */
export type CorruptKind = 'bytes_differ' | 'excess_bytes' | 'truncated' | 'target_mismatch';

export interface FlowResult {
  /** Run-unique 8-byte tag (hex) at the start of the payload; the target keys its record on it. */
  tag: string;
  group: string;
  outcome: Outcome;
  corrupt?: CorruptKind;
  /** How the stream ended for the client: 'fin', an error code, 'connect:<code>', or 'deadline'. */
  end: string;
  sentBytes: number;
  recvBytes: number;
  sentSha: string;
  recvSha: string;
  /** The first byte offset that did not match (corrupted). */
  badOffset?: number;
  elapsedMs: number;
}

/** Deterministic payload: the 8-byte tag, then AES-128-CTR keystream seeded by (seed, tag). */
export function payloadFor(seed: string, tag: Buffer, bytes: number): Buffer {
  const key = crypto.createHash('sha256').update(`${seed}/${tag.toString('hex')}`).digest();
  const cipher = crypto.createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const body = cipher.update(Buffer.alloc(Math.max(0, bytes - tag.length)));
  return Buffer.concat([tag, body]).subarray(0, Math.max(bytes, tag.length));
}

export function sha256(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

export const TAG_BYTES = 8;

let tagCounter = 0;
const runNonce = crypto.randomBytes(4);
/** A fresh run-unique tag. */
export function newTag(): Buffer {
  const t = Buffer.alloc(TAG_BYTES);
  runNonce.copy(t, 0);
  t.writeUInt32BE(++tagCounter >>> 0, 4);
  return t;
}

export interface FlowOptions {
  port: number;
  host?: string;
  bytes: number;
  seed: string;
  /** Hung when not finished within this (the checker then destroys the socket). */
  deadlineMs: number;
  group?: string;
  chunkBytes?: number;
  /**
   * Request/response style: send `rounds` requests of `bytes / rounds` and wait for each echo before
   * the next (default 1: send everything, then half-close, then read to the end).
   */
  rounds?: number;
  /** Do not read for this long after connecting (a client that stops reading), then read normally. */
  pauseReadMs?: number;
  /**
   * Mid-stream hold: after the first round's echo came back (rounds >= 2), wait for this before
   * sending the rest — so a fault is sure to hit the flow in flight.
   */
  gate?: Promise<void>;
  /** Called once the first round's echo came back (the flow is established end to end). */
  onEstablished?: () => void;
  /** Called with the connected socket (e.g. to hold it for a fault). */
  onConnected?: (s: net.Socket) => void;
}

/**
 * Runs one flow against an echo path and classifies its end. Never throws; every wait is bounded by
 * `deadlineMs`. `targetSaw(tag)` answers whether the target recorded the flow (for 0-byte closes).
 */
export function runFlow(opts: FlowOptions, targetSaw: (tag: string) => boolean = () => false): Promise<FlowResult> {
  const tagBuf = newTag();
  const tag = tagBuf.toString('hex');
  const payload = payloadFor(opts.seed, tagBuf, opts.bytes);
  const total = payload.length;
  const started = Date.now();
  const chunkBytes = opts.chunkBytes ?? 64 * 1024;
  const rounds = Math.max(1, Math.min(opts.rounds ?? 1, total));
  const recvHash = crypto.createHash('sha256');
  let recv = 0;
  let corrupt: CorruptKind | undefined;
  let badOffset: number | undefined;

  return new Promise<FlowResult>((resolve) => {
    let settled = false;
    let gotFin = false;
    let error: string | undefined;
    let connected = false;
    const ports: { local?: number; remote?: number } = {};
    const s = net.connect({ port: opts.port, host: opts.host ?? '127.0.0.1', allowHalfOpen: true });
    s.setNoDelay(true);

    const finish = (end: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (readTimer !== undefined) clearTimeout(readTimer);
      s.destroy();
      let outcome: Outcome;
      if (end === 'deadline') outcome = 'hung';
      else if (corrupt !== undefined) outcome = 'corrupted';
      else if (!connected) outcome = 'refused';
      else if (gotFin && recv === total) outcome = 'completed_exact'; // every byte and the FIN; an error after that loses nothing
      else if (end === 'fin') {
        if (recv === total) outcome = 'completed_exact';
        else if (recv === 0 && !targetSaw(tag)) outcome = 'refused';
        else {
          outcome = 'corrupted';
          corrupt = 'truncated';
          badOffset = recv;
        }
      } else if (recv === 0 && !targetSaw(tag)) outcome = 'refused';
      else outcome = 'reset';
      resolve({
        tag,
        group: opts.group ?? 'default',
        outcome,
        ...(corrupt !== undefined ? { corrupt } : {}),
        ...(badOffset !== undefined ? { badOffset } : {}),
        end,
        sentBytes: total,
        recvBytes: recv,
        sentSha: sha256(payload),
        recvSha: recvHash.digest('hex'),
        elapsedMs: Date.now() - started,
      });
    };
    const timer = setTimeout(() => finish('deadline'), opts.deadlineMs);
    let readTimer: NodeJS.Timeout | undefined;

    // Bytes expected back so far (request/response waits for each round's echo).
    let roundWaiter: { upTo: number; resolve: () => void } | undefined;
    s.on('data', (d: Buffer) => {
      if (corrupt === undefined) {
        const end = recv + d.length;
        if (end > total) {
          corrupt = 'excess_bytes';
          badOffset = total;
        }
        const cmpLen = Math.min(d.length, Math.max(0, total - recv));
        if (corrupt === undefined && !d.subarray(0, cmpLen).equals(payload.subarray(recv, recv + cmpLen))) {
          corrupt = 'bytes_differ';
          for (let i = 0; i < cmpLen; i++) {
            if (d[i] !== payload[recv + i]) {
              badOffset = recv + i;
              break;
            }
          }
        }
      }
      recvHash.update(d);
      recv += d.length;
      if (corrupt !== undefined) {
        finish('corrupted');
        return;
      }
      if (roundWaiter !== undefined && recv >= roundWaiter.upTo) {
        const w = roundWaiter;
        roundWaiter = undefined;
        w.resolve();
      }
    });
    s.on('end', () => {
      gotFin = true;
      // A FIN before every byte came back is a silent truncation whatever follows (an error after
      // it, e.g. EPIPE on our next write, does not make the early FIN visible to a reader).
      // Node may report an RST behind unread data as 'end' too: ask the kernel (see kernel-tcp.ts).
      if (recv < total) {
        if (kernelEnd(ports.local, ports.remote) === 'reset') {
          error ??= 'ECONNRESET(kernel)';
          finish(error);
        } else finish('fin');
      }
      // Our side is half-closed already (we sent everything before the echo could complete).
      else s.end();
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message;
      if (!connected) finish(`connect:${error}`);
    });
    s.on('close', () => {
      roundWaiter?.resolve();
      roundWaiter = undefined;
      if (!connected) {
        finish(`connect:${error ?? 'closed'}`);
        return;
      }
      finish(error ?? (gotFin ? 'fin' : 'closed'));
    });

    const write = (chunk: Buffer): Promise<boolean> => {
      if (s.destroyed || s.writableEnded) return Promise.resolve(false);
      if (s.write(chunk)) return Promise.resolve(true);
      return new Promise((res) => {
        const done = (ok: boolean): void => {
          s.off('drain', onDrain);
          s.off('close', onClose);
          res(ok);
        };
        const onDrain = (): void => done(true);
        const onClose = (): void => done(false);
        s.once('drain', onDrain);
        s.once('close', onClose);
      });
    };
    const waitEcho = (upTo: number): Promise<void> =>
      recv >= upTo
        ? Promise.resolve()
        : new Promise<void>((res) => {
            roundWaiter = { upTo, resolve: res };
          });

    s.once('connect', () => {
      connected = true;
      ports.local = s.localPort;
      ports.remote = s.remotePort;
      opts.onConnected?.(s);
      if (opts.pauseReadMs !== undefined && opts.pauseReadMs > 0) {
        s.pause();
        readTimer = setTimeout(() => s.resume(), opts.pauseReadMs);
      }
      void (async () => {
        const per = Math.ceil(total / rounds);
        // bounded: at most total/chunkBytes + rounds iterations
        for (let off = 0, r = 0; off < total && r < rounds; r++) {
          const roundEnd = Math.min(total, off + per);
          while (off < roundEnd) {
            const n = Math.min(chunkBytes, roundEnd - off);
            if (!(await write(payload.subarray(off, off + n)))) return;
            off += n;
          }
          if (rounds > 1 && roundEnd < total) await waitEcho(roundEnd);
          if (settled) return;
          if (r === 0) {
            opts.onEstablished?.();
            if (opts.gate !== undefined) await opts.gate;
            if (settled) return;
          }
        }
        if (!s.destroyed) s.end();
      })();
    });
  });
}

/** Outcome counts of a set of flows (one scenario or one group). */
export class Tally {
  readonly counts: Record<Outcome, number> = { completed_exact: 0, reset: 0, refused: 0, corrupted: 0, hung: 0 };
  readonly corruptKinds: Partial<Record<CorruptKind, number>> = {};
  readonly results: FlowResult[] = [];
  /** The first few bad flows, for the report. */
  readonly examples: FlowResult[] = [];

  add(r: FlowResult): void {
    this.results.push(r);
    this.counts[r.outcome]++;
    if (r.corrupt !== undefined) this.corruptKinds[r.corrupt] = (this.corruptKinds[r.corrupt] ?? 0) + 1;
    if ((r.outcome === 'corrupted' || r.outcome === 'hung') && this.examples.length < 5) this.examples.push(r);
  }

  get attempted(): number {
    return this.results.length;
  }

  /** The counts of one group only. */
  group(name: string): Tally {
    const t = new Tally();
    for (const r of this.results) if (r.group === name) t.add(r);
    return t;
  }

  /** The counts of every group but `name`. */
  without(name: string): Tally {
    const t = new Tally();
    for (const r of this.results) if (r.group !== name) t.add(r);
    return t;
  }

  /**
   * Cross-check completed flows against the target's record of the client->target direction:
   * a completed flow whose bytes the target saw differently is corrupted (target_mismatch).
   * Returns how many flows were checked against a record.
   */
  crossCheck(records: ReadonlyMap<string, { bytes: number; sha256: string }>): number {
    let checked = 0;
    for (const r of this.results) {
      if (r.outcome !== 'completed_exact') continue;
      const rec = records.get(r.tag);
      if (rec === undefined) continue;
      checked++;
      if (rec.bytes !== r.sentBytes || rec.sha256 !== r.sentSha) {
        this.counts.completed_exact--;
        this.counts.corrupted++;
        r.outcome = 'corrupted';
        r.corrupt = 'target_mismatch';
        this.corruptKinds.target_mismatch = (this.corruptKinds.target_mismatch ?? 0) + 1;
        if (this.examples.length < 5) this.examples.push(r);
      }
    }
    return checked;
  }

  /** `attempted=.. completed_exact=.. reset=.. refused=.. corrupted=.. hung=..` */
  countsText(): string {
    return `attempted=${this.attempted} ${OUTCOMES.map((o) => `${o}=${this.counts[o]}`).join(' ')}`;
  }
}

/** The one line a scenario prints. */
export function scenarioLine(name: string, tally: Tally, extras: Record<string, string | number>): string {
  const kinds = Object.entries(tally.corruptKinds).map(([k, v]) => `${k}=${v}`);
  const extra = [...kinds, ...Object.entries(extras).map(([k, v]) => `${k}=${v}`)].join(' ');
  return `scenario=${name} ${tally.countsText()}${extra ? ` (${extra})` : ''}`;
}
