// nbpy live console: plain ES module, no build step, no library. The server samples the bus (at most
// one point per series per interval), so this page only appends points and redraws small canvases.
// Exposed for scripts and tests: window.nbpyConsole = { events, charts: {key: {points, draws}}, errors }.

const WINDOW_MS = 120_000;
const MIN_SPAN_MS = 10_000;
const MAX_CHARTS = 48;
const COLORS = { mid: '#4da3ff', bid: '#3ecf8e', ask: '#ff6b6b', price: '#ffb347', back: '#4da3ff', lay: '#ff8fb1' };
const FALLBACK_COLORS = ['#c792ea', '#89ddff', '#f78c6c', '#c3e88d'];

const ui = {
  events: { hello: 0, points: 0, state: 0 },
  charts: {},
  errors: [],
  maxPointsPerSeries: 2000,
};
window.nbpyConsole = ui;

/** series id -> { def, chart, t: number[], v: number[] } */
const series = new Map();
/** chart key (topic + instrument) -> chart */
const charts = new Map();
const staleTopics = new Set();
let dirty = false;

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function chartFor(def) {
  const key = `${def.topic} ${def.instrument}`;
  let c = charts.get(key);
  if (c) return c;
  if (charts.size >= MAX_CHARTS) {
    $('#chart-note').textContent = `(first ${MAX_CHARTS} charts shown)`;
    return null;
  }
  $('#charts-empty')?.remove();
  const box = el('div', { class: 'chart', 'data-topic': def.topic, 'data-instrument': def.instrument });
  const title = el('div', { class: 'title' });
  const name = el('b', {}, `${def.topic} · ${def.instrument}`);
  const badge = el('span', { class: 'badge' }, 'STALE');
  const legend = el('span', { class: 'legend' });
  const right = el('span');
  right.append(badge, legend);
  title.append(name, right);
  const canvas = el('canvas', { 'data-chart': key, 'data-points': '0', 'data-draws': '0' });
  box.append(title, canvas);
  // Keep charts grouped by topic, then instrument.
  const grid = $('#charts');
  const after = [...grid.children].find((n) => (n.dataset.topic + ' ' + n.dataset.instrument).localeCompare(key) > 0);
  grid.insertBefore(box, after ?? null);
  c = { key, topic: def.topic, box, canvas, legend, series: [], points: 0, draws: 0 };
  charts.set(key, c);
  ui.charts[key] = { points: 0, draws: 0 };
  return c;
}

function addSeries(def) {
  if (series.has(def.id)) return;
  const chart = chartFor(def);
  const color = COLORS[def.field] ?? FALLBACK_COLORS[def.id % FALLBACK_COLORS.length];
  const s = { def, chart, color, t: [], v: [] };
  series.set(def.id, s);
  if (!chart) return;
  chart.series.push(s);
  const item = el('span', {}, def.field);
  item.style.color = color;
  chart.legend.append(item);
}

function addPoint([id, t, v]) {
  const s = series.get(id);
  if (!s || !s.chart) return;
  s.t.push(t);
  s.v.push(v);
  if (s.t.length > ui.maxPointsPerSeries) {
    const cut = s.t.length - ui.maxPointsPerSeries;
    s.t.splice(0, cut);
    s.v.splice(0, cut);
  }
  s.chart.points++;
  s.chart.dirty = true;
  dirty = true;
}

function fmtPrice(v, span) {
  if (!Number.isFinite(v)) return '';
  const digits = span > 0 ? Math.max(0, Math.min(8, 2 - Math.floor(Math.log10(span)))) : 2;
  return v.toFixed(digits);
}

function draw(c, now) {
  const canvas = c.canvas;
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, w, h);
  const t1 = now;
  // The last 2 minutes, or since the first point when younger (at least 10 s), so a new chart fills.
  let first = Infinity;
  for (const s of c.series) if (s.t.length && s.t[0] < first) first = s.t[0];
  const t0 = Math.max(t1 - WINDOW_MS, Math.min(first, t1 - MIN_SPAN_MS));
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of c.series)
    for (let i = 0; i < s.t.length; i++)
      if (s.t[i] >= t0) {
        if (s.v[i] < lo) lo = s.v[i];
        if (s.v[i] > hi) hi = s.v[i];
      }
  const padL = 6 * dpr;
  const padR = 64 * dpr;
  const padY = 8 * dpr;
  const padB = 14 * dpr;
  ctx.font = `${10 * dpr}px system-ui, sans-serif`;
  ctx.strokeStyle = '#26303b';
  ctx.fillStyle = '#8593a3';
  ctx.lineWidth = 1;
  if (!Number.isFinite(lo)) {
    ctx.fillText('no points in the last 2 min', padL, h / 2);
    return 0;
  }
  if (hi === lo) {
    const d = Math.abs(lo) * 1e-4 || 1;
    hi += d;
    lo -= d;
  }
  const span = hi - lo;
  lo -= span * 0.08;
  hi += span * 0.08;
  const x = (t) => padL + ((t - t0) / (t1 - t0)) * (w - padL - padR);
  const y = (v) => h - padB - ((v - lo) / (hi - lo)) * (h - padY - padB);
  // Time labels: a few round instants along the bottom.
  const stepMs = [1, 2, 5, 10, 15, 30, 60, 120].map((s) => s * 1000).find((st) => (t1 - t0) / st <= 5) ?? 300_000;
  for (let t = Math.ceil(t0 / stepMs) * stepMs; t <= t1; t += stepMs) {
    const label = new Date(t).toTimeString().slice(0, 8);
    const xx = x(t);
    if (xx < padL + 20 * dpr || xx > w - padR - 20 * dpr) continue;
    ctx.fillText(label, xx - ctx.measureText(label).width / 2, h - 2 * dpr);
  }
  for (let i = 0; i <= 3; i++) {
    const v = lo + ((hi - lo) * i) / 3;
    const yy = Math.round(y(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(padL, yy);
    ctx.lineTo(w - padR, yy);
    ctx.stroke();
    ctx.fillText(fmtPrice(v, span), w - padR + 4 * dpr, yy + 3 * dpr);
  }
  let drawn = 0;
  ctx.lineWidth = 1.5 * dpr;
  for (const s of c.series) {
    ctx.strokeStyle = s.color;
    ctx.beginPath();
    let started = false;
    let prevY = 0;
    for (let i = 0; i < s.t.length; i++) {
      if (s.t[i] < t0) continue;
      const px = x(s.t[i]);
      const py = y(s.v[i]);
      // Steps, not slopes: a price holds until the next sample replaces it.
      if (!started) {
        ctx.moveTo(px, py);
        started = true;
      } else {
        ctx.lineTo(px, prevY);
        ctx.lineTo(px, py);
      }
      prevY = py;
      drawn++;
    }
    // Hold the last value to "now" so a quiet series still reads as a level.
    if (started) ctx.lineTo(x(t1), y(s.v[s.v.length - 1]));
    ctx.stroke();
  }
  return drawn;
}

let lastFullDraw = 0;
function frame() {
  const now = Date.now();
  // New points redraw their chart at once; every chart redraws each second so time scrolls.
  const full = now - lastFullDraw > 1000;
  if (dirty || full) {
    for (const c of charts.values()) {
      if (!c.dirty && !full) continue;
      c.dirty = false;
      const drawn = draw(c, now);
      c.draws++;
      c.canvas.dataset.points = String(c.points);
      c.canvas.dataset.draws = String(c.draws);
      c.canvas.dataset.visible = String(drawn);
      ui.charts[c.key] = { points: c.points, draws: c.draws, visible: drawn };
    }
    dirty = false;
    if (full) lastFullDraw = now;
  }
  requestAnimationFrame(frame);
}

// ---------------------------------------------------------------- tables

const fmt = (v, digits = 0) => (v === null || v === undefined ? '–' : typeof v === 'number' ? v.toFixed(digits) : String(v));
const age = (ms) => (ms === null || ms === undefined ? '–' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

function stateCell(state, title) {
  const td = el('td', { class: `state state-${state}` }, state === 'stale' ? 'STALE' : state.toUpperCase());
  if (title) td.title = title;
  return td;
}

function renderTopics(topics) {
  const body = $('#topics tbody');
  body.replaceChildren(
    ...topics.map((t) => {
      const tr = el('tr', { 'data-topic': t.topic, 'data-state': t.state });
      if (t.state === 'stale') tr.className = 'stale';
      const gapTitle = Object.entries(t.gap_reasons)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ');
      const gaps = el('td', { class: 'num' }, `${t.gaps}`);
      if (gapTitle) gaps.title = gapTitle;
      tr.append(
        el('td', {}, t.topic),
        stateCell(t.state, t.stale_reason),
        el('td', { class: 'num' }, fmt(t.rate_per_s, 1)),
        el('td', { class: 'num' }, fmt(t.lag_ms, 1)),
        el('td', { class: 'num' }, fmt(t.recv_lag_ms, 1)),
        gaps,
        el('td', { class: 'num' }, `${t.seq_missing}`),
        el('td', { class: 'num' }, `${t.sessions}`),
        el('td', { class: 'num' }, age(t.last_record_age_ms)),
        el('td', { class: 'num' }, `${t.records}`),
      );
      return tr;
    }),
  );
  staleTopics.clear();
  for (const t of topics) if (t.state === 'stale') staleTopics.add(t.topic);
  for (const c of charts.values()) c.box.classList.toggle('stale', staleTopics.has(c.topic));
}

function renderServices(services) {
  const body = $('#services tbody');
  if (services.length === 0) {
    body.replaceChildren(el('tr', {}, ''));
    body.firstChild.append(el('td', { colspan: '6', class: 'detail' }, 'no services in the config'));
    return;
  }
  body.replaceChildren(
    ...services.map((s) => {
      const tr = el('tr', { 'data-service': s.name, 'data-state': s.state });
      if (s.state === 'stale' || s.state === 'down') tr.className = 'stale';
      tr.append(
        el('td', {}, s.name),
        el('td', {}, s.kind),
        stateCell(s.state, s.detail),
        el('td', {}, s.ready === null ? '–' : s.ready ? 'yes' : 'no'),
        el('td', { class: 'num' }, fmt(s.restarts)),
        el('td', { class: 'detail' }, s.detail || ''),
      );
      return tr;
    }),
  );
}

function renderState(st) {
  renderTopics(st.topics);
  renderServices(st.services);
  const stale = st.topics.filter((t) => t.state === 'stale').length + st.services.filter((s) => s.state === 'stale').length;
  const rate = st.topics.reduce((a, t) => a + t.rate_per_s, 0);
  $('#summary').textContent =
    `${st.topics.length} topics · ${rate.toFixed(0)} records/s · ${st.totals.records_in} records · ` +
    (stale ? `${stale} STALE` : 'all live') +
    ` · store: ${st.config.storage}`;
  $('#footer').textContent =
    `bus: ${st.bus.endpoints.length} endpoints, ${st.bus.messages_in} messages, ${st.bus.decode_errors} decode errors · ` +
    `sampled every ${st.config.sample_interval_ms} ms (≤1 point per series), ${st.sse.points_sent} points sent`;
}

// ---------------------------------------------------------------- the feed

function connect() {
  const es = new EventSource('/events');
  const conn = $('#conn');
  es.addEventListener('open', () => {
    conn.dataset.state = 'open';
    conn.textContent = 'live';
  });
  es.addEventListener('error', () => {
    conn.dataset.state = 'error';
    conn.textContent = 'reconnecting…';
  });
  es.addEventListener('hello', (e) => {
    ui.events.hello++;
    const h = JSON.parse(e.data);
    ui.maxPointsPerSeries = h.max_points_per_series;
    for (const d of h.series) addSeries(d);
  });
  es.addEventListener('points', (e) => {
    ui.events.points++;
    const b = JSON.parse(e.data);
    for (const d of b.defs) addSeries(d);
    for (const p of b.points) addPoint(p);
  });
  es.addEventListener('state', (e) => {
    ui.events.state++;
    renderState(JSON.parse(e.data));
  });
}

connect();
requestAnimationFrame(frame);
window.addEventListener('error', (e) => ui.errors.push(String(e.message)));
