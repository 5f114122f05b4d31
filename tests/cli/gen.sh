#!/bin/bash
# End-to-end test of `eptflush gen`: --list and --help, determinism (same
# seed: same bytes; another seed: other bytes), exact length, stdout output,
# usage errors (exit 2, nothing written), atomic replacement of an existing
# file, and every workload replaying with zero refused ops and zero stale
# translations under `eptflush replay` (the reader and the L1 model).
set -u
E=${EPTFLUSH:?set EPTFLUSH to the eptflush binary}
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

expect_rc() { # expect_rc RC DESCRIPTION -- command...
	local want=$1 what=$2 rc
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" = "$want" ] || fail "$what: exit $rc, expected $want ($(head -c 300 "$tmp/err"))"
}

workloads="boot migrate overcommit shadow hugepage mixed"

# ---- --list, --help ----
expect_rc 0 "--list" -- "$E" gen --list
for w in $workloads; do
	grep -q "^$w " "$tmp/out" || fail "--list lacks $w"
done
[ "$(wc -l <"$tmp/out")" = 6 ] || fail "--list prints $(wc -l <"$tmp/out") lines, expected 6"
expect_rc 0 "--help" -- "$E" gen --help
for opt in --guest-size --vcpus --ops --seed -o --list; do
	grep -q -- "$opt" "$tmp/out" || fail "--help does not mention $opt"
done
grep -q "mixed" "$tmp/out" || fail "--help does not list the workloads"

# ---- determinism and length, every workload ----
for w in $workloads; do
	expect_rc 0 "gen $w" -- "$E" gen "$w" --ops 3000 --seed 7 --vcpus 3 --guest-size 8G -o "$tmp/$w.a"
	expect_rc 0 "gen $w again" -- "$E" gen "$w" --ops 3000 --seed 7 --vcpus 3 --guest-size 8G -o "$tmp/$w.b"
	expect_rc 0 "gen $w seed 8" -- "$E" gen "$w" --ops 3000 --seed 8 --vcpus 3 --guest-size 8G -o "$tmp/$w.c"
	cmp -s "$tmp/$w.a" "$tmp/$w.b" || fail "$w: same seed, different bytes"
	cmp -s "$tmp/$w.a" "$tmp/$w.c" && fail "$w: different seeds, same bytes"
	head -1 "$tmp/$w.a" | grep -qx "eptflush-trace 1" || fail "$w: no version line"
	grep -qx "vcpus 3" "$tmp/$w.a" || fail "$w: header does not say vcpus 3"
	grep -qx "name $w" "$tmp/$w.a" || fail "$w: header does not name the workload"
	ops=$(sed '1,/^begin$/d' "$tmp/$w.a" | grep -cv '^#')
	[ "$ops" = 3000 ] || fail "$w: $ops ops, expected 3000"
done

# ---- stdout is the same bytes as a file ----
expect_rc 0 "gen to stdout" -- "$E" gen mixed --ops 3000 --seed 7 --vcpus 3 --guest-size 8G -o -
cmp -s "$tmp/out" "$tmp/mixed.a" || fail "-o - differs from -o FILE"

# ---- a device is written in place, not replaced ----
expect_rc 0 "-o /dev/null" -- "$E" gen boot --ops 100 -o /dev/null
[ -c /dev/null ] || fail "/dev/null is no longer a character device"

# ---- a 1 TiB guest is cheap ----
expect_rc 0 "1T guest" -- "$E" gen hugepage --guest-size 1T --ops 20000 -o "$tmp/tera.trace"
grep -q "guest_pages=0x10000000" "$tmp/tera.trace" || fail "1T guest: detail does not record the size"

# ---- usage errors: exit 2, a message, nothing written ----
expect_rc 2 "no workload" -- "$E" gen -o "$tmp/x.trace"
expect_rc 2 "unknown workload" -- "$E" gen bogus -o "$tmp/x.trace"
grep -q "unknown workload 'bogus'" "$tmp/err" || fail "unknown workload message: $(cat "$tmp/err")"
expect_rc 2 "no -o" -- "$E" gen boot
grep -q -- "-o FILE" "$tmp/err" || fail "missing -o message: $(cat "$tmp/err")"
expect_rc 2 "bad size" -- "$E" gen boot --guest-size 4X -o "$tmp/x.trace"
expect_rc 2 "odd size" -- "$E" gen boot --guest-size 3M -o "$tmp/x.trace"
grep -q "multiple of 2M" "$tmp/err" || fail "odd size message: $(cat "$tmp/err")"
expect_rc 2 "size too big" -- "$E" gen boot --guest-size 32T -o "$tmp/x.trace"
expect_rc 2 "zero vcpus" -- "$E" gen boot --vcpus 0 -o "$tmp/x.trace"
expect_rc 2 "65 vcpus" -- "$E" gen boot --vcpus 65 -o "$tmp/x.trace"
expect_rc 2 "zero ops" -- "$E" gen boot --ops 0 -o "$tmp/x.trace"
expect_rc 2 "bad seed" -- "$E" gen boot --seed -1 -o "$tmp/x.trace"
expect_rc 2 "missing value" -- "$E" gen boot --ops
expect_rc 2 "unknown option" -- "$E" gen boot --frob -o "$tmp/x.trace"
expect_rc 2 "two workloads" -- "$E" gen boot mixed -o "$tmp/x.trace"
grep -q "Try 'eptflush gen --help'" "$tmp/err" || fail "usage errors do not point at --help"
[ -e "$tmp/x.trace" ] && fail "a usage error left $tmp/x.trace behind"

# ---- runtime failure: exit 1, nothing half-written ----
expect_rc 1 "unwritable directory" -- "$E" gen boot -o "$tmp/no/such/dir/x.trace"
# an existing file is replaced whole, and no temporary is left
echo old >"$tmp/keep.trace"
expect_rc 0 "overwrite" -- "$E" gen boot --ops 100 -o "$tmp/keep.trace"
head -1 "$tmp/keep.trace" | grep -qx "eptflush-trace 1" || fail "overwrite did not replace the file"
ls -A "$tmp" | grep -q '^\.' && fail "a temporary file was left in $tmp: $(ls -A "$tmp")"

# ---- every workload replays with no refused op and no stale translation ----
if "$E" replay --help >/dev/null 2>&1; then
	for w in $workloads; do
		for g in 4G 1T; do
			"$E" gen "$w" --ops 20000 --seed 11 --guest-size $g -o "$tmp/r.trace" ||
				fail "gen $w $g"
			if ! "$E" replay "$tmp/r.trace" --strategy list --json >"$tmp/r.json" 2>"$tmp/err"; then
				fail "replay of $w ($g): $(head -c 300 "$tmp/err")"
				continue
			fi
			# every result (the strategy and ideal) must say 0
			n=$(grep -c '"errors": ' "$tmp/r.json")
			[ "$n" -ge 1 ] && [ "$(grep -c '"errors": 0,' "$tmp/r.json")" = "$n" ] ||
				fail "$w ($g): the model refused ops: $(grep '"errors"' "$tmp/r.json" | tr -d '\n')"
			[ "$(grep -c '"stale_violations": 0,' "$tmp/r.json")" = "$n" ] ||
				fail "$w ($g): stale translations under list"
			grep -q '"ops": 20000,' "$tmp/r.json" || fail "$w ($g): replay did not read 20000 ops"
		done
	done
else
	echo "SKIP: replay: no 'eptflush replay' in this build"
fi

if [ "$fails" != 0 ]; then
	echo "gen.sh: $fails failure(s)"
	exit 1
fi
echo "gen.sh: ok"
