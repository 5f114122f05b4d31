#!/bin/bash
# End-to-end test of the `adaptive` strategy (docs/strategies.md, "adaptive"):
# on every synthetic workload and every shipped real trace, under both
# parent kinds, with and without large entries and under a few cost
# models, adaptive's modeled cycles are at most 1.10 x the cheaper of
# `full` and `list-merge` -- the two choices it makes per flush point, from
# L1-visible signals only -- and it leaves no stale translation.
set -u
source "$(dirname "$0")/../lib/cli.bash"
checked=0

# Small enough to run in seconds under ASan, large enough for thousands of flush points.
SMALL=(--guest-size 2G --vcpus 2 --ops 20000 --seed 11)
LIMIT=1.10

# check NAME ARGS...: one compare run, the ratio checked from its CSV.
check() {
	local name=$1
	shift
	if ! "$E" compare "$@" --strategies full,list-merge,adaptive --csv "$T/out.csv" -q 2>"$T/err"; then
		fail "$name: compare failed: $(head -3 "$T/err")"
		return
	fi
	# columns by header name, so a new metric does not break the test
	if ! awk -F, -v name="$name" -v limit=$LIMIT '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		{ cyc[$2] = $(col["modeled_cycles"]); stale[$2] = $(col["stale_violations"]) }
		END {
			if (!("full" in cyc) || !("list-merge" in cyc) || !("adaptive" in cyc)) {
				print name ": missing rows"; exit 1
			}
			best = cyc["full"] < cyc["list-merge"] ? cyc["full"] : cyc["list-merge"]
			r = best > 0 ? cyc["adaptive"] / best : 1
			printf "%-44s adaptive / min(full, list-merge) = %.3f\n", name, r
			if (stale["adaptive"] != 0) { print name ": adaptive left " stale["adaptive"] " stale translations"; exit 1 }
			if (r > limit) { print name ": ratio " r " > " limit; exit 1 }
		}' "$T/out.csv" >"$T/line"; then
		fail "$(tail -1 "$T/line")"
	fi
	head -1 "$T/line"
	checked=$((checked + 1))
}

for w in boot migrate overcommit shadow hugepage mixed; do
	check "$w intel" workload:$w "${SMALL[@]}" --parent intel
	check "$w amd --allow-large" workload:$w "${SMALL[@]}" --parent amd --allow-large
	check "$w intel list_entry=2000" workload:$w "${SMALL[@]}" --parent intel --set list_entry=2000
	check "$w amd ept_violation=2000" workload:$w "${SMALL[@]}" --parent amd --set ept_violation=2000
done
for t in "$SRC"/data/*.trace; do
	[ -f "$t" ] || continue
	b=$(basename "$t" .trace)
	check "$b intel" "$t" --parent intel
	check "$b amd --allow-large list_entry=2000" "$t" --parent amd --allow-large --set list_entry=2000
done

[ "$checked" -ge 24 ] || fail "only $checked runs checked"
if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s)" >&2
	exit 1
fi
echo "adaptive.sh: $checked runs, all within x$LIMIT"
