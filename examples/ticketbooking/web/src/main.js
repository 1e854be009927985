// The ticket-booking page. It talks to two servers:
//  - the demo's REST API (same origin) to sign in, reserve, pay and cancel;
//  - Rotor over one WebSocket (the centrifuge SDK) for everything live: the
//    RPCs cinema.schedule, cinema.screening and user.tickets, which Rotor
//    forwards to the demo's proxy, and the channels screening.<id> (the
//    open seat map's changes), public (the changes of every screening, for
//    the schedule's free-seat counts) and user#<id> (the user's own
//    events). Messages on channels are {event, data} envelopes.
import { Centrifuge } from 'centrifuge';

const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = 'ticketbooking.token';

const state = {
  config: null,
  token: localStorage.getItem(TOKEN_KEY) || '',
  user: null,
  client: null,
  userSub: null,
  schedule: [],
  screeningId: 0,
  screeningSub: null,
  seatMap: null, // {screening, version, taken: Set, mine: [reservation]}
  selected: new Set(),
  tickets: [],
};

// ---- REST -----------------------------------------------------------------

async function api(method, path, body) {
  const headers = { 'Accept': 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (state.token) headers['Authorization'] = 'Bearer ' + state.token;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  if (res.status !== 204) {
    try { data = await res.json(); } catch { data = null; }
  }
  if (!res.ok) {
    const err = new Error((data && data.error) || res.statusText);
    err.status = res.status;
    err.data = data;
    throw err;
  }
  return data;
}

// ---- RPC over the WebSocket -------------------------------------------------

// rpc calls a method through Rotor; the demo answers application errors in
// the data as {error, code}, which become exceptions here.
async function rpc(method, data) {
  const res = await state.client.rpc(method, data || {});
  const out = res.data;
  if (out && typeof out === 'object' && !Array.isArray(out) && typeof out.error === 'string' && out.code) {
    const err = new Error(out.error);
    err.code = out.code;
    throw err;
  }
  return out;
}

// ---- connection -----------------------------------------------------------

function wsURL(configured) {
  if (/^wss?:\/\//.test(configured)) return configured;
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  return scheme + location.host + configured;
}

function connect() {
  const client = new Centrifuge(wsURL(state.config.websocket_url), {
    data: { authToken: state.token },
    minReconnectDelay: 300,
    maxReconnectDelay: 5000,
  });
  state.client = client;
  client.on('state', (ctx) => {
    document.body.dataset.conn = ctx.newState;
    $('#conn').textContent = ctx.newState;
  });
  client.on('connected', (ctx) => {
    activity(`connected to Rotor over ${ctx.transport}` + (state.user ? ` as ${state.user.name}` : ' anonymously'));
    loadSchedule();
    loadTickets();
  });
  client.on('disconnected', (ctx) => {
    // 101: the demo did not accept our token (the session ended): go on
    // anonymously.
    if (ctx.code === 101 && state.token) {
      toast('Your session has ended — please sign in again.', true);
      setSession(null);
      subscribeUser();
      client.setData({ authToken: '' });
      client.connect();
    }
  });

  const pub = client.newSubscription('public');
  pub.on('publication', (ctx) => onEvent(ctx.data));
  pub.subscribe();
  subscribeUser();
  client.connect();
}

// reconnect makes the connection again with the current token, so that the
// demo's connect proxy sees who we are now.
function reconnect() {
  state.client.disconnect();
  state.client.setData({ authToken: state.token });
  subscribeUser();
  state.client.connect();
}

function subscribeUser() {
  if (state.userSub) {
    state.userSub.unsubscribe();
    state.client.removeSubscription(state.userSub);
    state.userSub = null;
  }
  if (!state.user) return;
  const sub = state.client.newSubscription('user#' + state.user.id);
  sub.on('publication', (ctx) => onEvent(ctx.data));
  sub.subscribe();
  state.userSub = sub;
}

// ---- events -----------------------------------------------------------------

// seen holds the seat map changes handled, by screening and version: the
// open screening's changes arrive on both its channel and public.
const seen = new Set();

function onEvent(msg) {
  if (!msg || typeof msg.event !== 'string') return;
  const d = msg.data || {};
  switch (msg.event) {
    case 'cinema.tickets.reserved':
    case 'cinema.reservation.canceled': {
      const key = d.screening_id + ':' + d.version;
      if (seen.has(key)) return;
      seen.add(key);
      if (seen.size > 2000) seen.delete(seen.values().next().value);
      const taken = msg.event === 'cinema.tickets.reserved';
      onScheduleChanged(d, taken);
      onSeatsChanged(d, taken);
      break;
    }
    case 'cinema.tickets.bought':
      activity(`tickets bought: ${d.screening.movie}, ${d.seats.join(' ')}`);
      toast(`Enjoy the film! Tickets for ${d.screening.movie} (${d.seats.join(', ')}) are yours.`);
      loadTickets();
      break;
    default:
      activity(`event ${msg.event}`);
  }
}

// onSeatsChanged applies a seat map change. Each change carries the seat
// map's version: changes already seen are ignored, and a gap (a message
// missed, e.g. while reconnecting) makes the page fetch the whole map again.
function onSeatsChanged(d, taken) {
  const m = state.seatMap;
  const verb = taken ? 'reserved' : (d.reason === 'expired' ? 'released (reservation expired)' : 'released');
  const s = state.schedule.find((x) => x.id === d.screening_id);
  const where = d.screening_id === state.screeningId || !s ? '' : ` at ${s.movie} ${timeFmt.format(new Date(s.starts_at))}`;
  activity(`${d.seats.join(' ')} ${verb}${where}`);
  if (!m || d.screening_id !== m.screening.id || d.version <= m.version) return;
  const gap = d.version !== m.version + 1;
  for (const seat of d.seats) {
    if (taken) m.taken.add(seat); else m.taken.delete(seat);
  }
  m.version = d.version;
  if (!taken) {
    const mine = m.mine.find((r) => r.id === d.reservation_id);
    if (mine) {
      m.mine = m.mine.filter((r) => r.id !== d.reservation_id);
      if (d.reason === 'expired') toast(`Your reservation of ${d.seats.join(', ')} expired.`, true);
      loadTickets();
    }
  }
  renderSeats(d.seats);
  renderReservations();
  if (gap) loadSeatMap();
}

// ---- schedule -----------------------------------------------------------------

// onScheduleChanged keeps the free-seat counts of the schedule current.
function onScheduleChanged(d, taken) {
  const s = state.schedule.find((x) => x.id === d.screening_id);
  if (!s || d.version <= s.version) return; // counted in the schedule already
  s.version = d.version;
  s.free = Math.max(0, Math.min(s.capacity, s.free + (taken ? -1 : 1) * d.seats.length));
  const el = document.querySelector(`a.screening[data-id="${s.id}"] .f`);
  if (el) el.textContent = `${s.free}/${s.capacity} free`;
}

async function loadSchedule() {
  try {
    state.schedule = await rpc('cinema.schedule');
    renderSchedule();
  } catch (e) {
    $('#schedule').innerHTML = '';
    $('#schedule').append(li('muted', 'Could not load the schedule: ' + e.message));
  }
}

const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'short' });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const money = (cents) => '€' + (cents / 100).toFixed(2);

function renderSchedule() {
  const ol = $('#schedule');
  ol.innerHTML = '';
  let lastDay = '';
  for (const s of state.schedule) {
    const starts = new Date(s.starts_at);
    const day = dayFmt.format(starts);
    if (day !== lastDay) {
      ol.append(li('day', day));
      lastDay = day;
    }
    const a = document.createElement('a');
    a.className = 'screening' + (s.id === state.screeningId ? ' active' : '');
    a.href = '#/screening/' + s.id;
    a.dataset.id = s.id;
    a.dataset.starts = starts.getTime();
    a.innerHTML = `<span class="f"></span><div class="t"></div><div class="m"></div>`;
    a.querySelector('.t').textContent = s.movie;
    a.querySelector('.m').textContent = `${timeFmt.format(starts)} · ${s.hall}`;
    a.querySelector('.f').textContent = `${s.free}/${s.capacity} free`;
    const item = document.createElement('li');
    item.append(a);
    ol.append(item);
  }
  if (!state.schedule.length) ol.append(li('muted', 'No screenings coming up.'));
}

// ---- seat map -----------------------------------------------------------------

function route() {
  const m = location.hash.match(/^#\/screening\/(\d+)$/);
  openScreening(m ? Number(m[1]) : 0);
}

function openScreening(id) {
  if (id === state.screeningId) return;
  if (state.screeningSub) {
    state.screeningSub.unsubscribe();
    state.client.removeSubscription(state.screeningSub);
    state.screeningSub = null;
  }
  state.screeningId = id;
  state.seatMap = null;
  state.selected.clear();
  $('#hall').dataset.sub = 'none';
  $('#hall-view').hidden = !id;
  $('#hall-empty').hidden = !!id;
  document.querySelectorAll('.screening').forEach((a) => a.classList.toggle('active', Number(a.dataset.id) === id));
  if (!id) return;
  $('#seats').innerHTML = '';
  const sub = state.client.newSubscription('screening.' + id);
  sub.on('state', (ctx) => { $('#hall').dataset.sub = ctx.newState; });
  // (Re)subscribed: fetch the map, so that whatever happened while we were
  // away is shown; the changes that follow come as publications.
  sub.on('subscribed', () => loadSeatMap());
  sub.on('publication', (ctx) => onEvent(ctx.data));
  sub.on('error', (ctx) => activity('subscription error: ' + ctx.error.message));
  sub.subscribe();
  state.screeningSub = sub;
}

async function loadSeatMap() {
  const id = state.screeningId;
  let m;
  try {
    m = await rpc('cinema.screening', { id });
  } catch (e) {
    toast('Could not load the seat map: ' + e.message, true);
    return;
  }
  if (id !== state.screeningId) return;
  if (state.seatMap && state.seatMap.version > m.version) return; // a newer change arrived meanwhile
  state.seatMap = { screening: m.screening, version: m.version, taken: new Set(m.taken), mine: m.mine };
  for (const seat of [...state.selected]) if (state.seatMap.taken.has(seat)) state.selected.delete(seat);
  renderHall();
}

function seatState(seat) {
  const m = state.seatMap;
  for (const r of m.mine) {
    if (r.seats.includes(seat)) return r.status === 'paid' ? 'paid' : 'mine';
  }
  if (m.taken.has(seat)) return 'taken';
  if (state.selected.has(seat)) return 'selected';
  return 'free';
}

function renderHall() {
  const s = state.seatMap.screening;
  const starts = new Date(s.starts_at);
  $('#movie-title').textContent = s.movie;
  $('#movie-meta').textContent = `${dayFmt.format(starts)}, ${timeFmt.format(starts)} · ${s.hall} · ${money(s.price_cents)} a seat`;
  $('#movie-desc').textContent = s.description;
  const grid = $('#seats');
  grid.innerHTML = '';
  for (let r = 0; r < s.rows; r++) {
    const letter = String.fromCharCode(65 + r);
    const row = document.createElement('div');
    row.className = 'row';
    row.append(span('row-label', letter));
    for (let n = 1; n <= s.seats_per_row; n++) {
      const seat = letter + n;
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'seat';
      b.dataset.seat = seat;
      b.textContent = seat;
      b.addEventListener('click', () => toggleSeat(seat));
      row.append(b);
    }
    row.append(span('row-label', letter));
    grid.append(row);
  }
  renderSeats();
  renderReservations();
}

// renderSeats updates every seat's state; those in flash blink.
function renderSeats(flash) {
  if (!state.seatMap) return;
  document.querySelectorAll('#seats .seat').forEach((b) => {
    const st = seatState(b.dataset.seat);
    b.dataset.state = st;
    b.disabled = st === 'taken' || st === 'paid';
    b.title = `${b.dataset.seat}: ${st}`;
    if (flash && flash.includes(b.dataset.seat)) {
      b.classList.remove('flash');
      void b.offsetWidth; // restart the animation
      b.classList.add('flash');
    }
  });
  const n = state.selected.size;
  const price = state.seatMap.screening.price_cents;
  $('#selection').textContent = n
    ? `${[...state.selected].join(', ')} — ${money(price * n)}`
    : (state.user ? 'Pick free seats to reserve them.' : 'Sign in to reserve seats.');
  $('#btn-reserve').disabled = !n || !state.user;
  $('#btn-reserve').textContent = n ? `Reserve ${n} seat${n > 1 ? 's' : ''}` : 'Reserve';
}

function toggleSeat(seat) {
  const st = seatState(seat);
  if (st === 'free') state.selected.add(seat);
  else if (st === 'selected') state.selected.delete(seat);
  else return;
  renderSeats();
}

async function reserve() {
  const seats = [...state.selected];
  const id = state.screeningId;
  $('#btn-reserve').disabled = true;
  try {
    const r = await api('POST', `/api/screenings/${id}/reservations`, { seats });
    state.selected.clear();
    if (state.seatMap && id === state.screeningId) {
      for (const seat of r.seats) state.seatMap.taken.add(seat);
      state.seatMap.mine.push(r);
    }
    toast(`Reserved ${r.seats.join(', ')} — pay within ${fmtDuration(state.config.reservation_ttl_seconds)}.`);
    loadTickets();
  } catch (e) {
    toast(e.message, true);
    if (e.data && e.data.seats) e.data.seats.forEach((s) => state.selected.delete(s));
    loadSeatMap();
  }
  renderSeats();
  renderReservations();
}

function renderReservations() {
  const ul = $('#reservations');
  ul.innerHTML = '';
  if (!state.seatMap) return;
  for (const r of state.seatMap.mine) {
    const item = document.createElement('li');
    item.className = 'reservation';
    item.dataset.id = r.id;
    item.dataset.status = r.status;
    const what = span('what', '');
    what.innerHTML = '<strong></strong> <span class="muted"></span>';
    what.querySelector('strong').textContent = r.seats.join(', ');
    what.querySelector('.muted').textContent = `${money(state.seatMap.screening.price_cents * r.seats.length)} · ` +
      (r.status === 'paid' ? 'paid — enjoy the film' : 'reserved, pay before the clock runs out');
    item.append(what);
    if (r.status === 'reserved') {
      const clock = span('clock', '');
      clock.dataset.expires = new Date(r.expires_at).getTime();
      item.append(clock);
      item.append(button('Pay', 'pay', () => purchase(r.id)));
      item.append(button('Cancel', 'cancel secondary', () => cancel(r.id)));
    }
    ul.append(item);
  }
  tickClocks();
}

function tickClocks() {
  document.querySelectorAll('.clock').forEach((c) => {
    const left = Math.max(0, Math.round((Number(c.dataset.expires) - Date.now()) / 1000));
    c.textContent = left > 0 ? fmtClock(left) : 'expiring…';
  });
}

async function purchase(id) {
  try {
    const r = await api('POST', `/api/reservations/${id}/purchase`);
    if (state.seatMap) {
      const mine = state.seatMap.mine.find((x) => x.id === id);
      if (mine) mine.status = 'paid';
    }
    renderSeats();
    renderReservations();
    loadTickets();
    activity(`paid ${money(r.total_cents)} for ${r.seats.join(' ')}`);
  } catch (e) {
    toast(e.message, true);
    loadSeatMap();
  }
}

async function cancel(id) {
  try {
    const r = await api('POST', `/api/reservations/${id}/cancel`);
    if (state.seatMap) {
      state.seatMap.mine = state.seatMap.mine.filter((x) => x.id !== id);
      for (const seat of r.seats) state.seatMap.taken.delete(seat);
    }
    renderSeats();
    renderReservations();
    loadTickets();
  } catch (e) {
    toast(e.message, true);
    loadSeatMap();
  }
}

// ---- tickets -----------------------------------------------------------------

async function loadTickets() {
  const ul = $('#tickets');
  let list;
  try {
    list = await rpc('user.tickets');
  } catch (e) {
    ul.innerHTML = '';
    // Anonymous: the demo answers {error: "Unauthorized", code: 401}.
    ul.append(li('muted', e.code === 401 ? 'Sign in to see your tickets.' : 'Could not load tickets: ' + e.message));
    return;
  }
  state.tickets = list;
  ul.innerHTML = '';
  for (const t of list) {
    const item = document.createElement('li');
    item.className = 'ticket';
    item.dataset.id = t.id;
    item.dataset.status = t.status;
    const starts = new Date(t.screening.starts_at);
    item.innerHTML = '<span class="st"></span><strong></strong><div class="muted"></div>';
    item.querySelector('.st').textContent = t.status === 'paid' ? 'ticket' : 'reserved';
    item.querySelector('strong').textContent = t.screening.movie;
    item.querySelector('.muted').textContent =
      `${dayFmt.format(starts)} ${timeFmt.format(starts)} · ${t.screening.hall} · ${t.seats.join(' ')}`;
    ul.append(item);
  }
  if (!list.length) ul.append(li('muted', 'No tickets yet.'));
}

// ---- account -----------------------------------------------------------------

function setSession(session) {
  state.token = session ? session.token : '';
  state.user = session ? session.user : null;
  if (state.token) localStorage.setItem(TOKEN_KEY, state.token);
  else localStorage.removeItem(TOKEN_KEY);
  renderAccount();
}

function renderAccount() {
  $('#auth-form').hidden = !!state.user;
  $('#signed-in').hidden = !state.user;
  $('#user-name').textContent = state.user ? state.user.name : '';
  if (state.seatMap) renderSeats();
}

async function signIn(register) {
  const body = { email: $('#auth-email').value, password: $('#auth-password').value };
  if (register && $('#auth-name').value) body.name = $('#auth-name').value;
  try {
    setSession(await api('POST', register ? '/api/register' : '/api/login', body));
    $('#auth-password').value = '';
    toast(`Welcome, ${state.user.name}!`);
    reconnect();
  } catch (e) {
    toast(e.message, true);
  }
}

async function signOut() {
  try { await api('POST', '/api/logout'); } catch { /* signed out locally anyway */ }
  setSession(null);
  reconnect();
}

// ---- small helpers -----------------------------------------------------------

function li(cls, text) {
  const e = document.createElement('li');
  e.className = cls;
  e.textContent = text;
  return e;
}

function span(cls, text) {
  const e = document.createElement('span');
  e.className = cls;
  e.textContent = text;
  return e;
}

function button(text, cls, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = cls;
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

function fmtClock(s) {
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function fmtDuration(s) {
  return s >= 60 && s % 60 === 0 ? `${s / 60} min` : `${s} s`;
}

function activity(text) {
  const ul = $('#activity');
  const first = ul.querySelector('.muted');
  if (first) first.remove();
  const item = document.createElement('li');
  const t = document.createElement('time');
  t.textContent = new Date().toLocaleTimeString();
  item.append(t, document.createTextNode(text));
  ul.prepend(item);
  while (ul.children.length > 8) ul.lastChild.remove();
}

let toastTimer = 0;
function toast(text, error) {
  const t = $('#toast');
  t.textContent = text;
  t.className = 'toast' + (error ? ' error' : '');
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

// ---- start ---------------------------------------------------------------------

async function start() {
  state.config = await api('GET', '/api/config');
  if (state.token) {
    try {
      state.user = await api('GET', '/api/me');
    } catch (e) {
      if (e.status === 401) setSession(null);
    }
  }
  renderAccount();
  $('#auth-form').addEventListener('submit', (e) => { e.preventDefault(); signIn(false); });
  $('#btn-register').addEventListener('click', () => {
    if ($('#auth-form').reportValidity()) signIn(true);
  });
  $('#btn-logout').addEventListener('click', signOut);
  $('#btn-reserve').addEventListener('click', reserve);
  setInterval(tickClocks, 1000);
  connect();
  window.addEventListener('hashchange', route);
  route();
}

start().catch((e) => toast('The page could not start: ' + e.message, true));
