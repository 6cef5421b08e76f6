package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/cli"
)

// inspect prints what Session.Inspect finds, and the values with -values.
func (c *invocation) inspect(ctx context.Context, args []string) error {
	fs := c.flags(true)
	asJSON := fs.Bool("json", false, "")
	withValues := fs.Bool("values", false, "")
	cn, sess, info, err := c.session(ctx, fs, args, withValues)
	if err != nil {
		return err
	}
	defer cn.close()
	r := newReport(info)
	var valuesErr error
	if *withValues {
		valuesErr = r.readValues(ctx, sess, cn.cipher)
	}
	if *asJSON {
		err = r.writeJSON(c.stdout)
	} else {
		err = r.writeTable(c.stdout)
	}
	if err != nil {
		return err
	}
	if valuesErr != nil {
		return fmt.Errorf("values not read: %w", valuesErr)
	}
	return nil
}

// report is one session as inspect shows it: the library's description,
// what the tool concludes from it, and the values when asked for.
type report struct {
	info     *sessionInfo
	warnings []string
	values   map[string]shown // by attribute name; nil without -values
}

// shown is what -values shows for one attribute: the value, or why there
// is none.
type shown struct {
	value []byte
	ok    bool
	note  string
}

func newReport(info *sessionInfo) *report {
	return &report{info: info, warnings: diagnose(info)}
}

// readable reports whether the library's reads answer for a session in
// this state.
func readable(state string) bool { return state == "live" || state == "rotating" }

// diagnose names what is wrong beyond what Inspect reports as State and
// Problem: things that work today but will surprise someone.
func diagnose(i *sessionInfo) []string {
	var w []string
	if !i.Exists {
		return nil
	}
	if i.KeyTTL == -1 {
		w = append(w, "the key has no TTL, so Redis will never reclaim it; attrcache always sets one, so something else wrote it")
	}
	if i.KeyTTL > 0 && !i.Expires.IsZero() && i.Now.Add(i.KeyTTL).Before(i.Expires.Add(-time.Second)) {
		w = append(w, fmt.Sprintf("the key's TTL (%s) ends before the session's deadline: Redis will drop the session early; something other than attrcache changed it", fmtDuration(i.KeyTTL)))
	}
	// A format 1 marker has no counters yet (Problem says so); otherwise
	// they should match what is stored.
	if i.Problem == "" && i.State != "corrupt" && i.State != "ended" && (i.Counted != i.Stored || i.CountedBytes != i.StoredBytes) {
		w = append(w, fmt.Sprintf("the counters (%d attributes, %d bytes) differ from what the hash holds (%d, %d): something other than attrcache wrote to it; limits are checked against the counters",
			i.Counted, i.CountedBytes, i.Stored, i.StoredBytes))
	}
	var corrupt []string
	for _, a := range i.Attributes {
		if a.Corrupt != "" {
			corrupt = append(corrupt, displayName(a.Name))
		}
	}
	if len(corrupt) > 0 {
		w = append(w, fmt.Sprintf("%d corrupt record(s): %s; reading one fails with ErrCorrupt (GetAll too, unless WithPartialResults); Delete clears one, End the whole session",
			len(corrupt), strings.Join(corrupt, ", ")))
	}
	return w
}

// readValues reads the live values with the library's GetAll, so they
// are decoded, judged and decrypted exactly as the application sees
// them. WithPartialResults keeps one bad record from hiding the rest.
// Without a cipher the encrypted ones are not shown at all: the stored
// ciphertext is of no use to an operator. It returns the error that kept
// every value from being read, if any.
func (r *report) readValues(ctx context.Context, sess *attrcache.Session, hasCipher bool) error {
	r.values = make(map[string]shown, len(r.info.Attributes))
	var (
		got     map[string]*attrcache.Entry
		readErr error
	)
	if readable(r.info.State) {
		opts := []attrcache.ReadOption{attrcache.WithPartialResults()}
		if !hasCipher {
			// Without it, GetAll fails as a whole on the first encrypted
			// value (ErrNoCipher).
			opts = append(opts, attrcache.WithoutDecryption())
		}
		got, readErr = sess.GetAll(ctx, opts...)
	}
	for _, a := range r.info.Attributes {
		var s shown
		e, found := got[a.Name]
		switch {
		case a.Corrupt != "":
			s.note = "corrupt"
		case a.Expired:
			s.note = "expired"
		case !readable(r.info.State):
			s.note = "session " + r.info.State
		case a.Sealed && !hasCipher:
			s.note = "encrypted; no keyset configured"
		case found && e != nil:
			s.value, s.ok = e.Value, true
		case got == nil && readErr != nil:
			s.note = "not read"
		case errors.Is(readErr, attrcache.ErrDecrypt):
			s.note = "does not decrypt"
		default:
			s.note = "not read (changed since inspected)"
		}
		r.values[a.Name] = s
	}
	switch {
	case got == nil && readErr != nil:
		return readErr
	case errors.Is(readErr, attrcache.ErrDecrypt):
		// Only some records failed. Corrupt ones are named already;
		// for the others say why: the error names attributes and the
		// cipher's reason (a disabled key, say), never values.
		r.warnings = append(r.warnings, "values: "+cli.OneLine(readErr.Error()))
	}
	return nil
}

// Times are shown in UTC with milliseconds, the precision attrcache
// stores, so that operators in several zones read the same thing.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// fmtTime shows t and how far it is from now; "-" for the zero time.
func fmtTime(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	s := t.UTC().Format(timeLayout)
	switch d := t.Sub(now); {
	case d > 0:
		return s + " (in " + fmtDuration(d) + ")"
	case d < 0:
		return s + " (" + fmtDuration(-d) + " ago)"
	}
	return s + " (now)"
}

// fmtDuration rounds d for reading: to the second from a minute up.
func fmtDuration(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

// displayName shows an attribute name as it is when it prints cleanly,
// quoted otherwise: a record planted by something else can have any name,
// and its bytes must neither drive the terminal nor break the table.
func displayName(name string) string {
	if name == "" || !utf8.ValidString(name) || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }) >= 0 {
		return strconv.Quote(name)
	}
	return name
}

// maxTableValue is the most value bytes the table shows; -json shows all.
const maxTableValue = 120

// tableValue shows a value in the table: quoted, so that control bytes are
// escaped, and cut at maxTableValue bytes.
func tableValue(v []byte) string {
	if len(v) <= maxTableValue {
		return strconv.Quote(string(v))
	}
	return strconv.Quote(string(v[:maxTableValue])) + fmt.Sprintf("... (%d bytes)", len(v))
}

// writeTable writes the report for people: the session, then one row
// per attribute.
func (r *report) writeTable(w io.Writer) error {
	i := r.info
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("session", i.ID)
	row("key", i.Key)
	row("state", i.State)
	if i.Problem != "" {
		row("problem", i.Problem)
	}
	if !i.Exists {
		row("", "no key in Redis: the session never started, or ended or expired and was reclaimed")
		row("now", fmtStamp(i.Now)+" (Redis clock, estimated)")
		return tw.Flush()
	}
	// Without a marker attrcache can read there are no times to show.
	if !i.Created.IsZero() {
		switch {
		case i.State == "ended":
			// A tombstone's marker keeps when the session ended.
			row("ended", fmtTime(i.Created, i.Now))
		case i.MaxExpires.IsZero():
			row("created", fmtTime(i.Created, i.Now))
			row("expires", fmtTime(i.Expires, i.Now))
			row("absolute deadline", "none")
		default:
			row("created", fmtTime(i.Created, i.Now))
			row("expires", fmtTime(i.Expires, i.Now))
			row("absolute deadline", fmtTime(i.MaxExpires, i.Now))
		}
		if !i.RotationEnds.IsZero() {
			row("rotation deadline", fmtTime(i.RotationEnds, i.Now))
		}
	}
	row("key TTL", fmtKeyTTL(i.KeyTTL))
	marked := !i.Created.IsZero()
	if marked {
		row("attributes", fmt.Sprintf("%d stored, %d bytes (counters: %d, %d bytes)", i.Stored, i.StoredBytes, i.Counted, i.CountedBytes))
		row("next reclaim", fmtTime(i.NextReclaim, i.Now))
	} else if i.Stored > 0 {
		row("attributes", fmt.Sprintf("%d stored, %d bytes", i.Stored, i.StoredBytes))
	}
	if marked || i.ResendLog > 0 {
		row("resend log", fmt.Sprintf("%d recent calls (a resend of one is recognised)", i.ResendLog))
	}
	row("now", fmtStamp(i.Now)+" (Redis clock, estimated)")
	for _, w := range r.warnings {
		row("warning", w)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(i.Attributes) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	header := "NAME\tSIZE\tVALUE BYTES\tCREATED\tMODIFIED\tEXPIRES\tFLAGS"
	if r.values != nil {
		header += "\tVALUE"
	}
	fmt.Fprintln(tw, header)
	for _, a := range i.Attributes {
		var flags []string
		if a.Sealed {
			flags = append(flags, "encrypted")
		}
		if a.Expired {
			flags = append(flags, "expired")
		}
		if a.Corrupt != "" {
			flags = append(flags, "corrupt: "+a.Corrupt)
		}
		if len(flags) == 0 {
			flags = append(flags, "-")
		}
		line := fmt.Sprintf("%s\t%d\t%d\t%s\t%s\t%s\t%s", displayName(a.Name), a.Size, a.ValueBytes,
			fmtStamp(a.Created), fmtStamp(a.Modified), fmtStamp(a.Expires), strings.Join(flags, ", "))
		if r.values != nil {
			s := r.values[a.Name]
			if s.ok {
				line += "\t" + tableValue(s.value)
			} else {
				line += "\t(" + s.note + ")"
			}
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// newTable returns the tabwriter every table of the tool is written with.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// fmtStamp is a time in the attribute table: no relative part, to keep
// rows short.
func fmtStamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}

// fmtKeyTTL reads PTTL's answer: -1 no TTL, -2 no key.
func fmtKeyTTL(d time.Duration) string {
	switch d {
	case -1:
		return "none (the key never expires)"
	case -2:
		return "no key"
	}
	return fmtDuration(d)
}

// sessionJSON is inspect -json's output: SessionInfo under stable
// snake_case names, times in UTC RFC 3339 (absent ones left out). Values
// appear only with -values.
type sessionJSON struct {
	Session  string    `json:"session"` // the short digest, never the id
	Key      string    `json:"key"`
	Exists   bool      `json:"exists"`
	State    string    `json:"state"`
	Problem  string    `json:"problem,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
	Now      time.Time `json:"now"`
	// Created is when the session started; for a tombstone (state
	// "ended"), when it ended.
	Created      *time.Time `json:"created,omitempty"`
	Expires      *time.Time `json:"expires,omitempty"`
	MaxExpires   *time.Time `json:"max_expires,omitempty"`
	RotationEnds *time.Time `json:"rotation_ends,omitempty"`
	// KeyTTLMs is PTTL's answer: -1 when the key has no TTL, -2 when
	// there is no key.
	KeyTTLMs     int64      `json:"key_ttl_ms"`
	Counted      int64      `json:"counted"`
	CountedBytes int64      `json:"counted_bytes"`
	Stored       int64      `json:"stored"`
	StoredBytes  int64      `json:"stored_bytes"`
	NextReclaim  *time.Time `json:"next_reclaim,omitempty"`
	ResendLog    int        `json:"resend_log"`
	Values       bool       `json:"values_shown"`
	Attributes   []attrJSON `json:"attributes"`
}

// attrJSON is one attribute in inspect -json's output. With -values,
// Value holds a value that is valid UTF-8, ValueBase64 any other, and
// ValueNote says why neither is there.
type attrJSON struct {
	Name        string     `json:"name"`
	Size        int        `json:"size"`
	ValueBytes  int        `json:"value_bytes"`
	Created     *time.Time `json:"created,omitempty"`
	Modified    *time.Time `json:"modified,omitempty"`
	Expires     *time.Time `json:"expires,omitempty"`
	Encrypted   bool       `json:"encrypted"`
	Expired     bool       `json:"expired"`
	Corrupt     string     `json:"corrupt,omitempty"`
	Value       *string    `json:"value,omitempty"`
	ValueBase64 []byte     `json:"value_base64,omitempty"`
	ValueNote   string     `json:"value_note,omitempty"`
}

// jsonTime is t in UTC, or nil for the zero time.
func jsonTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (r *report) writeJSON(w io.Writer) error {
	i := r.info
	out := sessionJSON{
		Session: i.ID, Key: i.Key, Exists: i.Exists, State: i.State, Problem: i.Problem, Warnings: r.warnings,
		Now: i.Now.UTC(), Created: jsonTime(i.Created), Expires: jsonTime(i.Expires),
		MaxExpires: jsonTime(i.MaxExpires), RotationEnds: jsonTime(i.RotationEnds),
		KeyTTLMs: i.KeyTTL.Milliseconds(), Counted: i.Counted, CountedBytes: i.CountedBytes,
		Stored: i.Stored, StoredBytes: i.StoredBytes, NextReclaim: jsonTime(i.NextReclaim),
		ResendLog: i.ResendLog, Values: r.values != nil, Attributes: []attrJSON{},
	}
	if i.KeyTTL < 0 { // -1 and -2 are PTTL's codes, not nanoseconds
		out.KeyTTLMs = int64(i.KeyTTL)
	}
	for _, a := range i.Attributes {
		aj := attrJSON{
			Name: a.Name, Size: a.Size, ValueBytes: a.ValueBytes,
			Created: jsonTime(a.Created), Modified: jsonTime(a.Modified), Expires: jsonTime(a.Expires),
			Encrypted: a.Sealed, Expired: a.Expired, Corrupt: a.Corrupt,
		}
		if r.values != nil {
			switch s := r.values[a.Name]; {
			case s.ok && utf8.Valid(s.value):
				v := string(s.value)
				aj.Value = &v
			case s.ok:
				aj.ValueBase64 = s.value
			default:
				aj.ValueNote = s.note
			}
		}
		out.Attributes = append(out.Attributes, aj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
