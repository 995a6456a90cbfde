/**
 * kill -9 the agent under load, then start it again. SPEC §9: its flows are reset at once, new
 * clients are refused at once (no agent), and flows work again once an agent is back.
 */
import { meshHub, agentOn, agentLoose } from '../support/cluster';
import { faultUnderLoad, finish, Resources, type ScenarioOptions, type ScenarioResult } from '../support/scenario';
import { startVerifyingEcho } from '../support/targets';
import type { AgentHandle } from '../../support';

export async function agentKill(o: ScenarioOptions): Promise<ScenarioResult> {
  const res = new Resources();
  try {
    const echo = await startVerifyingEcho();
    res.add(() => echo.close());
    const hub = await meshHub('hub-single', { connector: 'echo' });
    res.add(() => hub.kill());
    const connectors = { echo: `127.0.0.1:${echo.port}` };
    let agent: AgentHandle = await agentOn(hub, 'agent-k', connectors);
    res.add(() => agent.kill());
    const lane = { group: 'local', port: hub.listenPort };
    let exit = '';
    const mark = hub.proc.mark();
    const run = await faultUnderLoad(
      {
        lanes: [lane],
        heldLanes: [lane],
        held: 6,
        echo,
        outageFlows: Math.max(8, Math.floor(o.flows / 4)),
        fault: async () => {
          const e = await agent.kill();
          exit = String(e.signal ?? e.code);
          await hub.proc.waitForEventSince(mark, 'agent_disconnected', (ev) => ev.agent_id === 'agent-k', 30_000);
          o.note('agent killed; hub saw it go');
        },
        recover: async () => {
          const m = hub.proc.mark();
          agent = await agentLoose(hub, 'agent-k', connectors);
          await hub.proc.waitForEventSince(m, 'agent_connected', (ev) => ev.agent_id === 'agent-k', 60_000);
        },
        probe: lane,
        recoveryTimeoutMs: 60_000,
      },
      o,
    );
    const t = run.tally;
    const noAgent = hub.proc.eventsNamed('no_agent_for_connector').length;
    return finish(
      'agent_kill',
      t,
      { agent_exit: exit, held_reset: `${run.held.counts.reset}/${run.held.attempted}`, no_agent_logged: noAgent, recovery_ms: run.recoveryMs },
      {
        agent_killed: exit === 'SIGKILL',
        in_flight_flows_reset: run.held.attempted > 0 && run.held.counts.reset === run.held.attempted,
        refused_while_no_agent: t.counts.refused > 0 && noAgent > 0,
        recovered: run.recoveryMs >= 0,
      },
      echo,
    );
  } finally {
    await res.close();
  }
}
