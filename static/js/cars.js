/*
 * Cars: the cars attached to this company, each with its state of charge as a
 * gauge and a sparkline of the last hour (/cars/{id}/telemetry, averaged by
 * the server), its discharge profile, speed and consumption. The live snapshot
 * moves the gauges and extends the sparklines between two reads. Positions are
 * personal data: only the signed-in operator sees this page's content; signed
 * out, it shows the sign-in state and nothing of any car.
 */
import {
  el, svg, setText, getJSON, fmt, ago, plural, store, panel, emptyState, snapshotCars, changed, signInPrompt, MINUTE_MS,
} from './core.js';

const MINUTES = 60;
const HISTORY_EVERY_MS = 60000;
const PROFILE_TEXT = { slow: 'Slow discharge', normal: 'Normal', fast: 'Fast discharge', erratic: 'Erratic' };

/* State of charge is a percentage (0..100) everywhere in the system. */
const socText = (soc) => fmt.pct.format(soc / 100);

function socClass(soc) {
  if (soc < 20) return 'soc-low';
  if (soc < 50) return 'soc-mid';
  return 'soc-high';
}

/*
 * A sparkline of [t, soc]; y from 0 to 100%. The time axis spans the samples
 * there are (at least 10 minutes, at most MINUTES), so a car that just appeared
 * still draws a readable line. Returns {chart, span} with span in minutes.
 */
function sparkline(points, now) {
  const W = 240, H = 56, PAD = 3;
  const oldest = now - MINUTES * MINUTE_MS;
  const pts = points.filter(([t]) => t >= oldest);
  const t0 = Math.min(now - 10 * MINUTE_MS, pts.length ? Math.max(oldest, pts[0][0]) : oldest);
  const x = (t) => PAD + ((W - 2 * PAD) * (t - t0)) / (now - t0);
  const y = (v) => PAD + (H - 2 * PAD) * (1 - Math.max(0, Math.min(100, v)) / 100);
  const s = svg('svg', { class: 'spark', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img' });
  s.append(svg('line', { class: 'spark-ref', x1: 0, x2: W, y1: y(20), y2: y(20) }),
    svg('line', { class: 'spark-ref spark-ref-soft', x1: 0, x2: W, y1: y(50), y2: y(50) }));
  if (pts.length >= 2) {
    const line = pts.map(([t, v], i) => (i ? 'L' : 'M') + x(t).toFixed(1) + ' ' + y(v).toFixed(1)).join('');
    s.append(svg('path', { class: 'spark-area', d: line + `L${x(pts[pts.length - 1][0]).toFixed(1)} ${H}L${x(pts[0][0]).toFixed(1)} ${H}Z` }),
      svg('path', { class: 'spark-line', d: line }));
  }
  if (pts.length) {
    const [t, v] = pts[pts.length - 1];
    s.append(svg('circle', { class: 'spark-dot ' + socClass(v), cx: x(t), cy: y(v), r: 3 }));
  }
  const span = Math.round((now - t0) / MINUTE_MS);
  const first = pts[0], last = pts[pts.length - 1];
  s.setAttribute('aria-label', pts.length < 2 ? 'Not enough samples for a chart yet'
    : 'State of charge over the last ' + span + ' minutes: from ' + socText(first[1]) + ' to ' + socText(last[1]) +
      ', lowest ' + socText(Math.min(...pts.map((p) => p[1]))));
  const low = pts.length ? Math.min(...pts.map((p) => p[1])) : null;
  const caption = el('p', { class: 'spark-caption', 'aria-hidden': 'true' },
    el('span', { text: 'last ' + span + '\u00a0min' }), el('span', { text: low === null ? '' : 'lowest ' + socText(low) }));
  return [s, caption];
}

export function carsPage(root, params, query, ctx) {
  root.append(el('div', { class: 'page-head' },
    el('div', {}, el('h1', { text: 'Cars' }),
      el('p', { class: 'lede', text: 'The cars attached to this company over MQTT: their state of charge over the last hour, their discharge profile and what they report now.' }))));
  const kpis = el('section', { class: 'kpis kpis-3', 'aria-label': 'Fleet figures', 'aria-live': 'polite' });
  const kReporting = el('span', { class: 'kpi-value', text: '–' });
  const kAvg = el('span', { class: 'kpi-value', text: '–' });
  const kLow = el('span', { class: 'kpi-value', text: '–' });
  kpis.append(
    el('div', { class: 'kpi' }, el('span', { class: 'kpi-label', text: 'Cars reporting' }), kReporting, el('span', { class: 'kpi-sub', text: 'in the last 10 minutes' })),
    el('div', { class: 'kpi' }, el('span', { class: 'kpi-label', text: 'Average charge' }), kAvg, el('span', { class: 'kpi-sub', text: 'state of charge' })),
    el('div', { class: 'kpi', id: 'kpi-low' }, el('span', { class: 'kpi-label', text: 'Below 20%' }), kLow, el('span', { class: 'kpi-sub', text: 'cars that need a charger soon' })));
  const p = panel('Fleet');
  const summary = el('p', { class: 'summary' });
  p.head.append(summary);
  const grid = el('ul', { class: 'car-grid', id: 'car-grid' });
  p.body.append(grid);
  root.append(kpis, p.section);

  const history = new Map(); // car -> [[t, soc], ...]
  const cardsById = new Map();
  let cars = [];
  let lastHistory = 0;

  function carCard(c) {
    let k = cardsById.get(c.car_id);
    if (!k) {
      const soc = el('span', { class: 'car-soc' });
      const gaugeFill = el('span', { class: 'gauge-fill' });
      const profile = el('span', { class: 'profile' });
      const speed = el('dd');
      const cons = el('dd');
      const seen = el('dd');
      const where = el('dd');
      const chart = el('div', { class: 'car-chart' });
      const node = el('li', { class: 'car-card', dataset: { car: c.car_id } },
        el('div', { class: 'car-head' }, el('h3', { class: 'mono', text: c.car_id }), profile),
        el('div', { class: 'car-socrow' }, soc,
          el('span', { class: 'gauge', 'aria-hidden': 'true' }, gaugeFill, el('span', { class: 'gauge-cap' }))),
        chart,
        el('dl', { class: 'car-facts' },
          el('div', {}, el('dt', { text: 'Speed' }), speed),
          el('div', {}, el('dt', { text: 'Consumption' }), cons),
          el('div', {}, el('dt', { text: 'Last report' }), seen),
          el('div', {}, el('dt', { text: 'Position' }), where)));
      k = { node, soc, gaugeFill, profile, speed, cons, seen, where, chart };
      cardsById.set(c.car_id, k);
    }
    setText(k.soc, socText(c.soc));
    k.soc.className = 'car-soc ' + socClass(c.soc);
    k.soc.setAttribute('aria-label', 'State of charge ' + socText(c.soc));
    k.gaugeFill.style.width = Math.round(Math.max(0, Math.min(100, c.soc))) + '%';
    k.gaugeFill.className = 'gauge-fill ' + socClass(c.soc);
    setText(k.profile, PROFILE_TEXT[c.profile] || (c.profile ? c.profile : 'profile unknown'));
    k.profile.className = 'profile profile-' + (PROFILE_TEXT[c.profile] ? c.profile : 'unknown');
    setText(k.speed, Math.round(c.speed_kmh || 0) + ' km/h');
    const consumption = c.consumption_kwh_per_100km;
    setText(k.cons, consumption !== undefined && consumption !== null ? fmt.num.format(consumption) + ' kWh/100 km' : '—');
    k.seen.dataset.ts = c.ts ? String(Date.parse(c.ts)) : '';
    setText(k.seen, c.ts ? ago(Date.parse(c.ts)) : '—');
    setText(k.where, c.lat.toFixed(3) + ', ' + c.lon.toFixed(3));
    k.chart.replaceChildren(...sparkline(history.get(c.car_id) || [], Date.now()));
    return k.node;
  }

  function render() {
    const sorted = cars.slice().sort((a, b) => a.car_id.localeCompare(b.car_id, undefined, { numeric: true }));
    if (!sorted.length) {
      grid.replaceChildren(el('li', { class: 'car-empty' }, emptyState('No car has reported here in the last 10 minutes.',
        'Cars appear when they send telemetry over MQTT, e.g. with the simulator: build/evc-sim --cars 6.')));
    } else {
      grid.replaceChildren(...sorted.map(carCard));
    }
    const recent = sorted.filter((c) => !c.ts || Date.now() - Date.parse(c.ts) < 10 * MINUTE_MS);
    setText(kReporting, String(recent.length));
    setText(kAvg, recent.length ? socText(recent.reduce((s, c) => s + c.soc, 0) / recent.length) : '–');
    const low = recent.filter((c) => c.soc < 20).length;
    setText(kLow, String(low));
    document.getElementById('kpi-low').classList.toggle('kpi-bad', low > 0);
    setText(summary, plural(sorted.length, 'car', 'cars') + ' · charts of up to the last ' + MINUTES + '\u00a0min');
  }

  async function loadHistory(list) {
    const results = await Promise.allSettled(list.map((c) => getJSON('/cars/' + encodeURIComponent(c.car_id) + '/telemetry?minutes=' + MINUTES)));
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') history.set(list[i].car_id, (r.value.items || []).map((p) => [Date.parse(p.ts), p.soc]));
    });
    lastHistory = Date.now();
  }

  /* Signed out: no car at all on the page, not even from the live snapshot. */
  function renderSignedOut() {
    cars = [];
    history.clear();
    cardsById.clear();
    grid.replaceChildren(el('li', { class: 'car-empty' }, signInPrompt('see its cars, their charge and their positions',
      { hint: 'A car\u2019s position is personal data: only this company\u2019s operator (or the car itself) may read it.' })));
    for (const k of [kReporting, kAvg, kLow]) setText(k, '–');
    document.getElementById('kpi-low').classList.remove('kpi-bad');
    setText(summary, 'Operator only');
    ctx.ok('Cars');
  }

  async function refresh() {
    if (!store.operator) {
      renderSignedOut();
      return;
    }
    try {
      const body = await getJSON('/cars');
      cars = (body.items || []).filter((c) => c.age_seconds === undefined || c.age_seconds < 24 * 3600);
      ctx.ok('Cars');
    } catch (e) {
      if (!store.operator) renderSignedOut(); // the session ended meanwhile
      else ctx.error('Cars', e);
      return;
    }
    if (!store.operator) {
      renderSignedOut();
      return;
    }
    await loadHistory(cars);
    if (!store.operator) {
      renderSignedOut();
      return;
    }
    render();
  }

  const tick = setInterval(() => {
    grid.querySelectorAll('dd[data-ts]').forEach((n) => { if (n.dataset.ts) setText(n, ago(Number(n.dataset.ts))); });
  }, 1000);

  return {
    title: 'Cars',
    refresh,
    snapshot({ snap, prev }) {
      if (!store.operator || !changed(snap, prev).cars) return;
      const live = snapshotCars(snap);
      const known = new Map(cars.map((c) => [c.car_id, c]));
      let fresh = false;
      for (const c of live) {
        const old = known.get(c.car_id);
        if (!old) fresh = true;
        known.set(c.car_id, Object.assign({}, old || {}, c));
        const h = history.get(c.car_id) || [];
        const t = c.ts ? Date.parse(c.ts) : Date.now();
        if (!h.length || t - h[h.length - 1][0] >= 15000) h.push([t, c.soc]);
        history.set(c.car_id, h);
      }
      cars = [...known.values()];
      if ((fresh || Date.now() - lastHistory > HISTORY_EVERY_MS) && prev) refresh();
      else render();
    },
    unmount() { clearInterval(tick); },
  };
}
