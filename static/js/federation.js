/*
 * Federation view: the "manager" that observes and never decides. One card
 * per company (this one first): up or down with its last heartbeat as seen
 * from here, its stations, its in-doubt count and its in-flight distributed
 * transactions; then the recent transactions this company coordinated. A peer
 * that stops answering turns red at the next snapshot (heartbeats every 2 s).
 */
import {
  el, setText, getJSON, fmt, ago, dayTime, timeEl, plural, shortId, capitalize, store, pill, panel, companyChip,
  companyColor, keepFocus, loadNetwork, snapshotPeers, changed, emptyState,
} from './core.js';

const OVERVIEW_EVERY_MS = 5000;

export function federationPage(root, params, query, ctx) {
  root.append(el('div', { class: 'page-head' },
    el('div', {}, el('h1', { text: 'Federation' }),
      el('p', { class: 'lede', text: 'Every company as this server sees it: health from its heartbeats, its stations, and its distributed transactions in flight. This view observes; it never decides.' }))));
  const grid = el('div', { class: 'company-grid', id: 'company-grid' });
  const announcer = el('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  root.append(announcer, grid);
  const announced = {};

  const txP = panel('Transactions coordinated here');
  const txSummary = el('p', { class: 'summary' });
  txP.head.append(txSummary);
  const txBody = el('tbody');
  txP.body.append(el('div', { class: 'table-wrap' }, el('table', { class: 'table', id: 'tx-table' },
    el('caption', { class: 'visually-hidden', text: 'Latest distributed transactions coordinated by this company' }),
    el('thead', {}, el('tr', {}, ['Trip', 'Phase', 'Decision', 'Participants', 'Updated', 'Transaction id'].map((h) => el('th', { scope: 'col', text: h })))),
    txBody)));
  root.append(txP.section);

  const cards = new Map(); // company -> {card, ...parts}
  let overview = null;     // /federation/overview items by company
  let live = {};           // company -> {status, last_seen, latency_ms} from the snapshot
  let network = {};
  let timer = null;
  let tick = null;

  function card(company) {
    let c = cards.get(company);
    if (c) return c;
    const statusText = el('span', { class: 'co-status-text' });
    const beat = el('span', { class: 'co-beat' });
    const name = el('h2', { class: 'co-name' });
    const facts = el('dl', { class: 'co-facts' });
    const stationsList = el('ul', { class: 'co-stations' });
    const txList = el('div', { class: 'co-tx' });
    const node = el('article', { class: 'company-card', dataset: { company }, 'aria-labelledby': 'co-' + company },
      el('header', { class: 'co-head' },
        el('span', { class: 'co-light', 'aria-hidden': 'true' }),
        el('div', { class: 'co-title' }, name, el('p', { class: 'co-sub' }, statusText, ' · ', beat))),
      facts,
      el('h3', { class: 'co-h', text: 'Stations' }), stationsList,
      el('h3', { class: 'co-h', text: 'In-flight transactions' }), txList);
    name.id = 'co-' + company;
    node.style.setProperty('--c', companyColor(company));
    c = { node, statusText, beat, name, facts, stationsList, txList };
    cards.set(company, c);
    return c;
  }

  function statusOf(company, item) {
    if (company === store.company) return { status: 'up', last_seen: null, self: true };
    const l = live[company];
    if (l) return l;
    return item ? { status: item.status, last_seen: item.last_seen, latency_ms: item.latency_ms } : { status: 'unknown' };
  }

  function renderStatus(company) {
    const c = card(company);
    const item = overview && overview[company];
    const st = statusOf(company, item);
    const status = st.status === 'up' ? 'up' : st.status === 'down' ? 'down' : 'unknown';
    if (announced[company] && announced[company] !== status && !st.self) {
      setText(announcer, ((item && item.name) || store.names[company] || 'Company ' + company) + ' is ' + (status === 'up' ? 'up again' : status) + '.');
    }
    announced[company] = status;
    c.node.dataset.status = status;
    c.node.classList.toggle('is-down', status === 'down');
    c.node.classList.toggle('is-up', status === 'up');
    setText(c.statusText, st.self ? 'This server' : status === 'up' ? 'Up' : status === 'down' ? 'Down' : 'Unknown');
    c.beat.dataset.seen = st.last_seen ? String(Date.parse(st.last_seen)) : '';
    setText(c.beat, st.self ? 'answers this page' : st.last_seen ? 'last heartbeat ' + ago(Date.parse(st.last_seen)) : 'no heartbeat yet');
    const name = (item && item.name) || store.names[company] || 'Company ' + company;
    setText(c.name, name + ' (' + company + ')');
    const rows = [];
    const add = (k, v) => rows.push(el('div', {}, el('dt', { text: k }), el('dd', { text: v })));
    if (!st.self) add('Latency', st.latency_ms !== undefined && st.latency_ms !== null && status === 'up' ? fmt.num.format(st.latency_ms) + ' ms' : '—');
    add('In doubt', item && item.in_doubt !== undefined ? String(item.in_doubt) : '—');
    add('Prepared here', item && item.prepared_here ? String(item.prepared_here.length) : '—');
    c.facts.replaceChildren(...rows);
  }

  function renderStations(company) {
    const c = card(company);
    const list = Object.values(network).filter((s) => s.company === company).sort((a, b) => a.id.localeCompare(b.id));
    if (!list.length) {
      c.stationsList.replaceChildren(el('li', { class: 'muted', text: 'No station known.' }));
      return;
    }
    c.stationsList.replaceChildren(...list.map((s) => el('li', { dataset: { station: s.id } },
      el('a', { href: '#/station/' + encodeURIComponent(s.id), text: s.name }),
      el('span', { class: 'muted small', text: ' ' + s.city + ' · ' + s.chargers + '\u00a0ch.' }),
      s.status !== 'active' ? [' ', pill(s.status)] : null)));
  }

  function renderTx(company) {
    const c = card(company);
    const item = overview && overview[company];
    if (!item) {
      c.txList.replaceChildren(el('p', { class: 'muted small', text: 'Loading…' }));
      return;
    }
    if (!item.reachable && !item.self) {
      c.txList.replaceChildren(el('p', { class: 'muted small', text: 'Unknown while the company is unreachable.' }));
      return;
    }
    const inflight = item.in_flight || [];
    const prepared = item.prepared_here || [];
    const parts = [];
    if (!inflight.length && !prepared.length) parts.push(el('p', { class: 'muted small', text: 'None: nothing is being decided.' }));
    if (inflight.length) {
      parts.push(el('ul', { class: 'tx-list' }, inflight.map((t) => el('li', {},
        el('span', { class: 'mono', text: shortId(t.trip_id) }), ' ', pill(t.phase),
        ' ', (t.participants || []).map((p) => companyChip(p)), ' ', el('span', { class: 'muted small', text: ago(Date.parse(t.updated_at)) })))));
    }
    if (prepared.length) {
      parts.push(el('p', { class: 'small' }, plural(prepared.length, 'transaction', 'transactions') + ' prepared here, waiting for their coordinator:'),
        el('ul', { class: 'tx-list' }, prepared.map((p) => el('li', { class: 'mono small wrap', text: p.gid + ' · ' + ago(Date.parse(p.prepared)) }))));
    }
    c.txList.replaceChildren(...parts);
  }

  function layout() {
    const ids = new Set([store.company].concat(Object.keys(live), overview ? Object.keys(overview) : [],
      Object.values(network).map((s) => s.company)).filter(Boolean));
    const order = [...ids].sort((a, b) => (a === store.company ? -1 : b === store.company ? 1 : a.localeCompare(b)));
    keepFocus(grid, () => {
      for (const id of order) {
        renderStatus(id);
        renderStations(id);
        renderTx(id);
      }
    });
    keepFocus(grid, () => grid.replaceChildren(...order.map((id) => card(id).node)));
  }

  function renderTxTable(tx) {
    const recent = tx.recent || [];
    txBody.replaceChildren(...(recent.length ? recent.map((t) => el('tr', {},
      el('td', { 'data-label': 'Trip' }, el('a', { href: '#/trip/' + t.trip_id, class: 'mono', text: shortId(t.trip_id) })),
      el('td', { 'data-label': 'Phase' }, pill(t.phase)),
      el('td', { 'data-label': 'Decision' }, t.decision ? pill(t.decision) : el('span', { class: 'muted', text: 'none yet' })),
      el('td', { 'data-label': 'Participants' }, (t.participants || []).map((p) => companyChip(p))),
      el('td', { 'data-label': 'Updated' }, timeEl(t.updated_at, capitalize(dayTime(Date.parse(t.updated_at))))),
      el('td', { 'data-label': 'Transaction id', class: 'mono small wrap', text: t.gid })))
      : [el('tr', { class: 'empty' }, el('td', { colspan: '6', text: 'No distributed transaction coordinated here yet.' }))]));
    setText(txSummary, plural((tx.in_flight || []).length, 'in flight', 'in flight') + ' · latest ' + recent.length);
  }

  async function refresh() {
    const [ov, net, tx] = await Promise.allSettled([getJSON('/federation/overview', { timeout: 10000 }), loadNetwork(true), getJSON('/federation/transactions')]);
    if (ov.status === 'fulfilled') {
      overview = {};
      for (const item of ov.value.items || []) {
        overview[item.company] = item;
        if (item.name) store.names[item.company] = item.name;
        // Without a live snapshot, the overview's health is the freshest there is.
        if (!item.self && (store.liveState !== 'live' || !live[item.company])) {
          live[item.company] = { status: item.status, last_seen: item.last_seen, latency_ms: item.latency_ms };
        }
      }
      ctx.ok('Federation');
    } else ctx.error('Federation', ov.reason);
    if (net.status === 'fulfilled') network = net.value;
    if (tx.status === 'fulfilled') renderTxTable(tx.value);
    layout();
    if (!grid.children.length) grid.append(emptyState('No company known yet.'));
  }

  // The overview asks every live peer: every few seconds while this page is open, live or not.
  timer = setInterval(() => { if (store.liveState === 'live') refresh(); }, OVERVIEW_EVERY_MS);
  tick = setInterval(() => {
    grid.querySelectorAll('.co-beat[data-seen]').forEach((n) => {
      if (n.dataset.seen) setText(n, 'last heartbeat ' + ago(Number(n.dataset.seen)));
    });
  }, 1000);

  return {
    title: 'Federation',
    refresh,
    snapshot({ snap, prev }) {
      const c = changed(snap, prev);
      if (c.peers) {
        const before = JSON.stringify(Object.keys(live).map((k) => [k, live[k].status]));
        live = Object.fromEntries(snapshotPeers(snap).map((p) => [p.company, p]));
        for (const id of Object.keys(live)) renderStatus(id);
        const after = JSON.stringify(Object.keys(live).map((k) => [k, live[k].status]));
        if (prev && before !== after) refresh(); // someone came back or left: their transactions too
      }
      if (prev && (c.in_flight || c.in_doubt || c.trips)) refresh();
    },
    unmount() {
      clearInterval(timer);
      clearInterval(tick);
    },
  };
}
