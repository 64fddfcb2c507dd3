// The demo chat page: negotiate → reliable JSON WebSocket → rooms.
// Protocol (see CONTRACTS.md "Demo chat protocol"): join with joinGroup,
// send with the user event "message" {room, text}; the message function
// publishes {"type":"message", room, from, text, time} to the room's group
// and answers the sender {"ok":true,"id":...}.
import { ReliableClient } from "/static/wps-client.js";

const $ = (id) => document.getElementById(id);
const state = { client: null, name: "", rooms: new Map(), current: null, cfg: null };
window.wpsfnChat = state; // for the console and the browser test

async function config() {
  if (!state.cfg) state.cfg = await (await fetch("/config.json")).json();
  return state.cfg;
}

function setStatus(s) {
  const dot = $("status").querySelector(".dot");
  dot.className = "dot " + ({ online: "on", connecting: "wait", recovering: "wait" }[s] || "off");
  $("status-text").textContent = s;
  document.body.dataset.status = s;
}

async function negotiate(name) {
  const cfg = await config();
  const u = new URL(cfg.negotiateUrl, location.href);
  u.searchParams.set("userId", name);
  const res = await fetch(u);
  if (!res.ok) throw new Error(`negotiate answered ${res.status}: ${(await res.text()).trim()}`);
  const body = await res.json();
  if (!body.url) throw new Error("negotiate answered without a url");
  return body.url;
}

function room(name) {
  let r = state.rooms.get(name);
  if (!r) {
    r = { name, joined: false, unread: 0, items: [] };
    state.rooms.set(name, r);
  }
  return r;
}

function renderRooms() {
  const ul = $("rooms");
  ul.replaceChildren();
  for (const r of state.rooms.values()) {
    if (!r.joined) continue;
    const li = document.createElement("li");
    li.dataset.room = r.name;
    if (r.name === state.current) li.className = "active";
    const label = document.createElement("span");
    label.textContent = "# " + r.name;
    li.append(label);
    if (r.unread) {
      const b = document.createElement("span");
      b.className = "badge";
      b.textContent = r.unread;
      li.append(b);
    }
    li.onclick = () => select(r.name);
    ul.append(li);
  }
}

function itemNode(it) {
  if (it.kind === "system") {
    const d = document.createElement("div");
    d.className = "sys";
    d.textContent = it.text;
    return d;
  }
  const d = document.createElement("div");
  d.className = "msg" + (it.from === state.name ? " mine" : "") + (it.pending ? " pending" : "") + (it.failed ? " failed" : "");
  const who = document.createElement("div");
  who.className = "who";
  const b = document.createElement("b");
  b.textContent = it.from;
  who.append(b, " · " + (it.time ? new Date(it.time).toLocaleTimeString() : "sending…"));
  const t = document.createElement("div");
  t.className = "text";
  t.textContent = it.text;
  d.append(who, t);
  it.node = d;
  return d;
}

function renderMessages() {
  const box = $("messages");
  const r = state.current && state.rooms.get(state.current);
  if (!r) return;
  box.replaceChildren(...r.items.map(itemNode));
  box.scrollTop = box.scrollHeight;
}

function addItem(roomName, it) {
  const r = room(roomName);
  r.items.push(it);
  if (r.items.length > 500) r.items.shift();
  if (roomName === state.current) {
    const box = $("messages");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    box.append(itemNode(it));
    while (box.children.length > 500) box.firstChild.remove();
    if (atBottom || it.from === state.name) box.scrollTop = box.scrollHeight;
  } else if (it.kind !== "system") {
    r.unread++;
    renderRooms();
  }
}

function select(name) {
  state.current = name;
  const r = room(name);
  r.unread = 0;
  $("room-title").textContent = "# " + name;
  $("text").disabled = $("send-btn").disabled = $("leave-btn").disabled = false;
  renderRooms();
  renderMessages();
  $("text").focus();
}

async function join(name) {
  const r = room(name);
  await state.client.joinGroup(name);
  r.joined = true;
  addItem(name, { kind: "system", text: `you joined #${name}` });
  select(name);
}

async function leave(name) {
  await state.client.leaveGroup(name);
  const r = room(name);
  r.joined = false;
  state.current = [...state.rooms.values()].find((x) => x.joined)?.name || null;
  renderRooms();
  if (state.current) select(state.current);
  else {
    $("room-title").textContent = "No room yet";
    $("messages").replaceChildren();
    $("text").disabled = $("send-btn").disabled = $("leave-btn").disabled = true;
  }
}

function onMessage(msg) {
  const d = msg.data;
  if (!d || typeof d !== "object") return;
  if (d.type === "message" && typeof d.room === "string") {
    addItem(d.room, { kind: "message", from: String(d.from ?? "?"), text: String(d.text ?? ""), time: d.time, id: d.id });
  } else if (d.type === "heartbeat") {
    $("heartbeat").hidden = false;
    $("heartbeat-time").textContent = d.time ? new Date(d.time).toLocaleTimeString() : "";
  } else if (d.type === "system") {
    const text = d.text || (d.event === "left" ? `${d.user} left` : d.event || "system");
    const target = (msg.group && state.rooms.has(msg.group)) ? msg.group : state.current;
    if (target) addItem(target, { kind: "system", text });
    else {
      // Before any room (e.g. the connect function's welcome): show it above the hint.
      const d = document.createElement("div");
      d.className = "sys";
      d.textContent = text;
      $("messages").prepend(d);
    }
  }
  // {"ok":true,"id":...} answers to our own sends are handled by the ack promise.
}

async function send(text) {
  const roomName = state.current;
  const it = { kind: "message", from: state.name, text, pending: true };
  // The room's copy arrives from the group; show a pending bubble until then.
  addItem(roomName, it);
  try {
    await state.client.sendEvent("message", { room: roomName, text });
    it.node?.remove();
    const r = room(roomName);
    r.items = r.items.filter((x) => x !== it);
  } catch (e) {
    it.failed = true;
    it.node?.classList.add("failed");
    addItem(roomName, { kind: "system", text: `not sent: ${e.message}` });
  }
}

async function signIn(name) {
  state.name = name;
  const client = new ReliableClient(() => negotiate(name));
  state.client = client;
  client.on("status", setStatus);
  client.on("message", onMessage);
  client.on("connected", (c) => {
    $("whoami").textContent = `${c.userId || name} · ${c.connectionId}`;
    // Counters the browser test reads: recoveries keep the session, resets do not.
    if (c.recovered) document.body.dataset.recoveries = Number(document.body.dataset.recoveries || 0) + 1;
  });
  client.on("disconnected", (d) => {
    if (state.current) addItem(state.current, { kind: "system", text: `disconnected by the service: ${d.message || "no reason given"}` });
  });
  client.on("reset", async () => {
    document.body.dataset.resets = Number(document.body.dataset.resets || 0) + 1;
    // A fresh connection has no groups: join them again once online.
    const rooms = [...state.rooms.values()].filter((r) => r.joined).map((r) => r.name);
    setTimeout(async () => {
      for (const r of rooms) {
        try { await client.joinGroup(r); } catch (e) { console.warn("rejoin", r, e); }
      }
    }, 0);
  });
  await client.start();
}

$("signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = $("name").value.trim();
  if (!name) return;
  $("signin-btn").disabled = true;
  $("signin-error").textContent = "";
  try {
    await signIn(name);
    $("signin").hidden = true;
    $("chat").hidden = false;
    $("room").focus();
  } catch (err) {
    $("signin-error").textContent = err.message;
    setStatus("offline");
  } finally {
    $("signin-btn").disabled = false;
  }
});

$("join-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = $("room").value.trim();
  if (!name) return;
  $("join-error").textContent = "";
  try {
    await join(name);
    $("room").value = "";
  } catch (err) {
    $("join-error").textContent = `could not join ${name}: ${err.message}`;
  }
});

$("compose").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value;
  if (!text.trim() || !state.current) return;
  $("text").value = "";
  send(text);
});

$("leave-btn").onclick = () => state.current && leave(state.current).catch((e) => { $("join-error").textContent = e.message; });

config().then((c) => { $("hub").textContent = c.hub || "chat"; }).catch(() => {});
setStatus("signed out");
