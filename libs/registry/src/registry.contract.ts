import { OwnershipRegistry, SweepableRegistry } from './ownership-registry';
import { RegistrySweeper } from './registry-sweeper';

export type ContractRegistry = OwnershipRegistry & SweepableRegistry;
export type RegistryFactory = (opts: { leaseMs: number }) => Promise<ContractRegistry>;

const LONG_LEASE = 60_000;
const SHORT_LEASE = 300;

/** Poll `pred` every 20 ms until it holds; fail after `deadlineMs`. */
export async function waitFor(pred: () => Promise<boolean> | boolean, deadlineMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let seq = 0;
const uid = (p: string): string => `${p}-${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;

/** The assertions every OwnershipRegistry implementation must pass (memory and Redis). */
export function runRegistryContract(name: string, factory: RegistryFactory): void {
  describe(`OwnershipRegistry contract: ${name}`, () => {
    const open: ContractRegistry[] = [];
    const make = async (leaseMs = LONG_LEASE): Promise<ContractRegistry> => {
      const r = await factory({ leaseMs });
      open.push(r);
      return r;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((r) => r.close()));
    });

    it('is healthy once created', async () => {
      const r = await make();
      expect(r.isHealthy()).toBe(true);
    });

    it('issues strictly increasing epochs across claims; the last claimer owns', async () => {
      const r = await make();
      const agent = uid('a');
      const e1 = await r.claimOwnership(agent, 'hub-a');
      const e2 = await r.claimOwnership(agent, 'hub-b');
      const e3 = await r.claimOwnership(agent, 'hub-a');
      expect(e1).toBeGreaterThan(0);
      expect(e2).toBeGreaterThan(e1);
      expect(e3).toBeGreaterThan(e2);
      expect(await r.getOwner(agent)).toEqual({ replicaId: 'hub-a', epoch: e3 });
      expect(await r.getOwner(uid('nobody'))).toBeUndefined();
    });

    it('gives 20 concurrent claimers 20 distinct increasing epochs; the highest one owns', async () => {
      const r = await make();
      const agent = uid('a');
      const claims = await Promise.all(
        Array.from({ length: 20 }, (_, i) => r.claimOwnership(agent, `hub-${i}`).then((epoch) => ({ epoch, replica: `hub-${i}` }))),
      );
      const epochs = claims.map((c) => c.epoch).sort((a, b) => a - b);
      expect(new Set(epochs).size).toBe(20);
      for (let i = 1; i < epochs.length; i++) expect(epochs[i]!).toBeGreaterThan(epochs[i - 1]!);
      const top = claims.reduce((a, b) => (b.epoch > a.epoch ? b : a));
      expect(await r.getOwner(agent)).toEqual({ replicaId: top.replica, epoch: top.epoch });
    });

    it('refuses a stale-epoch release and leaves the owner unchanged', async () => {
      const r = await make();
      const agent = uid('a');
      const old = await r.claimOwnership(agent, 'hub-a');
      const cur = await r.claimOwnership(agent, 'hub-b');
      expect(await r.release(agent, old)).toBe(false);
      expect(await r.release(agent, cur + 1)).toBe(false);
      expect(await r.getOwner(agent)).toEqual({ replicaId: 'hub-b', epoch: cur });
    });

    it('releases with the current epoch; later epochs still grow', async () => {
      const r = await make();
      const agent = uid('a');
      const e = await r.claimOwnership(agent, 'hub-a');
      expect(await r.release(agent, e)).toBe(true);
      expect(await r.getOwner(agent)).toBeUndefined();
      expect(await r.release(agent, e)).toBe(false);
      expect(await r.claimOwnership(agent, 'hub-b')).toBeGreaterThan(e);
    });

    it('never issues an epoch at or below minEpoch', async () => {
      const r = await make();
      const agent = uid('a');
      expect(await r.claimOwnership(agent, 'hub-a', { minEpoch: 41 })).toBe(42);
      expect(await r.claimOwnership(agent, 'hub-a', { minEpoch: 3 })).toBe(43);
    });

    it('lists the agents of a connector that have a live owner', async () => {
      const r = await make();
      const [a1, a2, a3] = [uid('a1'), uid('a2'), uid('a3')];
      const [c1, c2] = [uid('c1'), uid('c2')];
      const e1 = await r.claimOwnership(a1, 'hub-a');
      await r.claimOwnership(a2, 'hub-b');
      await r.addConnectors(a1, [c1, c2]);
      await r.addConnectors(a2, [c1]);
      await r.addConnectors(a3, [c1]); // indexed, never owned: not listed
      await r.addConnectors(a1, []);
      expect(await r.listAgents(c1)).toEqual([a1, a2].sort());
      expect(await r.listAgents(c2)).toEqual([a1]);
      expect(await r.listAgents(uid('none'))).toEqual([]);
      expect(await r.release(a1, e1)).toBe(true);
      expect(await r.listAgents(c1)).toEqual([a2]);
    });

    it('setConnectors: an agent that stops announcing a connector is no longer listed under it', async () => {
      const r = await make();
      const [a1, a2] = [uid('a1'), uid('a2')];
      const [c1, c2, c3] = [uid('c1'), uid('c2'), uid('c3')];
      await r.claimOwnership(a1, 'hub-a');
      await r.claimOwnership(a2, 'hub-b');
      await r.setConnectors(a1, [c1, c2]);
      await r.setConnectors(a2, [c1]);
      expect(await r.listAgents(c1)).toEqual([a1, a2].sort());
      expect(await r.listAgents(c2)).toEqual([a1]);
      await r.setConnectors(a1, [c2, c3]); // a new HELLO without c1
      expect(await r.listAgents(c1)).toEqual([a2]);
      expect((await r.listOwners(c1)).map((o) => o.agentId)).toEqual([a2]);
      expect(await r.listAgents(c2)).toEqual([a1]);
      expect(await r.listAgents(c3)).toEqual([a1]);
      await r.setConnectors(a1, [c2, c3]); // the same again: nothing changes
      expect(await r.listAgents(c3)).toEqual([a1]);
      await r.setConnectors(a2, [c1]);
      expect(await r.listAgents(c1)).toEqual([a2]);
    });

    it('lists owners of a connector with their replica and epoch', async () => {
      const r = await make();
      const [a1, a2, a3] = [uid('a1'), uid('a2'), uid('a3')];
      const c = uid('c');
      const e1 = await r.claimOwnership(a1, 'hub-a');
      const e2 = await r.claimOwnership(a2, 'hub-b');
      await r.addConnectors(a1, [c]);
      await r.addConnectors(a2, [c]);
      await r.addConnectors(a3, [c]); // indexed, never owned: not listed
      const expected = [
        { agentId: a1, replicaId: 'hub-a', epoch: e1 },
        { agentId: a2, replicaId: 'hub-b', epoch: e2 },
      ].sort((x, y) => (x.agentId < y.agentId ? -1 : 1));
      expect(await r.listOwners(c)).toEqual(expected);
      const e1b = await r.claimOwnership(a1, 'hub-c');
      expect((await r.listOwners(c)).find((o) => o.agentId === a1)).toEqual({ agentId: a1, replicaId: 'hub-c', epoch: e1b });
      expect(await r.listOwners(uid('none'))).toEqual([]);
    });

    it('heartbeat reports agents whose owner entry is gone or moved to another replica', async () => {
      const r = await make();
      const [kept, moved, released] = [uid('kept'), uid('moved'), uid('released')];
      await r.claimOwnership(kept, 'hub-a');
      await r.claimOwnership(moved, 'hub-a');
      const e = await r.claimOwnership(released, 'hub-a');
      await r.claimOwnership(moved, 'hub-b');
      expect(await r.release(released, e)).toBe(true);
      const res = await r.heartbeat('hub-a', [kept, moved, released]);
      expect(res).toEqual({ missing: [released], lost: [moved] });
      expect(await r.getOwner(moved)).toMatchObject({ replicaId: 'hub-b' });
    });

    it('removes a replica record at once', async () => {
      const r = await make();
      const [ra, rb] = [uid('hub-a'), uid('hub-b')];
      await r.registerReplica({ replicaId: ra, meshUrl: 'ws://a/mesh', startedAt: 1 });
      await r.registerReplica({ replicaId: rb, meshUrl: 'ws://b/mesh', startedAt: 2 });
      await r.removeReplica(ra);
      const ids = (await r.listReplicas()).map((x) => x.replicaId);
      expect(ids).toContain(rb);
      expect(ids).not.toContain(ra);
      await r.heartbeat(ra, []); // a refresh does not resurrect a removed record
      expect((await r.listReplicas()).map((x) => x.replicaId)).not.toContain(ra);
    });

    it('expires an owner without heartbeat', async () => {
      const r = await make(SHORT_LEASE);
      const agent = uid('a');
      const c = uid('c');
      await r.claimOwnership(agent, 'hub-a');
      await r.addConnectors(agent, [c]);
      expect(await r.getOwner(agent)).toBeDefined();
      const t0 = Date.now();
      await waitFor(async () => (await r.getOwner(agent)) === undefined, 5000, 'owner lease expiry');
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(await r.listAgents(c)).toEqual([]);
    });

    it('keeps an owner alive while its replica heartbeats; a non-owner heartbeat does not', async () => {
      const r = await make(SHORT_LEASE);
      const agent = uid('a');
      const e = await r.claimOwnership(agent, 'hub-a');
      const until = Date.now() + 3 * SHORT_LEASE;
      let beats = 0;
      while (Date.now() < until && beats < 100) {
        await r.heartbeat('hub-a', [agent]);
        beats++;
        expect(await r.getOwner(agent)).toEqual({ replicaId: 'hub-a', epoch: e });
        await new Promise((res) => setTimeout(res, SHORT_LEASE / 4)); // heartbeat cadence, not sync
      }
      expect(beats).toBeGreaterThan(3);
      // Only hub-b beats now: hub-a's lease runs out.
      await waitFor(
        async () => {
          await r.heartbeat('hub-b', [agent]);
          return (await r.getOwner(agent)) === undefined;
        },
        5000,
        'lease expiry despite a foreign heartbeat',
      );
    });

    it('keeps a replica record`s mesh identity key through heartbeats; a record without one has none', async () => {
      const r = await make();
      const [ra, rb] = [uid('hub-key'), uid('hub-nokey')];
      const key = Buffer.alloc(32, 7).toString('base64url');
      await r.registerReplica({ replicaId: ra, meshUrl: 'wss://a/mesh', startedAt: 1, meshKey: key });
      await r.registerReplica({ replicaId: rb, meshUrl: 'wss://b/mesh', startedAt: 2 });
      await r.heartbeat(ra, []);
      const list = await r.listReplicas();
      expect(list.find((x) => x.replicaId === ra)?.meshKey).toBe(key);
      expect(list.find((x) => x.replicaId === rb)).not.toHaveProperty('meshKey');
    });

    it('lists replica records and expires them without heartbeat', async () => {
      const r = await make(SHORT_LEASE);
      const [ra, rb] = [uid('hub-a'), uid('hub-b')];
      await r.registerReplica({ replicaId: ra, meshUrl: 'wss://a/mesh', startedAt: 1000 });
      await r.registerReplica({ replicaId: rb, meshUrl: 'wss://b/mesh', startedAt: 2000 });
      const list = await r.listReplicas();
      const mine = list.filter((x) => x.replicaId === ra || x.replicaId === rb);
      expect(mine.map(({ replicaId, meshUrl, startedAt }) => ({ replicaId, meshUrl, startedAt }))).toEqual(
        [
          { replicaId: ra, meshUrl: 'wss://a/mesh', startedAt: 1000 },
          { replicaId: rb, meshUrl: 'wss://b/mesh', startedAt: 2000 },
        ].sort((x, y) => (x.replicaId < y.replicaId ? -1 : 1)),
      );
      for (const x of mine) expect(x.expiresAt).toBeGreaterThan(0);
      // ra keeps beating, rb stops: rb disappears, ra stays.
      await waitFor(
        async () => {
          await r.heartbeat(ra, []);
          const ids = (await r.listReplicas()).map((x) => x.replicaId);
          return ids.includes(ra) && !ids.includes(rb);
        },
        5000,
        'replica record expiry',
      );
    });

    // ---- holders (issue 15) --------------------------------------------------------------

    it('holders: two replicas hold one agent at once, each with its own epoch; the owner entry is the latest', async () => {
      const r = await make();
      const agent = uid('a');
      const c = uid('c');
      const ea = await r.claimHolder(agent, 'hub-a');
      const eb = await r.claimHolder(agent, 'hub-b');
      expect(eb).toBeGreaterThan(ea);
      await r.setConnectors(agent, [c]);
      expect(await r.getHolders(agent)).toEqual([
        { replicaId: 'hub-a', epoch: ea },
        { replicaId: 'hub-b', epoch: eb },
      ]);
      expect(await r.listHolders(c)).toEqual([{ agentId: agent, holders: await r.getHolders(agent) }]);
      expect(await r.listAgents(c)).toEqual([agent]);
      expect(await r.getOwner(agent)).toEqual({ replicaId: 'hub-b', epoch: eb });
      // Neither fences the other: both heartbeats refresh, each sees 2 links, hub-a sorts first.
      expect(await r.heartbeatHolders('hub-a', [{ agentId: agent, epoch: ea }])).toEqual({
        missing: [],
        lost: [],
        refreshed: [{ agentId: agent, links: 2, first: true }],
      });
      expect(await r.heartbeatHolders('hub-b', [{ agentId: agent, epoch: eb }])).toEqual({
        missing: [],
        lost: [],
        refreshed: [{ agentId: agent, links: 2, first: false }],
      });
      expect(await r.listHolders(uid('none'))).toEqual([]);
    });

    it('holders: epochs come from the one per-agent counter (holder and legacy claims), never at or below minEpoch', async () => {
      const r = await make();
      const agent = uid('a');
      expect(await r.claimHolder(agent, 'hub-a', { minEpoch: 41 })).toBe(42);
      expect(await r.claimOwnership(agent, 'hub-old')).toBe(43);
      expect(await r.claimHolder(agent, 'hub-b', { minEpoch: 3 })).toBe(44);
      const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => r.claimHolder(agent, `hub-${i % 3}`)));
      expect(new Set(claims).size).toBe(10);
      expect(Math.min(...claims)).toBe(45);
    });

    it('holders: a stale-epoch release is refused; the current one releases only that holder and moves the owner entry', async () => {
      const r = await make();
      const agent = uid('a');
      const a1 = await r.claimHolder(agent, 'hub-a');
      const b = await r.claimHolder(agent, 'hub-b');
      const a2 = await r.claimHolder(agent, 'hub-a'); // hub-a re-claimed (a new tunnel there)
      expect(await r.releaseHolder(agent, 'hub-a', a1)).toBe(false);
      expect(await r.releaseHolder(agent, 'hub-b', a2)).toBe(false); // another replica's epoch
      expect(await r.getHolders(agent)).toEqual([
        { replicaId: 'hub-a', epoch: a2 },
        { replicaId: 'hub-b', epoch: b },
      ]);
      expect(await r.heartbeatHolders('hub-a', [{ agentId: agent, epoch: a1 }])).toEqual({ missing: [], lost: [agent], refreshed: [] });
      expect(await r.getOwner(agent)).toEqual({ replicaId: 'hub-a', epoch: a2 });
      expect(await r.releaseHolder(agent, 'hub-a', a2)).toBe(true);
      expect(await r.getHolders(agent)).toEqual([{ replicaId: 'hub-b', epoch: b }]);
      expect(await r.getOwner(agent)).toEqual({ replicaId: 'hub-b', epoch: b }); // the latest remaining holder
      expect(await r.releaseHolder(agent, 'hub-a', a2)).toBe(false);
      expect(await r.releaseHolder(agent, 'hub-b', b)).toBe(true);
      expect(await r.getHolders(agent)).toEqual([]);
      expect(await r.getOwner(agent)).toBeUndefined();
      expect(await r.heartbeatHolders('hub-b', [{ agentId: agent, epoch: b }])).toEqual({ missing: [agent], lost: [], refreshed: [] });
      expect(await r.claimHolder(agent, 'hub-c')).toBeGreaterThan(a2);
    });

    it('holders: lease expiry of one holder leaves the other; the survivor becomes the owner entry', async () => {
      const r = await make(SHORT_LEASE);
      const agent = uid('a');
      const c = uid('c');
      const ea = await r.claimHolder(agent, 'hub-a');
      const eb = await r.claimHolder(agent, 'hub-b');
      await r.setConnectors(agent, [c]);
      // Only hub-a beats: hub-b's entry (and the owner entry naming it) runs out, hub-a stays.
      await waitFor(
        async () => {
          await r.heartbeatHolders('hub-a', [{ agentId: agent, epoch: ea }]);
          return (await r.getHolders(agent)).length === 1;
        },
        5000,
        'hub-b holder expiry',
      );
      expect(await r.getHolders(agent)).toEqual([{ replicaId: 'hub-a', epoch: ea }]);
      expect(await r.listHolders(c)).toEqual([{ agentId: agent, holders: [{ replicaId: 'hub-a', epoch: ea }] }]);
      await r.heartbeatHolders('hub-a', [{ agentId: agent, epoch: ea }]);
      expect(await r.getOwner(agent)).toEqual({ replicaId: 'hub-a', epoch: ea });
      expect(await r.heartbeatHolders('hub-b', [{ agentId: agent, epoch: eb }])).toEqual({ missing: [agent], lost: [], refreshed: [] });
      // And without any heartbeat the last one goes too.
      await waitFor(async () => (await r.getHolders(agent)).length === 0, 5000, 'last holder expiry');
      expect(await r.listAgents(c)).toEqual([]);
    });

    it('holders: mixed fleet -- a single-owner replica`s claim counts as a holder; its heartbeat sees a newer holder as a move', async () => {
      const r = await make();
      const agent = uid('a');
      const c = uid('c');
      const old = await r.claimOwnership(agent, 'hub-old'); // a replica running the single-owner code
      await r.addConnectors(agent, [c]);
      expect(await r.listHolders(c)).toEqual([{ agentId: agent, holders: [{ replicaId: 'hub-old', epoch: old }] }]);
      const nb = await r.claimHolder(agent, 'hub-new');
      // The new claim overwrote the owner entry, as a newer single-owner claim would have: the old
      // replica is fenced exactly as before (one holder left), ...
      expect(await r.getHolders(agent)).toEqual([{ replicaId: 'hub-new', epoch: nb }]);
      // ... single-owner readers see the latest holder, and the old replica's heartbeat a move.
      expect(await r.listOwners(c)).toEqual([{ agentId: agent, replicaId: 'hub-new', epoch: nb }]);
      expect(await r.heartbeat('hub-old', [agent])).toEqual({ missing: [], lost: [agent] });
      // The old replica re-claims (its agent re-dialled there): it is the owner entry again, the new holder stays.
      const old2 = await r.claimOwnership(agent, 'hub-old');
      expect(await r.getHolders(agent)).toEqual([
        { replicaId: 'hub-new', epoch: nb },
        { replicaId: 'hub-old', epoch: old2 },
      ]);
      const hb = await r.heartbeatHolders('hub-new', [{ agentId: agent, epoch: nb }]);
      expect(hb).toEqual({ missing: [], lost: [], refreshed: [{ agentId: agent, links: 2, first: true }] });
      expect(await r.listOwners(c)).toEqual([{ agentId: agent, replicaId: 'hub-old', epoch: old2 }]);
      // The new holder's release leaves the old owner entry alone.
      expect(await r.releaseHolder(agent, 'hub-new', nb)).toBe(true);
      expect(await r.getOwner(agent)).toEqual({ replicaId: 'hub-old', epoch: old2 });
      expect(await r.release(agent, old2)).toBe(true);
      expect(await r.getHolders(agent)).toEqual([]);
    });

    it('holders: with one link the keys read exactly as a single owner', async () => {
      const r = await make();
      const agent = uid('a');
      const c = uid('c');
      const e = await r.claimHolder(agent, 'hub-a');
      await r.setConnectors(agent, [c]);
      expect(await r.getOwner(agent)).toEqual({ replicaId: 'hub-a', epoch: e });
      expect(await r.listOwners(c)).toEqual([{ agentId: agent, replicaId: 'hub-a', epoch: e }]);
      expect(await r.heartbeat('hub-a', [agent])).toEqual({ missing: [], lost: [] });
      // A single-owner replica claiming it now fences it the old way (owner entry), the holder entry stays.
      const e2 = await r.claimOwnership(agent, 'hub-b');
      expect(await r.getOwner(agent)).toEqual({ replicaId: 'hub-b', epoch: e2 });
      expect(await r.releaseHolder(agent, 'hub-a', e)).toBe(true);
      expect(await r.getOwner(agent)).toEqual({ replicaId: 'hub-b', epoch: e2 });
    });

    it('sweeper removes dangling index entries and expired replica records', async () => {
      const r = await make(SHORT_LEASE);
      const [live, dead] = [uid('live'), uid('dead')];
      const c = uid('c');
      const rep = uid('hub-x');
      await r.addConnectors(dead, [c]); // never owned: dangling
      await r.registerReplica({ replicaId: rep, meshUrl: 'wss://x/mesh', startedAt: 1 });
      await waitFor(async () => (await r.listReplicas()).every((x) => x.replicaId !== rep), 5000, 'replica expiry');
      await r.claimOwnership(live, 'hub-a');
      await r.addConnectors(live, [c]);
      const sweeper = new RegistrySweeper(r);
      const res = await sweeper.sweepOnce();
      expect(res.removedIndexEntries).toBeGreaterThanOrEqual(1);
      expect(res.removedReplicas).toBeGreaterThanOrEqual(1);
      expect(await r.listAgents(c)).toEqual([live]);
      // A second sweep finds nothing of ours left to remove (live stays indexed).
      await r.heartbeat('hub-a', [live]);
      await sweeper.sweepOnce();
      expect(await r.listAgents(c)).toEqual([live]);
    });
  });
}
