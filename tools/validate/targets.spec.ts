import { parseProm } from '../common/prom';
import { targetHealth } from './targets';

describe('validate: targetHealth', () => {
  it('all up: ok, one line per target', () => {
    const s = parseProm(`
nowconnect_target_up{connector="ad",target="dc2:389"} 1
nowconnect_target_up{connector="ad",target="dc1:389"} 1
nowconnect_target_up{connector="pg",target="db:5432"} 0
`);
    expect(targetHealth(s, 'ad')).toEqual({ status: 'ok', detail: '2 of 2 target(s) of "ad" healthy', lines: ['dc1:389: up', 'dc2:389: up'] });
  });

  it('some down: warn, with the connect failures by reason', () => {
    const s = parseProm(`
nowconnect_target_up{connector="ad",target="dc1:389"} 0
nowconnect_target_up{connector="ad",target="dc2:389"} 1
nowconnect_target_connect_failures_total{connector="ad",reason="refused"} 7
nowconnect_target_connect_failures_total{connector="ad",reason="timeout"} 0
`);
    const v = targetHealth(s, 'ad');
    expect(v.status).toBe('warn');
    expect(v.lines).toEqual(['dc1:389: DOWN', 'dc2:389: up', 'nowconnect_target_connect_failures_total{connector="ad",reason="refused"} 7']);
  });

  it('all down: fail; nothing reported: note', () => {
    expect(targetHealth(parseProm('nowconnect_target_up{connector="ad",target="dc1:389"} 0\n'), 'ad').status).toBe('fail');
    expect(targetHealth([], 'ad').status).toBe('note');
  });
});
