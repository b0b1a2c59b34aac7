#include "proxy/admin/dashboard_page.h"

namespace seawall::proxy::admin {
namespace {

// Kept small on purpose: vanilla JS, no framework, no external resource (see kDashboardPolicy).
// Cluster names reach the DOM through textContent only.
constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Seawall breakers</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#222}
header{display:flex;align-items:baseline;gap:16px;padding:12px 20px;background:#1f2933;color:#fff}
header h1{font-size:18px;margin:0}
#conn{font-size:12px;padding:2px 8px;border-radius:10px;background:#7b8794}
#conn.live{background:#2e7d32}#conn.down{background:#c62828}
#updated{font-size:12px;color:#cbd2d9;margin-left:auto}
#grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(270px,1fr));gap:14px;padding:18px 20px}
.card{background:#fff;border-radius:6px;border-left:6px solid #9e9e9e;box-shadow:0 1px 3px rgba(0,0,0,.15);padding:10px 12px}
.card h2{font-size:15px;margin:0 0 6px;display:flex;justify-content:space-between;align-items:center;gap:8px;overflow-wrap:anywhere}
.badge{font-size:11px;font-weight:600;text-transform:uppercase;color:#fff;padding:2px 8px;border-radius:10px;background:#9e9e9e;white-space:nowrap}
.s-closed{background:#2e7d32}.s-half_open{background:#f0a500}.s-open{background:#d32f2f}
.s-forced_open{background:#7f0000}.s-disabled{background:#9e9e9e}
.card[data-state=closed]{border-color:#2e7d32}.card[data-state=half_open]{border-color:#f0a500}
.card[data-state=open]{border-color:#d32f2f}.card[data-state=forced_open]{border-color:#7f0000}
.nums{display:grid;grid-template-columns:repeat(3,1fr);gap:4px;margin:6px 0}
.nums b{display:block;font-size:18px}.nums span{font-size:11px;color:#616e7c}
.mode{font-size:11px;color:#616e7c}
svg{width:100%;height:36px;background:#fafafa;border:1px solid #e4e7eb}
polyline{fill:none;stroke:#d32f2f;stroke-width:1.5}
ul{list-style:none;margin:6px 0 0;padding:0;font-size:12px;color:#3e4c59;min-height:16px}
li{font-variant-numeric:tabular-nums}
#empty{padding:20px;color:#616e7c}
</style>
</head>
<body>
<header><h1>Seawall breakers</h1><span id="conn">connecting</span><span id="updated"></span></header>
<div id="grid"></div><div id="empty">waiting for the first event&hellip;</div>
<script>
"use strict";
const kPoints = 60, kShown = 5;
const grid = document.getElementById("grid"), conn = document.getElementById("conn");
const cards = new Map();
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function num(label) {
  const d = el("div"), b = el("b", "", "\u2013");
  d.append(b, el("span", "", label));
  return [d, b];
}
function makeCard(name) {
  const c = {root: el("div", "card"), badge: el("span", "badge"), mode: el("div", "mode"),
             list: el("ul"), series: [], prev: null};
  const h = el("h2"), title = el("span", "", name), nums = el("div", "nums");
  let d;
  [d, c.rps] = num("requests/s"); nums.append(d);
  [d, c.err] = num("errors %"); nums.append(d);
  [d, c.win] = num("window fail %"); nums.append(d);
  c.svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  c.svg.setAttribute("viewBox", "0 0 " + (kPoints - 1) + " 36");
  c.svg.setAttribute("preserveAspectRatio", "none");
  c.line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  c.line.setAttribute("vector-effect", "non-scaling-stroke");
  c.svg.append(c.line);
  h.append(title, c.badge);
  c.root.dataset.cluster = name;
  c.root.append(h, c.mode, nums, c.svg, c.list);
  grid.append(c.root);
  return c;
}
function pct(x) { return (Math.round(x * 10) / 10).toString(); }
function time(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], {hour12: false}) + "." + String(d.getMilliseconds()).padStart(3, "0");
}
function update(c, s, at) {
  c.root.dataset.state = s.state;
  c.badge.className = "badge s-" + s.state;
  c.badge.textContent = s.state.replace("_", " ");
  c.mode.textContent = s.breaker ? "mode " + s.mode + " \u00b7 window " + s.window.calls + " calls"
                                 : "no breaker";
  c.win.textContent = s.breaker ? pct(100 * s.window.failure_rate) : "\u2013";
  if (c.prev && at > c.prev.at) {
    const dr = s.requests - c.prev.requests, de = s.errors - c.prev.errors;
    const e = dr > 0 ? 100 * de / dr : 0;
    c.rps.textContent = pct(1000 * dr / (at - c.prev.at));
    c.err.textContent = dr > 0 ? pct(e) : "\u2013";
    if (dr > 0) c.series.push(e); // no requests, no point
    if (c.series.length > kPoints) c.series.shift();
    const off = kPoints - c.series.length;
    c.line.setAttribute("points", c.series.map((v, i) => (off + i) + "," + (35 - v * 0.34)).join(" "));
  }
  c.prev = {at: at, requests: s.requests, errors: s.errors};
  const items = s.transitions.slice(-kShown).reverse().map(t =>
      el("li", "", time(t.at) + "  " + t.from.replace("_", " ") + " \u2192 " + t.to.replace("_", " ")));
  c.list.replaceChildren(...items);
}
function onSnapshot(snap) {
  const seen = new Set();
  for (const s of snap.clusters) {
    seen.add(s.name);
    if (!cards.has(s.name)) cards.set(s.name, makeCard(s.name));
    update(cards.get(s.name), s, snap.at);
  }
  for (const [name, c] of cards) {
    if (!seen.has(name)) { c.root.remove(); cards.delete(name); }
  }
  document.getElementById("empty").style.display = snap.clusters.length ? "none" : "";
  document.getElementById("updated").textContent = "updated " + time(snap.at);
  document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
}
let source = null, retry = null;
function connect() {
  const q = new URLSearchParams(location.search).get("interval_ms");
  source = new EventSource("/breakers/stream" + (q ? "?interval_ms=" + encodeURIComponent(q) : ""));
  source.onopen = () => { conn.textContent = "live"; conn.className = "live"; };
  source.onmessage = (e) => onSnapshot(JSON.parse(e.data));
  source.onerror = () => {
    conn.textContent = "reconnecting"; conn.className = "down";
    if (source.readyState === EventSource.CLOSED && retry === null) {
      // Refused (503: draining, too many clients): EventSource gives up, so retry ourselves.
      retry = setTimeout(() => { retry = null; connect(); }, 3000);
    }
  };
}
connect();
</script>
</body>
</html>
)html";

} // namespace

std::string_view dashboardPage() { return kPage; }

} // namespace seawall::proxy::admin
