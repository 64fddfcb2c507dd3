// A small hand-written client for Azure Web PubSub's reliable JSON
// subprotocol (json.reliable.webpubsub.azure.v1), speaking it directly over
// the browser's WebSocket:
//  - acks: joinGroup / leaveGroup / event carry an ackId; the returned
//    promise settles on the service's ack ("Duplicate" counts as success).
//  - sequence ids: every message carries sequenceId; the client drops ids it
//    has seen and acknowledges the highest with sequenceAck (batched).
//  - recovery: when the socket drops, it reconnects with the connection id
//    and reconnection token for up to 30 s and re-sends unacked requests with
//    their ackIds; on close code 1008 (session gone) or after that window it
//    starts a fresh connection through getUrl() and fires "reset".
// Events (on(name, fn)): "connected" {connectionId, userId, recovered},
// "message" (the whole service message), "status" ("connecting", "online",
// "recovering", "offline"), "reset", "disconnected" {message}.
"use strict";

const SUBPROTOCOL = "json.reliable.webpubsub.azure.v1";
const RECOVERY_WINDOW_MS = 30000;

export class ReliableClient {
  // getUrl: async () => client access URL (from the negotiate function).
  constructor(getUrl) {
    this.getUrl = getUrl;
    this.handlers = {};
    this.ws = null;
    this.connectionId = null;
    this.userId = null;
    this.reconnectionToken = null;
    this.baseUrl = null;
    this.lastSeq = 0;        // highest sequenceId received
    this.ackedSeq = 0;       // highest sequenceId acknowledged to the service
    this.seqTimer = null;
    this.nextAckId = 1;
    this.pending = new Map(); // ackId -> {frame, resolve, reject}
    this.stopped = false;
    this.recovering = false;
  }

  on(name, fn) { (this.handlers[name] ||= []).push(fn); return this; }
  emit(name, arg) { for (const fn of this.handlers[name] || []) { try { fn(arg); } catch (e) { console.error(e); } } }

  async start() {
    this.stopped = false;
    await this.openFresh();
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close(1000, "bye");
    this.emit("status", "offline");
  }

  // holdRecovery delays the next recovery by ms (tests and demos: what is
  // sent to this client meanwhile must arrive once it is back). Closing the
  // socket from the browser cannot simulate a drop: a close frame ends the
  // session on the service side.
  holdRecovery(ms) { this.offlineUntil = Date.now() + ms; }

  joinGroup(group) { return this.request({ type: "joinGroup", group }); }
  leaveGroup(group) { return this.request({ type: "leaveGroup", group }); }
  sendEvent(event, data, dataType = "json") { return this.request({ type: "event", event, dataType, data }); }

  request(frame) {
    const ackId = this.nextAckId++;
    frame.ackId = ackId;
    return new Promise((resolve, reject) => {
      this.pending.set(ackId, { frame, resolve, reject });
      this.sendFrame(frame);
    });
  }

  sendFrame(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
    // else: kept in this.pending and re-sent after recovery
  }

  async openFresh() {
    this.emit("status", "connecting");
    const url = await this.getUrl();
    const u = new URL(url);
    this.baseUrl = u.origin.replace(/^http/, "ws") + u.pathname;
    this.lastSeq = 0;
    this.ackedSeq = 0;
    this.reconnectionToken = null;
    this.connectionId = null;
    await this.open(url, false);
  }

  open(url, recovering) {
    return new Promise((resolve, reject) => {
      let opened = false;
      const ws = new WebSocket(url, SUBPROTOCOL);
      this.ws = ws;
      ws.onopen = () => {
        opened = true;
        if (recovering) {
          // Recovery succeeded once the socket is open: re-send what was not acked.
          this.emit("status", "online");
          for (const p of this.pending.values()) this.sendFrame(p.frame);
          this.emit("connected", { connectionId: this.connectionId, userId: this.userId, recovered: true });
        }
        resolve();
      };
      ws.onmessage = (ev) => this.onFrame(ev.data);
      ws.onclose = (ev) => {
        if (this.ws !== ws) return;
        if (!opened) { reject(new Error(`websocket closed before opening (code ${ev.code})`)); return; }
        this.onClose(ev);
      };
      ws.onerror = () => { /* onclose follows with the code */ };
    });
  }

  onFrame(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { console.warn("non-JSON frame ignored"); return; }
    switch (msg.type) {
      case "system":
        if (msg.event === "connected") {
          this.connectionId = msg.connectionId;
          this.userId = msg.userId;
          this.reconnectionToken = msg.reconnectionToken;
          this.emit("status", "online");
          this.emit("connected", { connectionId: msg.connectionId, userId: msg.userId, recovered: false });
          for (const p of this.pending.values()) this.sendFrame(p.frame);
        } else if (msg.event === "disconnected") {
          this.emit("disconnected", { message: msg.message });
        }
        return;
      case "ack": {
        const p = this.pending.get(msg.ackId);
        if (!p) return;
        this.pending.delete(msg.ackId);
        if (msg.success || (msg.error && msg.error.name === "Duplicate")) p.resolve(msg);
        else p.reject(Object.assign(new Error(msg.error ? `${msg.error.name}: ${msg.error.message}` : "request failed"), { ack: msg }));
        return;
      }
      case "message":
        if (typeof msg.sequenceId === "number") {
          if (msg.sequenceId <= this.lastSeq) return; // a re-sent duplicate after recovery
          this.lastSeq = msg.sequenceId;
          this.scheduleSequenceAck();
        }
        this.emit("message", msg);
        return;
      default:
        return; // pong, invokeResponse, ...: not used by this page
    }
  }

  scheduleSequenceAck() {
    if (this.seqTimer) return;
    this.seqTimer = setTimeout(() => {
      this.seqTimer = null;
      if (this.lastSeq > this.ackedSeq && this.ws && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send(JSON.stringify({ type: "sequenceAck", sequenceId: this.lastSeq }));
        this.ackedSeq = this.lastSeq;
      }
    }, 100);
  }

  async onClose(ev) {
    if (this.stopped) return;
    if (ev.code === 1008 || !this.reconnectionToken || !this.connectionId) {
      await this.restart(`closed with code ${ev.code}`);
      return;
    }
    this.emit("status", "recovering");
    const deadline = Date.now() + RECOVERY_WINDOW_MS;
    if (this.offlineUntil > Date.now()) await new Promise((r) => setTimeout(r, this.offlineUntil - Date.now()));
    let delay = 250;
    while (!this.stopped && Date.now() < deadline) {
      const u = new URL(this.baseUrl);
      u.searchParams.set("awps_connection_id", this.connectionId);
      u.searchParams.set("awps_reconnection_token", this.reconnectionToken);
      try {
        await this.open(u.toString(), true);
        return;
      } catch (e) {
        // The handshake failed (the service may be restarting): try again.
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
    if (!this.stopped) await this.restart("recovery window passed");
  }

  async restart(reason) {
    // The old session is gone: requests waiting for acks cannot be confirmed.
    // They are rejected with reset = true: the caller may send them again on
    // the fresh connection (the chat page does).
    for (const [id, p] of this.pending) { p.reject(Object.assign(new Error(`connection reset (${reason})`), { reset: true })); this.pending.delete(id); }
    this.emit("reset", reason);
    let delay = 500;
    while (!this.stopped) {
      try { await this.openFresh(); return; } catch (e) {
        this.emit("status", "offline");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }
}
