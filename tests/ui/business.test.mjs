// The operator's business overview and the booking page in a real browser
// (Debian's Chromium, headless), against a running stack, with the real things
// that cause what the page shows: a checked-in session and a no-show for the
// charts, a charger whose OCPP status is Faulted and a peer that is down for
// the alerts (the list on the business page and the banner on every page);
// a window of the past day on the station's 48-hour timeline; and the booking
// page's fixes: companies left out of a plan are named (not "no plan"), times
// are local with their UTC offset, a toast of an earlier action never stays,
// and the step indicator follows the page. Needs EVC_STACK_DIR (make test-ui).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  stack, launch, newPage, screenshot, until, rest, iso, recifeLocal, randomId, operator, asCar, signIn,
} from './helpers.mjs';

const S = stack();
const A = S.byId.a || S.companies[0];
const ADMIN = operator(A);
const MIN = 60 * 1000;
const HOUR = 60 * MIN;
const RUN = randomId(5);

let browser;
let peer; // a placeholder peer, down: for the alerts and the plan's companies left out

/* SQL on company a's database, for what no API makes on purpose (a window in the past). */
function sql(query) {
  return execFileSync('psql', ['-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', query, A.database_url],
    { encoding: 'utf8', timeout: 15000 }).trim();
}

async function createStation(suffix, chargers) {
  const id = A.id + '-biz' + RUN + suffix;
  const r = await rest(A.http_url, 'POST', '/stations', {
    id, name: 'Business UI ' + suffix.toUpperCase() + ' ' + RUN, city: 'João Pessoa', lat: -7.16, lon: -34.86,
    chargers, power_kw: 150, price_per_kwh: 2.1,
  }, ADMIN);
  assert.equal(r.status, 201, 'creating station ' + id + ': ' + JSON.stringify(r.body));
  return id;
}

/* A made-up peer registered at a, where nobody listens: it is down (as tests/system/test_peer_removal.py does). */
async function placeholderPeer() {
  const secret = readFileSync(join(S.dir, 'federation-secret'), 'utf8').trim();
  const id = 'z' + randomId(6).replace(/[^a-z0-9]/g, 'x');
  const token = [...Array(64)].map(() => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');
  const r = await rest(A.http_url, 'POST', '/federation/peers', { id, url: 'http://127.0.0.1:9', token },
    { Authorization: 'Token ' + secret });
  assert.equal(r.status, 201, 'registering a placeholder peer: ' + JSON.stringify(r.body));
  return id;
}

async function removePeer(id) {
  await rest(A.http_url, 'DELETE', '/federation/peers/' + id, undefined, ADMIN);
}

before(async () => {
  browser = await launch();
  peer = await placeholderPeer();
});

after(async () => {
  if (peer) await removePeer(peer);
  if (browser) await browser.close();
});

test('the business overview charts energy, revenue, the heat-map and no-shows, lists the alerts; the timeline shows the past day', async () => {
  const busy = await createStation('s', 1);
  const faulty = await createStation('f', 2);
  const car = 'ui-bizc-' + RUN;
  const start = Date.now() - 2 * MIN;
  let r = await rest(A.http_url, 'POST', '/reservations', { station_id: busy, car_id: car, start: iso(start), end: iso(start + 30 * MIN) },
    await asCar(A, car));
  assert.equal(r.status, 201, 'booking: ' + JSON.stringify(r.body));
  r = await rest(A.http_url, 'POST', '/reservations/' + r.body.id + '/checkin', null, await asCar(A, car));
  assert.equal(r.status, 200, 'check-in: ' + JSON.stringify(r.body));
  // A no-show: a window of the faulty station that ended an hour ago, never checked in to.
  r = await rest(A.http_url, 'POST', '/reservations', { station_id: faulty, car_id: car + 'n', start: iso(start + 60 * MIN), end: iso(start + 90 * MIN) },
    await asCar(A, car + 'n'));
  assert.equal(r.status, 201, 'booking the no-show: ' + JSON.stringify(r.body));
  sql(`UPDATE reservations SET during = tstzrange(now() - interval '2 hours', now() - interval '1 hour') WHERE id = '${r.body.id}'`);
  // Charger 2 of the faulty station reported Faulted (its OCPP state; tests/system/test_alerts.py sends the real frame).
  sql(`INSERT INTO ocpp_chargers (station_id, charger, state, error_code) VALUES ('${faulty}', 2, 'Faulted', 'GroundFailure')`);
  // A window of the past day on the station's timeline: booked ahead, then moved to 10 hours ago and completed.
  const soon = Math.ceil((Date.now() + 3 * HOUR) / (5 * MIN)) * 5 * MIN;
  r = await rest(A.http_url, 'POST', '/reservations', { station_id: faulty, car_id: car + 'p', start: iso(soon), end: iso(soon + 40 * MIN) }, ADMIN);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const past = r.body.id;
  sql(`UPDATE reservations SET during = tstzrange(now() - interval '10 hours', now() - interval '9 hours 20 minutes'), status = 'completed' WHERE id = '${past}'`);
  r = await rest(A.http_url, 'POST', '/reservations', { station_id: faulty, car_id: car + 'f', start: iso(soon), end: iso(soon + 40 * MIN) }, ADMIN);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const future = r.body.id;
  const page = await newPage(browser);
  try {
    await page.goto(A.http_url + '/#/business');
    await signIn(page, A.admin_token);
    await page.locator('#heat-map .heat-cell').first().waitFor({ timeout: 15000 });
    // Energy and revenue: one bar a day, today's not empty.
    for (const chart of ['#chart-energy', '#chart-revenue']) {
      const bars = await page.locator(chart + ' rect').evaluateAll((rs) => rs.map((x) => Number(x.getAttribute('height'))));
      assert.ok(bars.length >= 7 && bars[bars.length - 1] > 0, chart + ' bars: ' + JSON.stringify(bars));
    }
    // The heat-map: the charging station is shaded this hour.
    const shade = await page.evaluate((sid) => {
      const row = [...document.querySelectorAll('#heat-map tbody tr')].find((tr) => tr.querySelector('th').textContent === sid);
      return row ? row.lastElementChild.className : null;
    }, busy);
    assert.match(shade || 'no row', /heat-[1-4]/, 'the charging station this hour');
    // No-shows: a bar for the station with one.
    const noShow = page.locator(`#chart-no-shows rect[data-station="${faulty}"]`);
    assert.equal(await noShow.getAttribute('data-value'), '1');
    // Alerts, critical first: the faulted charger and the peer down, each with what it names.
    const alerts = page.locator('#business-alerts');
    await alerts.locator(`li[data-kind="peer_down"]:has-text("${peer}")`).waitFor({ timeout: 15000 });
    const faultText = await alerts.locator('li[data-kind="charger_faulted"]', { hasText: faulty }).textContent();
    assert.match(faultText, /Critical/);
    assert.match(faultText, new RegExp('Charger 2 of station ' + faulty + ' is faulted \\(GroundFailure'));
    const kinds = await alerts.locator('li').evaluateAll((ls) => ls.map((l) => l.dataset.severity));
    assert.ok(kinds.indexOf('warning') < 0 || kinds.lastIndexOf('critical') < kinds.indexOf('warning'), 'critical first: ' + kinds);
    // The banner on every page tells the count and the most urgent one.
    await page.goto(A.http_url + '/#/');
    const banner = page.locator('#alerts-banner');
    await banner.waitFor({ state: 'visible', timeout: 20000 });
    assert.equal(await banner.getAttribute('data-severity'), 'critical');
    assert.match(await page.locator('#alerts-title').textContent(), /^\d+ alerts? \(\d+ critical\):$/);

    // The station's timeline: 48 hours, now in the middle, the past day's window left of it.
    await page.goto(A.http_url + '/#/station/' + faulty);
    const left = async (rid) => parseFloat(await page.locator(`.gantt-bar[data-reservation="${rid}"]`).evaluate((b) => b.style.left));
    await page.locator(`.gantt-bar[data-reservation="${past}"]`).waitFor();
    await page.locator(`.gantt-bar[data-reservation="${future}"]`).waitFor();
    const now = parseFloat(await page.locator('.gantt-row[data-charger] .gantt-now').first().evaluate((x) => x.style.left));
    const [p, f] = [await left(past), await left(future)];
    // 10 hours ago is ~21 % left of now, 3 hours ahead ~6 % right.
    assert.ok(now > 45 && now < 55, 'now at ' + now + '%');
    assert.ok(p < now && now - p > 18 && now - p < 24, 'past bar at ' + p + '%, now at ' + now + '%');
    assert.ok(f > now && f - now > 4 && f - now < 9, 'future bar at ' + f + '%, now at ' + now + '%');
    assert.match(await page.locator(`.gantt-bar[data-reservation="${past}"]`).getAttribute('aria-label'), /completed/);

    // Once repaired, the alert goes (the business page re-reads the alerts every 10 s).
    await page.goto(A.http_url + '/#/business');
    await page.locator('#business-alerts li[data-kind="charger_faulted"]', { hasText: faulty }).waitFor();
    sql(`UPDATE ocpp_chargers SET state = 'Available', error_code = 'NoError' WHERE station_id = '${faulty}'`);
    await until(page, (sid) => ![...document.querySelectorAll('#business-alerts li[data-kind="charger_faulted"]')].some((l) => l.textContent.includes(sid)),
      faulty, 15000, 'the faulted charger\'s alert to clear');
    assert.deepEqual(page.errors, []);
  } finally {
    await page.context().close();
  }
});

/* The step indicator: the current step, and which are done. */
async function stepsOf(page) {
  return page.locator('#book-steps li').evaluateAll((ls) => ls.map((l) => l.dataset.state + ':' + l.textContent));
}

async function toastGone(page, ms) {
  const until_ = Date.now() + ms;
  while (Date.now() < until_) {
    if (await page.locator('#toast').isVisible()) return false;
    await page.waitForTimeout(150);
  }
  return true;
}

test('booking: local times with their offset, steps that follow the page, no stale toast, companies left out named', async () => {
  const st = await createStation('k', 1);
  const page = await newPage(browser); // America/Recife, UTC-3
  try {
    await page.goto(A.http_url + '/#/trips/new');
    await signIn(page, A.admin_token);
    assert.equal(await page.locator('#toast').isVisible(), true, 'the sign-in toast');
    assert.match(await page.locator('#book-zone').textContent(), /America\/Recife \(UTC\u221203:00\)/);
    assert.deepEqual(await stepsOf(page), ['current:1. Choose the stops', 'todo:2. Check the stops', 'todo:3. Book']);
    await page.locator('#leg-station-0 option[value="' + st + '"]').waitFor({ state: 'attached' });
    await page.click('#mode-manual');
    const start = Math.ceil((Date.now() + 4 * HOUR) / (5 * MIN)) * 5 * MIN + Math.floor(Math.random() * 48) * 5 * MIN;
    await page.fill('#book-car', 'ui-' + RUN + '-k1');
    await page.selectOption('#leg-station-0', st);
    await page.fill('#leg-start-0', recifeLocal(start));
    assert.match(await page.locator('label[for="leg-start-0"]').textContent(), /UTC\u221203:00/);
    await page.selectOption('#leg-duration-0', '30');
    await page.click('#review');
    await page.locator('#review-legs .leg').first().waitFor();
    // A new action: the sign-in toast is gone, and does not come back.
    assert.ok(await toastGone(page, 600), 'the sign-in toast stayed after a new action');
    assert.deepEqual(await stepsOf(page), ['done:1. Choose the stops', 'current:2. Check the stops', 'todo:3. Book']);
    // The window in the viewer's local time (Recife), with the offset: never UTC's clock.
    const localHm = recifeLocal(start).slice(11, 16);
    const meta = await page.locator('#review-legs .leg-meta').first().textContent();
    assert.ok(meta.includes(localHm + '\u2013') && meta.includes('UTC\u221203:00'), 'review shows ' + meta + ', wanted ' + localHm + ' UTC−03:00');
    assert.ok(!meta.includes(new Date(start).toISOString().slice(11, 16) + '\u2013'), 'the window shown in UTC: ' + meta);
    await page.click('#book');
    await page.locator('#booked-trip').waitFor({ timeout: 30000 });
    assert.deepEqual(await stepsOf(page), ['done:1. Choose the stops', 'done:2. Check the stops', 'current:3. Booked']);
    assert.match(await page.locator('#toast').textContent(), /Trip booked/);
    assert.match(await page.locator('.result-links').textContent(), new RegExp(localHm + '\u2013.*UTC\u221203:00'));
    // The same window again (its only charger is now taken): a 409, and the old "booked" toast is not shown with it.
    await page.goto(A.http_url + '/#/trips');
    assert.equal(await page.locator('#toast').isVisible(), false, 'the booked toast stays on another page');
    await page.goto(A.http_url + '/#/trips/new');
    await page.locator('#leg-station-0 option[value="' + st + '"]').waitFor({ state: 'attached' });
    await page.click('#mode-manual');
    await page.fill('#book-car', 'ui-' + RUN + '-k2');
    await page.selectOption('#leg-station-0', st);
    await page.fill('#leg-start-0', recifeLocal(start));
    await page.selectOption('#leg-duration-0', '30');
    await page.click('#review');
    await page.click('#book');
    await page.locator('#failed-leg').waitFor({ timeout: 30000 });
    assert.deepEqual(await stepsOf(page), ['done:1. Choose the stops', 'done:2. Check the stops', 'current:3. Not booked']);
    assert.ok(await toastGone(page, 1500), 'a toast showed with the 409');

    // A plan that cannot be made among the companies asked, with one company left out (the peer down):
    // the page names it and why, never a bare "no plan".
    await page.click('button:text("Change the stops")');
    assert.deepEqual(await stepsOf(page), ['current:1. Choose the stops', 'todo:2. Check the stops', 'todo:3. Book']);
    await page.click('#mode-plan');
    await page.selectOption('#plan-origin', 'João Pessoa');
    await page.selectOption('#plan-destination', 'Feira de Santana');
    await page.fill('#plan-capacity', '10'); // cannot reach the first station
    await page.fill('#plan-soc', '1');
    await page.click('#plan');
    await page.locator('#plan-none').waitFor({ timeout: 20000 });
    const note = await page.locator('.plan-options').textContent();
    assert.match(await page.locator('#plan-none').textContent(), /^No (route|option) through the companies that could be asked/);
    assert.doesNotMatch(note, /No plan/);
    assert.match(await page.locator(`#plan-left-out li[data-company="${peer}"]`).textContent(),
      new RegExp('Left out: .*\\(' + peer + '\\), its server is down: its stations could not be asked\\.'));
    await screenshot(page, 'book-left-out');
    assert.deepEqual(page.errors.filter((e) => !/status of (409|422)/.test(e)), []);
  } finally {
    await page.context().close();
  }
});
