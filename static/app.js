/*
 * The dashboard's shell: hash routing between the pages (js/*.js), the header
 * (company, live or polling, the operator's sign-in), the error banner, and the update
 * loop. While the websocket (/api/v1/live) is open, each snapshot goes to the
 * page on screen, which re-reads only what moved; when it is closed, the page
 * re-reads the REST API every 5 s and a reconnect is tried in the background.
 */
import {
  store, on, el, setText, getJSON, startLive, POLL_MS, loadSession, signIn, signOut, zoneName, toast, clearToast, companyColor,
} from './js/core.js';
import * as overview from './js/overview.js';
import * as mapPage from './js/map.js';
import * as station from './js/station.js';
import * as trips from './js/trips.js';
import * as federation from './js/federation.js';
import * as cars from './js/cars.js';
import * as business from './js/business.js';

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
  { re: /^\/business$/, nav: 'business', page: business.businessPage },
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
  clearToast(); // a message of the page left behind is stale here
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

// ------------------------------------------------------------ operator sign-in

/*
 * Signed out: "Operator sign-in" opens the dialog, which posts the token to
 * /session and forgets it at once. Signed in: "Operator ✓" and "Sign out".
 */
function renderSession() {
  const on_ = store.operator;
  $('operator-badge').hidden = !on_;
  setText($('session-label'), on_ ? 'Sign out' : 'Operator sign-in');
  const button = $('session-button');
  if (on_) button.removeAttribute('aria-haspopup');
  else button.setAttribute('aria-haspopup', 'dialog');
  button.setAttribute('aria-label', on_ ? 'Sign out as the operator of ' + (store.companyName || 'this company')
    : 'Sign in as the operator of ' + (store.companyName || 'this company'));
  document.documentElement.classList.toggle('is-admin', on_);
}

function openSignIn() {
  const dialog = $('signin-dialog');
  if (store.operator || dialog.open) return;
  $('signin-token').value = '';
  setText($('signin-error'), '');
  $('signin-token').removeAttribute('aria-invalid');
  if (dialog.showModal) dialog.showModal();
  else dialog.setAttribute('open', '');
  $('signin-token').focus();
}

function closeSignIn() {
  const dialog = $('signin-dialog');
  if (dialog.close) dialog.close();
  else dialog.removeAttribute('open');
}

async function doSignOut(button) {
  button.disabled = true;
  try {
    await signOut();
    toast('Signed out. Operator pages need a new sign-in.', 'ok');
  } catch (e) {
    toast('Could not sign out: ' + e.message + '.', 'bad');
  } finally {
    button.disabled = false;
  }
}

function setupSession() {
  const dialog = $('signin-dialog');
  const input = $('signin-token');
  const submit = $('signin-submit');
  $('session-button').addEventListener('click', (ev) => {
    if (store.operator) doSignOut(ev.currentTarget);
    else openSignIn();
  });
  $('signin-cancel').addEventListener('click', closeSignIn);
  dialog.addEventListener('close', () => {
    input.value = '';
    setText($('signin-error'), '');
  });
  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (submit.disabled) return;
    const error = $('signin-error');
    if (!input.value.trim()) {
      setText(error, 'Give the operator token.');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    submit.disabled = true;
    setText(error, '');
    try {
      // The token goes to the server once, from the field; nothing keeps it.
      await signIn(input.value.trim());
      input.value = '';
      input.removeAttribute('aria-invalid');
      closeSignIn();
      toast('Signed in as the operator of ' + (store.companyName || 'this company') + '.', 'ok');
    } catch (e) {
      input.value = '';
      input.setAttribute('aria-invalid', 'true');
      setText(error, e.status === 401 ? 'That is not this company\u2019s operator token. Still signed out.'
        : 'Could not sign in: ' + e.message + (e.status ? ' (HTTP ' + e.status + ')' : '') + '.');
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  on('sign-in-request', openSignIn);
  on('operator', ({ on: signedIn, why }) => {
    renderSession();
    if (!signedIn && why === 'expired') toast('The operator session has ended: sign in again.', 'bad');
    if (current && current.operator) {
      try {
        current.operator(signedIn);
      } catch (e) {
        console.error(e);
      }
    }
    runRefresh();
    loadAlerts();
  });
  renderSession();
}

// ------------------------------------------------------------ alerts

/*
 * The operator's alerts banner under the header, on every page: how many
 * alerts GET /alerts has and the most urgent one, re-read every ALERTS_MS
 * and at each sign-in; hidden signed out and when nothing needs the operator.
 */
const ALERTS_MS = 15000;

async function loadAlerts() {
  const banner = $('alerts-banner');
  if (!store.operator) {
    banner.hidden = true;
    return;
  }
  try {
    const body = await getJSON('/alerts');
    if (!store.operator || !body.count) {
      banner.hidden = true;
      return;
    }
    const critical = body.items.filter((a) => a.severity === 'critical').length;
    setText($('alerts-title'), body.count + (body.count === 1 ? ' alert' : ' alerts') + (critical ? ' (' + critical + ' critical)' : '') + ':');
    setText($('alerts-first'), body.items[0].message);
    banner.dataset.severity = critical ? 'critical' : 'warning';
    banner.dataset.count = String(body.count);
    banner.hidden = false;
  } catch (e) {
    // The error banner tells when the API fails; the last alerts stay meanwhile.
  }
}

// ------------------------------------------------------------ start

async function start() {
  setText($('zone'), zoneName());
  setupSession();
  renderLiveState(store.liveState);
  // Whether the operator is signed in, before a page mounts: signed out, the
  // pages never call what needs the operator (no 401s, no console errors).
  await Promise.all([loadHealth(), loadNames(), loadSession()]);
  renderSession();
  window.addEventListener('hashchange', route);
  route();
  startLive();
  schedulePoll();
  loadAlerts();
  setInterval(loadAlerts, ALERTS_MS);
  setInterval(() => {
    loadHealth();
    loadSession(); // a sign-out in another tab, or the end of the 12 h
  }, 15000);
}

start();
