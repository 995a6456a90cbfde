import { once } from 'node:events';
import { MeshRstReason } from '@nowconnect/frames';
import { MeshFlowResetError, MeshFlowStream, type MeshFlowLink } from './mesh-flow-stream';

class FakeLink implements MeshFlowLink {
  credit = Infinity;
  sent: Buffer[] = [];
  consumedBytes = 0;
  fins = 0;
  resets: MeshRstReason[] = [];
  sendData(_cid: number, chunk: Buffer): number {
    const n = Math.min(chunk.length, this.credit);
    this.credit -= n;
    if (n > 0) this.sent.push(chunk.subarray(0, n));
    return n;
  }
  consumed(_cid: number, n: number): void {
    this.consumedBytes += n;
  }
  finFlow(): void {
    this.fins++;
  }
  resetFlow(_cid: number, reason: MeshRstReason): void {
    this.resets.push(reason);
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('MeshFlowStream (owner side of a cross-replica flow)', () => {
  it('returns mesh credit only for bytes the consumer took while flowing; paused bytes wait for resume', async () => {
    const link = new FakeLink();
    const s = new MeshFlowStream(link, 3, () => undefined);
    const got: Buffer[] = [];
    let pauseNext = false;
    s.on('data', (d: Buffer) => {
      got.push(d);
      if (pauseNext) s.pause(); // what libs/flow does when the tunnel has no credit
    });
    s.trackConsumption();
    s.endpoint.data(Buffer.alloc(100, 1));
    await tick();
    expect(link.consumedBytes).toBe(100);
    pauseNext = true;
    s.endpoint.data(Buffer.alloc(50, 2));
    await tick();
    expect(got).toHaveLength(2);
    expect(link.consumedBytes).toBe(100);
    pauseNext = false;
    s.resume();
    await tick();
    expect(link.consumedBytes).toBe(150);
  });

  it('completes a write only once the link took all of it (no tunnel credit back before that)', async () => {
    const link = new FakeLink();
    link.credit = 10;
    const s = new MeshFlowStream(link, 3, () => undefined);
    let written = false;
    s.write(Buffer.alloc(25, 7), () => {
      written = true;
    });
    await tick();
    expect(written).toBe(false);
    link.credit = 10;
    s.endpoint.writable();
    await tick();
    expect(written).toBe(false);
    link.credit = 100;
    s.endpoint.writable();
    await tick();
    expect(written).toBe(true);
    expect(Buffer.concat(link.sent)).toEqual(Buffer.alloc(25, 7));
  });

  it('FIN both ways ends the stream without a reset; end() sends M_FIN after the data', async () => {
    const link = new FakeLink();
    let gone = 0;
    const s = new MeshFlowStream(link, 3, () => gone++);
    s.on('data', () => undefined);
    s.trackConsumption();
    s.write(Buffer.from('abc'));
    s.end();
    s.endpoint.fin();
    await once(s, 'close');
    expect(link.fins).toBe(1);
    expect(link.resets).toEqual([]);
    expect(gone).toBe(1);
  });

  it('a mesh reset destroys the stream with an error (the tunnel flow resets); a local destroy sends M_RST', async () => {
    const link = new FakeLink();
    const s = new MeshFlowStream(link, 3, () => undefined);
    const errored = once(s, 'error');
    s.endpoint.reset(MeshRstReason.LINK_LOST);
    const [err] = await errored;
    expect(err).toBeInstanceOf(MeshFlowResetError);
    expect(link.resets).toEqual([]);

    const link2 = new FakeLink();
    const s2 = new MeshFlowStream(link2, 5, () => undefined);
    s2.resetAndDestroy();
    await once(s2, 'close');
    expect(link2.resets).toEqual([MeshRstReason.PEER_RESET]);
  });
});
