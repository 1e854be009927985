// Presence, presence stats, join/leave and history with centrifuge-js.
// Server config: namespace "room" keeps presence, join/leave events and 100
// publications for 300 s; subscribing is open (allow_subscribe_for_client),
// presence and history are for subscribers (allow_presence_for_subscriber,
// allow_history_for_subscriber). Tokens: ALICE, BOB, CAROL.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  protocols, token, connect, subscribe, disconnectAll, once, onceWhere, forbid, apiResult, waitFor,
} from './helper.mjs';

let seq = 0;
function channel(p) {
  seq += 1;
  return `room:${p.name}-${process.pid}-${seq}`;
}

for (const p of protocols) {
  describe(`presence and history over ${p.name}`, () => {
    afterEach(() => disconnectAll());

    it('reports presence and presence stats of the subscribers', async () => {
      const ch = channel(p);
      const { client: alice, ctx: aliceCtx } = await connect(p, token('ALICE'));
      const { client: bob, ctx: bobCtx } = await connect(p, token('BOB'));
      const aliceSub = await subscribe(alice, ch);
      await subscribe(bob, ch);

      const presence = await aliceSub.presence();
      assert.deepEqual(Object.keys(presence.clients).sort(), [aliceCtx.client, bobCtx.client].sort());
      assert.equal(presence.clients[bobCtx.client].user, 'bob');
      assert.equal(presence.clients[aliceCtx.client].client, aliceCtx.client);
      const stats = await aliceSub.presenceStats();
      assert.deepEqual(stats, { numClients: 2, numUsers: 2 });

      // A second connection of alice is a client more, not a user more.
      const { client: alice2 } = await connect(p, token('ALICE'));
      await subscribe(alice2, ch);
      assert.deepEqual(await aliceSub.presenceStats(), { numClients: 3, numUsers: 2 });

      // Leaving takes the client out of presence.
      bob.disconnect();
      await waitFor(async () => assert.deepEqual(await aliceSub.presenceStats(), { numClients: 2, numUsers: 1 }));

      // Presence is for subscribers here.
      const { client: carol } = await connect(p, token('CAROL'));
      await assert.rejects(carol.presence(ch), (err) => {
        assert.equal(err.code, 103, `presence of a non-subscriber ${JSON.stringify(err)}`);
        return true;
      });
    });

    it('pushes join and leave to subscribers that ask for them', async () => {
      const ch = channel(p);
      const { client: alice } = await connect(p, token('ALICE'));
      const watcher = await subscribe(alice, ch, { joinLeave: true });
      const { client: carol } = await connect(p, token('CAROL'));
      const quiet = await subscribe(carol, ch); // no joinLeave: no pushes
      const quietJoins = forbid(quiet, 'join');

      const joined = onceWhere(watcher, 'join', (ctx) => ctx.info.user === 'bob');
      const { client: bob, ctx: bobCtx } = await connect(p, token('BOB'));
      const bobSub = await subscribe(bob, ch);
      const join = await joined;
      assert.equal(join.info.client, bobCtx.client);

      const left = onceWhere(watcher, 'leave', (ctx) => ctx.info.user === 'bob');
      bobSub.unsubscribe();
      const leave = await left;
      assert.equal(leave.info.client, bobCtx.client);
      quietJoins.check();
    });

    it('pages through history forward and backward', async () => {
      const ch = channel(p);
      for (let n = 1; n <= 10; n++) {
        await apiResult('publish', { channel: ch, data: { n } });
      }
      const { client } = await connect(p, token('ALICE'));
      const sub = await subscribe(client, ch);
      const ns = (res) => res.publications.map((pub) => p.decode(pub.data).n);

      const top = await sub.history({ limit: 0 });
      assert.equal(top.offset, 10);
      assert.equal(typeof top.epoch, 'string');
      const epoch = top.epoch;

      const forward = [];
      let since;
      for (;;) {
        const res = await sub.history({ limit: 4, since });
        if (res.publications.length === 0) break;
        forward.push(ns(res));
        const last = res.publications[res.publications.length - 1];
        since = { offset: last.offset, epoch };
      }
      assert.deepEqual(forward, [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]);

      const backward = [];
      since = undefined;
      for (;;) {
        const res = await sub.history({ limit: 4, since, reverse: true });
        if (res.publications.length === 0) break;
        backward.push(ns(res));
        const last = res.publications[res.publications.length - 1];
        since = { offset: last.offset, epoch };
      }
      assert.deepEqual(backward, [[10, 9, 8, 7], [6, 5, 4, 3], [2, 1]]);

      await assert.rejects(sub.history({ limit: 1, since: { offset: 1, epoch: 'another' } }), (err) => {
        assert.equal(err.code, 112, `history from another epoch ${JSON.stringify(err)}`);
        return true;
      });
    });
  });
}
