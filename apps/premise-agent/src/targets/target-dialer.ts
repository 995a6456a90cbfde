import { connect, type NetConnectOpts, type Socket } from 'node:net';
import type { TargetFailureReason } from '@nowconnect/frames';
import type { EventLog } from '@nowconnect/logging';
import { targetFailure, type TargetFailure } from './target-failure';
import type { TargetPool, TargetSlot } from './target-pool';

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
    const timer = setTimeout(() => sock.destroy(Object.assign(new Error('target connect timeout'), { code: 'ETIMEDOUT' })), pool.connectTimeoutMs);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      sock.off('connect', onConnect);
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
        sock.destroy();
        return;
      }
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
      current?.destroy();
      settle({ ok: false, failure: undefined, attempts: 0 });
    },
  };
}
