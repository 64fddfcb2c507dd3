// MQTT peer for internal/emulator's tests: MQTT.js (npm mqtt 5.16.0) over
// ws:// for MQTT 3.1.1 and 5.0, and Microsoft's @azure/web-pubsub-client
// 1.1.0 for the WebSocket side of cross-protocol messages. It runs the
// scenario and prints one JSON line per step; the Go test checks them.
// Usage: node emulator-mqtt.js <mqttUrl> <badTokenUrl> <webPubSubClientUrl>
"use strict";
const mqtt = require("mqtt");
const { WebPubSubClient, WebPubSubJsonProtocol } = require("@azure/web-pubsub-client");

const [url, badUrl, webUrl] = process.argv.slice(2);
const emit = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const payload = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function connect(u, clientId, protocolVersion, extra = {}) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(u, { clientId, protocolVersion, clean: true, reconnectPeriod: 0, connectTimeout: 5000, ...extra });
    c.once("connect", (ack) => resolve({ c, ack }));
    c.once("error", (err) => {
      c.end(true);
      reject(err);
    });
  });
}

function nextMessage(c, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no message within " + ms + " ms")), ms);
    c.once("message", (topic, msg, packet) => {
      clearTimeout(t);
      resolve({ topic, msg, packet });
    });
  });
}

async function scenario(v) {
  const { c: sub, ack } = await connect(url, "js" + v + "sub", v);
  emit({ step: "connack", v, sessionPresent: ack.sessionPresent, properties: ack.properties || null });
  const { c: pub } = await connect(url, "js" + v + "pub", v);
  const topic = "jst" + v;
  const granted = await sub.subscribeAsync(topic, { qos: 2 });
  emit({ step: "suback", v, granted: granted.map((g) => g.qos) });
  for (const qos of [0, 1, 2]) {
    const got = nextMessage(sub);
    await pub.publishAsync(topic, payload, { qos, properties: v === 5 ? { contentType: "application/octet-stream" } : undefined });
    const m = await got;
    emit({ step: "publish", v, qos, topic: m.topic, gotQos: m.packet.qos, hex: m.msg.toString("hex") });
  }
  // Wildcards and shared subscriptions: refused in the SUBACK.
  // (MQTT.js rejects a SUBACK with failure codes; the packet says which.)
  let codes;
  try {
    codes = (await sub.subscribeAsync({ "a/+": { qos: 1 }, "$share/g/t": { qos: 1 } })).map((g) => g.qos);
  } catch (err) {
    codes = err.packet ? err.packet.granted : String(err);
  }
  emit({ step: "wildcard", v, granted: codes });
  // A refused token: the CONNACK code.
  try {
    await connect(badUrl, "js" + v + "bad", v);
    emit({ step: "badtoken", v, code: 0 });
  } catch (err) {
    emit({ step: "badtoken", v, code: err.code });
  }
  await Promise.all([sub.endAsync(), pub.endAsync()]);
}

async function crossProtocol() {
  const web = new WebPubSubClient(webUrl, { protocol: WebPubSubJsonProtocol(), messageRetryOptions: { maxRetries: 0 } });
  const seen = [];
  web.on("group-message", (e) => seen.push({ group: e.message.group, dataType: e.message.dataType, data: e.message.data instanceof ArrayBuffer ? Buffer.from(e.message.data).toString("base64") : e.message.data }));
  await web.start();
  await web.joinGroup("cross");
  const { c: m5 } = await connect(url, "jsx5", 5);
  const { c: m3 } = await connect(url, "jsx3", 4);
  const toMqtt = [];
  m5.on("message", (topic, msg, packet) => toMqtt.push({ topic, qos: packet.qos, data: msg.toString(), contentType: (packet.properties || {}).contentType }));
  await m5.subscribeAsync("cross", { qos: 1 });
  await m5.publishAsync("cross", JSON.stringify({ t: 21.5 }), { qos: 1, properties: { contentType: "application/json" } });
  await m3.publishAsync("cross", "plain", { qos: 1 });
  await web.sendToGroup("cross", "from web", "text", { noEcho: true });
  for (let i = 0; i < 250 && (seen.length < 2 || toMqtt.length < 3); i++) await sleep(20);
  emit({ step: "cross", toWeb: seen, toMqtt });
  web.stop();
  await Promise.all([m5.endAsync(), m3.endAsync()]);
}

(async () => {
  await scenario(4);
  await scenario(5);
  await crossProtocol();
  emit({ step: "done" });
  process.exit(0);
})().catch((err) => {
  emit({ step: "error", message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
