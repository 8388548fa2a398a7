/*
 * Station page: the station's facts and live occupancy, a 48-hour timeline
 * (the past day and the next, split by a "now" line)
 * (Gantt) of reservations per charger with the waitlist's wanted windows under
 * it, and the list of reservations. Selecting a bar shows its details; the
 * signed-in operator can cancel a single booking there (a trip's leg is
 * cancelled with its trip). Signed out, the page shows the station's public
 * facts and occupancy, and the sign-in state where the bookings would be. A
 * station of another company shows what the catalogue knows and a link to its
 * owner's dashboard. For the operator, a "Charge point (OCPP)" panel shows the
 * charger's OCPP connection, last heartbeat, each charger's state and session,
 * and sends the remote commands (GET/POST /stations/{id}/ocpp...).
 */
import {
  el, setText, getJSON, api, fmt, iso, dayTime, timeEl, plural, shortId, capitalize, store, pill, panel,
  emptyState, keepFocus, companyChip, companyOf, loadNetwork, snapshotStations, changed, signInPrompt, toast, HOUR_MS, DAY_MS,
} from './core.js';

const LIVE = new Set(['held', 'confirmed']);
const LABEL_EVERY_H = 4; // hour labels on the 48-hour axis

export function stationPage(root, params, query, ctx) {
  const id = params[0];
  const head = el('div', { class: 'page-head' });
  const crumbs = el('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    el('ol', {}, el('li', {}, el('a', { href: '#/', text: 'Overview' })), el('li', { 'aria-current': 'page', text: id })));
  const title = el('h1', { text: id });
  const meta = el('p', { class: 'lede' });
  const statusSlot = el('span', { class: 'title-pill' });
  head.append(el('div', {}, crumbs, el('div', { class: 'title-row' }, title, statusSlot), meta),
    el('div', { class: 'page-actions' }, el('a', { class: 'btn btn-primary', href: '#/trips/new?station=' + encodeURIComponent(id), text: 'Book a window here' })));

  const facts = el('dl', { class: 'facts facts-wide' });
  const occValue = el('strong', { class: 'occ-value', id: 'station-occupancy', text: '–' });
  const occFill = el('span', { class: 'bar-fill' });
  const factsP = el('section', { class: 'panel station-facts', 'aria-label': 'Station facts' }, facts,
    el('div', { class: 'occupancy' },
      el('p', { class: 'occ-label' }, el('span', { text: 'In use now' }), occValue),
      el('div', { class: 'bar', 'aria-hidden': 'true' }, occFill)));

  const ganttP = panel('The past day and the next');
  const ganttSummary = el('p', { class: 'summary', 'aria-live': 'polite', text: 'Loading reservations…' });
  ganttP.head.append(ganttSummary);
  const gantt = el('div', { class: 'gantt', id: 'gantt' });
  const details = el('aside', { class: 'details', id: 'res-details', 'aria-live': 'polite', 'aria-label': 'Selected reservation' },
    el('p', { class: 'muted', text: 'Select a bar in the timeline (or a row below) to see the reservation and its actions.' }));
  const legend = ganttLegend();
  const ganttLayout = el('div', { class: 'gantt-layout' }, gantt, details);
  ganttP.body.append(legend, ganttLayout);

  const listP = panel('Reservations');
  const listSummary = el('p', { class: 'summary' });
  listP.head.append(listSummary);
  const tbody = el('tbody');
  listP.body.append(el('div', { class: 'table-wrap' }, el('table', { class: 'table', id: 'station-reservations' },
    el('caption', { class: 'visually-hidden', text: 'Reservations of this station from now on' }),
    el('thead', {}, el('tr', {}, ['Window', 'Charger', 'Car', 'Status', 'Trip', ''].map((h, i) =>
      el('th', { scope: 'col', text: h, class: i === 5 ? 'col-actions' : null })))), tbody)));

  const ocppP = panel('Charge point (OCPP)');
  const ocppSummary = el('p', { class: 'summary', 'aria-live': 'polite' });
  ocppP.head.append(ocppSummary);
  const ocppBody = el('div', { id: 'station-ocpp' });
  ocppP.body.append(ocppBody);
  ocppP.section.hidden = true;

  const waitP = panel('Waitlist');
  const waitBody = el('div');
  waitP.body.append(waitBody);
  waitP.section.hidden = true;

  root.append(head);
  const body = el('div', { class: 'station-body' });
  root.append(body);

  let station = null;
  let reservations = [];
  let waitlist = null;
  let selected = null;
  let from = 0, to = 0;
  let debounce = null;
  let foreign = false;

  function ganttLegend() {
    return el('ul', { class: 'legend-list legend-inline', 'aria-label': 'Timeline legend' },
      el('li', {}, el('span', { class: 'swatch bar-confirmed', 'aria-hidden': 'true' }), 'Confirmed'),
      el('li', {}, el('span', { class: 'swatch bar-held', 'aria-hidden': 'true' }), 'Held (being decided)'),
      el('li', {}, el('span', { class: 'swatch bar-completed', 'aria-hidden': 'true' }), 'Completed'),
      el('li', {}, el('span', { class: 'swatch swatch-trip', 'aria-hidden': 'true' }), 'Leg of a trip'),
      el('li', {}, el('span', { class: 'swatch swatch-wait', 'aria-hidden': 'true' }), 'Waitlist: wanted window'));
  }

  function renderHead() {
    const s = station;
    setText(title, s.name);
    crumbs.querySelector('[aria-current]').textContent = s.name;
    statusSlot.replaceChildren(pill(s.status, capitalize(s.status)));
    const company = s.company || companyOf(s.id);
    meta.replaceChildren(s.city + ' · ', el('span', { class: 'mono', text: s.id }), ' · ', companyChip(company, store.names[company]));
    facts.replaceChildren(
      el('div', {}, el('dt', { text: 'Power' }), el('dd', { text: fmt.num.format(s.power_kw) + ' kW' })),
      el('div', {}, el('dt', { text: 'Price' }), el('dd', { text: fmt.price.format(s.price_per_kwh) + '/kWh' })),
      el('div', {}, el('dt', { text: 'Chargers' }), el('dd', { text: String(s.chargers) })),
      el('div', {}, el('dt', { text: 'Position' }), el('dd', { text: s.lat.toFixed(3) + ', ' + s.lon.toFixed(3) })));
    document.title = s.name + ' · ' + (store.companyName || 'EV charging');
  }

  function setOccupancy(busy, chargers) {
    setText(occValue, busy + ' of ' + plural(chargers, 'charger', 'chargers'));
    occFill.style.width = (chargers ? (100 * busy) / chargers : 0) + '%';
    occFill.classList.toggle('full', busy >= chargers && chargers > 0);
  }

  function pct(t) {
    return (100 * (Math.min(Math.max(t, from), to) - from)) / (to - from);
  }

  function barLabel(r) {
    return 'Charger ' + r.charger + ', ' + fmt.time.format(new Date(r.start)) + ' to ' + fmt.time.format(new Date(r.end)) +
      ', car ' + r.car_id + ', ' + r.status + (r.trip_id ? ', leg of a trip' : '');
  }

  function renderGantt() {
    const now = Date.now();
    const hours = el('div', { class: 'gantt-hours', 'aria-hidden': 'true' });
    for (let t = from; t < to - HOUR_MS; t += LABEL_EVERY_H * HOUR_MS) {
      const d = new Date(t);
      const label = el('span', { class: 'gantt-hour' + (d.getHours() === 0 ? ' midnight' : ''),
        text: d.getHours() === 0 ? fmt.weekday.format(d) : fmt.hour.format(d) });
      label.style.left = pct(t) + '%';
      hours.append(label);
    }
    const rows = [el('div', { class: 'gantt-row gantt-axis' }, el('span', { class: 'gantt-label' }), hours)];
    const visible = reservations.filter((r) => r.status !== 'cancelled' && r.status !== 'expired' &&
      Date.parse(r.end) > from && Date.parse(r.start) < to);
    for (let c = 1; c <= station.chargers; c++) {
      const track = el('div', { class: 'gantt-track' });
      addGrid(track, now);
      for (const r of visible.filter((x) => x.charger === c)) {
        const s = Date.parse(r.start), e = Date.parse(r.end);
        const bar = el('button', {
          type: 'button', class: 'gantt-bar bar-' + r.status + (r.trip_id ? ' bar-trip' : '') + (selected === r.id ? ' selected' : ''),
          'aria-label': barLabel(r), 'aria-pressed': String(selected === r.id), title: barLabel(r),
          dataset: { reservation: r.id, trip: r.trip_id || '', car: r.car_id },
        }, el('span', { class: 'gantt-bar-text', text: r.car_id }));
        bar.style.left = pct(s) + '%';
        bar.style.width = Math.max(0.6, pct(e) - pct(s)) + '%';
        bar.addEventListener('click', () => select(r.id));
        track.append(bar);
      }
      rows.push(el('div', { class: 'gantt-row', dataset: { charger: c } },
        el('span', { class: 'gantt-label', text: 'Charger ' + c }), track));
    }
    if (waitlist && waitlist.length) {
      // Waiting cars, stacked in as many lanes as their wanted windows overlap.
      const lanes = [];
      const waiting = waitlist.filter((w) => w.status === 'waiting' && Date.parse(w.end) > from && Date.parse(w.start) < to)
        .sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
      for (const w of waiting) {
        const s = Date.parse(w.start);
        let lane = lanes.findIndex((endT) => endT <= s);
        if (lane < 0) lane = lanes.push(0) - 1;
        lanes[lane] = Date.parse(w.end);
        w.lane = lane;
      }
      for (let l = 0; l < Math.max(1, lanes.length); l++) {
        const track = el('div', { class: 'gantt-track' });
        addGrid(track, now);
        for (const w of waiting.filter((x) => x.lane === l)) {
          const s = Date.parse(w.start), e = Date.parse(w.end);
          const label = 'Waitlist #' + w.position + ': car ' + w.car_id + ' wants ' + fmt.time.format(new Date(s)) + ' to ' +
            fmt.time.format(new Date(e)) + (w.flexibility_minutes ? ', ±' + w.flexibility_minutes + ' min' : '');
          const bar = el('div', { class: 'gantt-bar bar-wait', role: 'img', 'aria-label': label, title: label },
            el('span', { class: 'gantt-bar-text', text: '#' + w.position + ' ' + w.car_id }));
          bar.style.left = pct(s) + '%';
          bar.style.width = Math.max(0.6, pct(e) - pct(s)) + '%';
          track.append(bar);
        }
        rows.push(el('div', { class: 'gantt-row gantt-wait' },
          el('span', { class: 'gantt-label', text: l === 0 ? 'Waitlist' : '' }), track));
      }
    }
    keepFocus(gantt, () => gantt.replaceChildren(el('div', { class: 'gantt-scroll', tabindex: '-1' },
      el('div', { class: 'gantt-grid', role: 'group', 'aria-label': 'Reservations per charger from ' +
        fmt.time.format(new Date(from)) + ' yesterday for 48 hours' }, rows))));
    const live = visible.filter((r) => LIVE.has(r.status) && Date.parse(r.end) > now).length;
    const past = visible.filter((r) => Date.parse(r.start) < now).length;
    const waitingN = waitlist ? waitlist.filter((w) => w.status === 'waiting').length : 0;
    setText(ganttSummary, plural(live, 'live reservation', 'live reservations') + ' in the next 24\u00a0h · ' +
      plural(past, 'window', 'windows') + ' begun in the past day' +
      (waitlist ? ' · ' + plural(waitingN, 'car', 'cars') + ' waiting' : ''));
  }

  function addGrid(track, now) {
    for (let t = from + HOUR_MS; t < to; t += HOUR_MS) {
      const line = el('span', { class: 'gantt-gridline' + (new Date(t).getHours() % 6 === 0 ? ' major' : '') });
      line.style.left = pct(t) + '%';
      track.append(line);
    }
    if (now >= from && now <= to) {
      const pastShade = el('span', { class: 'gantt-past', 'aria-hidden': 'true' });
      pastShade.style.width = pct(now) + '%';
      track.append(pastShade);
      const line = el('span', { class: 'gantt-now', title: 'now' });
      line.style.left = pct(now) + '%';
      track.append(line);
    }
  }

  function renderList() {
    const rows = reservations.slice().sort((a, b) => Date.parse(a.start) - Date.parse(b.start)).map((r) => {
      const actions = el('td', { class: 'col-actions', 'data-label': 'Actions' });
      const viewBtn = el('button', { type: 'button', class: 'btn-small', text: 'Details', 'aria-label': 'Details of ' + barLabel(r) });
      viewBtn.addEventListener('click', () => select(r.id, true));
      actions.append(viewBtn);
      return el('tr', { class: 'res-' + r.status + (selected === r.id ? ' selected' : ''), dataset: { reservation: r.id } },
        el('td', { 'data-label': 'Window' }, timeEl(r.start, capitalize(dayTime(Date.parse(r.start)))), '–',
          timeEl(r.end, fmt.time.format(new Date(r.end)))),
        el('td', { 'data-label': 'Charger', text: '#' + r.charger }),
        el('td', { 'data-label': 'Car' }, el('span', { class: 'mono', text: r.car_id })),
        el('td', { 'data-label': 'Status' }, pill(r.status)),
        el('td', { 'data-label': 'Trip' }, r.trip_id ? el('a', { href: '#/trip/' + r.trip_id, class: 'mono', text: shortId(r.trip_id) }) : '—'),
        actions);
    });
    if (!rows.length) rows.push(el('tr', { class: 'empty' }, el('td', { colspan: '6', text: 'No reservations in the past day or from now on.' })));
    keepFocus(tbody, () => tbody.replaceChildren(...rows));
    setText(listSummary, plural(reservations.length, 'reservation', 'reservations') + ' ending in the past day or later');
  }

  function renderWaitlist() {
    if (waitlist === null) {
      waitP.section.hidden = true;
      return;
    }
    waitP.section.hidden = false;
    const waiting = waitlist.filter((w) => w.status === 'waiting');
    if (!waiting.length) {
      waitBody.replaceChildren(el('p', { class: 'muted', text: 'No car is waiting for this station.' }));
      return;
    }
    waitBody.replaceChildren(el('ol', { class: 'wait-list' }, waiting.map((w) => el('li', {},
      el('strong', { text: '#' + w.position + ' ' }), el('span', { class: 'mono', text: w.car_id }),
      ' wants ', timeEl(w.start, dayTime(Date.parse(w.start))), '–', timeEl(w.end, fmt.time.format(new Date(w.end))),
      w.flexibility_minutes ? ' (±' + w.flexibility_minutes + '\u00a0min)' : '',
      w.station_id ? '' : ' at any station of ' + w.city))));
  }

  function select(rid, scroll) {
    selected = rid;
    renderGantt();
    renderList();
    renderDetails();
    if (scroll) details.scrollIntoView({ block: 'nearest' });
    const btn = details.querySelector('button, a');
    if (btn && scroll) btn.focus();
  }

  function renderDetails() {
    const r = reservations.find((x) => x.id === selected);
    if (!r) {
      details.replaceChildren(el('p', { class: 'muted', text: 'Select a bar in the timeline (or a row below) to see the reservation and its actions.' }));
      return;
    }
    const dl = el('dl', { class: 'kv' },
      el('dt', { text: 'Car' }), el('dd', { class: 'mono', text: r.car_id }),
      el('dt', { text: 'Window' }), el('dd', {}, timeEl(r.start, capitalize(dayTime(Date.parse(r.start)))), ' – ', timeEl(r.end, fmt.time.format(new Date(r.end)))),
      el('dt', { text: 'Charger' }), el('dd', { text: '#' + r.charger }),
      el('dt', { text: 'Status' }), el('dd', {}, pill(r.status)),
      el('dt', { text: 'Reservation' }), el('dd', { class: 'mono small', text: r.id }),
      el('dt', { text: 'Trip' }), el('dd', {}, r.trip_id ? el('a', { href: '#/trip/' + r.trip_id, class: 'mono', text: shortId(r.trip_id) }) : 'single booking'));
    const actions = el('div', { class: 'actions' });
    const msg = el('p', { class: 'action-msg', role: 'status' });
    if (LIVE.has(r.status)) {
      if (!store.operator) {
        actions.append(signInPrompt('cancel it', { compact: true }));
      } else if (r.trip_id) {
        const b = el('button', { type: 'button', class: 'btn-danger', text: 'Cancel the whole trip' });
        b.addEventListener('click', () => cancelTrip(r, b, msg));
        actions.append(b, el('p', { class: 'muted small', text: 'A leg is cancelled with its trip, at every company at once.' }));
      } else {
        const b = el('button', { type: 'button', class: 'btn-danger', id: 'cancel-reservation', text: 'Cancel reservation' });
        b.addEventListener('click', () => cancelReservation(r, b, msg));
        actions.append(b);
      }
    }
    details.replaceChildren(el('h3', { text: 'Reservation' }), dl, actions, msg);
  }

  async function cancelReservation(r, button, msg) {
    if (!window.confirm('Cancel the reservation of car ' + r.car_id + ' on charger ' + r.charger + ', ' +
      fmt.time.format(new Date(r.start)) + '–' + fmt.time.format(new Date(r.end)) + '?')) return;
    button.disabled = true;
    try {
      await api('/reservations/' + encodeURIComponent(r.id) + '/cancel', { method: 'POST' });
      toast('Reservation of ' + r.car_id + ' cancelled.', 'ok');
      await refresh();
    } catch (e) {
      setText(msg, e.status === 401 ? 'Not cancelled: the operator session has ended. Sign in again.' : 'Could not cancel: ' + e.message);
      button.disabled = false;
    }
  }

  async function cancelTrip(r, button, msg) {
    if (!window.confirm('Cancel trip ' + shortId(r.trip_id) + ' of car ' + r.car_id + ', every leg at every company?')) return;
    button.disabled = true;
    try {
      await api('/trips/' + encodeURIComponent(r.trip_id) + '/cancel', { method: 'POST', timeout: 20000 });
      toast('Trip ' + shortId(r.trip_id) + ' cancelled.', 'ok');
      await refresh();
    } catch (e) {
      setText(msg, e.status === 404
        ? 'This trip is coordinated by another company: cancel it on that company\u2019s dashboard (see the trip page).'
        : e.status === 401 ? 'Not cancelled: the operator session has ended. Sign in again.' : 'Could not cancel: ' + e.message);
      button.disabled = false;
    }
  }

  async function loadForeign() {
    foreign = true;
    const net = await loadNetwork(true);
    const s = net[id];
    if (!s) {
      body.replaceChildren(emptyState('No station ' + id + ' in the federation.', 'Check the id, or go back to the map.'));
      setText(title, 'Unknown station');
      return;
    }
    station = s;
    renderHead();
    let url = null;
    try {
      const peers = await getJSON('/federation/peers');
      const p = (peers.items || []).find((x) => x.company === s.company);
      if (p) url = p.url;
    } catch (e) { /* the link is a convenience */ }
    body.replaceChildren(factsP, el('section', { class: 'panel' },
      el('p', {}, 'This station belongs to ', companyChip(s.company, store.names[s.company]),
        '. Its reservations are in that company\u2019s database; its timeline is on its own dashboard',
        url ? [': ', el('a', { href: url + '/#/station/' + encodeURIComponent(s.id), text: url + '/#/station/' + s.id })] : '.'),
      el('p', { class: 'muted', text: 'Owner ' + (s.owner_status === 'up' ? 'reachable' : 'unreachable') +
        ' from here; catalogue copy ' + (s.cached ? 'cached' : 'live') + '.' })));
    setOccupancy(0, s.chargers);
    occValue.textContent = 'known to its owner';
  }

  async function load() {
    const nowMs = Date.now();
    // The past day as well as the next: what happened (completed, checked in) next to what is booked.
    from = Math.floor(nowMs / HOUR_MS) * HOUR_MS - DAY_MS;
    to = from + 2 * DAY_MS;
    if (!station || !foreign) {
      try {
        station = await getJSON('/stations/' + encodeURIComponent(id));
      } catch (e) {
        if (e.status === 404 && companyOf(id) !== store.company) return loadForeign();
        if (e.status === 404) {
          body.replaceChildren(emptyState('No station ' + id + ' here.', 'It may have been removed.'));
          setText(title, 'Unknown station');
          return;
        }
        ctx.error('Station', e);
        return;
      }
    }
    if (foreign) return;
    if (!body.firstChild) body.append(factsP, ganttP.section, ocppP.section, waitP.section, listP.section);
    renderHead();
    const operator = store.operator; // signed out: the bookings are not asked for
    const [res, wait, avail, ocpp] = await Promise.allSettled([
      operator ? getJSON('/reservations?station_id=' + encodeURIComponent(id) + '&from=' + encodeURIComponent(iso(from)) + '&limit=500') : null,
      operator ? getJSON('/waitlist?station_id=' + encodeURIComponent(id) + '&status=waiting') : null,
      store.snapshot ? Promise.resolve(null) : getJSON('/stations/' + encodeURIComponent(id) + '/availability?from=' +
        encodeURIComponent(iso(nowMs)) + '&to=' + encodeURIComponent(iso(nowMs + 60000))),
      operator ? getJSON('/stations/' + encodeURIComponent(id) + '/ocpp') : null,
    ]);
    if (avail.status === 'fulfilled' && avail.value) {
      const seg = avail.value.segments[0];
      setOccupancy(seg ? station.chargers - seg.free : 0, station.chargers);
    } else if (store.snapshot) {
      const o = snapshotStations(store.snapshot)[id];
      if (o) setOccupancy(o.busy, o.chargers);
    }
    if (!operator || !store.operator) {
      renderSignedOut();
      return;
    }
    legend.hidden = false;
    details.hidden = false;
    ganttLayout.classList.remove('gantt-solo');
    listP.section.hidden = false;
    if (res.status === 'fulfilled') {
      reservations = res.value.items || [];
      ctx.ok('Reservations');
    } else ctx.error('Reservations', res.reason);
    waitlist = wait.status === 'fulfilled' ? (wait.value.items || []) : null; // null: no waitlist on this server
    renderGantt();
    renderList();
    renderWaitlist();
    renderOcpp(ocpp.status === 'fulfilled' ? ocpp.value : null);
    renderDetails();
  }

  /* The charge point as the central system sees it; null: not available on this server. */
  function renderOcpp(cp) {
    ocppP.section.hidden = !cp;
    if (!cp) return;
    setText(ocppSummary, cp.connected ? 'Connected' : (cp.registered ? 'Not connected' : 'No OCPP key issued'));
    const facts = el('dl', { class: 'facts' },
      el('dt', { text: 'Connection' }), el('dd', {}, pill(cp.connected ? 'up' : 'offline', cp.connected ? 'connected' : 'offline')),
      el('dt', { text: 'Charge point' }), el('dd', { text: [cp.vendor, cp.model].filter(Boolean).join(' ') || '–' }),
      el('dt', { text: 'Last boot' }), el('dd', { text: cp.booted_at ? dayTime(Date.parse(cp.booted_at)) : '–' }),
      el('dt', { text: 'Last heard from' }), el('dd', { text: cp.last_seen ? dayTime(Date.parse(cp.last_seen)) : '–' }));
    const rows = (cp.connectors || []).map((c) => el('tr', { dataset: { charger: String(c.charger) } },
      el('td', { text: c.charger === 0 ? 'Station' : String(c.charger) }),
      el('td', {}, pill(c.state === 'Faulted' || c.state === 'Unavailable' ? 'offline' : 'active', c.state)),
      el('td', { text: c.error_code }),
      el('td', { text: c.transaction ? '#' + c.transaction.id + ' since ' + dayTime(Date.parse(c.transaction.started_at)) : '–' }),
      el('td', { class: 'col-actions' }, c.charger === 0 || !cp.connected ? null : [
        command('Make unavailable', 'ChangeAvailability', { connectorId: c.charger, type: 'Inoperative' }),
        command('Make available', 'ChangeAvailability', { connectorId: c.charger, type: 'Operative' })])));
    const table = el('div', { class: 'table-wrap' }, el('table', { class: 'table' },
      el('caption', { class: 'visually-hidden', text: 'OCPP state of each charger' }),
      el('thead', {}, el('tr', {}, ['Charger', 'State', 'Error', 'Session', ''].map((h, i) =>
        el('th', { scope: 'col', text: h, class: i === 4 ? 'col-actions' : null })))),
      el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: '5', class: 'muted', text: 'No status reported yet.' })))));
    ocppBody.replaceChildren(facts, table,
      cp.connected ? el('p', {}, command('Soft reset', 'Reset', { type: 'Soft' })) : null);
  }

  function command(label, action, payload) {
    const button = el('button', { type: 'button', class: 'btn', text: label });
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        const r = await api('/stations/' + encodeURIComponent(id) + '/ocpp/commands', { method: 'POST', body: { action, payload } });
        toast(label + ': ' + ((r.body && r.body.answer && r.body.answer.status) || 'sent'));
      } catch (e) {
        toast(label + ' failed: ' + (e.message || e.status), 'error');
      } finally {
        button.disabled = false;
        refresh();
      }
    });
    return button;
  }

  /* Signed out: the facts and the occupancy stay; no booking, no car id on the page. */
  function renderSignedOut() {
    reservations = [];
    waitlist = null;
    selected = null;
    gantt.replaceChildren(signInPrompt('see the reservations of this station and cancel them',
      { hint: 'Which car booked which charger is for the operator to see; the occupancy above is public.' }));
    legend.hidden = true;
    details.hidden = true;
    ganttLayout.classList.add('gantt-solo');
    listP.section.hidden = true;
    ocppP.section.hidden = true;
    renderWaitlist();
    setText(ganttSummary, 'Operator only');
    ctx.ok('Reservations');
  }

  let loading = null;
  function refresh() {
    if (!loading) loading = load().finally(() => { loading = null; });
    return loading;
  }

  // The "now" line moves a little every minute.
  const minuteTimer = setInterval(() => { if (station && !foreign && store.operator) renderGantt(); }, 60000);
  // The waitlist is not in the live snapshot: re-read it now and then while live.
  const waitTimer = setInterval(() => { if (store.liveState === 'live' && waitlist !== null) refresh(); }, 15000);

  return {
    title: 'Station ' + id,
    refresh,
    snapshot({ snap, prev }) {
      if (foreign) return;
      const o = snapshotStations(snap)[id];
      if (o) {
        setOccupancy(o.busy, o.chargers);
        if (station && o.status !== station.status) {
          station.status = o.status;
          renderHead();
        }
      }
      const c = changed(snap, prev);
      if (prev && store.operator && (c.reservations || c.trips)) {
        clearTimeout(debounce);
        debounce = setTimeout(refresh, 250);
      }
    },
    unmount() {
      clearInterval(minuteTimer);
      clearInterval(waitTimer);
      clearTimeout(debounce);
    },
  };
}
