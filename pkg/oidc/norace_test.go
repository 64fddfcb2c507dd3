//go:build !race

package oidc_test

const raceEnabled = false
