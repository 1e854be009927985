// Shared helpers of the centrifuge-js end-to-end tests.
//
// The tests are started by internal/e2e/js_test.go, which runs a Rotor server
// per test file and passes its addresses and tokens in the environment:
//   ROTOR_WS_URL     ws://host:port/connection/websocket
//   ROTOR_HTTP_URL   http://host:port
//   ROTOR_API_KEY    the server API key
//   ROTOR_TOKEN_<NAME>  tokens made by the Go side (connection or subscription)
import WebSocket from 'ws';
import { Centrifuge as JsonCentrifuge } from 'centrifuge';
import { Centrifuge as ProtobufCentrifuge } from 'centrifuge/build/protobuf';

/** How long a test waits for one expected event, in ms. */
export const WAIT_MS = 5000;

/** Returns the environment variable name, failing loudly when it is unset. */
export function env(name) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    throw new Error(`environment variable ${name} is not set: run these tests through "go test ./internal/e2e/"`);
  }
  return v;
}

/** Returns the token the Go side passed as ROTOR_TOKEN_<name>. */
export function token(name) {
  return env(`ROTOR_TOKEN_${name}`);
}

export const wsURL = () => env('ROTOR_WS_URL');
export const httpURL = () => env('ROTOR_HTTP_URL');

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The two wire formats. `encode` turns a JSON value into what the SDK of that
 * format publishes; `decode` turns received publication data back into it.
 */
export const protocols = [
  {
    name: 'json',
    Centrifuge: JsonCentrifuge,
    encode: (v) => v,
    decode: (d) => d,
  },
  {
    name: 'protobuf',
    Centrifuge: ProtobufCentrifuge,
    encode: (v) => encoder.encode(JSON.stringify(v)),
    decode: (d) => {
      if (!(d instanceof Uint8Array)) {
        throw new Error(`protobuf publication data is not a Uint8Array: ${typeof d}`);
      }
      return JSON.parse(decoder.decode(d));
    },
  },
];

/** Clients made by newClient, disconnected by disconnectAll. */
const clients = new Set();

/**
 * Builds a client of protocol p (not connected). Options are passed to the
 * SDK; the WebSocket implementation is the `ws` package (Node 20 has no
 * global WebSocket).
 */
export function newClient(p, options = {}) {
  const c = new p.Centrifuge(options.endpoint ?? wsURL(), {
    websocket: WebSocket,
    minReconnectDelay: 50,
    maxReconnectDelay: 200,
    timeout: WAIT_MS,
    ...options,
  });
  clients.add(c);
  return c;
}

/** Disconnects every client made by newClient, so the test process can exit. */
export function disconnectAll() {
  for (const c of clients) {
    c.removeAllListeners();
    c.disconnect();
  }
  clients.clear();
}

/**
 * Resolves with the context of the first `event` emitted by emitter that
 * satisfies pred (any, by default); rejects after ms. Listen before provoking
 * the event. The returned promise counts as handled, so one that loses a race
 * never surfaces as an unhandled rejection, and its timer does not keep the
 * process alive.
 */
export function onceWhere(emitter, event, pred, ms = WAIT_MS) {
  const promise = new Promise((resolve, reject) => {
    const on = (ctx) => {
      if (!pred(ctx)) {
        return;
      }
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(ctx);
    };
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no "${event}" event within ${ms} ms`));
    }, ms);
    timer.unref();
    emitter.on(event, on);
  });
  promise.catch(() => {});
  return promise;
}

/** onceWhere for any `event`. */
export function once(emitter, event, ms = WAIT_MS) {
  return onceWhere(emitter, event, () => true, ms);
}

/**
 * Records every `event` emitted by emitter from now on; check() throws if
 * there was one. Used to assert that something (a connect, a disconnect, a
 * publication) did not happen.
 */
export function forbid(emitter, event) {
  const seen = [];
  const on = (ctx) => seen.push(ctx);
  emitter.on(event, on);
  return {
    check() {
      emitter.off(event, on);
      if (seen.length > 0) {
        throw new Error(`unexpected "${event}" event: ${show(seen[0])}`);
      }
    },
  };
}

function show(ctx) {
  try {
    return JSON.stringify(ctx);
  } catch {
    return String(ctx);
  }
}

/** Connects a client of protocol p with token and resolves with the connected context. */
export async function connect(p, tok, options = {}) {
  const c = newClient(p, { token: tok, ...options });
  const connected = once(c, 'connected');
  c.connect();
  const ctx = await connected;
  return { client: c, ctx };
}

/** Subscribes c to channel and resolves with the subscription once subscribed. */
export async function subscribe(c, channel, options = {}) {
  const sub = c.newSubscription(channel, options);
  const outcome = subscribeOutcome(sub);
  sub.subscribe();
  const { ok, ctx } = await outcome;
  if (!ok) {
    throw new Error(`subscribe to ${channel} refused: ${ctx.code} ${ctx.reason}`);
  }
  return sub;
}

/**
 * Resolves with {ok: true, ctx} on the subscription's next `subscribed`
 * event, or {ok: false, ctx} on its next `unsubscribed` event. Call before
 * sub.subscribe().
 */
export function subscribeOutcome(sub) {
  return Promise.race([
    once(sub, 'subscribed').then((ctx) => ({ ok: true, ctx })),
    once(sub, 'unsubscribed').then((ctx) => ({ ok: false, ctx })),
  ]);
}

/** Calls POST /api/<method> with the API key; resolves with the parsed reply. */
export async function api(method, body) {
  const res = await fetch(`${httpURL()}/api/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': env('ROTOR_API_KEY') },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`api ${method}: status ${res.status}: ${text}`);
  }
  return JSON.parse(text);
}

/** Like api, but rejects on an error reply and resolves with the result. */
export async function apiResult(method, body) {
  const reply = await api(method, body);
  if (reply.error) {
    throw new Error(`api ${method}: error ${JSON.stringify(reply.error)}`);
  }
  return reply.result ?? {};
}

/** Polls fn (which may be async and throws until its condition holds) for up to ms. */
export async function waitFor(fn, ms = WAIT_MS, pollMs = 20) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) {
        throw err;
      }
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
