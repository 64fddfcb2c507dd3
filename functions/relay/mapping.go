package relay

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/wpsfn/wpsfn/functions/internal/envelope"
	"github.com/wpsfn/wpsfn/pkg/faas"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// mapper builds envelopes from foreign events (Config.Map).
type mapper struct {
	to, id, idAttr string
	idPtr, dataPtr pointer
	wholeBody      bool
}

// newMapper takes a validated Mapping.
func newMapper(m Mapping) *mapper {
	idPtr, _ := parsePointer(m.IDPointer)
	dataPtr, _ := parsePointer(m.DataPointer)
	return &mapper{to: m.To, id: m.ID, idAttr: m.IDAttribute, idPtr: idPtr, dataPtr: dataPtr, wholeBody: m.DataPointer == ""}
}

func (mp *mapper) envelope(m faas.Message, opts envelope.Options) (envelope.Parsed, error) {
	e := envelope.Envelope{To: mp.to, ID: mp.id}
	switch {
	case mp.idAttr != "":
		v, ok := m.Attributes[mp.idAttr]
		if !ok {
			return envelope.Parsed{}, &envelope.Error{Reason: "attribute " + mp.idAttr + " (RELAY_MAP_ID_ATTRIBUTE) is missing"}
		}
		e.ID = v
	case mp.idPtr != nil:
		raw, err := mp.idPtr.get(m.Body)
		var s string
		if err == nil {
			err = json.Unmarshal(raw, &s)
		}
		if err != nil {
			return envelope.Parsed{}, &envelope.Error{Reason: "RELAY_MAP_ID_POINTER does not select a string in the body"}
		}
		e.ID = s
	}
	p, err := envelope.FromEnvelope(withData(e, nil, "text"), opts)
	if err != nil {
		return p, err // the target is wrong: say so first
	}
	switch {
	case !mp.wholeBody:
		raw, err := mp.dataPtr.get(m.Body)
		if err != nil {
			return envelope.Parsed{}, &envelope.Error{Reason: "RELAY_MAP_DATA_POINTER " + err.Error()}
		}
		return envelope.FromEnvelope(withData(e, raw, "json"), opts)
	case len(m.Body) > 0 && json.Valid(m.Body):
		return envelope.FromEnvelope(withData(e, m.Body, "json"), opts)
	case utf8.Valid(m.Body):
		return envelope.FromEnvelope(withData(e, m.Body, "text"), opts)
	}
	p.Envelope, p.Message, p.Type, p.Bytes = e, wps.Binary(m.Body), "binary", len(m.Body)
	return p, nil
}

// withData is e carrying data as a text or JSON message.
func withData(e envelope.Envelope, data []byte, typ string) envelope.Envelope {
	if typ == "json" {
		e.JSON = json.RawMessage(data)
		return e
	}
	s := string(data)
	e.Text = &s
	return e
}
