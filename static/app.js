/*
 * Overview dashboard: company health, station cards (occupancy now and a
 * 24-hour availability strip) and the next reservations, refreshed every 5 s
 * from the REST API on the same origin. Plain JS, no dependencies. Every string
 * from the API reaches the page through textContent or setAttribute only.
 */
'use strict';

(function () {
  const API = '/api/v1';
  const REFRESH_MS = 5000;
  const TIMEOUT_MS = 4500;
  const MINUTE_MS = 60 * 1000;
  const DAY_MS = 24 * 60 * MINUTE_MS;
  const RESERVATION_LIMIT = 50;

  const $ = (id) => document.getElementById(id);
  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
  const hourFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric' });
  const clockFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const priceFmt = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'BRL' });
  const numberFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

  let timer = null;
  let running = false;
  let paused = false;
  let lastSuccess = null;

  // ------------------------------------------------------------ helpers

  /* Creates an element; text (optional) goes in as textContent, never as HTML. */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /* Changes text only when it differs, so live regions announce real changes only. */
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  /* RFC 3339 in UTC, whole seconds: what the API expects. */
  function iso(ms) {
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  function localDay(d) {
    return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  }

  /* "14:05", "tomorrow 01:10" or "Tue 12 Nov 09:00", relative to now. */
  function dayAndTime(d, now) {
    const days = Math.round((localDay(d) - localDay(now)) / DAY_MS);
    const time = timeFmt.format(d);
    if (days === 0) return time;
    if (days === 1) return 'tomorrow ' + time;
    if (days === -1) return 'yesterday ' + time;
    return d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' }) + ' ' + time;
  }

  /* A <time> with the local display and the UTC value in its title. */
  function timeEl(value, text) {
    const t = el('time', null, text);
    t.setAttribute('datetime', value);
    t.title = value + ' (UTC)';
    return t;
  }

  function plural(n, one, many) {
    return n + ' ' + (n === 1 ? one : many);
  }

  /* GET a JSON document; throws an Error with .network or .status and .body. */
  async function getJSON(path) {
    const ctrl = new AbortController();
    const stop = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
    let res;
    try {
      res = await fetch(API + path, { signal: ctrl.signal, cache: 'no-store', headers: { Accept: 'application/json' } });
    } catch (e) {
      const err = new Error(e.name === 'AbortError' ? 'no answer within ' + TIMEOUT_MS / 1000 + '\u00a0s' : 'network error');
      err.network = true;
      throw err;
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
      const err = new Error(msg);
      err.status = res.status;
      err.body = body;
      throw err;
    }
    if (body === null) {
      const err = new Error('the answer was not JSON');
      err.status = res.status;
      throw err;
    }
    return body;
  }

  // ------------------------------------------------------------ health

  const BADGE_CLASS = { ok: 'badge-ok', down: 'badge-down', disabled: 'badge-neutral' };

  function setBadge(node, value) {
    const text = value || 'unknown';
    const cls = 'badge ' + (BADGE_CLASS[text] || 'badge-unknown');
    if (node.className !== cls) node.className = cls;
    setText(node, text);
  }

  function renderHealth(health, reachable) {
    const api = $('health-api');
    const apiClass = 'badge ' + (reachable ? 'badge-ok' : 'badge-down');
    if (api.className !== apiClass) api.className = apiClass;
    setText(api, reachable ? 'reachable' : 'unreachable');
    setBadge($('health-database'), health ? health.database : null);
    setBadge($('health-mqtt'), health ? health.mqtt : null);
    if (health) {
      const name = health.name || 'EV charging dashboard';
      setText($('company-name'), name);
      setText($('company-id'), health.company || '–');
      setText($('version'), health.version || '–');
      document.title = name + ' · EV charging dashboard';
    }
  }

  // ------------------------------------------------------------ stations

  /* Class of a strip segment by how many chargers are free. */
  function level(free, chargers) {
    if (free <= 0) return 'level-none';
    if (free >= chargers) return 'level-all';
    if (free === 1) return 'level-one';
    return 'level-some';
  }

  const LEVEL_TEXT = { 'level-all': 'all free', 'level-some': 'some booked', 'level-one': 'one free', 'level-none': 'fully booked' };

  function minFree(avail) {
    let min = avail.chargers;
    for (const s of avail.segments) min = Math.min(min, s.free);
    return min;
  }

  function occupancy(station, availNow) {
    const box = el('div', 'occupancy');
    const head = el('p', 'occ-label');
    head.append(el('span', null, 'In use now'));
    if (!availNow) {
      head.append(el('strong', 'muted', 'unknown'));
      box.append(head);
      return box;
    }
    const total = availNow.chargers;
    const busy = Math.max(0, total - minFree(availNow));
    head.append(el('strong', null, busy + ' of ' + plural(total, 'charger', 'chargers')));
    const bar = el('div', 'bar');
    bar.setAttribute('aria-hidden', 'true');
    const fill = el('span', busy >= total && total > 0 ? 'bar-fill full' : 'bar-fill');
    fill.style.width = (total > 0 ? (100 * busy) / total : 0) + '%';
    bar.append(fill);
    box.append(head, bar);
    return box;
  }

  /* The 24-hour strip, its hour ticks and a one-line summary. */
  function strip(avail, from, to, now) {
    const box = el('div', 'strip-block');
    if (!avail) {
      box.append(el('p', 'strip-note muted', 'Availability for the next 24 h could not be loaded.'));
      return box;
    }
    const span = to - from;
    const bar = el('div', 'strip');
    let worst = null;
    for (const s of avail.segments) {
      const start = Math.max(Date.parse(s.start), from);
      const end = Math.min(Date.parse(s.end), to);
      if (!(end > start)) continue;
      const cls = level(s.free, avail.chargers);
      const seg = el('span', 'seg ' + cls);
      seg.style.left = (100 * (start - from)) / span + '%';
      seg.style.width = (100 * (end - start)) / span + '%';
      seg.title = timeFmt.format(new Date(start)) + '–' + timeFmt.format(new Date(end)) + ': ' +
        s.free + ' of ' + avail.chargers + ' free (' + LEVEL_TEXT[cls] + ')';
      bar.append(seg);
      if (worst === null || s.free < worst.free) worst = { free: s.free, start: start, end: end };
    }

    let summary;
    if (worst === null || worst.free >= avail.chargers) {
      summary = 'All ' + plural(avail.chargers, 'charger', 'chargers') + ' free for the next 24\u00a0h.';
    } else {
      const when = dayAndTime(new Date(worst.start), now) + '–' + timeFmt.format(new Date(worst.end));
      summary = worst.free === 0
        ? 'Fully booked ' + when + '.'
        : 'Fewest free: ' + worst.free + ' of ' + avail.chargers + ', ' + when + '.';
    }
    bar.setAttribute('role', 'img');
    bar.setAttribute('aria-label', 'Free chargers over the next 24 hours. ' + summary);

    box.append(bar, ticks(bar, from, to), el('p', 'strip-note', summary));
    return box;
  }

  /* Labels under a strip: "now", then every local 00:00, 06:00, 12:00 and 18:00 (midnight as the weekday). */
  function ticks(bar, from, to) {
    const row = el('div', 'ticks');
    row.setAttribute('aria-hidden', 'true');
    row.append(el('span', 'tick-now', 'now'));
    const t = new Date(from);
    t.setMinutes(0, 0, 0);
    do t.setHours(t.getHours() + 1); while (t.getHours() % 6 !== 0);
    for (; t.getTime() < to; t.setHours(t.getHours() + 6)) {
      const pct = (100 * (t.getTime() - from)) / (to - from);
      const line = el('span', t.getHours() === 0 ? 'gridline midnight' : 'gridline');
      line.style.left = pct + '%';
      bar.append(line);
      if (pct < 12 || pct > 93) continue; // would collide with "now" or the edge
      const label = el('span', 'tick', t.getHours() === 0
        ? t.toLocaleDateString(undefined, { weekday: 'short' })
        : hourFmt.format(t));
      label.style.left = pct + '%';
      row.append(label);
    }
    return row;
  }

  const STATUS_TEXT = { active: 'Active', maintenance: 'Maintenance', offline: 'Offline' };

  function stationCard(st, availNow, availDay, from, to, now) {
    const card = el('li', 'card status-' + (STATUS_TEXT[st.status] ? st.status : 'unknown'));
    const head = el('div', 'card-head');
    head.append(el('h3', null, st.name));
    head.append(el('span', 'pill pill-' + (STATUS_TEXT[st.status] ? st.status : 'unknown'), STATUS_TEXT[st.status] || st.status));
    card.append(head);
    card.append(el('p', 'meta', st.city + ' · ' + st.id));

    const facts = el('dl', 'facts');
    const fact = (label, value) => {
      const d = el('div');
      d.append(el('dt', null, label), el('dd', null, value));
      facts.append(d);
    };
    fact('Power', numberFmt.format(st.power_kw) + ' kW');
    fact('Price', priceFmt.format(st.price_per_kwh) + '/kWh');
    fact('Chargers', String(st.chargers));
    card.append(facts);

    if (st.status !== 'active') card.append(el('p', 'note', 'Not taking new reservations.'));
    card.append(occupancy(st, availNow), strip(availDay, from, to, now));
    return card;
  }

  function renderStations(stations, nowResults, dayResults, from, to, now) {
    const list = $('stations');
    const cards = stations.map((st, i) => stationCard(
      st,
      nowResults[i].status === 'fulfilled' ? nowResults[i].value : null,
      dayResults[i].status === 'fulfilled' ? dayResults[i].value : null,
      from, to, now));
    list.replaceChildren(...cards);

    let chargers = 0, busy = 0, known = true;
    stations.forEach((st, i) => {
      chargers += st.chargers;
      if (nowResults[i].status === 'fulfilled') busy += Math.max(0, nowResults[i].value.chargers - minFree(nowResults[i].value));
      else known = false;
    });
    const active = stations.filter((s) => s.status === 'active').length;
    setText($('stations-summary'), stations.length === 0
      ? 'This company has no stations yet.'
      : plural(stations.length, 'station', 'stations') + ' (' + active + ' active) · ' +
        plural(chargers, 'charger', 'chargers') + (known ? ' · ' + busy + ' in use now' : ''));
  }

  // ------------------------------------------------------------ reservations

  function renderReservations(page, stationNames, now) {
    const items = page.items.slice().sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
    const rows = items.map((r) => {
      const tr = el('tr', 'res-' + r.status);
      const start = new Date(r.start);
      const end = new Date(r.end);
      const cell = (label, ...children) => {
        const td = el('td');
        td.setAttribute('data-label', label);
        td.append(...children);
        tr.append(td);
        return td;
      };
      const cap = (text) => text.charAt(0).toUpperCase() + text.slice(1);
      const startCell = cell('Start', timeEl(r.start, cap(dayAndTime(start, now))));
      if (start <= now && end > now) startCell.append(' ', el('span', 'tag', 'in progress'));
      cell('End', timeEl(r.end, localDay(end) === localDay(start) ? timeFmt.format(end) : cap(dayAndTime(end, now))));
      const station = cell('Station', el('span', null, stationNames[r.station_id] || r.station_id));
      if (stationNames[r.station_id]) station.append(el('span', 'sub', r.station_id));
      cell('Charger', '#' + r.charger);
      const car = cell('Car', el('span', 'mono', r.car_id));
      if (r.trip_id) {
        const trip = el('span', 'tag', 'trip');
        trip.title = 'Part of trip ' + r.trip_id;
        car.append(' ', trip);
      }
      cell('Status', el('span', 'pill pill-' + r.status, r.status));
      return tr;
    });
    if (rows.length === 0) {
      const tr = el('tr', 'empty');
      const td = el('td', null, 'No reservations in the next 24 hours.');
      td.colSpan = 6;
      tr.append(td);
      rows.push(tr);
    }
    $('reservations').replaceChildren(...rows);
    const total = typeof page.total === 'number' ? page.total : items.length;
    setText($('reservations-summary'), total > items.length
      ? 'Next 24\u00a0h · first ' + items.length + ' of ' + total + ' by start · times in ' + zoneName()
      : 'Next 24\u00a0h · ' + plural(total, 'reservation', 'reservations') + ' · times in ' + zoneName());
  }

  function zoneName() {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
  }

  // ------------------------------------------------------------ errors

  function showError(errors) {
    const banner = $('error-banner');
    if (errors.length === 0) {
      banner.hidden = true;
      return;
    }
    const offline = errors.some((e) => e.network);
    setText($('error-title'), offline ? 'Cannot reach the API.' : 'The API answered with an error.');
    const detail = offline
      ? 'The server at ' + location.host + ' did not answer (' + errors.find((e) => e.network).message + ').'
      : errors.map((e) => e.what + ': ' + e.message + (e.status ? ' (HTTP ' + e.status + ')' : '')).join('; ') + '.';
    const since = lastSuccess ? ' Showing data from ' + clockFmt.format(lastSuccess) + '.' : '';
    setText($('error-detail'), detail + since + (paused ? '' : ' Retrying every ' + REFRESH_MS / 1000 + '\u00a0s.'));
    banner.hidden = false;
  }

  function tag(what, promiseResult) {
    const e = promiseResult.reason;
    e.what = what;
    return e;
  }

  // ------------------------------------------------------------ refresh loop

  async function refresh() {
    if (running) return;
    running = true;
    clearTimeout(timer);
    try {
      const nowMs = Math.floor(Date.now() / 1000) * 1000;
      const now = new Date(nowMs);
      const from = iso(nowMs), minute = iso(nowMs + MINUTE_MS), day = iso(nowMs + DAY_MS);

      const [health, stations, reservations] = await Promise.allSettled([
        getJSON('/health'),
        getJSON('/stations'),
        getJSON('/reservations?from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(day) +
          '&limit=' + RESERVATION_LIMIT),
      ]);

      const errors = [];
      let healthBody = null;
      if (health.status === 'fulfilled') healthBody = health.value;
      else if (health.reason.body && health.reason.body.database) healthBody = health.reason.body; // 503: degraded
      const reachable = [health, stations, reservations].some((r) => r.status === 'fulfilled' || !r.reason.network);
      renderHealth(healthBody, reachable);
      if (health.status === 'rejected' && !healthBody) errors.push(tag('Health', health));

      let names = {};
      if (stations.status === 'fulfilled') {
        const list = stations.value.items || [];
        list.forEach((s) => { names[s.id] = s.name; });
        const avail = (st, to) => getJSON('/stations/' + encodeURIComponent(st.id) + '/availability?from=' +
          encodeURIComponent(from) + '&to=' + encodeURIComponent(to));
        const [nowResults, dayResults] = await Promise.all([
          Promise.allSettled(list.map((st) => avail(st, minute))),
          Promise.allSettled(list.map((st) => avail(st, day))),
        ]);
        renderStations(list, nowResults, dayResults, nowMs, nowMs + DAY_MS, now);
      } else {
        errors.push(tag('Stations', stations));
        if (!lastSuccess) setText($('stations-summary'), 'Stations could not be loaded.');
      }

      if (reservations.status === 'fulfilled') {
        renderReservations(reservations.value, names, now);
      } else {
        errors.push(tag('Reservations', reservations));
        if (!lastSuccess) setText($('reservations-summary'), 'Reservations could not be loaded.');
      }

      if (stations.status === 'fulfilled' || reservations.status === 'fulfilled') {
        lastSuccess = new Date();
        const t = $('last-updated');
        t.setAttribute('datetime', lastSuccess.toISOString());
        t.title = iso(lastSuccess.getTime()) + ' (UTC)';
        setText(t, clockFmt.format(lastSuccess));
      }
      showError(errors);
    } catch (e) {
      // A bug in rendering must not stop the loop; say so instead of failing silently.
      e.what = 'Dashboard';
      showError([e]);
    } finally {
      running = false;
      schedule();
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (!paused) timer = setTimeout(refresh, REFRESH_MS);
  }

  function setPaused(value) {
    paused = value;
    $('pause').setAttribute('aria-pressed', String(paused));
    setText($('refresh-note'), paused ? '· updates paused' : '· refreshes every ' + REFRESH_MS / 1000 + '\u00a0s');
    if (paused) clearTimeout(timer);
    else refresh();
  }

  $('refresh-now').addEventListener('click', () => refresh());
  $('pause').addEventListener('click', () => setPaused(!paused));
  refresh();
})();
