// Group-message peer for internal/emulator's tests: Microsoft's
// @azure/web-pubsub-client 1.1.0 joins group "room" and reports every
// group-message and server-message it gets while the Go test sends REST
// group sends (and, for the reliable protocol, severs the socket).
// Protocol on stdout, one JSON line each:
//   {"step":"ready","connectionId":...}        after joining
//   {"step":"seen","group":[...],"server":[...],"connected":n,"disconnected":n}
// on stdin: a number n: report once n group messages have arrived.
// Usage: node emulator-client-group.js <url> json|reliable
"use strict";
const readline = require("node:readline");
const { WebPubSubClient, WebPubSubJsonProtocol, WebPubSubJsonReliableProtocol } = require("@azure/web-pubsub-client");

const [url, mode] = process.argv.slice(2);
const emit = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const lines = [];
let waiter = null;
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (l) => {
  lines.push(l);
  if (waiter) waiter();
});
rl.on("close", () => {
  lines.push("stop");
  if (waiter) waiter();
});
async function nextLine() {
  while (lines.length === 0) await new Promise((r) => (waiter = r));
  return lines.shift();
}

async function main() {
  const protocol = mode === "reliable" ? WebPubSubJsonReliableProtocol() : WebPubSubJsonProtocol();
  const client = new WebPubSubClient(url, { protocol });
  const seen = { group: [], server: [], connected: 0, disconnected: 0 };
  let id = "";
  client.on("connected", (e) => {
    seen.connected++;
    id = e.connectionId;
  });
  client.on("disconnected", () => seen.disconnected++);
  client.on("group-message", (e) => {
    const m = e.message;
    let data = m.data;
    if (m.dataType === "binary") data = Buffer.from(data).toString("base64");
    seen.group.push({ group: m.group, fromUserId: m.fromUserId === undefined ? null : m.fromUserId, dataType: m.dataType, data });
  });
  client.on("server-message", (e) => seen.server.push({ dataType: e.message.dataType, data: e.message.data }));
  await client.start();
  await client.joinGroup("room");
  emit({ step: "ready", connectionId: id });
  for (;;) {
    const line = await nextLine();
    if (line === "stop") break;
    const n = Number(line);
    const end = Date.now() + 20000;
    while (seen.group.length < n && Date.now() < end) await sleep(10);
    await sleep(200); // a duplicate would arrive now
    emit({ step: "seen", ...seen });
    seen.group = [];
    seen.server = [];
  }
  await client.stop();
}

main().then(
  () => process.exit(0),
  (e) => {
    emit({ step: "error", error: String(e && e.stack ? e.stack : e) });
    process.exit(1);
  },
);
