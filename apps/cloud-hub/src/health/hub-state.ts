import { Injectable } from '@nestjs/common';

export type HubPhase = 'starting' | 'ready' | 'draining';

/** The hub's lifecycle phase, read by /readyz. */
@Injectable()
export class HubState {
  phase: HubPhase = 'starting';
}
