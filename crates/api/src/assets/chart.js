// Tessera candlestick chart: a small canvas renderer written for this dashboard.
// Candles with volume, zoom (wheel / pinch / buttons), pan (drag), crosshair
// with the hovered bar's values. No dependencies.
"use strict";

class CandleChart {
  constructor(canvas, legend) {
    this.canvas = canvas;
    this.legend = legend;
    this.ctx = canvas.getContext("2d");
    this.bars = [];      // {t: ms, o, h, l, c, v} numbers
    this.view = 120;     // bars visible
    this.end = 0;        // index after the last visible bar (float)
    this.hover = null;   // {x, y}
    this.follow = true;  // keep the newest bar in view on updates
    this.preds = [];     // {t: ms of the bar close the prediction was made on, v: predicted value}
    this.pointers = new Map();
    this.bind();
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  static parse(b) {
    return { t: Date.parse(b.timestamp), o: +b.open, h: +b.high, l: +b.low, c: +b.close, v: +b.volume };
  }

  setData(bars) {
    this.bars = bars.map(CandleChart.parse);
    this.view = Math.min(Math.max(30, Math.min(this.bars.length, 150)), Math.max(this.bars.length, 30));
    this.end = this.bars.length;
    this.follow = true;
    this.draw();
  }

  // Predictions of the production model, drawn over the volume pane and as markers on the candles.
  setPredictions(preds) {
    this.preds = preds.filter((p) => p.value !== null).map((p) => ({ t: Date.parse(p.timestamp), v: +p.value }));
    this.draw();
  }

  // Index of the bar a prediction stamped at `t` (a bar close) was made on: the last bar opening before t.
  barAt(t) {
    let lo = 0, hi = this.bars.length - 1, at = -1;
    while (lo <= hi) { const m = (lo + hi) >> 1; if (this.bars[m].t < t) { at = m; lo = m + 1; } else hi = m - 1; }
    return at;
  }

  // A live bar: replace the last one when it has the same time, else append.
  update(bar) {
    const b = CandleChart.parse(bar);
    const last = this.bars[this.bars.length - 1];
    if (last && last.t === b.t) this.bars[this.bars.length - 1] = b;
    else if (!last || b.t > last.t) {
      this.bars.push(b);
      if (this.follow) this.end = this.bars.length;
    }
    this.draw();
  }

  zoom(factor, anchorFrac) {
    const n = this.bars.length;
    if (!n) return;
    const start = this.end - this.view;
    const anchor = start + this.view * (anchorFrac ?? 1);
    const view = Math.min(Math.max(this.view * factor, 10), Math.max(n, 10));
    this.view = view;
    this.end = anchor + view * (1 - (anchorFrac ?? 1));
    this.clamp();
    this.draw();
  }

  pan(bars) {
    this.end += bars;
    this.clamp();
    this.follow = this.end >= this.bars.length - 0.5;
    this.draw();
  }

  clamp() {
    const n = this.bars.length;
    this.end = Math.min(Math.max(this.end, Math.min(this.view, n)), n + this.view * 0.2);
  }

  bind() {
    const c = this.canvas;
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = c.getBoundingClientRect();
      this.zoom(e.deltaY > 0 ? 1.15 : 1 / 1.15, (e.clientX - r.left) / this.plotWidth(r.width));
    }, { passive: false });
    c.addEventListener("pointerdown", (e) => {
      c.setPointerCapture(e.pointerId);
      this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    });
    c.addEventListener("pointermove", (e) => {
      const r = c.getBoundingClientRect();
      const prev = this.pointers.get(e.pointerId);
      if (prev && this.pointers.size === 1) {
        const dx = e.clientX - prev.x;
        this.pan(-dx / (this.plotWidth(r.width) / this.view));
      } else if (prev && this.pointers.size === 2) {
        const other = [...this.pointers.entries()].find(([id]) => id !== e.pointerId)[1];
        const before = Math.abs(prev.x - other.x), after = Math.abs(e.clientX - other.x);
        if (before > 10 && after > 10) this.zoom(before / after, ((e.clientX + other.x) / 2 - r.left) / this.plotWidth(r.width));
      }
      if (prev) this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      this.hover = { x: e.clientX - r.left, y: e.clientY - r.top };
      this.draw();
    });
    const up = (e) => this.pointers.delete(e.pointerId);
    c.addEventListener("pointerup", up);
    c.addEventListener("pointercancel", up);
    c.addEventListener("pointerleave", () => { this.hover = null; this.draw(); this.showLegend(null); });
  }

  plotWidth(w) { return w - 64; }

  showLegend(b) {
    if (!this.legend) return;
    b = b || this.bars[this.bars.length - 1];
    if (!b) { this.legend.textContent = "no bars stored yet"; return; }
    const d = new Date(b.t).toISOString().replace("T", " ").slice(0, 16);
    const chg = b.o ? ((b.c - b.o) / b.o * 100).toFixed(2) : "0.00";
    this.legend.innerHTML = `${d} UTC &nbsp; O <b>${fmt(b.o)}</b> H <b>${fmt(b.h)}</b> L <b>${fmt(b.l)}</b> C <b>${fmt(b.c)}</b> (${chg}%) V <b>${fmt(b.v)}</b>`;
  }

  draw() {
    const c = this.canvas, ctx = this.ctx;
    const dpr = window.devicePixelRatio || 1;
    const W = c.clientWidth, H = c.clientHeight;
    if (!W || !H) return;
    if (c.width !== Math.round(W * dpr) || c.height !== Math.round(H * dpr)) {
      c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const css = getComputedStyle(document.documentElement);
    const col = (n, d) => (css.getPropertyValue(n).trim() || d);
    const up = col("--up", "#26a69a"), down = col("--down", "#ef5350"), line = col("--line", "#27313c"), muted = col("--muted", "#8a96a3");
    ctx.clearRect(0, 0, W, H);
    const n = this.bars.length;
    c.dataset.bars = String(n);
    if (!n) { ctx.fillStyle = muted; ctx.font = "13px system-ui"; ctx.fillText("No bars stored for this symbol yet.", 12, 24); this.showLegend(null); c.dataset.drawn = "1"; return; }
    const pw = this.plotWidth(W), axisH = 20, volH = Math.round((H - axisH) * 0.18), priceH = H - axisH - volH - 6;
    const start = this.end - this.view;
    const i0 = Math.max(0, Math.floor(start)), i1 = Math.min(n, Math.ceil(this.end));
    const vis = this.bars.slice(i0, i1);
    if (!vis.length) return;
    let lo = Infinity, hi = -Infinity, vmax = 0;
    for (const b of vis) { lo = Math.min(lo, b.l); hi = Math.max(hi, b.h); vmax = Math.max(vmax, b.v); }
    if (hi === lo) { hi += 1; lo -= 1; }
    const pad = (hi - lo) * 0.06; hi += pad; lo -= pad;
    const step = pw / this.view;
    const x = (i) => (i - start + 0.5) * step;
    const y = (p) => 4 + (hi - p) / (hi - lo) * (priceH - 4);
    // grid + price axis
    ctx.font = "11px system-ui"; ctx.textBaseline = "middle";
    const ticks = niceTicks(lo, hi, 6);
    for (const t of ticks) {
      ctx.strokeStyle = line; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(0, Math.round(y(t)) + 0.5); ctx.lineTo(pw, Math.round(y(t)) + 0.5); ctx.stroke();
      ctx.fillStyle = muted; ctx.fillText(fmt(t), pw + 6, y(t));
    }
    // time axis
    ctx.textBaseline = "top";
    const every = Math.max(1, Math.ceil(90 / step));
    for (let i = i0; i < i1; i++) {
      if (i % every) continue;
      const d = new Date(this.bars[i].t);
      const span = (this.bars[n - 1].t - this.bars[0].t) / Math.max(1, n - 1);
      const label = span >= 86400000 ? d.toISOString().slice(0, 10) : d.toISOString().slice(5, 16).replace("T", " ");
      ctx.fillStyle = muted; ctx.fillText(label, x(i) - 30, H - axisH + 4);
    }
    // candles + volume
    const bw = Math.max(1, step * 0.7);
    for (let i = i0; i < i1; i++) {
      const b = this.bars[i], cx = x(i), rising = b.c >= b.o;
      ctx.strokeStyle = ctx.fillStyle = rising ? up : down;
      ctx.beginPath(); ctx.moveTo(Math.round(cx) + 0.5, y(b.h)); ctx.lineTo(Math.round(cx) + 0.5, y(b.l)); ctx.stroke();
      const top = y(Math.max(b.o, b.c)), bh = Math.max(1, Math.abs(y(b.o) - y(b.c)));
      ctx.fillRect(cx - bw / 2, top, bw, bh);
      if (vmax > 0) {
        const vh = b.v / vmax * volH;
        ctx.globalAlpha = 0.45; ctx.fillRect(cx - bw / 2, priceH + 6 + volH - vh, bw, vh); ctx.globalAlpha = 1;
      }
    }
    // prediction overlay: a line over the volume pane (own scale) and a marker per candle, green up / red down
    let drawnPreds = 0;
    if (this.preds.length) {
      const pts = [];
      for (const p of this.preds) {
        const i = this.barAt(p.t);
        if (i >= i0 && i < i1) pts.push([x(i), p.v, i]);
      }
      if (pts.length) {
        let pl = Math.min(...pts.map((q) => q[1])), ph = Math.max(...pts.map((q) => q[1]));
        if (ph === pl) { ph += 1e-9; pl -= 1e-9; }
        const top = priceH + 6, py = (v) => top + (ph - v) / (ph - pl) * volH;
        ctx.strokeStyle = col("--accent", "#4c9aff"); ctx.lineWidth = 1.5; ctx.beginPath();
        pts.forEach((q, k) => (k ? ctx.lineTo(q[0], py(q[1])) : ctx.moveTo(q[0], py(q[1]))));
        ctx.stroke(); ctx.lineWidth = 1;
        for (const q of pts) {
          const b = this.bars[q[2]];
          ctx.fillStyle = q[1] >= 0 ? up : down;
          const my = q[1] >= 0 ? y(b.h) - 6 : y(b.l) + 6;
          ctx.beginPath(); ctx.arc(q[0], my, Math.max(1.5, Math.min(3, step * 0.3)), 0, Math.PI * 2); ctx.fill();
        }
        ctx.fillStyle = muted; ctx.textBaseline = "top"; ctx.fillText("prediction", 4, top);
        drawnPreds = pts.length;
      }
    }
    c.dataset.preds = String(drawnPreds);
    // last price line
    const last = this.bars[n - 1];
    ctx.setLineDash([3, 3]); ctx.strokeStyle = muted; ctx.beginPath(); ctx.moveTo(0, y(last.c)); ctx.lineTo(pw, y(last.c)); ctx.stroke(); ctx.setLineDash([]);
    // crosshair
    let hovered = null;
    if (this.hover && this.hover.x < pw) {
      const idx = Math.floor(start + this.hover.x / step);
      if (idx >= 0 && idx < n) hovered = this.bars[idx];
      ctx.strokeStyle = muted; ctx.setLineDash([2, 3]);
      ctx.beginPath(); ctx.moveTo(this.hover.x, 0); ctx.lineTo(this.hover.x, H - axisH); ctx.moveTo(0, this.hover.y); ctx.lineTo(pw, this.hover.y); ctx.stroke();
      ctx.setLineDash([]);
      if (this.hover.y < priceH) {
        const p = hi - (this.hover.y - 4) / (priceH - 4) * (hi - lo);
        ctx.fillStyle = line; ctx.fillRect(pw + 2, this.hover.y - 8, 62, 16);
        ctx.fillStyle = "#fff"; ctx.textBaseline = "middle"; ctx.fillText(fmt(p), pw + 6, this.hover.y);
      }
    }
    this.showLegend(hovered);
    c.dataset.drawn = "1";
  }
}

function niceTicks(lo, hi, count) {
  const raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) out.push(t);
  return out;
}

function fmt(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(2) + "M";
  if (a >= 1000) return v.toFixed(2);
  if (a >= 1) return v.toFixed(a >= 100 ? 2 : 4);
  return v.toPrecision(4);
}

window.CandleChart = CandleChart;
window.fmtNum = fmt;
