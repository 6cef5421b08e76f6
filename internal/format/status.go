package format

// Script reply statuses, mirrored from lib.lua: every script answers
// {status, now, ...}, or for the common write's OK a string that starts
// with the status byte (backend.ShortReply).
const (
	StatusOK              = 0
	StatusNoSession       = 1
	StatusExists          = 2
	StatusNotFound        = 3
	StatusCorrupt         = 4
	StatusTooMany         = 5
	StatusSessionExists   = 6
	StatusTooBig          = 7
	StatusLate            = 8
	StatusResent          = 9
	StatusClock           = 10
	StatusReseal          = 11
	StatusChanged         = 12
	StatusTooManySessions = 13
	StatusNeedKeys        = 14
	StatusNotInt          = 15
	StatusMoved           = 16
)

// Applied reports a status of a call that did its work: now, or on an
// earlier send that the resend log recognised.
func Applied(status int64) bool { return status == StatusOK || status == StatusResent }
