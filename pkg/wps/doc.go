// Package wps is a client for the data-plane REST API of Azure Web PubSub:
// sending messages to everyone, users, connections and groups; managing group
// membership, connections and permissions; and minting client access URLs.
//
// It speaks api-version 2024-12-01 and is exact on the wire: every request
// (escaped path, query parameters and their order, Content-Type, body, and the
// HS256 token with its claims) is what Microsoft's JavaScript SDK
// @azure/web-pubsub sends, which the package's conformance tests check.
//
// # Getting started
//
// Create one Client per hub from the resource's connection string and reuse
// it; it is safe for concurrent use:
//
//	client, err := wps.NewClientFromConnectionString(os.Getenv("WEBPUBSUB_CONNECTION_STRING"), "chat", nil)
//	if err != nil {
//		return err
//	}
//	err = client.SendToGroup(ctx, "room 1", wps.JSON(map[string]string{"text": "hello"}), nil)
//
// Messages are built with JSON, Text or Binary. Calls that select
// connections take a Filter, built with the constructors (FilterUserIs,
// FilterInGroup, And, Or, Not, ...), which quote values so that an id cannot
// change the filter's meaning; RawFilter takes hand-written OData text.
//
// # Authentication
//
// NewClient takes any azcore.TokenCredential, such as azidentity's
// ManagedIdentityCredential or DefaultAzureCredential: calls carry a
// Microsoft Entra ID token for Scope, reused until shortly before it
// expires, and client access tokens are minted by the service
// (:generateToken). NewClientWithKey (or a connection string, through
// NewClientFromConnectionString) signs each call with a JWT for that call's
// URL; Update on the KeyCredential rotates the key.
//
// # Options
//
// Every optional parameter is in an options struct; a nil pointer or a zero
// field means the documented default, a nil Logger means slog.Default(), and
// a negative duration is refused by the constructor (RetryOptions.MaxRetries
// < 0, which turns retries off, is the one documented exception).
//
// # Errors and retries
//
// Any answer other than a success is a *ResponseError (use errors.As). Calls
// are retried after network errors and 408, 429, 500, 502, 503 and 504
// answers, with exponential backoff and jitter, honouring Retry-After, within
// ClientOptions.Retry and the context's deadline. Error texts never contain
// the key or a token.
//
// # Serving the other side
//
// The package also exports what a service-side implementation (such as an
// emulator) verifies against: ValidHub and ValidGroup, ClientClaims (the claim
// set of client tokens), ClientProtocol.ClientPath and the role helpers.
package wps
