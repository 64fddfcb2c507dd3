package oidc

import (
	"errors"
	"net/url"
	"strings"
)

// DefaultEntraAuthority is the public cloud's Microsoft Entra authority host.
const DefaultEntraAuthority = "https://login.microsoftonline.com/"

// EntraIssuers returns, for one tenant of the authority (empty:
// DefaultEntraAuthority), the v2 issuer (whose discovery document lists the
// tenant's keys) and the v1 issuer: Entra issues v1 access tokens unless the
// target application's manifest sets accessTokenAcceptedVersion to 2, and
// both carry keys of the same set. The v1 issuer is https://sts.windows.net/
// for the public cloud, https://sts.chinacloudapi.cn/ for Azure China, and
// the authority itself for any other host (a local tenant, such as the
// emulator's); set Config.Issuers yourself where that is wrong.
func EntraIssuers(authority, tenant string) (v2, v1 string, err error) {
	if authority == "" {
		authority = DefaultEntraAuthority
	}
	if tenant == "" || strings.ContainsAny(tenant, "/?#{} ") {
		return "", "", errors.New("oidc: the Entra tenant id is empty or not a path segment")
	}
	u, err := url.Parse(authority)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", "", errors.New("oidc: the Entra authority is not an http(s) URL")
	}
	base := strings.TrimSuffix(authority, "/")
	v2 = base + "/" + tenant + "/v2.0"
	switch strings.ToLower(u.Host) {
	case "login.microsoftonline.com":
		v1 = "https://sts.windows.net/" + tenant + "/"
	case "login.chinacloudapi.cn":
		v1 = "https://sts.chinacloudapi.cn/" + tenant + "/"
	default:
		v1 = base + "/" + tenant + "/"
	}
	return v2, v1, nil
}
