/*
 * Trips: the list of trips this company coordinates; a trip's page with every
 * leg, its company and the phase of its distributed transaction; and booking
 * from the page: a form (a planned route, or stations and windows picked by
 * hand), then the options, then POST /trips with an Idempotency-Key. A 409
 * shows which leg failed and its alternatives, each one click from a new try.
 * All of it is the operator's: signed out, each page shows the sign-in state
 * and asks the API for nothing that needs the operator.
 */
import {
  el, setText, getJSON, api, fmt, iso, dayTime, timeEl, plural, shortId, capitalize, store, pill, panel,
  emptyState, keepFocus, companyChip, companyOf, companyColor, loadNetwork, stationName, snapshotPeers, changed, signInPrompt,
  toast, clearToast, zoneName, HOUR_MS, MINUTE_MS,
} from './core.js';

const PHASE_TEXT = {
  preparing: 'Preparing', committing: 'Committing', confirmed: 'Confirmed', aborting: 'Aborting', aborted: 'Aborted',
  cancelling: 'Cancelling', cancelled: 'Cancelled', finishing: 'Finishing', finished: 'Finished',
};

function legChips(legs) {
  return el('span', { class: 'leg-chips' }, (legs || []).map((l, i) => {
    const chip = el('span', { class: 'leg-chip', title: 'Leg ' + (i + 1) + ': ' + stationName(l.station_id) + ' (' + l.station_id + ')' },
      el('span', { class: 'chip-dot', 'aria-hidden': 'true' }), l.station_id);
    chip.style.setProperty('--c', companyColor(l.company || companyOf(l.station_id)));
    return chip;
  }));
}

// ------------------------------------------------------------ list

export function tripsPage(root, params, query, ctx) {
  const carInput = el('input', { id: 'trip-car-filter', type: 'search', placeholder: 'e.g. car-7', value: query.get('car') || '',
    autocomplete: 'off', spellcheck: 'false' });
  const form = el('form', { class: 'filter-form', role: 'search' },
    el('label', { for: 'trip-car-filter', text: 'Car' }), carInput, el('button', { type: 'submit', text: 'Filter' }));
  root.append(el('div', { class: 'page-head' },
    el('div', {}, el('h1', { text: 'Trips' }),
      el('p', { class: 'lede', text: 'Trips coordinated by this company: each one booked every leg, at every company, or none.' })),
    el('div', { class: 'page-actions' }, el('a', { class: 'btn btn-primary', href: '#/trips/new', id: 'new-trip', text: 'Book a trip' }))));

  const p = panel('Trips coordinated here');
  const summary = el('p', { class: 'summary', text: 'Loading trips…' });
  p.head.append(summary);
  const tbody = el('tbody');
  const tableWrap = el('div', { class: 'table-wrap' }, el('table', { class: 'table', id: 'trips-table' },
    el('caption', { class: 'visually-hidden', text: 'Trips, newest first' }),
    el('thead', {}, el('tr', {}, ['Trip', 'Car', 'Status', 'Phase', 'Legs', 'First window', 'Created'].map((h) => el('th', { scope: 'col', text: h })))),
    tbody));
  const gate = el('div', { hidden: true }, signInPrompt('see the trips it coordinates'));
  p.body.append(form, tableWrap, gate);
  root.append(p.section);

  function showGate(signedOut) {
    gate.hidden = !signedOut;
    form.hidden = signedOut;
    tableWrap.hidden = signedOut;
    if (signedOut) {
      tbody.replaceChildren();
      setText(summary, 'Operator only');
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = carInput.value.trim();
    location.hash = '#/trips' + (v ? '?car=' + encodeURIComponent(v) : '');
  });

  async function refresh() {
    const car = (query.get('car') || '').trim();
    if (!store.operator) {
      showGate(true);
      return;
    }
    let body;
    try {
      [body] = await Promise.all([getJSON('/trips' + (car ? '?car_id=' + encodeURIComponent(car) : '')), loadNetwork().catch(() => null)]);
      ctx.ok('Trips');
    } catch (e) {
      if (!store.operator) showGate(true);
      else ctx.error('Trips', e);
      return;
    }
    showGate(false);
    const items = body.items || [];
    const rows = items.map((t) => {
      const first = (t.legs || [])[0];
      return el('tr', { dataset: { trip: t.id } },
        el('td', { 'data-label': 'Trip' }, el('a', { href: '#/trip/' + t.id, class: 'mono', text: shortId(t.id) })),
        el('td', { 'data-label': 'Car' }, el('span', { class: 'mono', text: t.car_id })),
        el('td', { 'data-label': 'Status' }, pill(t.status)),
        el('td', { 'data-label': 'Phase', text: PHASE_TEXT[t.phase] || t.phase }),
        el('td', { 'data-label': 'Legs' }, legChips(t.legs)),
        el('td', { 'data-label': 'First window' }, first ? timeEl(first.start, capitalize(dayTime(Date.parse(first.start)))) : '—'),
        el('td', { 'data-label': 'Created' }, timeEl(t.created_at, capitalize(dayTime(Date.parse(t.created_at))))));
    });
    if (!rows.length) rows.push(el('tr', { class: 'empty' }, el('td', { colspan: '7' },
      car ? 'No trip of car ' + car + ' coordinated here.' : 'No trip coordinated here yet. ', el('a', { href: '#/trips/new', text: 'Book one' }))));
    keepFocus(tbody, () => tbody.replaceChildren(...rows));
    setText(summary, plural(items.length, 'trip', 'trips') + (items.length >= 100 ? ' (the latest 100)' : '') + (car ? ' of car ' + car : ''));
  }

  let debounce = null;
  return {
    title: 'Trips',
    refresh,
    snapshot({ snap, prev }) {
      if (prev && store.operator && changed(snap, prev).trips) {
        clearTimeout(debounce);
        debounce = setTimeout(refresh, 250);
      }
    },
    unmount() { clearTimeout(debounce); },
  };
}

// ------------------------------------------------------------ one trip

/* The protocol's path a phase lies on, and where on it. */
function phasePath(phase) {
  if (phase === 'aborting' || phase === 'aborted') {
    return { steps: [['preparing', 'Prepare', 'each company holds its legs in a prepared transaction'],
      ['aborting', 'Abort decided', 'a no vote or an unreachable company: every prepared leg is rolled back'],
      ['aborted', 'Aborted', 'nothing is held anywhere']], at: phase === 'aborting' ? 1 : 2, bad: true };
  }
  if (['cancelling', 'cancelled', 'finishing', 'finished'].includes(phase)) {
    const cancel = phase.startsWith('cancel');
    return { steps: [['confirmed', 'Confirmed', 'every leg booked'],
      [cancel ? 'cancelling' : 'finishing', cancel ? 'Cancelling' : 'Finishing', 'a second distributed transaction at every company'],
      [cancel ? 'cancelled' : 'finished', cancel ? 'Cancelled' : 'Finished', cancel ? 'every leg freed' : 'every leg completed']],
    at: phase.endsWith('ing') ? 1 : 2 };
  }
  return { steps: [['preparing', 'Prepare', 'each company holds its legs in a prepared transaction'],
    ['committing', 'Commit decided', 'the decision is recorded; participants are told to commit'],
    ['confirmed', 'Confirmed', 'every leg booked at its company']], at: phase === 'preparing' ? 0 : phase === 'committing' ? 1 : 2 };
}

function phaseStepper(phase) {
  const path = phasePath(phase);
  return el('ol', { class: 'stepper' + (path.bad ? ' stepper-bad' : ''), 'aria-label': 'Distributed transaction phase' },
    path.steps.map(([key, label, hint], i) => el('li', {
      class: 'step' + (i < path.at ? ' done' : i === path.at ? ' current' : '') + (i === path.at && i === path.steps.length - 1 ? ' final' : ''),
      'aria-current': i === path.at ? 'step' : null, dataset: { phase: key },
    }, el('span', { class: 'step-mark', 'aria-hidden': 'true', text: i < path.at || (i === path.at && i === 2) ? (path.bad && i === 2 ? '✕' : '✓') : String(i + 1) }),
    el('span', { class: 'step-text' }, el('strong', { text: label }), el('span', { class: 'step-hint', text: hint })))));
}

/* The legs on one time line, each block in its company's colour. */
function legsTimeline(legs) {
  if (!legs || !legs.length) return null;
  const t0 = Math.min(...legs.map((l) => Date.parse(l.start)));
  const t1 = Math.max(...legs.map((l) => Date.parse(l.end)));
  const span = Math.max(t1 - t0, HOUR_MS);
  const track = el('div', { class: 'legs-track', role: 'img', 'aria-label': 'Legs from ' + dayTime(t0) + ' to ' + dayTime(t1) });
  legs.forEach((l, i) => {
    const s = Date.parse(l.start), e = Date.parse(l.end);
    const block = el('span', { class: 'legs-block', title: 'Leg ' + (i + 1) + ': ' + stationName(l.station_id) + ', ' + fmt.time.format(new Date(s)) + '–' + fmt.time.format(new Date(e)), text: String(i + 1) });
    block.style.left = (100 * (s - t0)) / span + '%';
    block.style.width = Math.max(2.5, (100 * (e - s)) / span) + '%';
    block.style.setProperty('--c', companyColor(l.company || companyOf(l.station_id)));
    track.append(block);
  });
  return el('div', { class: 'legs-timeline' }, track,
    el('div', { class: 'legs-axis', 'aria-hidden': 'true' }, el('span', { text: dayTime(t0) }), el('span', { text: dayTime(t1) })));
}

export function tripPage(root, params, query, ctx) {
  const id = params[0];
  const crumbs = el('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    el('ol', {}, el('li', {}, el('a', { href: '#/trips', text: 'Trips' })), el('li', { 'aria-current': 'page', text: shortId(id) })));
  const title = el('h1', {}, 'Trip ', el('span', { class: 'mono', text: shortId(id) }));
  const statusSlot = el('span', { class: 'title-pill' });
  const lede = el('p', { class: 'lede' });
  root.append(el('div', { class: 'page-head' }, el('div', {}, crumbs, el('div', { class: 'title-row' }, title, statusSlot), lede)));
  const body = el('div', { class: 'trip-body' }, el('p', { class: 'muted', text: 'Loading the trip…' }));
  root.append(body);
  let trip = null;
  let peers = {};

  function render() {
    const t = trip;
    statusSlot.replaceChildren(pill(t.status, capitalize(t.status)));
    const coordinator = t.coordinator || store.company;
    lede.replaceChildren('Car ', el('span', { class: 'mono', text: t.car_id }), ' · coordinated by ',
      companyChip(coordinator, store.names[coordinator]), ' · asked ', timeEl(t.created_at, dayTime(Date.parse(t.created_at))),
      ' · id ', el('span', { class: 'mono small', text: t.id }));

    const phaseP = panel('Distributed transaction');
    phaseP.head.append(el('p', { class: 'summary' }, 'Phase ', el('strong', { id: 'trip-phase', dataset: { phase: t.phase }, text: PHASE_TEXT[t.phase] || t.phase })));
    phaseP.body.append(phaseStepper(t.phase),
      el('div', { class: 'participants' }, el('span', { class: 'muted', text: 'Participants, in prepare order: ' }),
        (t.participants || []).map((c) => {
          const chip = companyChip(c, store.names[c]);
          const st = c === store.company ? 'up' : peers[c];
          if (st) chip.append(el('span', { class: 'chip-status', text: st === 'up' ? ' · up' : ' · down' }));
          chip.classList.toggle('chip-down', st === 'down');
          return chip;
        })));

    const legsP = panel('Legs');
    legsP.head.append(el('p', { class: 'summary', text: plural((t.legs || []).length, 'leg', 'legs') + ' · times in your time zone' }));
    const list = el('ol', { class: 'legs', id: 'trip-legs' }, (t.legs || []).map((l, i) => {
      const company = l.company || companyOf(l.station_id);
      const s = Date.parse(l.start), e = Date.parse(l.end);
      const name = stationName(l.station_id);
      const item = el('li', { class: 'leg', dataset: { station: l.station_id, company } },
        el('span', { class: 'leg-index', 'aria-hidden': 'true', text: String(i + 1) }),
        el('div', { class: 'leg-main' },
          el('p', { class: 'leg-title' }, el('a', { href: '#/station/' + encodeURIComponent(l.station_id), text: name }),
            ' ', el('span', { class: 'mono muted small', text: l.station_id })),
          el('p', { class: 'leg-meta' }, companyChip(company, store.names[company]), ' ',
            timeEl(l.start, capitalize(dayTime(s))), '–', timeEl(l.end, fmt.time.format(new Date(e))),
            ' (' + Math.round((e - s) / MINUTE_MS) + '\u00a0min)', l.charger ? ' · charger #' + l.charger : '')),
        el('div', { class: 'leg-state' }, pill(l.state || 'unknown')));
      item.style.setProperty('--c', companyColor(company));
      return item;
    }));
    legsP.body.append(legsTimeline(t.legs), list);

    const actions = el('div', { class: 'actions' });
    const msg = el('p', { class: 'action-msg', role: 'status' });
    if (t.status === 'confirmed') {
      if (t.coordinator && t.coordinator !== store.company) {
        actions.append(el('p', { class: 'muted', text: 'Coordinated by another company: cancel it on that company\u2019s dashboard.' }));
      } else if (store.operator) {
        const b = el('button', { type: 'button', class: 'btn-danger', id: 'cancel-trip', text: 'Cancel this trip' });
        b.addEventListener('click', async () => {
          if (!window.confirm('Cancel every leg of this trip, at every company?')) return;
          b.disabled = true;
          setText(msg, 'Cancelling at every company…');
          try {
            await api('/trips/' + encodeURIComponent(t.id) + '/cancel', { method: 'POST', timeout: 20000 });
            toast('Trip cancelled at every company.', 'ok');
            await refresh();
          } catch (e) {
            setText(msg, e.status === 401 ? 'Not cancelled: the operator session has ended. Sign in again.' : 'Could not cancel: ' + e.message);
            b.disabled = false;
          }
        });
        actions.append(b);
      } else {
        actions.append(signInPrompt('cancel this trip', { compact: true }));
      }
    }
    body.replaceChildren(phaseP.section, legsP.section, actions, msg);
  }

  function renderSignedOut() {
    trip = null;
    statusSlot.replaceChildren();
    lede.replaceChildren();
    body.replaceChildren(signInPrompt('see this trip and cancel it'));
    ctx.ok('Trip');
  }

  async function refresh() {
    if (!store.operator) {
      renderSignedOut();
      return;
    }
    try {
      const [t, , pr] = await Promise.all([getJSON('/trips/' + encodeURIComponent(id)), loadNetwork().catch(() => null),
        store.snapshot ? Promise.resolve(null) : getJSON('/federation/peers').catch(() => null)]);
      trip = t;
      if (pr) peers = Object.fromEntries((pr.items || []).map((p) => [p.company, p.status]));
      ctx.ok('Trip');
    } catch (e) {
      if (!store.operator) {
        renderSignedOut();
        return;
      }
      if (e.status === 404) {
        body.replaceChildren(emptyState('No trip ' + id + ' coordinated by this company.',
          'A trip is kept by the company that coordinates it: open it on that company\u2019s dashboard, or check the id.'));
        return;
      }
      ctx.error('Trip', e);
      return;
    }
    render();
  }

  let debounce = null;
  return {
    title: 'Trip ' + shortId(id),
    refresh,
    snapshot({ snap, prev }) {
      const c = changed(snap, prev);
      if (c.peers) {
        peers = Object.fromEntries(snapshotPeers(snap).map((p) => [p.company, p.status]));
        if (trip && store.operator) render();
      }
      if (prev && store.operator && (c.trips || c.in_flight)) {
        clearTimeout(debounce);
        debounce = setTimeout(refresh, 250);
      }
    },
    unmount() { clearTimeout(debounce); },
  };
}

// ------------------------------------------------------------ booking

/* "2026-11-23T08:00" for a datetime-local input, in the browser's zone. */
function localInput(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
}

/* The viewer's offset from UTC at ms, "UTC−03:00" (the booking page's times are the viewer's local time). */
export function utcOffset(ms) {
  const off = -new Date(ms).getTimezoneOffset();
  const p = (n) => String(n).padStart(2, '0');
  return off === 0 ? 'UTC' : 'UTC' + (off < 0 ? '\u2212' : '+') + p(Math.floor(Math.abs(off) / 60)) + ':' + p(Math.abs(off) % 60);
}

/* "Tomorrow 14:05–14:45 UTC−03:00": a window in the viewer's local time, with its offset. */
function localSpan(start, end) {
  const s = Date.parse(start), e = Date.parse(end);
  return capitalize(dayTime(s)) + '\u2013' + fmt.time.format(new Date(e)) + '\u00a0' + utcOffset(s);
}

/* Why a company was left out of a plan, for a person. */
const LEFT_OUT_WHY = {
  down: 'its server is down', availability_unknown: 'it did not tell its free chargers in time',
};

/* "Left out: Frevo Charge (b), its server is down: its stations could not be asked." per company. */
function leftOutList(leftOut) {
  if (!leftOut || !leftOut.length) return null;
  return el('ul', { class: 'left-out', id: 'plan-left-out' }, leftOut.map((c) => el('li', { class: 'note', dataset: { company: c.company } },
    'Left out: ', el('strong', { text: (store.names[c.company] || 'Company ' + c.company) + ' (' + c.company + ')' }),
    ', ' + (LEFT_OUT_WHY[c.reason] || c.reason || 'not asked') + ': its stations could not be asked.')));
}

function newKey() {
  return 'ui-' + (crypto.randomUUID ? crypto.randomUUID() : Date.now() + '-' + Math.random().toString(16).slice(2));
}

export function bookPage(root, params, query, ctx) {
  root.append(el('div', { class: 'page-head' },
    el('div', {},
      el('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, el('ol', {}, el('li', {}, el('a', { href: '#/trips', text: 'Trips' })),
        el('li', { 'aria-current': 'page', text: 'Book a trip' }))),
      el('h1', { text: 'Book a trip' }),
      el('p', { class: 'lede', text: 'One request books a charging window at each stop, at whichever company owns it: all legs, or none.' }))));

  // The steps as the page goes: choose the stops (planned options or by hand), check them, the outcome.
  const STEPS = ['form', 'review', 'result'];
  const steps = el('ol', { class: 'wizard-steps', 'aria-label': 'Booking steps', id: 'book-steps' },
    el('li', { dataset: { step: 'form' }, text: '1. Choose the stops' }), el('li', { dataset: { step: 'review' }, text: '2. Check the stops' }),
    el('li', { dataset: { step: 'result' }, text: '3. Book' }));
  const zoneNote = el('p', { class: 'hint', id: 'book-zone' }, 'Times are in your time zone, ' + zoneName() + ' (', el('strong', { text: utcOffset(Date.now()) }), ').');
  const formSec = el('section', { class: 'panel', 'aria-label': 'Trip' });
  const reviewSec = el('section', { class: 'panel', 'aria-label': 'Options', hidden: true });
  const resultSec = el('section', { class: 'panel result', 'aria-label': 'Result', hidden: true, tabindex: '-1' });
  // Planning and booking are the operator's (or a car's, over the API): signed out, only this shows.
  const gateSec = el('section', { class: 'panel', id: 'book-signin', 'aria-label': 'Sign in', hidden: true },
    signInPrompt('plan and book trips for its cars'));
  root.append(steps, gateSec, formSec, reviewSec, resultSec);
  let step = 'form';

  // ---------------- form: mode switch
  const modePlan = el('button', { type: 'button', class: 'seg-btn', 'aria-pressed': 'true', id: 'mode-plan', text: 'Plan a route' });
  const modeManual = el('button', { type: 'button', class: 'seg-btn', 'aria-pressed': 'false', id: 'mode-manual', text: 'Pick stations' });
  const carInput = el('input', { id: 'book-car', name: 'car_id', required: true, pattern: '[A-Za-z0-9_.:\\-]{1,64}',
    value: 'car-' + Math.floor(100 + Math.random() * 900), autocomplete: 'off', spellcheck: 'false' });
  const planBox = el('div', { class: 'mode-box' });
  const manualBox = el('div', { class: 'mode-box', hidden: true });
  const formMsg = el('p', { class: 'form-msg', role: 'alert' });

  formSec.append(
    el('div', { class: 'field' }, el('label', { for: 'book-car', text: 'Car' }), carInput,
      el('p', { class: 'hint', text: 'The car the windows are booked for: 1 to 64 of letters, digits and _ . : -' })),
    el('div', { class: 'mode-switch', role: 'group', 'aria-label': 'How to choose the stops' }, modePlan, modeManual),
    zoneNote, planBox, manualBox, formMsg);

  // ---------------- manual legs
  const legsBox = el('ol', { class: 'leg-editor', id: 'leg-editor' });
  const addLeg = el('button', { type: 'button', id: 'add-leg', text: '+ Add a stop' });
  const toReview = el('button', { type: 'button', class: 'btn-primary', id: 'review', text: 'See the options' });
  manualBox.append(el('p', { class: 'hint', text: 'Stops in time order. The first leg wins: it holds its charger while the others are asked.' }),
    legsBox, el('div', { class: 'actions' }, addLeg, toReview));

  let stations = [];
  let legRows = [];
  let pending = null; // {legs, key, body}

  function stationSelect(idx, value) {
    const sel = el('select', { id: 'leg-station-' + idx, required: true });
    sel.append(el('option', { value: '', text: 'Choose a station…' }));
    const byCompany = {};
    for (const s of stations) (byCompany[s.company] = byCompany[s.company] || []).push(s);
    for (const c of Object.keys(byCompany).sort()) {
      const group = el('optgroup', { label: (store.names[c] || 'Company ' + c) + ' (' + c + ')' });
      for (const s of byCompany[c].sort((a, b) => a.id.localeCompare(b.id))) {
        const down = s.owner_status === 'down';
        const off = s.status !== 'active';
        group.append(el('option', { value: s.id, disabled: down || off,
          text: s.name + ' · ' + s.city + ' (' + s.id + ')' + (down ? ' — company unreachable' : off ? ' — ' + s.status : '') }));
      }
      sel.append(group);
    }
    if (value) sel.value = value;
    return sel;
  }

  function legRow(leg) {
    const idx = legRows.length;
    const sel = stationSelect(idx, leg.station_id);
    const start = el('input', { type: 'datetime-local', id: 'leg-start-' + idx, required: true, value: localInput(leg.start), step: '300' });
    const dur = el('select', { id: 'leg-duration-' + idx },
      [20, 30, 40, 60, 90].map((m) => el('option', { value: String(m), text: m + ' min', selected: m === leg.minutes })));
    const remove = el('button', { type: 'button', class: 'btn-small btn-ghost-dark', 'aria-label': 'Remove this stop', text: 'Remove' });
    const li = el('li', { class: 'leg-edit' },
      el('div', { class: 'field' }, el('label', { for: sel.id, text: 'Station' }), sel),
      el('div', { class: 'field' }, el('label', { for: start.id, text: 'Start (' + utcOffset(leg.start) + ')' }), start),
      el('div', { class: 'field' }, el('label', { for: dur.id, text: 'Charge for' }), dur),
      remove);
    const row = { li, sel, start, dur };
    // The offset of the chosen day (it changes with daylight saving time where there is one).
    start.addEventListener('change', () => {
      const t = new Date(start.value).getTime();
      if (Number.isFinite(t)) setText(li.querySelector('label[for="' + start.id + '"]'), 'Start (' + utcOffset(t) + ')');
    });
    remove.addEventListener('click', () => {
      if (legRows.length === 1) return;
      legRows = legRows.filter((r) => r !== row);
      li.remove();
    });
    legRows.push(row);
    legsBox.append(li);
    return row;
  }

  function readManual() {
    const legs = [];
    for (const [i, r] of legRows.entries()) {
      if (!r.sel.value) throw new Error('Choose a station for stop ' + (i + 1) + '.');
      const t = new Date(r.start.value).getTime();
      if (!Number.isFinite(t)) throw new Error('Give a start time for stop ' + (i + 1) + '.');
      const end = t + Number(r.dur.value) * MINUTE_MS;
      legs.push({ station_id: r.sel.value, start: iso(t), end: iso(end) });
    }
    for (let i = 1; i < legs.length; i++) {
      if (Date.parse(legs[i].start) < Date.parse(legs[i - 1].end)) throw new Error('Stop ' + (i + 1) + ' starts before stop ' + i + ' ends: stops go in time order.');
    }
    return legs;
  }

  addLeg.addEventListener('click', () => {
    const last = legRows[legRows.length - 1];
    const t = last && last.start.value ? new Date(last.start.value).getTime() + 3 * HOUR_MS : Date.now() + 2 * HOUR_MS;
    legRow({ start: t, minutes: 40 }).sel.focus();
  });

  // ---------------- planner
  const origin = el('select', { id: 'plan-origin' });
  const dest = el('select', { id: 'plan-destination' });
  const departure = el('input', { type: 'datetime-local', id: 'plan-departure', value: localInput(Math.ceil((Date.now() + HOUR_MS) / (15 * MINUTE_MS)) * 15 * MINUTE_MS) });
  const capacity = el('input', { type: 'number', id: 'plan-capacity', min: '10', max: '200', step: '1', value: '60' });
  const soc = el('input', { type: 'number', id: 'plan-soc', min: '0', max: '100', step: '1', value: '60' });
  const planBtn = el('button', { type: 'button', class: 'btn-primary', id: 'plan', text: 'Find options' });
  const planOut = el('div', { class: 'plan-options', 'aria-live': 'polite' });
  planBox.append(
    el('div', { class: 'field-grid' },
      el('div', { class: 'field' }, el('label', { for: 'plan-origin', text: 'From' }), origin),
      el('div', { class: 'field' }, el('label', { for: 'plan-destination', text: 'To' }), dest),
      el('div', { class: 'field' }, el('label', { for: 'plan-departure', text: 'Leaving at (' + utcOffset(Date.now()) + ')' }), departure),
      el('div', { class: 'field' }, el('label', { for: 'plan-capacity', text: 'Battery (kWh)' }), capacity),
      el('div', { class: 'field' }, el('label', { for: 'plan-soc', text: 'Charge now (%)' }), soc)),
    el('div', { class: 'actions' }, planBtn), planOut);

  function setMode(plan) {
    modePlan.setAttribute('aria-pressed', String(plan));
    modeManual.setAttribute('aria-pressed', String(!plan));
    planBox.hidden = !plan;
    manualBox.hidden = plan;
    setText(formMsg, '');
  }
  modePlan.addEventListener('click', () => setMode(true));
  modeManual.addEventListener('click', () => setMode(false));

  planBtn.addEventListener('click', async () => {
    setText(formMsg, '');
    clearToast();
    if (!carInput.reportValidity()) return;
    planBtn.disabled = true;
    planOut.replaceChildren(el('p', { class: 'muted', text: 'Planning…' }));
    try {
      const res = await api('/routes/plan', { method: 'POST', timeout: 20000, body: {
        car_id: carInput.value.trim(), origin: origin.value, destination: dest.value,
        departure: iso(new Date(departure.value).getTime()),
        battery: { capacity_kwh: Number(capacity.value), soc: Number(soc.value) }, max_options: 3,
      } });
      renderPlan(res.body);
    } catch (e) {
      if (e.status === 404 && e.body && e.body.error && /endpoint/.test(e.body.error.message)) {
        planOut.replaceChildren(el('p', { class: 'note', text: 'This server has no route planner yet: pick the stations and windows by hand.' }));
        setMode(false);
        setText(formMsg, 'No route planner on this server yet: pick the stations and windows here.');
      } else {
        // A plan the planner could not make among the companies it could ask is not "no plan":
        // say who was left out, since their stations may well have made the trip.
        const b = e.body || {};
        const why = b.reason && b.reason.message ? b.reason.message : e.message;
        const left = leftOutList(b.companies_left_out);
        planOut.replaceChildren(el('p', { class: 'note note-bad', id: 'plan-none',
          text: (left ? 'No route through the companies that could be asked: ' : 'No route: ') + why }), left || '');
      }
    } finally {
      planBtn.disabled = false;
    }
  });

  function renderPlan(body) {
    const options = (body && (body.options || body.items)) || [];
    const leftOut = (body && body.companies_left_out) || [];
    const notes = leftOutList(leftOut);
    if (!options.length) {
      planOut.replaceChildren(el('p', { class: 'note', id: 'plan-none', text: notes ? 'No option through the companies that could be asked.' : 'No option found for this trip.' }), notes || '');
      return;
    }
    planOut.replaceChildren(notes || '', el('ol', { class: 'option-list', id: 'plan-options' }, options.map((o, i) => {
      const legs = (o.legs || []).map((l) => ({ station_id: l.station_id, company: l.company,
        start: (l.window && l.window.start) || l.start, end: (l.window && l.window.end) || l.end, plan: l }));
      const eta = o.eta || o.arrival;
      const cost = o.total_cost !== undefined ? o.total_cost : o.cost;
      const choose = el('button', { type: 'button', class: 'btn-primary', text: 'Choose option ' + (i + 1) });
      choose.addEventListener('click', () => review(legs));
      const facts = [];
      if (eta) facts.push(el('span', {}, 'arrives ', timeEl(eta, dayTime(Date.parse(eta)))));
      if (o.distance_km !== undefined) facts.push(fmt.num.format(o.distance_km) + '\u00a0km' + (o.via && o.via.length ? ' via ' + o.via.join(', ') : ''));
      if (cost !== undefined) facts.push(fmt.price.format(cost));
      if (o.arrive_soc !== undefined) facts.push('arrives with ' + fmt.num.format(o.arrive_soc) + '%');
      const stops = el('ol', { class: 'plan-stops' }, legs.map((l) => {
        const p = l.plan;
        const item = el('li', {},
          companyChip(l.company || companyOf(l.station_id), store.names[l.company]), ' ',
          el('strong', { text: stationName(l.station_id) }), ' · ', localSpan(l.start, l.end),
          p && p.arrive_soc !== undefined ? ' · ' + fmt.num.format(p.arrive_soc) + '% → ' + fmt.num.format(p.depart_soc) + '%' : '',
          p && p.cost !== undefined ? ' · ' + fmt.price.format(p.cost) : '');
        return item;
      }));
      return el('li', { class: 'option' },
        el('div', { class: 'option-head' }, el('strong', { text: 'Option ' + (i + 1) + ' · ' + plural(legs.length, 'stop', 'stops') }),
          el('span', { class: 'option-facts' }, facts.map((f, k) => [k ? ' · ' : '', f]))),
        stops, choose);
    })));
  }

  // ---------------- review (options) and booking
  const reviewList = el('ol', { class: 'legs', id: 'review-legs' });
  const bookBtn = el('button', { type: 'button', class: 'btn-primary', id: 'book', text: 'Book the trip' });
  const backBtn = el('button', { type: 'button', id: 'back', text: 'Back' });
  reviewSec.append(el('h2', { text: 'Check the stops' }),
    el('p', { class: 'muted', text: 'Free chargers are shown for this company\u2019s stations; the others are checked by their owners when booking.' }),
    reviewList, el('div', { class: 'actions' }, backBtn, bookBtn));

  function showStep(next) {
    step = next;
    const out = !store.operator;
    gateSec.hidden = !out;
    steps.hidden = out;
    formSec.hidden = out || step !== 'form';
    reviewSec.hidden = out || step !== 'review';
    resultSec.hidden = out || step !== 'result';
    const at = STEPS.indexOf(step);
    steps.querySelectorAll('li').forEach((li) => {
      const i = STEPS.indexOf(li.dataset.step);
      if (i === at) li.setAttribute('aria-current', 'step');
      else li.removeAttribute('aria-current');
      li.classList.toggle('done', i < at);
      li.dataset.state = i < at ? 'done' : i === at ? 'current' : 'todo';
    });
    // The last step says what it is: still to do, or the outcome.
    const last = steps.querySelector('[data-step="result"]');
    setText(last, '3. ' + (step !== 'result' ? 'Book' : resultSec.dataset.outcome === 'booked' ? 'Booked' : 'Not booked'));
  }

  async function review(legs) {
    setText(formMsg, '');
    clearToast();
    if (!carInput.reportValidity()) return;
    const body = { car_id: carInput.value.trim(), legs: legs.map((l) => ({ station_id: l.station_id, start: l.start, end: l.end })) };
    const text = JSON.stringify(body);
    pending = { legs, body, key: pending && pending.text === text ? pending.key : newKey(), text };
    reviewList.replaceChildren(...legs.map((l, i) => {
      const company = companyOf(l.station_id);
      const free = el('span', { class: 'leg-free muted small' });
      const s = Date.parse(l.start), e = Date.parse(l.end);
      const item = el('li', { class: 'leg' },
        el('span', { class: 'leg-index', 'aria-hidden': 'true', text: String(i + 1) }),
        el('div', { class: 'leg-main' },
          el('p', { class: 'leg-title', text: stationName(l.station_id) + ' ' }, el('span', { class: 'mono muted small', text: l.station_id })),
          el('p', { class: 'leg-meta' }, companyChip(company, store.names[company]), ' ', localSpan(l.start, l.end),
            ' (' + Math.round((e - s) / MINUTE_MS) + '\u00a0min) ', free)));
      item.style.setProperty('--c', companyColor(company));
      if (company === store.company) {
        getJSON('/stations/' + encodeURIComponent(l.station_id) + '/availability?from=' + encodeURIComponent(l.start) + '&to=' + encodeURIComponent(l.end))
          .then((a) => {
            const min = Math.min(...a.segments.map((x) => x.free));
            setText(free, min > 0 ? '· ' + plural(min, 'charger', 'chargers') + ' free' : '· fully booked: expect alternatives');
            free.classList.toggle('bad', min <= 0);
          }).catch(() => {});
      } else setText(free, '· checked by ' + (store.names[company] || company) + ' when booking');
      return item;
    }));
    showStep('review');
    bookBtn.disabled = false;
    bookBtn.focus();
  }

  toReview.addEventListener('click', () => {
    try {
      review(readManual());
    } catch (e) {
      setText(formMsg, e.message);
    }
  });
  backBtn.addEventListener('click', () => showStep('form'));

  bookBtn.addEventListener('click', async () => {
    clearToast();
    bookBtn.disabled = true;
    setText(bookBtn, 'Booking at every company…');
    let outcome;
    try {
      const res = await api('/trips', { method: 'POST', body: pending.body, headers: { 'Idempotency-Key': pending.key }, timeout: 30000 });
      outcome = { ok: true, trip: res.body };
    } catch (e) {
      outcome = { ok: false, error: e };
    }
    setText(bookBtn, 'Book the trip');
    bookBtn.disabled = false;
    renderResult(outcome);
  });

  function renderResult(outcome) {
    if (outcome.ok) {
      const t = outcome.trip;
      pending = null;
      resultSec.className = 'panel result result-ok';
      resultSec.dataset.outcome = 'booked';
      resultSec.replaceChildren(el('h2', { text: 'Trip booked' }),
        el('p', {}, 'Every leg is confirmed at its company. Trip ', el('a', { href: '#/trip/' + t.id, id: 'booked-trip', class: 'mono', dataset: { trip: t.id }, text: shortId(t.id) }), '.'),
        el('ul', { class: 'result-links' }, (t.legs || []).map((l) => el('li', {},
          companyChip(l.company, store.names[l.company]), ' ',
          el('a', { href: '#/station/' + encodeURIComponent(l.station_id), text: stationName(l.station_id) }),
          ' · ', localSpan(l.start, l.end), l.charger ? ' · charger #' + l.charger : ''))),
        el('div', { class: 'actions' }, el('a', { class: 'btn btn-primary', href: '#/trip/' + t.id, text: 'Open the trip' }),
          el('a', { class: 'btn', href: '#/trips', text: 'All trips' })));
      showStep('result');
      resultSec.focus();
      toast('Trip booked: every leg confirmed.', 'ok');
      return;
    }
    const e = outcome.error;
    const b = e.body || {};
    resultSec.className = 'panel result result-bad';
    resultSec.dataset.outcome = 'refused';
    const parts = [el('h2', { text: e.status === 409 ? 'Not booked: a leg cannot be had' : 'Not booked' })];
    if (e.status === 409 && b.failed_leg !== undefined && b.failed_leg !== null) {
      const i = b.failed_leg;
      const leg = pending.legs[i];
      parts.push(el('p', { id: 'failed-leg', dataset: { leg: i } }, 'Stop ' + (i + 1) + ', ', el('strong', { text: stationName(b.station_id || leg.station_id) }),
        ' (', companyChip(b.company || companyOf(leg.station_id), store.names[b.company]), '): ', (b.error && b.error.message) || 'not available', '. Nothing was booked anywhere.'));
      const alts = b.alternatives || {};
      const items = [];
      for (const w of alts.windows || []) {
        const btn = el('button', { type: 'button', class: 'btn-small', text: 'Use this window' });
        btn.addEventListener('click', () => replaceLeg(i, { station_id: leg.station_id, start: w.start, end: w.end }));
        items.push(el('li', { class: 'alt' }, 'Same station, ', localSpan(w.start, w.end), ' ', btn));
      }
      for (const s of alts.stations || []) {
        const btn = el('button', { type: 'button', class: 'btn-small', text: 'Use this station' });
        btn.addEventListener('click', () => replaceLeg(i, { station_id: s.station_id, start: s.start || leg.start, end: s.end || leg.end }));
        items.push(el('li', { class: 'alt' }, stationName(s.station_id) + ' in ' + s.city + ', ' + fmt.num.format(s.km) + '\u00a0km away, same window ', btn));
      }
      parts.push(items.length ? el('div', {}, el('h3', { text: 'Alternatives' }), el('ul', { class: 'alt-list', id: 'alternatives' }, items))
        : el('p', { class: 'muted', text: 'No alternative was offered: try another time.' }));
    } else {
      parts.push(el('p', { text: (e.network ? 'The server did not answer: ' : '') + e.message + (e.status ? ' (HTTP ' + e.status + ')' : '') + '.' }));
      if (e.network || e.status >= 500) parts.push(el('p', { class: 'muted', text: 'Retrying sends the same Idempotency-Key: it can never book twice.' }));
    }
    const retry = el('button', { type: 'button', class: 'btn-primary', text: 'Try again' });
    retry.addEventListener('click', () => bookBtn.click());
    const edit = el('button', { type: 'button', text: 'Change the stops' });
    edit.addEventListener('click', () => showStep('form'));
    parts.push(el('div', { class: 'actions' }, edit, e.status === 409 ? null : retry));
    resultSec.replaceChildren(...parts);
    showStep('result');
    resultSec.focus();
  }

  function replaceLeg(i, leg) {
    const legs = pending.legs.slice();
    legs[i] = leg;
    // Keep the hand-made form in step, so "Change the stops" shows what is booked.
    if (legRows[i]) {
      legRows[i].sel.value = leg.station_id;
      legRows[i].start.value = localInput(Date.parse(leg.start));
    }
    review(legs);
  }

  async function init() {
    try {
      const [net, m] = await Promise.all([loadNetwork(true), getJSON('/network/map').catch(() => null)]);
      stations = Object.values(net);
      ctx.ok('Stations');
      if (m && m.cities) {
        const cities = m.cities.slice().sort((a, b) => a.name.localeCompare(b.name));
        for (const c of cities) {
          origin.append(el('option', { value: c.name, text: c.name + ' (' + c.state + ')' }));
          dest.append(el('option', { value: c.name, text: c.name + ' (' + c.state + ')' }));
        }
        origin.value = 'João Pessoa';
        dest.value = 'Feira de Santana';
      }
    } catch (e) {
      ctx.error('Stations', e);
    }
    // A first stop prefilled from ?station=..., else at this company's first station.
    const pre = query.get('station');
    const ownFirst = stations.filter((s) => s.company === store.company && s.status === 'active').sort((a, b) => a.id.localeCompare(b.id))[0];
    const start = Math.ceil((Date.now() + HOUR_MS) / (15 * MINUTE_MS)) * 15 * MINUTE_MS;
    legRow({ station_id: pre || (ownFirst && ownFirst.id), start, minutes: 40 });
    if (pre || query.get('mode') === 'manual') setMode(false);
    showStep('form');
  }
  init();

  showStep('form');
  return {
    title: 'Book a trip',
    operator() { showStep(step); },
  };
}
