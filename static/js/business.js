/*
 * Business: the operator's figures over the last 7 days (GET /api/v1/stats):
 * energy sold, revenue, sessions, utilisation and no-shows as figures; energy
 * and revenue per day as bars; utilisation per station and hour of the last
 * 24 h as a heat-map; no-shows per station; and the alerts an operator acts on
 * now (a station offline or in maintenance, a peer down, an in-doubt
 * transaction older than a minute, a station above 90 % in the last hour).
 * Operator only: signed out it shows the sign-in prompt and no figure.
 */
import { el, svg, setText, getJSON, fmt, store, panel, emptyState, signInPrompt, HOUR_MS, DAY_MS } from './core.js';

const DAYS = 7;
const BUSY = 0.9;
const MAX_ALERTS = 8;

function iso(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/* Bars of one series per day; values labelled for screen readers. */
function dayBars(days, key, label, format) {
  const W = 360, H = 120, PAD = 18;
  const max = Math.max(1e-9, ...days.map((d) => Number(d[key]) || 0));
  const bw = (W - 2 * PAD) / Math.max(1, days.length);
  const s = svg('svg', { class: 'bars', viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': label + ' per day: ' + days.map((d) => d.day + ' ' + format(Number(d[key]) || 0)).join(', ') });
  days.forEach((d, i) => {
    const v = Number(d[key]) || 0, h = (H - 2 * PAD) * v / max;
    s.append(svg('rect', { class: 'bar-' + key, x: PAD + i * bw + 2, y: H - PAD - h, width: Math.max(1, bw - 4), height: h },
      svg('title', { text: d.day + ': ' + format(v) })),
    svg('text', { class: 'bar-label', x: PAD + i * bw + bw / 2, y: H - 4, 'text-anchor': 'middle', text: d.day.slice(5) }));
  });
  return s;
}

/* Stations (rows) x the last 24 hours (columns), shaded by utilisation. */
function heatMap(stations, hourly, now) {
  const first = Math.floor(now / HOUR_MS) * HOUR_MS - 23 * HOUR_MS;
  const cell = new Map(hourly.map((h) => [h.station_id + '|' + Date.parse(h.hour), Number(h.utilisation) || 0]));
  const table = el('table', { class: 'heat', id: 'heat-map' });
  const head = el('tr', {}, el('th', { scope: 'col', text: 'Station' }));
  for (let k = 0; k < 24; k++) head.append(el('th', { scope: 'col', class: 'heat-hour', text: k % 3 ? '' : fmt.hour.format(first + k * HOUR_MS) }));
  table.append(el('thead', {}, head));
  const body = el('tbody');
  for (const st of stations) {
    const row = el('tr', {}, el('th', { scope: 'row', class: 'mono', text: st.station_id }));
    for (let k = 0; k < 24; k++) {
      const t = first + k * HOUR_MS, u = cell.get(st.station_id + '|' + t) || 0;
      const level = u >= BUSY ? 4 : u >= 0.5 ? 3 : u >= 0.2 ? 2 : u > 0 ? 1 : 0;
      row.append(el('td', { class: 'heat-cell heat-' + level, title: st.station_id + ' ' + fmt.time.format(t) + ': ' + fmt.pct.format(u),
        'aria-label': fmt.time.format(t) + ' ' + fmt.pct.format(u) }));
    }
    body.append(row);
  }
  table.append(body);
  return table;
}

/* What needs the operator now, most urgent first. */
function alertsOf(stats, peers, health, now) {
  const out = [];
  for (const status of ['offline', 'maintenance']) {
    const ids = stats.stations.filter((st) => st.status === status).map((st) => st.station_id);
    if (ids.length) out.push([status === 'offline' ? 'bad' : 'warn', `${ids.length === 1 ? 'Station' : ids.length + ' stations'} ${status === 'offline' ? 'offline' : 'in maintenance'}, taking no bookings: ${ids.join(', ')}.`]);
  }
  for (const p of (peers && peers.items) || []) {
    if (p.status === 'down') out.push(['bad', `Peer ${p.id} is down: its stations are left out of plans.`]);
  }
  if (health && Number(health.oldest_prepared_seconds) > 60) {
    out.push(['bad', `An in-doubt transaction has waited ${Math.round(health.oldest_prepared_seconds)} s (more than a minute).`]);
  }
  const lastHour = Math.floor(now / HOUR_MS) * HOUR_MS - HOUR_MS;
  for (const h of stats.hourly) {
    if (Date.parse(h.hour) >= lastHour && Number(h.utilisation) > BUSY) {
      out.push(['warn', `Station ${h.station_id} was ${fmt.pct.format(h.utilisation)} busy at ${fmt.time.format(Date.parse(h.hour))}.`]);
    }
  }
  return out;
}

export function businessPage(root, params, query, ctx) {
  root.append(el('div', { class: 'page-head' },
    el('div', {}, el('h1', { text: 'Business' }),
      el('p', { class: 'lede', text: `Energy sold, revenue and how busy the chargers were over the last ${DAYS} days (GET /api/v1/stats; the same figures are SQL views).` }))));
  const kpis = el('section', { class: 'kpis', 'aria-label': 'Business figures', 'aria-live': 'polite', id: 'business-kpis' });
  const alerts = panel('Alerts');
  const alertList = el('ul', { class: 'alerts', id: 'business-alerts' });
  alerts.body.append(alertList);
  const daily = panel('Energy and revenue per day');
  daily.body.id = 'business-daily';
  const heat = panel('Utilisation per station and hour (last 24 h)');
  const noShows = panel('No-shows per station');
  root.append(kpis, alerts.section, daily.section, heat.section, noShows.section);

  function kpi(label, value, sub) {
    return el('div', { class: 'kpi' }, el('span', { class: 'kpi-label', text: label }), el('span', { class: 'kpi-value', text: value }),
      el('span', { class: 'kpi-sub', text: sub }));
  }

  function renderSignedOut() {
    kpis.replaceChildren();
    alertList.replaceChildren();
    daily.body.replaceChildren(signInPrompt('see the company\u2019s energy, revenue and utilisation'));
    heat.body.replaceChildren();
    noShows.body.replaceChildren();
    ctx.ok('Business');
  }

  function render(stats, peers, health) {
    const t = stats.totals, now = Date.now();
    kpis.replaceChildren(
      kpi('Energy', fmt.num.format(t.energy_kwh) + ' kWh', plural(t.sessions, 'session')),
      kpi('Revenue', fmt.price.format(t.revenue), 'at each station\u2019s price'),
      kpi('Utilisation', fmt.pct.format(t.utilisation), fmt.num.format(t.busy_charger_hours) + ' of ' + fmt.num.format(t.available_charger_hours) + ' charger-hours'),
      kpi('No-shows', String(t.no_shows), t.cancellations + ' cancellations'),
      kpi('Waitlist', String(stats.waitlist.joined), stats.waitlist.granted + ' granted, ' + stats.waitlist.waiting_now + ' waiting now'));
    const list = alertsOf(stats, peers, health, now);
    const shown = list.slice(0, MAX_ALERTS).map(([kind, text]) => el('li', { class: 'alert alert-' + kind, text }));
    if (list.length > MAX_ALERTS) shown.push(el('li', { class: 'alert alert-warn', text: `and ${list.length - MAX_ALERTS} more.` }));
    alertList.replaceChildren(...(shown.length ? shown : [el('li', { class: 'alert alert-ok', text: 'Nothing needs you now.' })]));
    daily.body.replaceChildren(el('div', { class: 'bar-charts' },
      el('figure', { id: 'chart-energy' }, el('figcaption', { text: 'Energy (kWh)' }), dayBars(stats.daily, 'energy_kwh', 'Energy', (v) => fmt.num.format(v) + ' kWh')),
      el('figure', { id: 'chart-revenue' }, el('figcaption', { text: 'Revenue (BRL)' }), dayBars(stats.daily, 'revenue', 'Revenue', (v) => fmt.price.format(v)))));
    // Rows for the stations booked in the last 24 h; the others are counted, not drawn.
    const since = now - 24 * HOUR_MS;
    const booked = new Set(stats.hourly.filter((h) => Date.parse(h.hour) >= since - HOUR_MS).map((h) => h.station_id));
    const rowsOf = stats.stations.filter((st) => booked.has(st.station_id));
    const quiet = stats.stations.length - rowsOf.length;
    heat.body.replaceChildren(rowsOf.length ? el('div', { class: 'heat-wrap' }, heatMap(rowsOf, stats.hourly, now))
      : emptyState('No booking in the last 24 hours.'),
    quiet > 0 ? el('p', { class: 'muted', id: 'heat-quiet', text: plural(quiet, 'other station') + ' had no booking in the last 24 hours.' }) : null);
    const rows = stats.stations.filter((s) => s.no_shows > 0);
    noShows.body.replaceChildren(rows.length
      ? el('table', { class: 'table', id: 'no-shows' }, el('thead', {}, el('tr', {}, el('th', { text: 'Station' }), el('th', { text: 'No-shows' }), el('th', { text: 'Sessions' }))),
        el('tbody', {}, ...rows.map((s) => el('tr', {}, el('td', { class: 'mono', text: s.station_id }), el('td', { text: String(s.no_shows) }), el('td', { text: String(s.sessions) })))))
      : emptyState('No no-show in the period.'));
  }

  function plural(n, one) {
    return n + ' ' + one + (n === 1 ? '' : 's');
  }

  async function refresh() {
    if (!store.operator) {
      renderSignedOut();
      return;
    }
    const now = Date.now();
    try {
      const [stats, peers, health] = await Promise.all([
        getJSON('/stats?from=' + iso(Math.floor(now / DAY_MS) * DAY_MS - (DAYS - 1) * DAY_MS) + '&to=' + iso(now)),
        getJSON('/federation/peers').catch(() => null),
        getJSON('/health').catch(() => null)]);
      ctx.ok('Business');
      if (store.operator) render(stats, peers, health);
    } catch (e) {
      if (!store.operator) renderSignedOut();
      else ctx.error('Business', e);
    }
  }

  return { title: 'Business', refresh };
}
