package gcpfn_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"maps"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/wpsfn/wpsfn/pkg/faas"
	"github.com/wpsfn/wpsfn/pkg/faas/gcpfn"
)

//go:embed testdata/pubsub-cloudevent.json
var pubsubData []byte

func cloudEvent(t testing.TB, typ string, data []byte) event.Event {
	e := event.New()
	e.SetID("ce-1")
	e.SetType(typ)
	e.SetSource("//pubsub.googleapis.com/projects/p/topics/relay")
	if err := e.SetData(event.ApplicationJSON, json.RawMessage(data)); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestMessage(t *testing.T) {
	e := cloudEvent(t, gcpfn.PubSubPublished, pubsubData)
	m, err := gcpfn.Message(&e)
	if err != nil || m.ID != "ps-1" || m.Trigger != faas.TriggerPubSub || string(m.Body) != `{"to":"all","text":"from pubsub"}` ||
		m.Group != "k1" || !maps.Equal(m.Attributes, map[string]string{"room": "lobby"}) {
		t.Fatalf("got %+v (%s), %v", m, m.Body, err)
	}
	e = cloudEvent(t, "google.cloud.storage.object.v1.finalized", []byte(`{"name":"a"}`))
	e.SetSubject("objects/a")
	m, err = gcpfn.Message(&e)
	if err != nil || m.ID != "ce-1" || m.Trigger != faas.TriggerCloudEvent || string(m.Body) != `{"name":"a"}` ||
		m.Attributes["type"] != "google.cloud.storage.object.v1.finalized" || m.Attributes["subject"] != "objects/a" {
		t.Fatalf("got %+v, %v", m, err)
	}
	e = cloudEvent(t, gcpfn.PubSubPublished, []byte(`{"message":{"data":"***"}}`))
	if _, err := gcpfn.Message(&e); err == nil {
		t.Fatal("bad base64 accepted")
	}
}

func TestRunMessage(t *testing.T) {
	cases := []struct {
		name    string
		fail    error
		wantErr bool
	}{
		{"done", nil, false},
		{"permanent is acknowledged", faas.Permanent(errors.New("bad envelope")), false},
		{"transient is returned (500, redelivered with --retry)", errors.New("busy"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got faas.Message
			fn := faas.Function{Name: "relay", Messages: func(ctx context.Context, m faas.Message) error {
				if _, ok := gcpfn.EventFromContext(ctx); !ok {
					t.Error("no event in the context")
				}
				got = m
				return c.fail
			}}
			err := gcpfn.RunMessage(context.Background(), fn, cloudEvent(t, gcpfn.PubSubPublished, pubsubData))
			if (err != nil) != c.wantErr || got.ID != "ps-1" {
				t.Fatalf("err %v, message %+v", err, got)
			}
		})
	}
}

// FuzzMessage: Pub/Sub data either decodes into a message with an id or is refused.
func FuzzMessage(f *testing.F) {
	f.Add(pubsubData)
	f.Add([]byte(`{"message":{"data":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		e := cloudEvent(t, gcpfn.PubSubPublished, data)
		m, err := gcpfn.Message(&e)
		if err == nil && m.ID == "" {
			t.Fatal("message without an id")
		}
	})
}
