// @azure/web-pubsub-express 1.1.0 with an echo handler, the anchor of
// `go run ./bench cloudevents`: connect answers {userId, groups}, a user
// event is echoed back with its data type. Prints {"port": N} and runs until
// its standard input closes.
"use strict";
const express = require("express");
const { WebPubSubEventHandler } = require("@azure/web-pubsub-express");

const handler = new WebPubSubEventHandler("chat", {
  path: "/eventhandler/",
  handleConnect(req, res) {
    res.success({ userId: req.context.userId, groups: ["g1"] });
  },
  handleUserEvent(req, res) {
    res.success(req.data, req.dataType);
  },
});
const app = express();
app.use(handler.getMiddleware());
const server = app.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
