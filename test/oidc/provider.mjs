// A real, OpenID Certified issuer for wpsfn's sign-in tests: panva's
// oidc-provider (pinned in test/package.json) on 127.0.0.1:0.
//
// Clients "rs" and "es" get client-credentials access tokens as JWTs for
// resource api://chat, signed RS256 and ES256; the token's sub is the
// client id and it carries roles ["chat.user"] (client "rs") or
// ["chat.user", "chat.broadcast"] (client "es").
//
// It prints {"issuer": "..."} once listening. POST /_rotate (outside the
// provider) replaces the signing keys with new ones and keeps the old ones
// published, as a provider rotating its keys does.
import http from 'node:http';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const secret = 'test-secret-for-oidc-provider-0123456789';
let generation = 0;

async function keys() {
  generation++;
  const rs = await generateKeyPair('RS256', { extractable: true });
  const es = await generateKeyPair('ES256', { extractable: true });
  const r = { ...(await exportJWK(rs.privateKey)), kid: `rs-${generation}`, alg: 'RS256', use: 'sig' };
  const e = { ...(await exportJWK(es.privateKey)), kid: `es-${generation}`, alg: 'ES256', use: 'sig' };
  return [r, e];
}

function provider(issuer, jwks) {
  const p = new Provider(issuer, {
    clients: [
      { client_id: 'rs', client_secret: secret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_post' },
      { client_id: 'es', client_secret: secret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_post' },
    ],
    jwks: { keys: jwks },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'api://chat',
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => ({
          scope: 'chat',
          audience: resource,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: client.clientId === 'es' ? 'ES256' : 'RS256' } },
        }),
      },
    },
    extraTokenClaims: (ctx, token) => ({
      roles: token.clientId === 'es' ? ['chat.user', 'chat.broadcast'] : ['chat.user'],
    }),
  });
  p.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));
  return p;
}

let current;
let published = [];
const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/_rotate') {
    keys().then((fresh) => {
      // Sign with the new keys; keep every old one published.
      published = [...fresh, ...published];
      current = provider(issuer, published);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kids: fresh.map((k) => k.kid) }));
    });
    return;
  }
  current.callback()(req, res);
});
let issuer;
server.listen(0, '127.0.0.1', async () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  published = await keys();
  current = provider(issuer, published);
  process.stdout.write(JSON.stringify({ issuer }) + '\n');
});
process.stdin.on('end', () => server.close(() => process.exit(0)));
process.stdin.resume();
