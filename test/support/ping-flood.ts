/**
 * Ping floods from a peer that never reads (issue 13 finding 4): blocks of tunnel PING frames or
 * WebSocket-level pings, as raw WebSocket bytes, and a flooder process that opens /tunnel, says
 * HELLO, stops reading and writes the blocks (respecting its own socket's backpressure) until
 * `total` bytes are written or the hub closes the connection.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeControl, encodePing, FrameType } from '@nowconnect/frames';
import { nodeWithFds } from './flood-procs';
import type { Proc } from './proc';
import { makeTmpDir } from './tmp';

export const BLOCK_BYTES = 1024 * 1024;

/** One WebSocket binary frame (masked with a zero key when `masked`) around `payload`. */
function wsBinary(payload: Buffer, masked: boolean): Buffer {
  const head = Buffer.alloc(masked ? 14 : 10);
  head[0] = 0x82;
  head[1] = 127 | (masked ? 0x80 : 0);
  head.writeUInt32BE(0, 2);
  head.writeUInt32BE(payload.length, 6);
  return Buffer.concat([head, payload]);
}

/**
 * About BLOCK_BYTES of flood as raw WebSocket bytes: `tunnel` = one binary message of 20-byte
 * PING frames; `ws` = empty WebSocket ping frames (6 bytes masked, 2 unmasked).
 */
export function floodBlock(kind: 'tunnel' | 'ws', masked: boolean): Buffer {
  if (kind === 'tunnel') {
    const ping = encodePing(FrameType.PING, Buffer.alloc(8, 7));
    return wsBinary(Buffer.concat(Array.from({ length: Math.floor(BLOCK_BYTES / ping.length) }, () => ping)), masked);
  }
  const one = masked ? Buffer.from([0x89, 0x80, 0, 0, 0, 0]) : Buffer.from([0x89, 0x00]);
  return Buffer.concat(Array.from({ length: Math.floor(BLOCK_BYTES / one.length) }, () => one));
}

export interface FloodResult {
  sent_mib: number;
  /** The hub closed (or reset) the connection before everything was written. */
  closed: boolean;
  /** ms from the first flood write to the close (or to the last write). */
  ms: number;
}

const SCRIPT = `
const fs = require('fs');
const WebSocket = require(process.argv[1]);
const [url, token, helloFile, blockFile, total, deadline] = process.argv.slice(2);
const hello = fs.readFileSync(helloFile), block = fs.readFileSync(blockFile), totalBytes = Number(total);
const ws = new WebSocket(url, { headers: { Authorization: 'Bearer ' + token }, perMessageDeflate: false });
let sent = 0, closed = false, t0 = 0, done = false;
function finish() {
  if (done) return; done = true;
  console.log(JSON.stringify({ event: 'flood_done', sent_mib: +(sent / 1048576).toFixed(1), closed, ms: Date.now() - t0 }));
  setTimeout(() => process.exit(0), 50);
}
ws.on('error', () => {});
ws.on('open', () => ws.send(hello));
ws.once('message', () => {
  const sock = ws._socket;
  sock.removeAllListeners('data');
  sock.pause();
  sock.on('error', () => {});
  sock.on('close', () => { closed = sent < totalBytes; finish(); });
  t0 = Date.now();
  const pump = () => {
    while (!sock.destroyed && sent < totalBytes) {
      sent += block.length;
      if (!sock.write(block)) { sock.once('drain', pump); return; }
    }
    if (sent >= totalBytes) finish();
  };
  pump();
});
setTimeout(finish, Number(deadline)).unref();
`;

/** Starts the flooder against a hub's /tunnel; resolves with its result line. */
export async function floodHub(opts: { url: string; token: string; agentId: string; connectors: string[]; kind: 'tunnel' | 'ws'; totalBytes: number; deadlineMs: number }): Promise<{ proc: Proc; result: FloodResult }> {
  const dir = makeTmpDir('nc-flood-');
  const helloFile = path.join(dir, 'hello.bin');
  const blockFile = path.join(dir, 'block.bin');
  fs.writeFileSync(helloFile, encodeControl(FrameType.HELLO, { agent_id: opts.agentId, connectors: opts.connectors, version: 'flood' }));
  fs.writeFileSync(blockFile, floodBlock(opts.kind, true));
  const proc = nodeWithFds(`flooder:${opts.kind}`, 1024, SCRIPT, [require.resolve('ws'), opts.url, opts.token, helloFile, blockFile, String(opts.totalBytes), String(opts.deadlineMs)]);
  const ev = await proc.waitForEvent('flood_done', undefined, opts.deadlineMs + 30_000);
  return { proc, result: ev as unknown as FloodResult };
}
