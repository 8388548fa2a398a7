// Shared by the browser tests: the stack under test (EVC_STACK_DIR/stack.json),
// Debian's Chromium driven by playwright-core (never a downloaded browser), a
// page that records console errors, screenshots, the operator's sign-in through
// the page, and small REST helpers with credentials (operator, car tokens).
import { readFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = join(HERE, '..', '..');
export const ARTIFACTS = join(HERE, 'artifacts');

export const DESKTOP = { width: 1366, height: 900 };
export const PHONE = { width: 375, height: 812 };

/* The stack the tests run against; EVC_STACK_DIR is required (make test-ui passes it). */
export function stack() {
  const dir = process.env.EVC_STACK_DIR;
  if (!dir) throw new Error('EVC_STACK_DIR must name a running stack (scripts/stack up)');
  const info = JSON.parse(readFileSync(join(dir, 'stack.json'), 'utf8'));
  const byId = Object.fromEntries(info.companies.map((c) => [c.id, c]));
  return { dir, info, companies: info.companies, byId };
}

/*
 * The flags of the field notes: no sandbox (root), no GPU, no network chatter.
 * playwright gives every launch a fresh temporary profile (its --user-data-dir).
 */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.EVC_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/* A page that keeps every console error and uncaught exception in page.errors. */
export async function newPage(browser, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, timezoneId: 'America/Recife', locale: 'en-GB' });
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push('console: ' + m.text()); });
  page.on('pageerror', (e) => page.errors.push('page error: ' + e.message));
  page.setDefaultTimeout(15000);
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name + '.png');
  await page.screenshot({ path, fullPage: true });
  return path;
}

/* Waits until fn() (run in the page) is truthy, polling; throws with what after timeout ms. */
export async function until(page, fn, arg, timeout = 15000, what = 'condition') {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 200 });
  } catch (e) {
    throw new Error('timed out after ' + timeout + ' ms waiting for ' + what);
  }
}

/* Authorization headers of this company's operator (stack.json companies[].admin_token). */
export function operator(company) {
  return { Authorization: 'Bearer ' + company.admin_token };
}

/* The car tokens the stack issued (stack.json car_tokens_file: lines car-id:token), by car id. */
export function stackCarTokens(info) {
  if (!info.car_tokens_file) return {};
  const out = {};
  for (const line of readFileSync(info.car_tokens_file, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/* A fresh token for car_id, issued by the company's operator; returns the Authorization headers of that car. */
export async function asCar(company, carId) {
  const r = await rest(company.http_url, 'POST', '/cars/' + encodeURIComponent(carId) + '/tokens', {}, operator(company));
  if (r.status !== 200 && r.status !== 201) throw new Error('issuing a token for ' + carId + ': ' + r.status + ' ' + JSON.stringify(r.body));
  return { Authorization: 'Bearer ' + r.body.token };
}

/*
 * Signs in through the page, as a person would: the header's button, the
 * dialog, the token typed in. Waits for "Operator ✓" and the dialog to close.
 */
export async function signIn(page, token) {
  await page.locator('#session-button[aria-haspopup="dialog"]').waitFor();
  await page.click('#session-button');
  await page.locator('#signin-dialog[open]').waitFor();
  await page.fill('#signin-token', token);
  await page.click('#signin-submit');
  await page.locator('#operator-badge').waitFor({ state: 'visible' });
  await page.locator('#signin-dialog').waitFor({ state: 'hidden' });
}

/* Signs out with the header's "Sign out"; waits for the signed-out header. */
export async function signOut(page) {
  await page.locator('#operator-badge').waitFor({ state: 'visible' });
  await page.click('#session-button');
  await page.locator('#operator-badge').waitFor({ state: 'hidden' });
  await page.locator('#session-button[aria-haspopup="dialog"]').waitFor();
}

export async function rest(base, method, path, body, headers = {}) {
  const res = await fetch(base + '/api/v1' + path, {
    method,
    headers: Object.assign({ 'Content-Type': 'application/json' }, headers),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let json = null;
  try {
    json = await res.json();
  } catch (e) { /* empty */ }
  return { status: res.status, body: json };
}

/* RFC 3339 UTC, whole seconds. */
export function iso(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/* "2026-11-23T08:00" for a datetime-local input, in the page's time zone (America/Recife, UTC-3). */
export function recifeLocal(ms) {
  return new Date(ms - 3 * 3600 * 1000).toISOString().slice(0, 16);
}

export function stackCommand(args, env = {}) {
  return execFileSync(join(REPO, 'scripts', 'stack'), args, {
    env: Object.assign({}, process.env, env), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 90000,
  });
}

export function randomId(n = 6) {
  return Math.random().toString(36).slice(2, 2 + n);
}
