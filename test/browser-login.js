// The chat page of `wpsfn dev --keyless` in headless Chromium: two users
// sign in through the emulator tenant's OpenID Connect login (the page
// redirects to the authorize form, the user types a name, the page comes
// back with a code and trades it, with its PKCE verifier, for tokens),
// negotiate gets the access token (and no ?userId=), and the two chat. A
// reload keeps the session; once the access token has expired, a reload
// renews it with the refresh token. Screenshots go to OUT_DIR when given.
//
// usage: node browser-login.js BASE_URL [OUT_DIR]
// Prints one JSON object with what the pages saw; exits non-zero on failure.
"use strict";

const path = require("path");
const fs = require("fs");
const os = require("os");
const { chromium } = require("playwright-core");

const [base, outDir] = process.argv.slice(2);
if (!base) {
  console.error("usage: node browser-login.js BASE_URL [OUT_DIR]");
  process.exit(2);
}
const T = 20000;
const room = "lobby";

async function main() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "wpsfn-chromium-"));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: home, XDG_CACHE_HOME: home },
  });
  const r = { Whoami: [], Negotiate: [], Errors: [] };
  try {
    const signIn = async (name, first) => {
      const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
      const page = await ctx.newPage();
      page.on("pageerror", (e) => r.Errors.push(String(e)));
      page.on("request", (req) => {
        if (new URL(req.url()).pathname === "/negotiate") r.Negotiate.push({ URL: req.url(), Authorization: req.headers()["authorization"] || "" });
      });
      await page.goto(base + "/", { waitUntil: "load" });
      await page.waitForFunction(() => document.getElementById("signin-btn").textContent.includes("identity provider"), null, { timeout: T });
      await page.click("#signin-btn");
      await page.waitForURL((u) => u.pathname.endsWith("/oauth2/v2.0/authorize"), { timeout: T });
      if (first) {
        r.AuthorizeURL = page.url();
        r.AuthorizePage = await page.isVisible('form input[name="name"]');
        if (outDir) { fs.mkdirSync(outDir, { recursive: true }); await page.screenshot({ path: path.join(outDir, "login.png") }); }
      }
      await page.fill('input[name="name"]', name);
      await page.click("#signin");
      await page.waitForSelector('body[data-status="online"]', { timeout: T });
      await page.waitForFunction((n) => document.getElementById("whoami").textContent === n, name, { timeout: T });
      r.Whoami.push(await page.textContent("#whoami"));
      if (first) r.AddressAfter = page.url();
      await page.fill("#room", room);
      await page.click("#join-btn");
      await page.waitForSelector(`#rooms li[data-room="${room}"].active`, { timeout: T });
      return page;
    };
    const ada = await signIn("ada", true);
    const grace = await signIn("grace", false);
    await ada.fill("#text", "hello from ada");
    await ada.press("#text", "Enter");
    await grace.waitForFunction(() => [...document.querySelectorAll('#messages .msg[data-state="delivered"]')].some(
      (m) => m.querySelector(".who b")?.textContent === "ada"), null, { timeout: T });
    r.Received = await grace.$$eval('#messages .msg[data-state="delivered"]', (ms) =>
      ms.filter((m) => m.querySelector(".who b")?.textContent === "ada").map((m) => m.querySelector(".text").textContent)[0]);
    // A reload signs in again from the kept session, without the provider.
    await grace.reload({ waitUntil: "load" });
    await grace.waitForSelector('body[data-status="online"]', { timeout: T });
    r.ReloadKept = (await grace.textContent("#whoami")) === "grace" && !grace.url().includes("authorize");
    // An hour later (the stored access token expired), a reload renews the
    // token with the refresh token: no provider page, a new token, the
    // same user.
    const grants = [];
    grace.on("request", (req) => {
      if (new URL(req.url()).pathname.endsWith("/oauth2/v2.0/token")) grants.push(new URLSearchParams(req.postData() || "").get("grant_type"));
    });
    const before = await grace.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem("wpsfn-login"));
      const token = s.token;
      s.exp = Date.now() - 1000;
      sessionStorage.setItem("wpsfn-login", JSON.stringify(s));
      return { token, refresh: Boolean(s.refresh) };
    });
    const negotiations = r.Negotiate.length;
    await grace.reload({ waitUntil: "load" });
    await grace.waitForSelector('body[data-status="online"]', { timeout: T });
    const after = await grace.evaluate(() => JSON.parse(sessionStorage.getItem("wpsfn-login")));
    r.Refresh = {
      HadRefreshToken: before.refresh, Grants: grants, User: await grace.textContent("#whoami"),
      NewToken: after.token !== before.token, FreshFor: Math.round((after.exp - Date.now()) / 60000),
      NegotiatedWithNew: r.Negotiate.slice(negotiations).some((n) => n.Authorization === "Bearer " + after.token),
      Provider: grace.url().includes("authorize"),
    };
    if (outDir) await ada.screenshot({ path: path.join(outDir, "chat-keyless.png") });
  } finally {
    await browser.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
  console.log(JSON.stringify(r));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
