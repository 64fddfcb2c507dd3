package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteKeepsModes(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "connect"), 0o755)
	os.WriteFile(filepath.Join(dir, "handler"), []byte("#!bin"), 0o700)
	os.WriteFile(filepath.Join(dir, "host.json"), []byte("{}"), 0o664)
	os.WriteFile(filepath.Join(dir, "connect", "function.json"), []byte(`{"bindings":[]}`), 0o644)
	// Modes as a umask of 002 or 077 leaves them: the zip normalises them.
	os.Chmod(filepath.Join(dir, "host.json"), 0o664)
	os.Chmod(filepath.Join(dir, "handler"), 0o700)
	out := filepath.Join(t.TempDir(), "a.zip")
	if err := write(out, dir); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	want := map[string]os.FileMode{"connect/function.json": 0o644, "handler": 0o755, "host.json": 0o644}
	if len(zr.File) != len(want) {
		t.Fatalf("entries %d", len(zr.File))
	}
	for _, f := range zr.File {
		if m, ok := want[f.Name]; !ok || f.Mode().Perm() != m || !f.Modified.Equal(epoch) {
			t.Errorf("%s: mode %v, modified %v", f.Name, f.Mode(), f.Modified)
		}
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		disk, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if !bytes.Equal(b, disk) {
			t.Errorf("%s: content differs", f.Name)
		}
	}
	// Reproducible: the same input gives the same bytes.
	out2 := filepath.Join(t.TempDir(), "b.zip")
	write(out2, dir)
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(out2)
	if !bytes.Equal(a, b) {
		t.Error("zips differ")
	}
	if err := write(filepath.Join(t.TempDir(), "c.zip"), t.TempDir()); err == nil {
		t.Error("empty dir accepted")
	}
}
