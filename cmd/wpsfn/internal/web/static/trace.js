// The live trace page. The server sends the history it kept (SSE "history")
// and then one bounded batch per ~100 ms (SSE "batch"); every event carries
// the time it started. This page keeps the last KEEP events sorted by that
// time (a REST call is published when it ends, after the frames it fanned
// out, and is slotted in before them), keeps the indices of those matching
// the filter, and draws only the rows in view (a virtual list of fixed-height
// rows): the DOM holds a few dozen rows whatever the event rate. Clicking a
// row shows the whole frame or request, fetched from /trace/events/{id}.
const KEEP = 20000;
const ROW_H = 22;
const MIN_RENDER_MS = 150; // at most ~7 redraws per second, whatever the event rate
const KINDS = ["frame-in", "frame-out", "upstream", "rest", "connected", "disconnected", "refused", "reconnect-refused", "group-join", "group-leave"];

const $ = (id) => document.getElementById(id);
let events = [];     // sorted by t
let view = [];       // the matching events, in order
let paused = false, pausedNew = 0;
let dropped = 0, lastTotal = null, lastAt = 0, rateEMA = 0;
let lastRender = 0, renderTimer = 0;
let query = "", kinds = new Set();
let follow = true;   // stick to the newest row
let selected = null;
let traceUrl = "";
window.wpsfnTrace = { get events() { return events; }, get view() { return view; }, label: (id) => connLabel(id) }; // console and tests

function readKinds() {
  kinds = new Set();
  for (const cb of document.querySelectorAll("input[data-kinds]")) {
    if (cb.checked) cb.dataset.kinds.split(",").forEach((k) => kinds.add(k));
  }
}

function matches(e) {
  if (KINDS.includes(e.k) && !kinds.has(e.k)) return false;
  if (!query) return true;
  if (e.hay === undefined) e.hay = `${e.k} ${e.h || ""} ${e.c || ""} ${e.u || ""} ${e.g || ""} ${e.s || ""} ${e.st || ""}`.toLowerCase();
  return e.hay.includes(query);
}

// A connection id's last characters tell connections apart (their first
// ones encode a counter and are shared); the colour is a hash of the id.
function connLabel(id) { return id.length > 8 ? "…" + id.slice(-6) : id; }
function connColor(id) {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360} 70% 68%)`;
}

function fmtTime(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}
function fmtDur(l) { return l ? (l < 10 ? l.toFixed(1) : String(Math.round(l))) + " ms" : ""; }
function kindLabel(k) { return k === "reconnect-refused" ? "reconnect refused" : k; }

// insert adds events keeping the order by start time: usually at the end,
// else at the place a binary search finds.
function insert(list, e, key = (x) => x.t) {
  const t = key(e);
  if (!list.length || key(list[list.length - 1]) <= t) { list.push(e); return list.length - 1; }
  let lo = 0, hi = list.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (key(list[mid]) <= t) lo = mid + 1; else hi = mid; }
  list.splice(lo, 0, e);
  return lo;
}

function add(batch) {
  for (const e of batch) {
    insert(events, e);
    if (!paused && matches(e)) insert(view, e);
    else if (paused) pausedNew++;
  }
  if (events.length > KEEP * 1.25) {
    const cut = events.length - KEEP;
    const oldest = events[cut].t;
    events = events.slice(cut);
    if (!paused) { let i = 0; while (i < view.length && view[i].t < oldest) i++; if (i) view = view.slice(i); }
  }
}

function rowNode(e) {
  const row = document.createElement("div");
  row.className = "row" + (e === selected ? " sel" : "");
  row.dataset.kind = e.k;
  row.dataset.id = e.id;
  const cell = (text, cls, title) => {
    const s = document.createElement("span");
    s.textContent = text;
    if (cls) s.className = cls;
    if (title) s.title = title;
    row.append(s);
    return s;
  };
  cell(fmtTime(e.t));
  cell(kindLabel(e.k), "k k-" + e.k);
  if (e.c) {
    const c = cell(connLabel(e.c), "conn", e.c);
    c.style.color = connColor(e.c);
  } else cell(e.h || "");
  cell([e.u, e.g && "#" + e.g].filter(Boolean).join(" "));
  cell(e.s || "", "sum", e.s);
  cell([e.st || "", fmtDur(e.l)].filter(Boolean).join(" · "), e.st >= 400 ? "bad" : "");
  return row;
}

function atBottom(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < ROW_H * 1.5; }

function requestRender() {
  if (renderTimer) return;
  const wait = Math.max(0, lastRender + MIN_RENDER_MS - performance.now());
  renderTimer = setTimeout(() => requestAnimationFrame(() => { renderTimer = 0; render(); }), wait);
}

// render draws the rows in view, plus a few above and below.
function render() {
  lastRender = performance.now();
  const box = $("rows");
  const spacer = $("spacer");
  const total = view.length * ROW_H;
  // The old rows go first: placed absolutely, they would keep the pane as
  // tall as before and its scroll position past a shrunken list.
  spacer.replaceChildren();
  spacer.style.height = total + "px";
  if (follow) box.scrollTop = total;
  const top = Math.min(box.scrollTop, Math.max(0, total - box.clientHeight));
  const first = Math.max(0, Math.floor(top / ROW_H) - 5);
  const last = Math.min(view.length, Math.ceil((top + box.clientHeight) / ROW_H) + 5);
  const frag = document.createDocumentFragment();
  for (let i = first; i < last; i++) {
    const r = rowNode(view[i]);
    r.style.top = i * ROW_H + "px";
    frag.append(r);
  }
  spacer.replaceChildren(frag);
  $("shown").textContent = `${view.length.toLocaleString()} / ${events.length.toLocaleString()}`;
}

function rebuild() {
  view = events.filter(matches);
  render();
}

function onBatch(b) {
  add(b.events);
  dropped += b.dropped || 0;
  $("dropped").textContent = (dropped + (b.missed || 0)).toLocaleString();
  // The rate from the server's clock: batches may arrive bunched up.
  if (b.at) {
    if (lastTotal !== null && b.at > lastAt) {
      const r = ((b.total - lastTotal) * 1000) / (b.at - lastAt);
      rateEMA = rateEMA ? rateEMA * 0.7 + r * 0.3 : r;
      $("rate").textContent = Math.round(rateEMA).toLocaleString();
    }
    lastTotal = b.total; lastAt = b.at;
  }
  if (paused) {
    $("pause").textContent = `Resume (${pausedNew.toLocaleString()} new)`;
    return;
  }
  requestRender();
}

function li(main, sub, id, color) {
  const l = document.createElement("li");
  const m = document.createElement("div");
  m.textContent = main;
  if (color) m.style.color = color;
  l.append(m);
  if (sub) {
    const s = document.createElement("div");
    s.className = "sub";
    s.textContent = sub;
    l.append(s);
  }
  if (id) { l.dataset.id = id; l.title = "click to filter by " + id; l.onclick = () => setFilter(id); }
  return l;
}

function onSnapshot(snap) {
  const conns = [], groups = [], users = new Map();
  for (const h of snap.hubs || []) {
    for (const c of h.connections || []) {
      const state = c.connected === false ? " · waiting for its client to reconnect" : "";
      conns.push(li(`${connLabel(c.id)} ${c.userId || "(anonymous)"} · ${h.name}`,
        `${c.id}${c.protocol ? " · " + c.protocol : ""}${c.groups?.length ? " · #" + c.groups.join(" #") : ""}${state}`, c.id, connColor(c.id)));
      if (c.userId) users.set(c.userId, (users.get(c.userId) || 0) + 1);
    }
    for (const [name, members] of Object.entries(h.groups || {}).sort()) {
      groups.push(li(`#${name} · ${h.name}`, `${members.length} connection${members.length === 1 ? "" : "s"}`, name));
    }
  }
  const userItems = [...users].sort().map(([u, n]) => li(u, `${n} connection${n === 1 ? "" : "s"}`, u));
  const cap = (arr) => arr.length > 300 ? arr.slice(0, 300).concat(li(`… ${arr.length - 300} more`)) : arr;
  $("conns").replaceChildren(...cap(conns));
  $("groups").replaceChildren(...cap(groups));
  $("users").replaceChildren(...cap(userItems));
  $("n-conns").textContent = conns.length;
  $("n-groups").textContent = groups.length;
  $("n-users").textContent = users.size;
}

function setStatus(s, cls) {
  $("status").querySelector(".dot").className = "dot " + cls;
  $("status-text").textContent = s;
  document.body.dataset.status = s;
}

function setFilter(text) {
  $("filter").value = text;
  query = text.trim().toLowerCase();
  rebuild();
}

// showDetail opens the side panel with every field of e and the whole
// (redacted) frame or request, fetched from the server's history.
async function showDetail(e) {
  selected = e;
  render();
  $("detail").hidden = false;
  document.querySelector(".trace").classList.add("detail-open");
  $("detail-title").textContent = `${kindLabel(e.k)} · ${fmtTime(e.t)}`;
  const dl = $("detail-fields");
  dl.replaceChildren();
  const field = (k, v) => {
    if (v === undefined || v === "" || v === 0) return;
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    dl.append(dt, dd);
  };
  field("hub", e.h); field("connection", e.c); field("user", e.u); field("group", e.g);
  field("status", e.st); field("took", fmtDur(e.l)); field("summary", e.s);
  const body = $("detail-body");
  body.textContent = e.d ? "loading…" : "(no more detail than the summary)";
  document.body.dataset.detail = "loading";
  if (e.d) {
    try {
      const res = await fetch(`${traceUrl}/${e.id}`);
      const text = await res.text();
      if (selected !== e) return;
      body.textContent = res.ok ? pretty(text) : text;
    } catch (err) {
      body.textContent = "could not load the detail: " + err.message;
    }
  }
  document.body.dataset.detail = "shown";
}

// pretty indents a JSON frame; other text is shown as it is.
function pretty(text) {
  const t = text.trim();
  if (t.startsWith("{") || t.startsWith("[")) { try { return JSON.stringify(JSON.parse(t), null, 2); } catch { /* not JSON */ } }
  return text;
}

function closeDetail() {
  selected = null;
  $("detail").hidden = true;
  document.querySelector(".trace").classList.remove("detail-open");
  render();
}

async function main() {
  readKinds();
  const cfg = await (await fetch("/config.json")).json();
  if (!cfg.negotiateUrl) $("chat-link").hidden = true;
  if (!cfg.traceUrl) { setStatus("no trace stream", "off"); return; }
  traceUrl = cfg.traceUrl;
  const es = new EventSource(cfg.traceUrl);
  es.onopen = () => setStatus("live", "on");
  es.onerror = () => setStatus("reconnecting", "wait");
  // On a reconnect the history is sent again: start from it.
  es.addEventListener("history", (ev) => { events = []; view = []; onBatch(JSON.parse(ev.data)); });
  es.addEventListener("batch", (ev) => onBatch(JSON.parse(ev.data)));
  es.addEventListener("snapshot", (ev) => onSnapshot(JSON.parse(ev.data)));
}

$("rows").addEventListener("scroll", () => { follow = atBottom($("rows")); requestRender(); });
$("rows").addEventListener("click", (ev) => {
  const row = ev.target.closest(".row");
  if (!row) return;
  const id = Number(row.dataset.id);
  const e = view.find((x) => x.id === id);
  if (e) showDetail(e);
});
$("detail-close").onclick = closeDetail;
$("detail-copy").onclick = () => {
  const text = [$("detail-title").textContent, ...[...$("detail-fields").children].map((n) => n.textContent), "", $("detail-body").textContent].join("\n");
  navigator.clipboard?.writeText(text).catch(() => {});
};
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeDetail(); });
$("pause").onclick = () => {
  paused = !paused;
  pausedNew = 0;
  $("pause").textContent = paused ? "Resume" : "Pause";
  document.body.dataset.paused = paused;
  if (!paused) rebuild();
};
$("clear").onclick = () => { events = []; view = []; closeDetail(); };
let filterTimer;
$("filter").oninput = () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => setFilter($("filter").value), 120);
};
for (const cb of document.querySelectorAll("input[data-kinds]")) cb.onchange = () => { readKinds(); rebuild(); };
addEventListener("resize", requestRender);

main().catch((e) => setStatus("error: " + e.message, "off"));
