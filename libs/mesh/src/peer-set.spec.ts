import type { ReplicaRecord } from '@nowconnect/registry';
import { keepLink, normalizeMeshUrl, PeerSet, PeerTarget, preferredDialer, shouldDial } from './peer-set';

const NOW = 1_000_000;
const rec = (replicaId: string, meshUrl: string, expiresAt = NOW + 10_000): ReplicaRecord => ({ replicaId, meshUrl, startedAt: 0, expiresAt });
const target = (replicaId: string | undefined): PeerTarget => ({ url: 'ws://x/mesh', replicaId, fromConfig: true, fromRegistry: false });

describe('normalizeMeshUrl', () => {
  it('lower-cases scheme and host, drops default ports and fragments; refuses non-ws URLs', () => {
    expect(normalizeMeshUrl('WSS://Cloud-B.Example:443/mesh#x')).toBe('wss://cloud-b.example/mesh');
    expect(normalizeMeshUrl('ws://h:80/mesh')).toBe('ws://h/mesh');
    expect(normalizeMeshUrl('ws://h:8766/mesh')).toBe('ws://h:8766/mesh');
    expect(normalizeMeshUrl('https://h/mesh')).toBeUndefined();
    expect(normalizeMeshUrl('not a url')).toBeUndefined();
  });
});

describe('PeerSet', () => {
  const self = { replicaId: 'hub-a', meshUrls: ['wss://hub-a.example/mesh', 'ws://10.0.0.1:8766/mesh'] };

  it('merges static peers and live registry records, one target per URL, sorted', () => {
    const ps = new PeerSet(self, ['wss://hub-b.example/mesh', 'wss://static-only.example/mesh'], () => NOW);
    ps.updateReplicas([rec('hub-b', 'wss://HUB-B.example:443/mesh'), rec('hub-c', 'ws://10.0.0.3:8766/mesh')]);
    expect(ps.targets()).toEqual([
      { url: 'ws://10.0.0.3:8766/mesh', replicaId: 'hub-c', fromConfig: false, fromRegistry: true },
      { url: 'wss://hub-b.example/mesh', replicaId: 'hub-b', fromConfig: true, fromRegistry: true },
      { url: 'wss://static-only.example/mesh', replicaId: undefined, fromConfig: true, fromRegistry: false },
    ]);
  });

  it('never includes self: by replica id or by one of its own URLs (static or registry)', () => {
    const ps = new PeerSet(self, ['wss://hub-a.example:443/mesh', 'ws://10.0.0.1:8766/mesh'], () => NOW);
    ps.updateReplicas([rec('hub-a', 'ws://elsewhere:1/mesh'), rec('hub-x', 'wss://hub-a.example/mesh')]);
    expect(ps.targets()).toEqual([]);
  });

  it('a static URL learned (by handshake) to be self is dropped', () => {
    const ps = new PeerSet(self, ['ws://lb.example/mesh'], () => NOW);
    ps.learn('ws://lb.example/mesh', 'hub-a');
    expect(ps.targets()).toEqual([]);
  });

  it('skips expired registry records', () => {
    const ps = new PeerSet(self, [], () => NOW);
    ps.updateReplicas([rec('hub-b', 'ws://b/mesh', NOW), rec('hub-c', 'ws://c/mesh', NOW + 1)]);
    expect(ps.targets().map((t) => t.replicaId)).toEqual(['hub-c']);
  });

  it('one target per replica id: a configured URL wins over the registry`s URL for the same replica', () => {
    const ps = new PeerSet(self, ['wss://b-ingress.example/mesh'], () => NOW);
    ps.learn('wss://b-ingress.example/mesh', 'hub-b');
    ps.updateReplicas([rec('hub-b', 'ws://10.0.0.2:8766/mesh')]);
    expect(ps.targets()).toEqual([{ url: 'wss://b-ingress.example/mesh', replicaId: 'hub-b', fromConfig: true, fromRegistry: false }]);
  });

  it('ignores malformed URLs from config and registry', () => {
    const ps = new PeerSet(self, ['http://nope/mesh'], () => NOW);
    ps.updateReplicas([rec('hub-b', '::bad::')]);
    expect(ps.targets()).toEqual([]);
  });
});

describe('tie-break', () => {
  it('the preferred dialer is the replica id sorting first, the same answer on both hubs', () => {
    expect(preferredDialer('hub-a', 'hub-b')).toBe('hub-a');
    expect(preferredDialer('hub-b', 'hub-a')).toBe('hub-a');
    expect(preferredDialer('Hub-Z', 'hub-a')).toBe('Hub-Z'); // code-unit order: upper case first
  });

  it('shouldDial: always dial unknown or higher ids; skip a lower id only while its inbound link is up', () => {
    const none = new Set<string>();
    expect(shouldDial('hub-b', target(undefined), none)).toBe(true);
    expect(shouldDial('hub-a', target('hub-b'), new Set(['hub-b']))).toBe(true); // a is preferred: a dials
    expect(shouldDial('hub-b', target('hub-a'), none)).toBe(true); // a's link is not up: b dials (one-way reachability)
    expect(shouldDial('hub-b', target('hub-a'), new Set(['hub-a']))).toBe(false);
    expect(shouldDial('hub-a', target('hub-a'), none)).toBe(false); // self
  });

  it('keepLink: both hubs keep the link dialed by the preferred dialer and close the other', () => {
    // Seen from hub-a and from hub-b, for the link each of them dialed.
    for (const [a, b] of [
      ['hub-a', 'hub-b'],
      ['hub-b', 'hub-a'],
    ] as const) {
      expect(keepLink('hub-a', a, b)).toBe(true);
      expect(keepLink('hub-b', a, b)).toBe(false);
    }
  });
});
