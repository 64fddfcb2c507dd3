//go:build tools

// Package deps pins modules that parts of this round's work import before
// every importer has landed, so `go mod tidy` keeps them. Remove a line once
// real code imports the module.
package deps

import (
	_ "github.com/eclipse/paho.golang/packets"
	_ "github.com/eclipse/paho.golang/paho"
	_ "github.com/eclipse/paho.mqtt.golang"
)
