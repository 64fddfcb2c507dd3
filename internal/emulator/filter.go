package emulator

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The OData-like filter of the REST API ("userId eq 'u1' and 'g1' in groups"),
// restricted to what selects connections here: the identifiers userId,
// connectionId and groups; string literals ('' escapes a quote) and null;
// eq, ne, in, and, or, not and parentheses. Precedence, highest first: not,
// comparisons, and, or. Keywords and identifiers are case-insensitive.

// maxFilterLen and maxFilterDepth bound the work one filter can cause.
const (
	maxFilterLen   = 8 << 10
	maxFilterDepth = 64
	maxFilterNodes = 1000
)

// FilterError is a filter that does not parse.
type FilterError struct {
	Pos int // byte offset in the filter
	Msg string
	// syntax marks an error of the grammar, which the service reports as
	// "Syntax error at position N in '<filter>'." (its OData parser's text)
	// rather than with Msg.
	syntax bool
}

func (e *FilterError) Error() string {
	return fmt.Sprintf("invalid filter at position %d: %s", e.Pos, e.Msg)
}

// serviceText is the error as the service words it for filter src.
func (e *FilterError) serviceText(src string) string {
	if e.syntax {
		return fmt.Sprintf("Syntax error at position %d in '%s'.", e.Pos, src)
	}
	return strings.ToUpper(e.Msg[:1]) + e.Msg[1:] + "."
}

func syntaxError(pos int, msg string) *FilterError {
	return &FilterError{Pos: pos, Msg: msg, syntax: true}
}

// filterExpr is a parsed filter.
type filterExpr struct{ root fnode }

// match evaluates f against c; the caller holds c.h.mu (c.groups).
func (f *filterExpr) match(c *conn) bool {
	return f.eval(filterSubject{userID: c.userID, connectionID: c.id, groups: c.groups})
}

func (f *filterExpr) eval(s filterSubject) bool { return f.root.eval(s).truth() }

type filterSubject struct {
	userID, connectionID string
	groups               map[string]struct{}
}

// fval is an evaluated operand.
type fval struct {
	kind byte // 's' string, 'n' null, 'b' bool, 'g' groups collection, 'l' literal list
	s    string
	b    bool
	list []string
	set  map[string]struct{}
}

func (v fval) truth() bool { return v.kind == 'b' && v.b }

type fnode interface{ eval(filterSubject) fval }

type (
	fLiteral struct{ v fval }
	fIdent   struct{ name string } // "userid", "connectionid", "groups"
	fNot     struct{ x fnode }
	fBinary  struct {
		op   string // "and", "or", "eq", "ne", "in"
		l, r fnode
	}
)

func (n fLiteral) eval(filterSubject) fval { return n.v }

func (n fIdent) eval(s filterSubject) fval {
	switch n.name {
	case "userid":
		if s.userID == "" {
			return fval{kind: 'n'}
		}
		return fval{kind: 's', s: s.userID}
	case "connectionid":
		return fval{kind: 's', s: s.connectionID}
	default:
		return fval{kind: 'g', set: s.groups}
	}
}

func (n fNot) eval(s filterSubject) fval { return fval{kind: 'b', b: !n.x.eval(s).truth()} }

func (n fBinary) eval(s filterSubject) fval {
	switch n.op {
	case "and":
		return fval{kind: 'b', b: n.l.eval(s).truth() && n.r.eval(s).truth()}
	case "or":
		return fval{kind: 'b', b: n.l.eval(s).truth() || n.r.eval(s).truth()}
	}
	l, r := n.l.eval(s), n.r.eval(s)
	switch n.op {
	case "eq":
		return fval{kind: 'b', b: scalarEqual(l, r)}
	case "ne":
		return fval{kind: 'b', b: !scalarEqual(l, r)}
	default: // in
		if l.kind != 's' {
			return fval{kind: 'b'}
		}
		if r.kind == 'g' {
			_, ok := r.set[l.s]
			return fval{kind: 'b', b: ok}
		}
		for _, x := range r.list {
			if x == l.s {
				return fval{kind: 'b', b: true}
			}
		}
		return fval{kind: 'b'}
	}
}

func scalarEqual(a, b fval) bool {
	if a.kind == 'n' || b.kind == 'n' {
		return a.kind == b.kind
	}
	return a.s == b.s
}

// parseFilter parses a filter expression.
func parseFilter(src string) (*filterExpr, error) {
	if len(src) > maxFilterLen {
		return nil, &FilterError{Pos: maxFilterLen, Msg: fmt.Sprintf("longer than %d bytes", maxFilterLen)}
	}
	if !utf8.ValidString(src) {
		return nil, &FilterError{Msg: "not valid UTF-8"}
	}
	p := &fparser{src: src}
	if err := p.lex(); err != nil {
		return nil, err
	}
	if len(p.toks) == 1 {
		return nil, &FilterError{Msg: "empty expression"}
	}
	n, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		// Like the service's parser: where the unexpected token ends.
		return nil, syntaxError(t.end, fmt.Sprintf("unexpected %s", t))
	}
	if p.unknown != nil {
		// Reported once the syntax is known to be right, as the service does.
		return nil, p.unknown
	}
	if p.typeOf(n) != 'b' {
		return nil, &FilterError{Msg: "the expression is not a condition"}
	}
	return &filterExpr{root: n}, nil
}

type tkind byte

const (
	tEOF tkind = iota
	tIdent
	tString
	tLParen
	tRParen
	tComma
)

type ftoken struct {
	kind tkind
	text string // identifiers lower-cased; strings unescaped
	pos  int
	end  int // the byte after the token
}

func (t ftoken) String() string {
	switch t.kind {
	case tEOF:
		return "end of filter"
	case tString:
		return "string literal"
	case tLParen:
		return "'('"
	case tRParen:
		return "')'"
	case tComma:
		return "','"
	}
	return fmt.Sprintf("%q", t.text)
}

type fparser struct {
	src   string
	toks  []ftoken
	i     int
	nodes int
	// unknown is the first unknown identifier, reported after the parse.
	unknown *FilterError
}

func (p *fparser) lex() error {
	s := p.src
	i := 0
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsSpace(r):
			i += w
		case r == '(':
			p.toks = append(p.toks, ftoken{tLParen, "(", i, i + 1})
			i++
		case r == ')':
			p.toks = append(p.toks, ftoken{tRParen, ")", i, i + 1})
			i++
		case r == ',':
			p.toks = append(p.toks, ftoken{tComma, ",", i, i + 1})
			i++
		case r == '\'':
			start := i
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return syntaxError(start, "unterminated string literal")
			}
			p.toks = append(p.toks, ftoken{tString, b.String(), start, i})
		case unicode.IsLetter(r) || r == '_':
			start := i
			for i < len(s) {
				r, w := utf8.DecodeRuneInString(s[i:])
				if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' {
					break
				}
				i += w
			}
			p.toks = append(p.toks, ftoken{tIdent, strings.ToLower(s[start:i]), start, i})
		default:
			return syntaxError(i, fmt.Sprintf("unexpected character %q", r))
		}
		if len(p.toks) > 4*maxFilterNodes {
			return &FilterError{Pos: i, Msg: "too complex"}
		}
	}
	p.toks = append(p.toks, ftoken{kind: tEOF, pos: len(s), end: len(s)})
	return nil
}

func (p *fparser) peek() ftoken { return p.toks[p.i] }
func (p *fparser) next() ftoken { t := p.toks[p.i]; p.i++; return t }

func (p *fparser) isKeyword(w string) bool {
	t := p.peek()
	return t.kind == tIdent && t.text == w
}

func (p *fparser) node(n fnode) (fnode, error) {
	p.nodes++
	if p.nodes > maxFilterNodes {
		return nil, &FilterError{Pos: p.peek().pos, Msg: "too complex"}
	}
	return n, nil
}

func (p *fparser) parseOr(depth int) (fnode, error) {
	l, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	for p.isKeyword("or") {
		p.next()
		r, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		if l, err = p.logical("or", l, r); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p *fparser) parseAnd(depth int) (fnode, error) {
	l, err := p.parseUnary(depth)
	if err != nil {
		return nil, err
	}
	for p.isKeyword("and") {
		p.next()
		r, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		if l, err = p.logical("and", l, r); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p *fparser) logical(op string, l, r fnode) (fnode, error) {
	if p.typeOf(l) != 'b' || p.typeOf(r) != 'b' {
		return nil, &FilterError{Pos: p.peek().pos, Msg: fmt.Sprintf("the operands of %q must be conditions", op)}
	}
	return p.node(fBinary{op: op, l: l, r: r})
}

func (p *fparser) parseUnary(depth int) (fnode, error) {
	if depth > maxFilterDepth {
		return nil, &FilterError{Pos: p.peek().pos, Msg: "nested too deeply"}
	}
	if p.isKeyword("not") {
		t := p.next()
		x, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.typeOf(x) != 'b' {
			return nil, &FilterError{Pos: t.pos, Msg: "the operand of \"not\" must be a condition"}
		}
		return p.node(fNot{x})
	}
	return p.parseComparison(depth)
}

func (p *fparser) parseComparison(depth int) (fnode, error) {
	l, err := p.parsePrimary(depth)
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind != tIdent {
		return l, nil
	}
	switch t.text {
	case "eq", "ne":
		p.next()
		r, err := p.parsePrimary(depth)
		if err != nil {
			return nil, err
		}
		if !isScalar(p.typeOf(l)) || !isScalar(p.typeOf(r)) {
			return nil, &FilterError{Pos: t.pos, Msg: fmt.Sprintf("%q compares strings: userId, connectionId, a literal or null", t.text)}
		}
		return p.node(fBinary{op: t.text, l: l, r: r})
	case "in":
		p.next()
		if p.typeOf(l) != 's' {
			return nil, &FilterError{Pos: t.pos, Msg: "the left side of \"in\" must be a string"}
		}
		r, err := p.parseInRight()
		if err != nil {
			return nil, err
		}
		return p.node(fBinary{op: "in", l: l, r: r})
	case "gt", "ge", "lt", "le":
		return nil, &FilterError{Pos: t.pos, Msg: fmt.Sprintf("operator %q is not supported by the emulator", t.text)}
	}
	return l, nil
}

// parseInRight parses "groups" or a parenthesised list of string literals.
func (p *fparser) parseInRight() (fnode, error) {
	t := p.next()
	if t.kind == tIdent && t.text == "groups" {
		return p.node(fIdent{"groups"})
	}
	if t.kind != tLParen {
		return nil, &FilterError{Pos: t.pos, Msg: "\"in\" needs groups or a list like ('a','b')"}
	}
	var list []string
	for {
		s := p.next()
		if s.kind != tString {
			return nil, &FilterError{Pos: s.pos, Msg: fmt.Sprintf("expected a string literal in the list, got %s", s)}
		}
		list = append(list, s.text)
		if len(list) > maxFilterNodes {
			return nil, &FilterError{Pos: s.pos, Msg: "too complex"}
		}
		sep := p.next()
		if sep.kind == tRParen {
			break
		}
		if sep.kind != tComma {
			return nil, syntaxError(sep.pos, fmt.Sprintf("expected ',' or ')', got %s", sep))
		}
	}
	return p.node(fLiteral{fval{kind: 'l', list: list}})
}

func (p *fparser) parsePrimary(depth int) (fnode, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		n, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, syntaxError(c.pos, fmt.Sprintf("expected ')', got %s", c))
		}
		return n, nil
	case tString:
		return p.node(fLiteral{fval{kind: 's', s: t.text}})
	case tIdent:
		switch t.text {
		case "userid", "connectionid", "groups":
			return p.node(fIdent{t.text})
		case "null":
			return p.node(fLiteral{fval{kind: 'n'}})
		case "true", "false":
			return p.node(fLiteral{fval{kind: 'b', b: t.text == "true"}})
		}
		if p.peek().kind == tLParen {
			return nil, &FilterError{Pos: t.pos, Msg: fmt.Sprintf("function %q is not supported by the emulator", t.text)}
		}
		if p.unknown == nil {
			p.unknown = &FilterError{Pos: t.pos, Msg: fmt.Sprintf("unknown identifier %q (use userId, connectionId or groups)", t.text)}
		}
		return p.node(fIdent{t.text}) // evaluates to null; reported after the parse
	}
	return nil, syntaxError(t.pos, fmt.Sprintf("unexpected %s", t))
}

func isScalar(k byte) bool { return k == 's' || k == 'n' }

// typeOf is the static type of a node: 's' string, 'n' null, 'b' condition,
// 'g' groups, 'l' list.
func (p *fparser) typeOf(n fnode) byte {
	switch n := n.(type) {
	case fLiteral:
		return n.v.kind
	case fIdent:
		if n.name == "groups" {
			return 'g'
		}
		return 's'
	default:
		return 'b'
	}
}
