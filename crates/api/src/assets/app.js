// Tessera dashboard: hash-routed pages over /api/v1. Plain JavaScript, no build step.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const state = { token: localStorage.getItem("tessera.token") || "", stream: null, chart: null };

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  if (state.token) h.Authorization = "Bearer " + state.token;
  return h;
}

// Fetch JSON from the API; problems (RFC 9457) become Errors carrying their detail.
async function api(path, opts = {}) {
  const res = await fetch("/api/v1" + path, { ...opts, headers: headers(opts.headers) });
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  if (!res.ok) {
    const err = new Error((body && body.detail) || res.statusText || "request failed");
    err.status = res.status;
    throw err;
  }
  return body;
}

function banner(msg, ok = false) {
  const b = $("#banner");
  if (!msg) { b.hidden = true; return; }
  b.hidden = false; b.className = "banner" + (ok ? " ok" : ""); b.textContent = msg;
  if (ok) setTimeout(() => { b.hidden = true; }, 4000);
}

function showError(e) {
  if (e.status === 401) banner("This server needs an API token to read: paste one above (tessera tokens create --scope read).");
  else banner(e.message);
}

function table(cols, rows, empty) {
  if (!rows.length) return `<div class="empty">${esc(empty)}</div>`;
  return `<div class="scroll"><table><thead><tr>${cols.map((c) => `<th>${esc(c.label)}</th>`).join("")}</tr></thead><tbody>${
    rows.map((r) => `<tr>${cols.map((c) => `<td class="${c.num ? "num" : ""}">${c.html ? c.html(r) : esc(c.get(r))}</td>`).join("")}</tr>`).join("")
  }</tbody></table></div>`;
}

function ago(iso) {
  if (!iso) return "—";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 120) return s + " s ago";
  if (s < 7200) return Math.round(s / 60) + " min ago";
  if (s < 172800) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

const statusCols = [
  { label: "Symbol", get: (r) => r.symbol }, { label: "Venue", get: (r) => r.venue }, { label: "Interval", get: (r) => r.interval },
  { label: "State", html: (r) => `<span class="pill ${esc(r.state || "")}">${esc(r.state || "imported")}</span>` },
  { label: "Bars", num: true, get: (r) => r.bars.toLocaleString() }, { label: "First", get: (r) => (r.first || "—").slice(0, 16) },
  { label: "Last", get: (r) => (r.last || "—").slice(0, 16) }, { label: "Fresh", get: (r) => ago(r.last) },
  { label: "Last error", get: (r) => r.last_error || "" },
];

// ---------- Markets ----------
async function markets(root) {
  root.innerHTML = `
  <div class="grid">
    <div>
      <div class="panel">
        <div class="controls">
          <select id="symbol" aria-label="Symbol"></select>
          <select id="interval" aria-label="Interval">
            <option value="">auto</option><option>1m</option><option>5m</option><option>15m</option><option>1h</option><option>4h</option><option>1d</option><option>1w</option>
          </select>
          <button id="zoom-in" title="Zoom in">+</button><button id="zoom-out" title="Zoom out">−</button><button id="reset" title="Newest bars">⟲</button>
          <span id="live" class="pill">connecting…</span>
          <span id="series-info" class="muted"></span>
        </div>
        <div class="legend" id="legend"></div>
        <div class="chart-wrap"><canvas id="chart"></canvas></div>
      </div>
      <div class="panel"><h2>Data status</h2><div id="status"></div></div>
    </div>
    <div>
      <div class="panel"><h2>Top of book</h2><div id="book"></div></div>
      <div class="panel"><h2>Add a pair</h2>
        <form id="add" class="inline">
          <input name="symbol" placeholder="BTCUSDT" required aria-label="Symbol to add">
          <input name="venue" placeholder="binance" required aria-label="Venue">
          <select name="kind" aria-label="Kind"><option>crypto</option><option>equity</option><option>fx</option><option>future</option></select>
          <button type="submit">Add</button>
        </form>
        <p class="muted">Needs a token with scope trade. The new pair is registered for backfill.</p>
      </div>
    </div>
  </div>`;
  state.chart = new CandleChart($("#chart"), $("#legend"));
  $("#zoom-in").onclick = () => state.chart.zoom(1 / 1.5, 1);
  $("#zoom-out").onclick = () => state.chart.zoom(1.5, 1);
  $("#reset").onclick = () => { state.chart.end = state.chart.bars.length; state.chart.follow = true; state.chart.draw(); };
  $("#add").onsubmit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      const r = await api("/instruments", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ symbol: f.get("symbol"), venue: f.get("venue"), kind: f.get("kind") }) });
      banner(`Added ${r.instrument.symbol} on ${r.instrument.venue}; backfill ${r.backfill.job ? "job " + r.backfill.job : "registered (" + r.backfill.state + ")"}.`, true);
      await fillSymbols(r.instrument.venue + ":" + r.instrument.symbol);
    } catch (err) { showError(err); }
  };
  $("#symbol").onchange = () => { localStorage.setItem("tessera.symbol", $("#symbol").value); loadSeries(); };
  $("#interval").onchange = loadSeries;
  await fillSymbols(localStorage.getItem("tessera.symbol"));
  await loadStatus();
}

async function fillSymbols(selected) {
  const { instruments } = await api("/instruments");
  const sel = $("#symbol");
  sel.innerHTML = instruments.map((i) => `<option value="${esc(i.venue + ":" + i.symbol)}">${esc(i.symbol)} · ${esc(i.venue)}</option>`).join("");
  if (!instruments.length) sel.innerHTML = `<option value="">no instruments — add a pair</option>`;
  if (selected && instruments.some((i) => i.venue + ":" + i.symbol === selected)) sel.value = selected;
  await loadSeries();
}

function currentInstrument() {
  const v = $("#symbol").value;
  if (!v) return null;
  const i = v.indexOf(":");
  return { venue: v.slice(0, i), symbol: v.slice(i + 1) };
}

async function loadSeries() {
  const inst = currentInstrument();
  stopStream();
  if (!inst) { state.chart.setData([]); $("#book").innerHTML = `<div class="empty">No instrument selected.</div>`; return; }
  const q = new URLSearchParams({ symbol: inst.symbol, venue: inst.venue, points: "1500" });
  const iv = $("#interval").value;
  if (iv) q.set("interval", iv);
  const t0 = performance.now();
  const series = await api("/chart?" + q);
  state.chart.setData(series.bars);
  state.interval = series.interval;
  $("#series-info").textContent = `${series.bars.length} × ${series.interval}` + (series.source_interval !== series.interval ? ` (from ${series.source_interval})` : "") + ` · ${Math.round(performance.now() - t0)} ms`;
  await loadBook(inst);
  startStream(inst, series.interval);
}

async function loadBook(inst) {
  const q = new URLSearchParams({ symbol: inst.symbol, venue: inst.venue });
  const { quote } = await api("/quotes/latest?" + q);
  renderBook(quote);
}

function renderBook(quote) {
  $("#book").innerHTML = quote
    ? `<table><tr><th>Bid</th><th class="num">Size</th><th>Ask</th><th class="num">Size</th></tr>
       <tr><td class="bid">${esc(quote.bid_price)}</td><td class="num">${esc(quote.bid_size)}</td><td class="ask">${esc(quote.ask_price)}</td><td class="num">${esc(quote.ask_size)}</td></tr></table>
       <p class="muted">Spread ${fmtNum(quote.ask_price - quote.bid_price)} · ${esc(quote.timestamp.slice(0, 19))} UTC</p>`
    : `<div class="empty">No quotes stored for this instrument.</div>`;
}

async function loadStatus() {
  const { series } = await api("/data/status");
  $("#status").innerHTML = table(statusCols, series, "Nothing collected yet: add a pair or run tessera data backfill.");
}

function stopStream() {
  if (state.stream) { state.stream.abort(); state.stream = null; }
}

// Server-Sent Events read with fetch (EventSource cannot send the Authorization header).
async function startStream(inst, interval) {
  const ctrl = new AbortController();
  state.stream = ctrl;
  const q = new URLSearchParams({ symbol: inst.symbol, venue: inst.venue, interval });
  const live = $("#live");
  try {
    const res = await fetch("/api/v1/stream?" + q, { headers: headers({ Accept: "text/event-stream" }), signal: ctrl.signal });
    if (!res.ok) throw new Error("stream refused: " + res.status);
    live.textContent = "live"; live.className = "pill live";
    const reader = res.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
        let ev = "message", data = "";
        for (const line of chunk.split("\n")) {
          if (line.startsWith("event:")) ev = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (!data) continue;
        const msg = JSON.parse(data);
        if (ev === "bar" && msg.interval === state.interval) state.chart.update(msg.bar);
        else if (ev === "quote") renderBook(msg.quote);
      }
    }
  } catch (e) {
    if (ctrl.signal.aborted) return;
    live.textContent = "offline"; live.className = "pill failed";
    return;
  }
  if (!ctrl.signal.aborted) { live.textContent = "offline"; live.className = "pill failed"; }
}

// ---------- Other pages ----------
function emptyPage(root, title, text) {
  root.innerHTML = `<div class="panel"><h2>${esc(title)}</h2><div class="empty">${text}</div></div>`;
}

async function portfolio(root) {
  emptyPage(root, "Portfolio", "No account is connected to this API yet: live and paper trading do not serve positions, orders, fills or an equity curve here. This page fills in once the trading API lands.");
}

async function backtests(root) {
  const { backtests: runs } = await api("/backtests");
  if (!runs.length) {
    emptyPage(root, "Backtests", "No backtest runs are stored yet: run <code>tessera backtest</code> and they appear here.");
    return;
  }
  root.innerHTML = `<div class="panel"><h2>Runs</h2><div id="runs"></div></div>
    <div class="panel"><h2>Equity <span id="run-name" class="muted"></span></h2><div class="chart-wrap small"><canvas id="equity"></canvas></div></div>
    <div class="panel"><h2>Trades</h2><div id="trades"></div></div>`;
  const pct = (v) => (v === null || v === undefined ? "—" : v.toFixed(2) + " %");
  $("#runs").innerHTML = table([
    { label: "Run", html: (r) => `<a href="#/backtests" data-run="${esc(r.run_id)}">${esc(r.run_id)}</a>` },
    { label: "Strategy", get: (r) => r.strategy }, { label: "Instruments", get: (r) => r.instruments }, { label: "Interval", get: (r) => r.interval },
    { label: "Return", num: true, get: (r) => pct(r.return_pct) }, { label: "Sharpe", num: true, get: (r) => (r.sharpe_ratio ?? "—") },
    { label: "Max DD", num: true, get: (r) => pct(r.max_drawdown_pct) }, { label: "Trades", num: true, get: (r) => r.trades },
    { label: "Final equity", num: true, get: (r) => r.final_equity_exact },
  ], runs, "");
  root.querySelectorAll("a[data-run]").forEach((a) => { a.onclick = (e) => { e.preventDefault(); showRun(a.dataset.run); }; });
  await showRun(runs[0].run_id);
}

async function showRun(id) {
  $("#run-name").textContent = id;
  const [eq, tr] = await Promise.all([api(`/backtests/${encodeURIComponent(id)}/equity`), api(`/backtests/${encodeURIComponent(id)}/trades`)]);
  drawLine($("#equity"), eq.equity.map((p) => [Date.parse(p.timestamp), p.equity]));
  $("#trades").innerHTML = table([
    { label: "Instrument", get: (t) => t.instrument }, { label: "Side", get: (t) => t.side }, { label: "Size", num: true, get: (t) => t.size },
    { label: "Entry", get: (t) => t.entry_time.slice(0, 16) }, { label: "Exit", get: (t) => t.exit_time.slice(0, 16) },
    { label: "Entry price", num: true, get: (t) => t.entry_price }, { label: "Exit price", num: true, get: (t) => t.exit_price },
    { label: "P&L", num: true, get: (t) => t.pnl },
  ], tr.trades, "No closed trades.");
}

// A plain line chart (equity curves).
function drawLine(canvas, pts) {
  const dpr = window.devicePixelRatio || 1, W = canvas.clientWidth, H = canvas.clientHeight;
  canvas.width = W * dpr; canvas.height = H * dpr;
  const ctx = canvas.getContext("2d"); ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  pts = pts.filter((p) => p[1] !== null);
  canvas.dataset.points = String(pts.length);
  if (pts.length < 2) { ctx.fillStyle = "#8a96a3"; ctx.fillText("Not enough points.", 10, 20); return; }
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys) || 1;
  const X = (x) => 8 + (x - x0) / Math.max(1, x1 - x0) * (W - 80), Y = (y) => 8 + (y1 - y) / Math.max(1e-9, y1 - y0) * (H - 24);
  ctx.strokeStyle = "#27313c"; ctx.fillStyle = "#8a96a3"; ctx.font = "11px system-ui";
  for (const v of [y0, (y0 + y1) / 2, y1]) { ctx.beginPath(); ctx.moveTo(8, Y(v)); ctx.lineTo(W - 72, Y(v)); ctx.stroke(); ctx.fillText(fmtNum(v), W - 66, Y(v) + 4); }
  ctx.strokeStyle = "#4c9aff"; ctx.lineWidth = 1.5; ctx.beginPath();
  pts.forEach((p, i) => (i ? ctx.lineTo(X(p[0]), Y(p[1])) : ctx.moveTo(X(p[0]), Y(p[1]))));
  ctx.stroke();
  canvas.dataset.drawn = "1";
}

async function models(root) {
  emptyPage(root, "Models", "No model registry is served by this API yet: models, metrics, feature importance and predictions appear here once it is.");
}

async function operations(root) {
  root.innerHTML = `
    <div class="panel"><h2>Service</h2><div id="health"></div></div>
    <div class="panel"><h2>Data freshness</h2><div id="fresh"></div></div>
    <div class="panel"><h2>Jobs</h2><div id="jobs"></div></div>`;
  const [h, r] = await Promise.all([api("/health"), api("/ready").catch((e) => ({ status: "not ready: " + e.message }))]);
  $("#health").innerHTML = table([{ label: "Status", get: (x) => x.status }, { label: "Readiness", get: () => r.status }, { label: "Database", get: () => r.database || "—" },
    { label: "Version", get: (x) => x.version }, { label: "Uptime", num: true, get: (x) => x.uptime_seconds + " s" }], [h], "");
  const { series } = await api("/data/status");
  $("#fresh").innerHTML = table(statusCols, series, "No series stored yet.");
  const { jobs } = await api("/jobs?limit=50");
  $("#jobs").innerHTML = table([
    { label: "Id", num: true, get: (j) => j.id }, { label: "Type", get: (j) => j.type },
    { label: "Status", html: (j) => `<span class="pill ${esc(j.status)}">${esc(j.status)}</span>` },
    { label: "Attempts", num: true, get: (j) => `${j.attempts}/${j.max_attempts}` }, { label: "Queued", get: (j) => j.created_at.slice(0, 19) },
    { label: "Finished", get: (j) => (j.finished_at || "").slice(0, 19) }, { label: "Error", get: (j) => j.error || "" },
  ], jobs, "No jobs have run yet (tessera up or tessera worker runs them; schedules are in the config).");
}

const pages = { markets, portfolio, backtests, models, operations };

async function route() {
  const name = (location.hash.replace(/^#\//, "") || "markets").split("?")[0];
  const page = pages[name] ? name : "markets";
  document.querySelectorAll("#nav a[data-page]").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  stopStream();
  document.body.dataset.page = page;
  document.body.dataset.ready = "";
  const t0 = performance.now();
  try {
    banner(null);
    await pages[page]($("#page"));
  } catch (e) { showError(e); }
  document.body.dataset.renderMs = String(Math.round(performance.now() - t0));
  document.body.dataset.ready = "1";
}

$("#token").value = state.token;
$("#token-form").onsubmit = (e) => {
  e.preventDefault();
  state.token = $("#token").value.trim();
  localStorage.setItem("tessera.token", state.token);
  route();
};
window.addEventListener("hashchange", route);
route();
