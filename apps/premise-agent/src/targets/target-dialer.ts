import { connect, type NetConnectOpts, type Socket } from 'node:net';
import type { TargetFailureReason } from '@nowconnect/frames';
import type { EventLog } from '@nowconnect/logging';
import { targetFailure, type TargetFailure } from './target-failure';
import type { TargetPool, TargetSlot } from './target-pool';

/** ok: the socket is connected and counted in `slot.active`; the caller releases that count. */
export type DialOutcome =
  | { readonly ok: true; readonly socket: Socket; readonly slot: TargetSlot; readonly attempts: number }
  | { readonly ok: false; readonly failure: TargetFailure | undefined; readonly attempts: number };

export interface TargetDial {
  readonly done: Promise<DialOutcome>;
  /** Stop (the hub reset the flow, or the tunnel closed): the socket in progress is destroyed. */
  cancel(): void;
}

/**
 * Dials a connector's targets one after the other in the pool's order until one connects, each
 * within the connector's connect_timeout_ms: a target that refuses, times out or does not resolve
 * costs this flow one attempt, not the flow. Every failed attempt is logged (`target_connect_failed`,
 * with the target tried and whether another follows) and handed to `failed` (the tunnel counts it).
 */
export function dialTargets(
  pool: TargetPool,
  flowId: number,
  log: EventLog,
  failed: (reason: TargetFailureReason) => void,
  dial: (opts: NetConnectOpts) => Socket = connect,
): TargetDial {
  const order = pool.nextOrder();
  let current: Socket | undefined;
  /** The target being dialled: counted in its `active` from the dial on (least_flows sees dials in progress). */
  let currentSlot: TargetSlot | undefined;
  let cancelled = false;
  let settle: (o: DialOutcome) => void = () => undefined;
  const done = new Promise<DialOutcome>((resolve) => (settle = resolve));

  const attempt = (i: number, last: TargetFailure | undefined): void => {
    const slot = order[i];
    if (cancelled) return;
    if (slot === undefined) {
      settle({ ok: false, failure: last, attempts: i });
      return;
    }
    const sock = dial({ host: slot.address.host, port: slot.address.port, allowHalfOpen: true, noDelay: true });
    current = sock;
    currentSlot = slot;
    slot.active++;
    const timer = setTimeout(() => sock.destroy(Object.assign(new Error('target connect timeout'), { code: 'ETIMEDOUT' })), pool.connectTimeoutMs);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      sock.off('connect', onConnect);
      if (currentSlot === slot) {
        slot.active--;
        currentSlot = undefined;
      }
      if (cancelled) return;
      const failure = targetFailure(err);
      failed(failure.label);
      const next = order[i + 1];
      log.warn('target_connect_failed', {
        flow: flowId,
        connector: pool.name,
        target: slot.name,
        reason: failure.label,
        ...(next === undefined ? {} : { next: next.name }),
      });
      attempt(i + 1, failure);
    };
    const onConnect = (): void => {
      clearTimeout(timer);
      sock.off('error', onError);
      sock.on('error', () => undefined); // until the Flow attaches its own handlers ('close' still reaches it)
      if (cancelled) {
        sock.destroy(); // cancel() already uncounted it
        return;
      }
      currentSlot = undefined; // the caller owns the count now (until the flow closes)
      settle({ ok: true, socket: sock, slot, attempts: i + 1 });
    };
    sock.once('error', onError);
    sock.once('connect', onConnect);
  };

  attempt(0, undefined);
  return {
    done,
    cancel: () => {
      if (cancelled) return;
      cancelled = true;
      if (currentSlot !== undefined) {
        currentSlot.active--;
        currentSlot = undefined;
      }
      current?.destroy();
      settle({ ok: false, failure: undefined, attempts: 0 });
    },
  };
}
