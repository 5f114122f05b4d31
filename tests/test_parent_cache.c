// SPDX-License-Identifier: BSD-2-Clause
/*
 * The parent model's caches: TLB LRU and capacity, hit / miss / violation
 * accounting, splintering by backing size, permission re-walks, root
 * flushes, exact drops, and the range query against brute force. L1 is a
 * fake translation table the tests mutate, so these tests do not depend on
 * the MMU model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/error.h>
#include <eptflush/parent.h>

#include "parent_fake.h"
#include "parent_test_util.h"

#define R1 0x10000ull
#define R2 0x20000ull

static struct eptf_parent *mk(struct fake *f, unsigned tlb, unsigned backing,
			      enum eptf_parent_vendor v)
{
	struct eptf_parent_config cfg;
	struct eptf_parent *p;

	eptf_parent_config_default(&cfg);
	cfg.tlb_entries = tlb;
	cfg.backing_level = backing;
	cfg.vendor = v;
	assert_int_equal(eptf_parent_create(&cfg, fake_xlate, f, &p), 0);
	return p;
}

/* ---- collecting cached entries --------------------------------------- */

struct coll {
	struct eptf_cached c[8192];
	size_t n;
	size_t stop_after; /* 0: never stop */
};

static int collect(void *ctx, const struct eptf_cached *c)
{
	struct coll *k = ctx;

	assert_true(k->n < sizeof(k->c) / sizeof(k->c[0]));
	k->c[k->n++] = *c;
	return k->stop_after && k->n >= k->stop_after;
}

static struct coll *all_entries(const struct eptf_parent *p, uint64_t root, uint64_t addr,
				uint64_t pages)
{
	struct coll *k = calloc(1, sizeof(*k));

	assert_non_null(k);
	eptf_parent_for_each(p, root, addr, pages, collect, k);
	return k;
}

/* The entry at @addr (EPT02 or TLB); fails the test when there is none. */
static const struct eptf_cached *find(const struct coll *k, uint64_t addr, bool tlb)
{
	for (size_t i = 0; i < k->n; i++)
		if (k->c[i].addr == addr && k->c[i].in_tlb == tlb)
			return &k->c[i];
	fail_msg("no %s entry at %llu", tlb ? "TLB" : "EPT02", (unsigned long long)addr);
	abort(); /* not reached: tells the compiler find() never returns NULL */
}

/* ---- tests ------------------------------------------------------------ */

static void test_defaults(void **state)
{
	struct eptf_parent_config cfg;

	(void)state;
	eptf_parent_config_default(&cfg);
	assert_int_equal(cfg.vendor, EPTF_PARENT_INTEL);
	assert_int_equal(cfg.tlb_entries, 2048);
	assert_int_equal(cfg.backing_level, 1);
	assert_int_equal(cfg.gpa_bits, 52);
	assert_false(cfg.allow_large);
	assert_int_equal(cfg.inject.hv_error_ppm + cfg.inject.partial_ppm + cfg.inject.timeout_ppm, 0);
	assert_int_equal(cfg.cost.hypercall, 8304);
}

static void test_create_rejects_bad_config(void **state)
{
	struct eptf_parent_config cfg;
	struct eptf_parent *p = (struct eptf_parent *)1;
	struct fake f = { .n = 0 };

	(void)state;
	eptf_parent_config_default(&cfg);
	cfg.backing_level = 4;
	assert_int_equal(eptf_parent_create(&cfg, fake_xlate, &f, &p), EPTF_EINVAL);
	assert_null(p);
	cfg.backing_level = 0;
	assert_int_equal(eptf_parent_create(&cfg, fake_xlate, &f, &p), EPTF_EINVAL);
	eptf_parent_config_default(&cfg);
	assert_int_equal(eptf_parent_create(&cfg, NULL, &f, &p), EPTF_EINVAL);
}

static void test_outcomes_counted(void **state)
{
	struct fake f = { .n = 0 };
	struct eptf_parent *p = mk(&f, 16, 1, EPTF_PARENT_INTEL);

	(void)state;
	fake_map(&f, R1, 10, 1, 0x500, true, false);
	expect_access_list(p, ACC(R1, 10, EPTF_ACCESS_EPT_VIOLATION),
			   { R1, 10, true, false, EPTF_ACCESS_TLB_HIT },
			   ACC(R1, 11, EPTF_ACCESS_UNMAPPED),
			   /* L1 grants no execute: not permitted, nothing new cached */
			   { R1, 10, false, true, EPTF_ACCESS_UNMAPPED },
			   /* an unknown root has nothing cached and L1 maps nothing there */
			   ACC(R2, 10, EPTF_ACCESS_UNMAPPED));
	expect_stats(p, STAT(ept_violations, 1), STAT(tlb_hits, 1), STAT(tlb_misses, 0),
		     STAT(unmapped, 3), STAT(ept02_entries, 1), STAT(tlb_entries, 1));
	/* drop the TLB entry only: the next access walks EPT02 */
	{
		struct eptf_cached c = { .root_hpa = R1, .addr = 10, .level = 1, .in_tlb = true };

		eptf_parent_drop(p, &c);
	}
	expect_access_list(p, ACC(R1, 10, EPTF_ACCESS_TLB_MISS), ACC(R1, 10, EPTF_ACCESS_TLB_HIT));
	expect_stats(p, STAT(tlb_misses, 1), STAT(tlb_hits, 2), STAT(tlb_dropped, 1),
		     STAT(ept02_dropped, 0));
	/* an address past the tree (2^45 pages) is never cached */
	fake_map(&f, R1, 1ull << 45, 1, 1, true, true);
	assert_int_equal(eptf_parent_access(p, R1, 1ull << 45, false, false), EPTF_ACCESS_UNMAPPED);
	eptf_parent_destroy(p);
}

static void test_tlb_lru_order(void **state)
{
	struct fake f = { .n = 0 };
	struct eptf_parent *p = mk(&f, 4, 1, EPTF_PARENT_INTEL);
	enum { A = 100, B = 200, C = 300, D = 400, E = 500 };

	(void)state;
	fake_map(&f, R1, 0, 3, 0x100000, true, true); /* one 1 GiB L1 leaf, splintered to 4 KiB */
	expect_access_list(p, ACC(R1, A, EPTF_ACCESS_EPT_VIOLATION), ACC(R1, B, EPTF_ACCESS_EPT_VIOLATION),
			   ACC(R1, C, EPTF_ACCESS_EPT_VIOLATION), ACC(R1, D, EPTF_ACCESS_EPT_VIOLATION),
			   /* LRU order now D C B A; touching A makes B the oldest */
			   ACC(R1, A, EPTF_ACCESS_TLB_HIT), ACC(R1, E, EPTF_ACCESS_EPT_VIOLATION));
	expect_stats(p, STAT(tlb_evictions, 1), STAT(tlb_entries, 4));
	/* B was evicted from the TLB but is still in EPT02: a miss, which evicts C */
	expect_access_list(p, ACC(R1, B, EPTF_ACCESS_TLB_MISS), ACC(R1, A, EPTF_ACCESS_TLB_HIT),
			   ACC(R1, E, EPTF_ACCESS_TLB_HIT), ACC(R1, C, EPTF_ACCESS_TLB_MISS),
			   /* order was B E A D before C came in: D went */
			   ACC(R1, D, EPTF_ACCESS_TLB_MISS));
	expect_stats(p, STAT(tlb_evictions, 4), STAT(tlb_entries, 4), STAT(ept02_entries, 5));
	eptf_parent_destroy(p);
}

static void test_tlb_capacity_is_global(void **state)
{
	struct fake f = { .n = 0 };
	struct eptf_parent *p = mk(&f, 4, 1, EPTF_PARENT_INTEL);

	(void)state;
	fake_map(&f, R1, 0, 2, 0x1000, true, true);
	fake_map(&f, R2, 0, 2, 0x2000, true, true);
	for (uint64_t a = 0; a < 3; a++)
		assert_int_equal(eptf_parent_access(p, R1, a, false, false), EPTF_ACCESS_EPT_VIOLATION);
	for (uint64_t a = 0; a < 2; a++)
		assert_int_equal(eptf_parent_access(p, R2, a, false, false), EPTF_ACCESS_EPT_VIOLATION);
	expect_stats(p, STAT(tlb_entries, 4), STAT(tlb_evictions, 1));
	/* R1's first page was the oldest overall */
	expect_access_list(p, ACC(R1, 0, EPTF_ACCESS_TLB_MISS), ACC(R2, 1, EPTF_ACCESS_TLB_HIT));
	/* same address, other root: separate entries with separate frames */
	{
		struct coll *k1 = all_entries(p, R1, 0, 1), *k2 = all_entries(p, R2, 0, 1);

		assert_int_equal(find(k1, 0, false)->frame, 0x1000);
		assert_int_equal(find(k2, 0, false)->frame, 0x2000);
		free(k1);
		free(k2);
	}
	eptf_parent_destroy(p);
}

static void test_tlb_disabled(void **state)
{
	struct fake f = { .n = 0 };
	struct eptf_parent *p = mk(&f, 0, 1, EPTF_PARENT_INTEL);

	(void)state;
	fake_map(&f, R1, 7, 1, 0x70, false, false);
	expect_access_list(p, ACC(R1, 7, EPTF_ACCESS_EPT_VIOLATION), ACC(R1, 7, EPTF_ACCESS_TLB_MISS));
	assert_int_equal(stats(p).tlb_entries, 0);
	eptf_parent_destroy(p);
}

/* L1 maps 2 MiB at gfn 512 (frame 0x2000) and 1 GiB at gfn 512^2 (frame 0x400000). */
static void splinter_case(unsigned backing, unsigned want2m, unsigned want1g)
{
	struct fake f = { .n = 0 };
	struct eptf_parent *p = mk(&f, 64, backing, EPTF_PARENT_INTEL);
	struct coll *k;
	const struct eptf_cached *c;
	uint64_t g1 = 512ull * 512;

	fake_map(&f, R1, 512, 2, 0x2000, true, false);
	fake_map(&f, R1, g1, 3, 0x400000, false, true);
	assert_int_equal(eptf_parent_access(p, R1, 513, false, false), EPTF_ACCESS_EPT_VIOLATION);
	assert_int_equal(eptf_parent_access(p, R1, 514, false, false),
			 want2m == 1 ? EPTF_ACCESS_EPT_VIOLATION : EPTF_ACCESS_TLB_HIT);
	assert_int_equal(eptf_parent_access(p, R1, g1 + 777, false, true), EPTF_ACCESS_EPT_VIOLATION);
	k = all_entries(p, R1, 0, 1ull << 36);
	c = find(k, want2m == 1 ? 513 : 512, false);
	assert_non_null(c);
	assert_int_equal(c->level, want2m);
	assert_int_equal(c->frame, want2m == 1 ? 0x2001 : 0x2000);
	assert_true(c->writable);
	assert_false(c->executable);
	c = find(k, want1g == 1 ? g1 + 777 : want1g == 2 ? g1 + 512 : g1, true);
	assert_non_null(c);
	assert_int_equal(c->level, want1g);
	assert_int_equal(c->frame, want1g == 1 ? 0x400000 + 777 : want1g == 2 ? 0x400000 + 512 : 0x400000);
	assert_false(c->writable);
	assert_true(c->executable);
	free(k);
	eptf_parent_destroy(p);
}

static void test_splinter_4k(void **state)
{
	(void)state;
	splinter_case(1, 1, 1);
}

static void test_splinter_2m(void **state)
{
	(void)state;
	splinter_case(2, 2, 2);
}

static void test_splinter_1g(void **state)
{
	(void)state;
	splinter_case(3, 2, 3);
}

static void test_permission_rewalk(void **state)
{
	struct fake f = { .n = 0 };
	struct eptf_parent *p = mk(&f, 64, 1, EPTF_PARENT_AMD);
	struct coll *k;

	(void)state;
	fake_map(&f, R1, 40, 1, 0x4000, false, false);
	/* write to a read-only L1 page: L1 must fault first; nothing cached */
	assert_int_equal(eptf_parent_access(p, R1, 40, true, false), EPTF_ACCESS_UNMAPPED);
	assert_int_equal(stats(p).ept02_entries, 0);
	assert_int_equal(eptf_parent_access(p, R1, 40, false, false), EPTF_ACCESS_EPT_VIOLATION);
	/* L1 makes it writable (e.g. a dirty-logging write fault); the cached RO entry re-walks */
	f.m[0].w = true;
	expect_access_list(p, { R1, 40, true, false, EPTF_ACCESS_EPT_VIOLATION },
			   { R1, 40, true, false, EPTF_ACCESS_TLB_HIT });
	expect_stats(p, STAT(ept_violations, 2), STAT(ept02_replaced, 1), STAT(tlb_replaced, 1),
		     STAT(ept02_dropped, 0), STAT(ept02_entries, 1), STAT(tlb_entries, 1));
	k = all_entries(p, R1, 40, 1);
	assert_int_equal(k->n, 2);
	assert_true(k->c[0].writable && k->c[1].writable);
	free(k);
	eptf_parent_destroy(p);
}

static void test_huge_replaces_small(void **state)
{
	struct fake f = { .n = 0 };
	struct eptf_parent *p = mk(&f, 64, 2, EPTF_PARENT_INTEL);
	struct coll *k;

	(void)state;
	/* L1 first maps 4 KiB pieces read-only, then collapses them into a writable 2 MiB leaf */
	fake_map(&f, R1, 1024, 1, 0x9000, false, false);
	fake_map(&f, R1, 1025, 1, 0x9001, false, false);
	expect_access_list(p, ACC(R1, 1024, EPTF_ACCESS_EPT_VIOLATION),
			   ACC(R1, 1025, EPTF_ACCESS_EPT_VIOLATION));
	fake_map(&f, R1, 1024, 2, 0x9000, true, false);
	assert_int_equal(eptf_parent_access(p, R1, 1025, true, false), EPTF_ACCESS_EPT_VIOLATION);
	k = all_entries(p, R1, 0, 1ull << 30);
	assert_int_equal(k->n, 2); /* one EPT02 and one TLB entry, both 2 MiB */
	assert_int_equal(k->c[0].level, 2);
	assert_int_equal(k->c[1].level, 2);
	assert_int_equal(stats(p).ept02_replaced, 2);
	free(k);
	eptf_parent_destroy(p);
}

static void test_flush_root(void **state)
{
	struct fake f = { .n = 0 };
	struct eptf_parent *p = mk(&f, 64, 1, EPTF_PARENT_INTEL);

	(void)state;
	fake_map(&f, R1, 0, 2, 0x1000, true, true);
	fake_map(&f, R2, 0, 2, 0x2000, true, true);
	for (uint64_t a = 0; a < 10; a++) {
		eptf_parent_access(p, R1, a, false, false);
		eptf_parent_access(p, R2, a, false, false);
	}
	eptf_parent_flush_root(p, R1);
	eptf_parent_flush_root(p, 0xdead000); /* unknown root: nothing cached, still counted */
	expect_stats(p, STAT(root_flushes, 2), STAT(ept02_dropped, 10), STAT(tlb_dropped, 10),
		     STAT(ept02_entries, 10), STAT(tlb_entries, 10));
	expect_access_list(p, ACC(R1, 3, EPTF_ACCESS_EPT_VIOLATION), ACC(R2, 3, EPTF_ACCESS_TLB_HIT));
	eptf_parent_destroy(p);
}

/*
 * L1 freed R1: its EPT02 and TLB trees are freed (bytes fall back), nothing
 * is counted as dropped, its TLB entries keep their slots until LRU evicts
 * them (so R2 sees the same evictions as before), and R1 has no entries.
 */
static void test_forget_root(void **state)
{
	struct fake f = { .n = 0 };
	struct eptf_parent *p = mk(&f, 8, 1, EPTF_PARENT_INTEL);
	uint64_t bytes_empty = stats(p).bytes;

	(void)state;
	for (uint64_t a = 0; a < 6; a++)
		fake_map(&f, R1, a << 20, 1, 0x1000 + a, true, true);
	fake_map(&f, R2, 0, 2, 0x2000, true, true);
	for (uint64_t a = 0; a < 6; a++) /* far apart: several nodes each */
		assert_int_equal(eptf_parent_access(p, R1, a << 20, false, false), EPTF_ACCESS_EPT_VIOLATION);
	for (uint64_t a = 0; a < 2; a++)
		eptf_parent_access(p, R2, a, false, false);
	uint64_t bytes_r2 = stats(p).bytes;
	eptf_parent_forget_root(p, R1);
	eptf_parent_forget_root(p, 0xdead000); /* unknown: ignored */
	/* 6 orphans still hold their TLB slots */
	expect_stats(p, STAT(ept02_dropped, 0), STAT(tlb_dropped, 0), STAT(ept02_entries, 2),
		     STAT(tlb_entries, 8));
	assert_true(stats(p).bytes < bytes_r2);
	{
		struct coll *k = all_entries(p, R1, 0, 1ull << 36);

		assert_int_equal(k->n, 0);
		free(k);
	}
	/* the TLB is full: the next fills evict the orphans first (they are the oldest) */
	for (uint64_t a = 2; a < 8; a++)
		assert_int_equal(eptf_parent_access(p, R2, a, false, false), EPTF_ACCESS_EPT_VIOLATION);
	expect_stats(p, STAT(tlb_evictions, 6), STAT(tlb_entries, 8));
	assert_int_equal(eptf_parent_access(p, R2, 0, false, false), EPTF_ACCESS_TLB_HIT);
	/* forgetting the last root frees everything */
	eptf_parent_forget_root(p, R2);
	expect_stats(p, STAT(ept02_entries, 0), STAT(bytes, bytes_empty));
	/* a root with orphans in the pool is not resurrected by a new access */
	assert_int_equal(eptf_parent_access(p, R1, 0, false, false), EPTF_ACCESS_EPT_VIOLATION);
	eptf_parent_destroy(p);
}

/*
 * The parent remembers the root of the last access: forgetting that very
 * root must not leave it behind (ASan would report the freed root read).
 */
static void test_forget_last_root(void **state)
{
	struct fake f = { .n = 0 };
	struct eptf_parent *p = mk(&f, 8, 1, EPTF_PARENT_INTEL);
	struct coll *k;

	(void)state;
	fake_map(&f, R1, 0, 1, 0x1000, true, true);
	expect_access_list(p, ACC(R1, 0, EPTF_ACCESS_EPT_VIOLATION), ACC(R1, 0, EPTF_ACCESS_TLB_HIT));
	eptf_parent_forget_root(p, R1);
	k = all_entries(p, R1, 0, 1ull << 36);
	assert_int_equal(k->n, 0);
	free(k);
	eptf_parent_flush_root(p, R1);
	eptf_parent_drop_range(p, R1, 0, 1);
	/* a new root for the same hpa starts empty */
	assert_int_equal(eptf_parent_access(p, R1, 0, false, false), EPTF_ACCESS_EPT_VIOLATION);
	assert_int_equal(stats(p).ept02_dropped, 0);
	eptf_parent_destroy(p);
}

/*
 * Dense 4 KiB entries, then drops inside one level-1 node that start and
 * end on and across the bitmap's 64-slot words, and across two nodes: each
 * drops exactly the pages of its range, and emptied nodes go.
 */
static void test_drop_within_node(void **state)
{
	static const uint64_t drops[][2] = {
		{ 60, 10 }, { 127, 2 }, { 128, 64 }, { 0, 1 }, { 511, 1 }, { 500, 30 }, { 200, 56 },
	};
	struct fake f = { .n = 0 };
	struct eptf_parent *p = mk(&f, 2048, 1, EPTF_PARENT_INTEL);
	bool cached[1024];
	uint64_t want = 0;

	(void)state;
	fake_map(&f, R1, 0, 3, 0x40000, true, true);
	for (uint64_t a = 0; a < 1024; a++) {
		assert_int_equal(eptf_parent_access(p, R1, a, false, false), EPTF_ACCESS_EPT_VIOLATION);
		cached[a] = true;
	}
	for (size_t d = 0; d < sizeof(drops) / sizeof(drops[0]); d++) {
		uint64_t dropped = stats(p).ept02_dropped, n = 0;
		struct coll *k;

		for (uint64_t a = drops[d][0]; a < drops[d][0] + drops[d][1]; a++) {
			n += cached[a];
			cached[a] = false;
		}
		want += n;
		eptf_parent_drop_range(p, R1, drops[d][0], drops[d][1]);
		assert_int_equal(stats(p).ept02_dropped - dropped, n);
		assert_int_equal(stats(p).ept02_entries, 1024 - want);
		k = all_entries(p, R1, 0, 1024);
		for (size_t i = 0; i < k->n; i++)
			if (!k->c[i].in_tlb)
				assert_true(cached[k->c[i].addr]);
		free(k);
	}
	/* the rest of the first node, then all: the tree empties and its memory goes */
	eptf_parent_drop_range(p, R1, 0, 512);
	eptf_parent_drop_range(p, R1, 0, 1024);
	expect_stats(p, STAT(ept02_entries, 0), STAT(ept02_dropped, 1024));
	assert_int_equal(eptf_parent_access(p, R1, 5, false, false), EPTF_ACCESS_EPT_VIOLATION);
	eptf_parent_destroy(p);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random mixed-size caches; every range query equals the brute-force filter of the whole cache. */
static void test_for_each_matches_brute_force(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 6; seed++) {
		struct fake *f = calloc(1, sizeof(*f));
		struct eptf_parent *p;
		uint64_t s = seed * 0x9e3779b97f4a7c15ull;
		struct coll *all;

		assert_non_null(f);
		p = mk(f, 256, 3, EPTF_PARENT_AMD);
		/* L1: random 4K / 2M / 1G leaves over 8 GiB of input space */
		for (int i = 0; i < 2000; i++) {
			/* big leaves first so that smaller ones laid later show through */
			unsigned level = i < 4 ? 3 : i < 300 ? 2 : 1;
			uint64_t span = EPTF_PAGES_PER_LEVEL(level);
			uint64_t base = (rnd(&s) % (8ull << 18)) & ~(span - 1);

			fake_map(f, R1, base, level, rnd(&s) % (1ull << 30) * span, rnd(&s) & 1, rnd(&s) & 1);
		}
		for (int i = 0; i < 3000; i++) {
			/* half the accesses aim at a mapping, half anywhere */
			const struct fmap *m = &f->m[rnd(&s) % f->n];
			uint64_t a = i & 1 ? rnd(&s) % (8ull << 18)
					   : m->base + rnd(&s) % EPTF_PAGES_PER_LEVEL(m->level);

			eptf_parent_access(p, R1, a, false, false);
		}
		all = all_entries(p, R1, 0, ~0ull);
		assert_true(all->n > 100);
		{
			unsigned seen = 0;

			for (size_t i = 0; i < all->n; i++)
				seen |= 1u << all->c[i].level;
			assert_int_equal(seen, 0xe); /* 4 KiB, 2 MiB and 1 GiB entries all present */
		}
		assert_int_equal(all->n, stats(p).ept02_entries + stats(p).tlb_entries);
		for (int q = 0; q < 200; q++) {
			uint64_t addr = rnd(&s) % (9ull << 18);
			uint64_t pages = 1 + rnd(&s) % (q % 3 == 0 ? 4 : q % 3 == 1 ? 4096 : 1ull << 20);
			struct coll *k = all_entries(p, R1, addr, pages);
			size_t want = 0, j = 0;

			for (size_t i = 0; i < all->n; i++) {
				const struct eptf_cached *c = &all->c[i];
				uint64_t end = c->addr + EPTF_PAGES_PER_LEVEL(c->level);

				if (c->addr < addr + pages && end > addr) {
					want++;
					/* same order: EPT02 first, then TLB, each by address */
					assert_true(j < k->n);
					assert_memory_equal(&k->c[j], c, sizeof(*c));
					j++;
				}
			}
			assert_int_equal(k->n, want);
			free(k);
		}
		/* a callback returning non-zero stops the walk */
		{
			struct coll *k = calloc(1, sizeof(*k));

			assert_non_null(k);
			k->stop_after = 3;
			eptf_parent_for_each(p, R1, 0, ~0ull, collect, k);
			assert_int_equal(k->n, 3);
			free(k);
		}
		/* drop_range removes exactly the overlapping entries */
		{
			uint64_t addr = rnd(&s) % (8ull << 18), pages = 1 + rnd(&s) % (1ull << 19);
			struct coll *after;
			size_t overlap = 0;

			for (size_t i = 0; i < all->n; i++) {
				const struct eptf_cached *c = &all->c[i];

				if (c->addr < addr + pages && c->addr + EPTF_PAGES_PER_LEVEL(c->level) > addr)
					overlap++;
			}
			eptf_parent_drop_range(p, R1, addr, pages);
			after = all_entries(p, R1, 0, ~0ull);
			assert_int_equal(after->n, all->n - overlap);
			assert_int_equal(stats(p).ept02_dropped + stats(p).tlb_dropped, overlap);
			for (size_t i = 0; i < after->n; i++) {
				const struct eptf_cached *c = &after->c[i];

				assert_false(c->addr < addr + pages &&
					     c->addr + EPTF_PAGES_PER_LEVEL(c->level) > addr);
			}
			free(after);
		}
		free(all);
		eptf_parent_destroy(p);
		free(f);
	}
}

static void test_memory_per_entry(void **state)
{
	struct fake f = { .n = 0 };
	struct eptf_parent *p = mk(&f, 2048, 1, EPTF_PARENT_INTEL);
	struct eptf_parent_stats st;
	uint64_t n = 512 * 64; /* 128 MiB touched, densely */

	(void)state;
	fake_map(&f, R1, 0, 3, 0, true, true);
	for (uint64_t a = 0; a < n; a++)
		eptf_parent_access(p, R1, a, false, false);
	st = stats(p);
	assert_int_equal(st.ept02_entries, n);
	/*
	 * Dense 4 KiB entries: 4168-byte level-1 nodes of 512 slots (8.14 bytes
	 * per entry) plus the upper levels, the root, the parent and the TLB
	 * hash; the TLB's slots (48 bytes each) are left out. 9.04 bytes per
	 * entry at this size: compared in hundredths, not rounded down.
	 */
	assert_true((st.bytes - 2048 * 48) * 100 / n <= 910);
	eptf_parent_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_create_rejects_bad_config),
		cmocka_unit_test(test_outcomes_counted),
		cmocka_unit_test(test_tlb_lru_order),
		cmocka_unit_test(test_tlb_capacity_is_global),
		cmocka_unit_test(test_tlb_disabled),
		cmocka_unit_test(test_splinter_4k),
		cmocka_unit_test(test_splinter_2m),
		cmocka_unit_test(test_splinter_1g),
		cmocka_unit_test(test_permission_rewalk),
		cmocka_unit_test(test_huge_replaces_small),
		cmocka_unit_test(test_flush_root),
		cmocka_unit_test(test_forget_root),
		cmocka_unit_test(test_forget_last_root),
		cmocka_unit_test(test_drop_within_node),
		cmocka_unit_test(test_for_each_matches_brute_force),
		cmocka_unit_test(test_memory_per_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
