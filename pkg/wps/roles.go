package wps

// Client token roles. A role without a group applies to every group.
const (
	// RoleJoinLeaveGroupAny lets a client join and leave any group.
	RoleJoinLeaveGroupAny = "webpubsub.joinLeaveGroup"
	// RoleSendToGroupAny lets a client send to any group.
	RoleSendToGroupAny = "webpubsub.sendToGroup"
)

// RoleJoinLeaveGroup returns the role that lets a client join and leave
// group ("webpubsub.joinLeaveGroup.<group>"); an empty group means any group.
func RoleJoinLeaveGroup(group string) string {
	if group == "" {
		return RoleJoinLeaveGroupAny
	}
	return RoleJoinLeaveGroupAny + "." + group
}

// RoleSendToGroup returns the role that lets a client send to group
// ("webpubsub.sendToGroup.<group>"); an empty group means any group.
func RoleSendToGroup(group string) string {
	if group == "" {
		return RoleSendToGroupAny
	}
	return RoleSendToGroupAny + "." + group
}

// RoleJoinLeaveGroups returns the wildcard role
// "webpubsub.joinLeaveGroups.<pattern>": in pattern, ? and * match within a
// dot-separated part, ** matches across parts, \ escapes; at most five *.
func RoleJoinLeaveGroups(pattern string) string { return "webpubsub.joinLeaveGroups." + pattern }

// RoleSendToGroups returns the wildcard role "webpubsub.sendToGroups.<pattern>"
// (see RoleJoinLeaveGroups for the pattern syntax).
func RoleSendToGroups(pattern string) string { return "webpubsub.sendToGroups." + pattern }
