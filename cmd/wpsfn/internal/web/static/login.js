// Sign-in through an OpenID Connect provider, as a single-page app signs in
// with Entra ID or Auth0: the authorization-code flow with PKCE (S256). The
// verifier, state and nonce wait in sessionStorage while the browser is at
// the provider; the access token is kept there until it expires and sent to
// negotiate, which verifies it (the page only reads the ID token's name).
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

// startLogin sends the browser to the provider's authorize page.
export async function startLogin(login) {
  const d = await discovery(login);
  const verifier = random(32); // 43 characters
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const state = random(16), nonce = random(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, nonce }));
  const u = new URL(d.authorization_endpoint, location.href);
  u.search = new URLSearchParams({
    response_type: "code", client_id: login.clientId, redirect_uri: redirectURI(), scope: login.scope || "openid profile",
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
  const s = { name: id.preferred_username || id.sub, token: body.access_token, exp: Date.now() + Number(body.expires_in || 0) * 1000 };
  sessionStorage.setItem(SESSION, JSON.stringify(s));
  return s;
}

// session returns the signed-in session while its token is good, else null.
export function session() {
  let s = null;
  try { s = JSON.parse(sessionStorage.getItem(SESSION) || "null"); } catch { /* none */ }
  return s && s.token && s.exp > Date.now() + 10000 ? s : null;
}
