import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { EventLog } from './event-log';

function sink(): { writes: string[]; stream: Writable } {
  const writes: string[] = [];
  return { writes, stream: new Writable({ write: (chunk: Buffer, _enc, cb) => (writes.push(chunk.toString()), cb()) }) };
}
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('EventLog', () => {
  it('writes one JSON object per line, the lines of one turn in one write, in order', async () => {
    const { writes, stream } = sink();
    const log = new EventLog(stream);
    log.info('first', { n: 1 });
    log.warn('second', { n: 2 });
    log.error('third');
    expect(writes).toEqual([]); // not before the end of the turn
    await nextTurn();
    expect(writes).toHaveLength(1);
    const lines = writes[0]!.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ level: 'info', event: 'first', n: 1 }),
      expect.objectContaining({ level: 'warn', event: 'second', n: 2 }),
      expect.objectContaining({ level: 'error', event: 'third' }),
    ]);
    log.info('later');
    await nextTurn();
    expect(writes).toHaveLength(2);
    expect(JSON.parse(writes[1]!)).toMatchObject({ event: 'later' });
  });

  it('bounds what waits: a burst is written in chunks of at most 256 lines', async () => {
    const { writes, stream } = sink();
    const log = new EventLog(stream);
    for (let i = 0; i < 600; i++) log.info('burst', { i });
    expect(writes).toHaveLength(2); // 256 + 256 written during the burst, 88 waiting
    await nextTurn();
    const all = writes.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l).i as number);
    expect(all).toEqual(Array.from({ length: 600 }, (_, i) => i));
  });

  it('lines still waiting when the process exits are written (process.exit in the same turn)', () => {
    const script = [
      "require('ts-node').register({ transpileOnly: true });",
      `const { EventLog } = require(${JSON.stringify(path.join(__dirname, 'event-log.ts'))});`,
      'const log = new EventLog();',
      "log.info('a'); log.warn('b', { k: 1 });",
      'process.exit(2);',
    ].join('\n');
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l).event)).toEqual(['a', 'b']);
  });
});
