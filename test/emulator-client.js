// Client peer for internal/emulator's tests: Microsoft's
// @azure/web-pubsub-client 1.1.0 runs a scenario against the emulator and
// reports what it saw, one JSON line per step on stdout; the Go test answers
// on stdin where the scenario waits for it.
// Usage: node emulator-client.js <urlA> <urlB> json|reliable
"use strict";
const readline = require("node:readline");
const {
  WebPubSubClient,
  WebPubSubJsonProtocol,
  WebPubSubJsonReliableProtocol,
} = require("@azure/web-pubsub-client");

const [urlA, urlB, mode] = process.argv.slice(2);
const protocol = () => (mode === "reliable" ? WebPubSubJsonReliableProtocol() : WebPubSubJsonProtocol());
// No client-side resends of refused messages: the test wants the first answer.
const options = () => ({ protocol: protocol(), messageRetryOptions: { maxRetries: 0 } });
const emit = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const stdinLines = [];
let stdinWaiter = null;
readline.createInterface({ input: process.stdin }).on("line", (l) => {
  stdinLines.push(l);
  if (stdinWaiter) stdinWaiter();
});
async function nextLine() {
  while (stdinLines.length === 0) await new Promise((r) => (stdinWaiter = r));
  return stdinLines.shift();
}

async function until(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await sleep(10);
  }
}

function watch(name, client) {
  const seen = { connected: [], disconnected: 0, group: [], server: [] };
  client.on("connected", (e) => seen.connected.push({ connectionId: e.connectionId, userId: e.userId }));
  client.on("disconnected", () => seen.disconnected++);
  client.on("group-message", (e) => seen.group.push({ group: e.message.group, from: e.message.fromUserId, dataType: e.message.dataType, data: e.message.data }));
  client.on("server-message", (e) => seen.server.push({ dataType: e.message.dataType, data: e.message.data }));
  return seen;
}

async function main() {
  const a = new WebPubSubClient(urlA, options());
  const b = new WebPubSubClient(urlB, options());
  const sa = watch("a", a);
  const sb = watch("b", b);
  await a.start();
  await b.start();
  await until(() => sa.connected.length && sb.connected.length, 5000, "connected events");
  emit({ step: "connected", a: sa.connected[0], b: sb.connected[0] });

  await b.joinGroup("room");
  await a.joinGroup("room");
  for (let i = 1; i <= 5; i++) await a.sendToGroup("room", { n: i }, "json");
  await until(() => sb.group.length >= 5 && sa.group.length >= 5, 5000, "group messages");
  await a.sendToGroup("room", "quiet", "text", { noEcho: true });
  await until(() => sb.group.length >= 6, 5000, "noEcho message");
  const result = {};
  await a.sendEvent("echo", "hi", "text");
  await until(() => sa.server.length >= 1, 5000, "event reply");
  try {
    await a.sendToGroup("secret", "x", "text");
    result.forbidden = "sent";
  } catch (e) {
    result.forbidden = e.errorDetail ? e.errorDetail.name : String(e);
  }
  try {
    await a.sendEvent("unknown-event", "x", "text");
    result.invocation = "sent";
  } catch (e) {
    result.invocation = e.errorDetail ? e.errorDetail.name : String(e);
  }
  await b.leaveGroup("room");
  await a.sendToGroup("room", "after-leave", "text");
  await sleep(300);
  emit({ step: "groups", a: sa, b: sb, ...result });

  if (mode === "reliable") {
    // The Go test sends numbered server messages to b, severing b's socket
    // in the middle; b must recover and get each exactly once, in order.
    const before = sb.server.length;
    emit({ step: "ready", b: sb.connected[0].connectionId });
    const n = Number(await nextLine());
    await until(() => sb.server.length - before >= n, 20000, n + " messages after the drop");
    await sleep(300); // any duplicate would arrive now
    emit({ step: "recovered", received: sb.server.slice(before).map((m) => m.data), connected: sb.connected, disconnected: sb.disconnected });
  }
  await a.stop();
  await b.stop();
  emit({ step: "done" });
}

main().then(
  () => process.exit(0),
  (e) => {
    emit({ step: "error", error: String(e && e.stack ? e.stack : e) });
    process.exit(1);
  },
);
