/**
 * Log scan (issue 6 item 5): no line a hub or agent printed may hold a JWT, private key material,
 * a configured secret, or a payload marker pushed through flows — in any of the encodings a careless
 * logger would use (raw, hex, base64, base64url).
 */
import type { Proc } from './proc';

export interface LogScanOptions {
  /** Secrets (HS256 secrets, passwords): must never appear. */
  secrets?: string[];
  /** Payload markers pushed through flows or fuzzed frames. */
  markers?: string[];
  /** Whole tokens known to the test (also caught by the JWT pattern). */
  tokens?: string[];
}

export interface LogScanResult {
  /** Lines scanned (stdout + stderr of every process). */
  lines: number;
  processes: number;
  /** `<process>: <what>: <line, cut to 200 chars>` for every hit. */
  findings: string[];
}

/** Compact JWS of a JWT: header and payload are base64url JSON objects (`eyJ` = `{"`). */
const JWT = /eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/;
const KEY_MATERIAL = /-----BEGIN [A-Z ]*PRIVATE KEY-----|PRIVATE KEY-----/;

function encodings(s: string): string[] {
  const b = Buffer.from(s, 'utf8');
  // base64 of a prefix that is a multiple of 3 bytes is stable wherever the text sits.
  const cut = b.subarray(0, b.length - (b.length % 3));
  return [s, b.toString('hex'), cut.toString('base64'), cut.toString('base64url')].filter((x) => x.length >= 8);
}

export function scanLogs(procs: Proc[], opts: LogScanOptions = {}): LogScanResult {
  const needles: Array<{ what: string; text: string }> = [];
  for (const s of opts.secrets ?? []) for (const e of encodings(s)) needles.push({ what: 'secret', text: e });
  for (const m of opts.markers ?? []) for (const e of encodings(m)) needles.push({ what: 'payload marker', text: e });
  for (const t of opts.tokens ?? []) needles.push({ what: 'token', text: t });
  const findings: string[] = [];
  let lines = 0;
  for (const p of procs) {
    const all = [...p.stdoutLines(), ...p.stderrText().split('\n')];
    for (const line of all) {
      lines++;
      const hit = JWT.test(line)
        ? 'JWT'
        : KEY_MATERIAL.test(line)
          ? 'private key material'
          : needles.find((n) => line.includes(n.text))?.what;
      if (hit !== undefined) findings.push(`${p.name}: ${hit}: ${line.slice(0, 200)}`);
    }
  }
  return { lines, processes: procs.length, findings };
}
