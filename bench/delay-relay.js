#!/usr/bin/env node
// A TCP relay that delays every byte by ONE_WAY_MS in each direction (the bench's WAN emulation,
// `npm run bench -- --rtt 50`): 127.0.0.1:<ephemeral> -> 127.0.0.1:TARGET_PORT. Order kept, no rate
// limit of its own, backpressure kept (a far side that stops taking bytes stops the near side's
// reads). Prints {"event":"relay_ready","port":N} once listening. The WAN e2e test (test/support/delay-relay.ts) runs this file too.
//
//   node bench/delay-relay.js TARGET_PORT ONE_WAY_MS
'use strict';
const net = require('node:net');

const targetPort = Number(process.argv[2]);
const oneWayMs = Number(process.argv[3]);
if (!(targetPort > 0) || !(oneWayMs >= 0)) {
  process.stderr.write('usage: delay-relay.js TARGET_PORT ONE_WAY_MS\n');
  process.exit(2);
}

function delayLine(from, to) {
  const queue = [];
  let head = 0;
  let timer;
  let ended = false;
  let blocked = false;
  const arm = () => {
    if (timer !== undefined || head >= queue.length) return;
    timer = setTimeout(release, Math.max(0, queue[head].at - performance.now()));
  };
  const release = () => {
    timer = undefined;
    const now = performance.now();
    while (head < queue.length && queue[head].at <= now) {
      const chunk = queue[head++].chunk;
      if (!to.destroyed && !to.write(chunk) && !blocked) {
        blocked = true;
        from.pause();
        to.once('drain', () => {
          blocked = false;
          from.resume();
        });
      }
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
      if (ended && !to.destroyed) to.end();
      return;
    }
    arm();
  };
  from.on('data', (chunk) => {
    queue.push({ at: performance.now() + oneWayMs, chunk });
    arm();
  });
  from.on('end', () => {
    ended = true;
    if (head >= queue.length && !to.destroyed) to.end();
    else arm();
  });
  from.on('close', () => {
    if (ended) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    to.destroy();
  });
}

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
  const upstream = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
  for (const s of [client, upstream]) {
    s.on('error', () => {
      client.destroy();
      upstream.destroy();
    });
  }
  delayLine(client, upstream);
  delayLine(upstream, client);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ event: 'relay_ready', port: server.address().port, one_way_ms: oneWayMs })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
