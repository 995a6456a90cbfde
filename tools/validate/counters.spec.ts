import { parseProm } from '../common/prom';
import { cidrBlockedDelta, connectorCounters, deltaLines, diff, movedConnectors, openFailedReasons } from './counters';

const before = parseProm(`
nowconnect_tcp_connections_total{connector="addomain"} 3
nowconnect_tcp_connections_total{connector="pg"} 1
nowconnect_tcp_bytes_total{direction="c2a",connector="addomain"} 100
nowconnect_tcp_bytes_total{direction="a2c",connector="addomain"} 1000
nowconnect_no_agent_total{connector="addomain"} 0
nowconnect_no_agent_total{connector="pg"} 0
nowconnect_cidr_blocked_total{listener="l1"} 0
`);
const after = parseProm(`
nowconnect_tcp_connections_total{connector="addomain"} 5
nowconnect_tcp_connections_total{connector="pg"} 1
nowconnect_tcp_bytes_total{direction="c2a",connector="addomain"} 163
nowconnect_tcp_bytes_total{direction="a2c",connector="addomain"} 1125
nowconnect_no_agent_total{connector="addomain"} 0
nowconnect_no_agent_total{connector="pg"} 1
nowconnect_open_failed_total{connector="pg",reason="refused"} 2
nowconnect_cidr_blocked_total{listener="l1"} 1
`);

describe('validate counters', () => {
  it('per-connector deltas and the three guide lines', () => {
    const d = diff(connectorCounters(after, 'addomain'), connectorCounters(before, 'addomain'));
    expect(d).toEqual({ conns: 2, c2a: 63, a2c: 125, noAgent: 0, openFailed: 0 });
    expect(deltaLines(d, 'addomain')).toEqual([
      'nowconnect_tcp_connections_total{connector="addomain"} +2',
      'nowconnect_tcp_bytes_total{direction="c2a",connector="addomain"} +63',
      'nowconnect_tcp_bytes_total{direction="a2c",connector="addomain"} +125',
    ]);
  });
  it('which connectors moved, refusals by reason, cidr by listener', () => {
    expect(movedConnectors(before, after)).toEqual(['addomain', 'pg']);
    expect(openFailedReasons(before, after, 'pg')).toEqual(['refused +2']);
    expect(cidrBlockedDelta(before, after)).toEqual([{ listener: 'l1', delta: 1 }]);
    expect(movedConnectors(before, before)).toEqual([]);
  });
});
