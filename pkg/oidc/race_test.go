//go:build race

package oidc_test

const raceEnabled = true
