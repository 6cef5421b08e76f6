// Package clock estimates, in a Go process, the clock of each Redis server
// attrcache talks to, from the replies that carry the server's time.
//
// attrcache judges expiry on Redis's clock, so that every application
// instance agrees. Writes run in Redis and read TIME there; reads are plain
// commands, judged in Go against this estimate. The rule the estimate
// serves: an attribute or session never reads as live after its expiry on
// the server that holds it; it may read as absent slightly early.
//
// # A sample and its error bound
//
// A reply that carries Redis's time m (TIME, or a script that returns what
// TIME said), sent at local instant sent and received at recv, tells that
// Redis's clock read m at some instant between the two, truncated to the
// millisecond. So halfway through the round trip Redis's clock was within
// half the round trip of m, plus the millisecond lost to truncation.
//
// The sample is then carried forward on the local monotonic clock (the one
// time.Time keeps beside the wall clock), so steps of the local wall clock
// (NTP, a VM resumed, a clock minutes or days off) change nothing; only the
// rate at which the two clocks drift apart does, allowed here at 100 ppm
// (DriftPPM: 6 ms a minute, 60 ms at MaxAge). The error bound of a sample
// of age a is therefore
//
//	half the round trip + 1 ms + a × 100 ppm
//
// and Redis's clock is within that bound of the estimate. A source keeps
// the sample whose bound is smallest now; a newer sample that agrees with
// it and is no better adds nothing but the news that the source is alive,
// so the common Observe allocates nothing and writes at most the source's
// last-heard time, once a second.
// On a LAN the bound is about a millisecond.
//
// # One clock per source
//
// The masters of a Redis Cluster each have their own clock, and nothing
// keeps them within milliseconds of each other: two seconds apart is an
// ordinary misconfigured NTP. An estimate that follows whichever master
// answered last is then up to two seconds behind the faster one, and a
// record that expired there reads as live. So samples are kept per source,
// named by the caller: a master's address, or "" for a single server
// (Sentinel included: a failover to a host whose clock differs is a step,
// see below).
//
//   - For(src) is one source's estimate and bound: what a write to that
//     source stamps when it computes a time in Go.
//   - Upper is the latest any known source's clock may read now: the
//     maximum over sources of estimate + bound. Reads judge expiry against
//     it, so whichever master holds a record, the record does not read as
//     live once that master's clock has passed its expiry.
//   - Lower is the earliest any known source's clock may read now: for
//     "when did this call start, at the earliest" when the master that
//     runs the call is not known for sure (a redirect may send it
//     elsewhere).
//
// # Steps and outliers
//
// Two samples agree when the ranges their bounds allow overlap. Redis's
// clock may step (an operator, NTP at boot, a failover to another host),
// and a reply may carry a bogus time. A single sample cannot tell the two
// apart, so:
//
//   - A sample that disagrees with the source's best is held as a
//     candidate. It changes no estimate: a lone outlier must not move the
//     clock. But until it is settled, Upper, Lower and For's bound cover it
//     as well, because it may be the first sample after a step ahead, and
//     judging reads on the old estimate would then show expired records as
//     live.
//   - A second sample that agrees with a candidate (and not with the best)
//     confirms a step: the better of the two becomes the best and the old
//     estimate is dropped.
//   - A sample taken wholly after a candidate that agrees with the best and
//     not with the candidate refutes it: the candidate is dropped, and the
//     bounds are back to their usual size. An outlier thus widens them only
//     until the next sample, never for good.
//   - While a candidate is pending, Need asks for a sample in the
//     background, so that it is settled soon even on a Store that only
//     reads. Two candidates are kept, so one bogus reply in the middle of
//     a step does not hide the step.
//
// # Freshness
//
// A source is known while it was heard from (any sample) within MaxAge.
// Need(src) tells the caller what to do before a call to src: Required if
// src is not known (never sampled, or silent for longer than MaxAge), so
// it must sample before going on; Refresh if src was last heard from more
// than RefreshAge ago, or a candidate is pending, so it should sample in
// the background; Fresh otherwise. Refresh goes to one caller per source
// at a time (again 5 s later if a sample is still wanted), so a busy
// Store sends one TIME, not thousands.
//
// A source that is no longer known counts nowhere: For says so, and Upper
// and Lower leave it out. A master that left the cluster would otherwise
// widen Upper by its growing drift allowance forever. Leaving it out is
// safe because a call to a source asks Need(src) first, and Need wants a
// sample of an unknown source before the call goes on. When such a source
// is heard again, its first sample starts it afresh, as a new source's
// does: after that long, the address may belong to another server.
//
// The pattern, for a read of a key held by the master at addr:
//
//	switch c.Need(addr) {
//	case clock.Required:
//		sample(ctx, addr) // TIME, then c.Observe(addr, sent, recv, ms)
//	case clock.Refresh:
//		go sample(context.WithoutCancel(ctx), addr)
//	}
//	upper, ok := c.Upper() // a record is live while upper < its expiry
//
// Sent and recv given to Observe are readings of Local, the clock the
// Clock was made with.
//
// # What it cannot see
//
// The guarantee holds while the drift between the local monotonic clock
// and Redis's stays within 100 ppm and replies tell the truth, but for
// lone outliers. Within that:
//
//   - A source's first sample (and its first after MaxAge of silence) is
//     taken as it is: there is nothing to check it against. If it is
//     bogus, the next sample disagrees and is covered, and the one after
//     it replaces it.
//   - A step of Redis's clock is seen at the next reply that carries
//     Redis's time; reads carry none, so a Store that only reads sees it
//     within RefreshAge.
//   - A step smaller than the bounds of two samples (a few milliseconds on
//     a LAN) cannot be told from noise: until a better sample lands,
//     Redis's clock may be ahead of Upper by up to that much.
//   - Linux stops the monotonic clock while the machine is suspended, so
//     after a resume every estimate lags by the time suspended until the
//     next sample (which disagrees, and is covered at once).
//
// A Clock is safe for concurrent use. Observe and the queries take no lock
// (but for a moment when a source is first seen):
// each source's state is an immutable value behind an atomic pointer,
// replaced (and allocated) only when a sample improves it or disagrees
// with it.
package clock
