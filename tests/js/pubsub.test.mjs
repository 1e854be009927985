// Subscriptions and publications with centrifuge-js.
// Server config: allow_subscribe_for_client for channels without namespace
// (publishing there is not allowed), namespace "chat" with
// allow_subscribe_for_client and allow_publish_for_client. Tokens: ALICE, BOB
// (users alice and bob), SUB_SECRET (alice's subscription token for "$secret").
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  protocols, token, connect, subscribe, subscribeOutcome, disconnectAll, once, forbid, apiResult, waitFor,
} from './helper.mjs';

/** Subscribes and expects the server to refuse with code. */
async function expectRefused(c, channel, code, options = {}) {
  const sub = c.newSubscription(channel, options);
  const outcome = subscribeOutcome(sub);
  sub.subscribe();
  const { ok, ctx } = await outcome;
  assert.equal(ok, false, `subscribe to ${channel} succeeded, want error ${code}`);
  assert.equal(ctx.code, code, `unsubscribed from ${channel} with ${ctx.code} ${ctx.reason}`);
  assert.equal(sub.state, 'unsubscribed');
  assert.equal(c.state, 'connected', 'a refused subscription must not close the connection');
  c.removeSubscription(sub);
}

for (const p of protocols) {
  describe(`pub/sub over ${p.name}`, () => {
    afterEach(() => disconnectAll());

    it('receives a publication sent through the server API', async () => {
      const { client } = await connect(p, token('ALICE'));
      const sub = await subscribe(client, 'news');
      const publication = once(sub, 'publication');
      const data = { text: 'hello', n: 42 };
      const res = await apiResult('publish', { channel: 'news', data });
      assert.equal(typeof res, 'object');
      const ctx = await publication;
      assert.deepEqual(p.decode(ctx.data), data);
      assert.equal(ctx.info?.client ?? '', '', 'a server API publication has no publisher client');
    });

    it('delivers a client publication with the publisher info', async () => {
      const { client: bob } = await connect(p, token('BOB'));
      const sub = await subscribe(bob, 'chat:room');
      const { client: alice, ctx: aliceCtx } = await connect(p, token('ALICE'));
      const publication = once(sub, 'publication');

      await alice.publish('chat:room', p.encode({ text: 'hi bob' }));

      const ctx = await publication;
      assert.deepEqual(p.decode(ctx.data), { text: 'hi bob' });
      assert.ok(ctx.info, 'client publication without info');
      assert.equal(ctx.info.user, 'alice');
      assert.equal(ctx.info.client, aliceCtx.client);
    });

    it('refuses a client publication without allow_publish_for_client (103)', async () => {
      const { client } = await connect(p, token('ALICE'));
      const sub = await subscribe(client, 'news');
      const publication = once(sub, 'publication');

      await assert.rejects(
        client.publish('news', p.encode({ text: 'not allowed' })),
        (err) => {
          assert.equal(err.code, 103, `publish error ${JSON.stringify(err)}`);
          return true;
        },
      );

      // The refused publication never reaches subscribers: the first one in
      // the channel is the API's.
      await apiResult('publish', { channel: 'news', data: { from: 'api' } });
      assert.deepEqual(p.decode((await publication).data), { from: 'api' });
      assert.equal(client.state, 'connected');
    });

    it('stops receiving after unsubscribe', async () => {
      const { client } = await connect(p, token('ALICE'));
      const gone = await subscribe(client, 'gone');
      const kept = await subscribe(client, 'kept');
      const unsubscribed = once(gone, 'unsubscribed');
      gone.unsubscribe();
      const ctx = await unsubscribed;
      assert.equal(ctx.code, 0, `unsubscribed with ${ctx.code} ${ctx.reason}`);

      // The server drops the subscription, not only the SDK.
      await waitFor(async () => {
        const { channels = {} } = await apiResult('channels', {});
        assert.ok(!('gone' in channels), `channels still lists "gone": ${JSON.stringify(channels)}`);
        assert.ok('kept' in channels, `channels lost "kept": ${JSON.stringify(channels)}`);
      });

      const goneReceived = forbid(gone, 'publication');
      const keptPublication = once(kept, 'publication');
      await apiResult('publish', { channel: 'gone', data: { n: 1 } });
      await apiResult('publish', { channel: 'kept', data: { n: 2 } });
      // Publications to one connection arrive in order: once the one in
      // "kept" is here, one in "gone" would have been too.
      assert.deepEqual(p.decode((await keptPublication).data), { n: 2 });
      goneReceived.check();
    });

    it('receives a broadcast on every channel', async () => {
      const { client } = await connect(p, token('ALICE'));
      const one = await subscribe(client, 'one');
      const two = await subscribe(client, 'chat:two');
      const got = [once(one, 'publication'), once(two, 'publication')];

      const res = await apiResult('broadcast', { channels: ['one', 'chat:two'], data: { text: 'to all' } });
      assert.equal(res.responses?.length, 2, `broadcast result ${JSON.stringify(res)}`);
      for (const r of res.responses) {
        assert.ok(!r.error, `broadcast response error ${JSON.stringify(r.error)}`);
      }
      for (const ctx of await Promise.all(got)) {
        assert.deepEqual(p.decode(ctx.data), { text: 'to all' });
      }
    });

    it('refuses a channel in an unknown namespace (102)', async () => {
      const { client } = await connect(p, token('ALICE'));
      await expectRefused(client, 'nope:x', 102);
    });

    it('needs a subscription token for a private channel (103 without)', async () => {
      const { client } = await connect(p, token('ALICE'));
      await expectRefused(client, '$secret', 103);

      const sub = await subscribe(client, '$secret', { token: token('SUB_SECRET') });
      const publication = once(sub, 'publication');
      await apiResult('publish', { channel: '$secret', data: { text: 'psst' } });
      assert.deepEqual(p.decode((await publication).data), { text: 'psst' });
    });
  });
}
