/**
 * Helpers of the deployment tests (docker-compose.yml, Dockerfile, deploy/k8s): run a system tool,
 * read certificates, parse a Dockerfile and a .dockerignore, parse mounted files generically.
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { findBin } from './bins';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a system binary to completion (bounded by `timeoutMs`); never throws on a non-zero exit. */
export function runTool(bin: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): RunResult {
  try {
    const stdout = execFileSync(bin.includes('/') ? bin : findBin(bin), args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      timeout: opts.timeoutMs ?? 60_000,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status?: number | null; stdout?: string; stderr?: string; message: string };
    return { code: e.status ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

/** An environment without the parent's NC_* variables (they would leak into compose or the loader). */
export function envWithout(prefixes: string[], extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!prefixes.some((p) => k.startsWith(p))) env[k] = v;
  }
  return { ...env, ...extra };
}

// ---- certificates -----------------------------------------------------------------------------------

/** `openssl x509 -noout -ext subjectAltName` → ['DNS:a', 'IP:127.0.0.1', ...] (IP Address: → IP:). */
export function certSans(certFile: string): string[] {
  const r = runTool('openssl', ['x509', '-in', certFile, '-noout', '-ext', 'subjectAltName']);
  if (r.code !== 0) throw new Error(`openssl x509 ${certFile}: ${r.stderr}`);
  const line = r.stdout.split('\n').slice(1).join(' ').trim();
  return line
    .split(',')
    .map((s) => s.trim().replace(/^IP Address:/, 'IP:'))
    .filter(Boolean);
}

/** Does a SAN list cover `host` (exact DNS, one-label wildcard, or IP)? Node's checkServerIdentity is the authority. */
export function sansCover(certFile: string, host: string): boolean {
  const cert = new crypto.X509Certificate(fs.readFileSync(certFile));
  return cert.checkHost(host) !== undefined || cert.checkIP(host) !== undefined;
}

/** cert signed by ca, and key is the cert's private key. */
export function certChecks(certFile: string, keyFile: string, caFile: string): { signedByCa: boolean; keyMatches: boolean; eku: string[] } {
  const cert = new crypto.X509Certificate(fs.readFileSync(certFile));
  const ca = new crypto.X509Certificate(fs.readFileSync(caFile));
  const key = crypto.createPrivateKey(fs.readFileSync(keyFile));
  return { signedByCa: cert.verify(ca.publicKey), keyMatches: cert.checkPrivateKey(key), eku: cert.keyUsage ?? [] };
}

// ---- Dockerfile ------------------------------------------------------------------------------------

export interface DockerInstruction {
  op: string; // upper case
  args: string;
  stage: string; // the stage's AS name (or its index)
}

/** Instructions of a Dockerfile (continuations joined, comments dropped), each tagged with its stage. */
export function parseDockerfile(text: string): { stages: Array<{ name: string; from: string }>; instructions: DockerInstruction[] } {
  const logical: string[] = [];
  let acc = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (acc === '' && /^\s*#/.test(line)) continue;
    if (line.endsWith('\\')) {
      acc += `${line.slice(0, -1)} `;
      continue;
    }
    acc += line;
    if (acc.trim() !== '') logical.push(acc.trim());
    acc = '';
  }
  const stages: Array<{ name: string; from: string }> = [];
  const instructions: DockerInstruction[] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+(.*)$/s.exec(l);
    if (m === null) continue;
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ from: f?.[1] ?? args, name: f?.[2] ?? String(stages.length) });
    }
    instructions.push({ op, args, stage: stages[stages.length - 1]?.name ?? '' });
  }
  return { stages, instructions };
}

/** The JSON (exec) form of a CMD/HEALTHCHECK argument list, or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  const start = args.indexOf('[');
  if (start < 0) return undefined;
  try {
    const v = JSON.parse(args.slice(start)) as unknown;
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Would `.dockerignore` keep `relPath` out of the build context? Implements the rules the file uses:
 * patterns in order, the last match wins, `!` re-includes, `**` any depth, `*` within one segment, and
 * a pattern that matches a directory matches everything under it.
 */
export function dockerIgnored(patterns: string[], relPath: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    const pat = (negate ? line.slice(1) : line).replace(/^\/+/, '');
    if (globMatches(pat, relPath)) ignored = !negate;
  }
  return ignored;
}

function globMatches(pattern: string, rel: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}(/.*)?$`).test(rel);
}

// ---- generic parsing of mounted files -----------------------------------------------------------------

/** Every regular file under `p` (p itself when it is a file). */
export function filesUnder(p: string): string[] {
  const st = fs.statSync(p);
  if (st.isFile()) return [p];
  return fs.readdirSync(p).flatMap((name) => filesUnder(path.join(p, name)));
}

/** Parse a mounted file by extension: YAML (every document), JSON, LDIF (dn-led records); others: readable. */
export function parseMountedFile(file: string): void {
  const text = fs.readFileSync(file, 'utf8');
  if (/\.ya?ml$/.test(file)) {
    for (const doc of parseAllDocuments(text)) {
      if ('errors' in doc && doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    }
  } else if (file.endsWith('.json')) {
    JSON.parse(text);
  } else if (file.endsWith('.ldif')) {
    const records = text
      .split(/\n\s*\n/)
      .map((r) => r.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')))
      .filter((r) => r.length > 0);
    if (records.length === 0) throw new Error(`${file}: no LDIF records`);
    for (const r of records) {
      if (!/^dn: /.test(r[0]!)) throw new Error(`${file}: record does not start with dn: (${r[0]})`);
      if (!r.every((l) => /^[A-Za-z][\w;-]*::? /.test(l) || l.startsWith(' '))) throw new Error(`${file}: bad LDIF line in ${r[0]}`);
    }
  }
}

export function readYaml<T = unknown>(file: string): T {
  return parseYaml(fs.readFileSync(file, 'utf8')) as T;
}
