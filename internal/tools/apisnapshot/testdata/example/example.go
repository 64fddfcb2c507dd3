// Package example exercises every kind of feature apisnapshot writes.
package example

import (
	"context"
	"io"
)

// Kind is an enum.
type Kind int

// The kinds; an iota group repeats its type.
const (
	KindA Kind = iota
	KindB
	kindHidden
)

const Untyped = "u" // untyped constants keep their value

var (
	// ErrX is a variable: its value is not API.
	ErrX   = io.EOF
	Hook   func(ctx context.Context, n int) error
	hidden int
)

// Options has exported and unexported fields, a func field and an embedded one.
type Options struct {
	io.Reader
	Name, Alias string
	Each        func(name string, n int) (ok bool, err error)
	secret      string
}

// Doer is an interface with an exported and an unexported method.
type Doer interface {
	Do(ctx context.Context, names ...string) error
	undo()
}

type Alias = Options

type Set[K comparable, V any] struct{ m map[K]V }

func (s *Set[K, V]) Len() int { return len(s.m) }

func New(name string, opts *Options) (*Options, error) { return opts, nil }

func Pair(a, b int) (x, y int) { return a, b }

func (o Options) String() string { return o.Name }

func (o *Options) private() {}

type unexported struct{}

func (unexported) Exported() {}

func helper() {}
