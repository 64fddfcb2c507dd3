// Sign-in through an OpenID Connect provider, as a single-page app signs in
// with Entra ID or Auth0: the authorization-code flow with PKCE (S256). The
// verifier, state and nonce wait in sessionStorage while the browser is at
// the provider; the access token is kept there until it expires and sent to
// negotiate, which verifies it (the page only reads the ID token's name).
// The sign-in asks for offline_access, so a refresh token (one use, rotated)
// renews the access token: a tab signed in once keeps working past the
// hour, reloads included.
const PENDING = "wpsfn-login-pending";
const SESSION = "wpsfn-login";

const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));
const redirectURI = () => location.origin + location.pathname;

async function discovery(login) {
  let res;
  try { res = await fetch(login.discovery); } catch { throw new Error("the identity provider cannot be reached"); }
  if (!res.ok) throw new Error(`the identity provider's discovery document answered ${res.status}`);
  return res.json();
}

function claims(jwt) {
  const p = String(jwt || "").split(".")[1] || "";
  const bin = atob(p.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
}

const withOffline = (scope) => (scope.split(" ").includes("offline_access") ? scope : scope + " offline_access");

// store keeps a token answer as the session (name from the ID token, or the
// previous session's when a refresh's ID token has none).
function store(body, name) {
  const s = { name, token: body.access_token, refresh: body.refresh_token || "",
    exp: Date.now() + Number(body.expires_in || 0) * 1000 };
  sessionStorage.setItem(SESSION, JSON.stringify(s));
  return s;
}

// startLogin sends the browser to the provider's authorize page.
export async function startLogin(login) {
  const d = await discovery(login);
  const verifier = random(32); // 43 characters
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const state = random(16), nonce = random(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, nonce }));
  const u = new URL(d.authorization_endpoint, location.href);
  u.search = new URLSearchParams({
    response_type: "code", client_id: login.clientId, redirect_uri: redirectURI(), scope: withOffline(login.scope || "openid profile"),
    code_challenge: b64url(new Uint8Array(digest)), code_challenge_method: "S256", state, nonce,
  });
  location.assign(u);
}

// finishLogin completes a sign-in when the page is the provider's redirect
// back, and returns the new session; null when it is not.
export async function finishLogin(login) {
  const q = new URLSearchParams(location.search);
  if (!q.has("code") && !q.has("error")) return null;
  history.replaceState(null, "", location.pathname); // the code leaves the address bar and the history
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  if (q.has("error")) throw new Error(`sign-in failed: ${q.get("error_description") || q.get("error")}`);
  if (!pending || q.get("state") !== pending.state) throw new Error("sign-in failed: the answer is not for this page's request");
  const d = await discovery(login);
  const res = await fetch(d.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code: q.get("code"), client_id: login.clientId,
      redirect_uri: redirectURI(), code_verifier: pending.verifier }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.access_token) throw new Error(`sign-in failed: ${body.error_description || body.error || res.status}`);
  const id = claims(body.id_token);
  if (id.nonce !== pending.nonce) throw new Error("sign-in failed: the ID token is not for this sign-in (nonce)");
  return store(body, id.preferred_username || id.sub);
}

function stored() {
  try { return JSON.parse(sessionStorage.getItem(SESSION) || "null"); } catch { return null; }
}

let renewing = null; // one refresh at a time: a second would spend a used token

// session returns the signed-in session while its token is good, renewing
// the token with the refresh token when it has less than a minute left;
// null when there is neither (sign in again).
export async function session(login) {
  const s = stored();
  if (!s || !s.token) return renewing;
  if (s.exp > Date.now() + 60000) return s;
  if (!s.refresh || !login) return null;
  sessionStorage.removeItem(SESSION); // a refresh token is good once, right or wrong
  renewing = renew(login, s).finally(() => { renewing = null; });
  return renewing;
}

async function renew(login, s) {
  let res;
  try {
    const d = await discovery(login);
    res = await fetch(d.token_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: s.refresh, client_id: login.clientId }),
    });
  } catch { return null; }
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.access_token) return null;
  return store(body, s.name);
}
