// REST benchmark peer for `go run ./bench rest`: SendToAll through Microsoft's
// @azure/web-pubsub from CONCURRENCY async loops for DURATION_MS against the
// benchmark's local sink, after a short warm-up. Prints {"calls","errors","seconds"}.
// Usage: node wps-bench.js <connection string> <hub> <duration ms> <concurrency>
"use strict";
const { WebPubSubServiceClient } = require("@azure/web-pubsub");

async function main() {
  const [connStr, hub, durationArg, concurrencyArg] = process.argv.slice(2);
  const duration = Number(durationArg) || 3000;
  const concurrency = Number(concurrencyArg) || 50;
  const client = new WebPubSubServiceClient(connStr, hub, { retryOptions: { maxRetries: 0 }, allowInsecureConnection: true });
  const opts = { contentType: "text/plain" };

  const run = async (ms, counts) => {
    const end = Date.now() + ms;
    const loop = async () => {
      while (Date.now() < end) {
        try {
          await client.sendToAll("hello", opts);
          counts.calls++;
        } catch (e) {
          counts.errors++;
          if (counts.errors === 1) console.error("first error:", e && e.message);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
  };

  await run(Math.min(500, duration / 4), { calls: 0, errors: 0 }); // warm-up: connections, JIT
  const counts = { calls: 0, errors: 0 };
  const start = process.hrtime.bigint();
  await run(duration, counts);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(JSON.stringify({ calls: counts.calls, errors: counts.errors, seconds }) + "\n");
}

main().catch((e) => { console.error(e); process.exit(1); });
