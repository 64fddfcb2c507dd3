// Upstream peer for internal/emulator's MQTT tests: Microsoft's
// @azure/web-pubsub-express 1.1.0 as the hub's event handler for MQTT
// clients. It records what the SDK reads from each event (GET /records) and
// refuses connects whose query has reject=1 with res.fail(401), which the
// SDK answers with the MQTT code for the client's protocol version.
// Prints {"port":N}. Usage: node emulator-mqtt-express.js <hub>
"use strict";
const express = require("express");
const { WebPubSubEventHandler } = require("@azure/web-pubsub-express");

const hub = process.argv[2] || "h";
const records = [];
const ctx = (c) => ({
  connectionId: c.connectionId,
  userId: c.userId,
  eventName: c.eventName,
  subprotocol: c.subprotocol,
  clientProtocol: c.clientProtocol,
  mqtt: c.mqtt || null,
});

const handler = new WebPubSubEventHandler(hub, {
  path: "/eventhandler",
  handleConnect: (req, res) => {
    records.push({ kind: "connect", ...ctx(req.context), mqttProps: req.mqtt || null });
    if (req.queries && req.queries.reject) {
      res.fail(401, "rejected by express");
      return;
    }
    res.success({ userId: "ex-" + (req.mqtt && req.mqtt.username), groups: ["exg"] });
  },
  onConnected: (req) => records.push({ kind: "connected", ...ctx(req.context) }),
  onDisconnected: (req) => records.push({ kind: "disconnected", ...ctx(req.context), reason: req.reason, mqttProps: req.mqtt || null }),
});

const app = express();
app.use(handler.getMiddleware());
app.get("/records", (req, res) => res.json(records));
const server = app.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
