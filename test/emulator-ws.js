// Plain WebSocket peer for internal/emulator's tests, with the `ws` package:
// a reader that joined group "g" through its token, a writer in
// webpubsub_mode=sendToGroup, an event sender whose frames become the
// "message" event, and a client that sends a frame over 1 MB. Prints one
// JSON report.
// Usage: node emulator-ws.js <readerURL> <writerURL> <eventURL> <bigURL>
"use strict";
const WebSocket = require("ws");

const [readerURL, writerURL, eventURL, bigURL] = process.argv.slice(2);
const open = (url, protocols) =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (req, res) => {
      req.destroy();
      reject(new Error("HTTP " + res.statusCode));
    });
  });
const nextMessage = (ws) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no message")), 5000);
    ws.once("message", (data, isBinary) => {
      clearTimeout(t);
      resolve({ binary: isBinary, text: isBinary ? Buffer.from(data).toString("base64") : data.toString() });
    });
  });

async function main() {
  const report = {};
  const reader = await open(readerURL);
  const writer = await open(writerURL);
  let m = nextMessage(reader);
  writer.send("hello group");
  report.text = await m;
  m = nextMessage(reader);
  writer.send(Buffer.from([1, 2, 3]));
  report.binary = await m;

  const ev = await open(eventURL);
  m = nextMessage(ev);
  ev.send("ping");
  report.echo = await m;

  const big = await open(bigURL);
  report.bigClose = await new Promise((resolve) => {
    big.once("close", (code) => resolve(code));
    big.send(Buffer.alloc((1 << 20) + 1, 120), { binary: false });
  });
  // The others are unaffected.
  m = nextMessage(reader);
  writer.send("still here");
  report.after = await m;

  let refused;
  try {
    await open(readerURL.replace(/access_token=[^&]+/, "access_token=bad"));
  } catch (e) {
    refused = String(e.message);
  }
  report.refused = refused;
  for (const ws of [reader, writer, ev]) ws.close(1000);
  process.stdout.write(JSON.stringify(report) + "\n", () => process.exit(0));
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e) }) + "\n");
  process.exit(1);
});
