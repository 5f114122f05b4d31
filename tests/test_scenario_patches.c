/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One scenario per seed patch (DESIGN.md section 1 table): the operation
 * the patch covers, built by hand as ops, replayed, and the hypercalls it
 * produces asserted (calls, entries, full flushes, pages), with the checker
 * on (no stale translation for the corrected strategy).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "scenario.h"

/* slot 0: 1 GiB of guest memory at gfn 0; its host address is small so that
 * seed-v2's hva-as-gfn stays inside the parent's frame space */
#define SLOT0_PAGES 0x40000ull
#define SLOT0_HVA 0x100000000ull
#define HVA(gfn) (SLOT0_HVA + ((uint64_t)(gfn) << 12))
#define RW (EPTF_OPF_WRITE)

static void setup_direct(struct sc *s, const char *strategy)
{
	sc_open(s, strategy, 1, 1);
	sc_slot(s, 0, 0, SLOT0_PAGES, SLOT0_HVA, 0);
	sc_root_direct(s, 0, 0);
}

/* Map and touch one 4 KiB page in each of @n 2 MiB regions, then put their level-1 pages on the invalid list. */
static void zap_leaf_pages(struct sc *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sc_map(s, 0, i * 512 + 3, 1, RW);
		sc_access(s, 0, i * 512 + 3, RW);
	}
	for (size_t i = 0; i < n; i++)
		sc_prepare_zap(s, i * 512, 1, true);
}

/* P1: the filler appends at an offset; past 510 entries -ENOSPC and a full flush. */
static void test_p1_offset_enospc(void **state)
{
	struct sc s;
	struct eptf_metrics d;

	(void)state;
	setup_direct(&s, "list");
	zap_leaf_pages(&s, 510);
	sc_mark(&s);
	sc_commit(&s);
	d = sc_delta(&s);
	assert_int_equal(d.flush_points, 1);
	assert_int_equal(d.list_hypercalls, 1);
	assert_int_equal(d.list_entries, 510); /* one input page, filled from offset 0 to 510 */
	assert_int_equal(d.full_flushes, 0);
	assert_int_equal(d.pages_flushed, 510 * 512);
	assert_int_equal(d.stale_violations, 0);
	sc_close(&s);

	setup_direct(&s, "list");
	zap_leaf_pages(&s, 511);
	sc_mark(&s);
	sc_commit(&s);
	d = sc_delta(&s);
	assert_int_equal(d.list_hypercalls, 0); /* -ENOSPC: never sent */
	assert_int_equal(d.full_flushes, 1);
	assert_int_equal(d.fallbacks, 1);
	assert_int_equal(d.hypercalls, 1);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.stale_violations, 0);
	sc_close(&s);
}

/* P2/P4: a commit of three leaf pages is ONE list call with three entries. */
static void test_p2_p4_commit_one_call(void **state)
{
	struct sc s;
	struct eptf_metrics d;

	(void)state;
	setup_direct(&s, "list");
	zap_leaf_pages(&s, 3);
	sc_mark(&s);
	sc_commit(&s);
	d = sc_delta(&s);
	assert_int_equal(d.flush_points, 1);
	assert_int_equal(d.hypercalls, 1);
	assert_int_equal(d.list_hypercalls, 1);
	assert_int_equal(d.list_entries, 3);
	assert_int_equal(d.pages_flushed, 3 * 512);
	assert_int_equal(d.full_flushes, 0);
	assert_int_equal(d.stale_violations, 0);
	assert_true(d.ept02_dropped >= 3); /* the three touched pages left the parent */
	sc_close(&s);

	/* mainline flushes a commit with a full flush */
	setup_direct(&s, "mainline");
	zap_leaf_pages(&s, 3);
	sc_mark(&s);
	sc_commit(&s);
	d = sc_delta(&s);
	assert_int_equal(d.hypercalls, 1);
	assert_int_equal(d.full_flushes, 1);
	assert_int_equal(d.list_hypercalls, 0);
	assert_int_equal(d.stale_violations, 0);
	sc_close(&s);
}

/* P2/P4 overflow: five level-2 pages need 5 * 128 = 640 entries: a full flush under list, 2 calls under list-merge. */
static void test_p4_commit_overflow(void **state)
{
	static const char *const names[] = { "list", "list-merge" };

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct sc s;
		struct eptf_metrics d;

		sc_open(&s, names[k], 1, 1);
		sc_slot(&s, 0, 0, 5 * SLOT0_PAGES, SLOT0_HVA, 0);
		sc_root_direct(&s, 0, 0);
		for (uint64_t g = 0; g < 5; g++) {
			sc_map(&s, 0, g * SLOT0_PAGES + 7, 1, RW);
			sc_access(&s, 0, g * SLOT0_PAGES + 7, RW);
		}
		for (uint64_t g = 0; g < 5; g++)
			sc_prepare_zap(&s, g * SLOT0_PAGES, 2, true);
		sc_mark(&s);
		sc_commit(&s);
		d = sc_delta(&s);
		if (k == 0) {
			assert_int_equal(d.full_flushes, 1);
			assert_int_equal(d.list_hypercalls, 0);
			assert_int_equal(d.fallbacks, 1);
		} else {
			assert_int_equal(d.full_flushes, 0);
			assert_int_equal(d.list_hypercalls, 2); /* 510 + 130 entries */
			assert_int_equal(d.list_entries, 640);
		}
		assert_int_equal(d.stale_violations, 0);
		sc_close(&s);
	}
}

/* P3: with last_level, seed-v2 lists only the leaf-bearing page of a commit. */
static void test_p3_last_level(void **state)
{
	struct sc s;
	struct eptf_metrics d;

	(void)state;
	setup_direct(&s, "seed-v2");
	sc_map(&s, 0, 5, 1, RW);
	sc_access(&s, 0, 5, RW);
	sc_prepare_zap(&s, 0, 1, true); /* leaf-bearing: last_level */
	sc_prepare_zap(&s, 0, 2, true); /* links only: not listed */
	sc_mark(&s);
	sc_commit(&s);
	d = sc_delta(&s);
	assert_int_equal(d.list_hypercalls, 1);
	assert_int_equal(d.list_entries, 1);
	assert_int_equal(d.pages_flushed, 1); /* and KVM_PAGES_PER_HPAGE(1): defect 1 */
	assert_int_equal(d.full_flushes, 0);
	sc_close(&s);

	setup_direct(&s, "list");
	sc_map(&s, 0, 5, 1, RW);
	sc_access(&s, 0, 5, RW);
	sc_prepare_zap(&s, 0, 1, true);
	sc_prepare_zap(&s, 0, 2, true);
	sc_mark(&s);
	sc_commit(&s);
	d = sc_delta(&s);
	assert_int_equal(d.list_hypercalls, 1);
	assert_int_equal(d.list_entries, 128 + 1); /* 1 GiB in 2048-page entries + 2 MiB */
	assert_int_equal(d.stale_violations, 0);
	sc_close(&s);
}

/* Guest tables for a shadow root: CR3 0x10 -> 0x11 -> 0x12 -> 0x13 maps gva pages 0..3 to gfns 0x100..0x103. */
#define GT4 0x10
#define GT3 0x11
#define GT2 0x12
#define GT1 0x13
static void setup_shadow(struct sc *s, const char *strategy)
{
	sc_open(s, strategy, 1, 1);
	sc_slot(s, 0, 0, SLOT0_PAGES, SLOT0_HVA, 0);
	sc_gpt(s, GT4, 0, gpte(GT3, true));
	sc_gpt(s, GT3, 0, gpte(GT2, true));
	sc_gpt(s, GT2, 0, gpte(GT1, true));
	for (unsigned i = 0; i < 4; i++)
		sc_gpt(s, GT1, i, gpte(0x100 + i, true));
	sc_root_shadow(s, 0, GT4);
	for (unsigned i = 0; i < 4; i++)
		sc_access(s, 0, i, RW);
}

/* P5: sync_page flushes the SPTEs the sync changed. */
static void test_p5_sync(void **state)
{
	struct sc s;
	struct eptf_metrics d;

	(void)state;
	setup_shadow(&s, "list");
	sc_gpt(&s, GT1, 1, gpte(0x101, false)); /* L2 write-protects gva page 1 */
	sc_gpt(&s, GT1, 2, gpte(0x200, true));  /* and remaps gva page 2 */
	sc_mark(&s);
	sc_ok(&s, EPTF_OP_SYNC, 0, 0, 0, 0, 0, 0, 0);
	d = sc_delta(&s);
	assert_int_equal(d.flush_points, 1);
	assert_int_equal(d.list_hypercalls, 1);
	assert_int_equal(d.list_entries, 2);
	assert_int_equal(d.pages_flushed, 2);
	assert_int_equal(d.full_flushes, 0);
	assert_int_equal(d.stale_violations, 0);
	sc_close(&s);
}

/* P6: write-protecting one gfn flushes just that gfn's range (the whole huge range when huge). */
static void test_p6_wp_gfn(void **state)
{
	struct sc s;
	struct eptf_metrics d;

	(void)state;
	setup_direct(&s, "list");
	sc_map(&s, 0, 0x100, 1, RW);
	sc_access(&s, 0, 0x100, RW);
	sc_map(&s, 0, 0x400, 2, RW);
	sc_access(&s, 0, 0x401, RW);
	sc_mark(&s);
	sc_ok(&s, EPTF_OP_WP_GFN, 0, 0, 0, 0, 0x100, 0, 0);
	d = sc_delta(&s);
	assert_int_equal(d.list_hypercalls, 1);
	assert_int_equal(d.list_entries, 1);
	assert_int_equal(d.pages_flushed, 1);
	assert_int_equal(d.stale_violations, 0);
	sc_mark(&s);
	sc_ok(&s, EPTF_OP_WP_GFN, 0, 0, 0, 0, 0x420, 0, 0);
	d = sc_delta(&s);
	assert_int_equal(d.list_hypercalls, 1);
	assert_int_equal(d.list_entries, 1);
	assert_int_equal(d.pages_flushed, 512);
	assert_int_equal(d.stale_violations, 0);
	sc_close(&s);

	/* seed-v2 sends [gfn, gfn + 1) */
	setup_direct(&s, "seed-v2");
	sc_map(&s, 0, 0x100, 1, RW);
	sc_access(&s, 0, 0x100, RW);
	sc_mark(&s);
	sc_ok(&s, EPTF_OP_WP_GFN, 0, 0, 0, 0, 0x100, 0, 0);
	d = sc_delta(&s);
	assert_int_equal(d.list_hypercalls, 1);
	assert_int_equal(d.pages_flushed, 1);
	assert_int_equal(d.stale_violations, 0);
	sc_close(&s);
}

/* P7: a bad slot id is a clean error, for every dirty-log op. */
static void test_p7_bad_slot(void **state)
{
	static const char *const names[] = { "list", "seed-v2", "mainline" };

	(void)state;
	for (size_t k = 0; k < 3; k++) {
		struct sc s;
		struct eptf_metrics d;

		setup_direct(&s, names[k]);
		sc_mark(&s);
		sc_op(&s, EPTF_OP_GET_DIRTY_LOG, 0, 7, 0, 0, 0, 0, 0);
		sc_op(&s, EPTF_OP_CLEAR_DIRTY_LOG, 0, (2u << 16) | 0, 0, 0, 0, 0, ~0ull);
		d = sc_delta(&s);
		assert_int_equal(d.errors, 2);
		assert_int_equal(s.errors, 2);
		assert_int_equal(d.hypercalls, 0);
		assert_int_equal(d.ops, 2);
		assert_non_null(strstr(s.last_error, "clear_dirty_log: "));
		if (k == 1)
			assert_non_null(strstr(s.last_error, "seed-v2 defect 8: kvm_get_memslot() returned NULL"));
		else
			assert_non_null(strstr(s.last_error, eptf_strerror(EPTF_ENOENT)));
		sc_close(&s);
	}
}

/* P8: get/clear dirty log flush the memslot range before returning. */
static void test_p8_dirty_log(void **state)
{
	static const char *const names[] = { "seed-v2", "list", "mainline" };

	(void)state;
	for (size_t k = 0; k < 3; k++) {
		struct sc s;
		struct eptf_metrics d;

		sc_open(&s, names[k], 1, 1);
		sc_slot(&s, 0, 0, SLOT0_PAGES, SLOT0_HVA, 0);
		sc_slot(&s, 1, 0x80000, 1024, 0x200000000ull, 0);
		sc_root_direct(&s, 0, 0);
		sc_mark(&s);
		sc_ok(&s, EPTF_OP_SLOT_FLAGS, 0, 1, 0, EPTF_SLOTF_DIRTY_LOG, 0, 0, 0);
		assert_int_equal(sc_delta(&s).flush_points, 0); /* nothing mapped yet: nothing to flush */
		for (unsigned i = 0; i < 8; i++)
			sc_access(&s, 0, 0x80000 + 3 * i, RW);
		sc_mark(&s);
		sc_ok(&s, EPTF_OP_GET_DIRTY_LOG, 0, 1, 0, 0, 0, 0, 0);
		d = sc_delta(&s);
		assert_int_equal(d.flush_points, 1);
		assert_int_equal(d.hypercalls, 1);
		assert_int_equal(d.list_hypercalls, 1);
		assert_int_equal(d.list_entries, 1);     /* the memslot range: 1024 pages, one entry */
		assert_int_equal(d.pages_flushed, 1024);
		assert_int_equal(d.stale_violations, 0); /* checked at the flush point, before the op returned */
		/* the writes fault again: the parent dropped its writable entries */
		sc_mark(&s);
		sc_access(&s, 0, 0x80003, RW);
		assert_int_equal(sc_delta(&s).ept_violations, 1);
		sc_access(&s, 0, 0x80006, RW);
		sc_mark(&s);
		sc_ok(&s, EPTF_OP_CLEAR_DIRTY_LOG, 0, 1, 0, 0, 0, 0, ~0ull);
		d = sc_delta(&s);
		assert_int_equal(d.flush_points, 1);
		assert_int_equal(d.list_hypercalls, 1);
		assert_int_equal(d.stale_violations, 0);
		sc_close(&s);
	}
}

/* P9: clear_young never flushes; clear_flush_young does. */
static void test_p9_age_flush_param(void **state)
{
	struct sc s;
	struct eptf_metrics d;

	(void)state;
	setup_direct(&s, "list");
	sc_access(&s, 0, 0x300, RW);
	sc_access(&s, 0, 0x900, RW);
	sc_mark(&s);
	sc_ok(&s, EPTF_OP_CLEAR_YOUNG, 0, 0, 0, 0, HVA(0x300), HVA(0x301), 0);
	d = sc_delta(&s);
	assert_int_equal(d.flush_points, 0);
	assert_int_equal(d.hypercalls, 0);
	sc_mark(&s);
	sc_ok(&s, EPTF_OP_CLEAR_FLUSH_YOUNG, 0, 0, 0, 0, HVA(0x900), HVA(0x901), 0);
	d = sc_delta(&s);
	assert_int_equal(d.flush_points, 1);
	assert_int_equal(d.hypercalls, 1);
	assert_int_equal(d.stale_violations, 0);
	sc_close(&s);
}

/* P10: the aged range is the gfns of the aged SPTEs, derived from the memslot. */
static void test_p10_age_range(void **state)
{
	struct sc s;
	struct eptf_metrics d;

	(void)state;
	setup_direct(&s, "list");
	sc_access(&s, 0, 0x300, RW);
	sc_access(&s, 0, 0x302, RW);
	sc_mark(&s);
	sc_ok(&s, EPTF_OP_CLEAR_FLUSH_YOUNG, 0, 0, 0, 0, HVA(0x300), HVA(0x310), 0);
	d = sc_delta(&s);
	assert_int_equal(d.list_hypercalls, 1);
	assert_int_equal(d.list_entries, 2);
	assert_int_equal(d.pages_flushed, 2);
	assert_int_equal(d.stale_violations, 0);
	sc_close(&s);

	/* mainline: a full flush (kvm_handle_hva_range flush_on_ret) */
	setup_direct(&s, "mainline");
	sc_access(&s, 0, 0x300, RW);
	sc_mark(&s);
	sc_ok(&s, EPTF_OP_CLEAR_FLUSH_YOUNG, 0, 0, 0, 0, HVA(0x300), HVA(0x310), 0);
	d = sc_delta(&s);
	assert_int_equal(d.full_flushes, 1);
	assert_int_equal(d.stale_violations, 0);
	sc_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_p1_offset_enospc),
		cmocka_unit_test(test_p2_p4_commit_one_call),
		cmocka_unit_test(test_p4_commit_overflow),
		cmocka_unit_test(test_p3_last_level),
		cmocka_unit_test(test_p5_sync),
		cmocka_unit_test(test_p6_wp_gfn),
		cmocka_unit_test(test_p7_bad_slot),
		cmocka_unit_test(test_p8_dirty_log),
		cmocka_unit_test(test_p9_age_flush_param),
		cmocka_unit_test(test_p10_age_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
