package azurefn

// Timer is a timerTrigger binding's value.
type Timer struct {
	Schedule struct {
		AdjustForDST bool `json:"AdjustForDST"`
	} `json:"Schedule"`
	// ScheduleStatus is nil for sub-minute schedules. Its times are kept as
	// the host wrote them; read them with ParseTime.
	ScheduleStatus *struct {
		Last        string `json:"Last"`
		Next        string `json:"Next"`
		LastUpdated string `json:"LastUpdated"`
	} `json:"ScheduleStatus"`
	IsPastDue bool `json:"IsPastDue"`
}

// Timer returns the first binding value that decodes as a timer (a timer
// function has one binding). It reports false when none does.
func (inv *Invocation) Timer() (Timer, bool) {
	for name := range inv.Data {
		var t Timer
		if inv.Binding(name, &t) {
			return t, true
		}
	}
	return Timer{}, false
}
