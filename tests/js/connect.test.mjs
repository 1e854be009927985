// Connection flows with centrifuge-js: connecting with a token, refused and
// expired tokens, and a terminal disconnect through the server API.
// Server config: defaults (client_insecure off). Tokens: ALICE, BOB (users
// alice and bob), FOREIGN (signed with another secret), EXPIRED (alice,
// expired a minute ago).
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  protocols, token, newClient, connect, disconnectAll, once, onceWhere, forbid, apiResult, waitFor,
} from './helper.mjs';

async function numClients() {
  const res = await apiResult('info', {});
  assert.ok(Array.isArray(res.nodes) && res.nodes.length > 0, `info: no nodes in ${JSON.stringify(res)}`);
  return res.nodes.reduce((n, node) => n + (node.num_clients ?? 0), 0);
}

for (const p of protocols) {
  describe(`connect over ${p.name}`, () => {
    afterEach(() => disconnectAll());

    it('connects with a valid token', async () => {
      const { client, ctx } = await connect(p, token('ALICE'));
      assert.equal(typeof ctx.client, 'string');
      assert.notEqual(ctx.client, '', 'client id is empty');
      assert.equal(ctx.transport, 'websocket');
      assert.equal(client.state, 'connected');
      await waitFor(async () => assert.equal(await numClients(), 1));
    });

    it('is disconnected for good by the server API with code 4501', async () => {
      const { client: alice } = await connect(p, token('ALICE'));
      const { client: bob } = await connect(p, token('BOB'));
      const disconnected = once(alice, 'disconnected');
      const aliceReconnecting = forbid(alice, 'connecting');
      const bobDisconnected = forbid(bob, 'disconnected');

      await apiResult('disconnect', { user: 'alice', disconnect: { code: 4501, reason: 'banned by test' } });

      const ctx = await disconnected;
      assert.equal(ctx.code, 4501);
      assert.equal(ctx.reason, 'banned by test');
      assert.equal(alice.state, 'disconnected');
      // Only alice's connection is gone.
      await waitFor(async () => assert.equal(await numClients(), 1));
      assert.equal(bob.state, 'connected');
      aliceReconnecting.check();
      bobDisconnected.check();
    });

    it('is refused with 3500 for a token signed with another secret', async () => {
      const c = newClient(p, { token: token('FOREIGN') });
      const disconnected = once(c, 'disconnected');
      const connected = forbid(c, 'connected');
      c.connect();
      const ctx = await disconnected;
      assert.equal(ctx.code, 3500, `disconnected with ${ctx.code} ${ctx.reason}`);
      assert.equal(c.state, 'disconnected');
      connected.check();
    });

    it('gets error 109 for an expired token, then connects with a new one from getToken', async () => {
      let calls = 0;
      const c = newClient(p, {
        token: token('EXPIRED'),
        getToken: async () => {
          calls++;
          return token('ALICE');
        },
      });
      const connectError = onceWhere(c, 'error', (ctx) => ctx.type === 'connect');
      const connected = once(c, 'connected');
      c.connect();
      const err = await connectError;
      assert.equal(err.error.code, 109, `connect error ${JSON.stringify(err.error)}`);
      const ctx = await connected;
      assert.notEqual(ctx.client, '');
      assert.equal(calls, 1, 'getToken calls');
    });

    it('gets error 109 for an expired token and stops without getToken', async () => {
      const c = newClient(p, { token: token('EXPIRED') });
      const connectError = onceWhere(c, 'error', (ctx) => ctx.type === 'connect');
      const disconnected = once(c, 'disconnected');
      const connected = forbid(c, 'connected');
      c.connect();
      const err = await connectError;
      assert.equal(err.error.code, 109, `connect error ${JSON.stringify(err.error)}`);
      const ctx = await disconnected;
      assert.equal(ctx.code, 1, `disconnected with ${ctx.code} ${ctx.reason} (want 1 unauthorized)`);
      connected.check();
    });
  });
}
