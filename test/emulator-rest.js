// REST peer for internal/emulator's tests: Microsoft's @azure/web-pubsub
// 1.2.0 runs the operations the Go test asks for, one JSON line per command
// on stdin, and answers one JSON line per command on stdout:
//   {"op":"sendToAll","args":[...]}                  → serviceClient.sendToAll(...args)
//   {"group":"g","op":"addConnection","args":[...]}  → serviceClient.group("g").addConnection(...args)
//   {"op":"listConnections","group":"g","args":[{maxPageSize}]} → collected members and pages
// Answers: {"ok":true,"result":...} or {"ok":false,"status":N,"code":"...","message":"..."}.
// Argument values {"$binary":"<base64>"} become Buffers.
// Usage: node emulator-rest.js <connectionString> <hub> [entra]
"use strict";
const readline = require("node:readline");
const { WebPubSubServiceClient } = require("@azure/web-pubsub");

const [connStr, hub, mode] = process.argv.slice(2);
const opts = { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } };
let client;
if (mode === "entra") {
  // A TokenCredential on the emulator's managed-identity endpoint (the App
  // Service protocol, IDENTITY_ENDPOINT and IDENTITY_HEADER from the Go
  // test): the tenant's RS256 token, which the REST API verifies.
  const m = /Endpoint=([^;]+);/i.exec(connStr);
  const credential = {
    getToken: async () => {
      const u = new URL(process.env.IDENTITY_ENDPOINT);
      u.search = new URLSearchParams({ "api-version": "2019-08-01", resource: "https://webpubsub.azure.com" });
      const res = await fetch(u, { headers: { "X-IDENTITY-HEADER": process.env.IDENTITY_HEADER } });
      if (!res.ok) throw new Error(`managed identity endpoint answered ${res.status}`);
      const body = await res.json();
      return { token: body.access_token, expiresOnTimestamp: Number(body.expires_on) * 1000 };
    },
  };
  client = new WebPubSubServiceClient(m[1], credential, hub, opts);
} else {
  client = new WebPubSubServiceClient(connStr, hub, opts);
}

function revive(v) {
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === "object") {
    if (typeof v.$binary === "string") return Buffer.from(v.$binary, "base64");
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = revive(x);
    return o;
  }
  return v;
}

async function run(cmd) {
  const args = revive(cmd.args || []);
  if (cmd.op === "listConnections") {
    const members = [];
    let pages = 0;
    const iter = await client.group(cmd.group).listConnections(args[0] || {});
    for await (const page of iter.byPage()) {
      pages++;
      for (const m of page) members.push(m);
    }
    return { members, pages };
  }
  const target = cmd.group !== undefined ? client.group(cmd.group) : client;
  if (typeof target[cmd.op] !== "function") throw new Error("no such operation: " + cmd.op);
  const r = await target[cmd.op](...args);
  return r === undefined ? null : r;
}

const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on("line", (line) => {
  if (!line.trim()) return;
  chain = chain.then(async () => {
    let out;
    try {
      out = { ok: true, result: await run(JSON.parse(line)) };
    } catch (e) {
      out = { ok: false, status: e.statusCode || 0, code: (e.code || ""), message: String(e.message || e) };
    }
    process.stdout.write(JSON.stringify(out) + "\n");
  });
});
rl.on("close", () => chain.then(() => process.exit(0)));
