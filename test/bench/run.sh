#!/usr/bin/env bash
# run.sh: run the attrcache benchmark suite, summarise it with benchstat,
# and print the attrcache/baseline ratios against the project's targets.
#
# Usage: test/bench/run.sh            (from anywhere in the module)
# Environment:
#   COUNT      runs of every benchmark (default 6)
#   BENCHTIME  -benchtime of every run (default 500ms)
#   BENCH      -bench regexp (default .)
#   OUT        directory for the outputs (default: a new temporary one)
#
# Outputs in $OUT: bench.txt (raw go test output), benchstat.txt,
# ratios.txt and ratios.md (the tables for test/bench/README.md),
# machine.txt (versions, load before, during and after) and load.txt.
# Regenerate the tables from a saved run with:
#   go run ./test/bench/ratio [-md] bench.txt
set -euo pipefail

count=${COUNT:-6}
benchtime=${BENCHTIME:-500ms}
bench=${BENCH:-.}
cd "$(dirname "$0")/../.."
out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/attrcache-bench.XXXXXX")}
mkdir -p "$out"

benchstat=$(command -v benchstat || true)
if [[ -z $benchstat ]]; then
	gobin=$(go env GOBIN)
	benchstat=${gobin:-$(go env GOPATH)/bin}/benchstat
	if [[ ! -x $benchstat ]]; then
		echo "installing benchstat..." >&2
		go install golang.org/x/perf/cmd/benchstat@latest
	fi
fi

machine() {
	echo "nproc: $(nproc)"
	echo "cpu model: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
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
echo "go test -bench '$bench' -count $count -benchtime $benchtime ./test/bench/ (outputs in $out)"

# Other people's work moves every figure on a shared machine: sample the
# load average every 15 s while the suite runs (load.txt) and sum it up.
(while sleep 15; do echo "$(date +%T) $(cut -d' ' -f1 /proc/loadavg)"; done) >"$out/load.txt" &
sampler=$!
trap 'kill "$sampler" 2>/dev/null || true' EXIT

start=$SECONDS
# A failed benchmark leaves a hole in the tables, not the whole run: the
# ratios are still printed, and the script fails at the end.
status=0
go test -run '^$' -bench "$bench" -benchmem -count "$count" -benchtime "$benchtime" -timeout 60m \
	./test/bench/ | tee "$out/bench.txt" || status=$?
kill "$sampler" 2>/dev/null || true
load "after" | tee -a "$out/machine.txt"
echo "took $((SECONDS - start))s; 1-minute load average while running: $(awk '
	NR == 1 || $2 < lo { lo = $2 } NR == 1 || $2 > hi { hi = $2 } { sum += $2 }
	END { if (NR) printf "min %.2f, mean %.2f, max %.2f over %d samples", lo, sum / NR, hi, NR; else printf "no samples" }' "$out/load.txt")" |
	tee -a "$out/machine.txt"

echo
"$benchstat" "$out/bench.txt" | tee "$out/benchstat.txt"

echo
go run ./test/bench/ratio "$out/bench.txt" | tee "$out/ratios.txt"
go run ./test/bench/ratio -md "$out/bench.txt" >"$out/ratios.md"
echo
echo "outputs in $out"
if ((status != 0)); then
	echo "go test failed (exit status $status): see the FAIL lines in $out/bench.txt" >&2
fi
exit "$status"
