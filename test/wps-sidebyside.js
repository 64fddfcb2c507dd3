// Side-by-side peer for pkg/wps's conformance test: runs the cases it reads
// (JSON on stdin) through Microsoft's @azure/web-pubsub against the test's
// recording server, tagging each request with an x-case header, and prints
// what needs no request (client access tokens, odata filters) as JSON.
"use strict";
const fs = require("fs");
const { WebPubSubServiceClient, odata } = require("@azure/web-pubsub");

async function main() {
  const input = JSON.parse(fs.readFileSync(0, "utf8"));
  const retryOptions = { maxRetries: 0 };
  const keyClient = new WebPubSubServiceClient(input.connectionString, input.hub, { retryOptions });
  const tokenCredential = {
    getToken: async () => ({ token: "entra-token", expiresOnTimestamp: Date.now() + 3600 * 1000 }),
  };
  const tokenClient = new WebPubSubServiceClient(input.endpoint, tokenCredential, input.hub, { retryOptions });
  // Through a reverse proxy (e.g. API Management): requests go to the
  // recorder, tokens are issued for the service's own URL.
  const proxyClient = new WebPubSubServiceClient(input.proxiedConnectionString, input.hub,
    { retryOptions, reverseProxyEndpoint: input.endpoint });
  const out = { tokens: {}, odata: {}, errors: {} };

  for (const c of input.cases) {
    const client = c.token ? tokenClient : c.proxy ? proxyClient : keyClient;
    const o = c.opts || {};
    const base = { requestOptions: { customHeaders: { "x-case": c.name } } };
    const msg = () => {
      switch (c.msg.kind) {
        case "text": return [c.msg.text, { contentType: "text/plain" }];
        case "json": return [c.msg.json, {}];
        case "binary": return [Buffer.from(c.msg.b64, "base64"), {}];
      }
      throw new Error("unknown message kind " + c.msg.kind);
    };
    const sendOpts = (extra) => {
      const s = Object.assign({}, base, extra);
      if (o.excluded) s.excludedConnections = o.excluded;
      if (o.filter !== undefined) s.filter = o.filter;
      if (o.ttl) s.messageTtlSeconds = o.ttl;
      return s;
    };
    const closeOpts = () => {
      const s = Object.assign({}, base);
      if (o.excluded) s.excluded = o.excluded;
      if (o.reason) s.reason = o.reason;
      return s;
    };
    try {
      switch (c.op) {
        case "sendToAll": { const [m, x] = msg(); await client.sendToAll(m, sendOpts(x)); break; }
        case "sendToUser": { const [m, x] = msg(); await client.sendToUser(c.id, m, sendOpts(x)); break; }
        case "sendToConnection": { const [m, x] = msg(); await client.sendToConnection(c.id, m, sendOpts(x)); break; }
        case "sendToGroup": { const [m, x] = msg(); await client.group(c.group).sendToAll(m, sendOpts(x)); break; }
        case "closeConnection": await client.closeConnection(c.id, closeOpts()); break;
        case "closeAllConnections": await client.closeAllConnections(closeOpts()); break;
        case "closeUserConnections": await client.closeUserConnections(c.id, closeOpts()); break;
        case "closeGroupConnections": await client.group(c.group).closeAllConnections(closeOpts()); break;
        case "connectionExists": await client.connectionExists(c.id, base); break;
        case "userExists": await client.userExists(c.id, base); break;
        case "groupExists": await client.groupExists(c.group, base); break;
        case "addUserToGroup": await client.group(c.group).addUser(c.id, base); break;
        case "removeUserFromGroup": await client.group(c.group).removeUser(c.id, base); break;
        case "addConnectionToGroup": await client.group(c.group).addConnection(c.id, base); break;
        case "removeConnectionFromGroup": await client.group(c.group).removeConnection(c.id, base); break;
        case "removeUserFromAllGroups": await client.removeUserFromAllGroups(c.id, base); break;
        case "removeConnectionFromAllGroups": await client.removeConnectionFromAllGroups(c.id, base); break;
        case "addConnectionsToGroups": await client.addConnectionsToGroups(c.groups, o.filter, base); break;
        case "removeConnectionsFromGroups": await client.removeConnectionsFromGroups(c.groups, o.filter, base); break;
        case "grantPermission": await client.grantPermission(c.id, o.perm, Object.assign({ targetName: o.targetName }, base)); break;
        case "revokePermission": await client.revokePermission(c.id, o.perm, Object.assign({ targetName: o.targetName }, base)); break;
        case "checkPermission": await client.hasPermission(c.id, o.perm, Object.assign({ targetName: o.targetName }, base)); break;
        case "listConnections": {
          const lo = Object.assign({}, base);
          if (o.maxPageSize) lo.maxPageSize = o.maxPageSize;
          if (o.top) lo.top = o.top;
          for await (const _ of await client.group(c.group).listConnections(lo)) { /* drain */ }
          break;
        }
        case "clientAccess": {
          const ao = Object.assign({}, base);
          if (o.userId) ao.userId = o.userId;
          if (o.roles) ao.roles = o.roles;
          if (o.groups) ao.groups = o.groups;
          if (o.minutes) ao.expirationTimeInMinutes = o.minutes;
          if (o.protocol) ao.clientProtocol = o.protocol;
          const r = await client.getClientAccessToken(ao);
          out.tokens[c.name] = r;
          break;
        }
        case "odataUserIs": out.odata[c.name] = odata`userId eq ${c.id}`; break;
        case "odataInGroup": out.odata[c.name] = odata`${c.group} in groups`; break;
        case "odataUserIsNot": out.odata[c.name] = odata`userId ne ${c.id}`; break;
        default: throw new Error("unknown op " + c.op);
      }
    } catch (e) {
      out.errors[c.name] = String(e && e.message || e);
    }
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
