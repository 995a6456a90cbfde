import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { readFile } from 'node:fs/promises';
import { PREMISE_CONFIG, type PremiseConfig } from '@nowconnect/ha-config';
import { EventLog } from '@nowconnect/logging';
import { HealthChecker } from '../targets/health-checker';
import { TargetPools } from '../targets/target-pool';
import { HelloGate, LinkSet, RedialCounts } from './link-set';
import { LinkSlot, TokenError } from './link-slot';
import { StripeBoard } from './stripe-set';

/**
 * Keeps up to `links` tunnels, each to a distinct hub replica (link-set.ts, link-slot.ts). Each link
 * dials, HELLOs, serves and reconnects forever on its own, with its own keepalive, token refresh and
 * health reports; flows are served on whichever link they arrive on. The token is re-read on every
 * attempt so a rotated token file is picked up without a restart. `links: 1` is a single tunnel.
 */
@Injectable()
export class AgentRunner implements OnApplicationBootstrap {
  private stopping = false;
  private slots: LinkSlot[] = [];
  /** Counters of every tunnel of this process (the agent has no /metrics: each goes into its log line). */
  private readonly counters = { busy: 0, slowConsumer: 0 };
  /** Link re-dials by reason (logged in agent_link_redial / agent_link_down). */
  readonly redials = new RedialCounts();
  readonly links: LinkSet;
  /** Outlive tunnels: rotation, active counts and health verdicts are the agent's, not a tunnel's. */
  private readonly pools: TargetPools;
  private readonly health: HealthChecker;

  constructor(
    @Inject(PREMISE_CONFIG) private readonly config: PremiseConfig,
    private readonly log: EventLog,
  ) {
    this.pools = new TargetPools(config.connectors);
    this.health = new HealthChecker(config, this.pools, log);
    this.links = new LinkSet(config.links ?? 1, config.cloudUrls);
  }

  onApplicationBootstrap(): void {
    this.health.start();
    const gate = new HelloGate();
    const deps = {
      config: this.config,
      log: this.log,
      pools: this.pools,
      links: this.links,
      gate,
      redials: this.redials,
      counters: this.counters,
      readToken: () => this.readToken(),
      isStopping: () => this.stopping,
      stripes: new StripeBoard(),
    };
    this.slots = Array.from({ length: this.links.links }, (_x, i) => new LinkSlot(i, deps));
  }

  private async readToken(): Promise<string> {
    const source = this.config.token;
    if (source.kind === 'inline') return source.token;
    let text: string;
    try {
      text = (await readFile(source.path, 'utf8')).trim();
    } catch (err) {
      throw new TokenError(`cannot read token file ${source.path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    if (text === '') throw new TokenError(`token file ${source.path} is empty`);
    return text;
  }

  /** Graceful stop: GOAWAY + close every tunnel, end the loops. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.health.stop();
    for (const s of this.slots) s.stop();
    await Promise.all(this.slots.map((s) => s.done));
  }
}
