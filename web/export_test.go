package web

import "time"

// SetClock replaces the Manager's local clock, to test how it copes with
// a clock that disagrees with Redis's.
func SetClock(m *Manager, now func() time.Time) { m.now = now }
