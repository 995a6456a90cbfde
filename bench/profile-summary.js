#!/usr/bin/env node
// Summarises a V8 .cpuprofile: self time per function (top N) and inclusive time of selected frames.
// Usage: node bench/profile-summary.js FILE.cpuprofile [N]
'use strict';
const fs = require('node:fs');
const file = process.argv[2];
const topN = Number(process.argv[3] || 30);
const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children || []) parent.set(c, n.id);
const selfTicks = new Map();
for (const s of prof.samples) selfTicks.set(s, (selfTicks.get(s) || 0) + 1);
const total = prof.samples.length;
const label = (n) => {
  const f = n.callFrame;
  const url = (f.url || '').replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/');
  return `${f.functionName || '(anon)'} ${url ? url.split('/').slice(-2).join('/') : ''}:${f.lineNumber + 1}`;
};
const self = new Map();
const incl = new Map();
for (const [id, t] of selfTicks) {
  const n = byId.get(id);
  const k = label(n);
  self.set(k, (self.get(k) || 0) + t);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const kk = label(byId.get(cur));
    if (seen.has(kk)) continue;
    seen.add(kk);
    incl.set(kk, (incl.get(kk) || 0) + t);
  }
}
const pct = (t) => ((100 * t) / total).toFixed(1).padStart(5) + '%';
console.log(`${file}: ${total} samples`);
console.log('-- self --');
for (const [k, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, topN)) console.log(pct(t), k);
console.log('-- inclusive --');
for (const [k, t] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, topN)) console.log(pct(t), k);
