package test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// The failover workload: several goroutines write to sessions of their
// own while a master is killed and replaced, and every write's outcome is
// recorded. Afterwards an independent reader (raw HGETALL, decoded here)
// counts the acknowledged writes that are missing.

const (
	failoverWorkers  = 8
	failoverSessions = 40 // per worker
	failoverCallTime = time.Second
)

// attempt is one write of a value to an attribute.
type attempt struct {
	value string
	acked bool
}

// attrKey names an attribute of a worker's session.
type attrKey struct {
	sess int // index in the worker's sessions
	name string
}

// outcome is one finished call, for the timeline.
type outcome struct {
	start time.Time // when the call began
	at    time.Time // when it returned
	sess  int
	ok    bool
	class string // error class when !ok
}

// worker owns its sessions, so its record of attempts is exact.
type worker struct {
	id       int
	sessions []*attrcache.Session
	sids     []string
	attempts map[attrKey][]attempt
	names    [][]string // per session, names written so far
	log      []outcome
}

// failoverRun is a workload on one store.
type failoverRun struct {
	st      *attrcache.Store
	workers []*worker
	stop    atomic.Bool
	wg      sync.WaitGroup
}

// startFailoverLoad starts failoverWorkers goroutines, each on
// failoverSessions sessions it starts first (those Starts must succeed).
func startFailoverLoad(ctx context.Context, t *testing.T, st *attrcache.Store) *failoverRun {
	t.Helper()
	r := &failoverRun{st: st}
	for w := range failoverWorkers {
		wk := &worker{id: w, attempts: map[attrKey][]attempt{}, names: make([][]string, failoverSessions)}
		for i := range failoverSessions {
			sid := fmt.Sprintf("failover-%d-%d-%s", w, i, randHex(6))
			var sess *attrcache.Session
			err := retryCall(ctx, 10*time.Second, func() error {
				var err error
				sess, err = st.Start(ctx, sid, time.Hour)
				return err
			})
			if err != nil {
				t.Fatalf("Start before the failover: %v", err)
			}
			wk.sessions = append(wk.sessions, sess)
			wk.sids = append(wk.sids, sid)
		}
		r.workers = append(r.workers, wk)
	}
	for _, wk := range r.workers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.work(ctx, wk)
		}()
	}
	return r
}

// work writes until told to stop: Create of a new name, Set of a new
// name, or Set over a name written before, each value unique.
func (r *failoverRun) work(ctx context.Context, wk *worker) {
	rng := rand.New(rand.NewPCG(uint64(wk.id), 42))
	for i := 0; !r.stop.Load() && ctx.Err() == nil; i++ {
		si := rng.IntN(len(wk.sessions))
		s := wk.sessions[si]
		value := fmt.Sprintf("w%d-%d", wk.id, i)
		name := fmt.Sprintf("n%d", i)
		create := rng.IntN(2) == 0
		if !create && len(wk.names[si]) > 0 && rng.IntN(2) == 0 {
			name = wk.names[si][rng.IntN(len(wk.names[si]))]
		}
		began := time.Now()
		cctx, cancel := context.WithTimeout(ctx, failoverCallTime)
		var err error
		if create {
			err = s.Create(cctx, name, []byte(value))
		} else {
			err = s.Set(cctx, name, []byte(value))
		}
		cancel()
		k := attrKey{sess: si, name: name}
		if _, seen := wk.attempts[k]; !seen {
			wk.names[si] = append(wk.names[si], name)
		}
		wk.attempts[k] = append(wk.attempts[k], attempt{value: value, acked: err == nil})
		wk.log = append(wk.log, outcome{start: began, at: time.Now(), sess: si, ok: err == nil, class: errClass(err)})
		if err != nil {
			// A failing cluster answers at once; do not spin.
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// finish stops the workers and waits for them.
func (r *failoverRun) finish() {
	r.stop.Store(true)
	r.wg.Wait()
}

var addrRE = regexp.MustCompile(`127\.0\.0\.1:\d+|\[::1\]:\d+|->\S+|\b\d+\b`)

// errClass reduces an error to a class worth counting.
func errClass(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, attrcache.ErrNotReplicated):
		return "ErrNotReplicated"
	case errors.Is(err, attrcache.ErrSessionNotFound):
		return "ErrSessionNotFound"
	case errors.Is(err, attrcache.ErrCorrupt):
		return "ErrCorrupt"
	case errors.Is(err, context.DeadlineExceeded):
		return "context deadline exceeded"
	}
	s := addrRE.ReplaceAllString(short(err), "N")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// failoverReport is what a run measured. Times are from the kill.
type failoverReport struct {
	acked, failed        int
	ackedBefore          int
	ackedDuring          int
	ackedAfter           int
	lost                 int // acknowledged writes missing or overwritten by an older value
	lostSessions         int // sessions whose marker is gone
	errors               map[string]int
	firstOK              time.Duration // until the first success of a call begun after the kill on the killed master's sessions
	lastFail             time.Duration // until the last failure of such a call
	examples             []string
	ackedOnKilled        int
	ackedOnKilledAfterOK int
}

// check reads every session back with raw commands and compares it with
// the record of attempts. onKilled tells whether a worker's session was
// served by the killed master; killedAt and recovered split the timeline.
func (r *failoverRun) check(ctx context.Context, t *testing.T, rdb redis.Cmdable, killedAt time.Time, onKilled func(w, s int) bool) failoverReport {
	t.Helper()
	rep := failoverReport{errors: map[string]int{}}
	var killedOK, killedFail []time.Time
	for _, wk := range r.workers {
		for _, o := range wk.log {
			if o.ok {
				rep.acked++
			} else {
				rep.failed++
				rep.errors[o.class]++
			}
			// Calls begun after the kill on the killed master's
			// sessions tell when the shard is back.
			if onKilled(wk.id, o.sess) && o.start.After(killedAt) {
				if o.ok {
					killedOK = append(killedOK, o.at)
				} else {
					killedFail = append(killedFail, o.at)
				}
			}
		}
	}
	sortTimes(killedOK)
	sortTimes(killedFail)
	if len(killedOK) > 0 {
		rep.firstOK = killedOK[0].Sub(killedAt)
	}
	if len(killedFail) > 0 {
		rep.lastFail = killedFail[len(killedFail)-1].Sub(killedAt)
	}
	recovered := killedAt.Add(rep.firstOK)
	for _, wk := range r.workers {
		for _, o := range wk.log {
			if !o.ok {
				continue
			}
			switch {
			case o.at.Before(killedAt):
				rep.ackedBefore++
			case len(killedOK) == 0 || o.at.Before(recovered):
				rep.ackedDuring++
			default:
				rep.ackedAfter++
			}
			if onKilled(wk.id, o.sess) {
				rep.ackedOnKilled++
				if o.start.After(killedAt) {
					rep.ackedOnKilledAfterOK++
				}
			}
		}
	}

	for _, wk := range r.workers {
		for si, sid := range wk.sids {
			key := rawKey(r.st.Namespace(), sid)
			var rs rawSession
			err := retryCall(ctx, 10*time.Second, func() error {
				var err error
				rs, err = readRaw(ctx, rdb, key)
				return err
			})
			if err != nil {
				t.Fatalf("reading session %d/%d back: %v", wk.id, si, err)
			}
			if !rs.exists || rs.marker.state != 'L' {
				rep.lostSessions++
			}
			for _, name := range wk.names[si] {
				atts := wk.attempts[attrKey{sess: si, name: name}]
				last := -1
				for i, a := range atts {
					if a.acked {
						last = i
					}
				}
				rec, present := rs.attrs[name]
				if last < 0 {
					if present && !hasValue(atts, rec.value) {
						t.Errorf("session %d/%d attribute %s holds a value never written", wk.id, si, name)
					}
					continue
				}
				// The last acknowledged value, or a later one whose call
				// failed but may have been applied.
				if present && hasValue(atts[last:], rec.value) {
					continue
				}
				rep.lost++
				if len(rep.examples) < 5 {
					got := "absent"
					if present {
						got = "value " + rec.value
					}
					rep.examples = append(rep.examples, fmt.Sprintf("session %d/%d %s: acked %s, found %s", wk.id, si, name, atts[last].value, got))
				}
			}
		}
	}
	return rep
}

func hasValue(atts []attempt, v string) bool {
	for _, a := range atts {
		if a.value == v {
			return true
		}
	}
	return false
}

func sortTimes(ts []time.Time) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
}

func (rep failoverReport) String() string {
	var errs []string
	for class, n := range rep.errors {
		errs = append(errs, fmt.Sprintf("%d× %s", n, class))
	}
	sort.Strings(errs)
	return fmt.Sprintf("acknowledged %d writes (%d before the kill, %d until the first success on the killed master's sessions, %d after; %d on those sessions), %d failed; "+
		"on the killed master's sessions, calls begun after the kill: first success %v after the kill, last failure %v after, %d acknowledged; LOST %d acknowledged writes and %d sessions%s; errors: %s",
		rep.acked, rep.ackedBefore, rep.ackedDuring, rep.ackedAfter, rep.ackedOnKilled, rep.failed,
		rep.firstOK.Round(time.Millisecond), rep.lastFail.Round(time.Millisecond), rep.ackedOnKilledAfterOK, rep.lost, rep.lostSessions,
		examplesText(rep.examples), strings.Join(errs, "; "))
}

func examplesText(ex []string) string {
	if len(ex) == 0 {
		return ""
	}
	return " (" + strings.Join(ex, "; ") + ")"
}

// cutReplication stops a replica from receiving its master's writes
// while both stay up, as a network partition between them would: the
// replica is given a wrong master password, so it cannot reconnect, and
// the master drops its replica connection. Writes the master acknowledges
// from now on exist on the master alone.
func cutReplication(ctx context.Context, t *testing.T, master, replica *redis.Client) {
	t.Helper()
	must(t, replica.ConfigSet(ctx, "masterauth", "not-the-password-"+randHex(4)).Err())
	must(t, master.Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Err())
}
