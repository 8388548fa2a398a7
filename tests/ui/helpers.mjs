// Shared by the browser tests: the stack under test (EVC_STACK_DIR/stack.json),
// Debian's Chromium driven by playwright-core (never a downloaded browser), a
// page that records console errors, screenshots, and small REST helpers.
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
