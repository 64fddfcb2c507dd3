// Upstream peer for internal/emulator's tests: Microsoft's
// @azure/web-pubsub-express 1.1.0 as the hub's event handler. It records
// every event it receives; GET /records returns them. Prints {"port":N}.
// Usage: node emulator-express.js <hub>
"use strict";
const express = require("express");
const { WebPubSubEventHandler } = require("@azure/web-pubsub-express");

const hub = process.argv[2] || "chat";
const records = [];
const ctx = (c) => ({
  hub: c.hub,
  connectionId: c.connectionId,
  userId: c.userId,
  eventName: c.eventName,
  subprotocol: c.subprotocol,
  states: JSON.parse(JSON.stringify(c.states || {})), // a copy: setState mutates it
  signature: c.signature ? "present" : "absent",
  origin: c.origin,
});

const handler = new WebPubSubEventHandler(hub, {
  path: "/eventhandler",
  handleConnect: (req, res) => {
    records.push({ kind: "connect", ...ctx(req.context), claims: req.claims, query: req.queries, subprotocols: req.subprotocols, hasHeaders: !!req.headers });
    if (req.queries && req.queries.reject) {
      res.fail(401, "rejected by express");
      return;
    }
    res.setState("counter", 0);
    res.success({ userId: "ex-" + req.context.userId, groups: ["exg"], roles: ["webpubsub.joinLeaveGroup"] });
  },
  handleUserEvent: (req, res) => {
    records.push({ kind: "user", ...ctx(req.context), dataType: req.dataType, data: req.dataType === "binary" ? Buffer.from(req.data).toString("base64") : req.data });
    res.setState("counter", (req.context.states.counter || 0) + 1);
    res.success("got:" + (typeof req.data === "string" ? req.data : JSON.stringify(req.data)), "text");
  },
  onConnected: (req) => records.push({ kind: "connected", ...ctx(req.context) }),
  onDisconnected: (req) => records.push({ kind: "disconnected", ...ctx(req.context), reason: req.reason }),
  onGroupJoined: (req) => records.push({ kind: "joined", ...ctx(req.context), group: req.group }),
  onGroupLeft: (req) => records.push({ kind: "left", ...ctx(req.context), group: req.group }),
});

const app = express();
app.use(handler.getMiddleware());
app.get("/records", (req, res) => res.json(records));
const server = app.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.stdin.on("end", () => process.exit(0)); // the test is over; keep-alive sockets may linger
process.stdin.resume();
