/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The seed's defects (DESIGN.md section 1), each as a scenario: for
 * defects 1, 2, 4, 5, 6 and 7 the same ops leave stale translations in the
 * parent under `seed-v2` (the checker reports them) and none under `list`;
 * defects 3 and 8 are clean errors under `seed-v2`, with no crash and no
 * stale translation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "scenario.h"

#define SLOT0_PAGES 0x80000ull
#define SLOT0_HVA 0x100000000ull
#define HVA(gfn) (SLOT0_HVA + ((uint64_t)(gfn) << 12))
#define RW (EPTF_OPF_WRITE)

typedef void (*scenario_fn)(struct sc *s);

/* Run @fn under @strategy with the parent backing at @backing; return the metrics. */
static struct eptf_metrics run(const char *strategy, unsigned backing, scenario_fn fn, struct sc *s)
{
	struct eptf_metrics m;

	sc_open(s, strategy, 1, backing);
	sc_slot(s, 0, 0, SLOT0_PAGES, SLOT0_HVA, 0);
	fn(s);
	m = sc_metrics(s);
	sc_close(s);
	return m;
}

/* seed-v2 stale, list clean, both without errors. */
static void expect_stale_only_seed(scenario_fn fn, unsigned backing, const char *why)
{
	struct sc s;
	struct eptf_metrics seed = run("seed-v2", backing, fn, &s);

	assert_true(seed.stale_violations > 0);
	assert_int_equal(s.violations, seed.stale_violations);
	if (why)
		assert_string_equal(s.last_why, why);
	assert_int_equal(seed.errors, 0);

	static const char *const good[] = { "list", "list-merge", "mainline", "full", "adaptive", "ideal" };
	for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
		struct eptf_metrics m = run(good[k], backing, fn, &s);

		if (m.stale_violations)
			fail_msg("%s: %llu stale translations (%s)", good[k],
				 (unsigned long long)m.stale_violations, s.last_why);
		assert_int_equal(m.errors, 0);
	}
}

/* Defect 1: a zapped level-1 page flushes KVM_PAGES_PER_HPAGE(1) = 1 page of its 512. */
static void d1(struct sc *s)
{
	sc_root_direct(s, 0, 0);
	sc_access(s, 0, 0x400, RW);
	sc_access(s, 0, 0x401, RW);
	sc_access(s, 0, 0x5ff, RW);
	sc_prepare_zap(s, 0x400, 1, true);
	sc_commit(s);
}

static void test_defect1_under_flush(void **state)
{
	(void)state;
	expect_stale_only_seed(d1, 1, "unmapped");
}

/* Defect 2: a commit whose pages all lack last_level (link-only pages) does not flush at all. */
static void d2(struct sc *s)
{
	sc_root_direct(s, 0, 0);
	sc_access(s, 0, 0x10, RW);
	sc_access(s, 0, 0x210, RW);
	sc_prepare_zap(s, 0, 2, true);
	sc_commit(s);
}

static void test_defect2_empty_list(void **state)
{
	struct sc s;
	struct eptf_metrics m;

	(void)state;
	expect_stale_only_seed(d2, 1, "unmapped");
	m = run("seed-v2", 1, d2, &s);
	assert_int_equal(m.hypercalls, 0); /* the flush point passed with nothing sent */
	assert_int_equal(m.flush_points, 1);
}

/* Defect 3: the filler is called again after -ENOSPC with a negative offset. */
static void d3(struct sc *s)
{
	sc_root_direct(s, 0, 0);
	for (uint64_t i = 0; i < 520; i++) {
		sc_map(s, 0, i * 512, 1, RW);
		sc_access(s, 0, i * 512, RW);
	}
	for (uint64_t i = 0; i < 520; i++)
		sc_prepare_zap(s, i * 512, 1, true);
	sc_op(s, EPTF_OP_COMMIT_ZAP, 0, 0, 0, 0, 0, 0, 0); /* seed-v2 reports an error here */
}

static void test_defect3_negative_offset(void **state)
{
	struct sc s;
	struct eptf_metrics m;

	(void)state;
	m = run("seed-v2", 1, d3, &s);
	assert_true(m.errors > 0);
	assert_int_equal(s.errors, m.errors);
	assert_string_equal(s.last_error, "seed-v2 defect 3: filler called with negative offset after -ENOSPC");
	assert_int_equal(m.stale_violations, 0); /* it degraded to a full flush */
	assert_int_equal(m.full_flushes, 1);
	assert_int_equal(m.fallbacks, 1);
	m = run("list", 1, d3, &s);
	assert_int_equal(m.errors, 0);
	assert_int_equal(m.stale_violations, 0);
}

/* Defect 4: sync_page takes page_header() of leaf SPTEs: the SPTEs a sync changed are not flushed. */
#define GT4 0x10
#define GT3 0x11
#define GT2 0x12
#define GT1 0x13
static void shadow_tables(struct sc *s)
{
	sc_gpt(s, GT4, 0, gpte(GT3, true));
	sc_gpt(s, GT3, 0, gpte(GT2, true));
	sc_gpt(s, GT2, 0, gpte(GT1, true));
	for (unsigned i = 0; i < 4; i++)
		sc_gpt(s, GT1, i, gpte(0x100 + i, true));
	sc_root_shadow(s, 0, GT4);
	for (unsigned i = 0; i < 4; i++)
		sc_access(s, 0, i, RW);
}

static void d4(struct sc *s)
{
	shadow_tables(s);
	sc_gpt(s, GT1, 1, gpte(0x101, false));
	sc_gpt(s, GT1, 2, gpte(0x300, true));
	sc_ok(s, EPTF_OP_SYNC, 0, 0, 0, 0, 0, 0, 0);
}

static void test_defect4_sync_leaf(void **state)
{
	(void)state;
	expect_stale_only_seed(d4, 1, NULL);
}

/* Defect 5: aging flushes host virtual addresses as if they were gfns. */
static void d5(struct sc *s)
{
	sc_root_direct(s, 0, 0);
	sc_access(s, 0, 0x300, 0);
	sc_access(s, 0, 0x301, 0);
	sc_ok(s, EPTF_OP_CLEAR_FLUSH_YOUNG, 0, 0, 0, 0, HVA(0x300), HVA(0x302), 0);
}

static void test_defect5_age_hva(void **state)
{
	struct sc s;
	struct eptf_metrics m;

	(void)state;
	expect_stale_only_seed(d5, 1, "aged");
	m = run("seed-v2", 1, d5, &s);
	assert_int_equal(m.list_hypercalls, 1); /* a list was sent, for the wrong addresses */
	assert_int_equal(m.full_flushes, 0);
	assert_int_equal(m.pages_flushed, 2 * 4096 + 1);
}

/* Defect 6: write-protecting a gfn under a 2 MiB SPTE flushes one 4 KiB page; the parent
 * backs at 4 KiB, so it holds the huge mapping as 4 KiB pieces and the others stay writable. */
static void d6(struct sc *s)
{
	sc_root_direct(s, 0, 0);
	sc_map(s, 0, 0x200, 2, RW);
	for (unsigned i = 0; i < 4; i++)
		sc_access(s, 0, 0x200 + 0x40 * i, RW);
	sc_ok(s, EPTF_OP_WP_GFN, 0, 0, 0, 0, 0x240, 0, 0);
}

static void test_defect6_wp_huge(void **state)
{
	(void)state;
	expect_stale_only_seed(d6, 1, "writable");
}

/* Defect 7: for an indirect page sp->gfn is the guest table's frame, not what the page maps. */
static void d7(struct sc *s)
{
	shadow_tables(s);
	sc_prepare_zap(s, GT1, 1, false);
	sc_commit(s);
}

static void test_defect7_indirect_gfn(void **state)
{
	(void)state;
	expect_stale_only_seed(d7, 1, "unmapped");
}

/* Defect 8: kvm_get_memslot() returns NULL for a bad id and the posted callers dereference it. */
static void d8(struct sc *s)
{
	sc_root_direct(s, 0, 0);
	sc_access(s, 0, 0x10, RW);
	sc_op(s, EPTF_OP_GET_DIRTY_LOG, 0, 42, 0, 0, 0, 0, 0);
	sc_op(s, EPTF_OP_CLEAR_DIRTY_LOG, 0, 1u << 16, 0, 0, 0, 0, 1);
	sc_access(s, 0, 0x11, RW); /* the replay goes on */
}

static void test_defect8_null_memslot(void **state)
{
	struct sc s;
	struct eptf_metrics m;

	(void)state;
	m = run("seed-v2", 1, d8, &s);
	assert_int_equal(m.errors, 2);
	assert_int_equal(m.ops, 6);
	assert_int_equal(m.stale_violations, 0);
	assert_string_equal(s.last_error, "clear_dirty_log: seed-v2 defect 8: kvm_get_memslot() returned NULL and "
					  "the posted code dereferences it (slot 0x10000)");
	m = run("list", 1, d8, &s);
	assert_int_equal(m.errors, 2);
	assert_null(strstr(s.last_error, "defect"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defect1_under_flush),
		cmocka_unit_test(test_defect2_empty_list),
		cmocka_unit_test(test_defect3_negative_offset),
		cmocka_unit_test(test_defect4_sync_leaf),
		cmocka_unit_test(test_defect5_age_hva),
		cmocka_unit_test(test_defect6_wp_huge),
		cmocka_unit_test(test_defect7_indirect_gfn),
		cmocka_unit_test(test_defect8_null_memslot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
