// The demo in a real browser: headless Chromium driven by playwright-core.
// Two users sign in on the chat page served by `wpsfn dev`, join one room and
// exchange messages; one of them loses its socket and recovers; the live
// trace page shows the connections, the group and the events. Screenshots go
// to OUT_DIR.
//
// usage: node browser-chat.js BASE_URL OUT_DIR CONTROL_URL
// CONTROL_URL is the Go test's helper: POST CONTROL_URL/drop?user=NAME severs
// that user's socket the way a network failure would (no close frame).
// Prints one JSON object with what each page saw; exits non-zero on failure.
"use strict";

const path = require("path");
const fs = require("fs");
const os = require("os");
const { chromium } = require("playwright-core");

const [base, outDir, control] = process.argv.slice(2);
if (!base || !outDir || !control) {
  console.error("usage: node browser-chat.js BASE_URL OUT_DIR CONTROL_URL");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const room = "lobby";
const T = 15000; // per-step timeout

async function signIn(browser, name) {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(base + "/", { waitUntil: "load" });
  await page.fill("#name", name);
  await page.click("#signin-btn");
  await page.waitForSelector("#chat:not([hidden])", { timeout: T });
  await page.waitForSelector('body[data-status="online"]', { timeout: T });
  await page.fill("#room", room);
  await page.click("#join-btn");
  await page.waitForSelector(`#rooms li[data-room="${room}"].active`, { timeout: T });
  return { page, errors };
}

async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

// waitForMessage waits until page shows a message bubble from `from` with `text`.
async function waitForMessage(page, from, text) {
  await page.waitForFunction(
    ([from, text]) => [...document.querySelectorAll("#messages .msg:not(.pending)")].some(
      (m) => m.querySelector(".who b")?.textContent === from && m.querySelector(".text")?.textContent === text),
    [from, text], { timeout: T });
}

async function messages(page) {
  return page.$$eval("#messages .msg", (ms) => ms.map((m) => ({
    from: m.querySelector(".who b")?.textContent,
    text: m.querySelector(".text")?.textContent,
    mine: m.classList.contains("mine"),
    pending: m.classList.contains("pending"),
    failed: m.classList.contains("failed"),
  })));
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "wpsfn-chromium-"));
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    env: { ...process.env, HOME: userDataDir, XDG_CONFIG_HOME: userDataDir, XDG_CACHE_HOME: userDataDir },
  });
  const result = {};
  try {
    // The trace page first, so it sees everything from the sign-ins on.
    const traceCtx = await browser.newContext({ viewport: { width: 1400, height: 800 } });
    const trace = await traceCtx.newPage();
    await trace.goto(base + "/trace", { waitUntil: "load" });
    await trace.waitForSelector('body[data-status="live"]', { timeout: T });

    const alice = await signIn(browser, "alice");
    const bob = await signIn(browser, "bob");

    await say(alice.page, "hello from alice");
    await waitForMessage(bob.page, "alice", "hello from alice");
    await say(bob.page, "hi alice, bob here");
    await waitForMessage(alice.page, "bob", "hi alice, bob here");

    // A dropped socket: alice's client recovers with its reconnection token
    // and misses nothing that was sent meanwhile.
    await alice.page.evaluate(() => window.wpsfnChat.client.holdRecovery(2000));
    const drop = await fetch(control + "/drop?user=alice", { method: "POST" });
    if (!drop.ok) throw new Error(`drop: ${drop.status} ${await drop.text()}`);
    await alice.page.waitForSelector('body[data-status="recovering"]', { timeout: T }); // away for 2 s
    await say(bob.page, "sent while alice reconnects");
    await alice.page.waitForSelector('body[data-status="online"][data-recoveries="1"]', { timeout: T });
    await waitForMessage(alice.page, "bob", "sent while alice reconnects");
    await say(alice.page, "back again");
    await waitForMessage(bob.page, "alice", "back again");

    // The trace page: both users, the room, and upstream events with answers.
    await trace.waitForFunction((room) => {
      const text = (id) => document.getElementById(id).textContent;
      return text("users").includes("alice") && text("users").includes("bob") && text("groups").includes("#" + room);
    }, room, { timeout: T });
    await trace.waitForFunction(() => document.querySelectorAll('#rows .row[data-kind="upstream"]').length >= 4, null, { timeout: T })
      .catch(async (e) => {
        const rows = await trace.$$eval("#rows .row", (rs) => rs.map((r) => r.dataset.kind + " " + r.textContent).slice(-30));
        throw new Error(`${e.message}\ntrace rows:\n${rows.join("\n")}`);
      });
    result.trace = await trace.evaluate(() => ({
      rows: document.querySelectorAll("#rows .row:not(.rowhead)").length,
      kinds: [...new Set([...document.querySelectorAll("#rows .row:not(.rowhead)")].map((r) => r.dataset.kind))].sort(),
      upstream: [...document.querySelectorAll('#rows .row[data-kind="upstream"]')].map((r) => r.textContent).slice(-20),
      users: document.getElementById("users").textContent,
      groups: document.getElementById("groups").textContent,
    }));
    // Filtering narrows the rows to the matching ones.
    await trace.fill("#filter", "bob");
    await trace.waitForTimeout(400);
    result.trace.filtered = await trace.$$eval("#rows .row:not(.rowhead)", (rs) => rs.map((r) => r.textContent));

    // Own messages show as pending until acknowledged; wait for the acks.
    for (const p of [alice.page, bob.page]) {
      await p.waitForFunction(() => !document.querySelector("#messages .msg.pending"), null, { timeout: T });
    }
    result.alice = await messages(alice.page);
    result.bob = await messages(bob.page);
    result.errors = [...alice.errors, ...bob.errors];
    result.recovery = await alice.page.evaluate(() => ({
      recoveries: Number(document.body.dataset.recoveries || 0), resets: Number(document.body.dataset.resets || 0) }));

    await alice.page.screenshot({ path: path.join(outDir, "browser-chat-alice.png") });
    await bob.page.screenshot({ path: path.join(outDir, "browser-chat-bob.png") });
    await trace.fill("#filter", "");
    await trace.waitForTimeout(300);
    await trace.screenshot({ path: path.join(outDir, "browser-chat-trace.png") });
    result.screenshots = ["browser-chat-alice.png", "browser-chat-bob.png", "browser-chat-trace.png"];
  } finally {
    await browser.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
