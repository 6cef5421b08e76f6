// Command attrcache-keys manages the key-encryption keyset (KEK) that
// attrcache's encrypted attributes are sealed under: it generates a
// keyset, rotates it, disables, destroys and lists its keys. It also makes
// the AEAD master keyset that can encrypt a KEK file (-master-keyset,
// encryption.master_keyset_file). Keysets are files in Tink's JSON form;
// with -master-keyset they are stored encrypted under the master. It never
// prints key material, except the keyset that "generate -out -" is asked
// to write to standard output.
//
// Usage:
//
//	attrcache-keys generate -out FILE|- [-type kek|aead] [-force] [-follow] [-master-keyset FILE]
//	attrcache-keys rotate   -in FILE [-follow] [-master-keyset FILE]
//	attrcache-keys add      -in FILE [-follow] [-master-keyset FILE]
//	attrcache-keys promote  -in FILE -id N [-follow] [-master-keyset FILE]
//	attrcache-keys disable  -in FILE -id N [-follow] [-master-keyset FILE]
//	attrcache-keys enable   -in FILE -id N [-follow] [-master-keyset FILE]
//	attrcache-keys destroy  -in FILE -id N [-follow] [-master-keyset FILE]
//	attrcache-keys list     -in FILE [-master-keyset FILE]
//
// Files are replaced atomically, by the rules of package keys ("Key
// files"): generate writes a new file, 0600 and owned by whoever runs it,
// whatever it replaces; the other commands keep a keyset's owner and a
// mode shared with its group only (0640), and make one that every user
// could read 0600. A symbolic link is refused unless -follow is given;
// then the file it points to is replaced, the link stays, and stderr says
// so. A read-only file is refused with nothing changed. "generate -out -"
// writes the keyset to standard output and refuses a terminal unless
// -force is given.
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
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/attrcache/attrcache/internal/cli"
	"github.com/attrcache/attrcache/keys"
)

const usage = `usage: attrcache-keys <command> [flags]

commands:
  generate -out FILE [-force]  write a new keyset with one key (refuses to replace FILE without -force)
           -out -              write it to standard output instead (not to a terminal, unless -force)
           -type kek|aead      kek (the default): the keyset attrcache seals values with;
                               aead: an AES256_GCM master keyset, for -master-keyset and
                               encryption.master_keyset_file
  rotate   -in FILE            add a key and make it primary; older keys still decrypt
  add      -in FILE            add a key without making it primary (first step of a rolling rotation)
  promote  -in FILE -id N      make key N primary
  disable  -in FILE -id N      disable key N: values sealed under it no longer decrypt
  enable   -in FILE -id N      enable key N again
  destroy  -in FILE -id N      remove key N's material for good (for a leaked key); its id stays
  list     -in FILE            show key ids, status, primary, type (never key material)

every command takes:
  -master-keyset FILE          the keyset file is encrypted under this cleartext Tink AEAD keyset
                               (make one with: attrcache-keys generate -type aead -out FILE)
every command that writes FILE takes:
  -follow                      FILE may be a symbolic link: replace the file it points to, keep the link

generate writes a new file, 0600 and owned by you, whatever FILE was. The other commands keep
FILE's owner and a mode shared with its group only (0640); a FILE every user could read becomes 0600.
`

// Keyset types of generate -type.
const (
	typeKEK  = "kek"
	typeAEAD = "aead"
)

var program = cli.Program{Name: "attrcache-keys", Usage: usage}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return program.Exit(dispatch(args, stdout, stderr), "", stdout, stderr)
}

// command is one parsed command line.
type command struct {
	name    string
	file    string // -in or -out; "-" for standard output
	typ     string // -type of generate
	force   bool
	follow  bool // -follow: write through a symbolic link
	id      uint32
	master  string
	log     *slog.Logger
	stdout  io.Writer
	stderr  io.Writer
	written string // the file a write replaced, when not file itself
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return cli.Usagef("no command given")
	}
	c := &command{name: args[0], stdout: stdout, stderr: stderr, log: slog.New(slog.NewTextHandler(stderr, nil))}
	switch c.name {
	case "help", "-h", "-help", "--help":
		return flag.ErrHelp
	case "generate", "rotate", "add", "promote", "disable", "enable", "destroy", "list":
	default:
		return cli.Usagef("unknown command %s", cli.Quote(c.name))
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
	fs := cli.NewFlagSet(c.name)
	fs.StringVar(&c.master, "master-keyset", "", "cleartext Tink AEAD keyset that encrypts the keyset file")
	needsID := c.name == "promote" || c.name == "disable" || c.name == "enable" || c.name == "destroy"
	var id uint64
	if c.name == "generate" {
		fs.StringVar(&c.file, "out", "", "keyset file to write, or - for standard output")
		fs.StringVar(&c.typ, "type", typeKEK, "kek or aead")
		fs.BoolVar(&c.force, "force", false, "replace an existing file, or write to a terminal")
	} else {
		fs.StringVar(&c.file, "in", "", "keyset file")
	}
	if c.name != "list" {
		fs.BoolVar(&c.follow, "follow", false, "write through a symbolic link, keeping it")
	}
	if needsID {
		fs.Uint64Var(&id, "id", 0, "key id")
	}
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return cli.Usagef("%s: unexpected argument %s", c.name, cli.Quote(rest[0]))
	}
	if c.file == "" {
		flagName := "-in"
		if c.name == "generate" {
			flagName = "-out"
		}
		return cli.Usagef("%s: %s FILE is required", c.name, flagName)
	}
	if c.file == "-" && c.name != "generate" {
		return cli.Usagef("%s: -in - (standard input) is not supported; give the keyset file, which %s rewrites in place", c.name, c.name)
	}
	if c.name == "generate" {
		switch c.typ {
		case typeKEK:
		case typeAEAD:
			if c.master != "" {
				return cli.Usagef("generate: -type aead makes a master keyset, which attrcache reads in clear; -master-keyset does not apply")
			}
		default:
			return cli.Usagef("generate: -type takes kek or aead; the value given is not shown")
		}
	}
	if needsID {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "id" })
		if !set {
			return cli.Usagef("%s: -id N is required (attrcache-keys list shows the ids)", c.name)
		}
		if id > math.MaxUint32 {
			return cli.Usagef("%s: -id takes a key id, at most %d; the value given is not shown", c.name, uint32(math.MaxUint32))
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
	a, err := keys.NewAEAD(h)
	if err != nil {
		return nil, fmt.Errorf("master keyset %s: %w", c.master, err)
	}
	return a, nil
}

func (c *command) read() (*keyset.Handle, tink.AEAD, error) {
	master, err := c.masterAEAD()
	if err != nil {
		return nil, nil, err
	}
	h, err := keys.ReadFile(c.file, master, c.log)
	if errors.Is(err, keys.ErrEncrypted) {
		return nil, nil, fmt.Errorf("%w; give the master keyset it is sealed under with -master-keyset FILE", err)
	}
	if err != nil {
		return nil, nil, err
	}
	return h, master, nil
}

// write checks that attrcache can use h (as a KEK, or as a master for
// -type aead) before it replaces the file, and notes in c.written the
// file a symbolic link led to. generate writes a new file; the other
// commands rewrite one (see keys.WriteFile). What changed beyond the
// keys, a link written through or a mode narrowed, is said on stderr.
func (c *command) write(h *keyset.Handle, master tink.AEAD) error {
	if c.typ == typeAEAD {
		if _, err := keys.NewAEAD(h); err != nil {
			return fmt.Errorf("not writing %s: %w", c.file, err)
		}
	} else if _, err := keys.NewEnvelope(h, keys.WithCacheSize(0)); err != nil {
		return fmt.Errorf("not writing %s: %w", c.file, err)
	}
	var opts []keys.WriteOption
	if c.follow {
		opts = append(opts, keys.FollowSymlink())
	}
	if c.name == "generate" {
		opts = append(opts, keys.AsNewFile())
	}
	before, hadFile := c.mode()
	if err := keys.WriteFile(c.file, h, master, opts...); err != nil {
		if errors.Is(err, keys.ErrSymlink) {
			return fmt.Errorf("%w; add -follow to replace the file it points to and keep the link, or give that file's own path", err)
		}
		return err
	}
	if li, err := os.Lstat(c.file); err == nil && li.Mode()&os.ModeSymlink != 0 {
		if target, err := filepath.EvalSymlinks(c.file); err == nil {
			c.written = target
			fmt.Fprintf(c.stderr, "attrcache-keys: %s is a symbolic link: kept it, and replaced the file it points to, %s\n", c.file, target)
		}
	}
	if after, ok := c.mode(); ok && hadFile && after != before {
		why := "a new keyset is readable by its owner only"
		if c.name != "generate" {
			why = "a keyset every user could read is now readable by its owner only"
		}
		fmt.Fprintf(c.stderr, "attrcache-keys: %s had mode %#o and now has %#o: %s\n", c.where(), before, after, why)
	}
	return nil
}

// mode returns the permissions of the file a write replaces (through a
// link only with -follow), and whether there is one.
func (c *command) mode() (os.FileMode, bool) {
	stat := os.Lstat
	if c.follow {
		stat = os.Stat
	}
	fi, err := stat(c.file)
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Mode().Perm(), true
}

// where names the file written, with the file a link led to.
func (c *command) where() string {
	if c.written != "" {
		return c.file + " (through the link, " + c.written + ")"
	}
	return c.file
}

func (c *command) generate() error {
	if c.file == "-" {
		return c.generateToStdout()
	}
	if _, err := os.Lstat(c.file); err == nil && !c.force {
		return fmt.Errorf("%s exists; use -force to replace it", c.file)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	h, master, err := c.newKeyset()
	if err != nil {
		return err
	}
	if err := c.write(h, master); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "wrote new %s %s, primary key %d%s\n", c.kind(), c.where(), keys.List(h)[0].ID, c.hint())
	return nil
}

// generateToStdout writes a new keyset to standard output, for a pipe or
// a secret store's command line; what it says goes to stderr, so stdout
// holds the keyset alone.
func (c *command) generateToStdout() error {
	if isTerminal(c.stdout) && !c.force {
		return errors.New("refusing to print a keyset to a terminal, where it would stay in the scrollback; redirect standard output (> FILE, or | a command), or add -force")
	}
	h, master, err := c.newKeyset()
	if err != nil {
		return err
	}
	data, err := keys.Marshal(h, master)
	if err != nil {
		return err
	}
	defer clear(data)
	if _, err := c.stdout.Write(data); err != nil {
		return fmt.Errorf("writing the keyset to standard output: %w", err)
	}
	fmt.Fprintf(c.stderr, "wrote new %s to standard output, primary key %d%s\n", c.kind(), keys.List(h)[0].ID, c.hint())
	return nil
}

// newKeyset makes the keyset generate writes, and the master it is
// sealed under (nil for none).
func (c *command) newKeyset() (*keyset.Handle, tink.AEAD, error) {
	master, err := c.masterAEAD()
	if err != nil {
		return nil, nil, err
	}
	var h *keyset.Handle
	if c.typ == typeAEAD {
		h, err = keys.GenerateAEAD()
	} else {
		h, err = keys.Generate()
	}
	if err != nil {
		return nil, nil, err
	}
	return h, master, nil
}

// kind names the keyset generate makes.
func (c *command) kind() string {
	if c.typ == typeAEAD {
		return "master keyset (AES256_GCM)"
	}
	return "keyset"
}

// hint says what a new keyset of this kind is for, when that is not
// obvious.
func (c *command) hint() string {
	if c.typ == typeAEAD {
		return "; give it as -master-keyset, or as encryption.master_keyset_file"
	}
	return ""
}

// isTerminal reports whether w is a terminal: a character device other
// than the null device.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}

func (c *command) edit() error {
	h, master, err := c.read()
	if err != nil {
		return err
	}
	var msg func() string
	switch c.name {
	case "rotate":
		var id uint32
		h, id, err = keys.Rotate(h)
		msg = func() string {
			return fmt.Sprintf("added key %d to %s as primary; older keys still decrypt", id, c.where())
		}
	case "add":
		var id uint32
		h, id, err = keys.Add(h)
		msg = func() string {
			return fmt.Sprintf("added key %d to %s, not primary: promote it once every process has this keyset", id, c.where())
		}
	case "promote":
		h, err = keys.Promote(h, c.id)
		msg = func() string { return fmt.Sprintf("key %d of %s is primary", c.id, c.where()) }
	case "disable":
		h, err = keys.Disable(h, c.id)
		msg = func() string {
			return fmt.Sprintf("disabled key %d in %s: values sealed under it no longer decrypt", c.id, c.where())
		}
	case "enable":
		h, err = keys.Enable(h, c.id)
		msg = func() string { return fmt.Sprintf("enabled key %d in %s", c.id, c.where()) }
	case "destroy":
		h, err = keys.Destroy(h, c.id)
		msg = func() string {
			return fmt.Sprintf("destroyed key %d in %s: its material is gone and values sealed under it never decrypt again; copies of the keyset made before (backups, other hosts) still hold it", c.id, c.where())
		}
	}
	if err != nil {
		return err
	}
	if err := c.write(h, master); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, msg())
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
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", k.ID, strings.ToUpper(k.Status.String()), primary, k.OutputPrefix, orDash(k.Algorithm), orDash(k.Type))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
