// The demo chat page: negotiate → reliable JSON WebSocket → rooms.
// Protocol (the message and connect functions' package docs): join with
// joinGroup, send with the user event "message" {room, text}; the message
// function publishes {"type":"message", id, room, from, text, time} to the
// room's group and answers the sender {"ok":true,"id":...}; the connect
// function announces {"type":"system","event":"joined"|"left","user"} to a
// room. Anything else sent to the page (`wpsfn send`, the broadcast
// function) shows as a notice from the server.
//
// Each own message shows its state: sending… → sent (acknowledged) → its
// time (the room's copy arrived), or "not sent: <reason>" when refused.
// Typed while offline it is queued and sent once the connection is back,
// also when that takes a fresh connection (the emulator restarted).
// The name, the rooms and the last messages are kept in sessionStorage, so
// a reload keeps the session.
// With a login in /config.json (`wpsfn dev --keyless`), the page signs in
// through the provider instead (login.js) and negotiates with its token.
import { ReliableClient } from "/static/wps-client.js";
import { startLogin, finishLogin, session } from "/static/login.js";

const $ = (id) => document.getElementById(id);
const SAVED = "wpsfn-chat";
const KEEP_PER_ROOM = 200;
const state = { client: null, name: "", rooms: new Map(), current: null, cfg: null, outbox: [], online: false };
window.wpsfnChat = state; // for the console and the browser test

async function config() {
  if (!state.cfg) state.cfg = await (await fetch("/config.json")).json();
  return state.cfg;
}
// The message function's limits, from its configuration (/config.json): a
// limit it does not name is left to the function to check.
const limits = () => state.cfg?.limits || {};

function save() {
  const rooms = [...state.rooms.values()].filter((r) => r.joined).map((r) => ({
    name: r.name,
    items: r.items.slice(-KEEP_PER_ROOM).map(({ node, ...it }) => it),
  }));
  try { sessionStorage.setItem(SAVED, JSON.stringify({ name: state.name, current: state.current, rooms })); } catch { /* full or disabled */ }
}
function saved() { try { return JSON.parse(sessionStorage.getItem(SAVED) || "null"); } catch { return null; } }

function setStatus(s) {
  const dot = $("status").querySelector(".dot");
  dot.className = "dot " + ({ online: "on", connecting: "wait", recovering: "wait" }[s] || "off");
  $("status-text").textContent = s === "recovering" ? "reconnecting…" : s;
  document.body.dataset.status = s;
  state.online = s === "online";
}

async function negotiate(name) {
  const cfg = await config();
  const u = new URL(cfg.negotiateUrl, location.href);
  const init = {};
  if (cfg.login) {
    const s = await session(cfg.login);
    if (!s) throw new Error("the sign-in has expired: sign in again");
    init.headers = { Authorization: "Bearer " + s.token };
  } else u.searchParams.set("userId", name);
  let res;
  try { res = await fetch(u, init); } catch { throw new Error("the server cannot be reached"); }
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

// statusText is what an own message's header says after the name.
function statusText(it) {
  switch (it.state) {
    case "sending": return "sending…";
    case "queued": return "queued: sends when back online";
    case "sent": return "sent";
    case "failed": return "not sent";
    default: return it.time ? new Date(it.time).toLocaleTimeString() : "";
  }
}

function itemNode(it) {
  if (it.kind === "system") {
    const d = document.createElement("div");
    d.className = "sys";
    d.textContent = it.text;
    it.node = d;
    return d;
  }
  const d = it.node || document.createElement("div");
  d.replaceChildren();
  d.className = "msg" + (it.mine ? " mine" : "") + (it.kind === "notice" ? " notice" : "") +
    (it.state === "sending" || it.state === "queued" ? " pending" : "") + (it.state === "failed" ? " failed" : "");
  d.dataset.state = it.state || "delivered";
  const who = document.createElement("div");
  who.className = "who";
  const b = document.createElement("b");
  b.textContent = it.from;
  const st = document.createElement("span");
  st.className = "st";
  st.textContent = " · " + statusText(it);
  who.append(b, st);
  const t = document.createElement("div");
  t.className = "text";
  t.textContent = it.text;
  d.append(who, t);
  if (it.state === "failed") {
    const why = document.createElement("div");
    why.className = "reason";
    why.textContent = it.reason;
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "ghost retry";
    retry.textContent = "Retry";
    retry.onclick = () => { it.state = "sending"; itemNode(it); deliver(it); };
    d.append(why, retry);
  }
  it.node = d;
  return d;
}

function update(it) { if (it.node) itemNode(it); save(); }

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
    if (atBottom || it.mine) box.scrollTop = box.scrollHeight;
  } else if (it.kind !== "system") {
    r.unread++;
    renderRooms();
  }
  save();
}

function select(name) {
  state.current = name;
  const r = room(name);
  r.unread = 0;
  $("room-title").textContent = "# " + name;
  $("text").disabled = $("send-btn").disabled = $("leave-btn").disabled = false;
  renderRooms();
  renderMessages();
  save();
  $("text").focus();
}

async function join(name, quiet = false) {
  const r = room(name);
  await state.client.joinGroup(name);
  const was = r.joined;
  r.joined = true;
  if (!quiet && !was) addItem(name, { kind: "system", text: `you joined #${name}` });
  if (!quiet || !state.current) select(name);
  renderRooms();
}

async function leave(name) {
  await state.client.leaveGroup(name);
  const r = room(name);
  r.joined = false;
  r.items = [];
  state.current = [...state.rooms.values()].find((x) => x.joined)?.name || null;
  renderRooms();
  if (state.current) select(state.current);
  else {
    $("room-title").textContent = "No room yet";
    $("messages").replaceChildren();
    $("text").disabled = $("send-btn").disabled = $("leave-btn").disabled = true;
    save();
  }
}

// targetRoom is where a message without a room of its own shows: its group
// if the page is in it, else the current room.
function targetRoom(msg) { return (msg.group && state.rooms.get(msg.group)?.joined) ? msg.group : state.current; }

function notice(where, text) {
  if (where) { addItem(where, { kind: "system", text }); return; }
  // Before any room (e.g. the connect function's welcome): show it above the hint.
  const d = document.createElement("div");
  d.className = "sys";
  d.textContent = text;
  $("messages").prepend(d);
}

function onMessage(msg) {
  const d = msg.data;
  if (d && typeof d === "object" && !Array.isArray(d) && d.type === "message" && typeof d.room === "string" && typeof d.text === "string") {
    const r = room(d.room);
    const from = String(d.from ?? "?");
    // The room's copy of an own message: update its bubble instead of adding one.
    if (from === state.name) {
      const own = r.items.find((x) => x.mine && (x.id === d.id || (!x.id && x.state !== "failed" && x.text === d.text)));
      if (own) {
        Object.assign(own, { id: d.id, time: d.time, state: "delivered" });
        update(own);
        return;
      }
    }
    if (d.id && r.items.some((x) => x.id === d.id)) return; // already shown (a reload, a resend)
    addItem(d.room, { kind: "message", from, text: d.text, time: d.time || new Date().toISOString(), id: d.id, mine: from === state.name });
  } else if (d && d.type === "heartbeat") {
    $("heartbeat").hidden = false;
    $("heartbeat-time").textContent = d.time ? new Date(d.time).toLocaleTimeString() : "";
  } else if (d && d.type === "system") {
    const where = targetRoom(msg);
    if (d.event === "joined" && d.user) {
      if (d.user !== state.name && !rejoined(where, d.user, msg.group || where)) notice(where, `${d.user} joined #${msg.group || where}`);
    } else if (d.event === "left" && d.user) {
      if (d.user !== state.name) notice(where, `${d.user} left #${msg.group || where}`);
    } else notice(where, d.text || d.event || "system");
  } else if (d && typeof d === "object" && "ok" in d && msg.from === "server" && !msg.group) {
    // {"ok":true,"id":...}: the message function's answer to our own send; the ack settles it.
  } else {
    // Anything else (`wpsfn send`, the broadcast function): a notice from the server.
    let text;
    if (typeof d === "string") text = d;
    else if (msg.dataType === "binary") text = `(binary message, ${atob(d || "").length} bytes)`;
    else if (d && typeof d.text === "string") text = d.text;
    else text = JSON.stringify(d);
    const where = targetRoom(msg);
    const it = { kind: "notice", from: msg.group ? `server → #${msg.group}` : "server", text, time: new Date().toISOString() };
    if (where) addItem(where, it);
    else notice(null, `server: ${text}`);
  }
}

// rejoined turns "U left #room" into "U rejoined #room" when U comes back
// with nothing said in between (a reload, a dropped network): one quiet
// line, as chat apps show presence by user rather than by connection.
function rejoined(where, user, roomName) {
  const r = where && state.rooms.get(where);
  const last = r && r.items[r.items.length - 1];
  if (!last || last.kind !== "system" || last.text !== `${user} left #${roomName}`) return false;
  last.text = `${user} rejoined #${roomName}`;
  if (last.node) last.node.textContent = last.text;
  save();
  return true;
}

// check returns why text cannot be sent, or "".
function check(roomName, text) {
  const l = limits();
  const runes = [...text].length;
  if (l.maxTextRunes && runes > l.maxTextRunes) return `The message is ${runes.toLocaleString()} characters; the limit is ${l.maxTextRunes.toLocaleString()}.`;
  const bytes = new TextEncoder().encode(JSON.stringify({ room: roomName, text })).length;
  if (l.maxBytes && bytes > l.maxBytes) return `The message is ${bytes.toLocaleString()} bytes as sent; the limit is ${l.maxBytes.toLocaleString()}.`;
  return "";
}

// reasonOf turns an ack error into the function's own words.
function reasonOf(e) {
  return String(e.message || e).replace(/^InvocationFailed: /, "").replace(/^The event handler answered \d+: /, "");
}

// send shows an own message and delivers it (no checks: the form checks).
function send(text, roomName = state.current) {
  const it = { kind: "message", from: state.name, text, mine: true, room: roomName, state: state.online ? "sending" : "queued" };
  addItem(roomName, it);
  deliver(it);
  return it;
}

async function deliver(it) {
  if (!state.online) {
    it.state = "queued";
    update(it);
  }
  try {
    await state.client.sendEvent("message", { room: it.room, text: it.text });
    if (it.state !== "delivered") { it.state = "sent"; update(it); }
  } catch (e) {
    if (e.reset) {
      // The session was lost before an answer (the service restarted): send
      // it again once the fresh connection has rejoined the rooms.
      it.state = "queued";
      update(it);
      state.outbox.push(it);
      return;
    }
    it.state = "failed";
    it.reason = reasonOf(e);
    update(it);
  }
}

function flushOutbox() {
  const queued = state.outbox.splice(0);
  for (const it of queued) { it.state = "sending"; update(it); deliver(it); }
}

async function signIn(name) {
  state.name = name;
  const client = new ReliableClient(() => negotiate(name));
  state.client = client;
  client.on("status", (s) => {
    setStatus(s);
    // Messages typed offline wait in the client; show them as sending again.
    if (s === "online") for (const r of state.rooms.values()) for (const it of r.items) if (it.state === "queued" && !state.outbox.includes(it)) { it.state = "sending"; update(it); }
  });
  client.on("message", onMessage);
  client.on("connected", (c) => {
    $("whoami").textContent = `${c.userId || name}`;
    $("whoami").title = `connection ${c.connectionId}`;
    // Counters the browser test reads: recoveries keep the session, resets do not.
    if (c.recovered) document.body.dataset.recoveries = Number(document.body.dataset.recoveries || 0) + 1;
  });
  client.on("disconnected", (d) => {
    if (state.current) addItem(state.current, { kind: "system", text: `disconnected by the service: ${d.message || "no reason given"}` });
  });
  client.on("reset", () => {
    document.body.dataset.resets = Number(document.body.dataset.resets || 0) + 1;
    // A fresh connection has no groups: join them again once online, then
    // send what was waiting.
    const rooms = [...state.rooms.values()].filter((r) => r.joined).map((r) => r.name);
    const once = async (c) => {
      if (c.recovered) return;
      client.handlers.connected = client.handlers.connected.filter((f) => f !== once);
      for (const r of rooms) {
        try { await client.joinGroup(r); } catch (e) { console.warn("rejoin", r, e); }
      }
      flushOutbox();
    };
    client.on("connected", once);
  });
  await client.start();
  save();
}

// enter signs in and restores the saved rooms.
async function enter(name, restore) {
  await signIn(name);
  $("signin").hidden = true;
  $("chat").hidden = false;
  if (restore) {
    for (const r of restore.rooms || []) {
      const rr = room(r.name);
      rr.items = (r.items || []).map((it) => (it.state === "sending" || it.state === "queued") ? { ...it, state: "failed", reason: "the page was reloaded before it was sent" } : it);
      try { await join(r.name, true); } catch (e) { $("join-error").textContent = `could not rejoin ${r.name}: ${e.message}`; }
    }
    if (restore.current && state.rooms.get(restore.current)?.joined) select(restore.current);
  }
  if (!state.current) $("room").focus();
}

$("signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (state.cfg?.login) {
    $("signin-btn").disabled = true;
    startLogin(state.cfg.login).catch((err) => {
      $("signin-error").textContent = err.message;
      $("signin-btn").disabled = false;
    });
    return;
  }
  const name = $("name").value.trim();
  $("signin-error").textContent = "";
  if (!name) {
    $("signin-error").textContent = "Enter a name: it cannot be only spaces.";
    $("name").focus();
    return;
  }
  $("signin-btn").disabled = true;
  try {
    await enter(name, null);
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
  const pattern = limits().roomPattern;
  let re = null;
  try { re = pattern ? new RegExp(pattern) : null; } catch { /* a Go-only syntax: the function checks it */ }
  if (re && !re.test(name)) {
    $("join-error").textContent = `"${name}" is not a room name the message function accepts (${pattern})`;
    return;
  }
  try {
    await join(name);
    $("room").value = "";
  } catch (err) {
    $("join-error").textContent = `could not join ${name}: ${err.message}`;
  }
});

function showLimit() {
  const text = $("text").value;
  const l = limits();
  const runes = [...text].length;
  const el = $("compose-info");
  const why = check(state.current || "", text);
  el.textContent = why || (l.maxTextRunes && runes > l.maxTextRunes * 0.8 ? `${runes} / ${l.maxTextRunes}` : "");
  el.className = "compose-info" + (why ? " bad" : "");
  // As chat apps do: Send stays off while the text cannot be sent.
  $("send-btn").disabled = !state.current || !!why;
}
$("text").addEventListener("input", showLimit);

$("compose").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value;
  if (!text.trim() || !state.current) return;
  const why = check(state.current, text);
  if (why) { showLimit(); return; } // keep the text so it can be shortened
  $("text").value = "";
  showLimit();
  send(text);
});
state.send = send; // the browser test sends past the page's own checks

$("leave-btn").onclick = () => state.current && leave(state.current).catch((e) => { $("join-error").textContent = e.message; });

function signinFailed(err) {
  $("signin").hidden = false;
  $("chat").hidden = true;
  $("signin-error").textContent = err.message;
  setStatus("offline");
}

setStatus("signed out");
config().then(async (c) => {
  $("hub").textContent = c.hub || "chat";
  const l = limits();
  // maxlength counts UTF-16 units: leave room for characters outside the BMP; check() counts characters.
  if (l.maxTextRunes) $("text").maxLength = l.maxTextRunes * 2;
  const prev = saved();
  if (c.login) {
    $("name").hidden = true;
    $("signin-btn").textContent = "Sign in with the local identity provider";
    $("signin-intro").textContent = "The emulator's local tenant signs you in (an OpenID Connect authorization-code flow); negotiate checks its token and makes a client access URL for hub ";
    const fresh = await finishLogin(c.login);
    const s = fresh || await session(c.login);
    if (s) await enter(s.name, prev?.name === s.name ? prev : null);
    return;
  }
  if (prev?.name) {
    $("name").value = prev.name;
    await enter(prev.name, prev);
  }
}).catch(signinFailed);
