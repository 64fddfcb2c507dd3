// The demo in a real browser: headless Chromium driven by playwright-core.
// Two users sign in on the chat page served by `wpsfn dev`, join one room and
// exchange messages, and each behaviour a user meets is checked: join and
// leave notices, a long unbroken text wrapping inside its bubble, a refused
// message showing its reason, messages sent with the REST API (as `wpsfn
// send` does), a dropped socket recovered without loss, a reload keeping
// the session, a message typed while the emulator is stopped delivered after
// it restarts; then a trace page opened late shows the earlier messages, and
// a click shows a whole frame. Screenshots go to OUT_DIR.
//
// usage: node browser-chat.js BASE_URL OUT_DIR CONTROL_URL
// CONTROL_URL is the Go test's helper: POST CONTROL_URL/drop?user=NAME severs
// that user's socket the way a network failure would (no close frame);
// /stop and /start stop the emulator (the whole dev stack) and start it
// again on the same address; /send runs the README's `wpsfn send --to
// group:lobby --json '{"text":"hello"}'` and `--to all --text 'maintenance
// at 10:00'`, and sends a chat message without a time as another program
// might ({"type":"message","room":"lobby","from":"cli","text":"no time"}).
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
const T = 20000; // per-step timeout

async function ctl(what) {
  const res = await fetch(control + "/" + what, { method: "POST" });
  if (!res.ok) throw new Error(`${what}: ${res.status} ${await res.text()}`);
}

async function open(browser, width = 1100, height = 700) {
  const ctx = await browser.newContext({ viewport: { width, height } });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  return { page, errors };
}

async function signIn(browser, name) {
  const u = await open(browser);
  await u.page.goto(base + "/", { waitUntil: "load" });
  await u.page.fill("#name", name);
  await u.page.click("#signin-btn");
  await u.page.waitForSelector("#chat:not([hidden])", { timeout: T });
  await u.page.waitForSelector('body[data-status="online"]', { timeout: T });
  await u.page.fill("#room", room);
  await u.page.click("#join-btn");
  await u.page.waitForSelector(`#rooms li[data-room="${room}"].active`, { timeout: T });
  return u;
}

async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

// waitForMessage waits until page shows a delivered bubble from `from` with `text`.
async function waitForMessage(page, from, text) {
  await page.waitForFunction(
    ([from, text]) => [...document.querySelectorAll('#messages .msg[data-state="delivered"]')].some(
      (m) => m.querySelector(".who b")?.textContent === from && m.querySelector(".text")?.textContent === text),
    [from, text], { timeout: T });
}

async function waitForNotice(page, text) {
  await page.waitForFunction((text) => [...document.querySelectorAll("#messages .sys")].some((s) => s.textContent === text), text, { timeout: T });
}

async function messages(page) {
  return page.$$eval("#messages .msg:not(.notice)", (ms) => ms.map((m) => ({
    from: m.querySelector(".who b")?.textContent,
    text: m.querySelector(".text")?.textContent,
    state: m.dataset.state,
    mine: m.classList.contains("mine"),
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
  const r = { steps: [] };
  const step = (s) => r.steps.push(s);
  try {
    // A name of spaces is refused with a message, not silently.
    const blank = await open(browser);
    await blank.page.goto(base + "/", { waitUntil: "load" });
    await blank.page.fill("#name", "   ");
    await blank.page.click("#signin-btn");
    await blank.page.waitForFunction(() => document.getElementById("signin-error").textContent !== "", null, { timeout: T });
    r.blankName = await blank.page.textContent("#signin-error");
    await blank.page.context().close();

    const alice = await signIn(browser, "alice");
    const bob = await signIn(browser, "bob");
    await waitForNotice(alice.page, `bob joined #${room}`);
    step("join notice");

    // Ten messages before anyone opens the trace.
    const ten = [];
    for (let i = 1; i <= 10; i++) {
      const [who, other, from] = i % 2 ? [alice, bob, "alice"] : [bob, alice, "bob"];
      const text = `message ${i} from ${from}`;
      ten.push(text);
      await say(who.page, text);
      await waitForMessage(other.page, from, text);
    }
    step("ten messages");

    // A long unbroken text wraps inside its bubble.
    const url = "https://example.invalid/" + "a".repeat(876);
    await say(alice.page, url);
    await waitForMessage(bob.page, "alice", url);
    r.wrap = await bob.page.evaluate((url) => {
      const m = [...document.querySelectorAll("#messages .msg")].find((x) => x.querySelector(".text")?.textContent === url);
      const box = (el) => { const b = el.getBoundingClientRect(); return { left: b.left, right: b.right, width: b.width }; };
      const list = document.getElementById("messages");
      return { bubble: box(m), text: box(m.querySelector(".text")), list: box(list), scrollX: list.scrollWidth > list.clientWidth };
    }, url);
    step("long text");

    // Over the limit: the composer says why and keeps the text; sent anyway
    // (past the page's check), the function's refusal shows its reason.
    await alice.page.fill("#text", "x".repeat(1001));
    await alice.page.press("#text", "Enter");
    r.limitInfo = await alice.page.textContent("#compose-info");
    r.limitKept = (await alice.page.inputValue("#text")).length;
    r.limitSendOff = await alice.page.isDisabled("#send-btn");
    await alice.page.fill("#text", "");
    r.limitSendOn = await alice.page.isEnabled("#send-btn");
    await alice.page.evaluate(() => window.wpsfnChat.send("y".repeat(1500)));
    await alice.page.waitForSelector('#messages .msg[data-state="failed"] .reason', { timeout: T });
    r.refusal = await alice.page.textContent('#messages .msg[data-state="failed"] .reason');
    step("refusal");

    // What `wpsfn send --to group:lobby --json '{"text":"hello"}'`,
    // `--to all --text 'maintenance at 10:00'` and an event queued for the
    // relay (`curl -d '{"to":"all","text":"order 42 shipped"}' <relay URL>/`)
    // send shows as notices.
    await ctl("send");
    await bob.page.waitForFunction(() => {
      const t = [...document.querySelectorAll("#messages .msg.notice .text")].map((x) => x.textContent);
      return t.includes("hello") && t.includes("maintenance at 10:00") && t.includes("order 42 shipped");
    }, null, { timeout: T });
    r.notices = await bob.page.$$eval("#messages .msg.notice", (ms) => ms.map((m) => m.textContent));
    await waitForMessage(bob.page, "cli", "no time");
    r.noTime = await bob.page.$$eval("#messages .msg", (ms) => ms.filter((m) => m.querySelector(".who b")?.textContent === "cli").map((m) => m.querySelector(".who").textContent));
    step("cli messages");

    // A dropped socket: alice's client recovers with its reconnection token
    // and misses nothing that was sent meanwhile.
    await alice.page.evaluate(() => window.wpsfnChat.client.holdRecovery(2000));
    await ctl("drop?user=alice");
    await alice.page.waitForSelector('body[data-status="recovering"]', { timeout: T });
    await say(bob.page, "sent while alice reconnects");
    await alice.page.waitForSelector('body[data-status="online"][data-recoveries="1"]', { timeout: T });
    await waitForMessage(alice.page, "bob", "sent while alice reconnects");
    step("recovery");

    // A reload keeps the user, the room and the conversation.
    await alice.page.reload({ waitUntil: "load" });
    await alice.page.waitForSelector('body[data-status="online"]', { timeout: T });
    await alice.page.waitForSelector(`#rooms li[data-room="${room}"].active`, { timeout: T });
    r.reload = await alice.page.evaluate(() => ({
      signinHidden: document.getElementById("signin").hidden,
      whoami: document.getElementById("whoami").textContent,
      kept: [...document.querySelectorAll("#messages .msg .text")].map((x) => x.textContent).filter((t) => t.startsWith("message ")).length,
    }));
    // bob sees one quiet line for it, not a leave and a join.
    await waitForNotice(bob.page, `alice rejoined #${room}`);
    r.reloadNotices = await bob.page.$$eval("#messages .sys", (ss) => ss.map((s) => s.textContent).filter((t) => t.startsWith("alice ")));
    await say(alice.page, "back after a reload");
    await waitForMessage(bob.page, "alice", "back after a reload");
    step("reload");

    // A trace page opened now shows what happened before it opened, and a
    // click shows a whole frame.
    const tr = await open(browser, 1400, 800);
    await tr.page.goto(base + "/trace", { waitUntil: "load" });
    await tr.page.waitForSelector('body[data-status="live"]', { timeout: T });
    await tr.page.waitForFunction(() => window.wpsfnTrace.events.length > 0, null, { timeout: T });
    r.trace = await tr.page.evaluate(() => {
      const ev = window.wpsfnTrace.events;
      return {
        kept: ev.length,
        kinds: [...new Set(ev.map((e) => e.k))].sort(),
        summaries: ev.map((e) => e.s || ""),
        ordered: ev.every((e, i) => i === 0 || ev[i - 1].t <= e.t),
        // Each connection's short label is its own.
        conns: [...new Set(ev.filter((e) => e.c).map((e) => e.c))].length,
        labels: new Set([...new Set(ev.filter((e) => e.c).map((e) => e.c))].map((id) => window.wpsfnTrace.label(id))).size,
      };
    });
    r.trace.seen = ten.filter((t) => r.trace.summaries.some((s) => s.includes(t)));
    delete r.trace.summaries;
    await tr.page.fill("#filter", "message 3 from alice");
    await tr.page.waitForTimeout(400);
    r.trace.filtered = await tr.page.$$eval("#spacer .row", (rs) => rs.map((x) => x.textContent));
    // Each row's short connection label carries the whole id on hover.
    r.trace.connCells = await tr.page.$$eval("#spacer .row .conn", (cs) => cs.map((c) => ({ label: c.textContent, title: c.title })));
    r.trace.connIds = await tr.page.evaluate(() => [...new Set(window.wpsfnTrace.events.filter((e) => e.c).map((e) => e.c))]);
    await tr.page.click('#spacer .row[data-kind="frame-out"]');
    await tr.page.waitForSelector('body[data-detail="shown"]', { timeout: T });
    r.trace.detail = await tr.page.textContent("#detail-body");
    // With the detail open, each row's summary still shows the words typed
    // (the text's glyphs end inside the summary cell: bounding boxes).
    r.trace.sums = await tr.page.evaluate((needle) => [...document.querySelectorAll("#spacer .row")].map((row) => {
      const cell = row.querySelector(".sum");
      const node = cell?.firstChild;
      const i = node ? node.textContent.indexOf(needle) : -1;
      if (i < 0) return { kind: row.dataset.kind, text: cell?.textContent || "", visible: false };
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + needle.length);
      return { kind: row.dataset.kind, text: node.textContent.slice(0, 80), visible: range.getBoundingClientRect().right <= cell.getBoundingClientRect().right + 0.5 };
    }), '"message 3 from alice"');
    await tr.page.screenshot({ path: path.join(outDir, "trace.png") });
    await tr.page.click("#detail-close");
    // A click on a frame that carries a secret shows it whole, the secret
    // redacted: the reliable protocol's connected message.
    await tr.page.fill("#filter", "system connected");
    await tr.page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("#spacer .row")];
      return rows.length > 0 && rows.every((x) => x.textContent.includes("system connected")) && rows.some((x) => x.dataset.kind === "frame-out");
    }, null, { timeout: T });
    await tr.page.click('#spacer .row[data-kind="frame-out"]');
    await tr.page.waitForSelector('body[data-detail="shown"]', { timeout: T });
    r.trace.secretDetail = await tr.page.textContent("#detail-body");
    r.trace.tokens = await Promise.all([alice, bob].map((u) => u.page.evaluate(() => window.wpsfnChat.client.reconnectionToken || "")));
    await tr.page.click("#detail-close");
    await tr.page.fill("#filter", "");
    step("trace");

    // The emulator stops: a message typed meanwhile is queued, then sent and
    // delivered once it is back (a fresh session: the old one died with it).
    await ctl("stop");
    await alice.page.waitForFunction(() => document.body.dataset.status !== "online", null, { timeout: T });
    await say(alice.page, "typed while the emulator was down");
    await alice.page.waitForSelector('#messages .msg[data-state="queued"]', { timeout: T });
    r.queuedLabel = await alice.page.textContent('#messages .msg[data-state="queued"] .st');
    await ctl("start");
    await waitForMessage(alice.page, "alice", "typed while the emulator was down");
    await bob.page.waitForSelector('body[data-status="online"]', { timeout: T });
    step("outage");

    // bob leaves: alice is told.
    r.bob = await messages(bob.page);
    await bob.page.screenshot({ path: path.join(outDir, "chat-bob.png") });
    await bob.page.click("#leave-btn");
    await waitForNotice(alice.page, `bob left #${room}`);
    step("leave notice");
    await say(alice.page, "see you");
    await waitForMessage(alice.page, "alice", "see you");

    // The open trace page reconnected to the restarted emulator: the
    // clients' attempts to resume their old sessions show as refused.
    await tr.page.waitForFunction(() => window.wpsfnTrace.events.some((e) => e.k === "reconnect-refused"), null, { timeout: T });
    r.trace.kindsAfter = await tr.page.evaluate(() => [...new Set(window.wpsfnTrace.events.map((e) => e.k))].sort());
    r.trace.refusedLabel = await tr.page.evaluate(() => {
      document.getElementById("filter").value = "reconnect refused";
      document.getElementById("filter").dispatchEvent(new Event("input"));
      return new Promise((res) => setTimeout(() => res([...document.querySelectorAll('#spacer .row[data-kind="reconnect-refused"] .k')].map((x) => x.textContent)[0] || ""), 500));
    });
    r.alice = await messages(alice.page);
    r.errors = [...alice.errors, ...bob.errors, ...tr.errors];
    await alice.page.screenshot({ path: path.join(outDir, "chat.png") });
    r.screenshots = ["chat.png", "chat-bob.png", "trace.png"];
  } catch (e) {
    e.message += ` (after steps: ${r.steps.join(", ")})`;
    throw e;
  } finally {
    await browser.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(r) + "\n");
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
