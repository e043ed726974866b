// recd's admin dashboard. Plain script, no dependencies. Every figure comes
// from the admin JSON endpoints (nodes/dashboard.hpp) with the admin token as
// a bearer header; data is only ever rendered as text (textContent), never
// as markup.
'use strict';

const TOKEN_KEY = 'recd-admin-token';
const REFRESH_MS = 2500;
// /admin/stats counts whole tables in PostgreSQL: every 12th refresh (30 s) only.
const STATS_EVERY = 12;
let ticks = 0;
let lastStats = null;
const COLORS = ['#0969da', '#bf3989', '#1a7f37', '#9a6700', '#8250df', '#cf222e', '#1b7c83', '#6e7781'];
let timer = null;
let ticking = false;

const $ = (id) => document.getElementById(id);

// el('td', {class: 'num'}, 'text', childNode, ...): strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else if (k === 'style') node.style.cssText = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function fmt(x, digits = 1) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (Math.abs(x) >= 1e6) return (x / 1e6).toFixed(1) + 'M';
  if (Math.abs(x) >= 1e4) return (x / 1e3).toFixed(1) + 'k';
  return Number.isInteger(x) ? String(x) : x.toFixed(digits);
}
const pct = (x) => (x === null || x === undefined ? '–' : (100 * x).toFixed(1) + ' %');
function duration(s) {
  if (s === null || s === undefined) return '–';
  if (s < 60) return s.toFixed(1) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
  return (s / 3600).toFixed(1) + ' h';
}

// "2026-11-27T05:06:19Z" or PostgreSQL's "2026-11-27 05:06:19.123+00" ->
// "2026-11-27 05:06:19 UTC" / "... +00": to the second, the zone kept.
function when(text) {
  const m = /^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.\d+)?(.*)$/.exec(text || '');
  if (!m) return text || '';
  return m[1] + ' ' + m[2] + (m[3] === 'Z' ? ' UTC' : m[3] ? ' ' + m[3] : '');
}

function tile(label, value, id) {
  const attrs = { class: 'tile' };
  if (id) attrs['data-figure'] = id;
  return el('div', attrs, el('div', { class: 'value' }, value), el('div', { class: 'label' }, label));
}

// --- talking to recd ---------------------------------------------------------

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { Authorization: 'Bearer ' + token };
  const res = await fetch(path, { ...options, headers, cache: 'no-store', credentials: 'omit' });
  if (res.status === 401 || res.status === 403) throw new Unauthorized();
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  return { status: res.status, body };
}

// --- panels ------------------------------------------------------------------

function renderCluster(map, stats) {
  const alive = map.shards.filter((s) => s.alive).length;
  const health = $('health');
  health.textContent = (map.ready ? 'ready' : 'not ready') + ' · epoch ' + map.epoch + (map.moving ? ' · moving' : '');
  health.className = 'pill ' + (map.ready && !map.moving ? 'ok' : 'bad');
  const tiles = [
    tile('epoch', fmt(map.epoch), 'epoch'),
    tile('partitions', fmt(map.partitions), 'partitions'),
    tile('shards alive', alive + ' / ' + map.shards.length, 'shards'),
    tile('state', map.moving ? 'moving partitions' : (map.ready ? 'ready' : 'loading'), 'state'),
  ];
  if (stats) {
    tiles.push(tile('users', fmt(stats.user_count), 'users'), tile('items', fmt(stats.item_count), 'items'),
      tile('behaviors in 24 h', fmt(stats.behavior_24h), 'behavior_24h'),
      tile('item pairs', fmt(stats.item_sim_pairs), 'item_pairs'), tile('user pairs', fmt(stats.user_sim_pairs), 'user_pairs'));
  }
  $('cluster-tiles').replaceChildren(...tiles);

  const owner = new Array(map.partitions).fill(-1);
  map.shards.forEach((s, i) => s.partitions.forEach((p) => { owner[p] = i; }));
  $('partition-map').replaceChildren(...owner.map((o, p) => el('span', {
    title: 'partition ' + p + ': ' + (o < 0 ? 'unassigned' : map.shards[o].name),
    style: 'background:' + (o < 0 ? '#d0d7de' : COLORS[o % COLORS.length]),
  }, String(p))));
  $('shard-table').tBodies[0].replaceChildren(...map.shards.map((s, i) => el('tr', {},
    el('td', {}, el('span', { class: 'pill', style: 'background:' + COLORS[i % COLORS.length] + ';color:#fff' }, s.name)),
    el('td', {}, s.address || 'in process'),
    el('td', { class: s.alive ? 'status-published' : 'status-failed' }, s.alive ? 'alive' : 'down'),
    el('td', { class: 'num' }, String(s.partitions.length)))));
}

function renderJobs(jobs) {
  const runs = jobs.runs;
  const rows = runs.filter((r) => r.status === 'running').map((r) => {
    const live = (jobs.running || []).find((x) => x.run_id === r.run_id);
    const known = live && live.total > 0;
    const share = known ? Math.min(1, live.done / live.total) : 0;
    const bar = el('div', { class: 'bar' + (known ? '' : ' indeterminate'), role: 'progressbar' },
      el('div', { style: known ? 'width:' + (100 * share).toFixed(1) + '%' : '' }));
    const what = known
      ? ' ' + (100 * share).toFixed(0) + ' % (' + fmt(live.done) + ' of ' + fmt(live.total) + '), ' + fmt(live.rows) + ' rows'
      : ' (no progress reports: started elsewhere)';
    return el('div', { class: 'progress-row' }, r.kind + ' run ' + r.run_id + ' · ' + duration(r.seconds) + ' ', bar, what);
  });
  $('job-progress').replaceChildren(...rows);
  $('runs-table').tBodies[0].replaceChildren(...runs.map((r) => el('tr', { 'data-run': String(r.run_id) },
    el('td', { class: 'num' }, String(r.run_id)), el('td', {}, r.kind),
    el('td', { class: 'status-' + r.status }, r.status),
    el('td', {}, when(r.started_at)),
    el('td', { class: 'num' }, duration(r.seconds)), el('td', { class: 'num', 'data-rows': String(r.rows) }, fmt(r.rows)),
    el('td', { class: 'error' }, r.error))));
  if (!runs.length)
    $('runs-table').tBodies[0].replaceChildren(el('tr', {}, el('td', { colspan: '7', class: 'muted' }, 'no job has run yet')));
}

// A line chart of `series` ([{name, color, values}]) over `times` (ms).
function lineChart(target, times, series, { max = null, unit = '' } = {}) {
  const W = 380, H = 150, L = 40, R = 8, T = 8, B = 18;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' });
  const values = series.flatMap((s) => s.values.filter((v) => v !== null));
  const top = max !== null ? max : Math.max(1e-9, ...values) * 1.1;
  const t0 = times.length ? times[0] : 0, t1 = times.length ? times[times.length - 1] : 1;
  const x = (t) => L + (t1 > t0 ? (t - t0) / (t1 - t0) : 1) * (W - L - R);
  const y = (v) => T + (1 - v / top) * (H - T - B);
  for (const f of [0, 0.5, 1]) {
    root.append(svg('line', { x1: L, x2: W - R, y1: y(top * f), y2: y(top * f), stroke: '#eaeef2' }));
    const label = svg('text', { x: L - 4, y: y(top * f) + 3, 'text-anchor': 'end' });
    label.textContent = fmt(top * f, top < 10 ? 2 : 0) + unit;
    root.append(label);
  }
  if (times.length) {
    const span = svg('text', { x: W - R, y: H - 4, 'text-anchor': 'end' });
    span.textContent = 'last ' + duration((t1 - t0) / 1000) + ' · now';
    root.append(span);
  } else {
    const empty = svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' });
    empty.textContent = 'the first point comes after one sampling period';
    root.append(empty);
  }
  for (const s of series) {
    let d = '';
    s.values.forEach((v, i) => {
      if (v === null) return;
      d += (d && s.values[i - 1] !== null ? 'L' : 'M') + x(times[i]).toFixed(1) + ',' + y(v).toFixed(1);
    });
    if (d) root.append(svg('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 1.5, 'data-series': s.name }));
    const lastIndex = s.values.length - 1;
    if (lastIndex >= 0 && s.values[lastIndex] !== null)
      root.append(svg('circle', { cx: x(times[lastIndex]), cy: y(s.values[lastIndex]), r: 2.5, fill: s.color }));
  }
  const legend = el('div', { class: 'legend' }, ...series.map((s) => el('span', { style: 'color:' + s.color }, '■ ' + s.name)));
  target.replaceChildren(root, legend);
}

function renderServing(h) {
  const pts = h.points;
  const last = pts.length ? pts[pts.length - 1] : null;
  const lat = h.totals.latency_ms.recommend;
  $('serving-note').textContent = '(this node; a point every ' + h.period_seconds + ' s, ' + pts.length + ' of ' + h.capacity + ' kept)';
  $('serving-tiles').replaceChildren(
    tile('recommendations / s', last ? fmt(last.recommend_per_s) : '–', 'rps'),
    tile('behaviors / s', last ? fmt(last.behavior_per_s) : '–', 'bps'),
    tile('p50 / p95 / p99 ms', last ? [last.p50_ms, last.p95_ms, last.p99_ms].map((v) => fmt(v, 2)).join(' / ') : '–', 'latency'),
    tile('cache hit ratio', last ? pct(last.cache_hit_ratio) : '–', 'cache'),
    tile('degraded share', last ? pct(last.degraded_share) : '–', 'degraded'),
    tile('recommendations since start', fmt(h.totals.recommend), 'total'),
    tile('p99 since start (ms)', fmt(lat.p99, 2), 'p99_total'));
  const times = pts.map((p) => p.t);
  lineChart($('chart-rps'), times, [
    { name: 'recommend', color: COLORS[0], values: pts.map((p) => p.recommend_per_s) },
    { name: 'behavior', color: COLORS[2], values: pts.map((p) => p.behavior_per_s) }]);
  lineChart($('chart-latency'), times, [
    { name: 'p50', color: COLORS[2], values: pts.map((p) => p.p50_ms) },
    { name: 'p95', color: COLORS[3], values: pts.map((p) => p.p95_ms) },
    { name: 'p99', color: COLORS[5], values: pts.map((p) => p.p99_ms) }], { unit: '' });
  lineChart($('chart-ratios'), times, [
    { name: 'cache hits', color: COLORS[0], values: pts.map((p) => p.cache_hit_ratio) },
    { name: 'degraded', color: COLORS[5], values: pts.map((p) => p.degraded_share) }], { max: 1 });
}

function renderQuality(q) {
  const body = $('quality-body');
  if (!q.report) {
    $('quality-note').textContent = '';
    body.replaceChildren(el('p', { class: 'muted' }, 'No eval report: ' + q.reason +
      '. Run `recd eval ... --json FILE` and set admin.eval_report = FILE.'));
    return;
  }
  const r = q.report;
  $('quality-note').textContent = '(' + q.source + ')';
  const parts = [el('p', {}, 'data: ' + r.dataset + ' · split: ' + r.split + ' · ' + fmt(r.test_users) +
    ' test users · ' + fmt(r.train_events) + ' train events · degraded answers: ' + fmt(r.degraded))];
  const models = r.models || [];
  const cutoffs = models.length && models[0].at ? Object.keys(models[0].at) : [];
  for (const k of cutoffs) {
    const metrics = Object.keys(models[0].at[k]).filter((m) => typeof models[0].at[k][m] === 'number');
    parts.push(el('h3', {}, 'at ' + k));
    parts.push(el('table', { 'data-cutoff': k },
      el('thead', {}, el('tr', {}, el('th', {}, 'model'), ...metrics.map((m) => el('th', { class: 'num' }, m)))),
      el('tbody', {}, ...models.map((m) => el('tr', {}, el('td', {}, m.name),
        ...metrics.map((name) => el('td', { class: 'num' }, fmt(m.at[k] ? m.at[k][name] : null, 4))))))));
    const share = models[0].at[k].route_share;
    if (share)
      parts.push(el('p', { class: 'muted' }, 'route share (' + models[0].name + '): ' +
        Object.entries(share).map(([route, v]) => route + ' ' + pct(v)).join(', ')));
  }
  body.replaceChildren(...parts);
}

function reasonText(reason) {
  switch (reason.route) {
    case 'item_cf': return 'item CF: because of item ' + reason.because_item + ' (' + fmt(reason.evidence, 3) + ')';
    case 'user_cf': return 'user CF: because of user ' + reason.because_user + ' (' + fmt(reason.evidence, 3) + ')';
    case 'vector': return 'vector: taste similarity ' + fmt(reason.similarity, 3);
    case 'popular': return 'popular';
    default: return reason.route;
  }
}

async function showSimilar(item) {
  $('similar-of').textContent = 'of item ' + item;
  const { status, body } = await api('/admin/similar/' + encodeURIComponent(item) + '?limit=10');
  if (status !== 200) {
    $('similar-results').replaceChildren(el('li', { class: 'error' }, (body && body.error) || 'HTTP ' + status));
    return;
  }
  if (body.item) $('similar-of').textContent = 'of item ' + body.item.item_id + ' "' + body.item.title + '"';
  $('similar-results').replaceChildren(...(body.neighbours.length ? body.neighbours.map((n) =>
    el('li', { 'data-item': String(n.item_id) }, n.title + ' (item ' + n.item_id + ') · score ' + fmt(n.score, 3)))
    : [el('li', { class: 'muted' }, 'no published neighbours for this item (run item_similarity)')]));
}

async function tryUser(event) {
  event.preventDefault();
  const user = $('try-user').value, limit = $('try-limit').value || '10';
  $('try-message').textContent = 'asking…';
  const { status, body } = await api('/admin/try/' + encodeURIComponent(user) + '?limit=' + encodeURIComponent(limit));
  if (status !== 200) {
    $('try-message').textContent = (body && body.error) || 'HTTP ' + status;
    $('try-results').replaceChildren();
    return;
  }
  $('try-message').textContent = body.count + ' items in ' + fmt(body.latency_ms, 2) + ' ms' + (body.degraded ? ' (degraded: a shard did not answer)' : '');
  $('try-results').replaceChildren(...body.recommendations.map((r) => el('li', { 'data-item': String(r.item_id) },
    el('button', { class: 'item', type: 'button', onclick: () => showSimilar(r.item_id) }, r.title + ' (item ' + r.item_id + ')'),
    ' · score ' + fmt(r.score, 3),
    el('div', { class: 'reasons' }, r.reasons.map(reasonText).join(' · ')))));
  if (body.recommendations.length) showSimilar(body.recommendations[0].item_id);
}

async function runJob(event) {
  event.preventDefault();
  const kind = $('job-kind').value;
  $('run-job').disabled = true;
  $('job-message').textContent = 'starting ' + kind + '…';
  try {
    const { status, body } = await api('/admin/jobs?kind=' + encodeURIComponent(kind), { method: 'POST' });
    if (status === 200 || status === 202)
      $('job-message').textContent = kind + ': ' + (body.finished ? 'finished' : 'started');
    else
      $('job-message').textContent = kind + ': ' + ((body && body.error) || 'HTTP ' + status);
  } finally {
    $('run-job').disabled = false;
    refresh();
  }
}

// --- refresh loop -----------------------------------------------------------

async function refresh() {
  if (ticking) return;
  ticking = true;
  try {
    const wantStats = ticks++ % STATS_EVERY === 0;
    const [map, stats, jobs, serving] = await Promise.all([
      api('/admin/cluster'), wantStats ? api('/admin/stats') : null, api('/admin/jobs'), api('/admin/serving')]);
    if (stats && stats.status === 200) lastStats = stats.body;
    if (map.status === 200) renderCluster(map.body, lastStats);
    if (jobs.status === 200) renderJobs(jobs.body);
    if (serving.status === 200 && serving.body.api) renderServing(serving.body);
    else $('serving-note').textContent = (serving.body && (serving.body.reason || serving.body.error)) || 'HTTP ' + serving.status;
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    if (e instanceof Unauthorized) return logout('the admin token was refused');
    $('updated').textContent = 'recd unreachable: ' + e.message;
    $('health').className = 'pill bad';
  } finally {
    ticking = false;
  }
}

async function loadQuality() {
  const { status, body } = await api('/admin/quality');
  if (status === 200) renderQuality(body);
}

function start() {
  $('login').hidden = true;
  $('panels').hidden = false;
  $('logout').hidden = false;
  refresh();
  loadQuality().catch(() => {});
  timer = setInterval(refresh, REFRESH_MS);
}

function logout(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (timer) clearInterval(timer);
  timer = null;
  $('panels').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = why || '';
  $('health').textContent = 'not connected';
  $('health').className = 'pill';
}

document.addEventListener('DOMContentLoaded', () => {
  $('login').addEventListener('submit', async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token-input').value.trim());
    $('token-input').value = '';
    try {
      const { status } = await api('/admin/cluster');
      if (status !== 200) return logout('HTTP ' + status);
      start();
    } catch (e) {
      logout(e instanceof Unauthorized ? 'the admin token was refused' : e.message);
    }
  });
  $('logout').addEventListener('click', () => logout(''));
  $('run-form').addEventListener('submit', runJob);
  $('try-form').addEventListener('submit', tryUser);
  if (sessionStorage.getItem(TOKEN_KEY)) start();
  else logout('');
});
