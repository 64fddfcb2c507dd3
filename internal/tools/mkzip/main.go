// Command mkzip writes a deployment zip of a directory for `make
// package-lambda` and `make package-azure`: paths relative to the directory,
// sorted, fixed timestamps (reproducible), and Unix modes kept, so
// `bootstrap` and `handler` stay executable on Linux hosts (Lambda and the
// Functions host only chmod what they must).
//
//	go run ./internal/tools/mkzip -o out.zip dir
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

func main() {
	out := flag.String("o", "", "output zip file")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: mkzip -o out.zip dir")
		os.Exit(2)
	}
	if err := write(*out, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "mkzip:", err)
		os.Exit(1)
	}
}

// epoch is the timestamp of every entry, so equal inputs give equal zips.
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func write(out, dir string) (err error) {
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("%s has no files", dir)
	}
	sort.Strings(files)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	zw := zip.NewWriter(f)
	for _, p := range files {
		if err := add(zw, dir, p); err != nil {
			return err
		}
	}
	return zw.Close()
}

func add(zw *zip.Writer, dir, p string) error {
	info, err := os.Stat(p)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return err
	}
	hdr, err := zip.FileInfoHeader(info)
	if err != nil {
		return err
	}
	hdr.Name = filepath.ToSlash(rel)
	hdr.Method = zip.Deflate
	hdr.Modified = epoch
	// Normalised, so the zip does not depend on the umask: 0755 for
	// executables, 0644 for the rest.
	mode := os.FileMode(0o644)
	if info.Mode().Perm()&0o111 != 0 {
		mode = 0o755
	}
	hdr.SetMode(mode)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	src, err := os.Open(p)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(w, src)
	return err
}
