package cloudevents

import (
	"errors"
	"net/http"
	"strings"
)

// An Authenticator decides whether an event request comes from the service.
// The Handler calls it for every event POST, after checking that the
// ce-connectionId, ce-type and ce-hub headers are present and before it
// reads the body or runs any callback.
//
// Authenticate returns nil to accept the request. Any error refuses it: an
// *Error with its Status and Message, anything else with 401 and the error's
// text. That text is the answer's one-line body and is logged, so it must
// say why without quoting the credential. Authenticate must not read
// r.Body, and it is called concurrently.
//
// *Keys (ce-signature) implements it; NoAuthentication accepts everything;
// AnyOf and AllOf combine authenticators.
type Authenticator interface {
	Authenticate(r *http.Request) error
}

// AuthenticatorFunc adapts a function to an Authenticator.
type AuthenticatorFunc func(r *http.Request) error

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) error { return f(r) }

// NoAuthentication accepts every request unauthenticated. It is meant only
// for local use (tests, a private emulator): anyone who can reach the
// handler can then impersonate the service and any connection.
var NoAuthentication Authenticator = noAuthentication{}

type noAuthentication struct{}

func (noAuthentication) Authenticate(*http.Request) error { return nil }

// ErrNoAuthenticator is the refusal of a Handler that has neither Keys nor
// an Authenticator: it fails closed, answering every event with 401.
var ErrNoAuthenticator = errors.New("event handler has no authentication configured: set Handler.Keys (ce-signature) or Handler.Authenticator (cloudevents.NoAuthentication for local use only)")

// AnyOf accepts a request that any of auths accepts, trying them in order
// (the service sends a ce-signature when it has access keys and a bearer
// token when the hub's handler uses managed identity). When all refuse, the
// error is the first one's if it is an *Error, else one joining every
// reason. With no authenticator it refuses everything.
func AnyOf(auths ...Authenticator) Authenticator {
	return anyOf(append([]Authenticator(nil), auths...))
}

type anyOf []Authenticator

func (a anyOf) Authenticate(r *http.Request) error {
	if len(a) == 0 {
		return ErrNoAuthenticator
	}
	var errs []error
	for _, x := range a {
		err := x.Authenticate(r)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	var e *Error
	if errors.As(errs[0], &e) {
		return errs[0]
	}
	return refusals(errs)
}

// AllOf accepts a request only if every one of auths accepts it, and
// returns the first refusal. With no authenticator it refuses everything.
func AllOf(auths ...Authenticator) Authenticator {
	return allOf(append([]Authenticator(nil), auths...))
}

type allOf []Authenticator

func (a allOf) Authenticate(r *http.Request) error {
	if len(a) == 0 {
		return ErrNoAuthenticator
	}
	for _, x := range a {
		if err := x.Authenticate(r); err != nil {
			return err
		}
	}
	return nil
}

// refusals is every authenticator's refusal, as one line; errors.Is and
// errors.As see each of them.
type refusals []error

func (e refusals) Error() string {
	var b strings.Builder
	for i, err := range e {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(oneLine(err.Error()))
	}
	return b.String()
}

func (e refusals) Unwrap() []error { return e }
