// Microsoft's @azure/web-pubsub-client 1.1.0 against `wpsfn dev`: two
// clients connect with the URLs negotiate gave them, join a room, and one
// sends a chat message as the user event "message"; the other must get it
// from the message function as a group message. Prints one JSON object.
// usage: node keyless-client.js URL_A URL_B
"use strict";
const { WebPubSubClient, WebPubSubJsonReliableProtocol } = require("@azure/web-pubsub-client");

const [urlA, urlB] = process.argv.slice(2);
const T = 15000;

async function main() {
  const mk = (url) => new WebPubSubClient({ getClientAccessUrl: async () => url }, { protocol: WebPubSubJsonReliableProtocol() });
  const a = mk(urlA), b = mk(urlB);
  const r = {};
  const got = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no group message within 15 s")), T);
    b.on("group-message", (e) => {
      const d = e.message.data;
      if (d && d.type === "message") { clearTimeout(timer); resolve(d); }
    });
  });
  const connected = [];
  for (const c of [a, b]) {
    c.on("connected", (e) => connected.push(e.userId));
    await c.start();
  }
  await a.joinGroup("lobby");
  await b.joinGroup("lobby");
  const ack = await a.sendEvent("message", { room: "lobby", text: "hi from the SDK" }, "json");
  r.acked = ack.ackId !== undefined;
  const d = await got;
  r.connected = connected;
  r.from = d.from;
  r.text = d.text;
  a.stop();
  b.stop();
  console.log(JSON.stringify(r));
}
main().catch((e) => { console.error(e); process.exit(1); });
