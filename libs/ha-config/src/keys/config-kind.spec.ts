import { configKindOf } from './config-kind';

describe('configKindOf', () => {
  it('premise keys and no hub key => premise; anything else => cloud', () => {
    expect(configKindOf({ cloud_url: 'ws://h/tunnel', connectors: [] })).toBe('premise');
    expect(configKindOf({ auth: {}, listeners: [] })).toBe('cloud');
    expect(configKindOf({ auth: {}, agent_id: 'a' })).toBe('cloud');
    expect(configKindOf({})).toBe('cloud');
    expect(configKindOf('text')).toBe('cloud');
  });
});
