/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests of every strategy on hand-made flush points, through a fake
 * transport that records each control word and input page; entries are
 * decoded with eptf_hv_entry_decode and compared with what the strategy
 * must send (seed-series.md, DESIGN.md section 3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/flush.h>

#include "flush/internal.h"

/* ---- fake transport ------------------------------------------------------ */

struct call {
	struct eptf_hv_control c;
	uint64_t address_space, flags;
	uint16_t n; /* entries present in the input */
	uint64_t e[EPTF_HV_MAX_FLUSH_REP_COUNT];
};

#define MAX_CALLS 64

static struct fake {
	struct call calls[MAX_CALLS];
	size_t n;
	size_t fail_call;    /* 1-based index of the issue to fail (0: none) */
	uint16_t fail_status;
	uint16_t partial;    /* a list issue completes at most this many reps (0: all) */
} fk;

static char last_error[256];
static unsigned nerrors;

static uint64_t fake_hypercall(void *ctx, uint64_t control, const void *input, size_t len)
{
	struct call *c;
	uint64_t words[2 + EPTF_HV_MAX_FLUSH_REP_COUNT];
	size_t nw = len / 8;
	uint16_t done;

	(void)ctx;
	assert_true(fk.n < MAX_CALLS);
	assert_true(len >= 16 && len % 8 == 0 && nw <= 2 + EPTF_HV_MAX_FLUSH_REP_COUNT);
	memcpy(words, input, len);
	c = &fk.calls[fk.n++];
	eptf_hv_control_parse(control, &c->c);
	c->address_space = words[0];
	c->flags = words[1];
	c->n = (uint16_t)(nw - 2);
	memcpy(c->e, words + 2, (nw - 2) * 8);
	if (fk.fail_call && fk.n == fk.fail_call)
		return eptf_hv_result_build(fk.fail_status, c->c.rep_start);
	done = c->c.rep_count;
	if (c->c.code == EPTF_HVCALL_FLUSH_GPA_LIST && fk.partial &&
	    (uint16_t)(done - c->c.rep_start) > fk.partial)
		done = (uint16_t)(c->c.rep_start + fk.partial);
	return eptf_hv_result_build(EPTF_HV_STATUS_SUCCESS, done);
}

static void on_error(void *ctx, uint64_t op, const char *msg)
{
	(void)ctx;
	(void)op;
	nerrors++;
	snprintf(last_error, sizeof(last_error), "%s", msg);
}

static struct eptf_cost_model cost = {
	.hypercall = 1000, .list_entry = 10, .full_flush = 5000, .ept_violation = 2000,
	.tlb_miss_walk = 100, .entry_drop = 5,
};

static void ctx_init(struct eptf_flush_ctx *ctx, const struct eptf_strategy *s)
{
	memset(&fk, 0, sizeof(fk));
	memset(ctx, 0, sizeof(*ctx));
	last_error[0] = 0;
	nerrors = 0;
	ctx->hv.hypercall = fake_hypercall;
	ctx->cost = &cost;
	ctx->error = on_error;
	if (s->init)
		assert_int_equal(s->init(ctx), 0);
}

static void ctx_fini(struct eptf_flush_ctx *ctx, const struct eptf_strategy *s)
{
	if (s->fini)
		s->fini(ctx);
}

static const struct eptf_strategy *S(const char *name)
{
	const struct eptf_strategy *s = eptf_strategy_find(name);

	assert_non_null(s);
	return s;
}

/* ---- flush points --------------------------------------------------------- */

#define MAX_ITEMS 600
static struct eptf_inval items[MAX_ITEMS];
static struct eptf_root_ref roots[4];

static struct eptf_flush_point fp_new(enum eptf_site site, size_t nitems, size_t nroots, bool direct)
{
	struct eptf_flush_point fp = {
		.site = site, .op_index = 7, .items = items, .nitems = nitems,
		.roots = roots, .nroots = nroots,
	};

	for (size_t i = 0; i < nroots; i++) {
		roots[i].hpa = 0x100000ull * (i + 1);
		roots[i].direct = direct;
	}
	return fp;
}

static struct eptf_inval sp_item(unsigned level, uint64_t base, bool direct, uint64_t guest_gfn, bool last)
{
	struct eptf_inval it = {
		.kind = EPTF_INV_SP, .change = EPTF_CHG_DROP, .sp_level = (uint8_t)level,
		.direct = direct, .last_level = last,
		.sp_gfn = direct ? base : guest_gfn, .sp_base = base, .addr = base,
		.pages = EPTF_PAGES_PER_LEVEL(level + 1),
	};
	return it;
}

/* An SPTE at @level (so mapping 512^(level-1) pages) at input page @addr. */
static struct eptf_inval spte_item(unsigned level, uint64_t addr, bool leaf, uint8_t change)
{
	uint64_t pages = EPTF_PAGES_PER_LEVEL(level);
	struct eptf_inval it = {
		.kind = EPTF_INV_SPTE, .change = change, .sp_level = (uint8_t)level, .direct = true,
		.leaf = leaf, .huge = leaf && level > 1,
		.index = (uint16_t)((addr / pages) % 512),
		.sp_gfn = addr & ~(pages * 512 - 1), .sp_base = addr & ~(pages * 512 - 1),
		.addr = addr & ~(pages - 1), .pages = pages, .gfn = addr & ~(pages - 1),
	};
	return it;
}

/* Decode entry @i of call @c and compare with [gfn, gfn + pages) in @unit. */
static void assert_entry(const struct call *c, size_t i, uint64_t gfn, uint64_t pages, enum eptf_hv_unit unit)
{
	struct eptf_hv_entry e;

	assert_true(i < c->n);
	assert_int_equal(eptf_hv_entry_decode(c->e[i], &e), 0);
	assert_int_equal(e.gfn, gfn);
	assert_int_equal(e.pages, pages);
	assert_int_equal(e.unit, unit);
}

/* Entry @i of @c covers [gfn, gfn + pages) in a large unit (2 MiB or 1 GiB: the builder's choice). */
static void assert_large_entry(const struct call *c, size_t i, uint64_t gfn, uint64_t pages)
{
	struct eptf_hv_entry e;

	assert_true(i < c->n);
	assert_int_equal(eptf_hv_entry_decode(c->e[i], &e), 0);
	assert_int_equal(e.gfn, gfn);
	assert_int_equal(e.pages, pages);
	assert_int_not_equal(e.unit, EPTF_HV_UNIT_4K);
}

static void assert_list_call(const struct call *c, uint64_t as, uint16_t count)
{
	assert_int_equal(c->c.code, EPTF_HVCALL_FLUSH_GPA_LIST);
	assert_int_equal(c->c.rep_count, count);
	assert_int_equal(c->c.rep_start, 0);
	assert_false(c->c.fast);
	assert_int_equal(c->c.varhead_size, 0);
	assert_int_equal(c->address_space, as);
	assert_int_equal(c->flags, 0);
	assert_int_equal(c->n, count);
}

static void assert_full_call(const struct call *c, uint64_t as)
{
	assert_int_equal(c->c.code, EPTF_HVCALL_FLUSH_GPA_SPACE);
	assert_int_equal(c->c.rep_count, 0);
	assert_int_equal(c->address_space, as);
	assert_int_equal(c->flags, 0);
}

/* Flush @fp through @s: it must succeed and issue exactly @ncalls hypercalls. */
static void flush_expect(const struct eptf_strategy *s, struct eptf_flush_ctx *ctx,
			 struct eptf_flush_point *fp, size_t ncalls)
{
	assert_int_equal(s->flush(ctx, fp), 0);
	assert_int_equal(fk.n, ncalls);
}

/* ... and that one call is a full flush of root 0. */
static void flush_expect_full(const struct eptf_strategy *s, struct eptf_flush_ctx *ctx,
			      struct eptf_flush_point *fp)
{
	flush_expect(s, ctx, fp, 1);
	assert_full_call(&fk.calls[0], roots[0].hpa);
}

/* ... and that one call is a list of @count entries for root 0. */
static void flush_expect_list(const struct eptf_strategy *s, struct eptf_flush_ctx *ctx,
			      struct eptf_flush_point *fp, uint16_t count)
{
	flush_expect(s, ctx, fp, 1);
	assert_list_call(&fk.calls[0], roots[0].hpa, count);
}

/* ---- registry ------------------------------------------------------------------ */

static void test_registry(void **state)
{
	static const char *const order[] = { "full", "mainline", "seed-v2", "list", "list-merge", "adaptive" };
	size_t i;

	(void)state;
	for (i = 0; eptf_strategies[i]; i++) {
		assert_true(i < 6);
		assert_string_equal(eptf_strategies[i]->name, order[i]);
		assert_non_null(eptf_strategies[i]->summary);
		assert_non_null(eptf_strategies[i]->flush);
		assert_int_equal(eptf_strategies[i]->correct, strcmp(order[i], "seed-v2") != 0);
		assert_ptr_equal(eptf_strategy_find(order[i]), eptf_strategies[i]);
	}
	assert_int_equal(i, 6);
	assert_null(eptf_strategy_find("ideal"));
	assert_null(eptf_strategy_find("nope"));
	assert_null(eptf_strategy_find(NULL));
}

/* ---- exact ranges ------------------------------------------------------------- */

static void test_exact_ranges(void **state)
{
	struct eptf_hv_range r[2];
	struct eptf_flush_point fp;

	(void)state;
	items[0] = sp_item(1, 0x200, true, 0, true);         /* 512 pages */
	items[1] = sp_item(2, 0x40000, false, 0x1234, false); /* indirect: base, never sp_gfn */
	items[2] = spte_item(2, 0x80123, true, EPTF_CHG_WRPROT); /* a 2 MiB SPTE: whole range */
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 3, 1, true);
	assert_int_equal(eptf_flush_exact_ranges(&fp, r, 2), 3); /* more than cap: the count */
	assert_int_equal(r[0].gfn, 0x200);
	assert_int_equal(r[0].pages, 512);
	assert_int_equal(r[1].gfn, 0x40000);
	assert_int_equal(r[1].pages, 512 * 512);
	{
		struct eptf_hv_range all[3];

		assert_int_equal(eptf_flush_exact_ranges(&fp, all, 3), 3);
		assert_int_equal(all[2].gfn, 0x80000);
		assert_int_equal(all[2].pages, 512);
	}
}

/* ---- full --------------------------------------------------------------------- */

static void test_full(void **state)
{
	const struct eptf_strategy *s = S("full");
	struct eptf_flush_ctx ctx;
	struct eptf_flush_point fp;

	(void)state;
	ctx_init(&ctx, s);
	items[0] = sp_item(1, 0, true, 0, true);
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 1, 3, true);
	flush_expect(s, &ctx, &fp, 3);
	for (size_t i = 0; i < 3; i++)
		assert_full_call(&fk.calls[i], roots[i].hpa);
	assert_int_equal(ctx.stats.flush_points, 1);
	assert_int_equal(ctx.stats.hypercalls, 3);
	assert_int_equal(ctx.stats.full_flushes, 3);
	assert_int_equal(ctx.stats.list_hypercalls, 0);
	ctx_fini(&ctx, s);
}

/* ---- mainline ----------------------------------------------------------------- */

static void test_mainline_zap_range(void **state)
{
	const struct eptf_strategy *s = S("mainline");
	struct eptf_flush_ctx ctx;
	struct eptf_flush_point fp;

	(void)state;
	ctx_init(&ctx, s);
	items[0] = spte_item(1, 0x1003, true, EPTF_CHG_DROP);
	fp = fp_new(EPTF_SITE_ZAP_RANGE, 1, 2, true);
	fp.range_gfn = 0x1000;
	fp.range_pages = 0x10;
	flush_expect(s, &ctx, &fp, 2); /* one call per root */
	for (size_t i = 0; i < 2; i++) {
		assert_list_call(&fk.calls[i], roots[i].hpa, 1);
		assert_entry(&fk.calls[i], 0, 0x1000, 0x10, EPTF_HV_UNIT_4K);
	}
	assert_int_equal(ctx.stats.list_hypercalls, 2);
	assert_int_equal(ctx.stats.list_entries, 2);
	assert_int_equal(ctx.stats.pages_flushed, 0x20);
	assert_int_equal(ctx.stats.full_flushes, 0);

	/* a dropped 2 MiB SPTE straddling the request widens the range to cover it */
	ctx_init(&ctx, s);
	items[0] = spte_item(2, 0x2000, true, EPTF_CHG_DROP);
	fp = fp_new(EPTF_SITE_ZAP_RANGE, 1, 1, true);
	fp.range_gfn = 0x2100;
	fp.range_pages = 0x200;
	flush_expect(s, &ctx, &fp, 1);
	assert_entry(&fk.calls[0], 0, 0x2000, 0x300, EPTF_HV_UNIT_4K);

	/* rule 6: an indirect root gets a full flush */
	ctx_init(&ctx, s);
	items[0] = spte_item(1, 0x1003, true, EPTF_CHG_DROP);
	fp = fp_new(EPTF_SITE_ZAP_RANGE, 1, 2, true);
	fp.range_gfn = 0x1000;
	fp.range_pages = 0x10;
	roots[1].direct = false;
	flush_expect(s, &ctx, &fp, 2);
	assert_full_call(&fk.calls[0], roots[0].hpa);
	assert_full_call(&fk.calls[1], roots[1].hpa);
	assert_int_equal(ctx.stats.fallbacks, 0); /* by design, not a degraded range */
	ctx_fini(&ctx, s);
}

static void test_mainline_memslot(void **state)
{
	const struct eptf_strategy *s = S("mainline");
	struct eptf_flush_ctx ctx;
	struct eptf_flush_point fp;

	(void)state;
	ctx_init(&ctx, s);
	items[0] = spte_item(1, 0x10005, true, EPTF_CHG_WRPROT);
	fp = fp_new(EPTF_SITE_DIRTY_LOG, 1, 1, true);
	fp.slot_base_gfn = 0x10000;
	fp.slot_npages = 5000;
	flush_expect_list(s, &ctx, &fp, 3);
	assert_entry(&fk.calls[0], 0, 0x10000, 2048, EPTF_HV_UNIT_4K);
	assert_entry(&fk.calls[0], 1, 0x10000 + 2048, 2048, EPTF_HV_UNIT_4K);
	assert_entry(&fk.calls[0], 2, 0x10000 + 4096, 5000 - 4096, EPTF_HV_UNIT_4K);

	/* a memslot needing more than 510 entries: -ENOSPC -> full (rule 1) */
	ctx_init(&ctx, s);
	fp.site = EPTF_SITE_WP_SLOT;
	fp.slot_npages = 511ull * 2048;
	flush_expect_full(s, &ctx, &fp);
	assert_int_equal(ctx.stats.fallbacks, 1);
	ctx_fini(&ctx, s);
}

static void test_mainline_split_and_full_sites(void **state)
{
	const struct eptf_strategy *s = S("mainline");
	struct eptf_flush_ctx ctx;
	struct eptf_flush_point fp;
	static const enum eptf_site full_sites[] = {
		EPTF_SITE_COMMIT_ZAP, EPTF_SITE_SYNC_PAGE, EPTF_SITE_WP_GFN, EPTF_SITE_AGE,
		EPTF_SITE_UNMAP, EPTF_SITE_PTE_WRITE,
	};

	(void)state;
	ctx_init(&ctx, s);
	items[0] = spte_item(2, 0x400, true, EPTF_CHG_DROP);
	items[1] = spte_item(3, 0x80000, true, EPTF_CHG_DROP);
	fp = fp_new(EPTF_SITE_SPLIT, 2, 1, true);
	flush_expect(s, &ctx, &fp, 2); /* one range per call */
	assert_list_call(&fk.calls[0], roots[0].hpa, 1);
	assert_entry(&fk.calls[0], 0, 0x400, 512, EPTF_HV_UNIT_4K);
	assert_list_call(&fk.calls[1], roots[0].hpa, 128); /* 1 GiB = 128 entries of 2048 */
	assert_entry(&fk.calls[1], 127, 0x80000 + 127 * 2048, 2048, EPTF_HV_UNIT_4K);

	for (size_t i = 0; i < sizeof(full_sites) / sizeof(full_sites[0]); i++) {
		ctx_init(&ctx, s);
		items[0] = spte_item(1, 0x400, true, EPTF_CHG_WRPROT);
		fp = fp_new(full_sites[i], 1, 2, true);
		fp.gfn = 0x400;
		flush_expect(s, &ctx, &fp, 2);
		assert_full_call(&fk.calls[0], roots[0].hpa);
		assert_full_call(&fk.calls[1], roots[1].hpa);
	}
	ctx_fini(&ctx, s);
}

/* ---- seed-v2 ------------------------------------------------------------------ */

static void test_seed_commit_zap(void **state)
{
	const struct eptf_strategy *s = S("seed-v2");
	struct eptf_flush_ctx ctx;
	struct eptf_flush_point fp;

	(void)state;
	/* defect 1: KVM_PAGES_PER_HPAGE(level) = 1 page for a level-1 sp; defect 7: sp_gfn */
	ctx_init(&ctx, s);
	items[0] = sp_item(1, 0x200, true, 0, true);
	items[1] = sp_item(1, 0x600, true, 0, false); /* not last_level: left off */
	items[2] = sp_item(2, 0x40000, false, 0x1234, true);
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 3, 2, true);
	flush_expect(s, &ctx, &fp, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_list_call(&fk.calls[i], roots[i].hpa, 2);
		assert_entry(&fk.calls[i], 0, 0x200, 1, EPTF_HV_UNIT_4K);
		assert_entry(&fk.calls[i], 1, 0x1234, 512, EPTF_HV_UNIT_4K);
	}

	/* defect 2: nothing qualifies -> no flush at all */
	ctx_init(&ctx, s);
	items[0] = sp_item(2, 0, true, 0, false);
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 1, 1, true);
	flush_expect(s, &ctx, &fp, 0);
	assert_int_equal(ctx.stats.skipped, 1);
	assert_int_equal(ctx.stats.hypercalls, 0);
	ctx_fini(&ctx, s);
}

static void test_seed_defect3(void **state)
{
	const struct eptf_strategy *s = S("seed-v2");
	struct eptf_flush_ctx ctx;
	struct eptf_flush_point fp;

	(void)state;
	ctx_init(&ctx, s);
	for (size_t i = 0; i < 520; i++)
		items[i] = sp_item(1, 512 * i, true, 0, true);
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 520, 1, true);
	flush_expect_full(s, &ctx, &fp);
	assert_int_equal(ctx.stats.errors, 1);
	assert_int_equal(ctx.stats.fallbacks, 1);
	assert_int_equal(nerrors, 1);
	assert_string_equal(last_error, "seed-v2 defect 3: filler called with negative offset after -ENOSPC");

	/* exactly overflowing on the last page is plain -ENOSPC: a fallback, no defect */
	ctx_init(&ctx, s);
	fp.nitems = 511;
	flush_expect_full(s, &ctx, &fp);
	assert_int_equal(ctx.stats.errors, 0);
	assert_int_equal(ctx.stats.fallbacks, 1);
	ctx_fini(&ctx, s);
}

/* ---- one flush point on one root, as a table ----------------------------- */

/*
 * A flush point on one root and what a strategy must send for it: one full
 * flush, one list call of @list entries, or (neither) no call at all.
 * Entries with pages == 0 are not checked.
 */
struct site_case {
	const char *what;
	struct eptf_inval items[2];
	size_t nitems;
	enum eptf_site site;
	bool direct;
	uint64_t gfn, slot_base_gfn, slot_npages, hva_start, hva_end;
	bool full;
	uint16_t list;
	struct { size_t i; uint64_t gfn, pages; } e[2];
	uint64_t skipped;
};

static void check_site_cases(const struct eptf_strategy *s, const struct site_case *c, size_t n)
{
	for (; n; n--, c++) {
		struct eptf_flush_ctx ctx;
		struct eptf_flush_point fp;

		/* cmocka reports only the line of a failed check: name the case first */
		print_message("%s: %s\n", s->name, c->what);
		ctx_init(&ctx, s);
		memcpy(items, c->items, c->nitems * sizeof(items[0]));
		fp = fp_new(c->site, c->nitems, 1, c->direct);
		fp.gfn = c->gfn;
		fp.slot_base_gfn = c->slot_base_gfn;
		fp.slot_npages = c->slot_npages;
		fp.hva_start = c->hva_start;
		fp.hva_end = c->hva_end;
		if (c->full)
			flush_expect_full(s, &ctx, &fp);
		else if (c->list)
			flush_expect_list(s, &ctx, &fp, c->list);
		else
			flush_expect(s, &ctx, &fp, 0);
		for (size_t j = 0; j < 2 && c->e[j].pages; j++)
			assert_entry(&fk.calls[0], c->e[j].i, c->e[j].gfn, c->e[j].pages, EPTF_HV_UNIT_4K);
		assert_int_equal(ctx.stats.skipped, c->skipped);
		ctx_fini(&ctx, s);
	}
}

static void test_seed_sites(void **state)
{
	const struct site_case cases[] = {
		/* defect 4: leaf SPTEs contribute nothing; a link SPTE its child's range */
		{ .what = "sync, leaf only", .nitems = 1, .site = EPTF_SITE_SYNC_PAGE,
		  .items = { spte_item(1, 0x10, true, EPTF_CHG_WRPROT) }, .skipped = 1 },
		{ .what = "sync, leaf and link", .nitems = 2, .site = EPTF_SITE_SYNC_PAGE,
		  .items = { spte_item(1, 0x10, true, EPTF_CHG_WRPROT),
			     spte_item(2, 0x400, false, EPTF_CHG_DROP) },
		  .list = 1, .e = { { 0, 0x400, 512 } } },
		/* P6, defect 6: one page for a huge SPTE */
		{ .what = "wp_gfn, huge SPTE", .nitems = 1, .site = EPTF_SITE_WP_GFN, .direct = true,
		  .items = { spte_item(2, 0x1234, true, EPTF_CHG_WRPROT) }, .gfn = 0x1234,
		  .list = 1, .e = { { 0, 0x1234, 1 } } },
		/* P8: the memslot range */
		{ .what = "dirty log", .nitems = 1, .site = EPTF_SITE_DIRTY_LOG, .direct = true,
		  .items = { spte_item(1, 0x8001, true, EPTF_CHG_WRPROT) },
		  .slot_base_gfn = 0x8000, .slot_npages = 100, .list = 1, .e = { { 0, 0x8000, 100 } } },
		/* P10, defect 5: host virtual addresses as gfn and page count (4097 "pages") */
		{ .what = "age, hva range", .nitems = 1, .site = EPTF_SITE_AGE, .direct = true,
		  .items = { spte_item(1, 0x8001, true, EPTF_CHG_AGED) },
		  .hva_start = 0x100000, .hva_end = 0x101000,
		  .list = 3, .e = { { 0, 0x100000, 2048 }, { 2, 0x100000 + 4096, 1 } } },
		/* others: full, as the v5.0 baseline */
		{ .what = "unmap", .nitems = 1, .site = EPTF_SITE_UNMAP, .direct = true,
		  .items = { spte_item(1, 0x8001, true, EPTF_CHG_AGED) }, .full = true },
	};

	(void)state;
	check_site_cases(S("seed-v2"), cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- list ---------------------------------------------------------------------- */

static void test_list_commit(void **state)
{
	const struct eptf_strategy *s = S("list");
	struct eptf_flush_ctx ctx;
	struct eptf_flush_point fp;

	(void)state;
	/* P2/P4: three leaf pages, one call, three entries (corrected ranges) */
	ctx_init(&ctx, s);
	items[0] = sp_item(1, 0x200, true, 0, true);
	items[1] = sp_item(1, 0x1000, true, 0, false);
	items[2] = sp_item(1, 0x40000, false, 0x777, true); /* indirect: its base */
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 3, 2, true);
	flush_expect(s, &ctx, &fp, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_list_call(&fk.calls[i], roots[i].hpa, 3);
		assert_entry(&fk.calls[i], 0, 0x200, 512, EPTF_HV_UNIT_4K);
		assert_entry(&fk.calls[i], 1, 0x1000, 512, EPTF_HV_UNIT_4K);
		assert_entry(&fk.calls[i], 2, 0x40000, 512, EPTF_HV_UNIT_4K);
	}
	assert_int_equal(ctx.stats.hypercalls, 2);
	assert_int_equal(ctx.stats.list_entries, 6);
	assert_int_equal(ctx.stats.pages_flushed, 2 * 3 * 512);

	/* four level-2 pages: 4 * 128 = 512 entries > 510 -> full */
	ctx_init(&ctx, s);
	for (size_t i = 0; i < 4; i++)
		items[i] = sp_item(2, (uint64_t)i << 20, true, 0, true);
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 4, 1, true);
	flush_expect_full(s, &ctx, &fp);
	assert_int_equal(ctx.stats.fallbacks, 1);
	assert_int_equal(ctx.stats.errors, 0);
	ctx_fini(&ctx, s);
}

static void test_list_sites(void **state)
{
	const struct eptf_inval dirty[2] = {
		spte_item(1, 0x8001, true, EPTF_CHG_WRPROT), spte_item(1, 0x8003, true, EPTF_CHG_WRPROT),
	};
	const struct site_case cases[] = {
		/* sync: leaf SPTEs are flushed (defect 4 fixed) */
		{ .what = "sync, leaves", .nitems = 2, .site = EPTF_SITE_SYNC_PAGE,
		  .items = { spte_item(1, 0x10, true, EPTF_CHG_WRPROT),
			     spte_item(1, 0x30, true, EPTF_CHG_DROP) },
		  .list = 2, .e = { { 0, 0x10, 1 }, { 1, 0x30, 1 } } },
		/* wp_gfn on a huge SPTE: the whole 2 MiB (defect 6 fixed) */
		{ .what = "wp_gfn, huge SPTE", .nitems = 1, .site = EPTF_SITE_WP_GFN, .direct = true,
		  .items = { spte_item(2, 0x1234, true, EPTF_CHG_WRPROT) }, .gfn = 0x1234,
		  .list = 1, .e = { { 0, 0x1200, 512 } } },
		/* dirty log, direct roots: the memslot range when it needs no more entries */
		{ .what = "dirty log, small slot", .nitems = 2, .site = EPTF_SITE_DIRTY_LOG, .direct = true,
		  .items = { dirty[0], dirty[1] }, .slot_base_gfn = 0x8000, .slot_npages = 100,
		  .list = 1, .e = { { 0, 0x8000, 100 } } },
		/* ... but the exact SPTEs when the slot would need more entries */
		{ .what = "dirty log, large slot", .nitems = 2, .site = EPTF_SITE_DIRTY_LOG, .direct = true,
		  .items = { dirty[0], dirty[1] }, .slot_base_gfn = 0x8000, .slot_npages = 3 * 2048,
		  .list = 2, .e = { { 0, 0x8001, 1 } } },
		/* ... and always the exact SPTEs with an indirect root */
		{ .what = "dirty log, indirect root", .nitems = 2, .site = EPTF_SITE_DIRTY_LOG,
		  .items = { dirty[0], dirty[1] }, .slot_base_gfn = 0x8000, .slot_npages = 100,
		  .list = 2 },
	};

	(void)state;
	check_site_cases(S("list"), cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_list_failed_call(void **state)
{
	const struct eptf_strategy *s = S("list");
	struct eptf_flush_ctx ctx;
	struct eptf_flush_point fp;

	(void)state;
	ctx_init(&ctx, s);
	fk.fail_call = 1;
	fk.fail_status = EPTF_HV_STATUS_INVALID_PARAMETER;
	items[0] = sp_item(1, 0x200, true, 0, true);
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 1, 2, true);
	assert_int_equal(s->flush(&ctx, &fp), 0);
	/* root 0: failed list then full; root 1: list */
	assert_int_equal(fk.n, 3);
	assert_list_call(&fk.calls[0], roots[0].hpa, 1);
	assert_full_call(&fk.calls[1], roots[0].hpa);
	assert_list_call(&fk.calls[2], roots[1].hpa, 1);
	assert_int_equal(ctx.stats.errors, 1);
	assert_int_equal(ctx.stats.fallbacks, 1);
	assert_int_equal(ctx.stats.hypercalls, 3);
	assert_int_equal(nerrors, 1);
	assert_non_null(strstr(last_error, "full flush instead"));

	/* a rep call the parent splits counts every issue */
	ctx_init(&ctx, s);
	fk.partial = 2;
	for (size_t i = 0; i < 5; i++)
		items[i] = sp_item(1, 0x10000 * i, true, 0, true);
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 5, 1, true);
	flush_expect(s, &ctx, &fp, 3);
	assert_int_equal(fk.calls[1].c.rep_start, 2);
	assert_int_equal(fk.calls[2].c.rep_start, 4);
	assert_int_equal(ctx.stats.hypercalls, 3);
	assert_int_equal(ctx.stats.list_hypercalls, 1);
	assert_int_equal(ctx.stats.list_entries, 5);
	ctx_fini(&ctx, s);
}

/* ---- list-merge ----------------------------------------------------------------- */

static void test_merge(void **state)
{
	const struct eptf_strategy *s = S("list-merge");
	struct eptf_flush_ctx ctx;
	struct eptf_flush_point fp;

	(void)state;
	/* three adjacent level-1 pages and an overlapping SPTE: one 1536-page range */
	ctx_init(&ctx, s);
	items[0] = sp_item(1, 0x400, true, 0, true);
	items[1] = sp_item(1, 0x000, true, 0, true);
	items[2] = sp_item(1, 0x200, true, 0, true);
	items[3] = spte_item(1, 0x205, true, EPTF_CHG_DROP);
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 4, 1, true);
	flush_expect_list(s, &ctx, &fp, 1);
	assert_entry(&fk.calls[0], 0, 0, 1536, EPTF_HV_UNIT_4K);
	/* with large entries: three 2 MiB units */
	ctx_init(&ctx, s);
	ctx.parent_accepts_large = true;
	flush_expect_list(s, &ctx, &fp, 1);
	{
		/* one entry either way: the builder may keep the small form */
		struct eptf_hv_entry e;

		assert_int_equal(eptf_hv_entry_decode(fk.calls[0].e[0], &e), 0);
		assert_int_equal(e.gfn, 0);
		assert_int_equal(e.pages, 1536);
	}
	assert_int_equal(ctx.stats.pages_flushed, 1536);

	/* four separate level-2 pages: 512 small entries -> two calls, no full flush */
	ctx_init(&ctx, s);
	for (size_t i = 0; i < 4; i++)
		items[i] = sp_item(2, (uint64_t)(2 * i) << 18, true, 0, true);
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 4, 2, true);
	flush_expect(s, &ctx, &fp, 4);
	assert_list_call(&fk.calls[0], roots[0].hpa, 510);
	assert_list_call(&fk.calls[1], roots[0].hpa, 2);
	assert_list_call(&fk.calls[2], roots[1].hpa, 510);
	assert_list_call(&fk.calls[3], roots[1].hpa, 2);
	assert_entry(&fk.calls[1], 1, (6ull << 18) + 127 * 2048, 2048, EPTF_HV_UNIT_4K);
	assert_int_equal(ctx.stats.full_flushes, 0);
	assert_int_equal(ctx.stats.fallbacks, 0);
	assert_int_equal(ctx.stats.list_entries, 2 * 512);
	assert_int_equal(ctx.stats.pages_flushed, 2 * 4 * 512 * 512);
	/* with large entries: four 1 GiB entries */
	ctx_init(&ctx, s);
	ctx.parent_accepts_large = true;
	fp.nroots = 1;
	flush_expect_list(s, &ctx, &fp, 4);
	for (size_t i = 0; i < 4; i++)
		assert_large_entry(&fk.calls[0], i, (uint64_t)(2 * i) << 18, 512 * 512);

	/* a 512 GiB level-3 page: 65536 small entries (129 calls) is past the cap -> full;
	 * with large entries it is one list entry */
	ctx_init(&ctx, s);
	items[0] = sp_item(3, 0, true, 0, false);
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 1, 1, true);
	flush_expect_full(s, &ctx, &fp);
	ctx_init(&ctx, s);
	ctx.parent_accepts_large = true;
	flush_expect_list(s, &ctx, &fp, 1);
	assert_large_entry(&fk.calls[0], 0, 0, 1ull << 27);

	/* a root page without large entries: far past the cap -> full */
	ctx_init(&ctx, s);
	items[0] = sp_item(4, 0, true, 0, false);
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 1, 1, true);
	flush_expect_full(s, &ctx, &fp);
	assert_int_equal(ctx.stats.fallbacks, 1);
	ctx_fini(&ctx, s);
}

/* ---- adaptive ------------------------------------------------------------------- */

static void test_adaptive(void **state)
{
	const struct eptf_strategy *s = S("adaptive");
	struct eptf_flush_ctx ctx;
	struct eptf_flush_point fp;

	(void)state;
	/* the formula: list 1 call + 1 entry = 1010 vs full 6000 (no refaults) */
	assert_false(eptf_adaptive_prefers_full(&cost, 1, 1, 0));
	/* 1000 entries: 2 calls + 10000 = 12000 > 6000 + 0 refaults */
	assert_true(eptf_adaptive_prefers_full(&cost, 1, 1000, 0));
	/* ... but with 4 estimated refaults full costs 6000 + 8000 */
	assert_false(eptf_adaptive_prefers_full(&cost, 1, 1000, 4));
	/* past the input-page cap: always full */
	assert_true(eptf_adaptive_prefers_full(&cost, 1, 510ull * 300, 1e9));

	ctx_init(&ctx, s);
	assert_non_null(ctx.priv);
	items[0] = sp_item(1, 0x200, true, 0, true);
	fp = fp_new(EPTF_SITE_COMMIT_ZAP, 1, 1, true);
	flush_expect_list(s, &ctx, &fp, 1);
	assert_entry(&fk.calls[0], 0, 0x200, 512, EPTF_HV_UNIT_4K);

	fk.n = 0;
	items[0] = sp_item(4, 0, true, 0, false);
	flush_expect_full(s, &ctx, &fp);
	assert_int_equal(ctx.stats.fallbacks, 0); /* a choice, not a degradation */
	assert_int_equal(ctx.stats.flush_points, 2);
	ctx_fini(&ctx, s);
	assert_null(ctx.priv);
}

/* ---- every strategy: every root, nothing for no roots ---------------------------- */

static void test_all_roots(void **state)
{
	(void)state;
	for (size_t k = 0; eptf_strategies[k]; k++) {
		const struct eptf_strategy *s = eptf_strategies[k];
		struct eptf_flush_ctx ctx;
		struct eptf_flush_point fp;
		bool seen[4] = { false };

		ctx_init(&ctx, s);
		items[0] = sp_item(1, 0x200, true, 0, true);
		fp = fp_new(EPTF_SITE_COMMIT_ZAP, 1, 4, true);
		assert_int_equal(s->flush(&ctx, &fp), 0);
		for (size_t i = 0; i < fk.n; i++)
			for (size_t r = 0; r < 4; r++)
				if (fk.calls[i].address_space == roots[r].hpa)
					seen[r] = true;
		for (size_t r = 0; r < 4; r++)
			assert_true(seen[r]);
		assert_int_equal(ctx.stats.hypercalls, fk.n);

		fk.n = 0;
		fp.nroots = 0;
		flush_expect(s, &ctx, &fp, 0);
		ctx_fini(&ctx, s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_exact_ranges),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_mainline_zap_range),
		cmocka_unit_test(test_mainline_memslot),
		cmocka_unit_test(test_mainline_split_and_full_sites),
		cmocka_unit_test(test_seed_commit_zap),
		cmocka_unit_test(test_seed_defect3),
		cmocka_unit_test(test_seed_sites),
		cmocka_unit_test(test_list_commit),
		cmocka_unit_test(test_list_sites),
		cmocka_unit_test(test_list_failed_call),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_adaptive),
		cmocka_unit_test(test_all_roots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
