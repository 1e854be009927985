// Browser test of the ticket-booking demo, in headless Chromium driven by
// playwright-core. It is run by the Go test TestBrowserThroughNginx, which
// starts Rotor, the demo and nginx and passes:
//
//   TB_URL      the page, through nginx (http://127.0.0.1:PORT/)
//   TB_OUT      where to write screenshots
//   TB_TTL_MS   the demo's (shortened) reservation lifetime
//   CHROMIUM    the browser (default /usr/bin/chromium)
//
// Two browser contexts are two users, A and B, on the same screening:
//   1. A reserves a seat; B's page shows it taken within 1 s, without a reload.
//   2. The reservation expires; the seat turns free on both pages.
//   3. A reserves and pays; B sees the seats taken; A gets the purchase
//      event on its personal channel (user#<id>) and the ticket is listed.
//   4. B reserves and cancels; A sees the seats taken, then free.
//   5. An anonymous visitor sees the taken seats and no tickets.
// It exits non-zero at the first failed check.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const url = process.env.TB_URL;
const out = process.env.TB_OUT;
const ttl = Number(process.env.TB_TTL_MS);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!url || !out || !(ttl > 0)) {
  console.error('TB_URL, TB_OUT and TB_TTL_MS must be set (see the header of this file)');
  process.exit(2);
}
mkdirSync(out, { recursive: true });

// LIVE_MS is the bound the demo promises: a change shows on other pages
// within a second.
const LIVE_MS = 1000;

const watchdog = setTimeout(() => {
  console.error('FAIL: the browser test did not finish in 150 s');
  process.exit(1);
}, 150_000);

let step = '';
const t0 = Date.now();
function log(msg) {
  console.log(`[${((Date.now() - t0) / 1000).toFixed(2)}s] ${msg}`);
}
function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
  ],
});

// openUser opens the page in a fresh context (its own storage: its own
// session) and watches it for errors and reloads.
async function openUser(name) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.log(`${name}: console ${m.type()}: ${m.text()}`);
  });
  let loads = 0;
  page.on('load', () => { loads++; });
  await page.goto(url);
  await page.waitForSelector('body[data-conn="connected"]', { timeout: 10_000 });
  return { name, context, page, loads: () => loads };
}

async function register(u, email) {
  const { page } = u;
  await page.fill('#auth-email', email);
  await page.fill('#auth-password', 'correct horse battery');
  await page.fill('#auth-name', u.name);
  await page.click('#btn-register');
  await page.waitForSelector('#signed-in:not([hidden])', { timeout: 10_000 });
  // The page reconnects with its token: the connect proxy now knows the user.
  await page.waitForSelector('body[data-conn="connected"]', { timeout: 10_000 });
  await page.waitForFunction(() => document.querySelector('#tickets').textContent.includes('No tickets yet'), null, { timeout: 10_000 });
  log(`${u.name} registered as ${email}`);
}

async function openScreening(u, id) {
  await u.page.click(`a.screening[data-id="${id}"]`);
  await u.page.waitForSelector('#hall[data-sub="subscribed"]', { timeout: 10_000 });
  await u.page.waitForSelector('#seats .seat[data-state]', { timeout: 10_000 });
}

function seat(name) {
  return `#seats .seat[data-seat="${name}"]`;
}

async function seatState(u, name) {
  return u.page.getAttribute(seat(name), 'data-state');
}

// waitSeat waits until the seat has the state on u's page and returns how
// long it took.
async function waitSeat(u, name, state, timeout) {
  const start = Date.now();
  await u.page.waitForSelector(`${seat(name)}[data-state="${state}"]`, { timeout });
  return Date.now() - start;
}

// reserve selects seats on u's page, clicks Reserve and returns the time of
// the click and the reservation the API answered.
async function reserve(u, seats) {
  for (const s of seats) {
    await u.page.click(seat(s));
    check(await seatState(u, s) === 'selected', `${u.name}: ${s} is not selected after a click`);
  }
  const clicked = Date.now();
  const [res] = await Promise.all([
    u.page.waitForResponse((r) => r.url().includes('/reservations') && r.request().method() === 'POST'),
    u.page.click('#btn-reserve'),
  ]);
  check(res.status() === 201, `${u.name}: reserving ${seats} answered ${res.status()}: ${await res.text()}`);
  const body = await res.json();
  for (const s of seats) await waitSeat(u, s, 'mine', 2_000);
  return { clicked, answered: Date.now(), reservation: body };
}

// seenWithin waits for the seat state on other's page, within LIVE_MS of
// since, and returns the delay.
async function seenWithin(other, name, state, since, what) {
  const left = Math.max(0, LIVE_MS - (Date.now() - since));
  try {
    await other.page.waitForSelector(`${seat(name)}[data-state="${state}"]`, { timeout: left });
  } catch {
    throw new Error(`${other.name}'s page did not show ${name} ${state} within ${LIVE_MS} ms of ${what} ` +
      `(it shows ${await seatState(other, name)})`);
  }
  const delay = Date.now() - since;
  log(`${other.name} saw ${name} ${state} ${delay} ms after ${what}`);
  return delay;
}

async function shot(u, file) {
  const path = join(out, file);
  await u.page.screenshot({ path });
  log(`screenshot ${path}`);
}

let failed = false;
try {
  step = 'open two users';
  const a = await openUser('Alice');
  const b = await openUser('Bob');
  const stamp = Date.now().toString(36);
  await register(a, `alice-${stamp}@example.com`);
  await register(b, `bob-${stamp}@example.com`);

  // A screening at least an hour away, so that it cannot start during the test.
  step = 'pick a screening';
  const id = await a.page.evaluate(() => {
    const soon = Date.now() + 3600_000;
    const el = [...document.querySelectorAll('a.screening')].find((e) => Number(e.dataset.starts) > soon);
    return el ? Number(el.dataset.id) : 0;
  });
  check(id > 0, 'no screening in the schedule starts in more than an hour');
  await openScreening(a, id);
  await openScreening(b, id);
  log(`both pages show screening ${id}`);
  const freeBefore = parseInt(await b.page.textContent(`a.screening[data-id="${id}"] .f`), 10);
  // A reload would lose this; it must still be there at the end.
  await b.page.evaluate(() => { window.__sameDocument = 'yes'; });
  await a.page.evaluate(() => { window.__sameDocument = 'yes'; });

  step = '1: A reserves, B sees it taken';
  const r1 = await reserve(a, ['C4']);
  log(`A reserved C4 (reservation ${r1.reservation.id}) in ${r1.answered - r1.clicked} ms`);
  await seenWithin(b, 'C4', 'taken', r1.clicked, "A's click on Reserve");
  // The schedule's count follows too (through the public channel).
  await b.page.waitForFunction(({ id, want }) =>
    document.querySelector(`a.screening[data-id="${id}"] .f`).textContent.startsWith(want + '/'),
  { id, want: freeBefore - 1 }, { timeout: LIVE_MS });
  check(await a.page.locator('#reservations .reservation[data-status="reserved"]').count() === 1,
    'A has no pending reservation listed');
  await shot(a, '1-alice-reserved.png');
  await shot(b, '1-bob-sees-taken.png');

  step = '2: the reservation expires';
  const expiresAt = new Date(r1.reservation.expires_at).getTime();
  const bound = Math.max(0, expiresAt - Date.now()) + 5_000;
  await Promise.all([waitSeat(a, 'C4', 'free', bound), waitSeat(b, 'C4', 'free', bound)]);
  const after = Date.now() - r1.answered;
  log(`C4 free again on both pages ${after} ms after the reservation (lifetime ${ttl} ms)`);
  check(after >= ttl - 1_000, `C4 was freed after ${after} ms, before the reservation's ${ttl} ms were up`);
  check(await a.page.locator('#reservations .reservation').count() === 0, "A's expired reservation is still listed");
  await shot(a, '2-alice-expired.png');
  await shot(b, '2-bob-sees-free.png');

  step = '3: A reserves and pays';
  const r2 = await reserve(a, ['D5', 'D6']);
  await seenWithin(b, 'D6', 'taken', r2.clicked, "A's click on Reserve");
  check(await seatState(b, 'D5') === 'taken', "B's page does not show D5 taken");
  await Promise.all([
    a.page.waitForResponse((r) => r.url().includes('/purchase')),
    a.page.click(`#reservations .reservation[data-id="${r2.reservation.id}"] .pay`),
  ]);
  await waitSeat(a, 'D5', 'paid', 2_000);
  // cinema.tickets.bought arrives on A's personal channel only.
  await a.page.waitForFunction(() => document.querySelector('#activity').textContent.includes('tickets bought'), null, { timeout: LIVE_MS + 1_000 });
  await a.page.waitForSelector(`#tickets .ticket[data-id="${r2.reservation.id}"][data-status="paid"]`, { timeout: 2_000 });
  const bActivity = await b.page.textContent('#activity');
  check(!bActivity.includes('tickets bought'), "B received A's purchase event");
  log('A paid D5 D6; the purchase event reached A only');

  step = '4: B reserves and cancels';
  const r3 = await reserve(b, ['E1', 'E2']);
  await seenWithin(a, 'E2', 'taken', r3.clicked, "B's click on Reserve");
  // A pending reservation of A's own, for the overview picture.
  await reserve(a, ['B3']);
  await shot(a, '3-alice-overview.png');
  const cancelClicked = Date.now();
  await Promise.all([
    b.page.waitForResponse((r) => r.url().includes('/cancel')),
    b.page.click(`#reservations .reservation[data-id="${r3.reservation.id}"] .cancel`),
  ]);
  await seenWithin(a, 'E1', 'free', cancelClicked, "B's click on Cancel");
  check(await seatState(a, 'E2') === 'free', "A's page does not show E2 free after B canceled");

  step = '5: an anonymous visitor';
  const c = await openUser('Carol');
  await openScreening(c, id);
  for (const s of ['D5', 'D6', 'B3']) check(await seatState(c, s) === 'taken', `the anonymous page shows ${s} as not taken`);
  check(await seatState(c, 'E1') === 'free', 'the anonymous page shows E1 as not free');
  await c.page.waitForFunction(() => document.querySelector('#tickets').textContent.includes('Sign in to see your tickets'), null, { timeout: 5_000 });
  await shot(c, '4-carol-anonymous.png');

  step = 'no reloads';
  for (const u of [a, b]) {
    check(await u.page.evaluate(() => window.__sameDocument) === 'yes', `${u.name}'s page was reloaded`);
    check(u.loads() === 1, `${u.name}'s page loaded ${u.loads()} times`);
  }
  log('PASS');
} catch (e) {
  failed = true;
  console.error(`FAIL in step "${step}": ${e.message}`);
  for (const ctx of browser.contexts()) {
    for (const [i, p] of ctx.pages().entries()) {
      try {
        await p.screenshot({ path: join(out, `failure-${browser.contexts().indexOf(ctx)}-${i}.png`) });
      } catch { /* best effort */ }
    }
  }
} finally {
  await browser.close();
  clearTimeout(watchdog);
}
process.exit(failed ? 1 : 0);
