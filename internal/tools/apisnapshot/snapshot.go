package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
)

// snapshot returns p's API: a header naming the package, then one sorted
// line per exported feature.
func snapshot(p pkg) ([]byte, error) {
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if err := internalInAPI(fset, files); err != nil {
		return nil, fmt.Errorf("%s: %w", p.ImportPath, err)
	}
	features := apiFeatures(fset, files)
	var b bytes.Buffer
	fmt.Fprintf(&b, "package %s // import %q\n\n", p.Name, p.ImportPath)
	for _, f := range features {
		b.WriteString(f + "\n")
	}
	return b.Bytes(), nil
}

// internalInAPI reports the exported features that name a type of an
// internal package (an alias of one, a field, a parameter): users outside
// the module can neither import nor document such a type.
func internalInAPI(fset *token.FileSet, files []*ast.File) error {
	var bad []string
	for _, f := range files {
		var names []string
		for _, im := range f.Imports {
			path := strings.Trim(im.Path.Value, `"`)
			if !isInternal(path) {
				continue
			}
			name := path[strings.LastIndex(path, "/")+1:]
			if im.Name != nil {
				name = im.Name.Name
			}
			names = append(names, name)
		}
		if len(names) == 0 {
			continue
		}
		for _, feat := range apiFeatures(fset, []*ast.File{f}) {
			for _, n := range names {
				if namesPackage(feat, n) {
					bad = append(bad, feat+" (internal package "+n+")")
				}
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("the API names internal types; give them a public home: %s", strings.Join(bad, "; "))
	}
	return nil
}

// namesPackage reports whether the feature line refers to pkg.Something.
func namesPackage(feature, pkg string) bool {
	for i := 0; ; {
		j := strings.Index(feature[i:], pkg+".")
		if j < 0 {
			return false
		}
		j += i
		if j == 0 || !isIdentByte(feature[j-1]) {
			return true
		}
		i = j + 1
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}

// apiFeatures lists the exported features of one package's files, sorted and
// without duplicates.
func apiFeatures(fset *token.FileSet, files []*ast.File) []string {
	seen := map[string]bool{}
	add := func(s string) { seen[s] = true }
	for _, f := range files {
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				funcFeature(fset, d, add)
			case *ast.GenDecl:
				genFeatures(fset, d, add)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func funcFeature(fset *token.FileSet, d *ast.FuncDecl, add func(string)) {
	if !d.Name.IsExported() {
		return
	}
	sig := signature(fset, d.Type)
	if d.Recv == nil {
		add("func " + d.Name.Name + typeParams(fset, d.Type.TypeParams) + sig)
		return
	}
	recv := d.Recv.List[0].Type
	if base := receiverBase(recv); base == "" || !ast.IsExported(base) {
		return
	}
	add("method (" + expr(fset, stripTypeArgNames(recv)) + ") " + d.Name.Name + sig)
}

// receiverBase returns the type name of a receiver (T, *T, T[K], *T[K]).
func receiverBase(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// embeddedExported reports whether an embedded field (T, *T, pkg.T, T[K])
// is exported, which is when its type name is.
func embeddedExported(e ast.Expr) bool {
	if st, ok := e.(*ast.StarExpr); ok {
		e = st.X
	}
	if sel, ok := e.(*ast.SelectorExpr); ok {
		return sel.Sel.IsExported()
	}
	base := receiverBase(e)
	return base != "" && ast.IsExported(base)
}

// stripTypeArgNames keeps receivers stable when a type parameter is
// renamed: (*T[K]) is written (*T[...]).
func stripTypeArgNames(e ast.Expr) ast.Expr {
	switch x := e.(type) {
	case *ast.StarExpr:
		return &ast.StarExpr{X: stripTypeArgNames(x.X)}
	case *ast.IndexExpr:
		return &ast.IndexExpr{X: x.X, Index: ast.NewIdent("...")}
	case *ast.IndexListExpr:
		return &ast.IndexExpr{X: x.X, Index: ast.NewIdent("...")}
	}
	return e
}

func genFeatures(fset *token.FileSet, d *ast.GenDecl, add func(string)) {
	switch d.Tok {
	case token.CONST, token.VAR:
		kind := d.Tok.String()
		var lastType ast.Expr // an iota group repeats the previous spec's type
		for _, spec := range d.Specs {
			vs := spec.(*ast.ValueSpec)
			switch {
			case vs.Type != nil:
				lastType = vs.Type
			case len(vs.Values) > 0:
				lastType = nil
			}
			for i, name := range vs.Names {
				if !name.IsExported() {
					continue
				}
				line := kind + " " + name.Name
				if lastType != nil {
					line += " " + expr(fset, lastType)
				}
				// A constant's value is part of its API; a variable's initial
				// value is not.
				if d.Tok == token.CONST && i < len(vs.Values) {
					line += " = " + expr(fset, vs.Values[i])
				}
				add(line)
			}
		}
	case token.TYPE:
		for _, spec := range d.Specs {
			ts := spec.(*ast.TypeSpec)
			if !ts.Name.IsExported() {
				continue
			}
			typeFeatures(fset, ts, add)
		}
	}
}

func typeFeatures(fset *token.FileSet, ts *ast.TypeSpec, add func(string)) {
	name := ts.Name.Name + typeParams(fset, ts.TypeParams)
	prefix := "type " + ts.Name.Name
	if ts.Assign.IsValid() {
		add("type " + name + " = " + expr(fset, ts.Type))
		return
	}
	switch t := ts.Type.(type) {
	case *ast.StructType:
		add("type " + name + " struct")
		for _, f := range t.Fields.List {
			if len(f.Names) == 0 { // embedded
				if embeddedExported(f.Type) {
					add(prefix + " struct, embedded " + expr(fset, f.Type))
				}
				continue
			}
			for _, n := range f.Names {
				if n.IsExported() {
					add(prefix + " struct, " + n.Name + " " + expr(fset, f.Type))
				}
			}
		}
	case *ast.InterfaceType:
		add("type " + name + " interface")
		for _, m := range t.Methods.List {
			if len(m.Names) == 0 { // embedded interface or type-set term
				add(prefix + " interface, embedded " + expr(fset, m.Type))
				continue
			}
			for _, n := range m.Names {
				if !n.IsExported() {
					add(prefix + " interface, unexported methods")
					continue
				}
				if ft, ok := m.Type.(*ast.FuncType); ok {
					add(prefix + " interface, " + n.Name + signature(fset, ft))
				}
			}
		}
	default:
		add("type " + name + " " + expr(fset, ts.Type))
	}
}

// signature writes a function type's parameters and results by type only,
// so renaming a parameter is not an API change.
func signature(fset *token.FileSet, ft *ast.FuncType) string {
	s := "(" + fieldTypes(fset, ft.Params) + ")"
	if ft.Results == nil || len(ft.Results.List) == 0 {
		return s
	}
	res := fieldTypes(fset, ft.Results)
	if len(ft.Results.List) == 1 && len(ft.Results.List[0].Names) <= 1 {
		return s + " " + res
	}
	return s + " (" + res + ")"
}

func fieldTypes(fset *token.FileSet, fl *ast.FieldList) string {
	if fl == nil {
		return ""
	}
	var parts []string
	for _, f := range fl.List {
		t := expr(fset, f.Type)
		for range max(len(f.Names), 1) {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, ", ")
}

func typeParams(fset *token.FileSet, fl *ast.FieldList) string {
	if fl == nil || len(fl.List) == 0 {
		return ""
	}
	return "[" + fieldTypes(fset, fl) + "]"
}

// expr prints e on one line, with function types in it reduced to their
// parameter types.
func expr(fset *token.FileSet, e ast.Expr) string {
	e = withoutParamNames(e)
	var b bytes.Buffer
	_ = printer.Fprint(&b, fset, e)
	return strings.Join(strings.Fields(b.String()), " ")
}

// withoutParamNames returns e with the parameter names of function types
// (func fields, func-typed parameters) dropped, comments ignored.
func withoutParamNames(e ast.Expr) ast.Expr {
	switch x := e.(type) {
	case *ast.FuncType:
		return &ast.FuncType{Params: unnamed(x.Params), Results: unnamed(x.Results)}
	case *ast.StarExpr:
		return &ast.StarExpr{X: withoutParamNames(x.X)}
	case *ast.ArrayType:
		return &ast.ArrayType{Len: x.Len, Elt: withoutParamNames(x.Elt)}
	case *ast.MapType:
		return &ast.MapType{Key: withoutParamNames(x.Key), Value: withoutParamNames(x.Value)}
	case *ast.ChanType:
		return &ast.ChanType{Dir: x.Dir, Value: withoutParamNames(x.Value)}
	case *ast.Ellipsis:
		return &ast.Ellipsis{Elt: withoutParamNames(x.Elt)}
	case *ast.StructType:
		return &ast.StructType{Fields: stripComments(x.Fields)}
	case *ast.InterfaceType:
		return &ast.InterfaceType{Methods: stripComments(x.Methods)}
	}
	return e
}

// unnamed returns fl with one unnamed field per name: (a, b int) becomes
// (int, int).
func unnamed(fl *ast.FieldList) *ast.FieldList { return rewriteFields(fl, false) }

// stripComments returns fl with names and tags kept but comments dropped.
func stripComments(fl *ast.FieldList) *ast.FieldList { return rewriteFields(fl, true) }

func rewriteFields(fl *ast.FieldList, keepNames bool) *ast.FieldList {
	if fl == nil {
		return nil
	}
	out := &ast.FieldList{}
	for _, f := range fl.List {
		t := withoutParamNames(f.Type)
		if keepNames {
			out.List = append(out.List, &ast.Field{Names: f.Names, Type: t, Tag: f.Tag})
			continue
		}
		for range max(len(f.Names), 1) {
			out.List = append(out.List, &ast.Field{Type: t})
		}
	}
	return out
}
