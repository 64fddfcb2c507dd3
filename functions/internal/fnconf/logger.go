package fnconf

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// Logger returns l, or when l is nil a logger that writes through whatever
// slog.Default() is at the time of each call — so a function built before
// its host (pkg/faas) installs the host's log format still logs in it.
func Logger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(&lazyHandler{})
}

type lazyHandler struct {
	ops   []func(slog.Handler) slog.Handler
	cache atomic.Pointer[resolved]
}

type resolved struct{ base, h slog.Handler }

func (l *lazyHandler) handler() slog.Handler {
	base := slog.Default().Handler()
	if c := l.cache.Load(); c != nil && c.base == base {
		return c.h
	}
	h := base
	for _, op := range l.ops {
		h = op(h)
	}
	l.cache.Store(&resolved{base: base, h: h})
	return h
}

func (l *lazyHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return l.handler().Enabled(ctx, lv)
}

func (l *lazyHandler) Handle(ctx context.Context, r slog.Record) error {
	return l.handler().Handle(ctx, r)
}

func (l *lazyHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return l.with(func(h slog.Handler) slog.Handler { return h.WithAttrs(as) })
}

func (l *lazyHandler) WithGroup(name string) slog.Handler {
	return l.with(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

func (l *lazyHandler) with(op func(slog.Handler) slog.Handler) slog.Handler {
	ops := append(append([]func(slog.Handler) slog.Handler(nil), l.ops...), op)
	return &lazyHandler{ops: ops}
}
