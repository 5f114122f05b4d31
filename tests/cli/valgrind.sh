#!/bin/bash
# End-to-end commands under valgrind (issue 6: "a valgrind run of the
# end-to-end tests reports no leaks"): compare with every report, replay,
# check, gen, import (text and trace.dat), hv, and a few error paths, each on
# small inputs, with
#   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99
# Any memory error or definite/indirect leak fails the case (exit 99); the
# command's own exit status must be the expected one.
# Needs the non-sanitized binary: an ASan build in $EPTFLUSH (the build-asan
# ctest run) is skipped with a message, and so is a machine without valgrind.
set -u
E=${EPTFLUSH:?set EPTFLUSH to the eptflush binary}
SRC=${EPTF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
D=$SRC/tests/data

if ! command -v valgrind >/dev/null 2>&1; then
	echo "SKIP: valgrind is not installed"
	exit 0
fi
sanitized=""
if ldd "$E" 2>/dev/null | grep -qE 'lib(asan|ubsan|tsan|msan)'; then
	sanitized="it links $(ldd "$E" | grep -oE 'lib(asan|ubsan|tsan|msan)[^ ]*' | head -1)"
elif nm -a "$E" 2>/dev/null | grep -qE '__(asan|ubsan|msan|tsan)_'; then
	sanitized="it has sanitizer symbols"
elif [ -n "${EPTF_BUILD_DIR:-}" ] && grep -qs '^EPTF_SANITIZE:BOOL=ON' "$EPTF_BUILD_DIR/CMakeCache.txt"; then
	sanitized="$EPTF_BUILD_DIR is configured with EPTF_SANITIZE=ON"
fi
if [ -n "$sanitized" ]; then
	echo "SKIP: $E is a sanitizer build ($sanitized); valgrind needs the plain build"
	exit 0
fi

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0 n=0

# libtraceevent 1.7 loses a strdup while tracecmd_open_fd() parses the event
# formats of a trace.dat (2 bytes, definitely lost inside the library; nothing
# of ours is on the path between the allocation and tep_parse_event). Only that
# allocation site is suppressed.
cat >"$T/eptflush.supp" <<'EOF'
{
   libtraceevent-parse-event-strdup
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:strdup
   ...
   fun:tep_parse_event
   ...
   fun:tracecmd_open_fd
}
EOF

VG=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99
	--suppressions="$T/eptflush.supp" --num-callers=30)

# vg NAME RC CMD...: run CMD under valgrind in $T/work (stdin: $VG_STDIN or
# /dev/null), expect exit RC
vg() {
	local name=$1 want=$2 rc
	shift 2
	n=$((n + 1))
	mkdir -p "$T/work"
	(cd "$T/work" && exec "${VG[@]}" --log-file="$T/vg.log" "$@") <"${VG_STDIN:-/dev/null}" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" = 99 ] || [ -s "$T/vg.log" ]; then
		fails=$((fails + 1))
		echo "FAIL: $name: valgrind reports errors or leaks (exit $rc)"
		echo "      command: $*"
		sed 's/^/      /' "$T/vg.log" | head -60
	elif [ "$rc" != "$want" ]; then
		fails=$((fails + 1))
		echo "FAIL: $name: exit $rc, expected $want; stderr: $(head -c 400 "$T/err" | tr '\n' '|')"
	elif [ -z "${VG_QUIET:-}" ]; then
		echo "ok: $name"
	fi
}

# needs FILE... : each must exist and be non-empty in $T/work
needs() {
	local f
	for f in "$@"; do
		[ -s "$T/work/$f" ] || { fails=$((fails + 1)); echo "FAIL: $f was not written"; }
	done
}

SMALL=(--guest-size 256M --vcpus 2 --ops 1500 --seed 3)

vg "compare mixed with every report" 0 "$E" compare "${SMALL[@]}" --json out.json --csv out.csv --html out.html mixed
needs out.json out.csv out.html
vg "compare two traces, amd parent, large entries" 0 "$E" compare --parent amd --allow-large --parent-backing 2m \
	--set hypercall=1000 "$D/tiny.trace" "$D/tiny-shadow.trace" --json - -q
VG_STDIN=$D/tiny-migrate.trace vg "compare --strategies correct --no-check on stdin" 0 \
	"$E" compare --strategies correct --no-check -
vg "replay list-merge --json=FILE" 0 "$E" replay "$D/tiny-migrate.trace" --strategy list-merge --json=replay.json
needs replay.json
vg "replay adaptive on shadow" 0 "$E" replay "${SMALL[@]}" --strategy adaptive workload:shadow
vg "check seed-v2 on a defect trace (violations: exit 1)" 1 "$E" check "$D/seed-defect1.trace"
vg "check correct on hugepage" 0 "$E" check "${SMALL[@]}" --strategy correct hugepage
vg "gen migrate" 0 "$E" gen migrate --guest-size 64M --vcpus 2 --ops 2000 -o gen.trace
needs gen.trace
vg "check the generated trace" 0 "$E" check "$T/work/gen.trace" --strategy list,full
vg "import tracefs text" 0 "$E" import "$D/import/real-touch.txt" -o imp.trace -q
needs imp.trace
vg "import trace-cmd report text" 0 "$E" import "$D/import/synth-shadow-tracecmd.txt" -o imp2.trace -q
vg "import trace.dat" 0 "$E" import "$D/import/real-pagetables.dat" -o dat.trace -q \
	--memslot 0:0:0x200:0x7fed4d000000 --memslot 1:0x200:0x400:0x7fed4cc00000
needs dat.trace
printf '\x00\xc0\xab\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\x57\x34\x12\x00\x00\x00\x00' >"$T/page.bin"
vg "hv validate (accepted)" 0 "$E" hv validate --control 0x00000001000000b0 --input "$T/page.bin"
vg "hv validate (rejected)" 1 "$E" hv validate --control 0x00000002000000b0 --input "$T/page.bin"
vg "hv encode merge --large" 0 "$E" hv encode --start 0x3ff9c --pages 0x400c8 --builder merge --large
vg "hv decode" 0 "$E" hv decode 0x00000000123457ff 0x0000000000200800 0x0000000040001801
vg "hv demo" 0 "$E" hv demo

# error paths free what they allocated too
B=$D/bad
vg "check a malformed trace" 2 "$E" check "$B/trace/vcpu-header.trace"
vg "compare a good workload then a malformed trace" 2 "$E" compare "${SMALL[@]}" boot "$B/trace/nul-op.trace" --json bad.json
vg "compare with a bad cost-model file" 2 "$E" compare --cost-model "$B/cost/unknown-key.cost" "$D/tiny.trace"
vg "compare to a missing directory" 1 "$E" compare "$D/tiny.trace" -q --html /nonexistent/dir/out.html
vg "import a malformed kernel trace" 1 "$E" import "$B/import/bad-number.txt" -o bad.trace -q
vg "import a truncated trace.dat" 1 "$E" import "$B/import/dat-truncated2.dat" -o bad.trace -q
vg "gen an unknown workload" 2 "$E" gen nosuch -o bad.trace
vg "hv validate a short page" 1 "$E" hv validate --control 0x00000001000000b0 --input "$B/hv/short-8.bin"
# every malformed file of the corpus, through the command that reads it
before=$n
# (op traces: one of each error class; they all leave through the same reader paths)
for f in empty no-magic version-2 missing-vcpus dup-header no-begin long-header unknown-op missing-key \
	bad-hex overflow-dec level-map-4 vcpu-header nul-op long-line truncated-hex garbage; do
	VG_QUIET=1 vg "check $f.trace" 2 "$E" check "$B/trace/$f.trace" --strategy list
done
for f in "$B"/cost/*; do VG_QUIET=1 vg "check --cost-model $f" 2 "$E" check --cost-model "$f" "$D/tiny.trace"; done
for f in "$B"/import/*; do
	case $f in
	*/dat-corrupt-segv.dat) echo "skip: $f makes libtraceevent read out of bounds (in import's child process; eptflush exits 1 cleanly, see bad_input.sh)"; continue ;;
	esac
	VG_QUIET=1 vg "import $f" 1 "$E" import "$f" -o bad.trace -q
done
for f in "$B"/hv/*; do VG_QUIET=1 vg "hv validate $f" 1 "$E" hv validate --control 0x00000001000000b0 --input "$f"; done
echo "ok: $((n - before)) malformed files from tests/data/bad (any failure is listed above)"
leftover=$(cd "$T/work" && ls -A | grep -E '^(bad|\.)' || true)
[ -z "$leftover" ] || { fails=$((fails + 1)); echo "FAIL: error paths left files behind: $leftover"; }

echo "valgrind.sh: $n commands, $fails failure(s)"
[ "$fails" -eq 0 ]
