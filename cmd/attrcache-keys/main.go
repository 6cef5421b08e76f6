// Command attrcache-keys manages the key-encryption keyset (KEK) that
// attrcache's encrypted attributes are sealed under: it generates a
// keyset, rotates it, disables and lists its keys. Keysets are files in
// Tink's JSON form, written 0600; with -master-keyset they are stored
// encrypted under another (cleartext) Tink AEAD keyset. It never prints key
// material.
//
// Usage:
//
//	attrcache-keys generate -out FILE [-force] [-master-keyset FILE]
//	attrcache-keys rotate   -in FILE [-master-keyset FILE]
//	attrcache-keys add      -in FILE [-master-keyset FILE]
//	attrcache-keys promote  -in FILE -id N [-master-keyset FILE]
//	attrcache-keys disable  -in FILE -id N [-master-keyset FILE]
//	attrcache-keys enable   -in FILE -id N [-master-keyset FILE]
//	attrcache-keys list     -in FILE [-master-keyset FILE]
//
// Errors are one line on stderr and exit status 1; usage errors exit 2.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/attrcache/attrcache/keys"
)

const usage = `usage: attrcache-keys <command> [flags]

commands:
  generate -out FILE [-force]  write a new keyset with one key (refuses to replace FILE without -force)
  rotate   -in FILE            add a key and make it primary; older keys still decrypt
  add      -in FILE            add a key without making it primary (first step of a rolling rotation)
  promote  -in FILE -id N      make key N primary
  disable  -in FILE -id N      disable key N: values sealed under it no longer decrypt
  enable   -in FILE -id N      enable key N again
  list     -in FILE            show key ids, status, primary, type (never key material)

every command takes:
  -master-keyset FILE          the keyset file is encrypted under this cleartext Tink AEAD keyset
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout, stderr)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "attrcache-keys: %s (run 'attrcache-keys help' for usage)\n", oneLine(ue.msg))
		return 2
	default:
		fmt.Fprintf(stderr, "attrcache-keys: %s\n", oneLine(err.Error()))
		return 1
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// command is one parsed command line.
type command struct {
	name   string
	file   string // -in or -out
	force  bool
	id     uint32
	master string
	log    *slog.Logger
	stdout io.Writer
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{"no command given"}
	}
	c := &command{name: args[0], stdout: stdout, log: slog.New(slog.NewTextHandler(stderr, nil))}
	switch c.name {
	case "help", "-h", "-help", "--help":
		return flag.ErrHelp
	case "generate", "rotate", "add", "promote", "disable", "enable", "list":
	default:
		return &usageError{fmt.Sprintf("unknown command %q", c.name)}
	}
	if err := c.parse(args[1:]); err != nil {
		return err
	}
	switch c.name {
	case "generate":
		return c.generate()
	case "list":
		return c.list()
	default:
		return c.edit()
	}
}

func (c *command) parse(args []string) error {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.master, "master-keyset", "", "cleartext Tink AEAD keyset that encrypts the keyset file")
	needsID := c.name == "promote" || c.name == "disable" || c.name == "enable"
	var id uint64
	if c.name == "generate" {
		fs.StringVar(&c.file, "out", "", "keyset file to write")
		fs.BoolVar(&c.force, "force", false, "replace an existing file")
	} else {
		fs.StringVar(&c.file, "in", "", "keyset file")
	}
	if needsID {
		fs.Uint64Var(&id, "id", 0, "key id")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{c.name + ": " + err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("%s: unexpected argument %q", c.name, fs.Arg(0))}
	}
	if c.file == "" {
		flagName := "-in"
		if c.name == "generate" {
			flagName = "-out"
		}
		return &usageError{fmt.Sprintf("%s: %s FILE is required", c.name, flagName)}
	}
	if needsID {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "id" })
		if !set {
			return &usageError{c.name + ": -id N is required"}
		}
		if id > math.MaxUint32 {
			return &usageError{fmt.Sprintf("%s: -id %d is not a key id (at most %d)", c.name, id, uint32(math.MaxUint32))}
		}
		c.id = uint32(id)
	}
	return nil
}

// masterAEAD returns the AEAD of -master-keyset, or nil without one.
func (c *command) masterAEAD() (tink.AEAD, error) {
	if c.master == "" {
		return nil, nil
	}
	h, err := keys.ReadFile(c.master, nil, c.log)
	if err != nil {
		return nil, fmt.Errorf("master keyset: %w", err)
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("master keyset %s is not a Tink AEAD keyset (for example AES256_GCM)", c.master)
	}
	return a, nil
}

func (c *command) read() (*keyset.Handle, tink.AEAD, error) {
	master, err := c.masterAEAD()
	if err != nil {
		return nil, nil, err
	}
	h, err := keys.ReadFile(c.file, master, c.log)
	if err != nil {
		return nil, nil, err
	}
	return h, master, nil
}

// write checks that attrcache can use h before it replaces the file.
func (c *command) write(h *keyset.Handle, master tink.AEAD) error {
	if _, err := keys.NewEnvelope(h, keys.WithCacheSize(0)); err != nil {
		return fmt.Errorf("not writing %s: %w", c.file, err)
	}
	return keys.WriteFile(c.file, h, master)
}

func (c *command) generate() error {
	if _, err := os.Lstat(c.file); err == nil && !c.force {
		return fmt.Errorf("%s exists; use -force to replace it", c.file)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	master, err := c.masterAEAD()
	if err != nil {
		return err
	}
	h, err := keys.Generate()
	if err != nil {
		return err
	}
	if err := c.write(h, master); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "wrote new keyset %s, primary key %d\n", c.file, keys.List(h)[0].ID)
	return nil
}

func (c *command) edit() error {
	h, master, err := c.read()
	if err != nil {
		return err
	}
	var msg string
	switch c.name {
	case "rotate":
		var id uint32
		h, id, err = keys.Rotate(h)
		msg = fmt.Sprintf("added key %d to %s as primary; older keys still decrypt", id, c.file)
	case "add":
		var id uint32
		h, id, err = keys.Add(h)
		msg = fmt.Sprintf("added key %d to %s, not primary: promote it once every process has this keyset", id, c.file)
	case "promote":
		h, err = keys.Promote(h, c.id)
		msg = fmt.Sprintf("key %d of %s is primary", c.id, c.file)
	case "disable":
		h, err = keys.Disable(h, c.id)
		msg = fmt.Sprintf("disabled key %d in %s: values sealed under it no longer decrypt", c.id, c.file)
	case "enable":
		h, err = keys.Enable(h, c.id)
		msg = fmt.Sprintf("enabled key %d in %s", c.id, c.file)
	}
	if err != nil {
		return err
	}
	if err := c.write(h, master); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, msg)
	return nil
}

func (c *command) list() error {
	h, _, err := c.read()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY ID\tSTATUS\tPRIMARY\tPREFIX\tALGORITHM\tTYPE")
	for _, k := range keys.List(h) {
		primary := "no"
		if k.Primary {
			primary = "yes"
		}
		alg := k.Algorithm
		if alg == "" {
			alg = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", k.ID, strings.ToUpper(k.Status.String()), primary, k.OutputPrefix, alg, k.Type)
	}
	return tw.Flush()
}
