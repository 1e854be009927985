// Recovery of missed publications with centrifuge-js.
// Server config: namespace "rec" keeps 100 publications for 300 s with
// force_recovery, open to subscribers (allow_subscribe_for_client). Tokens:
// ALICE (user alice).
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  protocols, token, connect, disconnectAll, once, apiResult, waitFor,
} from './helper.mjs';

let seq = 0;
/** A channel of its own for each test. */
function channel(p) {
  seq += 1;
  return `rec:${p.name}-${process.pid}-${seq}`;
}

/** Publishes {n} for each n through the server API, one after another. */
async function publishAll(ch, ns) {
  for (const n of ns) {
    await apiResult('publish', { channel: ch, data: { n } });
  }
}

/** Subscribes and records every publication's n and offset. */
async function recordingSubscription(p, client, ch) {
  const sub = client.newSubscription(ch);
  const got = [];
  sub.on('publication', (ctx) => got.push({ n: p.decode(ctx.data).n, offset: ctx.offset }));
  const subscribed = once(sub, 'subscribed');
  sub.subscribe();
  return { sub, got, first: await subscribed };
}

/** Checks that got holds 1..count, in order, with offsets 1..count. */
function assertContinuous(got, count) {
  assert.deepEqual(got.map((g) => g.n), Array.from({ length: count }, (_, i) => i + 1), `publications ${JSON.stringify(got)}`);
  assert.deepEqual(got.map((g) => g.offset), Array.from({ length: count }, (_, i) => i + 1), `offsets ${JSON.stringify(got)}`);
}

for (const p of protocols) {
  describe(`recovery over ${p.name}`, () => {
    afterEach(() => disconnectAll());

    it('delivers the publications missed while disconnected, in order, with recovered true', async () => {
      const ch = channel(p);
      const { client } = await connect(p, token('ALICE'));
      const { sub, got, first } = await recordingSubscription(p, client, ch);
      assert.equal(first.recoverable, true, `first subscribe ${JSON.stringify(first)}`);
      assert.equal(first.wasRecovering, false);
      assert.equal(typeof first.streamPosition?.epoch, 'string');

      await publishAll(ch, [1]);
      await waitFor(() => assert.equal(got.length, 1));

      const disconnected = once(client, 'disconnected');
      client.disconnect();
      await disconnected;
      await publishAll(ch, [2, 3, 4, 5]);

      const resubscribed = once(sub, 'subscribed');
      client.connect();
      const ctx = await resubscribed;
      assert.equal(ctx.wasRecovering, true, `resubscribe ${JSON.stringify(ctx)}`);
      assert.equal(ctx.recovered, true, `resubscribe ${JSON.stringify(ctx)}`);
      assert.equal(ctx.hasRecoveredPublications, true);
      await waitFor(() => assert.equal(got.length, 5));
      assertContinuous(got, 5);

      // Live publications continue from there.
      await publishAll(ch, [6]);
      await waitFor(() => assert.equal(got.length, 6));
      assertContinuous(got, 6);
    });

    it('recovers after a reconnect asked by the server, without gaps or duplicates', async () => {
      const ch = channel(p);
      const { client } = await connect(p, token('ALICE'));
      const { sub, got } = await recordingSubscription(p, client, ch);
      await publishAll(ch, [1, 2]);
      await waitFor(() => assert.equal(got.length, 2));

      const resubscribed = once(sub, 'subscribed');
      // 3011 "force reconnect": the client reconnects on its own; the
      // publications below race with it and arrive either recovered or live.
      await apiResult('disconnect', { user: 'alice', disconnect: { code: 3011, reason: 'force reconnect' } });
      await publishAll(ch, [3, 4, 5, 6]);
      const ctx = await resubscribed;
      assert.equal(ctx.wasRecovering, true);
      assert.equal(ctx.recovered, true, `resubscribe ${JSON.stringify(ctx)}`);
      await publishAll(ch, [7]);
      await waitFor(() => assert.equal(got.length, 7));
      assertContinuous(got, 7);
    });

    it('says recovered false when the position is from another stream', async () => {
      const ch = channel(p);
      await publishAll(ch, [1, 2]);
      const { client } = await connect(p, token('ALICE'));
      const sub = client.newSubscription(ch, { since: { offset: 1, epoch: 'not-this-stream' } });
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      const ctx = await subscribed;
      assert.equal(ctx.wasRecovering, true);
      assert.equal(ctx.recovered, false, `subscribe ${JSON.stringify(ctx)}`);
      assert.equal(ctx.streamPosition?.offset, 2);
    });
  });
}
