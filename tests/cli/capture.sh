#!/bin/bash
# End-to-end test of `eptflush capture`: usage errors always; a real short
# capture when root, /dev/kvm and tracefs are there (skips with a message
# otherwise). Keep it short: each capture runs about a second.
set -u
source "$(dirname "$0")/../lib/cli.bash"

# ---- usage errors: no KVM needed ----
"$E" capture --help | grep -q -- "--workload" || fail "--help does not describe --workload"
expect_rc 2 "unknown workload" -- "$E" capture --workload bogus -o "$T/x.trace"
grep -q "unknown workload 'bogus'" "$T/err" || fail "unknown workload message: $(cat "$T/err")"
expect_rc 2 "odd memory size" -- "$E" capture --memory 3M -o "$T/x.trace"
expect_rc 2 "memory too large" -- "$E" capture --memory 1G -o "$T/x.trace"
expect_rc 2 "bad seconds" -- "$E" capture --seconds -1 -o "$T/x.trace"
expect_rc 2 "no output" -- "$E" capture --workload touch
expect_rc 2 "--no-import without --raw" -- "$E" capture --no-import
expect_rc 2 "stdout as output" -- "$E" capture -o -
expect_rc 2 "too many vCPUs" -- "$E" capture --vcpus 5 -o "$T/x.trace"
expect_rc 2 "stray argument" -- "$E" capture -o "$T/x.trace" extra
[ -e "$T/x.trace" ] && fail "a usage error left $T/x.trace behind"

# ---- the shipped real traces (data/) import with nothing unplaced ----
for raw in "$SRC"/data/capture-*.raw.txt.gz; do
	[ -e "$raw" ] || continue
	name=$(basename "$raw" .gz)
	gunzip -c "$raw" >"$T/$name"
	if "$E" import "$T/$name" -o "$T/shipped.trace" >"$T/si.log" 2>&1; then
		awk '$1 ~ /^kvm_|^marker$/ && NF == 4 && $4 != 0 { bad = 1 } END { exit bad }' "$T/si.log" ||
			fail "$name: unplaced events on import: $(cat "$T/si.log")"
	else
		fail "$name: import failed: $(tail -3 "$T/si.log")"
	fi
	rm -f "$T/$name"
done

# ---- a missing prerequisite is named (not root) ----
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
	cp "$E" "$T/eptflush" && chmod 755 "$T" "$T/eptflush"
	expect_rc 2 "not root" -- setpriv --reuid=65534 --regid=65534 --clear-groups "$T/eptflush" capture -o /dev/null
	grep -q "prerequisite missing: not root" "$T/err" || fail "not-root message: $(cat "$T/err")"
fi

# ---- a real capture ----
skip=""
[ "$(id -u)" = 0 ] || skip="not root"
[ -z "$skip" ] && { [ -c /dev/kvm ] || skip="no /dev/kvm"; }
[ -z "$skip" ] && { [ -e /sys/kernel/tracing/events/kvmmmu ] || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; \
	[ -e /sys/kernel/tracing/events/kvmmmu ] || skip="no tracefs with kvmmmu events"; }
if [ -n "$skip" ]; then
	echo "SKIP: real capture ($skip)"
	[ "$failures" = 0 ] && echo "capture.sh: usage tests passed" || echo "capture.sh: $failures failure(s)"
	exit $((failures > 0))
fi

# pagetables: zaps (write flooding, zap_all_fast), unsync/sync
"$E" capture --workload pagetables --memory 4M --rounds 1 --seconds 5 -o "$T/p.trace" --raw "$T/p.raw" \
	>"$T/p.log" 2>&1 || fail "pagetables capture failed: $(tail -5 "$T/p.log")"
head -1 "$T/p.trace" | grep -qx "eptflush-trace 1" || fail "p.trace has no op-trace header"
grep -q "(0 events could not be placed)" "$T/p.log" || fail "pagetables: $(grep "could not be placed" "$T/p.log")"
grep -q "tracing_mark_write: eptflush: memslot id=1 " "$T/p.raw" || fail "raw text lacks the memslot marker"
grep -q "kvm_mmu_prepare_zap_page" "$T/p.raw" || fail "pagetables: no kvm_mmu_prepare_zap_page"
grep -q "kvm_mmu_zap_all_fast" "$T/p.raw" || fail "pagetables: no kvm_mmu_zap_all_fast"
grep -q "kvm_mmu_unsync_page" "$T/p.raw" || fail "pagetables: no kvm_mmu_unsync_page"
grep -v '^#' "$T/p.raw" | tail -1 | grep -q "eptflush: end" || fail "raw text does not end at the end marker"
grep -q "overruns" "$T/p.log" && ! grep -q " 0 overruns" "$T/p.log" && fail "ring buffer overran"
grep -qE "^(prepare_zap|commit_zap) " "$T/p.trace" || grep -q "prepare_zap" "$T/p.trace" || fail "op trace has no zap ops"
# capture's import is the same as importing its raw text afterwards
if "$E" import "$T/p.raw" -o "$T/p2.trace" >/dev/null 2>&1; then
	cmp -s "$T/p.trace" "$T/p2.trace" || fail "capture's op trace differs from 'eptflush import' of its raw text"
else
	fail "eptflush import of the raw text failed"
fi

# dirtylog + madvise in one run: harvest markers and notifier unmaps
"$E" capture --workload dirtylog --workload madvise --memory 4M --rounds 1 --seconds 5 -o "$T/d.trace" \
	--raw "$T/d.raw" >"$T/d.log" 2>&1 || fail "dirtylog+madvise capture failed: $(tail -5 "$T/d.log")"
grep -q "(0 events could not be placed)" "$T/d.log" || fail "dirtylog+madvise: unplaceable events"
grep -q "eptflush: clear-dirty-log id=1 first=0x0 mask=" "$T/d.raw" || fail "no clear-dirty-log marker"
grep -q "eptflush: phase madvise" "$T/d.raw" || fail "no phase marker"
grep -q "kvm_unmap_hva_range" "$T/d.raw" || fail "madvise: no kvm_unmap_hva_range"
grep -q "dirty-log harvests" "$T/d.log" || fail "no harvest count printed"

# two vCPUs: roots of their own over shared lower shadow pages
"$E" capture --workload pagetables --vcpus 2 --memory 4M --rounds 1 --seconds 5 -o "$T/v.trace" \
	--raw "$T/v.raw" >"$T/v.log" 2>&1 || fail "2-vCPU capture failed: $(tail -5 "$T/v.log")"
grep -q "(0 events could not be placed)" "$T/v.log" || fail "2 vCPUs: $(grep "could not be placed" "$T/v.log")"
grep -q "eptflush: vcpus 2" "$T/v.raw" || fail "2 vCPUs: no vcpus marker"
grep -q "eptflush: vcpu 1 tid=" "$T/v.raw" || fail "2 vCPUs: no vcpu 1 marker"
[ "$(grep -c "kvm_mmu_get_page: sp gen 0 gfn 1f1 l4 .* new" "$T/v.raw")" -ge 1 ] || fail "2 vCPUs: no root for vCPU 1"
head -3 "$T/v.trace" | grep -qx "vcpus 2" || fail "2 vCPUs: op trace header is not 'vcpus 2'"

# huge: 2 MiB SPTEs on THP, split into direct 4 KiB shadow pages under dirty logging
"$E" capture --workload huge --memory 4M --rounds 1 --seconds 5 -o "$T/h.trace" --raw "$T/h.raw" \
	>"$T/h.log" 2>&1 || fail "huge capture failed: $(tail -5 "$T/h.log")"
grep -q "(0 events could not be placed)" "$T/h.log" || fail "huge: $(grep "could not be placed" "$T/h.log")"
grep -q "eptflush: memslot id=2 gfn=0x30000 pages=0x800" "$T/h.raw" || fail "huge: no memslot 2 marker"
grep -q "eptflush: memslot-flags id=2 flags=1" "$T/h.raw" || fail "huge: dirty logging not turned on for slot 2"
grep -q "kvm_mmu_get_page: .* l1 8-byte q0 direct" "$T/h.raw" || fail "huge: no direct shadow page"
if ! grep -q "kvm_mmu_set_spte: .* level 2 at" "$T/h.raw"; then
	# a 2 MiB SPTE needs a transparent huge page behind the slot
	grep -q '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null ||
		fail "huge: no 2 MiB SPTE (set_spte level 2) although THP is available"
fi

# --no-import writes only the raw text; importing it afterwards places everything
"$E" capture --workload touch --memory 4M --rounds 1 --no-import --raw "$T/t.raw" >"$T/t.log" 2>&1 ||
	fail "--no-import capture failed"
[ -s "$T/t.raw" ] || fail "--no-import wrote no raw text"
grep -q "kvm_mmu_set_spte" "$T/t.raw" || fail "touch: no kvm_mmu_set_spte"
"$E" import "$T/t.raw" -o "$T/t.trace" >"$T/ti.log" 2>&1 || fail "import of the touch capture failed"
awk '$1 ~ /^kvm_|^marker$/ && NF == 4 && $4 != 0 { bad = 1 } END { exit bad }' "$T/ti.log" ||
	fail "touch: unplaced events: $(cat "$T/ti.log")"
# an instance whose capture process is gone was left behind (others may be running now)
for inst in /sys/kernel/tracing/instances/eptflush-capture-*; do
	[ -e "$inst" ] || continue
	[ -d "/proc/${inst##*-}" ] || fail "tracefs instance $inst was left behind"
done

[ "$failures" = 0 ] && echo "capture.sh: all passed" || echo "capture.sh: $failures failure(s)"
exit $((failures > 0))
