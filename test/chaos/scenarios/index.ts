import { agentKill } from './agent-kill';
import { herd } from './herd';
import { meshCut } from './mesh-cut';
import { ownerKill } from './owner-kill';
import { redisKill } from './redis-kill';
import { rollingRestart } from './rolling-restart';
import { slowClient } from './slow-client';
import { stallTarget } from './stall-target';
import { targetKill } from './target-kill';
import type { Scenario } from '../support/scenario';

/** Every chaos scenario by name, in the order `npm run chaos` runs them. */
export const SCENARIOS: Record<string, Scenario> = {
  redis_kill: redisKill,
  owner_kill: ownerKill,
  rolling_restart: rollingRestart,
  agent_kill: agentKill,
  mesh_cut: meshCut,
  stall_target: stallTarget,
  target_kill: targetKill,
  slow_client: slowClient,
  herd: herd({ agents: 100, processes: 3 }),
};
