// The station page's "Charge point (OCPP)" panel in a real browser (Debian's
// Chromium, headless), against a running stack: a charge point connects to
// company a (a small OCPP-J client in Python, websocket-client from Debian, as
// in tests/system/test_ocpp.py), boots and reports a faulted charger; the
// operator's panel shows the connection, the vendor and each charger's state;
// "Make unavailable" reaches the charge point as ChangeAvailability and its
// answer shows; once the charge point is gone the panel says so; signed out,
// the panel is not shown. Needs EVC_STACK_DIR (make test-ui).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { stack, launch, newPage, screenshot, rest, randomId, operator, signIn, signOut } from './helpers.mjs';

const S = stack();
const A = S.byId.a || S.companies[0];
const ADMIN = operator(A);
const RUN = randomId(5);

// The charge point: boots, reports charger 2 Faulted, prints "ready", then
// answers every CALL of the central system Accepted and prints its action.
const CHARGE_POINT = `
import base64, json, sys, websocket
url, station, key = sys.argv[1:4]
auth = base64.b64encode(f"{station}:{key}".encode()).decode()
ws = websocket.create_connection(url, subprotocols=["ocpp1.6"], header=["Authorization: Basic " + auth], timeout=60)
def call(n, action, payload):
    ws.send(json.dumps([2, f"m{n}", action, payload]))
    while True:
        frame = json.loads(ws.recv())
        if frame[0] == 3 and frame[1] == f"m{n}":
            return frame[2]
boot = call(1, "BootNotification", {"chargePointVendor": "UITest", "chargePointModel": "Panel-2"})
assert boot["status"] == "Accepted", boot
call(2, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
call(3, "StatusNotification", {"connectorId": 2, "errorCode": "GroundFailure", "status": "Faulted"})
print("ready", flush=True)
while True:
    frame = json.loads(ws.recv())
    if frame[0] == 2:
        print(frame[2], json.dumps(frame[3]), flush=True)
        ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
`;

let browser;
let station;
let cp;
const heard = []; // lines the charge point printed

function startChargePoint(key) {
  const url = A.http_url.replace(/^http/, 'ws') + '/ocpp/' + station;
  cp = spawn('/usr/bin/python3', ['-c', CHARGE_POINT, url, station, key], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  cp.stderr.on('data', (d) => { stderr += d; });
  const lines = createInterface({ input: cp.stdout });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the charge point did not boot: ' + stderr)), 20000);
    lines.on('line', (line) => {
      heard.push(line);
      if (line === 'ready') { clearTimeout(timer); resolve(); }
    });
    cp.on('exit', (code) => { clearTimeout(timer); reject(new Error('the charge point exited ' + code + ': ' + stderr)); });
  });
}

before(async () => {
  station = A.id + '-uo' + RUN;
  let r = await rest(A.http_url, 'POST', '/stations', {
    id: station, name: 'UI OCPP ' + RUN, city: 'João Pessoa', lat: -7.15, lon: -34.85, chargers: 2, power_kw: 50,
    price_per_kwh: 2.0,
  }, ADMIN);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  r = await rest(A.http_url, 'POST', '/stations/' + station + '/ocpp/key', {}, ADMIN);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await startChargePoint(r.body.key);
  browser = await launch();
});

after(async () => {
  if (cp && cp.exitCode === null) cp.kill();
  if (browser) await browser.close();
});

test('the OCPP panel shows the charge point, sends a command, and sees it go', async () => {
  const page = await newPage(browser);
  await page.goto(A.http_url + '/#/station/' + station, { waitUntil: 'domcontentloaded' });
  await signIn(page, A.admin_token);
  const panel = page.locator('section.panel:has(#station-ocpp)');
  await panel.locator('.summary', { hasText: 'Connected' }).waitFor();
  await panel.locator('dd', { hasText: 'UITest Panel-2' }).waitFor();
  const faulted = panel.locator('tr[data-charger="2"]');
  await faulted.locator('td', { hasText: 'Faulted' }).waitFor();
  assert.match(await faulted.innerText(), /GroundFailure/);
  assert.match(await panel.locator('tr[data-charger="1"]').innerText(), /Available/);
  await screenshot(page, 'ocpp-panel-connected');

  // The operator's command reaches the charge point, and its answer shows.
  await panel.locator('tr[data-charger="1"] button', { hasText: 'Make unavailable' }).click();
  await page.locator('#toast', { hasText: 'Make unavailable: Accepted' }).waitFor();
  const sent = heard.find((l) => l.startsWith('ChangeAvailability '));
  assert.ok(sent, 'the charge point got no ChangeAvailability: ' + heard.join(' | '));
  assert.deepEqual(JSON.parse(sent.slice('ChangeAvailability '.length)), { connectorId: 1, type: 'Inoperative' });

  // The charge point goes away: the panel says so, and offers no command.
  cp.kill();
  await new Promise((resolve) => cp.once('exit', resolve));
  await page.reload({ waitUntil: 'domcontentloaded' });
  await panel.locator('.summary', { hasText: 'Not connected' }).waitFor();
  assert.equal(await panel.locator('button', { hasText: 'Make unavailable' }).count(), 0);
  await screenshot(page, 'ocpp-panel-offline');

  // Signed out, the panel is not shown (it is the operator's).
  await signOut(page);
  await page.locator('#station-ocpp').waitFor({ state: 'hidden' });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
