# attrcache

Per-session named attributes in Redis, for Go services: the roles, CSRF
seeds, step-up flags, cart counters and tokens an SSO or web tier hangs off
a user's session, each with its own expiry and, on request, sealed with
Tink. Hand it the go-redis client you already have (or a rueidis one);
every call is one round trip, reads cost Redis what `HGET` costs and can be
answered from a near cache, and it runs the same on a single Redis, behind
Sentinel and on Redis Cluster.

- [Install](#install) · [Two commands](#two-commands) · [API tour](#api-tour) · [Users](#users)
- [Web quick start](#web-quick-start) · [Semantics](#semantics) · [Errors](#errors) · [Performance](#performance) · [Further reading](#further-reading)

## Install

```sh
go get github.com/attrcache/attrcache@latest
```

Go 1.26 or later; Redis 6.2 or later (7.0 and later run the scripts as
one Redis Functions library; the suites run on 7.0). To use a checkout
instead of a release, point your module at it:

```sh
git clone https://github.com/attrcache/attrcache ../attrcache
go mod edit -replace github.com/attrcache/attrcache=../attrcache
go mod tidy
```

## Two commands

```sh
go run ./cmd/demo   # a walk through the whole API, on an embedded Redis (miniredis) unless ATTRCACHE_REDIS_ADDRS is set
go test ./...       # the tests; those that need redis-server start their own and skip, saying so, without one
```

The full run takes a few minutes; `.ci/run` installs `redis-server` and
Chromium, makes the real-server and browser suites required, and runs the
same command with `-race`.

## API tour

A Store lives on your client; a session starts at login under a fresh,
256-bit id (the cookie's value), which Redis only ever sees as a digest.

{{example "attrcache" "ExampleStore_Start"}}

Attributes are created, read, replaced, updated, counted, given an expiry
and deleted one at a time or in batches; a batch is one atomic script.
Here, the product page's second scenario: one value sealed with the
envelope cipher of package `keys`, one with its own expiry.

{{example "attrcache" "ExampleSession_CreateMany"}}

`Incr` counts atomically (two tabs adding to one cart lose nothing):

{{example "attrcache" "ExampleSession_Incr"}}

The rest of the API: `Set`/`SetMany` (create or replace), `Update`/`UpdateMany`
(only what exists), `Get`/`GetMany`/`GetAll`, `Exists`/`ExistsMany`, `Names`,
`Delete`/`DeleteMany`, `SetExpiry`/`SetExpiryMany`, `GetJSON`/`SetJSON`
for typed values; `Renew`, `Rotate` (a new id at every change of
privilege: logout always wins over a rotation in flight) and `End` for the
session. `go doc github.com/attrcache/attrcache/attrcache` is the
reference.

## Users

A user's attributes are shared by all of the user's sessions and outlive
them; a user's sessions are listed in a registry that the calls keep
exact (no keyspace notifications, no sweeper), and can be ended together.

{{example "attrcache" "ExampleUser_EndSessions"}}

## Web quick start

Package `web` puts sessions behind a cookie (`__Host-session`, Secure,
HttpOnly, SameSite=Lax by default): login with the first attributes in
the same script, zero Redis I/O for requests that do not touch their
session, renewal so that a session ends between 90% and 100% of its idle
timeout after its last use, rotation, logout, and a guard for pages that
need a live session. Wrap it in `http.CrossOriginProtection` against
cross-site request forgery ([docs/web.md](docs/web.md) has the
synchronizer-token variant).

{{example "web" "Example_quickStart"}}

A Login that fails sets no cookie and leaves no session in Redis; the
handler gets the error: `attrcache.ErrUnavailable` (Redis down or slow,
worth a retry: every call fails within its one-second call timeout) or
one of the application's own mistakes, such as a sealed attribute with no
cipher configured ([ExampleManager_Login](web/example_test.go)).

## Semantics

| call | rule |
|---|---|
| `Create`, `CreateMany` | `ErrExists` if a live attribute has the name (an expired one is replaced); a batch is all or nothing and the error names every conflict |
| `Set`, `SetMany` | create or replace; `Created` survives a replace |
| `Update`, `UpdateMany` | `ErrNotFound`, naming the missing ones, if any is absent or expired; all or nothing |
| `Incr` | atomic; absent or expired counts from 0; a value that is no integer, a sealed one, or past ±(2^53−1) is `ErrInvalid` and unchanged |
| expiry | `WithExpiration(d)`: the attribute's own, from now; renewing the session neither cuts it nor extends it; without it `Set`/`Update` keep the current one; a read reports the earlier of it and the session's end |
| `Delete`, `DeleteMany` | deleting an absent name is no error |
| any write | exactly once: a resend after a lost reply reports success and changes nothing; a refused call is not remembered, so its resend is judged again like a new call |
| a missing session | `ErrSessionNotFound`; nothing is written, no half-made session appears |
| names | 1 to 128 bytes of UTF-8 without control, format or private-use characters; twice in one batch is `ErrInvalid` |
| limits | value 64 KiB, call 512 KiB, session 512 KiB and 1,000 attributes, batch 1,000 (`WithLimits`); checked before anything is written |
| encryption | `WithEncryption()` seals with the Store's `Cipher`; without one, `ErrNoCipher` naming the attribute; `WithSealed(names...)` seals names always and refuses a plain record planted in their place |

## Errors

Every error is, or wraps, one of these; test with `errors.Is`, and
`errors.As` a `*attrcache.NamesError` for the names a batch refused. No
error holds a value, a session id or a user id.

| error | meaning |
|---|---|
| `ErrSessionNotFound` | the session never started, ended, expired or moved to a new id |
| `ErrSessionExists` | `Start` of a live id |
| `ErrExists`, `ErrNotFound` | a `Create` of a live name; an `Update` of an absent one (`*NamesError`) |
| `ErrInvalid` | bad input: a name, value, duration, batch or option; nothing was sent |
| `ErrTooManyAttributes`, `ErrTooBig` | the write would take the session over its limits; nothing was written |
| `ErrTooManySessions` | a user at `WithMaxSessions` with `RefuseNew` |
| `ErrNoCipher`, `ErrDecrypt` | sealing asked without a `Cipher`; a sealed value that does not open (moved, changed, relabelled, or its key disabled) |
| `ErrUnavailable` | Redis, the network or the context failed; a write may have been applied |
| `ErrNotReplicated` | with `WithReplicaWait`: applied on the master, too few replicas acknowledged |
| `ErrCorrupt` | bytes in Redis attrcache did not write; `End` or `Purge` clears them |

## Performance

Measured on 2026-12-05 on a 2-core VM sharing its cores with
`redis-server` 7.0.15, each case beside its baseline in the same run
(four runs; [test/bench/README.md](test/bench/README.md) has every target,
the method and where the time goes):

| case | baseline | attrcache / baseline |
|---|---|---|
| `Get`, Redis server time | `HGET` | 1.22–1.49x |
| `Set`, server time, quiet / busy session | a script that reads `TIME`, `HMGET`s 2 fields, `HSET`s 1 | 1.47–1.55x / 1.83–2.01x |
| `CreateMany(100)`, server time | 100 pipelined `HSETNX` | 1.16–1.20x |
| `Get` / `Set` throughput, 64 goroutines, go-redis | `HGET` / `HSET` | 0.82–0.86x / 0.41–0.45x |
| `Get` / `Set` throughput, 64 goroutines, rueidis | rueidis `HGET` / `HSET` | 0.75–0.83x / 0.30–0.33x |
| `Get` / `Set` heap allocations in the client, go-redis with `ContextTimeoutEnabled` | `HGET` / `HSET` (8 each) | 12 / 8 |
| memory per session of 10 × 32 B, at rest / after 20 writes in a second | a plain hash | +126 B (804 B) / +683 B for about 6 s |

A near-cache hit on rueidis takes 0.46–0.50 µs at the median and sends
nothing to Redis; attrcache's `Get` on rueidis reaches 2.1x the
throughput of its `Get` on go-redis with `ContextTimeoutEnabled`. Writes
of one attribute (most writes) run a path of their own in the script,
which costs Redis about a third less than the general one (half on a
session written on every request).

## Further reading

- [docs/design.md](docs/design.md): the data model, the storage format, expiry, exactly-once writes, rotation, users and their registry, the near cache, limits.
- [docs/operations.md](docs/operations.md): timeouts, telemetry, the operator tool (`cmd/attrcache`), deployment, failover and Redis settings.
- [docs/configuration.md](docs/configuration.md): package `config`, every YAML key and `ATTRCACHE_*` variable.
- [docs/web.md](docs/web.md): package `web` in depth, CSRF, idle timeouts, users.
- [docs/threat-model.md](docs/threat-model.md): what someone with Redis access or a stolen cookie can and cannot do.
- [test/bench/README.md](test/bench/README.md): performance, measured against raw go-redis and rueidis.
- [CHANGELOG.md](CHANGELOG.md): what changed, and how to upgrade.
- `keys/doc.go`: the encryption keys and the envelope cipher.

Apache-2.0 licensed ([LICENSE](LICENSE)).
