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
