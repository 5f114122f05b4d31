#!/bin/bash
# End-to-end test of `eptflush gen`: --list and --help, determinism (same
# seed: same bytes; another seed: other bytes), exact length, stdout output,
# usage errors (exit 2, nothing written), atomic replacement of an existing
# file, and every workload replaying with zero refused ops and zero stale
# translations under `eptflush replay` (the reader and the L1 model).
set -u
source "$(dirname "$0")/../lib/cli.bash"

workloads="boot migrate overcommit shadow hugepage mixed"

# ---- --list, --help ----
expect_rc 0 "--list" -- "$E" gen --list
for w in $workloads; do
	grep -q "^$w " "$T/out" || fail "--list lacks $w"
done
[ "$(wc -l <"$T/out")" = 6 ] || fail "--list prints $(wc -l <"$T/out") lines, expected 6"
expect_rc 0 "--help" -- "$E" gen --help
for opt in --guest-size --vcpus --ops --seed -o --list; do
	grep -q -- "$opt" "$T/out" || fail "--help does not mention $opt"
done
grep -q "mixed" "$T/out" || fail "--help does not list the workloads"

# ---- determinism and length, every workload ----
for w in $workloads; do
	expect_rc 0 "gen $w" -- "$E" gen "$w" --ops 3000 --seed 7 --vcpus 3 --guest-size 8G -o "$T/$w.a"
	expect_rc 0 "gen $w again" -- "$E" gen "$w" --ops 3000 --seed 7 --vcpus 3 --guest-size 8G -o "$T/$w.b"
	expect_rc 0 "gen $w seed 8" -- "$E" gen "$w" --ops 3000 --seed 8 --vcpus 3 --guest-size 8G -o "$T/$w.c"
	cmp -s "$T/$w.a" "$T/$w.b" || fail "$w: same seed, different bytes"
	cmp -s "$T/$w.a" "$T/$w.c" && fail "$w: different seeds, same bytes"
	head -1 "$T/$w.a" | grep -qx "eptflush-trace 1" || fail "$w: no version line"
	grep -qx "vcpus 3" "$T/$w.a" || fail "$w: header does not say vcpus 3"
	grep -qx "name $w" "$T/$w.a" || fail "$w: header does not name the workload"
	ops=$(sed '1,/^begin$/d' "$T/$w.a" | grep -cv '^#')
	[ "$ops" = 3000 ] || fail "$w: $ops ops, expected 3000"
done

# ---- stdout is the same bytes as a file ----
expect_rc 0 "gen to stdout" -- "$E" gen mixed --ops 3000 --seed 7 --vcpus 3 --guest-size 8G -o -
cmp -s "$T/out" "$T/mixed.a" || fail "-o - differs from -o FILE"

# ---- a device is written in place, not replaced ----
expect_rc 0 "-o /dev/null" -- "$E" gen boot --ops 100 -o /dev/null
[ -c /dev/null ] || fail "/dev/null is no longer a character device"

# ---- a 1 TiB guest is cheap ----
expect_rc 0 "1T guest" -- "$E" gen hugepage --guest-size 1T --ops 20000 -o "$T/tera.trace"
grep -q "guest_pages=0x10000000" "$T/tera.trace" || fail "1T guest: detail does not record the size"

# ---- usage errors: exit 2, a message, nothing written ----
expect_rc 2 "no workload" -- "$E" gen -o "$T/x.trace"
expect_rc 2 "unknown workload" -- "$E" gen bogus -o "$T/x.trace"
grep -q "unknown workload 'bogus'" "$T/err" || fail "unknown workload message: $(cat "$T/err")"
expect_rc 2 "no -o" -- "$E" gen boot
grep -q -- "-o FILE" "$T/err" || fail "missing -o message: $(cat "$T/err")"
expect_rc 2 "bad size" -- "$E" gen boot --guest-size 4X -o "$T/x.trace"
expect_rc 2 "odd size" -- "$E" gen boot --guest-size 3M -o "$T/x.trace"
grep -q "multiple of 2M" "$T/err" || fail "odd size message: $(cat "$T/err")"
expect_rc 2 "size too big" -- "$E" gen boot --guest-size 32T -o "$T/x.trace"
expect_rc 2 "zero vcpus" -- "$E" gen boot --vcpus 0 -o "$T/x.trace"
expect_rc 2 "65 vcpus" -- "$E" gen boot --vcpus 65 -o "$T/x.trace"
expect_rc 2 "zero ops" -- "$E" gen boot --ops 0 -o "$T/x.trace"
expect_rc 2 "bad seed" -- "$E" gen boot --seed -1 -o "$T/x.trace"
expect_rc 2 "missing value" -- "$E" gen boot --ops
expect_rc 2 "unknown option" -- "$E" gen boot --frob -o "$T/x.trace"
expect_rc 2 "two workloads" -- "$E" gen boot mixed -o "$T/x.trace"
grep -q "Try 'eptflush gen --help'" "$T/err" || fail "usage errors do not point at --help"
[ -e "$T/x.trace" ] && fail "a usage error left $T/x.trace behind"

# ---- runtime failure: exit 1, nothing half-written ----
expect_rc 1 "unwritable directory" -- "$E" gen boot -o "$T/no/such/dir/x.trace"
# an existing file is replaced whole, and no temporary is left
echo old >"$T/keep.trace"
expect_rc 0 "overwrite" -- "$E" gen boot --ops 100 -o "$T/keep.trace"
head -1 "$T/keep.trace" | grep -qx "eptflush-trace 1" || fail "overwrite did not replace the file"
ls -A "$T" | grep -q '^\.' && fail "a temporary file was left in $T: $(ls -A "$T")"

# ---- every workload replays with no refused op and no stale translation ----
if "$E" replay --help >/dev/null 2>&1; then
	for w in $workloads; do
		for g in 4G 1T; do
			"$E" gen "$w" --ops 20000 --seed 11 --guest-size $g -o "$T/r.trace" ||
				fail "gen $w $g"
			if ! "$E" replay "$T/r.trace" --strategy list --json >"$T/r.json" 2>"$T/err"; then
				fail "replay of $w ($g): $(head -c 300 "$T/err")"
				continue
			fi
			# every result (the strategy and ideal) must say 0
			n=$(grep -c '"errors": ' "$T/r.json")
			[ "$n" -ge 1 ] && [ "$(grep -c '"errors": 0,' "$T/r.json")" = "$n" ] ||
				fail "$w ($g): the model refused ops: $(grep '"errors"' "$T/r.json" | tr -d '\n')"
			[ "$(grep -c '"stale_violations": 0,' "$T/r.json")" = "$n" ] ||
				fail "$w ($g): stale translations under list"
			grep -q '"ops": 20000,' "$T/r.json" || fail "$w ($g): replay did not read 20000 ops"
		done
	done
else
	echo "SKIP: replay: no 'eptflush replay' in this build"
fi

if [ "$failures" != 0 ]; then
	echo "gen.sh: $failures failure(s)"
	exit 1
fi
echo "gen.sh: ok"
