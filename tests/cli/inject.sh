#!/bin/bash
# End-to-end test of hypercall fault injection (issue 6, "Faults"):
# --inject KIND=RATE[,...] and --inject-seed N on compare, replay and check.
# Good values run, and a correct strategy stays clean; bad values exit 2
# with a message and write nothing; the compare JSON records the settings in
# parent.inject (and has no such object without injection), every strategy
# but ideal draws faults and takes fallbacks, ideal draws none, and a seed
# gives the same document twice. Needs python3 for the JSON checks.
set -u
source "$(dirname "$0")/../lib/cli.bash"
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 0; }
export EPTF_SOURCE_DIR=$SRC
SMALL=(--guest-size 256M --vcpus 2 --ops 4000 --seed 7)
INJ=(--inject hv-error=0.1,partial=0.1,timeout=0.1 --inject-seed 42)

# 1. compare with faults: settings recorded, faults and fallbacks per strategy, all correct ones clean
if run 0 "compare --inject" "$E" compare "${SMALL[@]}" "${INJ[@]}" --json "$T/a.json" mixed migrate; then
	grep -q "^faults injected / fallbacks taken: full [0-9,]*/[0-9,]*" "$T/out" ||
		fail "compare table: no faults/fallbacks line: $(cat "$T/out")"
	python3 - "$T/a.json" <<'EOF' || fail "compare --inject JSON"
import json, os, sys
doc = json.load(open(sys.argv[1]))
errs = []
try:
    import jsonschema
    jsonschema.validate(doc, json.load(open(os.path.join(os.environ["EPTF_SOURCE_DIR"], "docs", "report-schema.json"))))
except ImportError:
    pass
except Exception as e:
    errs.append("schema: %s" % e)
inj = doc["parent"].get("inject")
if inj != {"hv_error": 0.1, "partial": 0.1, "timeout": 0.1, "seed": 42}:
    errs.append("parent.inject = %r" % (inj,))
for r in doc["results"]:
    tag = "%s/%s" % (r["input"], r["strategy"])
    for k in ("faults_injected", "fallbacks"):
        if not isinstance(r.get(k), int):
            errs.append("%s: %s missing" % (tag, k))
    if r["strategy"] == "ideal":
        if r["faults_injected"] or r["fallbacks"]:
            errs.append("%s: ideal issues no hypercalls, yet %d faults, %d fallbacks" %
                        (tag, r["faults_injected"], r["fallbacks"]))
        continue
    if r["faults_injected"] == 0:
        errs.append("%s: no fault injected" % tag)
    if r["fallbacks"] == 0:
        errs.append("%s: no fallback taken" % tag)
    if r["correct"] and (r["stale_violations"] or r["errors"]):
        errs.append("%s: %d stale violations, %d errors under injection" %
                    (tag, r["stale_violations"], r["errors"]))
for e in errs:
    print(e, file=sys.stderr)
sys.exit(1 if errs else 0)
EOF
fi

# 2. the same seed gives the same document; injection off leaves no inject object and no faults
run 0 "compare --inject again" "$E" compare "${SMALL[@]}" "${INJ[@]}" --json "$T/b.json" -q mixed migrate &&
	{ cmp -s "$T/a.json" "$T/b.json" || fail "same --inject-seed, different JSON"; }
run 0 "compare other seed" "$E" compare "${SMALL[@]}" --inject hv-error=0.1,partial=0.1,timeout=0.1 \
	--inject-seed 43 --json "$T/c.json" -q mixed migrate &&
	{ ! cmp -s "$T/a.json" "$T/c.json" || fail "--inject-seed 42 and 43 gave the same JSON"; }
if run 0 "compare without faults" "$E" compare "${SMALL[@]}" --json "$T/n.json" mixed; then
	grep -q "^faults injected" "$T/out" && fail "faults line without --inject"
	python3 - "$T/n.json" <<'EOF' || fail "compare without --inject: JSON"
import json, sys
doc = json.load(open(sys.argv[1]))
assert "inject" not in doc["parent"], doc["parent"]
assert all(r["faults_injected"] == 0 for r in doc["results"]), "faults without --inject"
EOF
fi

# 3. replay and check take the options too
if run 0 "replay --inject" "$E" replay "${SMALL[@]}" "${INJ[@]}" --strategy list mixed; then
	awk '$1 == "faults_injected" { gsub(",", "", $2); if ($2 + 0 > 0) ok = 1 } END { exit !ok }' "$T/out" ||
		fail "replay --inject: no faults_injected > 0: $(cat "$T/out")"
	awk '$1 == "stale_violations" { exit !($2 == "0") }' "$T/out" || fail "replay --inject: list not clean"
fi
run 0 "replay --inject --json" "$E" replay "${SMALL[@]}" --inject=hv-error=0.5 --inject-seed=3 --strategy full \
	--json mixed &&
	python3 -c 'import json,sys; d=json.load(sys.stdin); i=d["parent"]["inject"]; r=d["results"][0]
assert i == {"hv_error": 0.5, "partial": 0.0, "timeout": 0.0, "seed": 3}, i
assert r["faults_injected"] > 0 and r["fallbacks"] == r["faults_injected"], r' <"$T/out" ||
	fail "replay --json --inject: $(head -c 400 "$T/out")"
for s in full mainline list list-merge adaptive; do
	run 0 "check $s --inject" "$E" check "${SMALL[@]}" --inject hv-error=0.3,timeout=0.3,partial=0.3 \
		--strategy "$s" workload:shadow
done
run 0 "check every call fails" "$E" check "${SMALL[@]}" --inject hv-error=1 --strategy correct mixed

# 4. bad values: exit 2, a message naming --inject, nothing written
for bad in "hv-error=1%" "hv-error=2" "hv-error=1.5" "hv-error=-0.1" "hv-error=1e-2" "hv-error=0.0000001" \
	"bogus=0.1" "hv-error" "hv-error=" "hv-error=0.1,hv-error=0.2" "hv-error=0.1," "" \
	"hv-error=0.6,timeout=0.6" "hv-error=0x1"; do
	for cmd in compare replay check; do
		extra=()
		[ "$cmd" = compare ] && extra=(--json "$T/bad.json")
		[ "$cmd" = compare ] || extra=(--strategy list)
		run 2 "$cmd --inject '$bad'" "$E" "$cmd" "${SMALL[@]}" "${extra[@]}" --inject "$bad" mixed &&
			{ grep -q -- "--inject" "$T/err" || fail "$cmd --inject '$bad': message does not name --inject: $(cat "$T/err")"; }
		[ -e "$T/bad.json" ] && { fail "$cmd --inject '$bad' wrote the JSON"; rm -f "$T/bad.json"; }
	done
done
for bad in x -1 1.5 9223372036854775808; do
	run 2 "--inject-seed '$bad'" "$E" compare "${SMALL[@]}" --inject-seed "$bad" mixed &&
		{ grep -q -- "--inject-seed" "$T/err" || fail "--inject-seed '$bad': $(cat "$T/err")"; }
done
run 2 "--inject without value" "$E" replay --strategy list mixed --inject

if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s)" >&2
	exit 1
fi
echo "inject: all checks passed"
