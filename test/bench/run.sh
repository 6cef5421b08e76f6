#!/usr/bin/env bash
# run.sh: run the attrcache benchmark suite and print every target with
# what was measured, its baseline, the ratio and PASS or MISS.
#
# Usage: test/bench/run.sh            (from anywhere in the module)
# Environment:
#   COUNT      runs of every benchmark (default 1)
#   BENCH      -bench regexp (default .)
#   OUT        directory for the outputs (default: a new temporary one)
#
# Every case makes a fixed number of calls (see pair_test.go), so the
# suite runs with -benchtime 1x: b.N is not used.
#
# Outputs in $OUT: bench.txt (raw go test output), ratios.txt and
# ratios.md (the tables for test/bench/README.md), machine.txt (date,
# commit, versions, load before, during and after), load.txt, and
# benchstat.txt when benchstat is installed. Regenerate the tables from
# saved runs with:
#   go run ./test/bench/ratio [-md] bench.txt [more.txt ...]
set -euo pipefail

count=${COUNT:-1}
bench=${BENCH:-.}
cd "$(dirname "$0")/../.."
out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/attrcache-bench.XXXXXX")}
mkdir -p "$out"

machine() {
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(
		[[ -n $(git status --porcelain -- attrcache internal 2>/dev/null) ]] && echo " (attrcache/ or internal/ changed in the work tree)")"
	echo "nproc: $(nproc)"
	echo "cpu model: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "go: $(go version)"
	echo "redis: $(redis-server --version)"
}
load() {
	echo "$1: load average $(cut -d' ' -f1-3 /proc/loadavg)$(
		[[ -r /proc/pressure/cpu ]] && echo "; cpu pressure: $(head -1 /proc/pressure/cpu)")"
}

{
	machine
	load "before"
} | tee "$out/machine.txt"
echo "go test -bench '$bench' -benchtime 1x -count $count ./test/bench/ (outputs in $out)"

# Other people's work moves every figure on a shared machine: sample the
# load average every 15 s while the suite runs (load.txt) and sum it up.
(while sleep 15; do echo "$(date +%T) $(cut -d' ' -f1 /proc/loadavg)"; done) >"$out/load.txt" &
sampler=$!
trap 'kill "$sampler" 2>/dev/null || true' EXIT

start=$SECONDS
# A failed benchmark leaves a hole in the tables, not the whole run: the
# tables are still printed, and the script fails at the end.
status=0
go test -run '^$' -bench "$bench" -benchtime 1x -count "$count" -timeout 60m \
	./test/bench/ | tee "$out/bench.txt" || status=$?
kill "$sampler" 2>/dev/null || true
load "after" | tee -a "$out/machine.txt"
echo "took $((SECONDS - start))s; 1-minute load average while running: $(awk '
	NR == 1 || $2 < lo { lo = $2 } NR == 1 || $2 > hi { hi = $2 } { sum += $2 }
	END { if (NR) printf "min %.2f, mean %.2f, max %.2f over %d samples", lo, sum / NR, hi, NR; else printf "no samples" }' "$out/load.txt")" |
	tee -a "$out/machine.txt"

if benchstat=$(command -v benchstat); then
	echo
	"$benchstat" "$out/bench.txt" | tee "$out/benchstat.txt"
fi

echo
go run ./test/bench/ratio "$out/bench.txt" | tee "$out/ratios.txt"
go run ./test/bench/ratio -md "$out/bench.txt" >"$out/ratios.md"
echo
echo "outputs in $out"
if ((status != 0)); then
	echo "go test failed (exit status $status): see the FAIL lines in $out/bench.txt" >&2
fi
exit "$status"
