#!/usr/bin/env node
// The bench's target server (a child process of bench/run.js), on 127.0.0.1 only.
// The first byte of a connection picks the mode:
//   'U'            upload sink: count every byte until the client's FIN, then reply the count and end;
//   'D' + u64 BE   download source: send that many bytes, then end;
//   'E'            echo: every later byte is echoed back (FIN answered with FIN).
// Prints {"event":"target_started","port":N} on stdout once listening.
'use strict';
const crypto = require('node:crypto');
const net = require('node:net');

const CHUNK = crypto.randomBytes(256 * 1024);

function download(s, total) {
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      const n = Math.min(CHUNK.length, total - sent);
      sent += n;
      if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        s.once('drain', pump);
        return;
      }
    }
    s.end();
  };
  pump();
}

function echo(s, rest) {
  if (rest.length > 0) s.write(rest);
  s.on('data', (d) => {
    if (!s.write(d)) {
      s.pause();
      s.once('drain', () => s.resume());
    }
  });
  s.on('end', () => s.end());
}

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
  s.on('error', () => undefined);
  let head = Buffer.alloc(0);
  const onFirst = (d) => {
    head = head.length === 0 ? d : Buffer.concat([head, d]);
    const mode = head[0];
    if (mode === 0x44 /* D */ && head.length < 9) return;
    s.off('data', onFirst);
    if (mode === 0x55 /* U */) {
      let n = head.length - 1;
      s.on('data', (c) => (n += c.length));
      s.on('end', () => s.end(String(n)));
    } else if (mode === 0x44) {
      download(s, Number(head.readBigUInt64BE(1)));
    } else if (mode === 0x45 /* E */) {
      echo(s, head.subarray(1));
    } else {
      s.destroy();
    }
  };
  s.on('data', onFirst);
});
server.maxConnections = 1_000_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ event: 'target_started', port: server.address().port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
