# Shared preamble of the end-to-end tests tests/cli/*.sh, sourced by them:
#   source "$(dirname "$0")/../lib/cli.bash"
# It lives outside tests/cli/ because CMake runs every tests/cli/*.sh as a test.
# It sets
#   E         the eptflush binary under test ($EPTFLUSH, required)
#   SRC       the source tree ($EPTF_SOURCE_DIR, else two levels above the script)
#   T         a fresh temporary directory, removed on exit
#   failures  the failure count that fail() raises; each script reports it and
#             exits non-zero when it is not 0
E=${EPTFLUSH:?set EPTFLUSH to the eptflush binary}
SRC=${EPTF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
failures=0

# fail MESSAGE: report one failed check and count it; the script goes on.
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect_rc RC DESCRIPTION -- CMD...: run CMD, stdout in $T/out, stderr in
# $T/err; a failure unless it exits RC.
expect_rc() {
	local want=$1 what=$2 rc
	shift 3
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" = "$want" ] || fail "$what: exit $rc, expected $want ($(head -c 300 "$T/err"))"
}

# run RC NAME CMD...: like expect_rc (no "--"), and returns 1 when the status
# is not RC, so that checks on the output can be skipped.
run() {
	local want=$1 what=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	local rc=$?
	if [ $rc -ne "$want" ]; then
		fail "$what: exit $rc, want $want; stdout: $(head -c 600 "$T/out"); stderr: $(head -c 600 "$T/err")"
		return 1
	fi
	return 0
}
