/*
 * The dashboard's shell: hash routing between the pages (js/*.js), the header
 * (company, live or polling, admin token), the error banner, and the update
 * loop. While the websocket (/api/v1/live) is open, each snapshot goes to the
 * page on screen, which re-reads only what moved; when it is closed, the page
 * re-reads the REST API every 5 s and a reconnect is tried in the background.
 */
import {
  store, on, el, setText, getJSON, startLive, POLL_MS, adminToken, setAdminToken, zoneName, toast, companyColor,
} from './js/core.js';
import * as overview from './js/overview.js';
import * as mapPage from './js/map.js';
import * as station from './js/station.js';
import * as trips from './js/trips.js';
import * as federation from './js/federation.js';
import * as cars from './js/cars.js';

const $ = (id) => document.getElementById(id);

const ROUTES = [
  { re: /^\/?$/, nav: 'overview', page: overview.overviewPage },
  { re: /^\/map$/, nav: 'map', page: mapPage.mapPage },
  { re: /^\/station\/([^/]+)$/, nav: 'overview', page: station.stationPage },
  { re: /^\/trips$/, nav: 'trips', page: trips.tripsPage },
  { re: /^\/trips\/new$/, nav: 'trips', page: trips.bookPage },
  { re: /^\/trip\/([^/]+)$/, nav: 'trips', page: trips.tripPage },
  { re: /^\/federation$/, nav: 'federation', page: federation.federationPage },
  { re: /^\/cars$/, nav: 'cars', page: cars.carsPage },
];

let current = null;   // the mounted page: {title, refresh, snapshot, unmount}
let pollTimer = null;
const errors = new Map();

// ------------------------------------------------------------ errors

const ctx = {
  error(what, err) {
    errors.set(what, err);
    renderErrors();
  },
  ok(what) {
    if (errors.delete(what)) renderErrors();
  },
};

function renderErrors() {
  const banner = $('error-banner');
  if (errors.size === 0) {
    banner.hidden = true;
    return;
  }
  const list = [...errors.entries()];
  const offline = list.some(([, e]) => e && e.network);
  setText($('error-title'), offline ? 'Cannot reach the API.' : 'The API answered with an error.');
  setText($('error-detail'), offline
    ? 'The server at ' + location.host + ' did not answer. Showing the last data received; retrying.'
    : list.map(([what, e]) => what + ': ' + (e ? e.message : 'failed') + (e && e.status ? ' (HTTP ' + e.status + ')' : '')).join('; ') + '.');
  banner.hidden = false;
}

// ------------------------------------------------------------ routing

function parseHash() {
  const raw = decodeURIComponent((location.hash || '#/').slice(1));
  const [path, query] = raw.split('?');
  return { path: path || '/', query: new URLSearchParams(query || '') };
}

async function route() {
  const { path, query } = parseHash();
  let match = null, params = [];
  for (const r of ROUTES) {
    const m = r.re.exec(path);
    if (m) {
      match = r;
      params = m.slice(1);
      break;
    }
  }
  if (current && current.unmount) current.unmount();
  current = null;
  errors.clear();
  renderErrors();

  const view = $('view');
  view.replaceChildren();
  document.querySelectorAll('[data-nav]').forEach((a) => {
    if (match && a.dataset.nav === match.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  if (!match) {
    view.append(el('h1', { text: 'Page not found', tabindex: '-1' }),
      el('p', {}, 'There is no page at ', el('code', { text: '#' + path }), '. ', el('a', { href: '#/', text: 'Go to the overview' }), '.'));
    view.querySelector('h1').focus();
    return;
  }
  try {
    current = match.page(view, params, query, ctx) || {};
  } catch (e) {
    console.error(e);
    ctx.error('Page', e);
    return;
  }
  document.title = (current.title || 'Dashboard') + ' · ' + (store.companyName || 'EV charging');
  // Move focus to the page heading so keyboard and screen-reader users start there.
  const h1 = view.querySelector('h1');
  if (h1 && routed) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: false });
  }
  routed = true;
  if (current.refresh) runRefresh();
  if (store.snapshot && current.snapshot) current.snapshot({ snap: store.snapshot, prev: null });
}
let routed = false;

async function runRefresh() {
  const page = current;
  if (!page || !page.refresh) return;
  try {
    await page.refresh();
  } catch (e) {
    console.error(e);
  }
}

// ------------------------------------------------------------ updates

function schedulePoll() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(async () => {
    if (store.liveState !== 'live') await runRefresh();
    schedulePoll();
  }, POLL_MS);
}

const LIVE_TEXT = {
  connecting: ['Connecting…', 'Opening the live connection'],
  live: ['Live', 'Updates are pushed by the server over a websocket, every second or two'],
  polling: ['Polling', 'The live connection is closed: the page re-reads the API every 5 s and retries the connection'],
};

function renderLiveState(state) {
  const box = $('live-status');
  box.className = 'live live-' + state;
  const [text, title] = LIVE_TEXT[state] || LIVE_TEXT.connecting;
  setText($('live-text'), text);
  box.title = title;
  box.dataset.state = state;
}

on('live-state', (state) => {
  renderLiveState(state);
  if (state === 'polling') runRefresh();
});

on('snapshot', (ev) => {
  if (current && current.snapshot) {
    try {
      current.snapshot(ev);
    } catch (e) {
      console.error(e);
    }
  }
});

async function loadHealth() {
  try {
    const h = await getJSON('/health');
    store.company = h.company;
    store.companyName = h.name || h.company;
    store.names[h.company] = store.companyName;
    setText($('company-name'), store.companyName);
    setText($('company-id'), h.company);
    setText($('version'), h.version || '–');
    document.documentElement.style.setProperty('--self', companyColor(h.company));
    ctx.ok('Health');
    return h;
  } catch (e) {
    if (e.body && e.body.company) {
      store.company = e.body.company;
      store.companyName = e.body.name || e.body.company;
    }
    ctx.error('Health', e);
    return null;
  }
}

/* Display names of the peers, for chips and legends (their own /health, through our overview). */
async function loadNames() {
  try {
    const o = await getJSON('/federation/overview', { timeout: 10000 });
    for (const item of o.items || []) if (item.name) store.names[item.company] = item.name;
  } catch (e) { /* ids stand in for names */ }
}

// ------------------------------------------------------------ admin token

function renderAdmin() {
  const on_ = !!adminToken();
  setText($('admin-label'), on_ ? 'Admin ✓' : 'Admin');
  $('admin-button').setAttribute('aria-label', on_ ? 'Admin token set: change or forget it' : 'Set the admin token');
  document.documentElement.classList.toggle('is-admin', on_);
}

function setupAdmin() {
  const dialog = $('admin-dialog');
  $('admin-button').addEventListener('click', () => {
    $('admin-token').value = adminToken();
    if (dialog.showModal) dialog.showModal();
    else dialog.setAttribute('open', '');
    $('admin-token').focus();
  });
  dialog.addEventListener('close', () => {
    if (dialog.returnValue === 'save') {
      const t = $('admin-token').value.trim();
      setAdminToken(t);
      toast(t ? 'Admin token saved for this tab.' : 'Admin token cleared.');
    } else if (dialog.returnValue === 'forget') {
      setAdminToken('');
      toast('Admin token forgotten.');
    }
    $('admin-token').value = '';
    renderAdmin();
  });
  on('admin', () => {
    renderAdmin();
    runRefresh();
  });
  renderAdmin();
}

// ------------------------------------------------------------ start

async function start() {
  setText($('zone'), zoneName());
  setupAdmin();
  renderLiveState(store.liveState);
  await Promise.all([loadHealth(), loadNames()]);
  window.addEventListener('hashchange', route);
  route();
  startLive();
  schedulePoll();
  setInterval(loadHealth, 15000);
}

start();
