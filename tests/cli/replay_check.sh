#!/bin/bash
# End-to-end test of `eptflush replay` and `eptflush check` (issue 3):
# check exits 0 for a correct strategy, 1 for seed-v2 on hand-written
# traces that reach its defects 1 and 2 (each violation printed with its
# op number), 2 for a malformed trace with file:line on stderr; replay
# prints one strategy's metrics and, with --json, the compare document
# holding that strategy and ideal.
set -u
source "$(dirname "$0")/../lib/cli.bash"
D=$SRC/tests/data
SMALL=(--guest-size 2G --vcpus 2 --ops 20000 --seed 5)

# check: correct strategies are clean on generated workloads
for w in mixed shadow; do
	run 0 "check list on $w" "$E" check "${SMALL[@]}" --strategy list "workload:$w" &&
		{ grep -q "^list on $w: clean" "$T/out" || fail "check list on $w: no 'clean' line: $(cat "$T/out")"; }
	run 0 "check correct on $w" "$E" check "${SMALL[@]}" --strategy correct "$w"
done

# check: seed-v2 on the defect traces, list clean on the same traces
for t in seed-defect1 seed-defect2; do
	if run 1 "check seed-v2 on $t" "$E" check --strategy seed-v2 "$D/$t.trace"; then
		grep -q "seed-v2 on .*$t.trace: [0-9,]* stale violations" "$T/out" || fail "$t: no summary: $(cat "$T/out")"
		# one vCPU, root loaded by it: the vCPU is named
		grep -Eq "^  op [0-9]+ \(commit_zap\): root 0x[0-9a-f]+ \(vCPU 0\), input page 0x[0-9a-f]+: cached .* now " "$T/out" ||
			fail "$t: violation lines lack op/site/root/page/translations: $(cat "$T/out")"
	fi
	run 0 "check list on $t" "$E" check --strategy list "$D/$t.trace"
	run 0 "check correct on $t" "$E" check --strategy correct "$D/$t.trace"
	# all includes seed-v2: any strategy with violations fails the gate
	run 1 "check all on $t" "$E" check "$D/$t.trace"
	grep -q "^full on " "$T/out" || fail "check all on $t: full not reported"
done

# a trace streamed on stdin
"$E" check --strategy seed-v2 - <"$D/seed-defect1.trace" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] || fail "check from stdin: exit $rc, want 1: $(cat "$T/err")"
grep -q "^seed-v2 on -: 2 stale violations" "$T/out" || fail "check from stdin: $(cat "$T/out")"

# the cap on listed violations: --max 1 lists one and counts the rest
if run 1 "check --max 1" "$E" check --strategy seed-v2 --max 1 "$D/seed-defect1.trace"; then
	n=$(grep -c "^  op " "$T/out")
	[ "$n" -eq 1 ] || fail "check --max 1 listed $n violations"
	grep -q "and [0-9,]* more" "$T/out" || fail "check --max 1: the rest are not counted: $(cat "$T/out")"
fi

# check and replay on malformed input: 2, file:line on stderr
run 2 "check malformed" "$E" check "$D/malformed.trace" &&
	{ grep -q "malformed.trace:8:" "$T/err" || fail "check malformed: no file:line: $(cat "$T/err")"; }
run 2 "replay malformed" "$E" replay --strategy list "$D/malformed.trace" &&
	{ grep -q "malformed.trace:8:" "$T/err" || fail "replay malformed: no file:line: $(cat "$T/err")"; }
printf 'not a trace\n' >"$T/junk.trace"
run 2 "check junk header" "$E" check "$T/junk.trace" &&
	{ grep -q "junk.trace:1:" "$T/err" || fail "check junk: no file:line: $(cat "$T/err")"; }
run 2 "check unknown strategy" "$E" check --strategy nope "$D/seed-defect1.trace"
run 2 "check no input" "$E" check
run 2 "check missing file" "$E" check "$T/none/x.trace"
run 2 "check unknown option" "$E" check --bogus "$D/seed-defect1.trace"

# replay: text metrics for one strategy
if run 0 "replay list" "$E" replay "${SMALL[@]}" --strategy list workload:mixed; then
	for k in hypercalls list_entries stale_violations modeled_cycles "ideal bound"; do
		grep -q "^$k " "$T/out" || fail "replay: no '$k' line: $(cat "$T/out")"
	done
	grep -q "^strategy *list$" "$T/out" || fail "replay: strategy line: $(cat "$T/out")"
fi
# replay --json: the compare document with that strategy and ideal
if run 0 "replay --json" "$E" replay "${SMALL[@]}" --strategy seed-v2 --json "$D/seed-defect1.trace"; then
	python3 - "$T/out" <<'PY' || fail "replay --json document"
import json, sys
d = json.load(open(sys.argv[1]))
assert set(d) == {"tool", "version", "inputs", "parent", "cost_model", "results"}, sorted(d)
assert [r["strategy"] for r in d["results"]] == ["seed-v2", "ideal"], d["results"]
sv = d["results"][0]
assert sv["stale_violations"] > 0 and sv["correct"] is False, sv
assert d["results"][1]["stale_violations"] == 0
assert d["inputs"][0]["ops"] == 8, d["inputs"]  # the op lines of seed-defect1.trace
PY
fi
run 0 "replay --json=FILE" "$E" replay --strategy full --json="$T/r.json" "$D/seed-defect2.trace" &&
	{ [ ! -s "$T/out" ] || grep -q "^strategy" "$T/out"; } &&
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [r["strategy"] for r in d["results"]]==["full","ideal"]' "$T/r.json" ||
	fail "replay --json=FILE"
# --no-check: the replay runs without the checker, so nothing is counted as stale
run 0 "replay --no-check" "$E" replay --strategy seed-v2 --no-check --json "$D/seed-defect1.trace" &&
	{ python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["results"][0]["stale_violations"]==0, d["results"]' "$T/out" ||
		fail "replay --no-check still counted violations"; }
run 2 "check --no-check" "$E" check --no-check "$D/seed-defect1.trace"
run 0 "replay the bound alone" "$E" replay --strategy ideal --json "$D/seed-defect1.trace" &&
	{ python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [r["strategy"] for r in d["results"]]==["ideal"]' "$T/out" ||
		fail "replay --strategy ideal: results"; }
run 2 "check the bound" "$E" check --strategy ideal "$D/seed-defect1.trace"
run 2 "replay without --strategy" "$E" replay "$D/seed-defect1.trace"
run 2 "replay two strategies" "$E" replay --strategy list,full "$D/seed-defect1.trace"
run 2 "replay unknown strategy" "$E" replay --strategy nope "$D/seed-defect1.trace"
run 2 "replay no input" "$E" replay --strategy list
run 2 "replay bad parent" "$E" replay --strategy list --parent x "$D/seed-defect1.trace"

if [ $failures -ne 0 ]; then
	echo "replay_check.sh: $failures failure(s)" >&2
	exit 1
fi
echo "replay_check.sh: all checks passed"
