// The seed's flow with centrifuge-js, every step decided by the application
// backend through the proxy: connect without a token, subscribe, publish
// (the backend replaces the data), RPC, and the connection refreshed through
// the refresh proxy before it expires.
//
// Started by internal/e2e/seed_flow_test.go, which runs Rotor with the seed's
// config.json, its proxy endpoints at a test backend (gRPC or HTTP) that:
//   connect   → user "u1", expire_at 2 s ahead,
//               data {welcome: "u1", protocol, expire_at}
//   refresh   → expire_at 2 s ahead again
//   subscribe → data {user, channel}
//   publish   → data {original: <published data>, moderated: true, user}
//   rpc sum   → {sum: a + b, user, protocol}; rpc refreshes → {count} (the
//               refresh calls it saw for this connection)
// Environment: ROTOR_WS_URL. The Go side then checks what the backend was
// asked.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  protocols, newClient, once, forbid, disconnectAll, waitFor,
} from '../helper.mjs';

/** How long to wait for the refreshes (two come within about 4 s). */
const REFRESH_WAIT_MS = 12000;

describe('seed flow through the proxy', { concurrency: true }, () => {
  after(() => disconnectAll());

  for (const p of protocols) {
    it(`connects, subscribes, publishes, calls and is refreshed over ${p.name}`, async () => {
      const c = newClient(p, { data: p.encode({ hello: 'rotor', protocol: p.name }) });
      const connected = once(c, 'connected');
      c.connect();
      const ctx = await connected;
      // From here on the connection must stay up: no disconnect, no reconnect.
      const noDisconnect = forbid(c, 'disconnected');
      const noReconnect = forbid(c, 'connecting');

      // Connect: no token was sent; the backend's result made the connection.
      assert.ok(ctx.client, 'connected without a client id');
      assert.equal(ctx.transport, 'websocket');
      const welcome = p.decode(ctx.data);
      assert.equal(welcome.welcome, 'u1');
      assert.equal(welcome.protocol, p.name, 'the backend saw another protocol');
      assert.equal(typeof welcome.expire_at, 'number');
      const firstExpiry = welcome.expire_at;

      // Subscribe: the backend saw the user and the channel.
      const channel = `room-${p.name}`;
      const sub = c.newSubscription(channel);
      const subscribed = once(sub, 'subscribed');
      const refused = forbid(sub, 'unsubscribed');
      sub.subscribe();
      const subCtx = await subscribed;
      refused.check();
      assert.deepEqual(p.decode(subCtx.data), { user: 'u1', channel });

      // Publish: subscribers get the backend's data, not the client's.
      const publication = once(sub, 'publication');
      await sub.publish(p.encode({ text: 'hello' }));
      const pub = await publication;
      assert.deepEqual(p.decode(pub.data), { original: { text: 'hello' }, moderated: true, user: 'u1' });
      assert.equal(pub.info?.user, 'u1');
      assert.equal(pub.info?.client, ctx.client);

      // RPC: the backend's result comes back.
      const res = await c.rpc('sum', p.encode({ a: 2, b: 3 }));
      assert.deepEqual(p.decode(res.data), { sum: 5, user: 'u1', protocol: p.name });

      // Refresh: the connection outlives its first expiry because the backend
      // extended it, twice (the second proves the first refresh's expire_at
      // was used).
      await waitFor(async () => {
        const { count } = p.decode((await c.rpc('refreshes', p.encode({}))).data);
        assert.ok(count >= 2, `backend saw ${count} refreshes of this connection, want 2`);
        assert.ok(Date.now() / 1000 > firstExpiry, 'still before the first expiry');
      }, REFRESH_WAIT_MS, 200);
      assert.equal(c.state, 'connected');
      assert.equal(sub.state, 'subscribed');
      noDisconnect.check();
      noReconnect.check();
    });
  }
});
