#!/bin/bash
# End-to-end test of `eptflush compare` (issue 4): on every workload, small,
# every correct strategy shows zero stale violations, the `ideal` bound is
# lowest where it must be, the JSON has exactly the documented keys, the
# CSV agrees with the JSON row for row, and bad arguments exit 2 with
# nothing written. Needs python3 (for JSON and CSV parsing).
set -u
source "$(dirname "$0")/../lib/cli.bash"
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 0; }
export EPTF_SOURCE_DIR=$SRC
python3 -c 'import jsonschema' 2>/dev/null || echo "note: python3 jsonschema absent: docs/report-schema.json not applied (key checks still run)"

# 20,000 ops: every workload reaches thousands of flush points, a second or two under ASan
SMALL=(--guest-size 2G --vcpus 2 --ops 20000 --seed 11)

# The checks on one JSON + CSV pair. Prints nothing and exits 0 when all hold.
cat > "$T/verify.py" <<'PY'
import csv, json, os, sys

doc_path, csv_path = sys.argv[1], sys.argv[2]
expect_strats = sys.argv[3].split(",") if len(sys.argv) > 3 and sys.argv[3] else None
doc = json.load(open(doc_path))
errs = []
def check(cond, msg):
    if not cond:
        errs.append(msg)

# The documented schema, when a validator is at hand (the key checks below hold either way).
schema_path = os.path.join(os.environ.get("EPTF_SOURCE_DIR", "."), "docs", "report-schema.json")
try:
    import jsonschema
    jsonschema.validate(doc, json.load(open(schema_path)))
except ImportError:
    pass
except jsonschema.ValidationError as e:
    errs.append("docs/report-schema.json: %s" % e.message)

TOP = {"tool", "version", "inputs", "parent", "cost_model", "results"}
check(set(doc) == TOP, "top-level keys %s" % sorted(doc))
INPUT_REQ = {"name", "source", "ops", "flush_points"}
for i in doc["inputs"]:
    check(INPUT_REQ <= set(i) <= INPUT_REQ | {"detail"}, "input keys %s" % sorted(i))
    check(i["ops"] > 0, "input %s replayed no ops" % i["name"])
    check(i["flush_points"] > 0, "input %s reached no flush point: the checks below are empty" % i["name"])
check(set(doc["parent"]) == {"vendor", "tlb_entries", "backing", "allow_large", "gpa_bits"},
      "parent keys %s" % sorted(doc["parent"]))
check(len(doc["cost_model"]) >= 5 and all(isinstance(v, int) for v in doc["cost_model"].values()),
      "cost_model %s" % doc["cost_model"])
REQ = ["input", "strategy", "hypercalls", "list_hypercalls", "full_flushes", "list_entries",
       "pages_flushed", "ept02_dropped", "tlb_dropped", "ept_violations", "tlb_misses",
       "stale_violations", "errors", "modeled_cycles"]
EXTRA = ["correct", "ops", "flush_points", "tlb_hits", "fallbacks", "root_flushes",
         "faults_injected", "cycles_vs_full", "cycles_vs_ideal"]
for r in doc["results"]:
    check(set(r) == set(REQ) | set(EXTRA), "result keys differ: %s" % sorted(set(r) ^ (set(REQ) | set(EXTRA))))

for inp in doc["inputs"]:
    rows = [r for r in doc["results"] if r["input"] == inp["name"]]
    names = [r["strategy"] for r in rows]
    check(names.count("ideal") == 1, "%s: ideal appears %d times" % (inp["name"], names.count("ideal")))
    check(names[-1] == "ideal", "%s: ideal is not last" % inp["name"])
    if expect_strats:
        check(names == expect_strats + ["ideal"], "%s: strategies %s" % (inp["name"], names))
    ideal = next(r for r in rows if r["strategy"] == "ideal")
    check(ideal["stale_violations"] == 0, "ideal shows violations")
    for r in rows:
        check(r["ops"] == inp["ops"], "%s/%s: ops %d != %d" % (inp["name"], r["strategy"], r["ops"], inp["ops"]))
        # same op stream for every lane: the root switches (INVEPT) are the same
        check(r["root_flushes"] == ideal["root_flushes"], "%s/%s: root_flushes differ" % (inp["name"], r["strategy"]))
        if not r["correct"] or r["strategy"] == "ideal":
            continue
        tag = "%s/%s" % (inp["name"], r["strategy"])
        check(r["stale_violations"] == 0, "%s: %d stale violations" % (tag, r["stale_violations"]))
        check(r["errors"] == 0, "%s: %d errors" % (tag, r["errors"]))
        # What must hold: a correct strategy has to remove every stale entry,
        # and each hypercall flushes one root, so it makes at least one call
        # per root that had stale entries at each flush point -- exactly the
        # ideal's count.
        check(ideal["hypercalls"] <= r["hypercalls"],
              "%s: ideal hypercalls %d > %d" % (tag, ideal["hypercalls"], r["hypercalls"]))
        # The engine's invariant (issue 3): the bound drops only stale entries,
        # never more invalidations than a correct strategy.
        inv = lambda x: x["ept02_dropped"] + x["tlb_dropped"]
        check(inv(ideal) <= inv(r), "%s: ideal invalidations %d > %d" % (tag, inv(ideal), inv(r)))
        if ideal["modeled_cycles"] > r["modeled_cycles"]:
            # cycles also count L2's re-walks, which a bounded TLB makes history
            # dependent: "lowest" is expected, not guaranteed, so only noted
            print("note: %s: ideal cycles %d > %d" % (tag, ideal["modeled_cycles"], r["modeled_cycles"]), file=sys.stderr)
        if r["strategy"] == "full":
            # the bound drops only stale entries; full drops everything at every
            # flush point and pays for re-walking it: never cheaper in cycles
            check(ideal["modeled_cycles"] <= r["modeled_cycles"],
                  "%s: ideal cycles %d > full %d" % (tag, ideal["modeled_cycles"], r["modeled_cycles"]))
    full = [r for r in rows if r["strategy"] == "full"]
    for r in rows:
        if full and full[0]["modeled_cycles"]:
            check(abs(r["cycles_vs_full"] - r["modeled_cycles"] / full[0]["modeled_cycles"]) < 1e-3,
                  "%s/%s: cycles_vs_full" % (inp["name"], r["strategy"]))
        if ideal["modeled_cycles"]:
            check(abs(r["cycles_vs_ideal"] - r["modeled_cycles"] / ideal["modeled_cycles"]) < 1e-3,
                  "%s/%s: cycles_vs_ideal" % (inp["name"], r["strategy"]))

# CSV: header = the JSON result keys, one row per result, same values
with open(csv_path, newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
check(len(body) == len(doc["results"]), "CSV has %d rows, JSON %d" % (len(body), len(doc["results"])))
check(set(header) == set(doc["results"][0]) if doc["results"] else True, "CSV header %s" % header)
def fmt(v):
    if v is None: return ""
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, float): return "%.4f" % v
    return str(v)
for row, r in zip(body, doc["results"]):
    for k, cell in zip(header, row):
        check(cell == fmt(r[k]), "CSV %s/%s %s: %r != %r" % (r["input"], r["strategy"], k, cell, fmt(r[k])))
for e in errs[:40]:
    print(e)
sys.exit(1 if errs else 0)
PY

# 1. every workload, every strategy
for w in boot migrate overcommit shadow hugepage mixed; do
	if ! "$E" compare "${SMALL[@]}" --json "$T/$w.json" --csv "$T/$w.csv" "workload:$w" >"$T/$w.txt" 2>"$T/$w.err"; then
		fail "compare $w exited $?: $(head -5 "$T/$w.err")"
		continue
	fi
	python3 "$T/verify.py" "$T/$w.json" "$T/$w.csv" || fail "compare $w: checks above"
	grep -q "ideal" "$T/$w.txt" || fail "compare $w: no ideal row in the table"
	grep -q "vs ideal" "$T/$w.txt" || fail "compare $w: no ratio column"
	if grep -q "^WARNING" "$T/$w.txt"; then fail "compare $w: a correct strategy was flagged"; fi
	[ -s "$T/$w.err" ] && fail "compare $w: stderr not quiet when not a terminal: $(head -2 "$T/$w.err")"
done

# 2. two inputs in one run, a strategy subset in the user's order, --json to stdout
if "$E" compare "${SMALL[@]}" --strategies list,full,list --json - --csv "$T/two.csv" boot workload:shadow >"$T/two.json" 2>"$T/two.err"; then
	python3 "$T/verify.py" "$T/two.json" "$T/two.csv" list,full || fail "compare two inputs: checks above"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [i["name"] for i in d["inputs"]]==["boot","shadow"], d["inputs"]' "$T/two.json" \
		|| fail "compare two inputs: input names"
else
	fail "compare two inputs exited $?: $(head -3 "$T/two.err")"
fi

# 3. parent and cost options reach the document
printf '# test cost model\nhypercall = 12345\n\n  list_entry=77   # trailing comment\n' >"$T/cost.txt"
if "$E" compare "${SMALL[@]}" --strategies full --parent amd --tlb-entries 64 --parent-backing 2m --allow-large \
	--cost-model "$T/cost.txt" --set list_entry=99 --json "$T/opt.json" -q boot >"$T/opt.out" 2>&1; then
	python3 - "$T/opt.json" <<'PY' || fail "compare options not in the JSON"
import json, sys
d = json.load(open(sys.argv[1]))
p, c = d["parent"], d["cost_model"]
assert p == {"vendor": "amd", "tlb_entries": 64, "backing": "2m", "allow_large": True, "gpa_bits": p["gpa_bits"]}, p
assert c["hypercall"] == 12345 and c["list_entry"] == 99, c
PY
	[ -s "$T/opt.out" ] && fail "compare -q printed: $(head -2 "$T/opt.out")"
else
	fail "compare with parent options exited $?: $(head -3 "$T/opt.out")"
fi

# 3b. a trace on stdin, streamed once for every strategy
if "$E" compare --json "$T/stdin.json" -q - <"$SRC/tests/data/seed-defect2.trace" >"$T/stdin.out" 2>&1; then
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["inputs"][0]["ops"]==6 and len(d["results"])>=2, d["inputs"]' "$T/stdin.json" \
		|| fail "compare from stdin: document"
else
	fail "compare from stdin exited $?: $(head -3 "$T/stdin.out")"
fi

# 3c. streaming: a trace ten times longer over the same working set needs no more memory.
# Every strategy replays in lockstep from one read of each op, so only the model's state
# (bounded by the working set) is held, never the ops. ASan's quarantine of freed blocks
# would grow with churn, so it is turned off for this measurement.
python3 - "$E" "$T" <<'PY' || fail "compare memory grows with the trace length"
import os, resource, subprocess, sys
exe, tmp = sys.argv[1], sys.argv[2]
def gen(n, path):
    with open(path, "w") as f:
        f.write("eptflush-trace 1\nvcpus 1\nsource hand\nname churn\nbegin\n")
        f.write("slot_add slot=0 gfn=0x0 pages=0x40000 hva=0x7f0000000000\nroot_load vcpu=0 as=0\n")
        for i in range(n):
            g = 0x100 + (i % 64) * 512
            f.write("map vcpu=0 addr=%#x level=1 w\naccess vcpu=0 addr=%#x w\nzap_range gfn=%#x pages=0x1\n" % (g, g, g))
env = dict(os.environ)
env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0").lstrip(":")
rss = []
for n in (4000, 40000):
    path = os.path.join(tmp, "churn-%d.trace" % n)
    gen(n, path)
    # a fresh child per run: RUSAGE_CHILDREN is the max over the children so far,
    # so measure the small run first, the large one second
    subprocess.run([exe, "compare", "-q", path], check=True, env=env)
    rss.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print("compare max RSS: %d KiB for 12k ops, %d KiB for 120k ops" % tuple(rss))
sys.exit(0 if rss[1] <= rss[0] + 8192 else 1)
PY

# 4. no input: the built-in default, the real trace shipped in data/ (found through
#    EPTF_DATA_DIR); without it, the mixed workload stands in and compare says so.
if EPTF_DATA_DIR="$EPTF_SOURCE_DIR/data" "$E" compare --strategies full --json "$T/def.json" -q >"$T/def.out" 2>&1; then
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); i=d["inputs"][0]; assert i["name"].endswith("/capture-all.trace") and i["source"]=="import" and i["ops"]>0, i' "$T/def.json" \
		|| fail "compare default input is not the shipped capture-all.trace"
else
	fail "compare default exited $?: $(head -3 "$T/def.out")"
fi
mkdir "$T/nodata"
if EPTF_DATA_DIR="$T/nodata" "$E" compare --ops 2000 --strategies full --json "$T/def2.json" -q >"$T/def2.out" 2>&1; then
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["inputs"][0]["name"]=="mixed", d["inputs"]' "$T/def2.json" \
		|| fail "compare without data/ does not fall back to mixed"
	grep -q "not found; running the synthetic mixed workload" "$T/def2.out" || fail "compare fallback is silent"
else
	fail "compare default without data exited $?: $(head -3 "$T/def2.out")"
fi

# 5. bad arguments: exit 2, a message, nothing written
expect_usage() {
	local what=$1
	shift
	rm -f "$T/bad.json"
	"$E" compare "${SMALL[@]}" --json "$T/bad.json" "$@" >"$T/bad.out" 2>"$T/bad.err"
	local rc=$?
	[ $rc -eq 2 ] || fail "$what: exit $rc, want 2"
	[ -s "$T/bad.err" ] || fail "$what: no message on stderr"
	[ -e "$T/bad.json" ] && fail "$what: a report was written"
	ls "$T"/bad.json.tmp.* >/dev/null 2>&1 && fail "$what: a temporary file was left"
	return 0
}
expect_usage "unknown option" --frobnicate boot
expect_usage "missing value" boot --strategies
expect_usage "unknown workload" no-such-workload
expect_usage "unreadable file" "$T/does/not/exist.trace"
expect_usage "a directory" "$T"
expect_usage "unknown strategy" --strategies list,bogus boot
expect_usage "bad parent" --parent arm boot
expect_usage "bad backing" --parent-backing 3k boot
expect_usage "bad tlb entries" --tlb-entries zero boot
expect_usage "bad guest size" --guest-size lots boot
expect_usage "bad --set key" --set nosuchkey=1 boot
expect_usage "bad --set value" --set hypercall=-5 boot
expect_usage "bad --set form" --set hypercall boot
expect_usage "missing cost file" --cost-model "$T/nope.cost" boot
printf 'hypercall = 10\nbogus_key = 3\n' >"$T/bad1.cost"
expect_usage "unknown cost key" --cost-model "$T/bad1.cost" boot
grep -q "bad1.cost:2: unknown cost-model parameter 'bogus_key'" "$T/bad.err" || fail "cost file error not FILE:line: $(cat "$T/bad.err")"
printf '# ok\nlist_entry = lots\n' >"$T/bad2.cost"
expect_usage "bad cost value" --cost-model "$T/bad2.cost" boot
grep -q "bad2.cost:2: bad value 'lots'" "$T/bad.err" || fail "cost value error not FILE:line: $(cat "$T/bad.err")"
printf 'hypercall 10\n' >"$T/bad3.cost"
expect_usage "cost line without =" --cost-model "$T/bad3.cost" boot
grep -q "bad3.cost:1:" "$T/bad.err" || fail "cost syntax error not FILE:line: $(cat "$T/bad.err")"
expect_usage "malformed trace" "$SRC/tests/data/malformed.trace"
grep -q "malformed.trace:8:" "$T/bad.err" || fail "malformed trace error lacks file:line: $(cat "$T/bad.err")"
expect_usage "stdin twice" - - </dev/null
"$E" compare --html - boot >/dev/null 2>&1
[ $? -eq 2 ] || fail "--html - should be a usage error"

# 6. an unwritable output: exit 1, message, nothing left
"$E" compare "${SMALL[@]}" --strategies full --json "$T/no/dir/out.json" -q boot >/dev/null 2>"$T/w.err"
rc=$?
[ $rc -eq 1 ] || fail "unwritable --json: exit $rc, want 1"
grep -q "no/dir/out.json" "$T/w.err" || fail "unwritable --json: message lacks the path"

# 7. the progress line: drawn on a terminal (script(1) provides one), erased at the end
if command -v script >/dev/null; then
	script -qec "$E compare --strategies full -q --ops 150000" "$T/tty.log" >/dev/null 2>&1
	rc=$?
	[ $rc -eq 0 ] || fail "compare on a terminal: exit $rc"
	if grep -q "ops/s" "$T/tty.log"; then
		grep -q $'\r\e\[K' "$T/tty.log" || fail "the progress line is not erased at the end"
	else
		# drawn only once a run lasts a second: a fast machine may not need one
		echo "note: the run finished too fast for a progress line"
	fi
else
	echo "note: script(1) absent: the progress line on a terminal was not checked"
fi

# 8. --help
"$E" compare --help | grep -q -- "--strategies" || fail "compare --help"

if [ $failures -ne 0 ]; then
	echo "compare.sh: $failures failure(s)" >&2
	exit 1
fi
echo "compare.sh: all checks passed"
