package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFeatures checks the line written for each kind of declaration against
// testdata/example.golden.
func TestFeatures(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("testdata", "example", "example.go"), nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "example.golden"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(apiFeatures(fset, []*ast.File{f}), "\n") + "\n"
	if got != string(want) {
		t.Errorf("features:\n%s\nwant:\n%s", got, want)
	}
}

func TestCompare(t *testing.T) {
	dir := t.TempDir()
	old := map[string][]byte{
		"a.txt":                        []byte("package a\n\nfunc F()\nfunc G()\n"),
		"gone.txt":                     []byte("package gone\n\nfunc H()\n"),
		filepath.Join("p", "same.txt"): []byte("package same\n\nfunc S()\n"),
	}
	if err := write(dir, old); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		files map[string][]byte
		want  []string
	}{
		{"same", old, nil},
		{"changed, gone and new", map[string][]byte{
			"a.txt":                        []byte("package a\n\nfunc F()\nfunc G(int)\n"),
			filepath.Join("p", "same.txt"): old[filepath.Join("p", "same.txt")],
			"new.txt":                      []byte("package n\n\nfunc N()\n"),
		}, []string{"a.txt:", "-func G()", "+func G(int)", "gone.txt (package gone)", "-func H()", "new.txt (new package)", "+func N()"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			diff, err := compare(dir, tc.files)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil && diff != "" {
				t.Fatalf("diff for identical files:\n%s", diff)
			}
			for _, w := range tc.want {
				if !strings.Contains(diff, w) {
					t.Errorf("diff lacks %q:\n%s", w, diff)
				}
			}
			if strings.Contains(diff, "same.txt") {
				t.Errorf("diff names an unchanged file:\n%s", diff)
			}
		})
	}
}

// TestInternalInAPI: an exported alias, field or parameter of an internal
// package's type is refused; unexported uses and public packages are not.
func TestInternalInAPI(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"alias", `type Request = envelope.Envelope`, "type Request = envelope.Envelope"},
		{"field", `type C struct{ S *envelope.Sender }`, "type C struct, S *envelope.Sender"},
		{"parameter", `func F(p envelope.Parsed) {}`, "func F(envelope.Parsed)"},
		{"renamed import", `type R = env.Envelope`, ""},
		{"unexported", `type request = envelope.Envelope; func f(p envelope.Parsed) {}`, ""},
		{"public package", `type R = pub.Envelope`, ""},
		{"a longer name ending alike", `type R = myenvelope.Envelope`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := "package p\nimport (\n\"example.com/m/internal/envelope\"\npub \"example.com/m/envelope\"\nmyenvelope \"example.com/m/myenvelope\"\n)\n" +
				"var _ = envelope.X\nvar _ = pub.X\nvar _ = myenvelope.X\n" + c.src + "\n"
			if c.name == "renamed import" {
				src = strings.Replace(src, `"example.com/m/internal/envelope"`, `env "example.com/m/internal/envelope"`, 1) + "var _ = env.X\n"
				c.want = "type R = env.Envelope"
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "p.go", src, 0)
			if err != nil {
				t.Fatal(err)
			}
			err = internalInAPI(fset, []*ast.File{f})
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one naming %q", err, c.want)
			}
		})
	}
}
