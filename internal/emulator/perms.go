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
// escapes the next character. Patterns with more than five '*' match nothing.
func wildcardMatch(pattern, group string) bool {
	if strings.Count(pattern, "*") > 5 {
		return false
	}
	return wmatch([]rune(pattern), []rune(group))
}

func wmatch(p, s []rune) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			if len(p) > 1 && p[1] == '*' {
				rest := p[2:]
				for i := 0; i <= len(s); i++ {
					if wmatch(rest, s[i:]) {
						return true
					}
				}
				return false
			}
			rest := p[1:]
			for i := 0; i <= len(s); i++ {
				if wmatch(rest, s[i:]) {
					return true
				}
				if i < len(s) && s[i] == '.' {
					return false
				}
			}
			return false
		case '?':
			if len(s) == 0 || s[0] == '.' {
				return false
			}
		case '\\':
			if len(p) < 2 {
				return false
			}
			p = p[1:]
			if len(s) == 0 || s[0] != p[0] {
				return false
			}
		default:
			if len(s) == 0 || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return len(s) == 0
}
