#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# End-to-end tests of `eptflush hv` (contract: cli/cmd-hv.c, docs/hv-interface.md):
# exact stdout lines and exit codes, including the error cases.
set -euo pipefail

: "${EPTFLUSH:?set EPTFLUSH to the eptflush binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fails=0
checks=0
out=""
err=""
rc=0

# run ARGS...: run eptflush, keep stdout in $out, stderr in $err, status in $rc
run() {
	set +e
	"$EPTFLUSH" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}

fail() {
	echo "FAIL: $*" >&2
	echo "  stdout: $out" | head -20 >&2
	echo "  stderr: $err" >&2
	fails=$((fails + 1))
}

# expect RC EXPECTED_STDOUT ARGS...
expect() {
	local want_rc=$1 want_out=$2
	shift 2
	run "$@"
	checks=$((checks + 1))
	if [[ $rc -ne $want_rc ]]; then
		fail "eptflush $*: exit $rc, want $want_rc"
	elif [[ "$out" != "$want_out" ]]; then
		fail "eptflush $*: stdout differs; want: $want_out"
	fi
}

# expect_err RC STDERR_SUBSTRING ARGS...: exit code, empty stdout, stderr mentions it
expect_err() {
	local want_rc=$1 want_err=$2
	shift 2
	run "$@"
	checks=$((checks + 1))
	if [[ $rc -ne $want_rc ]]; then
		fail "eptflush $*: exit $rc, want $want_rc"
	elif [[ -n "$out" && $want_rc -eq 2 ]]; then
		fail "eptflush $*: usage error printed to stdout"
	elif [[ "$err" != *"$want_err"* ]]; then
		fail "eptflush $*: stderr lacks '$want_err'"
	fi
}

# le64 VALUE: the 8 little-endian bytes of VALUE
le64() {
	local v=$1 i
	for ((i = 0; i < 8; i++)); do
		printf "\\x$(printf %02x $(((v >> (8 * i)) & 0xff)))"
	done
}

# page FILE ADDRESS_SPACE FLAGS ENTRY...: write an input page
page() {
	local f=$1
	shift
	{
		for v in "$@"; do le64 "$v"; done
	} >"$f"
}

# ---- encode, linux builder ---------------------------------------------------
expect 0 $'0x00000000000007ff\n0x00000000008007ff\n0x0000000001000387' hv encode --start 0 --pages 5000
expect 0 "0x00000000123457ff" hv encode --start 0x12345 --pages 0x800
expect 0 "0x00000000123457ff" hv encode --start=74565 --pages=2048
expect 0 "0x0000000000000000" hv encode --start 0 --pages 1
expect 0 "0xfffffffffffff000" hv encode --start 0xfffffffffffff --pages 1
# from offset 508: the entries at 508 and 509 only
expect 0 $'0x00000000000007ff\n0x0000000000800000' hv encode --start 0 --pages 2049 --offset 508
expect 0 "0x0000000000064000" hv encode --start 100 --pages 1 --offset 509 --builder linux
# the 510-entry edge: 510 * 2048 = 1044480 pages fit, one more does not
run hv encode --start 0 --pages 1044480
checks=$((checks + 1))
[[ $rc -eq 0 && $(wc -l <"$tmp/out") -eq 510 && "$(tail -1 "$tmp/out")" == 0x00000000fe8007ff ]] ||
	fail "510 * 2048 pages: want 510 entries ending 0x00000000fe8007ff"
expect_err 1 "ENOSPC" hv encode --start 0 --pages 1044481
[[ -z "$out" ]] || fail "ENOSPC printed entries"
expect_err 1 "ENOSPC" hv encode --start 0 --pages 2049 --offset 509
expect_err 1 "ENOSPC" hv encode --start 0 --pages 1 --offset 510

# ---- encode, merge builder ---------------------------------------------------
expect 0 $'0x00000000000007ff\n0x00000000008007ff' hv encode --start 0 --pages 4096 --builder merge
# 8 aligned 2 MiB units: largepage 1, page_size 0, additional 7, base 0
expect 0 "0x0000000000000807" hv encode --start 0 --pages 4096 --builder merge --large
# one 2 MiB page: a 4 KiB entry covers it in one, so it stays small
expect 0 "0x00000000002001ff" hv encode --start 0x200 --pages 512 --builder merge --large
# 1 GiB at 1 GiB: page_size 1, base_large_pfn 0x200
expect 0 "0x0000000040001800" hv encode --start 0x40000 --pages 0x40000 --builder merge --large
# unaligned head and tail around a 1 GiB run
expect 0 $'0x000000003ff9c063\n0x0000000040001800\n0x0000000080000063' \
	hv encode --start $((0x40000 - 100)) --pages $((0x40000 + 200)) --builder merge --large
# past one input page: 511 small entries, all printed
run hv encode --start 0 --pages $((511 * 2048)) --builder merge
checks=$((checks + 1))
[[ $rc -eq 0 && $(wc -l <"$tmp/out") -eq 511 ]] || fail "merge over two pages: want 511 entries"
# the merge builder never uses more entries than linux
for n in 1 2047 2048 2049 4096 100000 1044480; do
	run hv encode --start 3 --pages $n --builder merge --large
	m=$(wc -l <"$tmp/out")
	run hv encode --start 3 --pages $n
	l=$(wc -l <"$tmp/out")
	checks=$((checks + 1))
	((m <= l)) || fail "merge used $m entries for $n pages, linux $l"
done

# ---- encode errors -------------------------------------------------------------
expect_err 2 "required" hv encode --start 0
expect_err 2 "required" hv encode --pages 5
expect_err 2 "needs a value" hv encode --start 0 --pages
expect_err 2 "EPTF_EEMPTY" hv encode --start 0 --pages 0
expect_err 2 "not a number" hv encode --start 0 --pages abc
expect_err 2 "not a number" hv encode --start -1 --pages 1
expect_err 2 "not a number" hv encode --start 0 --pages 1 --offset -1
expect_err 2 "EPTF_EBADOFFSET" hv encode --start 0 --pages 1 --offset 511
expect_err 2 "EPTF_EGPARANGE" hv encode --start 0x10000000000000 --pages 1
expect_err 2 "EPTF_EGPARANGE" hv encode --start 0xfffffffffffff --pages 2
expect_err 2 "linux or merge" hv encode --start 0 --pages 1 --builder fancy
expect_err 2 "--large applies to --builder merge" hv encode --start 0 --pages 1 --large
expect_err 2 "--offset applies to --builder linux" hv encode --start 0 --pages 1 --offset 3 --builder merge
expect_err 2 "unknown argument" hv encode --start 0 --pages 1 --frobnicate
expect_err 1 "prints at most" hv encode --start 0 --pages 0xfffffffffffff --builder merge

# ---- decode ----------------------------------------------------------------------
expect 0 $'start=0x12345 pages=2048 unit=4k\nstart=0x200 pages=512 unit=2m\nstart=0x40000 pages=524288 unit=1g' \
	hv decode 0x00000000123457ff 0x0000000000200800 0x0000000040001801
expect 0 "start=0x0 pages=1 unit=4k" hv decode 0
expect 0 "start=0x12345 pages=2048 unit=4k" hv decode 123457FF
expect 0 "start=0xfffffffffffff pages=2048 unit=4k" hv decode 0xfffffffffffff7ff
# reserved bit 13 in a large entry: names the argument, nothing on stdout
expect_err 1 "'0x0000000000202800'" hv decode 0x00000000123457ff 0x0000000000202800
[[ -z "$out" ]] || fail "decode printed entries before the malformed one"
expect_err 1 "reserved bits" hv decode 0x0000000000300800
expect_err 1 "not 1 GiB aligned" hv decode 0x201800
expect_err 2 "'xyz'" hv decode 0x7ff xyz
expect_err 2 "not a 64-bit hex" hv decode 0x
expect_err 2 "not a 64-bit hex" hv decode 0x10000000000000000
expect_err 2 "at least one" hv decode

# ---- validate --------------------------------------------------------------------
page "$tmp/two" 0xabc000 0 0x00000000123457ff 0x0000000000064000
expect 0 $'HV_STATUS_SUCCESS (0x0)\nstart=0x12345 pages=2048 unit=4k\nstart=0x64 pages=1 unit=4k' \
	hv validate --control 0x00000002000000b0 --input "$tmp/two"
expect 0 $'HV_STATUS_SUCCESS (0x0)\nstart=0x12345 pages=2048 unit=4k\nstart=0x64 pages=1 unit=4k' \
	hv validate --control=2000000b0 --input="$tmp/two"
# continuation: rep start 1 of 2
expect 0 $'HV_STATUS_SUCCESS (0x0)\nstart=0x64 pages=1 unit=4k' \
	hv validate --control 0x00010002000000b0 --input "$tmp/two"
# rep start == rep count
expect 1 "HV_STATUS_INVALID_HYPERCALL_INPUT (0x3)" hv validate --control 0x00020002000000b0 --input "$tmp/two"
# more reps than the input holds
expect 1 "HV_STATUS_INVALID_ALIGNMENT (0x4)" hv validate --control 0x00000003000000b0 --input "$tmp/two"
# rep count 0, 511
expect 1 "HV_STATUS_INVALID_HYPERCALL_INPUT (0x3)" hv validate --control 0xb0 --input "$tmp/two"
expect 1 "HV_STATUS_INVALID_HYPERCALL_INPUT (0x3)" hv validate --control 0x000001ff000000b0 --input "$tmp/two"
# unknown call code, reserved bit 31, varhead, fast on a rep call
expect 1 "HV_STATUS_INVALID_HYPERCALL_CODE (0x2)" hv validate --control 0x00000002000000b1 --input "$tmp/two"
expect 1 "HV_STATUS_INVALID_HYPERCALL_INPUT (0x3)" hv validate --control 0x00000002800000b0 --input "$tmp/two"
expect 1 "HV_STATUS_INVALID_HYPERCALL_INPUT (0x3)" hv validate --control 0x00000002000200b0 --input "$tmp/two"
expect 1 "HV_STATUS_INVALID_HYPERCALL_INPUT (0x3)" hv validate --control 0x00000002000100b0 --input "$tmp/two"
# flags != 0
page "$tmp/flags" 0xabc000 1 0x00000000123457ff
expect 1 "HV_STATUS_INVALID_PARAMETER (0x5)" hv validate --control 0x00000001000000b0 --input "$tmp/flags"
# large entries: refused by default, accepted with --allow-large, reserved bits refused
page "$tmp/large" 0xabc000 0 0x0000000000200800 0x0000000040001801
expect 1 "HV_STATUS_INVALID_PARAMETER (0x5)" hv validate --control 0x00000002000000b0 --input "$tmp/large"
expect 0 $'HV_STATUS_SUCCESS (0x0)\nstart=0x200 pages=512 unit=2m\nstart=0x40000 pages=524288 unit=1g' \
	hv validate --control 0x00000002000000b0 --input "$tmp/large" --allow-large
page "$tmp/rsvd" 0xabc000 0 0x0000000000300800
expect 1 "HV_STATUS_INVALID_PARAMETER (0x5)" hv validate --control 0x00000001000000b0 --input "$tmp/rsvd" --allow-large
# guest-physical width: frame 2^28 - 1 is the last under 40 bits
page "$tmp/width" 0 0 $(((0x10000000 - 1) << 12)) $((0x10000000 << 12))
expect 0 $'HV_STATUS_SUCCESS (0x0)\nstart=0xfffffff pages=1 unit=4k' \
	hv validate --control 0x00000001000000b0 --input "$tmp/width" --gpa-bits 40
expect 1 "HV_STATUS_INVALID_PARAMETER (0x5)" hv validate --control 0x00000002000000b0 --input "$tmp/width" --gpa-bits 40
expect 0 $'HV_STATUS_SUCCESS (0x0)\nstart=0xfffffff pages=1 unit=4k\nstart=0x10000000 pages=1 unit=4k' \
	hv validate --control 0x00000002000000b0 --input "$tmp/width"
# the space flush: 16-byte input, no ranges
page "$tmp/space" 0xabc000 0
expect 0 "HV_STATUS_SUCCESS (0x0)" hv validate --control 0xaf --input "$tmp/space"
expect 1 "HV_STATUS_INVALID_HYPERCALL_INPUT (0x3)" hv validate --control 0x00000001000000af --input "$tmp/space"
# empty and short files
: >"$tmp/empty"
expect 1 "HV_STATUS_INVALID_ALIGNMENT (0x4)" hv validate --control 0xaf --input "$tmp/empty"
head -c 23 "$tmp/two" >"$tmp/short"
expect 1 "HV_STATUS_INVALID_ALIGNMENT (0x4)" hv validate --control 0x00000001000000b0 --input "$tmp/short"
# usage errors
expect_err 2 "$tmp/nope: No such file or directory" hv validate --control 0xaf --input "$tmp/nope"
expect_err 2 "required" hv validate --input "$tmp/two"
expect_err 2 "required" hv validate --control 0xaf
expect_err 2 "not a 64-bit hex" hv validate --control 0xzz --input "$tmp/two"
expect_err 2 "13..64" hv validate --control 0xaf --input "$tmp/space" --gpa-bits 70
expect_err 2 "13..64" hv validate --control 0xaf --input "$tmp/space" --gpa-bits 12
expect_err 2 "unknown argument" hv validate --control 0xaf --input "$tmp/space" --bogus

# round trip: what encode prints, laid out as a page, validates to what decode prints
for builder in linux merge; do
	mapfile -t ents < <("$EPTFLUSH" hv encode --start 0x3ff00 --pages 300000 --builder $builder \
		$([[ $builder == merge ]] && echo --large))
	page "$tmp/rt" 0x5000 0 "${ents[@]}"
	n=${#ents[@]}
	run hv validate --control $(printf 0x%x $(((n << 32) | 0xb0))) --input "$tmp/rt" --allow-large
	got_validate=$out
	run hv decode "${ents[@]}"
	checks=$((checks + 1))
	[[ "$got_validate" == "HV_STATUS_SUCCESS (0x0)"$'\n'"$out" ]] || fail "round trip ($builder)"
done

# ---- help and demo ---------------------------------------------------------------
run hv --help
checks=$((checks + 1))
[[ $rc -eq 0 && "$out" == *"usage: eptflush hv <verb>"* && "$out" == *encode* && "$out" == *decode* &&
	"$out" == *validate* && "$out" == *demo* ]] || fail "hv --help"
for verb in encode decode validate demo; do
	run hv $verb --help
	checks=$((checks + 1))
	[[ $rc -eq 0 && "$out" == "usage: eptflush hv $verb"* ]] || fail "hv $verb --help"
done
run hv demo
checks=$((checks + 1))
[[ $rc -eq 0 && "$out" == *"HV_STATUS_SUCCESS (0x0)"* && "$out" == *"HV_STATUS_INVALID_PARAMETER (0x5)"* &&
	"$out" == *"unit=1g"* ]] || fail "hv demo"
expect_err 2 "takes no arguments" hv demo extra
expect_err 2 "a verb is required" hv
expect_err 2 "unknown verb" hv frob

if ((fails)); then
	echo "hv.sh: $fails of $checks checks failed" >&2
	exit 1
fi
echo "hv.sh: all $checks checks passed"
