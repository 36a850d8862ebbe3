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
          <span id="pred-info" class="muted"></span>
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
  await loadPredictions(inst, series);
  $("#series-info").textContent = `${series.bars.length} × ${series.interval}` + (series.source_interval !== series.interval ? ` (from ${series.source_interval})` : "") + ` · ${Math.round(performance.now() - t0)} ms`;
  await loadBook(inst);
  startStream(inst, series.interval);
}

// The production model's predictions over the chart's range (nothing when no model is in production).
async function loadPredictions(inst, series) {
  const info = $("#pred-info");
  state.predictions = [];
  if (!series.bars.length) { info.textContent = ""; return; }
  const q = new URLSearchParams({ symbol: inst.symbol, from: series.bars[0].timestamp, limit: "5000" });
  const p = await api("/predictions?" + q);
  if (!p.model) { info.textContent = "no production model"; state.chart.setPredictions([]); return; }
  state.predictions = p.predictions;
  state.chart.setPredictions(p.predictions);
  info.textContent = `predictions: ${p.model.name} v${p.model.version} (${p.predictions.length})`;
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
        else if (ev === "prediction" && msg.symbol === inst.symbol && state.predictions) {
          state.predictions.push(msg); state.chart.setPredictions(state.predictions);
        }
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

// ---------- Portfolio ----------
const num = (v) => (v === null || v === undefined || v === "" ? "—" : fmtNum(+v));
const pnlCell = (v) => (v === null || v === undefined ? "—" : `<span class="${+v >= 0 ? "bid" : "ask"}">${esc(fmtNum(+v))}</span>`);

async function portfolio(root) {
  root.innerHTML = `
  <div class="grid">
    <div>
      <div class="panel"><h2>Equity <span id="acct-name" class="muted"></span></h2><div class="chart-wrap small"><canvas id="equity"></canvas></div></div>
      <div class="panel"><h2>Drawdown</h2><div class="chart-wrap small"><canvas id="drawdown"></canvas></div></div>
      <div class="panel"><h2>Positions</h2><div id="positions"></div></div>
      <div class="panel"><h2>Optimal positions</h2><div id="targets"></div></div>
      <div class="panel"><h2>Orders</h2><div id="orders"></div></div>
      <div class="panel"><h2>Fills</h2><div id="fills"></div></div>
    </div>
    <div>
      <div class="panel"><h2>Kill switch</h2><div id="kill"></div></div>
      <div class="panel"><h2>Accounts</h2><div id="accounts"></div></div>
      <div class="panel"><h2>Order ticket</h2>
        <form id="ticket" class="inline">
          <input name="symbol" placeholder="BTCUSDT" required aria-label="Symbol">
          <select name="side" aria-label="Side"><option>buy</option><option>sell</option></select>
          <input name="quantity" placeholder="quantity" required aria-label="Quantity">
          <input name="limit_price" placeholder="limit (optional)" aria-label="Limit price">
          <button type="submit">Send</button>
        </form>
        <p class="muted">Needs scope trade. Risk checks and the order stack apply; the server must run an order desk (api.order_desk).</p>
      </div>
      <div class="panel"><h2>Account history</h2><div id="history"></div></div>
    </div>
  </div>`;
  $("#ticket").onsubmit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target), body = { symbol: f.get("symbol"), side: f.get("side"), quantity: f.get("quantity") };
    if (f.get("limit_price")) { body.type = "limit"; body.limit_price = f.get("limit_price"); }
    try {
      const r = await api("/orders", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      banner(r.approved ? `Order ${r.order.id}: ${r.order.status}.` : `Order ${r.order.id} refused: ${r.order.reject_reason}`, r.approved);
      await loadTrading();
    } catch (err) { showError(err); }
  };
  await Promise.all([loadTrading(), loadKill(), loadAccounts(), loadTargets()]);
  startWs();
}

async function loadTargets() {
  const t = await api("/systems/positions?limit=10000");
  $("#targets").innerHTML = table([
    { label: "System", get: (p) => p.system }, { label: "Symbol", get: (p) => p.symbol + " · " + p.venue },
    { label: "Target", num: true, get: (p) => p.target }, { label: "Current", num: true, get: (p) => p.current },
    { label: "Difference", num: true, html: (p) => pnlCell(p.difference) }, { label: "Price", num: true, get: (p) => num(p.price) },
    { label: "Computed", get: (p) => p.computed_at.slice(0, 16) },
  ], t.positions.slice().reverse(), "No optimal positions yet: the run_systems job stores them when it runs (schedule it or start it from Operations).");
}

async function loadAccounts() {
  const { accounts } = await api("/account");
  $("#accounts").innerHTML = table([
    { label: "Account", get: (a) => a.account + (a.strategy ? " · " + a.strategy : "") }, { label: "Equity", num: true, get: (a) => num(a.equity) },
    { label: "Cash", num: true, get: (a) => num(a.cash) }, { label: "Open P&L", num: true, html: (a) => pnlCell(a.unrealized_pnl) },
  ], accounts, "No account snapshots yet (a running trade stores one every risk.reconcile_seconds).");
  const main = accounts.find((a) => !a.strategy) || accounts[0];
  const account = main ? main.account : "paper";
  $("#acct-name").textContent = account;
  const h = await api("/account/history?" + new URLSearchParams({ account, limit: "10000" }));
  drawLine($("#equity"), h.history.map((p) => [Date.parse(p.timestamp), +p.equity]));
  drawLine($("#drawdown"), h.history.map((p) => [Date.parse(p.timestamp), p.drawdown_pct]), "#ef5350");
  $("#history").innerHTML = table([
    { label: "Time", get: (p) => p.timestamp.slice(0, 16) }, { label: "Equity", num: true, get: (p) => num(p.equity) },
    { label: "DD %", num: true, get: (p) => p.drawdown_pct.toFixed(2) },
  ], h.history.slice(-20).reverse(), "No history yet.");
}

async function loadTrading() {
  const [pos, ord, fil] = await Promise.all([api("/positions"), api("/orders?limit=10000"), api("/fills?limit=10000")]);
  $("#positions").innerHTML = table([
    { label: "Strategy", get: (p) => p.strategy }, { label: "Symbol", get: (p) => p.symbol + " · " + p.venue },
    { label: "Qty", num: true, get: (p) => p.quantity }, { label: "Avg price", num: true, get: (p) => num(p.avg_price) },
    { label: "Mark", num: true, get: (p) => num(p.last_price) }, { label: "Value", num: true, get: (p) => num(p.market_value) },
    { label: "Open P&L", num: true, html: (p) => pnlCell(p.unrealized_pnl) }, { label: "Realised", num: true, html: (p) => pnlCell(p.realized_pnl) },
  ], pos.positions, "No open positions.");
  $("#orders").innerHTML = table([
    { label: "Id", get: (o) => o.id }, { label: "Created", get: (o) => o.created_at.slice(0, 19) }, { label: "Strategy", get: (o) => o.strategy },
    { label: "Symbol", get: (o) => o.symbol }, { label: "Side", get: (o) => o.side }, { label: "Type", get: (o) => o.type },
    { label: "Qty", num: true, get: (o) => o.quantity }, { label: "Limit", num: true, get: (o) => o.limit_price || "" },
    { label: "Status", html: (o) => `<span class="pill ${esc(o.status)}">${esc(o.status)}</span>` },
    { label: "Filled", num: true, get: (o) => o.filled_quantity }, { label: "Avg", num: true, get: (o) => o.avg_fill_price || "" },
    { label: "", html: (o) => (["filled", "cancelled", "rejected", "expired"].includes(o.status) ? esc(o.reject_reason || "") : `<button data-cancel="${esc(o.id)}">Cancel</button>`) },
  ], ord.orders.slice(-100).reverse(), "No orders yet.");
  root().querySelectorAll("button[data-cancel]").forEach((b) => {
    b.onclick = async () => {
      try { const o = await api(`/orders/${encodeURIComponent(b.dataset.cancel)}/cancel`, { method: "POST" }); banner(`Order ${o.id}: ${o.status}.`, true); await loadTrading(); } catch (err) { showError(err); }
    };
  });
  $("#fills").innerHTML = table([
    { label: "Time", get: (f) => f.timestamp.slice(0, 19) }, { label: "Order", get: (f) => f.order_id }, { label: "Trade", get: (f) => f.trade_id },
    { label: "Symbol", get: (f) => f.symbol }, { label: "Side", get: (f) => f.side }, { label: "Qty", num: true, get: (f) => f.quantity },
    { label: "Price", num: true, get: (f) => f.price }, { label: "Fee", num: true, get: (f) => f.commission + " " + f.currency },
  ], fil.fills.slice(-100).reverse(), "No fills yet.");
}

async function loadKill() {
  const k = await api("/kill-switch");
  $("#kill").innerHTML = `<p>Kill switch is <span class="pill ${k.state === "on" ? "failed" : "succeeded"}" id="kill-state">${esc(k.state)}</span></p>
    <button id="kill-on">Stop trading (on)</button> <button id="kill-off">Release (off, admin)</button>`;
  const set = async (v) => {
    try { await api("/kill-switch", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ state: v }) }); await loadKill(); } catch (err) { showError(err); }
  };
  $("#kill-on").onclick = () => set("on");
  $("#kill-off").onclick = () => set("off");
}

const root = () => $("#page");

function stopWs() {
  if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
}

// Orders and fills as they happen (WebSocket; the token goes in the query since browsers cannot set headers).
function startWs() {
  stopWs();
  const q = state.token ? "?token=" + encodeURIComponent(state.token) : "";
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/ws" + q);
  state.ws = ws;
  let pending = null;
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "order" || msg.type === "fill") {
      clearTimeout(pending);
      pending = setTimeout(() => { if (state.ws === ws) loadTrading().catch(showError); }, 250);
    }
  };
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
function drawLine(canvas, pts, color = "#4c9aff") {
  const dpr = window.devicePixelRatio || 1, W = canvas.clientWidth, H = canvas.clientHeight;
  canvas.width = W * dpr; canvas.height = H * dpr;
  const ctx = canvas.getContext("2d"); ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  pts = pts.filter((p) => p[1] !== null);
  canvas.dataset.points = String(pts.length);
  if (pts.length < 2) { ctx.fillStyle = "#8a96a3"; ctx.fillText("Not enough points.", 10, 20); return; }
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys) > y0 ? Math.max(...ys) : y0 + 1;
  const X = (x) => 8 + (x - x0) / Math.max(1, x1 - x0) * (W - 80), Y = (y) => 8 + (y1 - y) / Math.max(1e-9, y1 - y0) * (H - 24);
  ctx.strokeStyle = "#27313c"; ctx.fillStyle = "#8a96a3"; ctx.font = "11px system-ui";
  for (const v of [y0, (y0 + y1) / 2, y1]) { ctx.beginPath(); ctx.moveTo(8, Y(v)); ctx.lineTo(W - 72, Y(v)); ctx.stroke(); ctx.fillText(fmtNum(v), W - 66, Y(v) + 4); }
  ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.beginPath();
  pts.forEach((p, i) => (i ? ctx.lineTo(X(p[0]), Y(p[1])) : ctx.moveTo(X(p[0]), Y(p[1]))));
  ctx.stroke();
  canvas.dataset.drawn = "1";
}

// ---------- Models ----------
async function models(root) {
  const { models: list } = await api("/models");
  if (!list.length) {
    emptyPage(root, "Models", "No model is registered yet: train one with <code>tessera model train</code> (or let <code>tessera up</code> train the demo model) and it appears here.");
    return;
  }
  root.innerHTML = `<div class="panel"><h2>Registry</h2><div id="registry"></div></div>
    <div class="grid">
      <div>
        <div class="panel"><h2>Predictions vs outcomes <span id="model-name" class="muted"></span></h2>
          <div class="controls"><select id="pred-symbol" aria-label="Ticker"></select><span id="pred-stats" class="muted"></span></div>
          <div class="chart-wrap small"><canvas id="pred-chart"></canvas></div></div>
        <div class="panel"><h2>Metrics per evaluation</h2><div id="metrics"></div></div>
      </div>
      <div>
        <div class="panel"><h2>Feature importance</h2>
          <div class="controls"><select id="imp-symbol" aria-label="Ticker"></select></div>
          <div class="chart-wrap small"><canvas id="importance"></canvas></div></div>
      </div>
    </div>`;
  const metricCell = (m) => Object.entries(m.metrics || {}).slice(0, 3).map(([k, v]) => `${k} ${typeof v === "number" ? v.toFixed(3) : v}`).join(" · ");
  $("#registry").innerHTML = table([
    { label: "Model", html: (m) => `<a href="#/models" data-model="${esc(m.name)}" data-version="${m.version}">${esc(m.name)} v${m.version}</a>` },
    { label: "Stage", html: (m) => `<span class="pill ${m.stage === "production" ? "succeeded" : m.stage === "archived" ? "cancelled" : ""}">${esc(m.stage)}</span>` },
    { label: "Kind", get: (m) => m.kind }, { label: "Target", get: (m) => m.target }, { label: "Symbols", get: (m) => m.symbols.join(", ") },
    { label: "Interval", get: (m) => m.interval }, { label: "Trained", get: (m) => m.created_at.slice(0, 16) }, { label: "Metrics", get: metricCell },
  ], list, "");
  root.querySelectorAll("a[data-model]").forEach((a) => { a.onclick = (e) => { e.preventDefault(); showModel(a.dataset.model, a.dataset.version); }; });
  const prod = list.find((m) => m.stage === "production") || list[list.length - 1];
  await showModel(prod.name, prod.version);
}

async function showModel(name, version) {
  $("#model-name").textContent = `${name} v${version}`;
  const n = encodeURIComponent(name), v = encodeURIComponent(version);
  const [detail, met, imp] = await Promise.all([api(`/models/${n}?version=${v}`), api(`/models/${n}/metrics?version=${v}`), api(`/models/${n}/importance?version=${v}`)]);
  // Metrics: one row per evaluation, one column per metric.
  const names = [...new Set(met.metrics.map((m) => m.metric))];
  const evals = [...new Set(met.metrics.map((m) => m.evaluation))].map((e) => {
    const row = { evaluation: e, rows: 0 };
    for (const m of met.metrics.filter((x) => x.evaluation === e)) { row[m.metric] = m.value; row.rows = m.rows; row.range = m.data_from.slice(0, 10) + " → " + m.data_to.slice(0, 10); }
    return row;
  });
  $("#metrics").innerHTML = table([{ label: "Evaluation", get: (r) => r.evaluation }, { label: "Rows", num: true, get: (r) => r.rows }, { label: "Data", get: (r) => r.range },
    ...names.map((k) => ({ label: k, num: true, get: (r) => (r[k] === null || r[k] === undefined ? "—" : (+r[k]).toFixed(4)) }))], evals, "No evaluations stored.");
  // Importance per ticker.
  const isel = $("#imp-symbol");
  isel.innerHTML = imp.symbols.map((s) => `<option>${esc(s)}</option>`).join("");
  const drawImp = () => drawBars($("#importance"), imp.importance.filter((i) => i.symbol === isel.value && i.value !== null).slice(0, 15));
  isel.onchange = drawImp;
  drawImp();
  // Predictions against what happened.
  const psel = $("#pred-symbol");
  psel.innerHTML = detail.model.symbols.map((s) => `<option>${esc(s)}</option>`).join("");
  const drawPred = async () => {
    const p = await api("/predictions?" + new URLSearchParams({ model: name, version: String(version), symbol: psel.value, limit: "10000" }));
    const pts = p.predictions.filter((x) => x.value !== null);
    drawLines($("#pred-chart"), [
      { color: "#4c9aff", pts: pts.map((x) => [Date.parse(x.timestamp), x.value]) },
      { color: "#e0b050", pts: pts.filter((x) => x.outcome !== null).map((x) => [Date.parse(x.timestamp), x.outcome]) },
    ]);
    const both = pts.filter((x) => x.outcome !== null);
    const hits = both.filter((x) => Math.sign(x.value) === Math.sign(x.outcome)).length;
    $("#pred-stats").innerHTML = `<span class="c-pred">predicted</span> · <span class="c-out">outcome</span> · ${pts.length} predictions` +
      (both.length ? ` · direction right ${(hits / both.length * 100).toFixed(1)} %` : "");
  };
  psel.onchange = drawPred;
  await drawPred();
}

// Horizontal bars (feature importance).
function drawBars(canvas, rows) {
  const dpr = window.devicePixelRatio || 1, W = canvas.clientWidth, H = canvas.clientHeight;
  canvas.width = W * dpr; canvas.height = H * dpr;
  const ctx = canvas.getContext("2d"); ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  canvas.dataset.bars = String(rows.length);
  ctx.font = "11px system-ui"; ctx.textBaseline = "middle";
  if (!rows.length) { ctx.fillStyle = "#8a96a3"; ctx.fillText("No importance stored for this ticker.", 10, 20); return; }
  const max = Math.max(...rows.map((r) => Math.abs(r.value))) || 1, rowH = Math.min(22, (H - 8) / rows.length), left = 110;
  rows.forEach((r, i) => {
    const yy = 4 + i * rowH + rowH / 2, w = Math.abs(r.value) / max * (W - left - 60);
    ctx.fillStyle = "#8a96a3"; ctx.fillText(r.feature.slice(0, 16), 4, yy);
    ctx.fillStyle = r.value >= 0 ? "#4c9aff" : "#ef5350"; ctx.fillRect(left, yy - rowH * 0.35, Math.max(1, w), rowH * 0.7);
    ctx.fillStyle = "#d8dee6"; ctx.fillText(r.value.toPrecision(3), left + w + 4, yy);
  });
  canvas.dataset.drawn = "1";
}

// Several lines on one time axis, each on the shared value scale.
function drawLines(canvas, series) {
  const dpr = window.devicePixelRatio || 1, W = canvas.clientWidth, H = canvas.clientHeight;
  canvas.width = W * dpr; canvas.height = H * dpr;
  const ctx = canvas.getContext("2d"); ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const all = series.flatMap((s) => s.pts);
  canvas.dataset.points = String(all.length);
  if (all.length < 2) { ctx.fillStyle = "#8a96a3"; ctx.fillText("No predictions stored for this ticker.", 10, 20); return; }
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs); let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const X = (x) => 8 + (x - x0) / Math.max(1, x1 - x0) * (W - 80), Y = (y) => 8 + (y1 - y) / (y1 - y0) * (H - 24);
  ctx.strokeStyle = "#27313c"; ctx.fillStyle = "#8a96a3"; ctx.font = "11px system-ui";
  for (const v of [y0, 0, y1]) { if (v < y0 || v > y1) continue; ctx.beginPath(); ctx.moveTo(8, Y(v)); ctx.lineTo(W - 72, Y(v)); ctx.stroke(); ctx.fillText(fmtNum(v), W - 66, Y(v) + 4); }
  for (const s of series) {
    ctx.strokeStyle = s.color; ctx.lineWidth = 1.2; ctx.beginPath();
    s.pts.forEach((p, i) => (i ? ctx.lineTo(X(p[0]), Y(p[1])) : ctx.moveTo(X(p[0]), Y(p[1]))));
    ctx.stroke();
  }
  canvas.dataset.drawn = "1";
}

async function operations(root) {
  root.innerHTML = `
    <div class="panel"><h2>Service</h2><div id="health"></div></div>
    <div class="panel"><h2>Data freshness</h2><div id="fresh"></div></div>
    <div class="panel"><h2>Schedules</h2><div id="schedules"></div></div>
    <div class="panel"><h2>Jobs</h2><div id="jobs"></div></div>`;
  const [h, r] = await Promise.all([api("/health"), api("/ready").catch((e) => ({ status: "not ready: " + e.message }))]);
  $("#health").innerHTML = table([{ label: "Status", get: (x) => x.status }, { label: "Readiness", get: () => r.status }, { label: "Database", get: () => r.database || "—" },
    { label: "Version", get: (x) => x.version }, { label: "Uptime", num: true, get: (x) => x.uptime_seconds + " s" }], [h], "");
  const { series } = await api("/data/status");
  $("#fresh").innerHTML = table(statusCols, series, "No series stored yet.");
  const { schedules } = await api("/schedules");
  $("#schedules").innerHTML = table([
    { label: "Schedule", get: (x) => x.name }, { label: "Steps", get: (x) => x.steps.join(" → ") }, { label: "Cron", get: (x) => `${x.cron} ${x.timezone}` },
    { label: "Next run", get: (x) => (x.next_run || "—").slice(0, 16) },
    { label: "Last", html: (x) => (x.last_status ? `<span class="pill ${esc(x.last_status)}">${esc(x.last_status)}</span>` : "—") },
    { label: "", html: (x) => `<button data-run="${esc(x.name)}">Run now</button>` },
  ], schedules, "No schedules registered (tessera up registers the configured ones).");
  root.querySelectorAll("button[data-run]").forEach((b) => {
    b.onclick = async () => {
      try { const r = await api(`/schedules/${encodeURIComponent(b.dataset.run)}/run`, { method: "POST" }); banner(`Schedule ${r.schedule}: ${r.status}${r.job_id ? ", job " + r.job_id : ""}.`, true); } catch (err) { showError(err); }
    };
  });
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
  stopWs();
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
