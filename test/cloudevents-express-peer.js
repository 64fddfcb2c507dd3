// Microsoft's @azure/web-pubsub-express handler as a peer for
// pkg/cloudevents' cross-implementation test. It serves hub "chat" under
// /eventhandler/ on a loopback port, prints {"port": N} on its first stdout
// line, and echoes back what it parsed from each request so that the Go test
// can assert it: connect → the parsed request in state "connect" (and in the
// response fields), user events → a JSON reply describing data, type, ids and
// states. Notifications (which Express runs after answering) are kept and
// served, then forgotten, by GET /log.
"use strict";
const express = require("express");
const { WebPubSubEventHandler } = require("@azure/web-pubsub-express");

const log = [];
const ctx = (c) => ({
  hub: c.hub, connectionId: c.connectionId, userId: c.userId, eventName: c.eventName,
  subprotocol: c.subprotocol, origin: c.origin, clientProtocol: c.clientProtocol,
  states: JSON.parse(JSON.stringify(c.states)), // a snapshot: the state object is also where setState writes
  mqtt: c.mqtt,
});

const handler = new WebPubSubEventHandler("chat", {
  path: "/eventhandler/",
  handleConnect(req, res) {
    if (req.mqtt && req.mqtt.username === "bad") {
      return res.failWith({ mqtt: { code: 0x86, reason: "peer says bad credentials" } });
    }
    if (req.query && req.query.reject) {
      return res.fail(401, "rejected " + req.context.connectionId);
    }
    res.setState("connect", {
      context: ctx(req.context), claims: req.claims, query: req.query, headers: req.headers,
      subprotocols: req.subprotocols, clientCertificates: req.clientCertificates, mqtt: req.mqtt,
    });
    res.success({
      userId: "peer:" + req.context.userId,
      groups: (req.query && req.query.group) || [],
      roles: ["webpubsub.joinLeaveGroup"],
      subprotocol: req.subprotocols && req.subprotocols[req.subprotocols.length - 1],
    });
  },
  handleUserEvent(req, res) {
    const seen = (req.context.states.seen || 0) + 1;
    res.setState("seen", seen);
    let data = req.data;
    if (req.dataType === "binary") data = Buffer.from(req.data).toString("base64");
    if (req.context.eventName === "fail") return res.fail(400, "peer refuses " + data);
    if (req.context.eventName === "binary") {
      return res.success(Buffer.from(req.data).reverse(), "binary");
    }
    if (req.context.eventName === "text") return res.success("text:" + data, "text");
    res.success(JSON.stringify({ context: ctx(req.context), dataType: req.dataType, data, seen }), "json");
  },
  onConnected(req) { log.push({ kind: "connected", context: ctx(req.context) }); },
  onDisconnected(req) { log.push({ kind: "disconnected", context: ctx(req.context), reason: req.reason, mqtt: req.mqtt }); },
  onGroupJoined(req) { log.push({ kind: "joined", context: ctx(req.context), group: req.group }); },
  onGroupLeft(req) { log.push({ kind: "left", context: ctx(req.context), group: req.group }); },
});

const app = express();
app.use(handler.getMiddleware());
app.get("/log", (req, res) => { res.json(log.splice(0)); });
const server = app.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.stdin.on("end", () => process.exit(0)); // the test closes stdin to stop us
process.stdin.resume();
