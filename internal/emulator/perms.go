package emulator

import (
	"strings"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// Role names (token "role" claims, connect response "roles").
const (
	roleJoinLeave       = wps.RoleJoinLeaveGroupAny
	roleSendToGroup     = wps.RoleSendToGroupAny
	roleJoinLeaveGroups = "webpubsub.joinLeaveGroups." // + wildcard pattern
	roleSendToGroups    = "webpubsub.sendToGroups."    // + wildcard pattern
)

// Permission kinds, as the REST API names them.
const (
	permJoinLeave = "joinLeaveGroup"
	permSend      = "sendToGroup"
)

// grants is one permission kind: everywhere, per group, per pattern.
type grants struct {
	any      bool
	groups   map[string]struct{}
	patterns []string
}

func (g *grants) add(target string) {
	if target == "" {
		g.any = true
		return
	}
	if g.groups == nil {
		g.groups = map[string]struct{}{}
	}
	g.groups[target] = struct{}{}
}

// remove revokes target ("" revokes the grant for every group).
func (g *grants) remove(target string) {
	if target == "" {
		g.any = false
		return
	}
	delete(g.groups, target)
}

func (g *grants) allows(group string) bool {
	if g.any {
		return true
	}
	if _, ok := g.groups[group]; ok {
		return true
	}
	for _, p := range g.patterns {
		if wildcardMatch(p, group) {
			return true
		}
	}
	return false
}

// has reports whether exactly this grant exists ("" = every group).
func (g *grants) has(target string) bool {
	if target == "" {
		return g.any
	}
	return g.allows(target)
}

// perms is a connection's permissions.
type perms struct {
	joinLeave, send grants
}

func (p *perms) kind(name string) *grants {
	switch strings.ToLower(name) {
	case strings.ToLower(permJoinLeave):
		return &p.joinLeave
	case strings.ToLower(permSend):
		return &p.send
	}
	return nil
}

// addRole applies one role string; unknown roles are ignored, as by the service.
func (p *perms) addRole(role string) {
	switch {
	case role == roleJoinLeave:
		p.joinLeave.any = true
	case role == roleSendToGroup:
		p.send.any = true
	case strings.HasPrefix(role, roleJoinLeaveGroups):
		p.joinLeave.patterns = append(p.joinLeave.patterns, role[len(roleJoinLeaveGroups):])
	case strings.HasPrefix(role, roleSendToGroups):
		p.send.patterns = append(p.send.patterns, role[len(roleSendToGroups):])
	case strings.HasPrefix(role, roleJoinLeave+"."):
		p.joinLeave.add(role[len(roleJoinLeave)+1:])
	case strings.HasPrefix(role, roleSendToGroup+"."):
		p.send.add(role[len(roleSendToGroup)+1:])
	}
}

func (c *conn) canJoin(group string) bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.perms.joinLeave.allows(group)
}

func (c *conn) canSend(group string) bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.perms.send.allows(group)
}

// wildcardMatch matches group against a wildcard role pattern: '?' is one
// character other than '.', '*' any run without '.', '**' anything, and '\'
// escapes the next character. Patterns with more than five '*' match
// nothing, and so do names longer than a valid group's. Memoised, so a
// client's long group name costs O(len(pattern) × len(group)) at most.
func wildcardMatch(pattern, group string) bool {
	// A name longer than any valid group (1024 characters of up to 4 bytes)
	// matches nothing: this bounds the memo table and the recursion below.
	if strings.Count(pattern, "*") > 5 || len(group) > 4*1024 {
		return false
	}
	toks, ok := wildcardTokens(pattern)
	if !ok {
		return false
	}
	s := []rune(group)
	memo := make([]int8, (len(toks)+1)*(len(s)+1)) // 0 unknown, 1 yes, 2 no
	var m func(pi, si int) bool
	m = func(pi, si int) bool {
		k := pi*(len(s)+1) + si
		if memo[k] != 0 {
			return memo[k] == 1
		}
		var r bool
		switch {
		case pi == len(toks):
			r = si == len(s)
		default:
			switch t := toks[pi]; t.kind {
			case 'l':
				r = si < len(s) && s[si] == t.r && m(pi+1, si+1)
			case '?':
				r = si < len(s) && s[si] != '.' && m(pi+1, si+1)
			case '*':
				r = m(pi+1, si) || (si < len(s) && s[si] != '.' && m(pi, si+1))
			case 'D': // **
				r = m(pi+1, si) || (si < len(s) && m(pi, si+1))
			}
		}
		if r {
			memo[k] = 1
		} else {
			memo[k] = 2
		}
		return r
	}
	return m(0, 0)
}

type wtoken struct {
	kind byte // 'l' literal, '?', '*', 'D' (**)
	r    rune
}

func wildcardTokens(pattern string) ([]wtoken, bool) {
	p := []rune(pattern)
	var toks []wtoken
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			if i+1 == len(p) {
				return nil, false
			}
			i++
			toks = append(toks, wtoken{'l', p[i]})
		case '?':
			toks = append(toks, wtoken{kind: '?'})
		case '*':
			if i+1 < len(p) && p[i+1] == '*' {
				i++
				toks = append(toks, wtoken{kind: 'D'})
			} else {
				toks = append(toks, wtoken{kind: '*'})
			}
		default:
			toks = append(toks, wtoken{'l', p[i]})
		}
	}
	return toks, true
}

// validPermission reports whether name is a permission of the REST API.
func validPermission(name string) bool { return (&perms{}).kind(name) != nil }

// grant adds permission perm (a valid name) for target ("" every group).
func (c *conn) grant(perm, target string) {
	c.pmu.Lock()
	c.perms.kind(perm).add(target)
	c.pmu.Unlock()
}

// revoke removes a grant; revoking what was never granted does nothing.
func (c *conn) revoke(perm, target string) {
	c.pmu.Lock()
	c.perms.kind(perm).remove(target)
	c.pmu.Unlock()
}

// hasGrant reports whether perm is granted for target.
func (c *conn) hasGrant(perm, target string) bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.perms.kind(perm).has(target)
}
