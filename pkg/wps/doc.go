// Package wps is a client for the Azure Web PubSub service's data-plane REST
// API: sending messages, managing groups, permissions and connections, and
// minting client access URLs.
package wps
