// The interactive API page (/api.html): a user pastes a token in the credential
// field and tries a request from the page; the page loads nothing from outside
// the server (it works offline), and the token stays in the tab.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { stack, launch, newPage, ARTIFACTS } from './helpers.mjs';

const S = stack();
const A = S.byId.a;
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the API page tries GET /cars: 401 without a token, 200 with the operator token', async () => {
  const page = await newPage(browser);
  const outside = [];
  page.on('request', (r) => { if (!r.url().startsWith(A.http_url + '/')) outside.push(r.url()); });
  try {
    await page.goto(A.http_url + '/api.html#op-get-cars');
    const op = page.locator('#op-get-cars');
    await op.locator('form.try button[type=submit]').waitFor({ state: 'visible' });

    // No token: the server's refusal is shown as it came.
    let answer = page.waitForResponse((r) => r.url() === A.http_url + '/api/v1/cars');
    await op.locator('form.try button[type=submit]').click();
    assert.equal((await answer).status(), 401);
    await op.locator('.try-status', { hasText: '401' }).waitFor();

    // The operator's token in the field: the same try answers 200 with the list.
    await page.fill('#auth-token', A.admin_token);
    answer = page.waitForResponse((r) => r.url() === A.http_url + '/api/v1/cars');
    await op.locator('form.try button[type=submit]').click();
    const r = await answer;
    assert.equal(r.status(), 200);
    assert.equal(await r.request().headerValue('authorization'), 'Bearer ' + A.admin_token);
    await op.locator('.try-status', { hasText: '200' }).waitFor();
    const shown = JSON.parse(await op.locator('.try-body').textContent());
    assert.ok(Array.isArray(shown.items), 'the page shows the answer\'s body');

    // A path parameter is filled in from its field.
    const station = page.locator('#op-get-stations-id-');
    await page.goto(A.http_url + '/api.html#op-get-stations-id-');
    await station.locator('input[data-name=id]').fill('a-nosuch');
    answer = page.waitForResponse((x) => x.url() === A.http_url + '/api/v1/stations/a-nosuch');
    await station.locator('form.try button[type=submit]').click();
    assert.equal((await answer).status(), 404);
    await station.locator('.try-status', { hasText: '404' }).waitFor();

    // The token is kept for this tab only, never on disk.
    assert.equal(await page.evaluate(() => JSON.stringify(localStorage)), '{}');
    assert.equal(await page.evaluate(() => document.getElementById('auth-token').value), A.admin_token);
    // The visible part only: the whole page (every operation) is very long.
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.goto(A.http_url + '/api.html#op-get-cars');
    await op.locator('.try-status', { hasText: '200' }).waitFor();
    await op.locator('form.try').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, 'api-page.png'), timeout: 30000 });
    assert.deepEqual(outside, [], 'the page loaded something from outside the server');
    const unexpected = page.errors.filter((e) => !/status of 40[14]/.test(e));
    assert.deepEqual(unexpected, [], 'console errors');
  } finally {
    await page.context().close();
  }
});
