import { describeRedisUrl, parseRedisUrl, RedisUrlError, validateRedisUrl } from './redis-url';

describe('parseRedisUrl', () => {
  it('parses standalone redis:// and rediss:// URLs', () => {
    expect(parseRedisUrl('redis://shared_redis:6379/0')).toEqual({
      kind: 'standalone', host: 'shared_redis', port: 6379, db: 0, tls: false,
    });
    expect(parseRedisUrl('redis://127.0.0.1')).toEqual({ kind: 'standalone', host: '127.0.0.1', port: 6379, db: 0, tls: false });
    expect(parseRedisUrl('rediss://:s3cret@redis.example:6380/2')).toEqual({
      kind: 'standalone', host: 'redis.example', port: 6380, db: 2, tls: true, password: 's3cret',
    });
    expect(parseRedisUrl('redis://app:p%40ss%3Aword@h:1/')).toEqual({
      kind: 'standalone', host: 'h', port: 1, db: 0, tls: false, username: 'app', password: 'p@ss:word',
    });
    expect(parseRedisUrl('REDIS://[::1]:7000/3')).toEqual({ kind: 'standalone', host: '::1', port: 7000, db: 3, tls: false });
    expect(parseRedisUrl('redis://user@h')).toMatchObject({ username: 'user' });
  });

  it('parses redis+sentinel:// with hosts, master name and db', () => {
    expect(parseRedisUrl('redis+sentinel://s1:26379,s2:26380/mymaster')).toEqual({
      kind: 'sentinel',
      sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }],
      name: 'mymaster',
      db: 0,
      tls: false,
    });
    expect(parseRedisUrl('rediss+sentinel://:pw@s1,[fd00::2]:5000/nc-master.1/4')).toEqual({
      kind: 'sentinel',
      sentinels: [{ host: 's1', port: 26379 }, { host: 'fd00::2', port: 5000 }],
      name: 'nc-master.1',
      db: 4,
      tls: true,
      password: 'pw',
    });
  });

  it('parses redis+cluster:// and rediss+cluster:// seed lists', () => {
    expect(parseRedisUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001')).toEqual({
      kind: 'cluster',
      nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }],
      tls: false,
    });
    expect(parseRedisUrl('rediss+cluster://:pw@c1/0')).toEqual({
      kind: 'cluster', nodes: [{ host: 'c1', port: 6379 }], tls: true, password: 'pw',
    });
  });

  it.each([
    ['', /empty URL/],
    ['   ', /empty URL/],
    ['localhost:6379', /not a URL/],
    ['http://h:6379', /unsupported scheme 'http:\/\/'/],
    ['redis+foo://h', /unsupported scheme 'redis\+foo:\/\/'/],
    ['redis://', /no host/],
    ['redis://h:0', /port "0" is not a number 1-65535/],
    ['redis://h:65536', /port "65536"/],
    ['redis://h:abc', /port "abc"/],
    ['redis://h:6379/x', /db "x" is not a non-negative integer/],
    ['redis://h:6379/-1', /db "-1"/],
    ['redis://h/0/1', /path must be \/<db>/],
    ['redis://h1,h2', /takes one host \(got 2\); use redis\+sentinel:\/\/ or redis\+cluster:\/\//],
    ['redis://h?family=6', /query parameters/],
    ['redis://h#x', /fragment/],
    ['redis://bad host', /whitespace/],
    ['redis://-h', /"-h" is not a valid host name/],
    ['redis://::1', /IPv6 address must be written in brackets/],
    ['redis://[::1', /unterminated "\["/],
    ['redis://[zz]:1', /"zz" is not an IPv6 address/],
    ['redis://[::1]x', /expected ":port" after "\]"/],
    ['redis://:@h', /empty password/],
    ['redis://@h', /empty credentials/],
    ['redis://:%zz@h', /invalid percent-encoding in the password/],
    ['redis+sentinel://s1:26379', /needs a master name/],
    ['redis+sentinel://s1:26379/', /needs a master name/],
    ['redis+sentinel://s1:26379/my master', /whitespace/],
    ['redis+sentinel://s1/m$aster', /master name must be/],
    ['redis+sentinel://s1/m/1/2', /path must be \/<master-name>\[\/db\]/],
    ['redis+sentinel://s1,,s2/m', /host #2 is empty/],
    ['redis+sentinel://s1,s2:x/m', /host #2: port "x"/],
    ['redis+cluster://c1:7000,c2:7001/1', /Redis Cluster has only database 0/],
    ['redis+cluster://c1:7000/0/0', /only database 0/],
    ['redis://h//0', /empty path segment/],
  ])('rejects %j', (url, msg) => {
    expect(() => parseRedisUrl(url)).toThrow(RedisUrlError);
    expect(() => parseRedisUrl(url)).toThrow(msg);
    expect(validateRedisUrl(url)).toMatch(msg);
  });

  it('never echoes credentials in an error', () => {
    for (const url of [
      'redis://:hunter2@h:99999',
      'redis+sentinel://:hunter2@s1',
      'redis+cluster://u:hunter2@c1/5',
      'redis://:hunter2@h1,h2',
      'foo://:hunter2@h',
    ]) {
      const detail = validateRedisUrl(url);
      expect(detail).toBeDefined();
      expect(detail).not.toContain('hunter2');
    }
  });

  it('validateRedisUrl returns undefined for a good URL', () => {
    expect(validateRedisUrl('redis://127.0.0.1:6379/0')).toBeUndefined();
    expect(validateRedisUrl('redis+sentinel://127.0.0.1:26379/mymaster')).toBeUndefined();
    expect(validateRedisUrl('redis+cluster://127.0.0.1:7000,127.0.0.1:7001')).toBeUndefined();
  });

  it('describes a URL without its credentials', () => {
    expect(describeRedisUrl(parseRedisUrl('rediss+cluster://:pw@c1:7000,[::1]:7001'))).toBe('cluster c1:7000,[::1]:7001 tls auth');
    expect(describeRedisUrl(parseRedisUrl('redis+sentinel://s1/mymaster/2'))).toBe('sentinel s1:26379 master=mymaster db=2');
    expect(describeRedisUrl(parseRedisUrl('redis://h'))).toBe('standalone h:6379/0');
  });
});

describe('RedisStore with a bad URL', () => {
  it('throws the RedisUrlError before any connection attempt', async () => {
    const { RedisStore } = await import('./redis-store');
    expect(() => new RedisStore({ url: 'redis+sentinel://127.0.0.1:1' })).toThrow(RedisUrlError);
    expect(() => new RedisStore({ url: 'redis+sentinel://127.0.0.1:1' })).toThrow(/needs a master name/);
  });
});
