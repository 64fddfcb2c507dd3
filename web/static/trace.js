// The live trace page. The server batches events (one SSE "batch" per
// ~100 ms, bounded, with a dropped counter), so this page does constant work
// per batch: it keeps the last KEEP events in a ring, renders only the last
// SHOW matching ones into the DOM on the next animation frame, and never
// grows the DOM beyond SHOW rows.
const KEEP = 5000;
const SHOW = 500;

const $ = (id) => document.getElementById(id);
const ring = [];            // last KEEP events, oldest first
let queued = [];            // events waiting for the next frame
let paused = false, pausedNew = 0;
let dropped = 0, lastTotal = null, lastAt = 0, rateEMA = 0;
let lastRender = 0;
const MIN_RENDER_MS = 150; // at most ~7 DOM updates per second, whatever the event rate
let query = "", kinds = new Set();
let frameRequested = false;

function readKinds() {
  kinds = new Set();
  for (const cb of document.querySelectorAll("input[data-kinds]")) {
    if (cb.checked) cb.dataset.kinds.split(",").forEach((k) => kinds.add(k));
  }
}

function known(k) {
  return ["frame-in", "frame-out", "upstream", "rest", "connected", "disconnected", "group-join", "group-leave"].includes(k);
}

function matches(e) {
  if (known(e.k) ? !kinds.has(e.k) : false) return false;
  if (!query) return true;
  const hay = `${e.k} ${e.h || ""} ${e.c || ""} ${e.u || ""} ${e.g || ""} ${e.s || ""} ${e.st || ""}`.toLowerCase();
  return hay.includes(query);
}

function fmtTime(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function rowNode(e) {
  const row = document.createElement("div");
  row.className = "row";
  row.dataset.kind = e.k;
  const cells = [
    fmtTime(e.t),
    e.k,
    e.c || (e.h ? e.h : ""),
    [e.u, e.g && "#" + e.g].filter(Boolean).join(" "),
    e.s || "",
    (e.st ? e.st : "") + (e.l ? ` ${e.l < 10 ? e.l.toFixed(1) : Math.round(e.l)}ms` : ""),
  ];
  cells.forEach((text, i) => {
    const s = document.createElement("span");
    s.textContent = text;
    if (i === 1) s.className = "k k-" + e.k;
    if (i === 5 && e.st >= 400) s.className = "bad";
    if (i === 4 || i === 2) s.title = text;
    row.append(s);
  });
  return row;
}

function atBottom(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < 30; }

function requestRender() {
  if (frameRequested) return;
  frameRequested = true;
  const wait = Math.max(0, lastRender + MIN_RENDER_MS - performance.now());
  setTimeout(() => requestAnimationFrame(() => render()), wait);
}

// render shows the queued events; while paused only a rebuild (force: a
// filter change) redraws, from the events kept when the pause began.
function render(force = false) {
  if (!force) frameRequested = false;
  lastRender = performance.now();
  if (paused && !force) { queued = []; return; }
  const box = $("rows");
  const stick = atBottom(box);
  // Only the last SHOW matching events can be on screen: build just those.
  const take = [];
  for (let i = queued.length - 1; i >= 0 && take.length < SHOW; i--) if (matches(queued[i])) take.push(queued[i]);
  take.reverse();
  queued = [];
  if (take.length) {
    const frag = document.createDocumentFragment();
    for (const e of take) frag.append(rowNode(e));
    const keep = SHOW - take.length;
    if (keep <= 0) {
      box.replaceChildren(box.firstElementChild, frag); // the header, then the new rows
    } else {
      box.append(frag);
      let extra = box.children.length - 1 - SHOW;
      while (extra-- > 0) box.children[1].remove();
    }
  }
  $("shown").textContent = `${box.children.length - 1} / ${ring.length}`;
  if (stick) box.scrollTop = box.scrollHeight;
}

function rebuild() {
  const box = $("rows");
  box.replaceChildren(box.firstElementChild);
  queued = paused ? frozen.slice() : ring.slice();
  render(true);
}

function onBatch(b) {
  for (const e of b.events) ring.push(e);
  if (ring.length > KEEP * 2) ring.splice(0, ring.length - KEEP); // amortised trim
  dropped += b.dropped;
  $("dropped").textContent = (dropped + b.missed).toLocaleString();
  // The rate from the server's clock: batches may arrive bunched up.
  if (lastTotal !== null && b.at > lastAt) {
    const r = ((b.total - lastTotal) * 1000) / (b.at - lastAt);
    rateEMA = rateEMA ? rateEMA * 0.7 + r * 0.3 : r;
    $("rate").textContent = Math.round(rateEMA).toLocaleString();
  }
  lastTotal = b.total; lastAt = b.at;
  if (paused) {
    pausedNew += b.events.length;
    $("pause").textContent = `Resume (${pausedNew.toLocaleString()} new)`;
    return;
  }
  for (const e of b.events) queued.push(e);
  if (queued.length > KEEP) queued.splice(0, queued.length - KEEP);
  requestRender();
}

function li(main, sub, testid) {
  const l = document.createElement("li");
  const m = document.createElement("div");
  m.textContent = main;
  l.append(m);
  if (sub) {
    const s = document.createElement("div");
    s.className = "sub";
    s.textContent = sub;
    l.append(s);
  }
  if (testid) l.dataset.id = testid;
  return l;
}

function onSnapshot(snap) {
  const conns = [], groups = [], users = new Map();
  for (const h of snap.hubs || []) {
    for (const c of h.connections || []) {
      conns.push(li(`${c.userId || "(anonymous)"} · ${h.name}`, `${c.id}${c.protocol ? " · " + c.protocol : ""}${c.groups?.length ? " · #" + c.groups.join(" #") : ""}`, c.id));
      if (c.userId) users.set(c.userId, (users.get(c.userId) || 0) + 1);
    }
    for (const g of h.groups || []) {
      groups.push(li(`#${g.name} · ${h.name}`, `${g.members.length} connection${g.members.length === 1 ? "" : "s"}`, g.name));
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

async function main() {
  readKinds();
  const cfg = await (await fetch("/config.json")).json();
  if (!cfg.traceUrl) { setStatus("no trace stream", "off"); return; }
  const es = new EventSource(cfg.traceUrl);
  es.onopen = () => setStatus("live", "on");
  es.onerror = () => setStatus("reconnecting", "wait");
  es.addEventListener("batch", (ev) => onBatch(JSON.parse(ev.data)));
  es.addEventListener("snapshot", (ev) => onSnapshot(JSON.parse(ev.data)));
}

let frozen = []; // the ring as it was when the pause began
$("pause").onclick = () => {
  paused = !paused;
  frozen = paused ? ring.slice() : [];
  pausedNew = 0;
  $("pause").textContent = paused ? "Resume" : "Pause";
  document.body.dataset.paused = paused;
  if (!paused) rebuild();
};
$("clear").onclick = () => { ring.length = 0; queued = []; rebuild(); };
let filterTimer;
$("filter").oninput = () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => { query = $("filter").value.trim().toLowerCase(); rebuild(); }, 120);
};
for (const cb of document.querySelectorAll("input[data-kinds]")) cb.onchange = () => { readKinds(); rebuild(); };

main().catch((e) => setStatus("error: " + e.message, "off"));
