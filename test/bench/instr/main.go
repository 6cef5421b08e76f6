// Command instr counts the instructions redis-server executes per call of
// each attrcache write, beside the floor script and raw commands, and of
// a Start bound to a user beside an unbound one, and of a CreateMany of
// 100 attributes beside 100 pipelined HSETNX, by
// running redis-server under valgrind's callgrind. Unlike server time, an
// instruction count does not move with the machine's load or with system
// calls, so it shows what a change to the Lua costs Redis in one run:
//
//	apt-get install valgrind    # once
//	go run ./test/bench/instr   # about a minute
//
// The floor is BenchmarkFloor's (bench.FloorLib): TIME, an HMGET of the
// marker and the attribute, an HSET of the attribute, called with a Set's
// keys and arguments. It starts its own redis-server (redis-server in PATH, or
// ATTRCACHE_REDIS_SERVER) on a free loopback port and stops it at the end.
//
// With -keep DIR it also keeps each case's callgrind dump: run it against
// a redis-server built with symbols (make in a Redis source tree) and
// callgrind_annotate DIR/Setquiet.out shows where a call's instructions go.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/bench"
)

func main() {
	calls := flag.Int("n", 500, "calls per case")
	keep := flag.String("keep", "", "keep each case's callgrind dump in this directory, as <case>.out, for callgrind_annotate")
	flag.Parse()
	if err := run(*calls, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "instr:", err)
		os.Exit(1)
	}
}

func run(n int, keep string) error {
	server := os.Getenv("ATTRCACHE_REDIS_SERVER")
	if server == "" {
		server = "redis-server"
	}
	for _, bin := range []string{server, "valgrind", "callgrind_control"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is needed: %w (apt-get install redis-server valgrind)", bin, err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir, err := os.MkdirTemp("", "attrcache-instr")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("valgrind", "--tool=callgrind",
		"--callgrind-out-file="+filepath.Join(dir, "cg.out"),
		server, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	pid := strconv.Itoa(cmd.Process.Pid)

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			break
		}
		if time.Since(start) > time.Minute {
			return fmt.Errorf("redis-server under valgrind did not listen within a minute")
		}
	}
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, ReadTimeout: 30 * time.Second})
	defer rdb.Close()
	if err := rdb.FunctionLoad(ctx, bench.FloorLib).Err(); err != nil {
		return err
	}
	val := []byte(strings.Repeat("x", 32))
	if err := rdb.HSet(ctx, "raw", "a", val).Err(); err != nil {
		return err
	}
	st, err := attrcache.New(rdb)
	if err != nil {
		return err
	}
	// Quiet sessions, a pool per case, written once more than 1.5 s after
	// their start; and one hot session, written on every call.
	pool := func() ([]*attrcache.Session, error) {
		p := make([]*attrcache.Session, n)
		for i := range p {
			s, err := st.Start(ctx, attrcache.NewSessionID(), time.Hour, attrcache.WithAttrs(
				attrcache.Attr{Name: "a", Value: val}, attrcache.Attr{Name: "b", Value: val},
				attrcache.Attr{Name: "n", Value: []byte("7")}))
			if err != nil {
				return nil, err
			}
			p[i] = s
		}
		return p, nil
	}
	var pools [7][]*attrcache.Session
	for i := range pools {
		if pools[i], err = pool(); err != nil {
			return err
		}
	}
	time.Sleep(2 * time.Second)

	dump := filepath.Join(dir, "cg.out")
	total := regexp.MustCompile(`(?m)^(?:summary|totals): (\d+)`)
	measure := func(name string, f func(i int) error) (int64, error) {
		if err := exec.Command("callgrind_control", "-z", pid).Run(); err != nil {
			return 0, fmt.Errorf("callgrind_control: %w", err)
		}
		for i := range n {
			if err := f(i); err != nil {
				return 0, err
			}
		}
		_ = os.Remove(dump)
		if err := exec.Command("callgrind_control", "-d", pid).Run(); err != nil {
			return 0, fmt.Errorf("callgrind_control: %w", err)
		}
		files, _ := filepath.Glob(dump + "*")
		var newest string
		var at time.Time
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil && fi.ModTime().After(at) {
				newest, at = f, fi.ModTime()
			}
		}
		b, err := os.ReadFile(newest)
		if err != nil {
			return 0, err
		}
		m := total.FindSubmatch(b)
		if m == nil {
			return 0, fmt.Errorf("no total in %s", newest)
		}
		if keep != "" {
			file := strings.NewReplacer(" ", "", ",", "-").Replace(name) + ".out"
			if err := os.WriteFile(filepath.Join(keep, file), b, 0o644); err != nil {
				return 0, err
			}
		}
		ir, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return ir / int64(n), nil
	}

	// Empty sessions for CreateMany, as BenchmarkCreateMany writes them.
	empty := make([]*attrcache.Session, n)
	for i := range empty {
		if empty[i], err = st.Start(ctx, attrcache.NewSessionID(), time.Hour); err != nil {
			return err
		}
	}
	batch := make([]attrcache.Attr, 100) // BenchmarkCreateMany's batchSize
	for i := range batch {
		batch[i] = attrcache.Attr{Name: "attr-" + strconv.Itoa(i), Value: val}
	}
	pipe := rdb.Pipeline()

	call := strings.Repeat("c", 30)
	cases := []struct {
		name, base string // base: the case it is compared with
		f          func(i int) error
	}{
		{"HGET", "", func(int) error { return rdb.HGet(ctx, "raw", "a").Err() }},
		{"HSET", "", func(int) error { return rdb.HSet(ctx, "raw", "a", val).Err() }},
		{"floor", "", func(int) error {
			return rdb.FCall(ctx, "floor", []string{"floor", "floor2"}, call, "a", "mmmmmmm", val).Err()
		}},
		{"Get", "HGET", func(i int) error { _, err := pools[0][i].Get(ctx, "a"); return err }},
		{"Set, quiet", "floor", func(i int) error { return pools[1][i].Set(ctx, "a", val) }},
		{"Set, hot", "floor", func(int) error { return pools[0][0].Set(ctx, "a", val) }},
		{"Create", "floor", func(i int) error { return pools[2][i].Create(ctx, "c", val) }},
		{"Update", "floor", func(i int) error { return pools[3][i].Update(ctx, "b", val) }},
		{"Delete", "floor", func(i int) error { return pools[4][i].Delete(ctx, "b") }},
		{"SetExpiry", "floor", func(i int) error { return pools[5][i].SetExpiry(ctx, "b", time.Hour) }},
		{"Incr", "floor", func(i int) error { _, err := pools[6][i].Incr(ctx, "n", 1); return err }},
		{"HSETNX x100", "", func(i int) error {
			key := "rawmany-" + strconv.Itoa(i)
			for _, a := range batch {
				pipe.HSetNX(ctx, key, a.Name, a.Value)
			}
			_, err := pipe.Exec(ctx)
			return err
		}},
		{"CreateMany", "HSETNX x100", func(i int) error { return empty[i].CreateMany(ctx, batch) }},
		{"Start", "", func(int) error { _, err := st.Start(ctx, attrcache.NewSessionID(), time.Hour); return err }},
		{"Start, bound", "Start", func(i int) error {
			// Users of 10 sessions, as BenchmarkUsers starts them.
			u := st.User("instr-user-" + strconv.Itoa(i/10))
			_, err := st.Start(ctx, u.NewSessionID(), time.Hour, attrcache.WithUser("instr-user-"+strconv.Itoa(i/10)))
			return err
		}},
	}
	fmt.Printf("%-12s %12s  %s\n", "call", "instr/call", "ratio")
	got := map[string]int64{}
	for _, c := range cases {
		ir, err := measure(c.name, c.f)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		got[c.name] = ir
		ratio := ""
		if b := got[c.base]; b > 0 {
			ratio = fmt.Sprintf("%.2fx %s", float64(ir)/float64(b), c.base)
		}
		fmt.Printf("%-12s %12d  %s\n", c.name, ir, ratio)
	}
	return nil
}
