// The telemetry demo in a real browser: headless Chromium (playwright-core)
// opens the dashboard of a running `wpsfn dev`, which negotiates, joins the
// topic's group over the reliable JSON subprotocol and shows the simulated
// device's readings. Meanwhile MQTT.js (npm mqtt 5.16.0) subscribes to the
// same topic, recording what the device publishes, and publishes readings
// of its own as device "jsdevice" over MQTT 3.1.1 (so they reach the page
// as base64 binary) plus one payload that is not a reading.
//
// Then the page's socket is severed as a network failure would (CONTROL_URL)
// and the page must recover its session without losing or repeating a
// reading.
//
// usage: node browser-dashboard.js BASE_URL OBSERVER_MQTT_URL PUBLISHER_MQTT_URL OUT_DIR CONTROL_URL
// The two MQTT URLs carry client access tokens for the hub's MQTT endpoint
// (joinLeaveGroup.telemetry, sendToGroup.telemetry); POST CONTROL_URL/drop
// severs the dashboard's socket (no close frame). Prints one JSON object:
// what MQTT.js saw the device publish, what it published itself, and the
// page's table rows and device cards; exits non-zero on failure.
"use strict";

const path = require("path");
const fs = require("fs");
const os = require("os");
const mqtt = require("mqtt");
const { chromium } = require("playwright-core");

const [base, observerUrl, publisherUrl, outDir, control] = process.argv.slice(2);
if (!base || !observerUrl || !publisherUrl || !outDir || !control) {
  console.error("usage: node browser-dashboard.js BASE_URL OBSERVER_MQTT_URL PUBLISHER_MQTT_URL OUT_DIR CONTROL_URL");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const topic = "telemetry";
const T = 20000;

function connect(url, clientId, protocolVersion) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { clientId, protocolVersion, clean: true, reconnectPeriod: 0, connectTimeout: 5000 });
    c.once("connect", () => resolve(c));
    c.once("error", (err) => { c.end(true); reject(err); });
  });
}

async function rows(page) {
  return page.$$eval("#readings tr", (trs) => trs.map((tr) => ({
    device: tr.children[1].textContent,
    seq: tr.dataset.seq || "",
    temperature: tr.dataset.temperature || "",
    humidity: tr.dataset.humidity || "",
    time: tr.dataset.time || "",
    as: tr.dataset.as,
    text: tr.children[5].textContent,
  })));
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const r = { steps: [], observed: [], published: [], errors: [] };
  const step = (s) => r.steps.push(s);

  const observer = await connect(observerUrl, "jsobserver", 5);
  observer.on("message", (t, payload, packet) => {
    let v;
    try { v = JSON.parse(payload.toString("utf8")); } catch { return; }
    if (t === topic && v.device === "sensor1") r.observed.push({ ...v, qos: packet.qos, contentType: packet.properties?.contentType ?? null });
  });
  await observer.subscribeAsync(topic, { qos: 1 });
  step("observer subscribed");

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "wpsfn-chromium-"));
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    env: { ...process.env, HOME: userDataDir, XDG_CONFIG_HOME: userDataDir, XDG_CACHE_HOME: userDataDir },
  });
  let publisher;
  try {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    const page = await ctx.newPage();
    page.on("pageerror", (e) => r.errors.push(String(e)));
    // A blocked script, style or connection shows as a console error.
    page.on("console", (m) => { if (m.type() === "error") r.errors.push(m.text()); });
    await page.goto(base + "/dashboard", { waitUntil: "load" });
    await page.waitForSelector(`body[data-joined="${topic}"]`, { timeout: T });
    r.about = await page.textContent("#about");
    step("joined");
    await page.waitForFunction(() => document.querySelectorAll('#readings tr[data-device="sensor1"]').length >= 3, null, { timeout: T });
    step("device readings shown");

    publisher = await connect(publisherUrl, "jsdevice", 4);
    for (let seq = 1; seq <= 3; seq++) {
      const reading = { device: "jsdevice", seq, temperature: 18.5 + seq, humidity: 50.25 + seq, time: new Date().toISOString() };
      await publisher.publishAsync(topic, JSON.stringify(reading), { qos: 1 });
      r.published.push(reading);
    }
    await publisher.publishAsync(topic, "hello from mqtt.js", { qos: 1 });
    step("mqtt.js published");
    await page.waitForFunction(() => document.querySelectorAll('#readings tr[data-device="jsdevice"]').length === 3 &&
      [...document.querySelectorAll("#readings td.raw")].some((td) => td.textContent === "hello from mqtt.js"), null, { timeout: T });
    // A network failure: the page resumes its session and gets what was
    // sent meanwhile.
    // Held offline for 2.5 s, so readings wait for it in its session.
    await page.evaluate(() => window.wpsfnDashboard.client.holdRecovery(2500));
    const res = await fetch(control + "/drop", { method: "POST" });
    if (!res.ok) throw new Error(`drop: ${res.status} ${await res.text()}`);
    await page.waitForSelector('body[data-status="recovering"]', { timeout: T });
    await page.waitForSelector('body[data-status="online"][data-recoveries="1"]', { timeout: T });
    r.recovered = true;
    step("recovered");
    // Two more device readings, so the observer has seen all the device
    // readings the page shows, and some arrived after the recovery.
    const last = Math.max(...(await rows(page)).filter((x) => x.device === "sensor1").map((x) => +x.seq));
    await page.waitForFunction((last) => [...document.querySelectorAll('#readings tr[data-device="sensor1"]')].some((tr) => +tr.dataset.seq > last + 1), last, { timeout: T });
    await new Promise((res) => setTimeout(res, 300));
    r.rows = await rows(page);
    r.cards = await page.$$eval(".device", (ds) => ds.map((d) => ({
      device: d.dataset.device, text: d.querySelector(".values").textContent, raw: d.querySelector(".raw").textContent,
      points: d.querySelector("polyline.temp").getAttribute("points") || "",
    })));
    await page.screenshot({ path: path.join(outDir, "dashboard.png") });
    r.screenshots = ["dashboard.png"];
  } catch (e) {
    e.message += ` (after steps: ${r.steps.join(", ")})`;
    throw e;
  } finally {
    await browser.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
    if (publisher) await publisher.endAsync();
    await observer.endAsync();
  }
  process.stdout.write(JSON.stringify(r) + "\n");
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
