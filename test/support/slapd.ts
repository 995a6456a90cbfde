import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findBin } from './bins';
import { freePort } from './ports';
import { Proc } from './proc';
import { makeTmpDir } from './tmp';

export const LDAP_BASE_DN = 'dc=example,dc=org';
export const LDAP_ADMIN_DN = 'cn=admin,dc=example,dc=org';
export const LDAP_ADMIN_PW = 'admin';
/** uids of the seeded inetOrgPerson entries under ou=people. */
export const LDAP_SEED_UIDS = ['alice', 'bob', 'carol', 'dave'] as const;
/** alice's description is this long, so her entry spans several TCP segments. */
export const LDAP_BIG_DESCRIPTION_CHARS = 12_000;

export interface SlapdHandle {
  port: number;
  /** ldap://127.0.0.1:<port> */
  url: string;
  baseDn: string;
  proc: Proc;
  dir: string;
  stop(): Promise<void>;
}

export interface LdapResult {
  code: number;
  stdout: string;
  stderr: string;
}

const LDAP_ENV = { ...process.env, LDAPNOINIT: '1' }; // ignore ~/.ldaprc and /etc/ldap/ldap.conf

function bigDescription(): string {
  // deterministic text, ASCII only (so ldapsearch prints it plainly, folded at 76 columns)
  const words = ['tunnel', 'agent', 'hub', 'flow', 'frame', 'window', 'mesh', 'epoch'];
  const out: string[] = [];
  let len = 0;
  for (let i = 0; len < LDAP_BIG_DESCRIPTION_CHARS; i++) {
    const w = `${words[i % words.length] ?? 'x'}${i}`;
    out.push(w);
    len += w.length + 1;
  }
  return out.join(' ').slice(0, LDAP_BIG_DESCRIPTION_CHARS);
}

function seedLdif(): string {
  const entries = [
    `dn: ${LDAP_BASE_DN}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\no: Example Org\ndc: example`,
    `dn: ou=people,${LDAP_BASE_DN}\nobjectClass: organizationalUnit\nou: people`,
  ];
  for (const uid of LDAP_SEED_UIDS) {
    const cn = uid.charAt(0).toUpperCase() + uid.slice(1);
    const lines = [
      `dn: uid=${uid},ou=people,${LDAP_BASE_DN}`,
      'objectClass: inetOrgPerson',
      `uid: ${uid}`,
      `cn: ${cn} Example`,
      'sn: Example',
      `givenName: ${cn}`,
      `mail: ${uid}@example.org`,
    ];
    if (uid === 'alice') lines.push(`description: ${bigDescription()}`);
    entries.push(lines.join('\n'));
  }
  return `${entries.join('\n\n')}\n`;
}

function slapdConf(dir: string): string {
  const schemaDir = '/etc/ldap/schema';
  const schemas = ['core', 'cosine', 'nis', 'inetorgperson'].map((s) => `include ${schemaDir}/${s}.schema`);
  return [
    ...schemas,
    `pidfile ${path.join(dir, 'slapd.pid')}`,
    `argsfile ${path.join(dir, 'slapd.args')}`,
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    'database mdb',
    'maxsize 104857600',
    `suffix "${LDAP_BASE_DN}"`,
    `rootdn "${LDAP_ADMIN_DN}"`,
    `rootpw ${LDAP_ADMIN_PW}`,
    `directory ${path.join(dir, 'db')}`,
    'access to * by * read',
    '',
  ].join('\n');
}

function run(bin: string, args: string[], timeoutMs: number): Promise<LdapResult> {
  return new Promise((resolve) => {
    execFile(
      bin,
      args,
      { env: LDAP_ENV, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        let code = 0;
        if (err) {
          const c = (err as { code?: unknown }).code;
          code = typeof c === 'number' ? c : -1;
        }
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/**
 * Anonymous `ldapsearch -x -LLL -H <url> -b <baseDn> <filter> [attrs...]`.
 * Exit code 0 = success; 255 = cannot contact server; 32 = no such object.
 */
export function ldapsearch(
  url: string,
  baseDn: string,
  filter = '(objectClass=*)',
  opts: { attrs?: string[]; scope?: 'base' | 'one' | 'sub'; timeoutMs?: number; extraArgs?: string[] } = {},
): Promise<LdapResult> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const netTimeout = Math.max(1, Math.floor(timeoutMs / 1000) - 1);
  const args = [
    '-x', '-LLL', '-o', `nettimeout=${netTimeout}`, '-o', 'ldif-wrap=no',
    '-H', url, '-b', baseDn,
    ...(opts.scope ? ['-s', opts.scope] : []),
    ...(opts.extraArgs ?? []),
    filter,
    ...(opts.attrs ?? []),
  ];
  return run(findBin('ldapsearch'), args, timeoutMs);
}

/** A throwaway OpenLDAP slapd (mdb backend, seeded, anonymous read) on a free 127.0.0.1 port. */
export async function startSlapd(opts: { timeoutMs?: number } = {}): Promise<SlapdHandle> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const dir = makeTmpDir('nc-slapd-');
  fs.mkdirSync(path.join(dir, 'db'));
  const confPath = path.join(dir, 'slapd.conf');
  const seedPath = path.join(dir, 'seed.ldif');
  fs.writeFileSync(confPath, slapdConf(dir));
  fs.writeFileSync(seedPath, seedLdif());

  const added = await run(findBin('slapadd'), ['-q', '-f', confPath, '-l', seedPath], timeoutMs);
  if (added.code !== 0) {
    throw new Error(`slapadd failed (exit ${added.code}):\n${added.stderr}\n${added.stdout}`);
  }

  // A free port can be taken by a parallel test worker before slapd binds it: retry on a new port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(dir, confPath, await freePort(), timeoutMs);
    } catch (e) {
      if (attempt >= 3 || !(e instanceof Error && /exited during start-up/.test(e.message))) throw e;
    }
  }
}

async function launch(dir: string, confPath: string, port: number, timeoutMs: number): Promise<SlapdHandle> {
  const url = `ldap://127.0.0.1:${port}`;
  // -d 0: stay in the foreground, no debug output; as root slapd runs fine without -u/-g.
  const proc = new Proc(findBin('slapd'), ['-d', '0', '-f', confPath, '-h', `${url}/`], {
    name: `slapd:${port}`,
    cwd: dir,
  });

  // No readiness event exists: poll an anonymous root-DSE search with a deadline; fail fast on exit.
  const deadline = Date.now() + timeoutMs;
  let last: LdapResult | undefined;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    if (!proc.running) {
      throw new Error(`slapd exited during start-up (${JSON.stringify(proc.exit)})\n${proc.tail()}`);
    }
    last = await ldapsearch(url, '', '(objectClass=*)', { scope: 'base', timeoutMs: 3000 });
    if (last.code === 0) {
      return {
        port,
        url,
        baseDn: LDAP_BASE_DN,
        proc,
        dir,
        stop: async () => {
          await proc.stop('SIGTERM');
        },
      };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await proc.kill();
  throw new Error(`slapd on ${port} not answering within ${timeoutMs} ms: ${last?.stderr ?? ''}\n${proc.tail()}`);
}

/**
 * Start a stopped (killed) slapd again on its old port and data (a target coming back). Resolves
 * once an anonymous root-DSE search answers; the returned handle replaces the old one.
 */
export async function restartSlapd(old: SlapdHandle, timeoutMs = 20_000): Promise<SlapdHandle> {
  if (old.proc.running) throw new Error(`slapd on ${old.port} is still running`);
  return launch(old.dir, path.join(old.dir, 'slapd.conf'), old.port, timeoutMs);
}
