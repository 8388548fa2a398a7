/*
 * Business: the operator's figures over the last 7 days (GET /api/v1/stats):
 * energy sold, revenue, sessions, utilisation and no-shows as figures; energy
 * and revenue per day as bars; utilisation per station and hour of the last
 * 24 h as a heat-map; no-shows per station as bars; and the alerts an
 * operator acts on now (GET /api/v1/alerts: core/alerts.c decides them),
 * re-read every ALERTS_MS while the page is open. Charts are our own SVG.
 * Operator only: signed out it shows the sign-in prompt and no figure.
 */
import { el, svg, setText, getJSON, fmt, dayTime, store, panel, emptyState, signInPrompt, HOUR_MS, DAY_MS } from './core.js';

const DAYS = 7;
const BUSY = 0.9;
const MAX_ALERTS = 100; // all the server sends (EVC_ALERTS_MAX); the list scrolls
const NO_SHOW_ROWS = 10;
const ALERTS_MS = 10000;

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

/* No-shows per station as horizontal bars, the most first (at most NO_SHOW_ROWS). */
function noShowBars(stations) {
  const rows = stations.filter((st) => st.no_shows > 0).sort((a, b) => b.no_shows - a.no_shows || a.station_id.localeCompare(b.station_id)).slice(0, NO_SHOW_ROWS);
  const W = 480, ROW = 22, LABEL = 140, H = rows.length * ROW + 4;
  const max = Math.max(1, ...rows.map((st) => st.no_shows));
  // Drawn at its own size (not stretched to the panel): a few rows stay a few rows.
  const s = svg('svg', { class: 'hbars', id: 'chart-no-shows', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img',
    'aria-label': 'No-shows per station: ' + rows.map((st) => st.station_id + ' ' + st.no_shows).join(', ') });
  rows.forEach((st, i) => {
    const y = 2 + i * ROW, w = (W - LABEL - 40) * st.no_shows / max;
    s.append(svg('text', { class: 'bar-label', x: LABEL - 6, y: y + ROW / 2 + 3, 'text-anchor': 'end', text: st.station_id }),
      svg('rect', { class: 'bar-no_shows', x: LABEL, y: y + 3, width: Math.max(1, w), height: ROW - 6, dataset: { station: st.station_id, value: st.no_shows } },
        svg('title', { text: st.station_id + ': ' + plural(st.no_shows, 'no-show') + ' (' + plural(st.sessions, 'session') + ')' })),
      svg('text', { class: 'bar-label', x: LABEL + w + 4, y: y + ROW / 2 + 3, text: String(st.no_shows) }));
  });
  return s;
}

function plural(n, one) {
  return n + ' ' + one + (n === 1 ? '' : 's');
}

/* The list of GET /alerts (critical first, as the server ranks them). */
export function alertItems(body, max) {
  const items = (body && body.items) || [];
  const shown = items.slice(0, max).map((a) => el('li', {
    class: 'alert alert-' + (a.severity === 'critical' ? 'bad' : 'warn'), dataset: { kind: a.kind, severity: a.severity },
  }, el('span', { class: 'alert-kind', text: a.severity === 'critical' ? 'Critical' : 'Warning' }), ' ', a.message,
  a.since ? el('span', { class: 'muted small' }, ' · since ', el('time', { datetime: a.since, text: dayTime(Date.parse(a.since)) })) : null));
  const count = body ? body.count : 0;
  if (count > shown.length) shown.push(el('li', { class: 'alert alert-warn', text: `and ${count - shown.length} more.` }));
  return shown.length ? shown : [el('li', { class: 'alert alert-ok', dataset: { kind: 'none' }, text: 'Nothing needs you now.' })];
}

export function businessPage(root, params, query, ctx) {
  root.append(el('div', { class: 'page-head' },
    el('div', {}, el('h1', { text: 'Business' }),
      el('p', { class: 'lede', text: `Energy sold, revenue and how busy the chargers were over the last ${DAYS} days (GET /api/v1/stats; the same figures are SQL views).` }))));
  const kpis = el('section', { class: 'kpis', 'aria-label': 'Business figures', 'aria-live': 'polite', id: 'business-kpis' });
  const alerts = panel('Alerts');
  const alertList = el('ul', { class: 'alerts alerts-scroll', id: 'business-alerts', tabindex: '0', 'aria-label': 'Alerts' });
  const alertSummary = el('p', { class: 'muted small', id: 'alerts-summary' });
  alerts.body.append(alertSummary, alertList);
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
    setText(alertSummary, '');
    daily.body.replaceChildren(signInPrompt('see the company\u2019s energy, revenue and utilisation'));
    heat.body.replaceChildren();
    noShows.body.replaceChildren();
    ctx.ok('Business');
  }

  function render(stats) {
    const t = stats.totals, now = Date.now();
    kpis.replaceChildren(
      kpi('Energy', fmt.num.format(t.energy_kwh) + ' kWh', plural(t.sessions, 'session')),
      kpi('Revenue', fmt.price.format(t.revenue), 'at each station\u2019s price'),
      kpi('Utilisation', fmt.pct.format(t.utilisation), fmt.num.format(t.busy_charger_hours) + ' of ' + fmt.num.format(t.available_charger_hours) + ' charger-hours'),
      kpi('No-shows', String(t.no_shows), t.cancellations + ' cancellations'),
      kpi('Waitlist', String(stats.waitlist.joined), stats.waitlist.granted + ' granted, ' + stats.waitlist.waiting_now + ' waiting now'));
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
    quiet > 0 ? el('p', { class: 'muted', id: 'heat-quiet', text: plural(quiet, 'other station') + ' had no booking in the last 24 hours.' }) : '');
    const rows = stats.stations.filter((s) => s.no_shows > 0);
    noShows.body.replaceChildren(rows.length
      ? el('figure', { class: 'hbar-chart' }, el('figcaption', { text: 'Windows booked and never checked in to, by station' + (rows.length > NO_SHOW_ROWS ? ` (the ${NO_SHOW_ROWS} with the most)` : '') }), noShowBars(stats.stations))
      : emptyState('No no-show in the period.'));
  }

  function renderAlerts(body) {
    const critical = body.items.filter((x) => x.severity === 'critical').length;
    setText(alertSummary, body.count ? plural(body.count, 'alert') + ': ' + critical + ' critical, ' + (body.items.length - critical) + ' warning' +
      (body.items.length - critical === 1 ? '' : 's') + (body.truncated ? ' among the first ' + body.items.length : '') + '. Critical first, then the newest.' : '');
    alertList.replaceChildren(...alertItems(body, MAX_ALERTS));
    alertList.dataset.generated = body.generated_at;
  }

  async function refreshAlerts() {
    if (!store.operator) return;
    try {
      const body = await getJSON('/alerts');
      ctx.ok('Alerts');
      if (store.operator) renderAlerts(body);
    } catch (e) {
      if (store.operator) ctx.error('Alerts', e);
    }
  }
  const alertTimer = setInterval(refreshAlerts, ALERTS_MS);

  async function refresh() {
    if (!store.operator) {
      renderSignedOut();
      return;
    }
    const now = Date.now();
    try {
      const [stats, alertsBody] = await Promise.all([
        getJSON('/stats?from=' + iso(Math.floor(now / DAY_MS) * DAY_MS - (DAYS - 1) * DAY_MS) + '&to=' + iso(now)),
        getJSON('/alerts')]);
      ctx.ok('Business');
      if (store.operator) {
        render(stats);
        renderAlerts(alertsBody);
      }
    } catch (e) {
      if (!store.operator) renderSignedOut();
      else ctx.error('Business', e);
    }
  }

  return { title: 'Business', refresh, unmount() { clearInterval(alertTimer); } };
}
