import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { IncomingMessage } from 'node:http';
import type { UpgradeVerdict } from './tunnel-sessions';

export interface UpgradePolicy {
  /** ws maxPayload for every gateway on this adapter. */
  readonly maxPayload: number;
  verify(path: string, req: IncomingMessage): Promise<UpgradeVerdict>;
}

/**
 * Nest's WsAdapter with the data path taken off Nest: no JSON message
 * pipeline (bindMessageHandlers does nothing: sessions read binary frames from
 * ws themselves), no permessage-deflate, a payload limit, and an async
 * verifyClient so a refused upgrade is an HTTP status before any frame.
 */
export class HubWsAdapter extends WsAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly policy: UpgradePolicy,
  ) {
    super(app);
  }

  override create(port: number, options: Record<string, unknown> & { path?: string } = {}): unknown {
    const path = options.path ?? '/';
    return super.create(port, {
      ...options,
      perMessageDeflate: false,
      maxPayload: this.policy.maxPayload,
      clientTracking: true,
      verifyClient: (info: { req: IncomingMessage }, cb: (ok: boolean, code?: number, message?: string) => void) => {
        this.policy.verify(path, info.req).then(
          (v) => (v.ok ? cb(true) : cb(false, v.status, v.message)),
          () => cb(false, 500, 'Internal Server Error'),
        );
      },
    });
  }

  override bindMessageHandlers(): void {
    // Deliberately empty: payload never goes through @SubscribeMessage/JSON.parse.
  }
}
