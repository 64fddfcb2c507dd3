package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/wpsfn/wpsfn/functions/relay"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

func init() {
	commands["send"] = command{
		summary: "send a message through the REST API (WEBPUBSUB_CONNECTION_STRING, WEBPUBSUB_HUB)",
		run:     runSend,
	}
}

// maxBinaryFile bounds --binary-file; the service takes about 1 MB per message.
const maxBinaryFile = 1 << 20

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wpsfn send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "", "recipient: all, user:ID, group:NAME or connection:ID")
	text := fs.String("text", "", "send this text (text/plain)")
	jsonText := fs.String("json", "", "send this JSON document (application/json)")
	binFile := fs.String("binary-file", "", "send this file's bytes (application/octet-stream)")
	filter := fs.String("filter", "", "OData filter on the receivers (all, user, group), e.g. \"userId ne 'bob'\"")
	var excluded wpsListFlag
	fs.Var(&excluded, "exclude", "connection id not to send to, repeatable (all, group)")
	ttl := fs.Duration("ttl", 0, "drop the message if not taken up in time (up to 5m; all targets)")
	asEnvelope := fs.Bool("envelope", false, "print the relay's JSON envelope for this target and message instead of sending it")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wpsfn send --to all|user:ID|group:NAME|connection:ID (--text S | --json S | --binary-file PATH) [--filter F] [--exclude ID]... [--ttl D] [--envelope]")
		fmt.Fprintln(stderr, "\nSends one message to the hub. Reads WEBPUBSUB_CONNECTION_STRING and WEBPUBSUB_HUB.")
		printFlags(fs)
	}
	if code := parseFlags(fs, args, stderr); code >= 0 {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "wpsfn send: "+format+"\n", a...)
		return 2
	}
	kind, id, _ := strings.Cut(*to, ":")
	switch {
	case *to == "":
		return usageErr("--to is required: all, user:ID, group:NAME or connection:ID")
	case kind == "all" && id == "" && !strings.Contains(*to, ":"):
	case (kind == "user" || kind == "group" || kind == "connection") && id != "":
	default:
		return usageErr("--to %q: want all, user:ID, group:NAME or connection:ID", *to)
	}
	if len(excluded) > 0 && (kind == "user" || kind == "connection") {
		return usageErr("--exclude works with --to all and group:NAME only")
	}
	if *filter != "" && kind == "connection" {
		return usageErr("--filter does not work with --to connection:ID")
	}
	if *ttl < 0 || *ttl > wps.MaxMessageTTL {
		return usageErr("--ttl must be from 0 to %v", wps.MaxMessageTTL)
	}
	set := 0
	for _, s := range []string{*text, *jsonText, *binFile} {
		if s != "" {
			set++
		}
	}
	// --text "" is a legitimate empty message only when given explicitly.
	textGiven := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "text" {
			textGiven = true
		}
	})
	if textGiven && *text == "" {
		set++
	}
	if set != 1 {
		return usageErr("give exactly one of --text, --json or --binary-file")
	}
	var msg wps.Message
	switch {
	case *jsonText != "":
		if !json.Valid([]byte(*jsonText)) {
			return usageErr("--json is not valid JSON")
		}
		msg = wps.JSON(json.RawMessage(*jsonText))
	case *binFile != "":
		data, err := readLimited(*binFile, maxBinaryFile)
		if err != nil {
			return usageErr("--binary-file: %v", err)
		}
		msg = wps.Binary(data)
	default:
		msg = wps.Text(*text)
	}
	if *asEnvelope {
		return printEnvelope(stdout, stderr, kind, id, msg, *filter, excluded, *ttl)
	}
	// --filter is OData text the operator typed on purpose, hence RawFilter.
	opts := &wps.SendOptions{Excluded: excluded, Filter: wps.RawFilter(*filter), MessageTTL: *ttl}
	client, err := wpsClient()
	if err != nil {
		return usageErr("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, wpsTimeout)
	defer cancel()
	switch kind {
	case "all":
		err = client.SendToAll(ctx, msg, opts)
	case "user":
		err = client.SendToUser(ctx, id, msg, opts)
	case "group":
		err = client.SendToGroup(ctx, id, msg, opts)
	case "connection":
		err = client.SendToConnection(ctx, id, msg, opts)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wpsfn send: %s\n", callError(err))
		return 1
	}
	fmt.Fprintf(stdout, "sent %d bytes (%s) to %s\n", len(msg.Bytes()), msg.ContentType(), *to)
	return 0
}

// printEnvelope writes the envelope a producer puts on the relay's queue
// (or POSTs to broadcast) for this target and message, checked as the relay
// checks it.
func printEnvelope(stdout, stderr io.Writer, kind, id string, msg wps.Message, filter string, excluded []string, ttl time.Duration) int {
	e := relay.Envelope{To: kind, ID: id, Filter: filter, Excluded: excluded, TTL: int((ttl + time.Second - 1) / time.Second)}
	switch msg.ContentType() {
	case "application/json":
		e.JSON = json.RawMessage(msg.Bytes())
	case "application/octet-stream":
		b64 := base64.StdEncoding.EncodeToString(msg.Bytes())
		e.Binary = &b64
	default:
		text := string(msg.Bytes())
		e.Text = &text
	}
	b, err := json.Marshal(e)
	if err == nil {
		err = relay.CheckEnvelope(b)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wpsfn send: --envelope: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return 0
}

// readLimited reads a file of at most max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}
