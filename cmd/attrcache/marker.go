package main

// markerField and logField are attrcache's own fields in a session hash.
// Attribute names never start with a control byte, so every field that
// does is attrcache's; these are the two it writes.
const (
	markerField = "\x00"
	logField    = "\x01"
)

// marker is the part of attrcache's session marker that stats needs to
// sort keys into states and check the counter.
//
// stats works from keys found by SCAN, not from session ids, so it cannot
// use Session.Inspect, and attrcache exports no decoder of the marker.
// This reads the few offsets it needs from the format documented in
// attrcache/record.go, accepting exactly the lengths, format numbers and
// states the library's decodeMarker accepts; keep the two in step (or
// replace this with an exported decoder when attrcache has one).
type marker struct {
	state    byte  // 'L' live, 'R' rotating, 'E' ended
	deadline int64 // ms, Redis clock
	rotation int64 // ms; state 'R'
	count    int64 // the attribute counter
	counted  bool  // format 2: the counter is there
}

// readMarker decodes a marker; ok is false for bytes attrcache did not
// write.
func readMarker(s string) (m marker, ok bool) {
	switch {
	case len(s) == 56 && s[0] == 2:
		m = marker{state: s[1], deadline: u48(s[8:14]), count: u48(s[20:26]), rotation: u48(s[50:56]), counted: true}
		return m, m.state == 'L' || m.state == 'R' || m.state == 'E'
	case len(s) == 22 && s[0] == 1:
		m = marker{state: s[1], deadline: u48(s[16:22])}
		return m, m.state == 'L' || m.state == 'E'
	}
	return marker{}, false
}

// u48 reads 6 big-endian bytes; s must hold them.
func u48(s string) int64 {
	var n int64
	for i := range 6 {
		n = n<<8 | int64(s[i])
	}
	return n
}

// sessionState names a session's state the way Session.Inspect does.
func sessionState(m marker, now int64) string {
	switch {
	case m.state == 'E':
		return "ended"
	case m.deadline <= now:
		return "expired"
	case m.state == 'R':
		return "rotating"
	}
	return "live"
}
