package fnconf

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLoggerFollowsDefault(t *testing.T) {
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	log := Logger(nil).With("function", "x")
	var a, b bytes.Buffer
	slog.SetDefault(slog.New(slog.NewTextHandler(&a, nil)))
	log.Info("one")
	slog.SetDefault(slog.New(slog.NewJSONHandler(&b, nil)))
	log.Info("two", "k", 1)
	if !strings.Contains(a.String(), "msg=one function=x") || !strings.Contains(b.String(), `"msg":"two","function":"x","k":1`) {
		t.Fatalf("text %q json %q", a.String(), b.String())
	}
}
