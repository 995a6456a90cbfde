import { ChannelTable } from './mesh-channels';

describe('ChannelTable', () => {
  it('the dialer allocates odd CIDs, the acceptor even ones, strictly increasing', () => {
    const d = new ChannelTable('dialer');
    const a = new ChannelTable('acceptor');
    expect([d.allocate(), d.allocate(), d.allocate()]).toEqual([1, 3, 5]);
    expect([a.allocate(), a.allocate()]).toEqual([2, 4]);
  });

  it('runs out at 2^32 (the link then drains and a new one is dialed)', () => {
    const t = new ChannelTable('dialer');
    (t as unknown as { nextCid: number }).nextCid = 0xffffffff;
    expect(t.allocate()).toBe(0xffffffff);
    expect(t.allocate()).toBeUndefined();
  });

  it('knows the peer`s parity', () => {
    expect(new ChannelTable('dialer').isRemoteParity(2)).toBe(true);
    expect(new ChannelTable('dialer').isRemoteParity(3)).toBe(false);
    expect(new ChannelTable('acceptor').isRemoteParity(3)).toBe(true);
    expect(new ChannelTable('acceptor').isRemoteParity(4)).toBe(false);
  });

  it('claimRemote refuses a CID not above the last one the peer opened (replayed open)', () => {
    const t = new ChannelTable('acceptor');
    expect(t.claimRemote(5)).toBe(true);
    expect(t.claimRemote(5)).toBe(false);
    expect(t.claimRemote(3)).toBe(false);
    expect(t.claimRemote(7)).toBe(true);
  });

  it('adds channels with full receive credit and no send seq, deletes and clears them', () => {
    const t = new ChannelTable('dialer');
    const ch = t.add({ cid: 1, agentId: 'a', connector: 'c', epoch: 3, localOpened: true, sendCredit: 0, recvWindow: 100 });
    expect(ch).toMatchObject({ acked: false, sendSeq: 0, recvAvailable: 100, consumed: 0, finSent: false, finRecv: false });
    expect(t.get(1)).toBe(ch);
    t.add({ cid: 3, agentId: 'a', connector: 'c', epoch: 3, localOpened: true, sendCredit: 0, recvWindow: 100 });
    expect(t.size).toBe(2);
    expect(t.delete(1)).toBe(true);
    expect(t.clear().map((c) => c.cid)).toEqual([3]);
    expect(t.size).toBe(0);
  });
});
