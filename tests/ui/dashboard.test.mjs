// The dashboard in a real browser (Debian's Chromium, headless), against a
// running stack: every page loads without console errors at laptop and phone
// widths, signed in as the operator and signed out (public pages work, the
// operator's pages show the sign-in state); the operator signs in through the
// dialog (a wrong token leaves the page signed out; the session is an HttpOnly
// cookie, the token is stored nowhere); a trip booked through the form shows on
// the station's timeline; a 409 offers alternatives that book; the operator
// cancels from the timeline; a stopped peer turns red within 10 s; without the
// websocket the page polls. Screenshots land in tests/ui/artifacts/. Needs
// EVC_STACK_DIR (make test-ui).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  stack, launch, newPage, screenshot, until, rest, iso, recifeLocal, stackCommand, randomId, operator, asCar, signIn, signOut,
  DESKTOP, PHONE,
} from './helpers.mjs';

const S = stack();
const A = S.byId.a || S.companies[0];
const PEER = S.companies.find((c) => c.id !== A.id && c.id === 'c') || S.companies[S.companies.length - 1];
const B_STATION = S.byId.b ? 'b-rec-01' : null;
const ADMIN = operator(A); // REST setup as this company's operator
const MIN = 60 * 1000;
const HOUR = 60 * MIN;
const RUN = randomId(5);

let browser;
const made = {}; // ids created by before()

async function createStation(suffix, chargers) {
  const id = A.id + '-ui' + RUN + suffix;
  const r = await rest(A.http_url, 'POST', '/stations', {
    id, name: 'UI test ' + suffix.toUpperCase() + ' ' + RUN, city: 'João Pessoa', lat: -7.16, lon: -34.86,
    chargers, power_kw: 150, price_per_kwh: 2.1,
  }, ADMIN);
  assert.equal(r.status, 201, 'creating station ' + id + ': ' + JSON.stringify(r.body));
  return id;
}

/* A few telemetry samples over the last hour for some cars, so the Cars page has charts. */
function publishTelemetry() {
  const [host, port] = S.info.mqtt_url.replace('tcp://', '').split(':');
  const profiles = ['slow', 'normal', 'fast', 'erratic', 'normal'];
  const now = Date.now();
  profiles.forEach((profile, i) => {
    const car = 'ui-car-' + (i + 1);
    const lines = [];
    for (let k = 12; k >= 0; k--) {
      const soc = Math.max(5, 90 - i * 15 - (12 - k) * (1 + i * 0.4)); // percent
      lines.push(JSON.stringify({ ts: iso(now - k * 5 * MIN), lat: -7.1 - i * 0.9 - (12 - k) * 0.02, lon: -34.9 - i * 0.3,
        soc, speed_kmh: 80 + i * 5, consumption_kwh_per_100km: 15 + i * 2, profile }));
    }
    // The broker takes no anonymous client: the stack's operator user publishes.
    execFileSync('mosquitto_pub', ['-h', host, '-p', port, '-u', S.info.mqtt_username, '-P', S.info.mqtt_password,
      '-q', '1', '-t', 'evc/v1/' + A.id + '/cars/' + car + '/telemetry', '-l'],
      { input: lines.join('\n') + '\n', timeout: 10000 });
  });
}

before(async () => {
  browser = await launch();
  made.station = await createStation('t', 4);
  made.full = await createStation('f', 1);
  publishTelemetry();
  // A trip booked over REST, for the trip page and the lists.
  const start = Math.ceil((Date.now() + 3 * HOUR) / (5 * MIN)) * 5 * MIN + Math.floor(Math.random() * 60) * 5 * MIN;
  const legs = [{ station_id: made.station, start: iso(start), end: iso(start + 40 * MIN) }];
  if (B_STATION) legs.push({ station_id: B_STATION, start: iso(start + 3 * HOUR), end: iso(start + 3 * HOUR + 30 * MIN) });
  // Booked by the car itself, with a token its company's operator issued for it.
  const car = 'ui-rest-' + RUN;
  const r = await rest(A.http_url, 'POST', '/trips', { car_id: car, legs },
    Object.assign({ 'Idempotency-Key': 'ui-' + RUN + '-seed' }, await asCar(A, car)));
  assert.equal(r.status, 201, 'seed trip: ' + JSON.stringify(r.body));
  made.trip = r.body.id;
});

after(async () => {
  if (browser) await browser.close();
});

const PAGES = [
  ['overview', '#/', '#stations .station-card'],
  ['map', '#/map', '#map-svg .st-link'],
  ['station', () => '#/station/' + made.station, '#gantt .gantt-row[data-charger]'],
  ['trips', '#/trips', '#trips-table tbody tr[data-trip]'],
  ['trip', () => '#/trip/' + made.trip, '#trip-legs .leg'],
  ['book', '#/trips/new', '#plan'],
  ['federation', '#/federation', '.company-card[data-status="up"]:not([data-company="' + A.id + '"])'],
  ['cars', '#/cars', '#car-grid .car-card .spark-line'],
  ['business', '#/business', '#business-daily .bar-charts'],
];

for (const [label, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  test('every page loads without console errors (' + label + ')', async () => {
    const page = await newPage(browser, viewport);
    try {
      await page.goto(A.http_url + '/#/');
      await signIn(page, A.admin_token);
      for (const [name, hash, ready] of PAGES) {
        await page.goto(A.http_url + '/' + (typeof hash === 'function' ? hash() : hash));
        await page.locator(ready).first().waitFor({ state: 'visible', timeout: 15000 });
        await page.waitForTimeout(700); // let the live snapshot and late reads land
        await screenshot(page, name + '-' + label);
        assert.deepEqual(page.errors, [], name + ' page: console errors');
        if (viewport === PHONE) {
          // Nothing wider than the screen: the page itself never scrolls sideways (wide parts scroll inside).
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          assert.ok(overflow <= 1, name + ' page scrolls sideways by ' + overflow + ' px at 375 px');
        }
        if (name === 'overview') {
          await until(page, () => document.querySelector('#live-status').dataset.state === 'live', null, 10000, 'the websocket');
          const h1 = await page.locator('h1').first().textContent();
          assert.equal(h1, 'Overview');
        }
      }
    } finally {
      await page.context().close();
    }
  });
}

/* Signed out: what each page shows instead of the operator's data (or its public content). */
const SIGNED_OUT = [
  ['overview', '#/', ['#stations .station-card', '#reservations [data-needs="operator"]']],
  ['map', '#/map', ['#map-svg .st-link', '#map-cars-gate [data-needs="operator"]']],
  ['station', () => '#/station/' + made.station, ['#station-occupancy', '#gantt [data-needs="operator"]']],
  ['trips', '#/trips', ['[data-needs="operator"]']],
  ['trip', () => '#/trip/' + made.trip, ['.trip-body [data-needs="operator"]']],
  ['book', '#/trips/new', ['#book-signin [data-needs="operator"]']],
  ['federation', '#/federation', ['.company-card[data-status="up"]:not([data-company="' + A.id + '"])']],
  ['cars', '#/cars', ['#car-grid [data-needs="operator"]']],
  ['business', '#/business', ['#business-daily [data-needs="operator"]']],
];

for (const [label, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
  test('signed out, public pages work and the operator\'s pages ask to sign in (' + label + ')', async () => {
    const page = await newPage(browser, viewport);
    const needsCredential = [];
    page.on('response', (res) => { if (res.status() === 401) needsCredential.push(res.request().method() + ' ' + res.url()); });
    try {
      for (const [name, hash, readies] of SIGNED_OUT) {
        await page.goto(A.http_url + '/' + (typeof hash === 'function' ? hash() : hash));
        for (const ready of readies) await page.locator(ready).first().waitFor({ state: 'visible', timeout: 15000 });
        await page.waitForTimeout(700); // the live snapshot lands: it must not bring the operator's data back
        await screenshot(page, name + '-signed-out-' + label);
        assert.deepEqual(page.errors, [], name + ' page, signed out: console errors');
        assert.equal(await page.locator('#operator-badge').isVisible(), false);
        if (['trips', 'trip', 'book', 'cars', 'business'].includes(name)) {
          assert.match(await page.locator('[data-needs="operator"] .signin-text').first().textContent(),
            /^Sign in as this company’s operator to /, name + ' page: the sign-in state');
        }
        if (name === 'book') assert.equal(await page.locator('#plan').isVisible(), false, 'no booking form signed out');
        if (name === 'map' || name === 'cars') {
          assert.equal(await page.locator('#map-svg .car, #car-grid .car-card').count(), 0, name + ': no car shown signed out');
        }
        if (viewport === PHONE) {
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          assert.ok(overflow <= 1, name + ' page scrolls sideways by ' + overflow + ' px at 375 px, signed out');
        }
      }
      assert.deepEqual(needsCredential, [], 'signed out, the pages asked for what needs a credential');
    } finally {
      await page.context().close();
    }
  });
}

test('a wrong token leaves the page signed out; after sign-out the cars page shows no car', async () => {
  const page = await newPage(browser);
  try {
    await page.goto(A.http_url + '/#/cars');
    await page.locator('#car-grid [data-needs="operator"]').waitFor();
    // A wrong token: the dialog says so and stays open; nothing is signed in.
    await page.click('#session-button');
    await page.locator('#signin-dialog[open]').waitFor();
    await page.fill('#signin-token', 'not-the-token-' + RUN);
    await page.click('#signin-submit');
    await until(page, () => /not this company’s operator token/.test(document.querySelector('#signin-error').textContent),
      null, 10000, 'the sign-in error');
    await screenshot(page, 'signin-wrong-token');
    assert.equal(await page.locator('#signin-dialog').isVisible(), true, 'the dialog stays open');
    assert.equal(await page.inputValue('#signin-token'), '', 'the wrong token is not left in the field');
    await page.click('#signin-cancel');
    assert.equal(await page.locator('#operator-badge').isVisible(), false);
    assert.equal(await page.evaluate(() => document.documentElement.classList.contains('is-admin')), false);
    const session = await page.evaluate(() => fetch('/api/v1/session').then((r) => r.json()));
    assert.equal(session.operator, false, 'the server sees no operator either');
    assert.equal(await page.locator('#car-grid .car-card').count(), 0);
    // Only the refused sign-in itself may have logged an error.
    assert.deepEqual(page.errors.filter((e) => !/status of 401/.test(e)), []);
    page.errors.length = 0;

    // The right token: the cars appear, with their positions.
    await signIn(page, A.admin_token);
    assert.equal(await page.locator('#operator-badge').textContent(), 'Operator ✓');
    await page.locator('#car-grid .car-card .spark-line').first().waitFor();
    assert.ok(await page.locator('#car-grid .car-card').count() > 0);

    // Signed out: the sign-in state, and no car, no position, not even from the live snapshot.
    await signOut(page);
    await page.locator('#car-grid [data-needs="operator"]').waitFor();
    await page.waitForTimeout(2500); // a snapshot or two
    assert.equal(await page.locator('#car-grid .car-card').count(), 0, 'no car card after sign-out');
    const text = await page.locator('#main').textContent();
    assert.doesNotMatch(text, /-?\d{1,2}\.\d{3}, -?\d{1,3}\.\d{3}/, 'no position on the page after sign-out');
    assert.doesNotMatch(text, /ui-car-\d/, 'no car id on the page after sign-out');
    assert.match(await page.locator('#car-grid .signin-text').textContent(), /^Sign in as this company’s operator to see its cars/);
    await screenshot(page, 'cars-signed-out');
    const after = await page.evaluate(() => fetch('/api/v1/cars').then((r) => r.status));
    assert.equal(after, 401, 'GET /cars after sign-out');
    // The map too: no car dot.
    await page.goto(A.http_url + '/#/map');
    await page.locator('#map-svg .st-link').first().waitFor();
    await page.waitForTimeout(1500);
    assert.equal(await page.locator('#map-svg .car').count(), 0, 'no car on the map after sign-out');
    assert.deepEqual(page.errors.filter((e) => !/status of 401/.test(e)), []);
  } finally {
    await page.context().close();
  }
});

test('the session is an HttpOnly cookie and the token is stored nowhere', async () => {
  const page = await newPage(browser);
  try {
    await page.goto(A.http_url + '/#/');
    await signIn(page, A.admin_token);
    const seen = await page.evaluate((token) => {
      const all = (st) => Object.keys(st).map((k) => k + '=' + st.getItem(k)).join('\n');
      return {
        cookie: document.cookie,
        local: all(localStorage),
        session: all(sessionStorage),
        inDom: document.documentElement.outerHTML.includes(token),
        fields: [...document.querySelectorAll('input')].some((i) => i.value.includes(token)),
      };
    }, A.admin_token);
    assert.doesNotMatch(seen.cookie, /evc_session/, 'document.cookie shows the session cookie');
    assert.ok(!seen.local.includes(A.admin_token), 'the token is in localStorage');
    assert.ok(!seen.session.includes(A.admin_token), 'the token is in sessionStorage');
    assert.equal(seen.inDom, false, 'the token is in the page');
    assert.equal(seen.fields, false, 'the token is left in a field');
    // The browser does hold the session: HttpOnly, SameSite=Strict, and no token in it.
    const cookies = await page.context().cookies(A.http_url);
    const c = cookies.find((x) => x.name === 'evc_session_' + A.id);
    assert.ok(c, 'the evc_session_' + A.id + ' cookie is set');
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, 'Strict');
    assert.ok(!c.value.includes(A.admin_token), 'the cookie holds the token itself');
    // And the page's requests carry no Authorization header: the cookie is the credential.
    const auth = [];
    page.on('request', (req) => { if (req.headers().authorization) auth.push(req.url()); });
    await page.goto(A.http_url + '/#/cars');
    await page.locator('#car-grid .car-card').first().waitFor();
    assert.deepEqual(auth, [], 'requests with an Authorization header');
    assert.deepEqual(page.errors, []);
  } finally {
    await page.context().close();
  }
});

test('the main pages are usable with the keyboard alone', async () => {
  const page = await newPage(browser);
  try {
    await page.goto(A.http_url + '/#/');
    await page.locator('#stations .station-card').first().waitFor();
    // The skip link comes first, then the brand and the navigation.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.className), 'skip-link');
    let reached = false;
    for (let i = 0; i < 8 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement.getAttribute('href') === '#/federation');
    }
    assert.ok(reached, 'the Federation link is reachable with Tab');
    await page.keyboard.press('Enter');
    await page.locator('.company-card').first().waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1', 'focus moves to the new page\'s heading');
    assert.deepEqual(page.errors, []);
  } finally {
    await page.context().close();
  }
});

test('a trip booked through the form shows on the station timeline', async () => {
  const page = await newPage(browser);
  const car = 'ui-' + RUN + '-t';
  try {
    await page.goto(A.http_url + '/#/trips/new');
    await signIn(page, A.admin_token);
    await page.locator('#leg-station-0 option[value="' + made.station + '"]').waitFor({ state: 'attached' });
    await page.click('#mode-manual');
    const start = Math.ceil((Date.now() + 2 * HOUR) / (5 * MIN)) * 5 * MIN + Math.floor(Math.random() * 24) * 5 * MIN;
    await page.fill('#book-car', car);
    await page.selectOption('#leg-station-0', made.station);
    await page.fill('#leg-start-0', recifeLocal(start));
    await page.selectOption('#leg-duration-0', '40');
    if (B_STATION) {
      await page.click('#add-leg');
      await page.selectOption('#leg-station-1', B_STATION);
      await page.fill('#leg-start-1', recifeLocal(start + 4 * HOUR));
      await page.selectOption('#leg-duration-1', '30');
    }
    await page.click('#review');
    await page.locator('#review-legs .leg').first().waitFor();
    await screenshot(page, 'book-review');
    await page.click('#book');
    const link = page.locator('#booked-trip');
    await link.waitFor({ timeout: 30000 });
    await screenshot(page, 'book-result');
    const tripId = await link.getAttribute('data-trip');
    assert.match(tripId, /^[0-9a-f-]{36}$/);

    // The leg is on the station's timeline, as a bar of this car.
    await page.goto(A.http_url + '/#/station/' + made.station);
    const bar = page.locator('.gantt-bar[data-car="' + car + '"]');
    await bar.waitFor();
    assert.equal(await bar.getAttribute('data-trip'), tripId);
    await bar.click();
    await page.locator('#res-details .kv').waitFor();
    await screenshot(page, 'station-timeline');

    // And the trip page shows every leg with its company and the phase.
    await page.goto(A.http_url + '/#/trip/' + tripId);
    await page.locator('#trip-phase[data-phase="confirmed"]').waitFor();
    assert.equal(await page.locator('#trip-legs .leg').count(), B_STATION ? 2 : 1);
    if (B_STATION) assert.equal(await page.locator('#trip-legs .leg[data-company="b"]').count(), 1);
    await screenshot(page, 'trip-detail');
    assert.deepEqual(page.errors, []);
  } finally {
    await page.context().close();
  }
});

test('a route planned on the page books as it stands', async (t) => {
  const page = await newPage(browser);
  try {
    await page.goto(A.http_url + '/#/trips/new');
    await signIn(page, A.admin_token);
    await page.locator('#plan-origin option[value="João Pessoa"]').waitFor({ state: 'attached' });
    await page.fill('#book-car', 'ui-' + RUN + '-plan');
    await page.selectOption('#plan-origin', 'João Pessoa');
    await page.selectOption('#plan-destination', 'Feira de Santana');
    await page.fill('#plan-departure', recifeLocal(Math.ceil((Date.now() + 26 * HOUR) / (5 * MIN)) * 5 * MIN));
    await page.click('#plan');
    const options = page.locator('#plan-options > li');
    try {
      await options.first().waitFor({ timeout: 20000 });
    } catch (e) {
      const note = await page.locator('.plan-options').textContent();
      if (/no route planner/i.test(note)) {
        t.skip('this server has no route planner');
        return;
      }
      throw new Error('no plan: ' + note);
    }
    await screenshot(page, 'book-plan-options');
    await options.first().locator('button').click();
    await page.locator('#review-legs .leg').first().waitFor();
    await page.click('#book');
    await page.locator('#booked-trip').waitFor({ timeout: 30000 });
    assert.deepEqual(page.errors, []);
  } finally {
    await page.context().close();
  }
});

test('a 409 shows its alternatives, and one of them books', async () => {
  const page = await newPage(browser);
  try {
    // The station's only charger is taken for the window the form will ask for.
    const start = Math.ceil((Date.now() + 5 * HOUR) / (5 * MIN)) * 5 * MIN;
    const r = await rest(A.http_url, 'POST', '/reservations', { station_id: made.full, car_id: 'ui-blocker-' + RUN,
      start: iso(start), end: iso(start + 40 * MIN) }, ADMIN);
    assert.equal(r.status, 201, JSON.stringify(r.body));

    await page.goto(A.http_url + '/#/trips/new');
    await signIn(page, A.admin_token);
    await page.locator('#leg-station-0 option[value="' + made.full + '"]').waitFor({ state: 'attached' });
    await page.click('#mode-manual');
    await page.fill('#book-car', 'ui-' + RUN + '-alt');
    await page.selectOption('#leg-station-0', made.full);
    await page.fill('#leg-start-0', recifeLocal(start));
    await page.selectOption('#leg-duration-0', '40');
    await page.click('#review');
    await page.click('#book');
    await page.locator('#alternatives li').first().waitFor({ timeout: 30000 });
    assert.equal(await page.locator('#failed-leg').getAttribute('data-leg'), '0');
    await screenshot(page, 'book-409-alternatives');

    await page.locator('#alternatives li button').first().click();
    await page.locator('#review-legs .leg').first().waitFor();
    await page.click('#book');
    await page.locator('#booked-trip').waitFor({ timeout: 30000 });
    assert.deepEqual(page.errors.filter((e) => !/status of 409/.test(e)), []);
  } finally {
    await page.context().close();
  }
});

test('the operator cancels a reservation from the timeline', async () => {
  const page = await newPage(browser);
  try {
    const start = Math.ceil((Date.now() + 6 * HOUR) / (5 * MIN)) * 5 * MIN + Math.floor(Math.random() * 20) * 5 * MIN;
    const car = 'ui-' + RUN + '-cancel';
    const r = await rest(A.http_url, 'POST', '/reservations', { station_id: made.station, car_id: car, start: iso(start), end: iso(start + 30 * MIN) }, ADMIN);
    assert.equal(r.status, 201, JSON.stringify(r.body));

    await page.goto(A.http_url + '/#/station/' + made.station);
    await page.locator('#gantt [data-needs="operator"]').waitFor(); // signed out: no bookings shown
    await signIn(page, A.admin_token);
    const bar = page.locator('.gantt-bar[data-reservation="' + r.body.id + '"]');
    await bar.waitFor();
    await bar.click();
    page.once('dialog', (d) => d.accept());
    await page.click('#cancel-reservation');
    await bar.waitFor({ state: 'detached', timeout: 10000 });
    const after = await rest(A.http_url, 'GET', '/reservations/' + r.body.id, undefined, ADMIN);
    assert.equal(after.status, 200, JSON.stringify(after.body));
    assert.equal(after.body.status, 'cancelled');
    assert.deepEqual(page.errors, []);
  } finally {
    await page.context().close();
  }
});

test('a stopped peer turns red within 10 s, and green again when it is back', { timeout: 120000 }, async (t) => {
  const page = await newPage(browser);
  const env = { EVC_STACK_DIR: S.dir };
  let stopped = false;
  try {
    await page.goto(A.http_url + '/#/federation');
    const card = page.locator('.company-card[data-company="' + PEER.id + '"]');
    await page.locator('.company-card[data-company="' + PEER.id + '"][data-status="up"]').waitFor({ timeout: 15000 });
    const t0 = Date.now(); // from the stop command: it returns once the worker has exited
    stopped = true; // start is harmless on a running worker: whatever happens, it runs in finally
    stackCommand(['stop', PEER.id, 'worker'], env);
    await page.locator('.company-card[data-company="' + PEER.id + '"][data-status="down"]').waitFor({ timeout: 10000 });
    const seconds = (Date.now() - t0) / 1000;
    assert.ok(seconds <= 10, 'turned red after ' + seconds + ' s');
    t.diagnostic('peer ' + PEER.id + ' turned red ' + seconds.toFixed(1) + ' s after it was stopped');
    assert.match(await card.getAttribute('class'), /is-down/);
    await screenshot(page, 'federation-peer-down');
    // The overview says so too.
    await page.goto(A.http_url + '/#/');
    await page.locator('#peer-list .peer[data-company="' + PEER.id + '"][data-status="down"]').waitFor({ timeout: 10000 });
    await screenshot(page, 'overview-peer-down');
  } finally {
    if (stopped) stackCommand(['start', PEER.id, 'worker'], env);
  }
  await page.goto(A.http_url + '/#/federation');
  await page.locator('.company-card[data-company="' + PEER.id + '"][data-status="up"]').waitFor({ timeout: 20000 });
  await page.context().close();
});

test('the business page charts a session, shades the heat-map and alerts on a station in maintenance', async () => {
  const st = await createStation('b', 1);
  const down = await createStation('m', 1);
  const car = 'ui-biz-' + RUN;
  const start = Date.now() - 2 * MIN;
  let r = await rest(A.http_url, 'POST', '/reservations', { station_id: st, car_id: car, start: iso(start), end: iso(start + 30 * MIN) },
    await asCar(A, car));
  assert.equal(r.status, 201, 'booking: ' + JSON.stringify(r.body));
  r = await rest(A.http_url, 'POST', '/reservations/' + r.body.id + '/checkin', null, await asCar(A, car));
  assert.equal(r.status, 200, 'check-in: ' + JSON.stringify(r.body));
  r = await rest(A.http_url, 'PATCH', '/stations/' + down, { status: 'maintenance' }, ADMIN);
  assert.equal(r.status, 200, 'maintenance: ' + JSON.stringify(r.body));
  await new Promise((done) => setTimeout(done, 2000)); // the session charges a little
  const page = await newPage(browser);
  try {
    await page.goto(A.http_url + '/#/business');
    await signIn(page, A.admin_token);
    await page.locator('#heat-map .heat-cell').first().waitFor({ timeout: 15000 });
    // The session's station is busy this hour (the last column), the idle one is not.
    const shade = (id) => page.evaluate((sid) => {
      const row = [...document.querySelectorAll('#heat-map tbody tr')].find((tr) => tr.querySelector('th').textContent === sid);
      return row ? row.lastElementChild.className : null;
    }, id);
    assert.match(await shade(st), /heat-[1-4]/, 'the charging station this hour');
    assert.doesNotMatch((await shade(down)) || 'no row', /heat-[1-4]/, 'the idle station this hour');
    // Today's energy bar is there and not empty; the alert names the station in maintenance.
    const bars = await page.locator('#chart-energy rect').evaluateAll((rs) => rs.map((x) => Number(x.getAttribute('height'))));
    assert.ok(bars.length >= 7 && bars[bars.length - 1] > 0, 'energy bars: ' + JSON.stringify(bars));
    assert.match(await page.locator('#business-alerts li[data-kind="station_maintenance"]', { hasText: down }).textContent(),
      new RegExp('Station ' + down + ' \\(João Pessoa\\) is in maintenance: it takes no bookings\\.'));
    assert.match(await page.locator('#business-kpis').textContent(), /kWh/);
    await screenshot(page, 'business');
    assert.deepEqual(page.errors, []);
  } finally {
    await page.context().close();
  }
});

test('without the websocket the page polls the API', async () => {
  const page = await newPage(browser);
  try {
    await page.routeWebSocket(/\/api\/v1\/live$/, (ws) => ws.close());
    await page.goto(A.http_url + '/#/');
    await page.locator('#live-status[data-state="polling"]').waitFor({ timeout: 10000 });
    await page.locator('#stations .station-card').first().waitFor();
    // The key figures still fill in, from the REST API.
    await until(page, () => /\d/.test(document.querySelector('#kpi-peers').textContent), null, 12000, 'peers figure');
  } finally {
    await page.context().close();
  }
});
