/*
 * Map: an SVG of the Northeast. The coast and the São Francisco (js/geo.js,
 * hand-made outline), cities and roads from the database (/network/map), every
 * company's stations coloured by company and drawn by status, and this
 * company's cars where their last telemetry put them, moving live.
 * Markers keep their size in pixels whatever the zoom or the screen.
 */
import {
  el, svg, setText, getJSON, fmt, plural, store, keepFocus, loadNetwork, companyColor, companyChip, snapshotPeers,
  snapshotStations, snapshotCars, changed, panel, ago, signInPrompt,
} from './core.js';
import { LAND, RIVER, STATES, projector, boundsOf, pathOf } from './geo.js';

/* Cities always named (capitals and the largest towns); the others when "All city names" is on. */
const MAJOR = new Set(['natal', 'joao-pessoa', 'recife', 'maceio', 'aracaju', 'salvador', 'fortaleza', 'teresina',
  'feira-de-santana', 'campina-grande', 'caruaru', 'petrolina', 'mossoro', 'juazeiro-do-norte', 'vitoria-da-conquista']);

const STATUS_LABEL = { active: 'active', maintenance: 'in maintenance', offline: 'offline' };

/* State of charge is a percentage (0..100) everywhere in the system. */
function socClass(soc) {
  if (soc < 20) return 'soc-low';
  if (soc < 50) return 'soc-mid';
  return 'soc-high';
}

export function mapPage(root, params, query, ctx) {
  const head = el('div', { class: 'page-head' },
    el('div', {}, el('h1', { text: 'Map' }),
      el('p', { class: 'lede', text: 'Cities and roads of the Northeast, every company\u2019s stations and this company\u2019s cars, live.' })));

  const svgEl = svg('svg', { class: 'map-svg', role: 'group', 'aria-labelledby': 'map-title', id: 'map-svg' });
  const figure = el('figure', { class: 'map-figure' },
    el('p', { class: 'visually-hidden', id: 'map-title', text: 'Map of stations and cars. Each station is a link to its page.' }),
    svgEl);
  const summary = el('p', { class: 'summary', id: 'map-summary', 'aria-live': 'polite', text: 'Loading the map…' });

  const showRoads = el('input', { type: 'checkbox', id: 'show-roads', checked: true });
  const showNames = el('input', { type: 'checkbox', id: 'show-names' });
  const showCars = el('input', { type: 'checkbox', id: 'show-cars', checked: true });
  const zoomRegion = el('button', { type: 'button', 'aria-pressed': 'false', text: 'Whole region' });
  const zoomStations = el('button', { type: 'button', 'aria-pressed': 'true', text: 'Stations' });
  const controls = el('div', { class: 'map-controls' },
    el('fieldset', { class: 'inline-fields' }, el('legend', { text: 'Show' }),
      el('label', { for: 'show-roads' }, showRoads, ' Roads'),
      el('label', { for: 'show-names' }, showNames, ' All city names'),
      el('label', { for: 'show-cars' }, showCars, ' Cars')),
    el('div', { class: 'btn-group', role: 'group', 'aria-label': 'Zoom' }, zoomStations, zoomRegion));

  const companiesLegend = el('ul', { class: 'legend-list', id: 'map-companies' });
  // Cars' positions are the operator's to see: signed out, none is drawn.
  const carsGate = el('div', { id: 'map-cars-gate' }, signInPrompt('see its cars on the map', { compact: true }));
  carsGate.hidden = !!store.operator;
  const legendP = panel('Legend', { class: 'map-legend' });
  legendP.body.append(
    el('h3', { class: 'legend-h', text: 'Companies' }), companiesLegend,
    el('h3', { class: 'legend-h', text: 'Stations' }),
    el('ul', { class: 'legend-list' },
      el('li', {}, legendMarker('active'), 'Active, bookable'),
      el('li', {}, legendMarker('maintenance'), 'Maintenance'),
      el('li', {}, legendMarker('offline'), 'Offline'),
      el('li', {}, legendMarker('owner-down'), 'Owner unreachable')),
    el('h3', { class: 'legend-h', text: 'Cars (state of charge)' }),
    el('ul', { class: 'legend-list' },
      el('li', {}, legendCar('soc-high'), '50% and more'),
      el('li', {}, legendCar('soc-mid'), '20–50%'),
      el('li', {}, legendCar('soc-low'), 'below 20%')),
    carsGate,
    el('h3', { class: 'legend-h', text: 'Roads' }),
    el('ul', { class: 'legend-list' },
      el('li', {}, legendRoad('dual'), 'Dual carriageway'),
      el('li', {}, legendRoad('single'), 'Federal highway'),
      el('li', {}, legendRoad('state'), 'State road')));

  const mapP = panel('Northeast', { class: 'map-panel' });
  mapP.head.append(summary);
  mapP.body.append(controls, figure);
  root.append(head, el('div', { class: 'layout-map' }, mapP.section, legendP.section));

  let netMap = null;      // {cities, roads}
  let stations = [];      // every company's stations
  let peers = {};         // company -> 'up' | 'down'
  let own = {};           // own stations' live status
  let cars = [];
  let proj = null;
  let full = null;        // full viewBox {x, y, w, h}
  let view = null;        // current viewBox
  let zoom = query.get('zoom') === 'region' ? 'region' : 'stations';
  let carLayer = null;
  const carNodes = new Map();

  function legendMarker(kind) {
    const s = svg('svg', { class: 'legend-marker', viewBox: '-8 -8 16 16', 'aria-hidden': 'true' });
    s.append(stationMarker(kind === 'owner-down' ? 'active' : kind, '#0b7285', kind === 'owner-down', 6));
    return s;
  }
  function legendCar(cls) {
    return svg('svg', { class: 'legend-marker', viewBox: '-8 -8 16 16', 'aria-hidden': 'true' },
      svg('circle', { r: 4.5, class: 'car-dot ' + cls }));
  }
  function legendRoad(kind) {
    return svg('svg', { class: 'legend-marker legend-road', viewBox: '0 -4 24 8', 'aria-hidden': 'true' },
      svg('line', { x1: 0, y1: 0, x2: 24, y2: 0, class: 'road road-' + kind }));
  }

  function pxPerUnit() {
    const w = svgEl.clientWidth || 800, h = svgEl.clientHeight || 800;
    return Math.min(w / view.w, h / view.h);
  }

  /* Shows box v, widened or heightened about its centre to the drawing's own proportions. */
  function setView(v) {
    const aspect = (svgEl.clientWidth || 800) / (svgEl.clientHeight || 800);
    let { x, y, w, h } = v;
    if (w / h < aspect) {
      const nw = h * aspect;
      x -= (nw - w) / 2;
      w = nw;
    } else {
      const nh = w / aspect;
      y -= (nh - h) / 2;
      h = nh;
    }
    view = { x, y, w, h };
    svgEl.setAttribute('viewBox', [x, y, w, h].map((n) => n.toFixed(1)).join(' '));
  }

  function computeViews() {
    const pts = [];
    for (const c of (netMap && netMap.cities) || []) pts.push([c.lon, c.lat]);
    for (const s of stations) pts.push([s.lon, s.lat]);
    if (pts.length === 0) pts.push([-38, -8]);
    const b = boundsOf(pts, 0.35);
    proj = projector(b);
    full = { x: 0, y: 0, w: proj.width, h: proj.height };
    const st = stations.length ? boundsOf(stations.map((s) => [s.lon, s.lat]), 0.45) : b;
    const x0 = proj.x(st.minLon), x1 = proj.x(st.maxLon), y0 = proj.y(st.maxLat), y1 = proj.y(st.minLat);
    return { region: full, stations: { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } };
  }

  /* A station marker: filled when active, ringed in amber in maintenance, hollow and crossed when offline. */
  function stationMarker(status, color, ownerDown, r) {
    const g = svg('g', { class: 'st st-' + status + (ownerDown ? ' st-owner-down' : '') });
    g.style.setProperty('--c', color);
    if (status === 'offline') {
      g.append(svg('circle', { r, class: 'st-body' }),
        svg('path', { class: 'st-cross', d: `M${-r * 0.55} ${-r * 0.55}L${r * 0.55} ${r * 0.55}M${r * 0.55} ${-r * 0.55}L${-r * 0.55} ${r * 0.55}` }));
    } else {
      g.append(svg('circle', { r, class: 'st-body' }));
      if (status === 'maintenance') g.append(svg('circle', { r: r + r * 0.45, class: 'st-ring' }));
    }
    return g;
  }

  function stationState(s) {
    const company = s.company || s.id.split('-')[0];
    const ownerDown = company !== store.company && peers[company] === 'down';
    const status = company === store.company && own[s.id] ? own[s.id].status : s.status;
    return { company, ownerDown, status: STATUS_LABEL[status] ? status : 'offline' };
  }

  function draw() {
    if (!proj) return;
    const k = 1 / pxPerUnit(); // user units per pixel
    const layers = [];
    layers.push(svg('rect', { class: 'sea', x: full.x - 500, y: full.y - 500, width: full.w + 1000, height: full.h + 1000 }));
    layers.push(svg('path', { class: 'land', d: pathOf(LAND, proj, true) }));
    layers.push(svg('path', { class: 'river', d: pathOf(RIVER, proj, false), 'stroke-width': 2 * k }));
    const states = svg('g', { class: 'states', 'aria-hidden': 'true' });
    for (const [name, lon, lat] of STATES) {
      states.append(svg('text', { x: proj.x(lon), y: proj.y(lat), 'font-size': 15 * k, text: name }));
    }
    layers.push(states);

    const cityById = {};
    for (const c of (netMap && netMap.cities) || []) cityById[c.id] = c;
    if (showRoads.checked && netMap) {
      const roads = svg('g', { class: 'roads', 'aria-hidden': 'true' });
      for (const r of netMap.roads) {
        const a = cityById[r.from], b = cityById[r.to];
        if (!a || !b) continue;
        const line = svg('line', {
          class: 'road road-' + (r.kind || 'single'), x1: proj.x(a.lon), y1: proj.y(a.lat), x2: proj.x(b.lon), y2: proj.y(b.lat),
          'stroke-width': (r.kind === 'dual' ? 3 : r.kind === 'state' ? 1.4 : 2) * k,
        });
        line.append(svg('title', { text: r.highway + ': ' + a.name + ' – ' + b.name + ' (' + fmt.num.format(r.km) + ' km)' }));
        roads.append(line);
      }
      layers.push(roads);
    }
    // Where the station markers go: markers of one town that would overlap are spread around it.
    const r = 6.5 * k;
    const placed = [];
    const sorted = stations.slice().sort((a, b) => a.id.localeCompare(b.id));
    for (const s of sorted) {
      let x = proj.x(s.lon), y = proj.y(s.lat);
      for (let tries = 0; tries < 6 && placed.some(([px, py]) => Math.hypot(px - x, py - y) < 2.2 * r); tries++) {
        const angle = (tries * Math.PI) / 3;
        x = proj.x(s.lon) + Math.cos(angle) * 2.4 * r;
        y = proj.y(s.lat) + Math.sin(angle) * 2.4 * r;
      }
      placed.push([x, y, s]);
    }

    if (netMap) {
      // City names go right of their dot, else left, above or below: wherever they hide no marker and no other name.
      const cities = svg('g', { class: 'cities', 'aria-hidden': 'true' });
      const boxes = placed.map(([x, y]) => [x - r * 1.3, y - r * 1.3, x + r * 1.3, y + r * 1.3]);
      const free = (b) => !boxes.some((o) => b[0] < o[2] && b[2] > o[0] && b[1] < o[3] && b[3] > o[1]);
      const stationCities = new Set(stations.map((s) => s.city));
      const order = netMap.cities.slice().sort((a, b) => (MAJOR.has(b.id) - MAJOR.has(a.id)) || (stationCities.has(b.name) - stationCities.has(a.name)));
      const labels = [];
      for (const c of order) {
        const named = showNames.checked || MAJOR.has(c.id) || stationCities.has(c.name);
        const x = proj.x(c.lon), y = proj.y(c.lat);
        cities.append(svg('circle', { cx: x, cy: y, r: (named ? 2.6 : 1.8) * k, class: named ? 'city city-named' : 'city' }));
        if (!named) continue;
        const major = MAJOR.has(c.id);
        const w = c.name.length * (major ? 7 : 6.5) * k, h = 11 * k;
        // Near the dot first; then clear of the town's own station markers, which may sit on it.
        const d = 1.35 * r + 3 * k;
        const spots = [[x + 5 * k, y - 3 * k, 'start'], [x - 5 * k, y - 3 * k, 'end'], [x + d, y + 4 * k, 'start'],
          [x - d, y + 4 * k, 'end'], [x - w / 2, y - d, 'start'], [x - w / 2, y + d + h, 'start'],
          [x + d, y - d, 'start'], [x - d, y - d, 'end'], [x + d, y + d + h * 0.6, 'start'], [x - d, y + d + h * 0.6, 'end']];
        let chosen = null;
        for (const [lx, ly, anchor] of spots) {
          const x0 = anchor === 'end' ? lx - w : lx;
          const box = [x0, ly - h + 2 * k, x0 + w, ly + 2 * k];
          if (free(box)) {
            chosen = [lx, ly, anchor, box];
            break;
          }
        }
        if (!chosen) {
          if (!major && !stationCities.has(c.name)) continue; // a minor name that fits nowhere is left out
          const [lx, ly, anchor] = spots[0];
          chosen = [lx, ly, anchor, [lx, ly - h, lx + w, ly]];
        }
        boxes.push(chosen[3]);
        labels.push(svg('text', { x: chosen[0], y: chosen[1], 'text-anchor': chosen[2], 'font-size': 11 * k,
          class: 'city-label' + (major ? ' city-major' : ''), text: c.name }));
      }
      cities.append(...labels);
      layers.push(cities);
    }

    // Stations: a link each.
    const marks = svg('g', { class: 'stations' });
    for (const [x, y, s] of placed) {
      const st = stationState(s);
      const name = store.names[st.company] || 'company ' + st.company;
      const label = s.name + ' (' + s.id + '), ' + name + ', ' + STATUS_LABEL[st.status] +
        (st.ownerDown ? ', owner unreachable' : '') + ', ' + plural(s.chargers, 'charger', 'chargers') +
        (own[s.id] ? ', ' + own[s.id].busy + ' in use' : '');
      const a = svg('a', { href: '#/station/' + encodeURIComponent(s.id), class: 'st-link', 'aria-label': label,
        dataset: { station: s.id, company: st.company, status: st.status } });
      const g = stationMarker(st.status, companyColor(st.company), st.ownerDown, r);
      g.setAttribute('transform', `translate(${x.toFixed(1)} ${y.toFixed(1)})`);
      g.append(svg('title', { text: label }));
      a.append(g);
      marks.append(a);
    }
    layers.push(marks);

    carLayer = svg('g', { class: 'cars' + (showCars.checked ? '' : ' hidden') });
    carNodes.clear();
    layers.push(carLayer);
    keepFocus(svgEl, () => svgEl.replaceChildren(...layers));
    drawCars();
    renderLegend();
  }

  function drawCars() {
    if (!carLayer || !proj) return;
    const k = 1 / pxPerUnit();
    const seen = new Set();
    for (const c of cars) {
      seen.add(c.car_id);
      let node = carNodes.get(c.car_id);
      if (!node) {
        const title = svg('title');
        const dot = svg('circle', { r: 4.5 * k, class: 'car-dot', 'stroke-width': 1.5 * k });
        const g = svg('g', { class: 'car', dataset: { car: c.car_id } }, dot, title);
        node = { g, dot, title };
        carNodes.set(c.car_id, node);
        carLayer.append(g);
      }
      node.g.style.transform = `translate(${proj.x(c.lon).toFixed(2)}px, ${proj.y(c.lat).toFixed(2)}px)`;
      node.dot.setAttribute('class', 'car-dot ' + socClass(c.soc));
      setText(node.title, c.car_id + ': ' + fmt.pct.format(c.soc / 100) + ' charge, ' + Math.round(c.speed_kmh || 0) + ' km/h' +
        (c.profile ? ', ' + c.profile + ' profile' : '') + (c.ts ? ', ' + ago(Date.parse(c.ts)) : ''));
    }
    for (const [id, node] of carNodes) {
      if (!seen.has(id)) {
        node.g.remove();
        carNodes.delete(id);
      }
    }
    renderSummary();
  }

  function renderLegend() {
    const counts = {};
    for (const s of stations) {
      const c = s.company || s.id.split('-')[0];
      counts[c] = (counts[c] || 0) + 1;
    }
    companiesLegend.replaceChildren(...Object.keys(counts).sort().map((c) => el('li', { dataset: { company: c } },
      companyChip(c, store.names[c]),
      el('span', { class: 'muted', text: plural(counts[c], 'station', 'stations') + (c !== store.company && peers[c] === 'down' ? ' · unreachable' : '') }))));
  }

  function renderSummary() {
    const byStatus = {};
    for (const s of stations) {
      const st = stationState(s);
      const key = st.ownerDown ? 'unreachable' : st.status;
      byStatus[key] = (byStatus[key] || 0) + 1;
    }
    const parts = Object.entries(byStatus).map(([k, n]) => n + ' ' + k);
    setText(summary, plural(stations.length, 'station', 'stations') + (parts.length ? ' (' + parts.join(', ') + ')' : '') +
      (store.operator ? ' · ' + plural(cars.length, 'car', 'cars') + ' reporting' : ' · cars: operator only'));
  }

  function applyZoom(which) {
    zoom = which;
    const views = computeViews();
    setView(views[which]);
    zoomRegion.setAttribute('aria-pressed', String(which === 'region'));
    zoomStations.setAttribute('aria-pressed', String(which === 'stations'));
    draw();
  }

  zoomRegion.addEventListener('click', () => applyZoom('region'));
  zoomStations.addEventListener('click', () => applyZoom('stations'));
  showRoads.addEventListener('change', draw);
  showNames.addEventListener('change', draw);
  showCars.addEventListener('change', () => carLayer && carLayer.classList.toggle('hidden', !showCars.checked));

  let resizeTimer = null;
  const ro = 'ResizeObserver' in window ? new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (!proj) return;
      setView(computeViews()[zoom]);
      draw();
    }, 120);
  }) : null;
  if (ro) ro.observe(svgEl);

  let first = true;
  async function refresh() {
    const tasks = [loadNetwork(true), first ? getJSON('/network/map').catch(() => null) : Promise.resolve(netMap)];
    if (!store.snapshot || store.liveState !== 'live') {
      tasks.push(getJSON('/federation/peers').catch(() => null), store.operator ? getJSON('/cars').catch(() => null) : null);
    }
    try {
      const [net, m, peersR, carsR] = await Promise.all(tasks);
      stations = Object.values(net);
      netMap = m;
      if (peersR) peers = Object.fromEntries((peersR.items || []).map((p) => [p.company, p.status]));
      if (carsR) cars = carsR.items || [];
      if (!store.operator) cars = [];
      carsGate.hidden = store.operator;
      for (const s of stations) if (s.owner_status && !(s.company in peers) && s.company !== store.company) peers[s.company] = s.owner_status;
      ctx.ok('Map');
    } catch (e) {
      ctx.error('Map', e);
      return;
    }
    if (first) {
      first = false;
      const views = computeViews();
      setView(views[zoom]);
      zoomRegion.setAttribute('aria-pressed', String(zoom === 'region'));
      zoomStations.setAttribute('aria-pressed', String(zoom === 'stations'));
    }
    draw();
  }

  return {
    title: 'Map',
    refresh,
    operator(on) {
      carsGate.hidden = on;
      if (!on) {
        cars = [];
        drawCars();
      } else if (store.snapshot) {
        cars = snapshotCars(store.snapshot);
        drawCars();
      }
    },
    snapshot({ snap, prev }) {
      const c = changed(snap, prev);
      if (c.cars && store.operator) {
        cars = snapshotCars(snap);
        drawCars();
      }
      let redraw = false;
      if (c.peers) {
        const next = Object.fromEntries(snapshotPeers(snap).map((p) => [p.company, p.status]));
        redraw = JSON.stringify(next) !== JSON.stringify(peers);
        peers = next;
      }
      if (c.stations) {
        own = snapshotStations(snap);
        redraw = true;
      }
      if (redraw && proj) draw();
    },
    unmount() {
      if (ro) ro.disconnect();
      clearTimeout(resizeTimer);
    },
  };
}
