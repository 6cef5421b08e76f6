package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
	"time"
)

// NewFlagSet returns a flag set for the command name ("" for the flags
// before any command) that prints nothing: Parse's errors say what is
// wrong.
func NewFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// Accepter is a flag.Value that says what it accepts, for the error
// about a value it refused ("a number of keys, or all"). Without it, the
// error names the kind of the flag's value, or only the flag.
type Accepter interface {
	flag.Value
	Accepts() string
}

// Parse parses args with fs, flags first as the flag package does, and
// returns the arguments after them. Its errors are *UsageError, prefixed
// with the flag set's name, and never show a value or an argument that
// may be one: a value a flag refuses is described by what the flag
// takes, an unknown flag is named only when it reads as a flag name (see
// Quote), and a malformed argument is not shown at all. -h and -help give
// flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	refused := quiet(fs)
	if err := fs.Parse(args); err != nil {
		return nil, parseError(fs, refused, err)
	}
	return fs.Args(), nil
}

// ParseInterspersed is Parse that also takes flags after the positional
// arguments ("inspect ID -json"). After "--" everything is positional,
// for arguments that start with '-'.
func ParseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		rest, err := Parse(fs, args)
		if err != nil {
			return nil, err
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// refusal records the flag whose value was refused in one parse.
type refusal struct{ flag *flag.Flag }

// quietValue stands in for a flag's Value: it sets the same variable, and
// when the value is refused records the flag, so that the error names the
// flag and not the value the flag package would quote.
type quietValue struct {
	flag.Value
	f       *flag.Flag
	refused *refusal
}

func (v *quietValue) Set(s string) error {
	if err := v.Value.Set(s); err != nil {
		v.refused.flag = v.f
		return errors.New("refused")
	}
	return nil
}

// quietBool is a quietValue of a boolean flag, which the flag package
// recognises by IsBoolFlag and lets stand without a value.
type quietBool struct{ *quietValue }

func (v quietBool) IsBoolFlag() bool { return true }

// quiet puts a quietValue in front of every flag of fs, once, and returns
// where they record a refusal.
func quiet(fs *flag.FlagSet) *refusal {
	// The flag package's usage output would go through the values too;
	// the caller prints its own.
	fs.Usage = func() {}
	r := &refusal{}
	fs.VisitAll(func(f *flag.Flag) {
		inner := f.Value
		switch q := inner.(type) {
		case *quietValue:
			inner = q.Value
		case quietBool:
			inner = q.Value
		}
		qv := &quietValue{Value: inner, f: f, refused: r}
		if b, ok := inner.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			f.Value = quietBool{qv}
		} else {
			f.Value = qv
		}
	})
	return r
}

// parseError restates an error of fs.Parse without any value: the flag
// package quotes refused values, and whole arguments it cannot read.
func parseError(fs *flag.FlagSet, r *refusal, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	msg := err.Error()
	switch {
	case r.flag != nil:
		msg = "-" + r.flag.Name + " takes " + accepts(r.flag.Value) + "; the value given is not shown"
	case strings.HasPrefix(msg, "flag needs an argument: "):
		// Names a flag that exists, nothing else.
	case strings.HasPrefix(msg, "flag provided but not defined: -"):
		name := strings.TrimPrefix(msg, "flag provided but not defined: -")
		if q := Quote(name); strings.HasPrefix(q, `"`) {
			msg = "unknown flag -" + name
		} else {
			msg = "unknown flag " + q + "; if it is an argument that starts with '-', put '--' before it"
		}
	case strings.HasPrefix(msg, "bad flag syntax: "):
		msg = "an argument that is no flag (not shown): write -name or -name=value, and put '--' before an argument that starts with '-'"
	default:
		msg = "the flags could not be read (not shown)"
	}
	if fs.Name() != "" {
		msg = fs.Name() + ": " + msg
	}
	return &UsageError{msg}
}

// accepts says what a flag's value may be, from the value itself.
func accepts(v flag.Value) string {
	if q, ok := v.(quietBool); ok {
		v = q.Value
	}
	if q, ok := v.(*quietValue); ok {
		v = q.Value
	}
	if a, ok := v.(Accepter); ok {
		return a.Accepts()
	}
	g, ok := v.(flag.Getter)
	if !ok {
		return "another value"
	}
	switch g.Get().(type) {
	case bool:
		return "true or false (or no value, meaning true)"
	case int, int64:
		return "a whole number"
	case uint, uint64:
		return "a whole number, 0 or more"
	case float64:
		return "a number"
	case time.Duration:
		return "a duration such as 500ms, 2s or 1m"
	}
	return "another value"
}
