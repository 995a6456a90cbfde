/**
 * Proves the e2e harness itself (no hub/agent needed): real redis-server, real slapd, TCP targets,
 * CONNECT proxy, TLS material, process wrapper, metrics parser and JWT minting.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import {
  LDAP_BIG_DESCRIPTION_CHARS,
  LDAP_SEED_UIDS,
  Proc,
  cleanupAll,
  connectTcp,
  connectViaProxy,
  freePort,
  ldapsearch,
  makeCa,
  makeCert,
  makeTmpDir,
  metricValue,
  mintToken,
  mintUnsigned,
  pumpEcho,
  readUntilClose,
  redisPing,
  sha256,
  startConnectProxy,
  startEchoServer,
  startRedis,
  startSinkServer,
  startSlapd,
  startStallServer,
  tlsTerminatingProxy,
  type RedisHandle,
  type SlapdHandle,
  type TargetServer,
} from './support';

const MiB = 1024 * 1024;
const closers: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await cleanupAll();
});

describe('harness: redis-server', () => {
  let redis: RedisHandle;

  beforeAll(async () => {
    redis = await startRedis();
    closers.push(() => redis.stop());
  });

  it('runs a private redis (never 6379) that answers PING', async () => {
    expect(redis.port).not.toBe(6379);
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}/0`);
    await expect(redisPing(redis.port)).resolves.toBe('+PONG');
  });

  it('survives kill -9 and restarts on the same port', async () => {
    const oldPid = redis.proc.pid;
    await redis.kill();
    expect(redis.proc.exit?.signal).toBe('SIGKILL');
    await expect(redisPing(redis.port, 2000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await redis.restart();
    expect(redis.proc.pid).not.toBe(oldPid);
    await expect(redisPing(redis.port)).resolves.toBe('+PONG');
  });
});

describe('harness: OpenLDAP slapd', () => {
  let slapd: SlapdHandle;

  beforeAll(async () => {
    slapd = await startSlapd();
    closers.push(() => slapd.stop());
  });

  it('answers an anonymous search with the seeded users', async () => {
    const r = await ldapsearch(slapd.url, slapd.baseDn, '(objectClass=inetOrgPerson)', { attrs: ['uid'] });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const uids = [...r.stdout.matchAll(/^uid: (\S+)$/gm)].map((m) => m[1]).sort();
    expect(uids).toEqual([...LDAP_SEED_UIDS].sort());
  });

  it('serves an entry large enough to span several TCP segments', async () => {
    const r = await ldapsearch(slapd.url, slapd.baseDn, '(uid=alice)', { attrs: ['description'] });
    expect(r.code).toBe(0);
    const desc = /^description: (.*)$/m.exec(r.stdout)?.[1] ?? '';
    expect(desc.length).toBe(LDAP_BIG_DESCRIPTION_CHARS);
  });

  it('reports "cannot contact" (255) for a port with no server', async () => {
    const r = await ldapsearch(`ldap://127.0.0.1:${await freePort()}`, slapd.baseDn, '(uid=*)', { timeoutMs: 5000 });
    expect(r.code).toBe(255);
  });
});

describe('harness: TCP targets', () => {
  let echo: TargetServer;

  beforeAll(async () => {
    echo = await startEchoServer();
    closers.push(() => echo.close());
  });

  it('echoes 1 MiB exactly (sha256 both ways, half-close)', async () => {
    const r = await pumpEcho(echo.port, MiB);
    expect(r.recvBytes).toBe(MiB);
    expect(r.recvSha).toBe(r.sentSha);
  });

  it('keeps the reverse direction open after the client half-closes', async () => {
    const s = await connectTcp(echo.port);
    s.end('late');
    const info = await readUntilClose(s);
    expect(info.data.toString()).toBe('late');
    expect(info.ended).toBe(true);
    expect(info.error).toBeUndefined();
  });

  it('sink counts and hashes what it receives', async () => {
    const sink = await startSinkServer();
    closers.push(() => sink.close());
    const payload = Buffer.alloc(300_000, 7);
    const s = await connectTcp(sink.port);
    s.end(payload);
    const res = await sink.nextResult();
    expect(res).toEqual({
      bytes: payload.length,
      sha256: sha256(payload),
      ended: true,
    });
    await readUntilClose(s);
  });

  it('stall server never reads, so a writer sees backpressure', async () => {
    const stall = await startStallServer();
    closers.push(() => stall.close());
    const s = await connectTcp(stall.port);
    await stall.waitForConnections(1);
    const chunk = Buffer.alloc(64 * 1024);
    let written = 0;
    let full = false;
    for (let i = 0; i < 4096 && !full; i++) {
      full = !s.write(chunk);
      written += chunk.length;
    }
    expect(full).toBe(true);
    expect(written).toBeLessThan(4096 * chunk.length);
    s.destroy();
  });
});

describe('harness: HTTP CONNECT proxy', () => {
  it('relays a TCP connection after Basic auth and refuses without it', async () => {
    const echo = await startEchoServer();
    const auth = { user: 'u1', pass: 'p@ss' };
    const proxy = await startConnectProxy({ auth });
    closers.push(() => proxy.close(), () => echo.close());
    expect(proxy.url).toBe(`http://u1:p%40ss@127.0.0.1:${proxy.port}`);

    await expect(connectViaProxy(proxy.port, `127.0.0.1:${echo.port}`)).rejects.toMatchObject({ status: 407 });

    const s = await connectViaProxy(proxy.port, `127.0.0.1:${echo.port}`, { auth });
    const r = await pumpEcho(0, 256 * 1024, { socket: s });
    expect(r.recvBytes).toBe(256 * 1024);
    expect(r.recvSha).toBe(r.sentSha);
    expect(proxy.connectCount()).toBe(1);
    expect(proxy.connects.map((c) => c.status)).toEqual([407, 200]);
    expect(echo.accepted()).toBe(1);
  });

  it('answers 502 when the target refuses', async () => {
    const proxy = await startConnectProxy();
    closers.push(() => proxy.close());
    const dead = await freePort();
    await expect(connectViaProxy(proxy.port, `127.0.0.1:${dead}`)).rejects.toMatchObject({ status: 502 });
  });
});

describe('harness: TLS material', () => {
  const dir = makeTmpDir('nc-tls-');

  it('makes a CA and certs that tls.createServer accepts and a verifying client trusts (mTLS too)', async () => {
    const ca = await makeCa(dir);
    const server = await makeCert(ca, { cn: 'hub.test', sans: ['IP:127.0.0.1', 'DNS:localhost'] });
    const client = await makeCert(ca, { cn: 'hub-b', clientAuth: true });
    for (const f of [ca.certFile, ca.keyFile, server.certFile, server.keyFile, client.certFile, client.keyFile]) {
      expect(fs.statSync(f).size).toBeGreaterThan(0);
    }
    expect(path.dirname(server.certFile)).toBe(dir);

    const srv = tls.createServer({
      cert: server.certPem,
      key: server.keyPem,
      ca: fs.readFileSync(ca.certFile),
      requestCert: true,
      rejectUnauthorized: true,
    });
    const peerCns: unknown[] = [];
    srv.on('secureConnection', (s) => {
      peerCns.push(s.getPeerCertificate().subject?.CN);
      s.end('hello');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => srv.close(r)));
    const port = (srv.address() as net.AddressInfo).port;

    const hello = await new Promise<string>((resolve, reject) => {
      const c = tls.connect({
        host: '127.0.0.1',
        port,
        ca: fs.readFileSync(ca.certFile),
        cert: client.certPem,
        key: client.keyPem,
      });
      let got = '';
      c.setEncoding('utf8');
      c.on('secureConnect', () => {
        if (!c.authorized) reject(new Error(`not authorized: ${String(c.authorizationError)}`));
      });
      c.on('data', (d: string) => (got += d));
      c.on('end', () => resolve(got));
      c.on('error', reject);
    });
    expect(hello).toBe('hello');
    expect(peerCns).toEqual(['hub-b']);

    // a client that does not trust the CA is refused by verification
    const err = await new Promise<Error>((resolve) => {
      const c = tls.connect({ host: '127.0.0.1', port, cert: client.certPem, key: client.keyPem });
      c.on('error', resolve);
      c.on('secureConnect', () => resolve(new Error('unexpectedly connected')));
    });
    // (the server may send the CA along with its leaf, hence either code)
    expect((err as NodeJS.ErrnoException).code).toMatch(/^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)$/);
  });

  it('tlsTerminatingProxy carries exact bytes to a plain target', async () => {
    const ca = await makeCa(path.join(dir, 'ingress'));
    const cert = await makeCert(ca, { cn: 'localhost' });
    const echo = await startEchoServer();
    const ingress = await tlsTerminatingProxy({ certFile: cert.certFile, keyFile: cert.keyFile, targetPort: echo.port });
    closers.push(() => ingress.close(), () => echo.close());
    const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port: ingress.port, ca: ca.certPem });
      c.once('secureConnect', () => resolve(c));
      c.once('error', reject);
    });
    const r = await pumpEcho(0, 512 * 1024, { socket: s });
    expect(r.recvSha).toBe(r.sentSha);
    expect(ingress.connections()).toBe(1);
  });
});

describe('harness: Proc', () => {
  const script = [
    "const log = (o) => process.stdout.write(JSON.stringify(o) + '\\n');",
    "log({ event: 'started', n: 1 });",
    "process.stderr.write('some warning\\n');",
    "setTimeout(() => log({ event: 'later', n: 2 }), 100);",
    "process.on('SIGTERM', () => { log({ event: 'bye' }); process.exit(0); });",
    'setInterval(() => undefined, 1000);',
  ].join('\n');

  it('collects JSON events (past and future), stderr, and stops by pid', async () => {
    const p = new Proc(process.execPath, ['-e', script], { name: 'fake' });
    expect(await p.waitForEvent('started')).toEqual({ event: 'started', n: 1 });
    expect(await p.waitForEvent('later', (e) => e.n === 2)).toMatchObject({ n: 2 });
    expect(await p.waitForEvent('started')).toMatchObject({ n: 1 }); // already seen
    await p.waitForLine('some warning');
    expect(p.stderrText()).toContain('some warning');
    await expect(p.waitForEvent('never', undefined, 200)).rejects.toThrow(/timed out after 200 ms.*\n[\s\S]*started/);
    const mark = p.mark();
    const waitingStarted = p.waitForEventSince(mark, 'started', undefined, 5000);
    const exit = await p.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(p.eventsNamed('bye')).toHaveLength(1);
    await expect(waitingStarted).rejects.toThrow(/exited \(code=0/);
    expect(p.stdoutLines()[0]).toBe('{"event":"started","n":1}');
  });

  it('rejects a waiter when the process exits first, and kill() is SIGKILL', async () => {
    const dies = new Proc(process.execPath, ['-e', "console.log('{\"event\":\"x\"}'); process.exit(3)"]);
    await expect(dies.waitForEvent('y')).rejects.toThrow(/code=3/);
    expect(await dies.waitForExit(5000)).toEqual({ code: 3, signal: null });

    const sleeper = new Proc(process.execPath, [
      '-e',
      "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000)",
    ]);
    await sleeper.waitForLine('ready');
    expect(await sleeper.kill()).toEqual({ code: null, signal: 'SIGKILL' });
  });
});

describe('harness: metrics and JWT helpers', () => {
  it('metricValue sums the series that carry all given labels', () => {
    const text = [
      '# HELP nowconnect_tcp_bytes_total bytes',
      '# TYPE nowconnect_tcp_bytes_total counter',
      'nowconnect_tcp_bytes_total{direction="c2a",connector="ldap"} 100',
      'nowconnect_tcp_bytes_total{direction="a2c",connector="ldap"} 40',
      'nowconnect_tcp_bytes_total{direction="c2a",connector="pg"} 7',
      'nowconnect_agents_connected 2',
    ].join('\n');
    expect(metricValue(text, 'nowconnect_tcp_bytes_total', { direction: 'c2a', connector: 'ldap' })).toBe(100);
    expect(metricValue(text, 'nowconnect_tcp_bytes_total', { direction: 'c2a' })).toBe(107);
    expect(metricValue(text, 'nowconnect_tcp_bytes_total')).toBe(147);
    expect(metricValue(text, 'nowconnect_agents_connected')).toBe(2);
    expect(metricValue(text, 'nowconnect_no_agent_total', { connector: 'ldap' })).toBe(0);
  });

  it('mints HS256 tokens jose accepts, expired ones it refuses, and alg:none by hand', async () => {
    const secret = 'k'.repeat(32);
    const key = new TextEncoder().encode(secret);
    const t = await mintToken({ secret, sub: 'agent-1', scope: ['connector:ldap', 'connector:pg'] });
    const { payload } = await jwtVerify(t, key, { audience: 'nowconnect', algorithms: ['HS256'] });
    expect(payload).toMatchObject({ sub: 'agent-1', aud: 'nowconnect', scope: 'connector:ldap connector:pg' });

    const expired = await mintToken({ secret, sub: 'agent-1', expSec: -120 });
    await expect(jwtVerify(expired, key)).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });

    const none = mintUnsigned({ sub: 'agent-1' });
    expect(decodeProtectedHeader(none).alg).toBe('none');
    expect(none.endsWith('.')).toBe(true);
    await expect(jwtVerify(none, key)).rejects.toThrow();
  });
});
