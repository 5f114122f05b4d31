// SPDX-License-Identifier: BSD-2-Clause
/*
 * The parent and the checker over the real L1 model (eptf_mmu): the
 * parent fills from eptf_mmu_translate through eptf_parent_xlate_mmu, and
 * eptf_check_stale / eptf_ideal_flush judge real flush points: a zap, a
 * write-protect of a gfn under a huge SPTE (seed defect 6 reproduced by
 * flushing only one 4 KiB page), and clear_flush_young.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/checker.h>
#include <eptflush/error.h>
#include <eptflush/mmu.h>
#include <eptflush/parent.h>

#define HVA 0x40000000ull

struct env {
	struct eptf_mmu *mmu;
	struct eptf_parent *p;
	uint64_t root;
	uint64_t ops;
};

static int apply(struct env *e, struct eptf_op op, struct eptf_mmu_result *res)
{
	memset(res, 0, sizeof(*res));
	return eptf_mmu_apply(e->mmu, &op, e->ops++, res);
}

/* One vCPU on a direct root; memslot 0 = gfn [0, 4096) at HVA; gfns 0..15 mapped 4 KiB RWX,
 * gfn 512 mapped by a 2 MiB SPTE; the parent (4 KiB-backed) has touched 0..15 and 600, 601. */
static void setup(struct env *e, enum eptf_parent_vendor v)
{
	struct eptf_mmu_config mc = { .nr_vcpus = 1 };
	struct eptf_parent_config pc;
	struct eptf_mmu_result res;

	memset(e, 0, sizeof(*e));
	assert_int_equal(eptf_mmu_create(&mc, &e->mmu), 0);
	assert_int_equal(apply(e, (struct eptf_op){ .kind = EPTF_OP_SLOT_ADD, .slot = 0, .addr = 0,
						    .count = 4096, .value = HVA }, &res), 0);
	assert_int_equal(apply(e, (struct eptf_op){ .kind = EPTF_OP_ROOT_LOAD, .vcpu = 0,
						    .flags = EPTF_OPF_DIRECT, .addr = 0 }, &res), 0);
	e->root = res.loaded_root;
	assert_true(e->root != 0);
	assert_int_equal(eptf_mmu_vcpu_root(e->mmu, 0), e->root);
	for (uint64_t g = 0; g < 16; g++) {
		assert_int_equal(apply(e, (struct eptf_op){ .kind = EPTF_OP_MAP, .vcpu = 0, .addr = g,
							    .level = 1,
							    .flags = EPTF_OPF_WRITE | EPTF_OPF_EXEC }, &res), 0);
		assert_int_equal(res.fp.site, EPTF_SITE_NONE);
	}
	assert_int_equal(apply(e, (struct eptf_op){ .kind = EPTF_OP_MAP, .vcpu = 0, .addr = 512, .level = 2,
						    .flags = EPTF_OPF_WRITE | EPTF_OPF_EXEC }, &res), 0);
	eptf_parent_config_default(&pc);
	pc.vendor = v;
	assert_int_equal(eptf_parent_create(&pc, eptf_parent_xlate_mmu, e->mmu, &e->p), 0);
	for (uint64_t g = 0; g < 16; g++)
		assert_int_equal(eptf_parent_access(e->p, e->root, g, true, false), EPTF_ACCESS_EPT_VIOLATION);
	assert_int_equal(eptf_parent_access(e->p, e->root, 600, true, false), EPTF_ACCESS_EPT_VIOLATION);
	assert_int_equal(eptf_parent_access(e->p, e->root, 601, false, false), EPTF_ACCESS_EPT_VIOLATION);
}

static void teardown(struct env *e)
{
	eptf_parent_destroy(e->p);
	eptf_mmu_destroy(e->mmu);
}

struct got {
	const char *why[16];
	uint64_t addr[16];
	size_t n;
};

static void on_v(void *ctx, const struct eptf_violation *v)
{
	struct got *g = ctx;

	if (g->n < 16) {
		g->why[g->n] = v->why;
		g->addr[g->n] = v->cached.addr;
	}
	g->n++;
}

static void test_translate_feeds_parent(void **state)
{
	struct env e;
	struct eptf_xlate x;
	struct eptf_parent_stats st;

	(void)state;
	setup(&e, EPTF_PARENT_INTEL);
	assert_int_equal(eptf_mmu_translate(e.mmu, e.root, 600, &x), 0);
	assert_int_equal(x.level, 2);
	assert_int_equal(eptf_parent_xlate_mmu(e.mmu, e.root, 4000, &x), EPTF_ENOENT);
	assert_int_equal(eptf_parent_access(e.p, e.root, 4000, false, false), EPTF_ACCESS_UNMAPPED);
	eptf_parent_get_stats(e.p, &st);
	/* 18 4 KiB entries: the 2 MiB SPTE was splintered by the 4 KiB-backed parent */
	assert_int_equal(st.ept02_entries, 18);
	assert_int_equal(st.ept_violations, 18);
	teardown(&e);
}

static void test_zap_found_then_ideal_clears(void **state)
{
	struct env e;
	struct eptf_mmu_result res;
	struct eptf_ideal_counts ic;
	struct got g = { .n = 0 };

	(void)state;
	setup(&e, EPTF_PARENT_INTEL);
	assert_int_equal(apply(&e, (struct eptf_op){ .kind = EPTF_OP_ZAP_RANGE, .addr = 5, .count = 2 }, &res), 0);
	assert_int_equal(res.fp.site, EPTF_SITE_ZAP_RANGE);
	assert_true(res.fp.nitems > 0);
	assert_int_equal(eptf_check_stale(e.mmu, e.p, &res.fp, on_v, &g), 4);
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(g.why[i], "unmapped");
		assert_true(g.addr[i] == 5 || g.addr[i] == 6);
	}
	assert_int_equal(eptf_ideal_flush(e.mmu, e.p, &res.fp, &ic), 4);
	assert_int_equal(ic.roots, 1);
	assert_int_equal(ic.pages, 2);
	assert_int_equal(eptf_check_stale(e.mmu, e.p, &res.fp, NULL, NULL), 0);
	eptf_mmu_finish(e.mmu);
	/* the neighbours are still cached */
	assert_int_equal(eptf_parent_access(e.p, e.root, 7, false, false), EPTF_ACCESS_TLB_HIT);
	teardown(&e);
}

/* Seed defect 6: write-protecting a gfn under a huge SPTE must flush the whole huge range. */
static void test_wp_gfn_under_huge(void **state)
{
	struct env e;
	struct eptf_mmu_result res;
	struct got g = { .n = 0 };
	size_t n;

	(void)state;
	setup(&e, EPTF_PARENT_AMD);
	/* the read access cached 601 with the huge SPTE's rights: writable */
	assert_int_equal(apply(&e, (struct eptf_op){ .kind = EPTF_OP_WP_GFN, .addr = 600 }, &res), 0);
	assert_int_equal(res.fp.site, EPTF_SITE_WP_GFN);
	n = eptf_check_stale(e.mmu, e.p, &res.fp, on_v, &g);
	assert_int_equal(n, 4); /* EPT02 and TLB entries of 600 and 601, all cached writable */
	/*
	 * Flushing just gfn 600 (what the seed does) leaves gfn 601's splinters: they were cached
	 * writable from the huge SPTE, which L1 no longer grants writable (or no longer has).
	 */
	eptf_parent_drop_range(e.p, e.root, 600, 1);
	memset(&g, 0, sizeof(g));
	assert_int_equal(eptf_check_stale(e.mmu, e.p, &res.fp, on_v, &g), 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(g.addr[i], 601);
		assert_true(strcmp(g.why[i], "writable") == 0 || strcmp(g.why[i], "unmapped") == 0);
	}
	/* flushing the huge range leaves nothing */
	eptf_parent_drop_range(e.p, e.root, 512, 512);
	assert_int_equal(eptf_check_stale(e.mmu, e.p, &res.fp, NULL, NULL), 0);
	eptf_mmu_finish(e.mmu);
	teardown(&e);
}

static void test_clear_flush_young_is_aged(void **state)
{
	struct env e;
	struct eptf_mmu_result res;
	struct got g = { .n = 0 };

	(void)state;
	setup(&e, EPTF_PARENT_INTEL);
	/* gfns 2 and 3 */
	assert_int_equal(apply(&e, (struct eptf_op){ .kind = EPTF_OP_CLEAR_FLUSH_YOUNG, .addr = HVA + 2 * 4096,
						     .count = HVA + 4 * 4096 }, &res), 0);
	assert_int_equal(res.young, 2);
	assert_int_equal(res.fp.site, EPTF_SITE_AGE);
	assert_int_equal(eptf_check_stale(e.mmu, e.p, &res.fp, on_v, &g), 4);
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(g.why[i], "aged");
		assert_true(g.addr[i] == 2 || g.addr[i] == 3);
	}
	eptf_parent_drop_range(e.p, e.root, 2, 2);
	assert_int_equal(eptf_check_stale(e.mmu, e.p, &res.fp, NULL, NULL), 0);
	eptf_mmu_finish(e.mmu);
	teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translate_feeds_parent),
		cmocka_unit_test(test_zap_found_then_ideal_clears),
		cmocka_unit_test(test_wp_gfn_under_huge),
		cmocka_unit_test(test_clear_flush_young_is_aged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
