// The live trace page under a flood: the Go test publishes tens of thousands
// of trace events per second while this script checks, in headless Chromium,
// that the page stays usable: the DOM stays bounded (a virtual list draws
// only the rows in view), frames keep rendering, the page answers promptly,
// filtering and pausing work. A screenshot goes to OUT_DIR.
//
// usage: node browser-trace.js BASE_URL OUT_DIR
// Prints one JSON object with the measurements; exits non-zero on failure.
"use strict";

const path = require("path");
const fs = require("fs");
const os = require("os");
const { chromium } = require("playwright-core");

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) {
  console.error("usage: node browser-trace.js BASE_URL OUT_DIR");
  process.exit(2);
}
const T = 15000;

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "wpsfn-chromium-"));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: home, XDG_CACHE_HOME: home },
  });
  const r = {};
  try {
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 800 } })).newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(base + "/trace", { waitUntil: "load" });
    await page.waitForSelector('body[data-status="live"]', { timeout: T });
    await page.waitForFunction(() => window.wpsfnTrace.view.length >= 5000, null, { timeout: T });
    await page.waitForTimeout(1500); // let the rate estimate settle
    await page.waitForSelector("#spacer .row", { timeout: T }).catch(async (e) => {
      const m = await page.evaluate(() => { const b = document.getElementById("rows"); return { top: b.scrollTop, h: b.scrollHeight, c: b.clientHeight, sp: document.getElementById("spacer").style.height, view: window.wpsfnTrace.view.length, kids: document.getElementById("spacer").children.length }; });
      throw new Error(e.message + " " + JSON.stringify(m));
    });

    // The rows follow the stream: the newest row changes.
    const newest = () => page.$eval("#spacer .row:last-child", (x) => x.textContent);
    const n0 = await newest();
    await page.waitForTimeout(600);
    r.advancing = (await newest()) !== n0;

    // Frames rendered in one second while the flood goes on.
    r.fps = await page.evaluate(() => new Promise((resolve) => {
      let n = 0;
      const end = performance.now() + 1000;
      const tick = () => { n++; if (performance.now() < end) requestAnimationFrame(tick); else resolve(n); };
      requestAnimationFrame(tick);
    }));
    // How long the page takes to answer a trivial request.
    const t0 = Date.now();
    await page.evaluate(() => 1);
    r.evalMs = Date.now() - t0;
    r.rows = await page.$$eval("#spacer .row", (rs) => rs.length);
    r.kept = await page.evaluate(() => window.wpsfnTrace.events.length);
    // The rows pane scrolls by itself and follows the newest events.
    r.scroll = await page.evaluate(() => { const b = document.getElementById("rows");
      return { top: b.scrollTop, height: b.scrollHeight, client: b.clientHeight, page: document.documentElement.scrollHeight, viewport: innerHeight }; });
    r.rate = Number((await page.textContent("#rate")).replace(/[^0-9]/g, ""));
    r.dropped = Number((await page.textContent("#dropped")).replace(/[^0-9]/g, ""));

    // Filtering shows only matching rows, still bounded.
    await page.fill("#filter", "needle");
    await page.waitForTimeout(800);
    r.filtered = await page.$$eval("#spacer .row", (rs) => rs.map((x) => x.textContent));
    await page.fill("#filter", "");

    // Pausing freezes the rows; resuming continues.
    await page.click("#pause");
    await page.waitForTimeout(300);
    const before = await page.$$eval("#spacer .row", (rs) => rs.map((x) => x.textContent).join("\n"));
    await page.waitForTimeout(1000);
    const after = await page.$$eval("#spacer .row", (rs) => rs.map((x) => x.textContent).join("\n"));
    r.pauseHeld = before === after && before.length > 0;
    r.pauseLabel = await page.textContent("#pause");
    await page.click("#pause");
    await page.waitForTimeout(500);
    const resumed = await page.$$eval("#spacer .row", (rs) => rs.map((x) => x.textContent).join("\n"));
    r.resumed = resumed !== after;
    r.rowsAfter = await page.$$eval("#spacer .row", (rs) => rs.length);
    r.errors = errors;
    await page.screenshot({ path: path.join(outDir, "browser-trace-flood.png") });
  } finally {
    await browser.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(r) + "\n");
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
