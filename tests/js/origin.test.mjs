// Origin check at the WebSocket upgrade.
// Server config: allowed_origins ["http://good.example"]. Tokens: ALICE.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import {
  protocols, token, wsURL, connect, disconnectAll, WAIT_MS,
} from './helper.mjs';

const GOOD = 'http://good.example';
const EVIL = 'http://evil.example';

/** A `ws` WebSocket class that sends the given Origin header. */
function webSocketWithOrigin(origin) {
  return class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { origin });
    }
  };
}

const sockets = new Set();

/**
 * Opens a raw WebSocket with an Origin header (and subprotocol, if any).
 * Resolves with {ws} once open, or {status} when the server answers the
 * upgrade with another HTTP status.
 */
function dial(origin, subprotocol) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsURL(), subprotocol ? [subprotocol] : [], { origin, handshakeTimeout: WAIT_MS });
    sockets.add(ws);
    ws.once('open', () => resolve({ ws }));
    ws.once('error', (err) => {
      const m = /Unexpected server response: (\d+)/.exec(err.message);
      if (m) {
        resolve({ status: Number(m[1]) });
      } else {
        reject(err);
      }
    });
  });
}

/** Sends a JSON connect command on ws and resolves with the reply to it. */
function jsonConnect(ws, tok) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no connect reply within ${WAIT_MS} ms`)), WAIT_MS);
    ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        if (line.trim() === '') {
          continue;
        }
        const reply = JSON.parse(line);
        if (reply.id === 1) {
          clearTimeout(timer);
          resolve(reply);
        }
      }
    });
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      reject(new Error(`closed before the connect reply: ${code} ${reason}`));
    });
    ws.send(JSON.stringify({ id: 1, connect: { token: tok } }));
  });
}

describe('origin check', () => {
  afterEach(() => {
    for (const ws of sockets) {
      ws.terminate();
    }
    sockets.clear();
    disconnectAll();
  });

  for (const subprotocol of [undefined, 'centrifuge-protobuf']) {
    const name = subprotocol ?? 'no subprotocol';
    it(`refuses a disallowed Origin with 403 (${name})`, async () => {
      const { status, ws } = await dial(EVIL, subprotocol);
      assert.equal(ws, undefined, 'upgrade from a disallowed origin succeeded');
      assert.equal(status, 403);
    });

    it(`accepts an allowed Origin (${name})`, async () => {
      const { status, ws } = await dial(GOOD, subprotocol);
      assert.equal(status, undefined, `upgrade refused with ${status}`);
      assert.equal(ws.readyState, WebSocket.OPEN);
      assert.equal(ws.protocol, subprotocol ?? '');
    });
  }

  it('serves the client protocol to an allowed Origin', async () => {
    const { ws } = await dial(GOOD);
    assert.ok(ws, 'upgrade refused');
    const reply = await jsonConnect(ws, token('ALICE'));
    assert.equal(reply.error, undefined, `connect error ${JSON.stringify(reply.error)}`);
    assert.ok(reply.connect?.client, `connect reply without client id: ${JSON.stringify(reply)}`);
  });

  for (const p of protocols) {
    it(`lets the ${p.name} SDK connect from an allowed Origin`, async () => {
      const { client, ctx } = await connect(p, token('ALICE'), { websocket: webSocketWithOrigin(GOOD) });
      assert.notEqual(ctx.client, '');
      assert.equal(client.state, 'connected');
    });
  }
});
