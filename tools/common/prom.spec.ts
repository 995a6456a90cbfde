import { parseProm, seriesName, sum } from './prom';

const TEXT = `# HELP nowconnect_tcp_bytes_total Payload bytes carried; c2a = client to agent
# TYPE nowconnect_tcp_bytes_total counter
nowconnect_tcp_bytes_total{direction="c2a",connector="addomain"} 63
nowconnect_tcp_bytes_total{direction="a2c",connector="addomain"} 12989
nowconnect_tcp_bytes_total{direction="a2c",connector="pg"} 5
nowconnect_agents_connected 1
nowconnect_open_failed_total{connector="a\\"b",reason="refused"} 2
nowconnect_tunnel_rtt_seconds_bucket{le="+Inf"} 4
`;

describe('parseProm', () => {
  const s = parseProm(TEXT);
  it('reads names, labels (escaped quotes too) and values, skipping comments', () => {
    expect(s).toHaveLength(6);
    expect(s[0]).toEqual({ name: 'nowconnect_tcp_bytes_total', labels: { direction: 'c2a', connector: 'addomain' }, value: 63 });
    expect(s[4]?.labels).toEqual({ connector: 'a"b', reason: 'refused' });
  });
  it('sums matching series; undefined when none', () => {
    expect(sum(s, 'nowconnect_tcp_bytes_total', { direction: 'a2c' })).toBe(12994);
    expect(sum(s, 'nowconnect_tcp_bytes_total', { direction: 'a2c', connector: 'addomain' })).toBe(12989);
    expect(sum(s, 'nowconnect_agents_connected')).toBe(1);
    expect(sum(s, 'nowconnect_no_agent_total', { connector: 'addomain' })).toBeUndefined();
  });
  it('prints a series name as Prometheus does', () => {
    expect(seriesName('nowconnect_tcp_bytes_total', { direction: 'c2a', connector: 'addomain' })).toBe(
      'nowconnect_tcp_bytes_total{direction="c2a",connector="addomain"}',
    );
    expect(seriesName('nowconnect_agents_connected', {})).toBe('nowconnect_agents_connected');
  });
});
