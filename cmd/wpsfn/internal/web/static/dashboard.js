// The telemetry dashboard: negotiate → reliable JSON WebSocket → join the
// topic's group → show each reading. In Web PubSub an MQTT topic is a group
// of the same name, so what a device publishes to the topic arrives here as
// a group message: dataType "json" when the MQTT 5 publish said
// application/json (the simulated device does), "binary" (base64) for every
// MQTT 3.1.1 publish and any publish without a content type, "text" for
// text/plain. A reading is JSON {device, seq, temperature, humidity, time};
// anything else but the connect function's join and leave notices is
// shown as it came.
import { ReliableClient } from "/static/wps-client.js";

const $ = (id) => document.getElementById(id);
const KEEP_ROWS = 100;  // rows of the readings table
const KEEP_POINTS = 60; // points of each sparkline
const state = { cfg: null, client: null, devices: new Map(), received: [] };
window.wpsfnDashboard = state; // for the console and the browser test

function setStatus(s) {
  $("status").querySelector(".dot").className = "dot " + ({ online: "on", connecting: "wait", recovering: "wait" }[s] || "off");
  $("status-text").textContent = s === "recovering" ? "reconnecting…" : s;
  document.body.dataset.status = s;
}

async function negotiate() {
  const u = new URL(state.cfg.negotiateUrl, location.href);
  u.searchParams.set("userId", "dashboard-" + Math.random().toString(36).slice(2, 8));
  const res = await fetch(u);
  if (!res.ok) throw new Error(`negotiate answered ${res.status}: ${(await res.text()).trim()}`);
  const body = await res.json();
  if (!body.url) throw new Error("negotiate answered without a url");
  return body.url;
}

// decode turns a group message's data into {reading}, {notice} or {raw}.
function decode(msg) {
  let text = null;
  let value = msg.data;
  if (msg.dataType === "binary" || msg.dataType === "protobuf") {
    try {
      const bytes = Uint8Array.from(atob(msg.data), (c) => c.charCodeAt(0));
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch { return { raw: `${msg.data.length * 3 / 4 | 0} bytes of binary` }; }
  } else if (msg.dataType === "text") {
    text = msg.data;
  }
  if (text !== null) {
    try { value = JSON.parse(text); } catch { return { raw: text }; }
  }
  // The connect function announces who joins and leaves the group.
  if (value && value.type === "system") return { notice: value };
  const ok = value && typeof value === "object" && typeof value.device === "string" &&
    Number.isFinite(value.temperature) && Number.isFinite(value.humidity);
  return ok ? { reading: value } : { raw: typeof value === "string" ? value : JSON.stringify(value) };
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

const SVG = "http://www.w3.org/2000/svg";

function deviceCard(name) {
  let d = state.devices.get(name);
  if (d) return d;
  const node = el("div", "device");
  node.dataset.device = name;
  const head = el("div", "head");
  const title = el("span", "name", name);
  const seen = el("span", "seen");
  head.append(title, seen);
  const values = el("div", "values");
  const temp = el("div"), hum = el("div");
  const tv = el("div", "value"), hv = el("div", "value");
  temp.append(tv, el("div", "label", "temperature"));
  hum.append(hv, el("div", "label", "humidity"));
  values.append(temp, hum);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${KEEP_POINTS - 1} 100`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const tl = document.createElementNS(SVG, "polyline");
  tl.setAttribute("class", "temp");
  const hl = document.createElementNS(SVG, "polyline");
  hl.setAttribute("class", "hum");
  for (const l of [tl, hl]) l.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(hl, tl);
  const legend = el("div", "legend");
  legend.append(el("span", "temp", "temperature"), el("span", "hum", "humidity"), el("span", "", `· last ${KEEP_POINTS} readings`));
  const raw = el("div", "raw");
  node.append(head, values, svg, legend, raw);
  $("waiting").hidden = true;
  $("devices").append(node);
  d = { name, node, seen, tv, hv, svg, tl, hl, raw, points: [], count: 0 };
  state.devices.set(name, d);
  return d;
}

function unit(v, u) {
  const s = el("span", "", v.toFixed(1));
  s.append(el("small", "", u));
  return s;
}

// points scales values into the sparkline: the width holds KEEP_POINTS
// readings (fewer are spread over it), the height spans their range.
function points(vals) {
  if (!vals.length) return "";
  const lo = Math.min(...vals), hi = Math.max(...vals);
  const span = hi - lo || 1;
  const step = vals.length > 1 ? (KEEP_POINTS - 1) / (vals.length - 1) : 0;
  return vals.map((v, i) => `${(i * step).toFixed(2)},${(95 - (v - lo) / span * 90).toFixed(1)}`).join(" ");
}

function showReading(r, dataType) {
  const d = deviceCard(r.device);
  d.count++;
  d.tv.replaceChildren(unit(r.temperature, " °C"));
  d.hv.replaceChildren(unit(r.humidity, " %"));
  d.seen.textContent = `#${r.seq ?? "?"} · ${d.count} received · ${new Date().toLocaleTimeString()}`;
  d.points.push({ t: r.temperature, h: r.humidity });
  if (d.points.length > KEEP_POINTS) d.points.shift();
  d.tl.setAttribute("points", points(d.points.map((p) => p.t)));
  d.hl.setAttribute("points", points(d.points.map((p) => p.h)));
  d.svg.setAttribute("aria-label", `${r.device}: last ${d.points.length} temperatures`);
  addRow([r.device, r.seq ?? "", r.temperature.toFixed(1) + " °C", r.humidity.toFixed(1) + " %",
    r.time ? new Date(r.time).toLocaleTimeString() : "", dataType], false, r);
}

function showRaw(raw, from, dataType) {
  const name = from || "(REST)";
  const d = deviceCard(name);
  d.count++;
  d.raw.textContent = raw;
  d.seen.textContent = `${d.count} received · ${new Date().toLocaleTimeString()}`;
  addRow([name, "", "", "", raw, dataType], true, null);
}

function addRow(cells, raw, r) {
  const tr = el("tr", "fresh");
  tr.append(el("td", "", new Date().toLocaleTimeString()));
  cells.forEach((c, i) => tr.append(el("td", raw && i === 4 ? "raw" : "", String(c))));
  if (r) {
    tr.dataset.device = r.device;
    tr.dataset.seq = r.seq ?? "";
    tr.dataset.temperature = r.temperature;
    tr.dataset.humidity = r.humidity;
    tr.dataset.time = r.time ?? "";
  }
  tr.dataset.as = cells[cells.length - 1];
  const body = $("readings");
  body.prepend(tr);
  while (body.rows.length > KEEP_ROWS) body.deleteRow(-1);
  setTimeout(() => tr.classList.remove("fresh"), 800);
}

function onMessage(msg) {
  if (msg.from !== "group" || msg.group !== state.cfg.topic) return;
  const got = decode(msg);
  if (got.notice) return;
  state.received.push({ ...got, dataType: msg.dataType, fromUserId: msg.fromUserId ?? null });
  if (state.received.length > KEEP_ROWS) state.received.shift();
  if (got.reading) showReading(got.reading, msg.dataType);
  else showRaw(got.raw, msg.fromUserId, msg.dataType);
}

async function main() {
  state.cfg = await (await fetch("/dashboard/config.json")).json();
  const { topic, hub, device } = state.cfg;
  $("about").textContent = device
    ? `Hub ${hub}: the simulated device ${device} publishes a reading every second over MQTT to topic “${topic}”; this page joined group “${topic}” over WebSocket.`
    : `Hub ${hub}: readings published to MQTT topic “${topic}” (the group “${topic}”) show here; no simulated device runs.`;
  const client = new ReliableClient(negotiate);
  state.client = client;
  client.on("status", setStatus);
  client.on("message", onMessage);
  // A fresh connection (first, or after the session was lost) joins again.
  let recoveries = 0;
  client.on("connected", async (c) => {
    if (c.recovered) {
      document.body.dataset.recoveries = ++recoveries;
      return;
    }
    try {
      await client.joinGroup(topic);
      document.body.dataset.joined = topic;
    } catch (e) {
      // E.g. CONNECT_ROLES without webpubsub.joinLeaveGroup[.topic].
      if (!e.reset) $("about").textContent = `Joining group “${topic}” was refused (${e.message}): the connect function grants the roles (CONNECT_ROLES).`;
    }
  });
  await client.start();
}

main().catch((e) => { setStatus("offline"); $("about").textContent = "The dashboard could not start: " + e.message; });
