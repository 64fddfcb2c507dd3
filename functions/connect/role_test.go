package connect

import (
	"regexp"
	"testing"
)

// rolePattern is the documented shape of a role; validRole must agree with it.
var rolePattern = regexp.MustCompile(`^webpubsub\.(joinLeaveGroup|sendToGroup|joinLeaveGroups|sendToGroups)(\..+)?$`)

var roleSeeds = []string{
	"", "webpubsub.", "webpubsub.joinLeaveGroup", "webpubsub.sendToGroup.lobby", "webpubsub.joinLeaveGroups",
	"webpubsub.sendToGroups.a.b", "webpubsub.sendToGroup.", "webpubsub.sendToGroupX", "webpubsub.sendToGroup.a\nb",
	"webpubsub.sendToGroup.\xff", "Webpubsub.sendToGroup", "admin", "webpubsub.joinLeaveGroup\n", " webpubsub.sendToGroup",
}

func TestValidRoleMatchesPattern(t *testing.T) {
	for _, r := range roleSeeds {
		if got, want := validRole(r), rolePattern.MatchString(r); got != want {
			t.Errorf("validRole(%q) = %v, want %v", r, got, want)
		}
	}
}

func FuzzValidRole(f *testing.F) {
	for _, r := range roleSeeds {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, r string) {
		if got, want := validRole(r), rolePattern.MatchString(r); got != want {
			t.Errorf("validRole(%q) = %v, want %v", r, got, want)
		}
	})
}
