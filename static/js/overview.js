/*
 * Overview: the state of the business at a glance. Key figures (chargers in
 * use, stations active, reservations and trips today, in-doubt transactions,
 * peers up), a card per station with live occupancy and a 24-hour
 * availability strip, the peers' health, recent trips and the next
 * reservations. Bookings and trips are the operator's to see: signed out, their
 * panels and figures show the sign-in state and the page reads only the
 * public catalogue.
 */
import {
  el, setText, getJSON, fmt, iso, localDay, dayTime, ago, timeEl, plural, zoneName, shortId, capitalize,
  store, pill, panel, keepFocus, emptyState, companyChip, snapshotPeers, snapshotStations, changed, signInPrompt,
  MINUTE_MS, DAY_MS,
} from './core.js';

const RESERVATION_LIMIT = 50;

/* Class of a strip segment by how many chargers are free. */
function level(free, chargers) {
  if (free <= 0) return 'level-none';
  if (free >= chargers) return 'level-all';
  if (free === 1) return 'level-one';
  return 'level-some';
}

const LEVEL_TEXT = { 'level-all': 'all free', 'level-some': 'some booked', 'level-one': 'one free', 'level-none': 'fully booked' };

/* The 24-hour strip of free chargers, its hour ticks and a one-line summary. */
export function availabilityStrip(avail, from, to, now) {
  const box = el('div', { class: 'strip-block' });
  if (!avail) {
    box.append(el('p', { class: 'strip-note muted', text: 'Availability for the next 24 h could not be loaded.' }));
    return box;
  }
  const span = to - from;
  const bar = el('div', { class: 'strip' });
  let worst = null;
  for (const s of avail.segments) {
    const start = Math.max(Date.parse(s.start), from);
    const end = Math.min(Date.parse(s.end), to);
    if (!(end > start)) continue;
    const cls = level(s.free, avail.chargers);
    const seg = el('span', {
      class: 'seg ' + cls,
      title: fmt.time.format(new Date(start)) + '–' + fmt.time.format(new Date(end)) + ': ' + s.free + ' of ' +
        avail.chargers + ' free (' + LEVEL_TEXT[cls] + ')',
    });
    seg.style.left = (100 * (start - from)) / span + '%';
    seg.style.width = (100 * (end - start)) / span + '%';
    bar.append(seg);
    if (worst === null || s.free < worst.free) worst = { free: s.free, start, end };
  }
  let summary;
  if (worst === null || worst.free >= avail.chargers) {
    summary = 'All ' + plural(avail.chargers, 'charger', 'chargers') + ' free for the next 24\u00a0h.';
  } else {
    const when = dayTime(worst.start, now) + '–' + fmt.time.format(new Date(worst.end));
    summary = worst.free === 0 ? 'Fully booked ' + when + '.' : 'Fewest free: ' + worst.free + ' of ' + avail.chargers + ', ' + when + '.';
  }
  bar.setAttribute('role', 'img');
  bar.setAttribute('aria-label', 'Free chargers over the next 24 hours. ' + summary);
  box.append(bar, ticks(bar, from, to), el('p', { class: 'strip-note', text: summary }));
  return box;
}

function ticks(bar, from, to) {
  const row = el('div', { class: 'ticks', 'aria-hidden': 'true' }, el('span', { class: 'tick-now', text: 'now' }));
  const t = new Date(from);
  t.setMinutes(0, 0, 0);
  do t.setHours(t.getHours() + 1); while (t.getHours() % 6 !== 0);
  for (; t.getTime() < to; t.setHours(t.getHours() + 6)) {
    const pct = (100 * (t.getTime() - from)) / (to - from);
    const line = el('span', { class: t.getHours() === 0 ? 'gridline midnight' : 'gridline' });
    line.style.left = pct + '%';
    bar.append(line);
    if (pct < 15 || pct > 93) continue;
    const label = el('span', { class: 'tick', text: t.getHours() === 0 ? fmt.weekday.format(t) : fmt.hour.format(t) });
    label.style.left = pct + '%';
    row.append(label);
  }
  return row;
}

/* "busy of total" with a bar; updated in place by the live snapshot. */
function occupancyBlock(st) {
  const strong = el('strong', { class: 'occ-value', text: '–' });
  const fill = el('span', { class: 'bar-fill' });
  const box = el('div', { class: 'occupancy' },
    el('p', { class: 'occ-label' }, el('span', { text: 'In use now' }), strong),
    el('div', { class: 'bar', 'aria-hidden': 'true' }, fill));
  box.update = (busy, chargers) => {
    setText(strong, busy + ' of ' + plural(chargers, 'charger', 'chargers'));
    fill.style.width = (chargers > 0 ? (100 * busy) / chargers : 0) + '%';
    fill.classList.toggle('full', busy >= chargers && chargers > 0);
  };
  box.dataset.station = st.id;
  return box;
}

const STATUS_TEXT = { active: 'Active', maintenance: 'Maintenance', offline: 'Offline' };

function stationCard(st, availDay, from, to, now, occ) {
  const status = STATUS_TEXT[st.status] ? st.status : 'unknown';
  const card = el('li', { class: 'card station-card status-' + status, dataset: { station: st.id } });
  const statusPill = pill(status, STATUS_TEXT[st.status] || st.status);
  statusPill.classList.add('station-status');
  card.append(
    el('div', { class: 'card-head' }, el('h3', {}, el('a', { href: '#/station/' + encodeURIComponent(st.id), text: st.name })), statusPill),
    el('p', { class: 'meta', text: st.city + ' · ' + st.id }),
    el('dl', { class: 'facts' },
      el('div', {}, el('dt', { text: 'Power' }), el('dd', { text: fmt.num.format(st.power_kw) + ' kW' })),
      el('div', {}, el('dt', { text: 'Price' }), el('dd', { text: fmt.price.format(st.price_per_kwh) + '/kWh' })),
      el('div', {}, el('dt', { text: 'Chargers' }), el('dd', { text: String(st.chargers) }))));
  const note = el('p', { class: 'note', text: 'Not taking new reservations.' });
  note.hidden = st.status === 'active';
  card.append(note, occ, availabilityStrip(availDay, from, to, now));
  card.setStatus = (s) => {
    const known = STATUS_TEXT[s] ? s : 'unknown';
    card.className = 'card station-card status-' + known;
    statusPill.className = pill(known).className + ' station-status';
    statusPill.dataset.status = known;
    setText(statusPill, STATUS_TEXT[s] || s);
    note.hidden = s === 'active';
  };
  return card;
}

function kpi(id, label, opts = {}) {
  const value = el('span', { class: 'kpi-value', id: 'kpi-' + id, text: '–' });
  const sub = el('span', { class: 'kpi-sub', id: 'kpi-' + id + '-sub' });
  const tile = el(opts.href ? 'a' : 'div', { class: 'kpi', href: opts.href, dataset: { kpi: id } },
    el('span', { class: 'kpi-label', text: label }), value, sub);
  if (opts.bar) {
    const fill = el('span', { class: 'bar-fill' });
    tile.append(el('span', { class: 'bar', 'aria-hidden': 'true' }, fill));
    tile.fill = fill;
  }
  tile.value = value;
  tile.sub = sub;
  return tile;
}

export function overviewPage(root, params, query, ctx) {
  const header = el('div', { class: 'page-head' },
    el('div', {}, el('h1', { text: 'Overview' }),
      el('p', { class: 'lede', id: 'overview-lede', text: (store.companyName || 'This company') + ': stations, bookings and the federation at a glance.' })),
    el('div', { class: 'page-actions' }, el('a', { class: 'btn btn-primary', href: '#/trips/new', text: 'Book a trip' })));

  const tiles = {
    busy: kpi('busy', 'Chargers in use', { bar: true }),
    stations: kpi('stations', 'Stations active'),
    reservations: kpi('reservations', 'Reservations today'),
    trips: kpi('trips', 'Trips today', { href: '#/trips' }),
    doubt: kpi('doubt', 'In-doubt transactions', { href: '#/federation' }),
    peers: kpi('peers', 'Peers up', { href: '#/federation' }),
  };
  const kpis = el('section', { class: 'kpis', 'aria-label': 'Key figures', 'aria-live': 'polite' }, Object.values(tiles));

  const stationsP = panel('Stations');
  const stationsSummary = el('p', { class: 'summary', text: 'Loading stations…' });
  stationsP.head.append(stationsSummary);
  const legend = el('div', { class: 'legend' }, el('span', { class: 'legend-title', text: 'Next 24\u00a0h:' }),
    el('ul', {},
      el('li', {}, el('span', { class: 'swatch level-all', 'aria-hidden': 'true' }), 'All chargers free'),
      el('li', {}, el('span', { class: 'swatch level-some', 'aria-hidden': 'true' }), 'Some booked'),
      el('li', {}, el('span', { class: 'swatch level-one', 'aria-hidden': 'true' }), 'One free'),
      el('li', {}, el('span', { class: 'swatch level-none', 'aria-hidden': 'true' }), 'Fully booked')));
  const cards = el('ul', { class: 'cards', id: 'stations' });
  stationsP.body.append(legend, cards);

  const peersP = panel('Federation');
  const peersList = el('ul', { class: 'peer-list', id: 'peer-list' });
  peersP.head.append(el('a', { href: '#/federation', class: 'more', text: 'Details' }));
  peersP.body.append(peersList);

  const tripsP = panel('Recent trips');
  tripsP.head.append(el('a', { href: '#/trips', class: 'more', text: 'All trips' }));
  const tripsList = el('ul', { class: 'trip-list' });
  tripsP.body.append(tripsList);

  const resP = panel('Upcoming reservations');
  const resSummary = el('p', { class: 'summary', text: 'Loading reservations…' });
  resP.head.append(resSummary);
  const tbody = el('tbody', { id: 'reservations' });
  resP.body.append(el('div', { class: 'table-wrap' }, el('table', { class: 'table reservations' },
    el('caption', { class: 'visually-hidden', text: 'Reservations in the next 24 hours, sorted by start' }),
    el('thead', {}, el('tr', {}, ['Start', 'End', 'Station', 'Charger', 'Car', 'Status'].map((h) => el('th', { scope: 'col', text: h })))),
    tbody)));

  root.append(header, kpis,
    el('div', { class: 'layout-2' }, el('div', { class: 'col-main' }, stationsP.section),
      el('div', { class: 'col-side' }, peersP.section, tripsP.section)),
    resP.section);

  const occBlocks = {};
  const cardById = {};
  let stationsList = [];
  let peers = [];
  const selfHealth = {};
  let loading = null;
  let debounce = null;
  let tick = null;

  function renderOccupancy(occ) {
    let busy = 0, total = 0, active = 0, offline = 0;
    for (const st of stationsList) {
      const o = occ[st.id];
      const chargers = o ? o.chargers : st.chargers;
      const b = o ? o.busy : 0;
      busy += b;
      total += chargers;
      const status = o ? o.status : st.status;
      if (status === 'active') active++;
      else offline++;
      if (occBlocks[st.id]) occBlocks[st.id].update(b, chargers);
      if (cardById[st.id] && o && o.status) cardById[st.id].setStatus(o.status);
    }
    setText(tiles.busy.value, busy + ' / ' + total);
    tiles.busy.fill.style.width = (total ? (100 * busy) / total : 0) + '%';
    setText(tiles.busy.sub, total ? fmt.pct.format(busy / total) + ' of chargers' : 'no chargers');
    setText(tiles.stations.value, active + ' / ' + stationsList.length);
    setText(tiles.stations.sub, offline ? offline + ' not bookable' : 'all bookable');
    tiles.stations.classList.toggle('kpi-warn', offline > 0);
    setText(stationsSummary, stationsList.length === 0 ? 'This company has no stations yet.'
      : plural(stationsList.length, 'station', 'stations') + ' · ' + plural(total, 'charger', 'chargers') + ' · ' + busy + ' in use now');
  }

  function renderPeers(list) {
    peers = list;
    const up = list.filter((p) => p.status === 'up').length;
    setText(tiles.peers.value, up + ' / ' + list.length);
    setText(tiles.peers.sub, list.length === 0 ? 'no peers configured' : up === list.length ? 'all reachable' : (list.length - up) + ' down');
    tiles.peers.classList.toggle('kpi-bad', up < list.length);
    const sysOk = selfHealth.database !== 'down' && selfHealth.mqtt !== 'down';
    const items = [el('li', { class: 'peer peer-self ' + (sysOk ? 'peer-up' : 'peer-down'), id: 'peer-self' },
      el('span', { class: 'status-dot', 'aria-hidden': 'true' }),
      companyChip(store.company || '?', store.companyName),
      el('span', { class: 'peer-meta', text: 'this server · database ' + (selfHealth.database || '…') + ' · MQTT ' + (selfHealth.mqtt || '…') }))];
    for (const p of list) {
      const seen = p.last_seen ? Date.parse(p.last_seen) : null;
      items.push(el('li', { class: 'peer peer-' + p.status, dataset: { company: p.company, status: p.status } },
        el('span', { class: 'status-dot', 'aria-hidden': 'true' }),
        companyChip(p.company, store.names[p.company]),
        pill(p.status, p.status === 'up' ? 'Up' : 'Down'),
        el('span', { class: 'peer-meta', dataset: { seen: seen || '' }, text: seen ? 'heartbeat ' + ago(seen) : 'never seen' })));
    }
    peersList.replaceChildren(...items);
  }

  function renderDoubt(n) {
    setText(tiles.doubt.value, String(n));
    setText(tiles.doubt.sub, n === 0 ? 'nothing prepared and waiting' : 'prepared, waiting for a decision');
    tiles.doubt.classList.toggle('kpi-bad', n > 0);
  }

  function renderTrips(items) {
    const midnight = localDay(Date.now());
    const today = items.filter((t) => Date.parse(t.created_at) >= midnight);
    const ok = today.filter((t) => t.status === 'confirmed' || t.status === 'finished').length;
    setText(tiles.trips.value, String(today.length));
    setText(tiles.trips.sub, today.length ? ok + ' confirmed, ' + (today.length - ok) + ' other' : 'none coordinated here today');
    const rows = items.slice(0, 6).map((t) => el('li', {},
      el('a', { href: '#/trip/' + t.id, class: 'trip-link' },
        el('span', { class: 'mono', text: shortId(t.id) }),
        el('span', { class: 'trip-car', text: t.car_id })),
      el('span', { class: 'trip-legs' }, (t.participants || []).map((c) => companyChip(c))),
      pill(t.status)));
    keepFocus(tripsList, () => tripsList.replaceChildren(...(rows.length ? rows : [el('li', { class: 'muted', text: 'No trips coordinated here yet.' })])));
  }

  function renderReservations(page, now) {
    const items = page.items.slice().sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
    const rows = items.map((r) => {
      const start = Date.parse(r.start), end = Date.parse(r.end);
      const cell = (label, ...children) => el('td', { 'data-label': label }, ...children);
      const startCell = cell('Start', timeEl(r.start, capitalize(dayTime(start, now))));
      if (start <= now && end > now) startCell.append(' ', el('span', { class: 'tag', text: 'in progress' }));
      const st = stationsList.find((s) => s.id === r.station_id);
      return el('tr', { class: 'res-' + r.status },
        startCell,
        cell('End', timeEl(r.end, localDay(end) === localDay(start) ? fmt.time.format(new Date(end)) : capitalize(dayTime(end, now)))),
        cell('Station', el('a', { href: '#/station/' + encodeURIComponent(r.station_id), text: st ? st.name : r.station_id }),
          st ? el('span', { class: 'sub', text: r.station_id }) : null),
        cell('Charger', '#' + r.charger),
        cell('Car', el('span', { class: 'mono', text: r.car_id }),
          r.trip_id ? [' ', el('a', { class: 'tag', href: '#/trip/' + r.trip_id, title: 'Part of trip ' + r.trip_id, text: 'trip' })] : null),
        cell('Status', pill(r.status)));
    });
    if (rows.length === 0) rows.push(el('tr', { class: 'empty' }, el('td', { colspan: '6', text: 'No reservations in the next 24 hours.' })));
    keepFocus(tbody, () => tbody.replaceChildren(...rows));
    const total = typeof page.total === 'number' ? page.total : items.length;
    setText(resSummary, (total > items.length ? 'Next 24\u00a0h · first ' + items.length + ' of ' + total
      : 'Next 24\u00a0h · ' + plural(total, 'reservation', 'reservations')) + ' · times in ' + zoneName());
  }

  function renderSignedOut() {
    for (const t of [tiles.reservations, tiles.trips]) {
      setText(t.value, '–');
      setText(t.sub, 'operator only');
    }
    tripsList.replaceChildren(el('li', {}, signInPrompt('see its trips', { compact: true })));
    tbody.replaceChildren(el('tr', { class: 'empty signin-row' }, el('td', { colspan: '6' },
      signInPrompt('see the reservations of its stations', { compact: true }))));
    setText(resSummary, 'Operator only');
    ctx_ok('Reservations');
  }

  async function load() {
    const nowMs = Date.now();
    const now = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
    const from = iso(now), day = iso(now + DAY_MS);
    const midnight = localDay(nowMs);
    const operator = store.operator; // signed out: never ask for what needs the operator
    const skip = Promise.resolve(null);
    const [stations, reservations, today, tripsR, peersR, health] = await Promise.allSettled([
      getJSON('/stations'),
      operator ? getJSON('/reservations?from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(day) + '&limit=' + RESERVATION_LIMIT) : skip,
      operator ? getJSON('/reservations?status=confirmed&limit=1&from=' + encodeURIComponent(iso(midnight)) + '&to=' + encodeURIComponent(iso(midnight + DAY_MS))) : skip,
      operator ? getJSON('/trips') : skip,
      getJSON('/federation/peers'),
      getJSON('/health'),
    ]);
    if (stations.status === 'fulfilled') {
      stationsList = stations.value.items || [];
      const avail = await Promise.allSettled(stationsList.map((st) => getJSON('/stations/' + encodeURIComponent(st.id) +
        '/availability?from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(day))));
      const list = stationsList.map((st, i) => {
        const occ = occupancyBlock(st);
        occBlocks[st.id] = occ;
        const card = stationCard(st, avail[i].status === 'fulfilled' ? avail[i].value : null, now, now + DAY_MS, nowMs, occ);
        cardById[st.id] = card;
        return card;
      });
      keepFocus(cards, () => cards.replaceChildren(...list));
      if (list.length === 0) cards.replaceChildren(el('li', {}, emptyState('This company has no stations yet.')));
      // Occupancy now: the snapshot when live, else from the availability of this minute.
      const occ = store.snapshot ? snapshotStations(store.snapshot) : {};
      stationsList.forEach((st, i) => {
        if (occ[st.id] || avail[i].status !== 'fulfilled') return;
        const seg = avail[i].value.segments[0];
        occ[st.id] = { busy: seg ? st.chargers - seg.free : 0, chargers: st.chargers, status: st.status };
      });
      renderOccupancy(occ);
      ctx_ok('Stations');
    } else ctx_err('Stations', stations.reason);
    if (!operator || !store.operator) renderSignedOut();
    else {
      if (reservations.status === 'fulfilled') renderReservations(reservations.value, nowMs);
      else ctx_err('Reservations', reservations.reason);
      if (today.status === 'fulfilled') {
        setText(tiles.reservations.value, String(today.value.total));
        setText(tiles.reservations.sub, 'confirmed, starting or running today');
      }
      if (tripsR.status === 'fulfilled') renderTrips(tripsR.value.items || []);
    }
    if (health.status === 'fulfilled') {
      selfHealth.database = health.value.database;
      selfHealth.mqtt = health.value.mqtt;
    } else if (health.reason && health.reason.status === 503) selfHealth.database = 'down';
    if (peersR.status === 'fulfilled' && !store.snapshot) renderPeers(peersR.value.items || []);
    else renderPeers(peers);
    if (health.status === 'fulfilled' && !store.snapshot) renderDoubt(health.value.in_doubt || 0);
  }

  const ctxRef = ctx;
  const ctx_ok = (w) => ctxRef && ctxRef.ok(w);
  const ctx_err = (w, e) => ctxRef && ctxRef.error(w, e);

  function refresh() {
    if (!loading) loading = load().finally(() => { loading = null; });
    return loading;
  }

  // Relative times ("heartbeat 2 s ago") tick between snapshots.
  tick = setInterval(() => {
    peersList.querySelectorAll('[data-seen]').forEach((n) => {
      if (n.dataset.seen) setText(n, 'heartbeat ' + ago(Number(n.dataset.seen)));
    });
  }, 1000);

  return {
    title: 'Overview',
    refresh,
    snapshot({ snap, prev }) {
      const c = changed(snap, prev);
      if (c.stations && stationsList.length) renderOccupancy(snapshotStations(snap));
      if (c.mqtt && snap.mqtt) selfHealth.mqtt = snap.mqtt;
      if (c.peers || c.mqtt) renderPeers(snapshotPeers(snap));
      if (c.in_doubt) renderDoubt(snap.in_doubt);
      // Bookings or trips moved: re-read the lists, at most once a second.
      if (prev && (c.reservations || c.trips || (c.stations && stationsChangedStatus(snap, prev)))) {
        clearTimeout(debounce);
        debounce = setTimeout(refresh, 300);
      }
    },
    unmount() {
      clearInterval(tick);
      clearTimeout(debounce);
    },
  };
}

function stationsChangedStatus(snap, prev) {
  const a = snapshotStations(snap), b = snapshotStations(prev);
  return Object.keys(a).some((id) => !b[id] || b[id].status !== a[id].status || b[id].chargers !== a[id].chargers);
}
