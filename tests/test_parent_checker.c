// SPDX-License-Identifier: BSD-2-Clause
/*
 * The stale-translation checker and the `ideal` oracle, over a fake L1
 * table (eptf_check_stale_xlate / eptf_ideal_flush_xlate; eptf_check_stale
 * is the same core over eptf_mmu_translate): finds exactly the stale
 * entries (frame change, lost write / execute, unmap, aged), none when
 * consistent, each once, only in the flush point's roots, at O(entries)
 * cost for huge items; the oracle drops exactly those.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/checker.h>
#include <eptflush/error.h>
#include <eptflush/parent.h>

/* The table this test always had: enough for its cases, small on the stack. */
#define PARENT_FAKE_MAPS 1024
#include "parent_fake.h"
#include "parent_test_util.h"

#define R1 0x10000ull
#define R2 0x20000ull

static struct eptf_parent *mk(struct fake *f, unsigned backing)
{
	struct eptf_parent_config cfg;
	struct eptf_parent *p;

	eptf_parent_config_default(&cfg);
	cfg.backing_level = backing;
	assert_int_equal(eptf_parent_create(&cfg, fake_xlate, f, &p), 0);
	return p;
}

/* Map pages [0, n) of @root as 4 KiB RWX leaves with frame 0x1000 + page, and touch them. */
static void populate(struct fake *f, struct eptf_parent *p, uint64_t root, uint64_t n)
{
	for (uint64_t a = 0; a < n; a++) {
		fake_map(f, root, a, 1, 0x1000 + a, true, true);
		assert_int_equal(eptf_parent_access(p, root, a, false, false), EPTF_ACCESS_EPT_VIOLATION);
	}
}

struct fp_buf {
	struct eptf_inval items[8];
	struct eptf_root_ref roots[4];
	struct eptf_flush_point fp;
};

static void fp_init(struct fp_buf *b, enum eptf_site site, uint64_t op)
{
	memset(b, 0, sizeof(*b));
	b->fp.site = site;
	b->fp.op_index = op;
	b->fp.items = b->items;
	b->fp.roots = b->roots;
}

static void fp_item(struct fp_buf *b, uint64_t addr, uint64_t pages, enum eptf_inv_change chg)
{
	b->items[b->fp.nitems++] = (struct eptf_inval){ .kind = EPTF_INV_SPTE, .change = (uint8_t)chg,
							.sp_level = 1, .direct = true, .leaf = true,
							.addr = addr, .pages = pages, .gfn = addr };
}

static void fp_root(struct fp_buf *b, uint64_t hpa)
{
	b->roots[b->fp.nroots++] = (struct eptf_root_ref){ .hpa = hpa, .direct = true };
}

struct got {
	struct eptf_violation v[64];
	size_t n;
};

static void on_v(void *ctx, const struct eptf_violation *v)
{
	struct got *g = ctx;

	assert_true(g->n < 64);
	g->v[g->n++] = *v;
}

static size_t check(struct fake *f, const struct eptf_parent *p, const struct fp_buf *b, struct got *g)
{
	memset(g, 0, sizeof(*g));
	return eptf_check_stale_xlate(fake_xlate, f, p, &b->fp, on_v, g);
}

/* A flush point of one item over one root: what most checks here ask about. */
static void fp_one(struct fp_buf *b, enum eptf_site site, uint64_t op, uint64_t addr,
		   uint64_t pages, enum eptf_inv_change chg, uint64_t root)
{
	fp_init(b, site, op);
	fp_item(b, addr, pages, chg);
	fp_root(b, root);
}

/* What every test starts from: a fake L1, a parent over it, a flush point and a sink. */
struct env {
	struct fake f;
	struct eptf_parent *p;
	struct fp_buf b;
	struct got g;
};

/* Set up @e with a parent backed at @backing; with @r1_pages, map and touch that many of R1. */
static void env_init(struct env *e, unsigned backing, uint64_t r1_pages)
{
	memset(e, 0, sizeof(*e));
	e->p = mk(&e->f, backing);
	populate(&e->f, e->p, R1, r1_pages);
}

/* Check @e's current flush point; the violations land in e->g. */
static size_t env_check(struct env *e)
{
	return check(&e->f, e->p, &e->b, &e->g);
}

static size_t entries(const struct eptf_parent *p)
{
	const struct eptf_parent_stats st = stats(p);

	return (size_t)(st.ept02_entries + st.tlb_entries);
}

static void test_consistent_is_clean(void **state)
{
	struct env e;

	(void)state;
	env_init(&e, 1, 10);
	fp_one(&e.b, EPTF_SITE_ZAP_RANGE, 7, 0, 512, EPTF_CHG_DROP, R1);
	assert_int_equal(env_check(&e), 0);
	assert_int_equal(e.g.n, 0);
	/* a read-only L1 page cached read-only and an L1 upgrade to RWX are both fine */
	e.f.m[2].w = false;
	assert_int_equal(env_check(&e), 2);
	{
		struct eptf_cached c = { .root_hpa = R1, .addr = 2, .level = 1, .in_tlb = false };

		eptf_parent_drop(e.p, &c);
		c.in_tlb = true;
		eptf_parent_drop(e.p, &c);
	}
	assert_int_equal(eptf_parent_access(e.p, R1, 2, false, false), EPTF_ACCESS_EPT_VIOLATION);
	assert_int_equal(env_check(&e), 0);
	e.f.m[2].w = true;
	assert_int_equal(env_check(&e), 0);
	eptf_parent_destroy(e.p);
}

/* One way L1 can change page 3 under a cached entry, and the reason the checker must give. */
struct kind_case {
	void (*mutate)(struct fmap *m);
	const char *why;
	bool mapped;
};

static void expect_one_kind(const struct kind_case *kc)
{
	struct env e;

	env_init(&e, 1, 10);
	kc->mutate(&e.f.m[3]);
	fp_one(&e.b, EPTF_SITE_SPTE_CHANGE, 99, 3, 1, EPTF_CHG_FRAME, R1);
	assert_int_equal(env_check(&e), 2);
	for (size_t i = 0; i < 2; i++) {
		const struct eptf_violation *v = &e.g.v[i];

		assert_string_equal(v->why, kc->why);
		assert_int_equal(v->op_index, 99);
		assert_int_equal(v->site, EPTF_SITE_SPTE_CHANGE);
		assert_int_equal(v->root_hpa, R1);
		assert_int_equal(v->cached.addr, 3);
		assert_int_equal(v->cached.frame, 0x1003);
		assert_int_equal(v->mapped, kc->mapped);
		if (kc->mapped)
			assert_int_equal(v->current.frame, e.f.m[3].frame);
	}
	assert_true(e.g.v[0].cached.in_tlb != e.g.v[1].cached.in_tlb);
	/* the same change seen through a wide item: the same two, nothing else */
	fp_one(&e.b, EPTF_SITE_ZAP_RANGE, 99, 0, 1ull << 36, EPTF_CHG_DROP, R1);
	assert_int_equal(env_check(&e), 2);
	eptf_parent_destroy(e.p);
}

static void mut_frame(struct fmap *m)
{
	m->frame = 0x8888;
}

static void mut_ro(struct fmap *m)
{
	m->w = false;
}

static void mut_nx(struct fmap *m)
{
	m->x = false;
}

static void mut_unmap(struct fmap *m)
{
	m->live = false;
}

static const struct kind_case kind_frame = { mut_frame, "frame", true };
static const struct kind_case kind_ro = { mut_ro, "writable", true };
static const struct kind_case kind_nx = { mut_nx, "executable", true };
static const struct kind_case kind_unmap = { mut_unmap, "unmapped", false };

static void test_frame_change(void **state)
{
	(void)state;
	expect_one_kind(&kind_frame);
}

static void test_write_loss(void **state)
{
	(void)state;
	expect_one_kind(&kind_ro);
}

static void test_exec_loss(void **state)
{
	(void)state;
	expect_one_kind(&kind_nx);
}

static void test_unmap(void **state)
{
	(void)state;
	expect_one_kind(&kind_unmap);
}

static void test_aged_and_dedupe(void **state)
{
	struct env e;

	(void)state;
	env_init(&e, 1, 10);
	/* [0,5) dropped-but-consistent, then [3,8) aged: pages 3..7 are stale, each entry once */
	fp_init(&e.b, EPTF_SITE_AGE, 1);
	fp_item(&e.b, 0, 5, EPTF_CHG_DROP);
	fp_item(&e.b, 3, 5, EPTF_CHG_AGED);
	fp_item(&e.b, 4, 2, EPTF_CHG_AGED);
	fp_root(&e.b, R1);
	assert_int_equal(env_check(&e), 10);
	for (size_t i = 0; i < e.g.n; i++) {
		assert_string_equal(e.g.v[i].why, "aged");
		assert_true(e.g.v[i].cached.addr >= 3 && e.g.v[i].cached.addr < 8);
		assert_true(e.g.v[i].mapped);
	}
	/* the other order: aged first */
	fp_init(&e.b, EPTF_SITE_AGE, 1);
	fp_item(&e.b, 3, 5, EPTF_CHG_AGED);
	fp_item(&e.b, 0, 5, EPTF_CHG_DROP);
	fp_root(&e.b, R1);
	assert_int_equal(env_check(&e), 10);
	/* a real change wins over "aged" for the reason */
	e.f.m[5].frame = 0x9999;
	assert_int_equal(env_check(&e), 10);
	for (size_t i = 0; i < e.g.n; i++)
		assert_string_equal(e.g.v[i].why, e.g.v[i].cached.addr == 5 ? "frame" : "aged");
	/* overlapping stale items count each entry once */
	fp_init(&e.b, EPTF_SITE_ZAP_RANGE, 1);
	fp_item(&e.b, 0, 10, EPTF_CHG_DROP);
	fp_item(&e.b, 5, 1, EPTF_CHG_DROP);
	fp_item(&e.b, 0, 512, EPTF_CHG_DROP);
	fp_root(&e.b, R1);
	assert_int_equal(env_check(&e), 2);
	eptf_parent_destroy(e.p);
}

static void test_only_listed_roots(void **state)
{
	struct env e;

	(void)state;
	env_init(&e, 1, 4);
	populate(&e.f, e.p, R2, 4);
	e.f.m[1].frame = 0x5555; /* R1 page 1 */
	e.f.m[5].frame = 0x5555; /* R2 page 1 */
	fp_one(&e.b, EPTF_SITE_ZAP_RANGE, 1, 0, 4, EPTF_CHG_DROP, R2);
	assert_int_equal(env_check(&e), 2);
	assert_int_equal(e.g.v[0].root_hpa, R2);
	assert_int_equal(e.g.v[0].cached.root_hpa, R2);
	fp_root(&e.b, R1);
	assert_int_equal(env_check(&e), 4);
	/* an item range that misses the change finds nothing */
	fp_one(&e.b, EPTF_SITE_ZAP_RANGE, 1, 2, 2, EPTF_CHG_DROP, R1);
	fp_root(&e.b, R2);
	assert_int_equal(env_check(&e), 0);
	assert_int_equal(eptf_check_stale_xlate(fake_xlate, &e.f, e.p, &e.b.fp, NULL, NULL), 0);
	eptf_parent_destroy(e.p);
}

/* A 2 MiB cached entry is judged against every L1 leaf under it. */
static void test_huge_entry_under_split(void **state)
{
	struct env e;
	struct fmap *big;

	(void)state;
	env_init(&e, 2, 0);
	big = fake_map(&e.f, R1, 512, 2, 0x40000, true, false);
	assert_int_equal(eptf_parent_access(e.p, R1, 700, false, false), EPTF_ACCESS_EPT_VIOLATION);
	fp_one(&e.b, EPTF_SITE_SPLIT, 3, 512, 512, EPTF_CHG_DROP, R1);
	e.f.calls = 0;
	assert_int_equal(env_check(&e), 0);
	assert_int_equal(e.f.calls, 2); /* one L1 leaf covers each of the two entries */
	/* L1 splits the huge page into 512 4 KiB leaves with the same frames: still clean */
	big->live = false;
	for (uint64_t i = 0; i < 512; i++)
		fake_map(&e.f, R1, 512 + i, 1, 0x40000 + i, true, false);
	assert_int_equal(env_check(&e), 0);
	/* ...one of them moves: both 2 MiB entries are stale */
	e.f.m[e.f.n - 1].frame = 1;
	assert_int_equal(env_check(&e), 2);
	assert_string_equal(e.g.v[0].why, "frame");
	assert_int_equal(e.g.v[0].cached.level, 2);
	assert_int_equal(e.g.v[0].current.frame, 1);
	/* a single-page item inside the huge entry finds it too */
	fp_one(&e.b, EPTF_SITE_SPTE_CHANGE, 3, 1023, 1, EPTF_CHG_FRAME, R1);
	assert_int_equal(env_check(&e), 2);
	eptf_parent_destroy(e.p);
}

/* A level-4 zap costs what is cached under it, not 512^4 pages. */
static void test_huge_item_cost(void **state)
{
	struct env e;

	(void)state;
	env_init(&e, 3, 0);
	fake_map(&e.f, R1, 0, 3, 0x100000, true, true);
	fake_map(&e.f, R1, 512ull * 512 * 7, 1, 0x77, true, true);
	assert_int_equal(eptf_parent_access(e.p, R1, 12345, false, false), EPTF_ACCESS_EPT_VIOLATION);
	assert_int_equal(eptf_parent_access(e.p, R1, 512ull * 512 * 7, false, false),
			 EPTF_ACCESS_EPT_VIOLATION);
	fp_init(&e.b, EPTF_SITE_COMMIT_ZAP, 3);
	e.b.items[0] = (struct eptf_inval){ .kind = EPTF_INV_SP, .change = EPTF_CHG_DROP, .sp_level = 4,
					    .direct = true, .addr = 0, .pages = 1ull << 36 };
	e.b.fp.nitems = 1;
	fp_root(&e.b, R1);
	e.f.calls = 0;
	assert_int_equal(env_check(&e), 0);
	assert_int_equal(e.f.calls, 4); /* 4 entries (2 EPT02 + 2 TLB), one L1 walk each */
	e.f.m[0].live = false;
	e.f.m[1].live = false;
	assert_int_equal(env_check(&e), 4);
	eptf_parent_destroy(e.p);
}

static void test_ideal_drops_exactly_stale(void **state)
{
	struct env e;
	struct eptf_ideal_counts ic;
	size_t before;

	(void)state;
	env_init(&e, 1, 10);
	populate(&e.f, e.p, R2, 10);
	before = entries(e.p);
	assert_int_equal(before, 40);
	e.f.m[2].w = false;        /* R1 page 2 */
	e.f.m[3].live = false;     /* R1 page 3 */
	e.f.m[10 + 7].frame = 0x1; /* R2 page 7 */
	fp_one(&e.b, EPTF_SITE_ZAP_RANGE, 1, 0, 10, EPTF_CHG_DROP, R1);
	fp_root(&e.b, R2);
	assert_int_equal(env_check(&e), 6);
	assert_int_equal(eptf_ideal_flush_xlate(fake_xlate, &e.f, e.p, &e.b.fp, &ic), 6);
	assert_int_equal(ic.roots, 2);
	assert_int_equal(ic.ept02_dropped, 3);
	assert_int_equal(ic.tlb_dropped, 3);
	assert_int_equal(ic.pages, 3);
	assert_int_equal(entries(e.p), before - 6);
	expect_stats(e.p, STAT(ept02_dropped, 3), STAT(tlb_dropped, 3), STAT(hypercalls, 0));
	/* nothing stale is left, and every other entry survived */
	assert_int_equal(env_check(&e), 0);
	expect_access_list(e.p, ACC(R1, 4, EPTF_ACCESS_TLB_HIT), ACC(R2, 6, EPTF_ACCESS_TLB_HIT),
			   ACC(R2, 7, EPTF_ACCESS_EPT_VIOLATION));
	/* a clean flush point: the oracle does nothing */
	assert_int_equal(eptf_ideal_flush_xlate(fake_xlate, &e.f, e.p, &e.b.fp, &ic), 0);
	assert_int_equal(ic.roots, 0);
	assert_int_equal(ic.pages, 0);
	eptf_parent_destroy(e.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_consistent_is_clean),
		cmocka_unit_test(test_frame_change),
		cmocka_unit_test(test_write_loss),
		cmocka_unit_test(test_exec_loss),
		cmocka_unit_test(test_unmap),
		cmocka_unit_test(test_aged_and_dedupe),
		cmocka_unit_test(test_only_listed_roots),
		cmocka_unit_test(test_huge_entry_under_split),
		cmocka_unit_test(test_huge_item_cost),
		cmocka_unit_test(test_ideal_drops_exactly_stale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
