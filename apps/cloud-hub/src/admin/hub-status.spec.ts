import { parseCloudConfig } from '@nowconnect/ha-config';
import { buildStatus } from './hub-status';

describe('buildStatus (GET /status)', () => {
  const config = parseCloudConfig(
    {
      auth: { hs256_secret_file: '/s' },
      listeners: [
        { name: 'l1', bind: '127.0.0.1:0', connector: 'addomain' },
        { name: 'l2', bind: '127.0.0.1:0', connector: 'idle' },
      ],
    },
    {},
  );

  it('groups tunnels by agent and connector (a link\'s stripes are its connections), marks unrouted connectors, lists listeners and mesh links', () => {
    const status = buildStatus({
      config,
      phase: 'ready',
      haMode: 'off',
      agents: () => [
        { agentId: 'a1', connectors: ['addomain', 'pg'], flowsByConnector: new Map([['addomain', 2]]), flowsPerConnection: [1, 0, 1] },
        { agentId: 'a1', connectors: ['addomain'], flowsByConnector: new Map([['addomain', 1]]) },
        { agentId: 'a2', connectors: ['addomain'], flowsByConnector: new Map() },
      ],
      listenerPorts: () => [{ listener: 'l1', port: 1389 }],
      meshLinks: () => [{ peer: 'hub-b', role: 'dialer', url: 'wss://b/mesh', state: 'up' }],
    });
    expect(status).toEqual({
      replica_id: 'hub-a',
      ha_mode: 'off',
      phase: 'ready',
      agents: [
        { agent_id: 'a1', connectors: ['addomain', 'pg'], links: 2, connections: 4, flows_per_connection: [1, 0, 1, 1], active_flows: 3 },
        { agent_id: 'a2', connectors: ['addomain'], links: 1, connections: 1, flows_per_connection: [0], active_flows: 0 },
      ],
      connectors: [
        { name: 'addomain', agents: ['a1', 'a2'], active_flows: 3, listeners: ['l1'], routed: true },
        { name: 'idle', agents: [], active_flows: 0, listeners: ['l2'], routed: true },
        { name: 'pg', agents: ['a1'], active_flows: 0, listeners: [], routed: false },
      ],
      listeners: [
        { name: 'l1', bind: '127.0.0.1:0', port: 1389, connector: 'addomain', serving_agents: 2 },
        { name: 'l2', bind: '127.0.0.1:0', port: null, connector: 'idle', serving_agents: 0 },
      ],
      mesh: { links: [{ peer: 'hub-b', role: 'dialer', url: 'wss://b/mesh', state: 'up' }] },
    });
  });
});
