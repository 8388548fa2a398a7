/*
 * Shared by every page of the dashboard: DOM and format helpers, the REST
 * client, the operator's sign-in, company colours, and the live connection (a
 * websocket at /api/v1/live that pushes a snapshot every second or two; when
 * it is closed the pages poll the REST API instead). Plain JS, no dependencies.
 * Every string from the API reaches the page through textContent or
 * setAttribute, never as HTML.
 */
'use strict';

export const API = '/api/v1';
export const POLL_MS = 5000;
const TIMEOUT_MS = 8000;
export const MINUTE_MS = 60 * 1000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

// ------------------------------------------------------------ DOM

/*
 * el('div', {class: 'x', text: 'hi', href: '#/', onclick: fn, dataset: {a: 1}}, child, 'text', ...)
 * Attributes are set with setAttribute; text and string children become text nodes.
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  applyAttrs(node, attrs);
  appendAll(node, children);
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/* The same for SVG elements. */
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  applyAttrs(node, attrs);
  appendAll(node, children);
  return node;
}

function applyAttrs(node, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = String(v);
    else if (k === 'class') node.setAttribute('class', v);
    else if (k === 'dataset') Object.entries(v).forEach(([dk, dv]) => { node.dataset[dk] = String(dv); });
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'style' && typeof v === 'object') Object.assign(node.style, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
}

function appendAll(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/*
 * Runs fn, which re-renders part of root, and gives the focus back to the
 * element that had it (the same link, button or reservation bar), so live
 * updates never throw a keyboard user back to the top of the page.
 */
export function keepFocus(root, fn) {
  const a = document.activeElement;
  let key = null;
  if (a && a !== root && root.contains(a)) {
    if (a.id) key = '#' + CSS.escape(a.id);
    else if (a.dataset && a.dataset.reservation) key = '[data-reservation="' + CSS.escape(a.dataset.reservation) + '"]';
    else if (a.getAttribute('href')) key = '[href="' + CSS.escape(a.getAttribute('href')) + '"]';
  }
  const out = fn();
  if (key) {
    const n = root.querySelector(key);
    if (n && n !== document.activeElement) n.focus({ preventScroll: true });
  }
  return out;
}

/* Changes text only when it differs, so live regions announce real changes only. */
export function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

export function plural(n, one, many) {
  return n + '\u00a0' + (n === 1 ? one : many);
}

// ------------------------------------------------------------ time and numbers

export const fmt = {
  time: new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' }),
  hour: new Intl.DateTimeFormat(undefined, { hour: '2-digit' }),
  clock: new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' }),
  date: new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short' }),
  weekday: new Intl.DateTimeFormat(undefined, { weekday: 'short' }),
  price: new Intl.NumberFormat(undefined, { style: 'currency', currency: 'BRL' }),
  num: new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }),
  pct: new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 0 }),
};

/* RFC 3339 in UTC, whole seconds: what the API expects. */
export function iso(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function localDay(ms) {
  const d = new Date(ms);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/* "14:05", "tomorrow 01:10" or "Tue 12 Nov 09:00", relative to now. */
export function dayTime(ms, now = Date.now()) {
  const days = Math.round((localDay(ms) - localDay(now)) / DAY_MS);
  const time = fmt.time.format(new Date(ms));
  if (days === 0) return time;
  if (days === 1) return 'tomorrow ' + time;
  if (days === -1) return 'yesterday ' + time;
  return fmt.date.format(new Date(ms)) + ' ' + time;
}

/* "4 s ago", "3 min ago", "2 h ago". */
export function ago(ms, now = Date.now()) {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return s + '\u00a0s ago';
  if (s < 3600) return Math.floor(s / 60) + '\u00a0min ago';
  if (s < 86400) return Math.floor(s / 3600) + '\u00a0h ago';
  return Math.floor(s / 86400) + '\u00a0d ago';
}

/* A <time> with the local display and the UTC value in its title. */
export function timeEl(value, text) {
  return el('time', { datetime: value, title: value + ' (UTC)', text });
}

export function zoneName() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
}

export function shortId(id) {
  return String(id || '').slice(0, 8);
}

export function capitalize(s) {
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}

// ------------------------------------------------------------ REST

export class ApiError extends Error {
  constructor(message, status, body, network) {
    super(message);
    this.status = status;
    this.body = body;
    this.network = !!network;
  }
}

/*
 * Calls the API on this origin. Returns {status, body, headers}; throws ApiError
 * on a network failure or a status >= 400 (with the error envelope's message).
 * No Authorization header is ever added: a signed-in operator is proven by the
 * session cookie (HttpOnly), which the browser sends with same-origin requests.
 * A 401 while signed in means that session is over (expired, or the operator
 * token was changed): the page turns to its signed-out state.
 */
export async function api(path, opts = {}) {
  const ctrl = new AbortController();
  const stop = setTimeout(() => ctrl.abort(), opts.timeout || TIMEOUT_MS);
  const headers = Object.assign({ Accept: 'application/json' }, opts.headers || {});
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(API + path, {
      method: opts.method || 'GET',
      headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      cache: 'no-store',
      credentials: 'same-origin',
      signal: ctrl.signal,
    });
  } catch (e) {
    throw new ApiError(e.name === 'AbortError' ? 'no answer within ' + (opts.timeout || TIMEOUT_MS) / 1000 + '\u00a0s'
      : 'network error', 0, null, true);
  } finally {
    clearTimeout(stop);
  }
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    body = null;
  }
  if (!res.ok) {
    const msg = body && body.error && body.error.message ? body.error.message : 'HTTP ' + res.status;
    if (res.status === 401 && !opts.session && store.operator) setOperator(false, 'expired');
    throw new ApiError(msg, res.status, body, false);
  }
  return { status: res.status, body, headers: res.headers };
}

export async function getJSON(path, opts) {
  return (await api(path, opts)).body;
}

// ------------------------------------------------------------ operator session

/*
 * The operator signs in once with this company's operator token: POST /session
 * answers with an HttpOnly, SameSite=Strict cookie, valid 12 h. The page never
 * keeps the token (not in storage, not in a variable after the call): it only
 * knows whether it is signed in, from the answers of /session.
 */
/* Sets the state, the is-admin class, and tells the pages ('operator' event: {on, why}). */
function setOperator(on, why) {
  on = !!on;
  document.documentElement.classList.toggle('is-admin', on);
  if (store.operator === on) return;
  store.operator = on;
  emit('operator', { on, why: why || (on ? 'signed-in' : 'signed-out') });
}

/* GET /session: whether this browser holds a valid operator session. Unchanged on a network error. */
export async function loadSession() {
  try {
    const b = await getJSON('/session', { session: true });
    setOperator(!!(b && b.operator === true), b && b.operator ? 'signed-in' : 'expired');
    return store.operator;
  } catch (e) {
    return store.operator;
  }
}

/* POST /session; throws ApiError (401: not this company's operator token). */
export async function signIn(token) {
  const res = await api('/session', { method: 'POST', body: { token }, session: true });
  setOperator(!!(res.body && res.body.operator), 'signed-in');
}

/* DELETE /session: the server clears the cookie. */
export async function signOut() {
  await api('/session', { method: 'DELETE', session: true });
  setOperator(false, 'signed-out');
}

/* Asks the shell to open the sign-in dialog. */
export function requestSignIn() {
  emit('sign-in-request');
}

/*
 * What a page shows where the operator's data would be, when signed out:
 * "Sign in as this company's operator to <what>." and a button for the dialog.
 */
export function signInPrompt(what, opts = {}) {
  const button = el('button', { type: 'button', class: opts.compact ? 'btn-small' : 'btn-primary', text: 'Sign in' });
  button.addEventListener('click', requestSignIn);
  return el('div', { class: 'empty signin-state' + (opts.compact ? ' signin-compact' : ''), dataset: { needs: 'operator' } },
    el('p', { class: 'signin-text', text: 'Sign in as this company\u2019s operator to ' + what + '.' }),
    opts.hint ? el('p', { class: 'muted', text: opts.hint }) : null,
    el('p', {}, button));
}

// ------------------------------------------------------------ companies

/* Distinct hues, each dark enough for white text and a 3:1 contrast on the map's land. */
const PALETTE = ['#0b7285', '#c2410c', '#6d28d9', '#1d4ed8', '#be185d', '#4d7c0f', '#92400e', '#0f766e'];
const KNOWN = { a: 0, b: 1, c: 2 };

export function companyColor(id) {
  if (id in KNOWN) return PALETTE[KNOWN[id]];
  let h = 0;
  for (const ch of String(id)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[3 + (h % (PALETTE.length - 3))];
}

/* A small chip with the company's colour and its id (or name). */
export function companyChip(id, name) {
  const chip = el('span', { class: 'chip', title: name ? name + ' (' + id + ')' : 'Company ' + id });
  chip.style.setProperty('--c', companyColor(id));
  chip.append(el('span', { class: 'chip-dot', 'aria-hidden': 'true' }), name || id);
  return chip;
}

export function companyOf(stationId) {
  return String(stationId).split('-')[0];
}

// ------------------------------------------------------------ shared state and events

export const store = {
  company: null,      // this server's company id
  companyName: null,
  names: {},          // company id -> display name
  snapshot: null,     // latest live snapshot
  liveState: 'connecting', // connecting | live | polling
  network: null,      // /network/stations items, by id
  operator: false,    // signed in as this company's operator (GET /session)
};

const listeners = {};

export function on(event, fn) {
  (listeners[event] = listeners[event] || new Set()).add(fn);
  return () => listeners[event].delete(fn);
}

export function emit(event, data) {
  (listeners[event] || []).forEach((fn) => {
    try {
      fn(data);
    } catch (e) {
      console.error(e); // one bad listener must not stop the others
    }
  });
}

/* Every company's stations (ours and the peers' cached catalogue), by id. */
export async function loadNetwork(force) {
  if (store.network && !force) return store.network;
  const body = await getJSON('/network/stations');
  const byId = {};
  for (const s of body.items || []) byId[s.id] = s;
  store.network = byId;
  return byId;
}

export function stationName(id) {
  const s = store.network && store.network[id];
  return s ? s.name : id;
}

// ------------------------------------------------------------ live connection

const RETRY_MIN_MS = 2000;
const RETRY_MAX_MS = 30000;
let socket = null;
let retryMs = RETRY_MIN_MS;
let retryTimer = null;

function setLiveState(state) {
  if (store.liveState === state) return;
  store.liveState = state;
  emit('live-state', state);
}

/* Opens the websocket; on close, the pages poll and a reconnect is tried with backoff. */
export function startLive() {
  if (!('WebSocket' in window)) {
    setLiveState('polling');
    return;
  }
  clearTimeout(retryTimer);
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + API + '/live';
  let ws;
  try {
    ws = new WebSocket(url);
  } catch (e) {
    setLiveState('polling');
    scheduleReconnect();
    return;
  }
  socket = ws;
  ws.onopen = () => {
    retryMs = RETRY_MIN_MS;
  };
  ws.onmessage = (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    if (!msg || msg.type !== 'snapshot') return;
    msg.receivedAt = Date.now();
    const prev = store.snapshot;
    store.snapshot = msg;
    setLiveState('live');
    emit('snapshot', { snap: msg, prev });
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    setLiveState('polling');
    scheduleReconnect();
  };
  ws.onerror = () => { /* onclose follows */ };
}

function scheduleReconnect() {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(startLive, retryMs);
  retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
}

/* For tests and the "reconnect" button: close the socket as if the server had. */
export function dropLive() {
  if (socket) socket.close();
}

/*
 * What changed between two snapshots, by section: a page re-reads the REST API
 * only for the parts it shows that moved.
 */
export function changed(snap, prev) {
  const out = {};
  for (const key of ['stations', 'reservations', 'trips', 'in_flight', 'in_doubt', 'cars', 'peers', 'mqtt']) {
    out[key] = !prev || JSON.stringify(snap[key]) !== JSON.stringify(prev[key]);
  }
  return out;
}

/* The snapshot's peers as objects. */
export function snapshotPeers(snap) {
  return (snap && snap.peers ? snap.peers : []).map(([company, status, lastSeen, latency]) =>
    ({ company, status, last_seen: lastSeen, latency_ms: latency }));
}

/* The snapshot's stations as {id: {busy, chargers, status}}. */
export function snapshotStations(snap) {
  const out = {};
  for (const [id, busy, chargers, status] of (snap && snap.stations) || []) out[id] = { busy, chargers, status };
  return out;
}

/* The snapshot's cars as objects. */
export function snapshotCars(snap) {
  return ((snap && snap.cars) || []).map(([car_id, lat, lon, soc, speed_kmh, profile, ts]) =>
    ({ car_id, lat, lon, soc, speed_kmh, profile, ts }));
}

// ------------------------------------------------------------ small shared widgets

const STATUS_PILL = {
  active: 'ok', confirmed: 'ok', up: 'ok', committed: 'ok', finished: 'neutral', commit: 'ok',
  maintenance: 'warn', held: 'warn', preparing: 'warn', committing: 'warn', pending: 'warn', waiting: 'warn',
  cancelling: 'warn', finishing: 'warn', aborting: 'down', granted: 'ok',
  offline: 'down', down: 'down', aborted: 'down', abort: 'down', unknown: 'neutral',
  cancelled: 'neutral', completed: 'neutral', expired: 'neutral', withdrawn: 'neutral',
};

export function pill(status, text) {
  const kind = STATUS_PILL[status] || 'neutral';
  return el('span', { class: 'pill pill-' + kind, dataset: { status }, text: text || status });
}

/*
 * Hides the toast now: a page change or a new action calls it, so a message of
 * an earlier action never stays on screen, nor comes back with the next one.
 */
export function clearToast() {
  const box = document.getElementById('toast');
  clearTimeout(toast.timer);
  if (!box) return;
  box.hidden = true;
  box.textContent = '';
}

/* Shows a short message in the polite live region at the bottom of the page (it replaces any earlier one). */
export function toast(message, kind) {
  const box = document.getElementById('toast');
  if (!box) return;
  box.className = 'toast' + (kind ? ' toast-' + kind : '');
  setText(box, message);
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; box.textContent = ''; }, 6000);
}

/* A panel section with a heading; returns {section, body, head}. */
export function panel(title, opts = {}) {
  const id = 'h-' + Math.random().toString(36).slice(2, 9);
  const head = el('div', { class: 'panel-head' }, el(opts.level || 'h2', { id, text: title }));
  const body = el('div', { class: 'panel-body' });
  const section = el('section', { class: 'panel' + (opts.class ? ' ' + opts.class : ''), 'aria-labelledby': id }, head, body);
  return { section, body, head };
}

export function emptyState(text, hint) {
  return el('div', { class: 'empty' }, el('p', { text }), hint ? el('p', { class: 'muted', text: hint }) : null);
}
