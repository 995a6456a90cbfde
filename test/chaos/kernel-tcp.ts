/**
 * The kernel's view of one of our TCP sockets (Linux /proc/net/tcp{,6}).
 *
 * Why the checker needs it: Node (libuv before the fix of libuv PR #4997, e.g. libuv 1.46 in
 * Node 20) reports a peer's RST that arrives behind unread data as a clean 'end' (its POLLHUP
 * short-circuit after a partial read skips the read that would return ECONNRESET). A client
 * reading with plain recv() sees the data and then ECONNRESET. To judge what the wire said, the
 * checker looks the socket up when Node reports an early end: a FIN leaves it in the table
 * (CLOSE_WAIT, or TIME_WAIT/LAST_ACK/CLOSING when we had ended too); an RST takes it out (CLOSE).
 */
import * as fs from 'node:fs';

export type KernelTcpState = 'fin' | 'reset' | 'unknown';

const FIN_STATES = new Set(['06', '08', '09', '0B']); // TIME_WAIT, CLOSE_WAIT, LAST_ACK, CLOSING
const OPEN_STATES = new Set(['01', '04', '05']); // ESTABLISHED, FIN_WAIT1, FIN_WAIT2

function states(localPort: number, remotePort: number): string[] {
  const lp = localPort.toString(16).toUpperCase().padStart(4, '0');
  const rp = remotePort.toString(16).toUpperCase().padStart(4, '0');
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      const remote = f[2];
      if (local === undefined || remote === undefined || f[3] === undefined) continue;
      if (local.endsWith(`:${lp}`) && remote.endsWith(`:${rp}`)) out.push(f[3]);
    }
  }
  return out;
}

/**
 * After Node reported 'end' on a connected socket: did a FIN or an RST end the peer's direction?
 * 'unknown' when /proc/net/tcp is not readable (not Linux) or the state is ambiguous.
 */
export function kernelEnd(localPort: number | undefined, remotePort: number | undefined): KernelTcpState {
  if (localPort === undefined || remotePort === undefined) return 'unknown';
  if (!fs.existsSync('/proc/net/tcp')) return 'unknown';
  const st = states(localPort, remotePort);
  if (st.length === 0) return 'reset';
  if (st.some((s) => FIN_STATES.has(s))) return 'fin';
  if (st.some((s) => OPEN_STATES.has(s))) return 'unknown';
  return 'unknown';
}
