package idp

import (
	"net/http"
	"strings"
)

// EntraPaths are where a tenant's v2 metadata and keys live under an
// authority, as on login.microsoftonline.com.
func EntraPaths(tenant string) (discovery, keys string) {
	return "/" + tenant + "/v2.0/.well-known/openid-configuration", "/" + tenant + "/discovery/v2.0/keys"
}

// EntraEndpoints are a tenant's v2 authorization and token endpoints under
// an authority, as on login.microsoftonline.com.
func EntraEndpoints(tenant string) (authorize, token string) {
	return "/" + tenant + "/oauth2/v2.0/authorize", "/" + tenant + "/oauth2/v2.0/token"
}

// EntraHandler serves tenant's discovery document (listing EntraEndpoints,
// which it does not serve) and key set at EntraPaths, for an authority whose base URL (scheme://host, no slash)
// base returns for a request.
func (p *Provider) EntraHandler(tenant string, base func(*http.Request) string) http.Handler {
	disc, keys := EntraPaths(tenant)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+disc, func(w http.ResponseWriter, r *http.Request) {
		b := strings.TrimSuffix(base(r), "/")
		authorize, token := EntraEndpoints(tenant)
		doc, err := p.DiscoveryJSON(b+"/"+tenant+"/v2.0", b+keys, b+authorize, b+token)
		writeJSON(w, doc, err)
	})
	mux.HandleFunc("GET "+keys, func(w http.ResponseWriter, r *http.Request) {
		doc, err := p.JWKS()
		writeJSON(w, doc, err)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, b []byte, err error) {
	if err != nil {
		http.Error(w, "key set unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}
