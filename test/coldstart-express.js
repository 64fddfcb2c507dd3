// The Node.js anchor of the cold-start benchmark (bench/coldstart.go): an
// event handler equivalent to the connect function, built the usual way with
// Microsoft's @azure/web-pubsub-express on Express. It listens on
// 127.0.0.1:$PORT and serves hub "chat" at /api/connect/; the benchmark
// times exec → the first answered abuse-protection OPTIONS.
"use strict";
const express = require("express");
const { WebPubSubEventHandler } = require("@azure/web-pubsub-express");

const handler = new WebPubSubEventHandler("chat", {
  path: "/api/connect/",
  handleConnect(req, res) {
    const sub = req.claims && req.claims.sub && req.claims.sub[0];
    if (!sub) return res.fail(401, "anonymous connections are not allowed");
    res.success({ userId: sub, groups: (req.query && req.query.group) || [], roles: ["webpubsub.joinLeaveGroup"] });
  },
  onConnected() {},
  onDisconnected() {},
});

const app = express();
app.use(handler.getMiddleware());
const server = app.listen(Number(process.env.PORT || 8080), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
