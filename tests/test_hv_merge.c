/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The merging builder: eptf_hv_ranges_merge, eptf_hv_build_pages and
 * eptf_hv_count_entries. Property tests over thousands of seeded random range
 * sets check, for every large-page setting:
 *   - decoding what the builder encodes gives exactly the union of the inputs
 *     (compared as sorted, merged interval lists) and no entry overlaps another;
 *   - no two entries could be merged into one valid entry;
 *   - it never uses more entries than the Linux filler would for the same ranges;
 *   - count_entries agrees with what build_pages writes, pages are filled 510 at a time;
 *   - each page passes the parent-side validator and yields the same ranges.
 * A brute-force shortest-path search checks that the entry count is minimal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/hv.h>

#define FLAG_SETS 4 /* 0, 2M, 1G, 2M|1G */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

struct iv {
	uint64_t s, e; /* [s, e) */
	enum eptf_hv_unit unit;
};

static int iv_cmp(const void *a, const void *b)
{
	const struct iv *x = a, *y = b;

	if (x->s != y->s)
		return x->s < y->s ? -1 : 1;
	if (x->e != y->e)
		return x->e < y->e ? -1 : 1;
	return 0;
}

/* Independent union: qsort + sweep. Returns the merged count. */
static size_t union_of(const struct eptf_hv_range *r, size_t n, struct iv *out)
{
	size_t k = 0, m = 0;

	for (size_t i = 0; i < n; i++)
		if (r[i].pages)
			out[k++] = (struct iv){r[i].gfn, r[i].gfn + r[i].pages, EPTF_HV_UNIT_4K};
	qsort(out, k, sizeof(*out), iv_cmp);
	for (size_t i = 0; i < k; i++) {
		if (m && out[i].s <= out[m - 1].e) {
			if (out[i].e > out[m - 1].e)
				out[m - 1].e = out[i].e;
		} else {
			out[m++] = out[i];
		}
	}
	return m;
}

/* Could [a.s, b.e) (a, b adjacent) be written as one valid entry? */
static bool mergeable(const struct iv *a, const struct iv *b, unsigned flags)
{
	uint64_t len = b->e - a->s;

	if (a->e != b->s)
		return false;
	if (len <= 2048)
		return true;
	if ((flags & EPTF_HV_MERGE_LARGE_2M) && a->s % 512 == 0 && len % 512 == 0 &&
	    len / 512 <= 2048)
		return true;
	if ((flags & EPTF_HV_MERGE_LARGE_1G) && a->s % (1ull << 18) == 0 && len % (1ull << 18) == 0 &&
	    len / (1ull << 18) <= 2048)
		return true;
	return false;
}

static unsigned flag_set(int i)
{
	static const unsigned f[FLAG_SETS] = {0, EPTF_HV_MERGE_LARGE_2M, EPTF_HV_MERGE_LARGE_1G,
					      EPTF_HV_MERGE_LARGE_2M | EPTF_HV_MERGE_LARGE_1G};
	return f[i];
}

/* how many entries of each unit the property test saw (it must see all three) */
static uint64_t seen_units[3];

struct built {
	struct iv *ent;   /* decoded entries, in emission order */
	size_t nent;
	int npages;
};

/*
 * Build @r (merged) with @flags and decode; checks page headers, counts,
 * count_entries, and validator round-trip on the way.
 */
static struct built build_and_decode(const struct eptf_hv_range *r, size_t n, unsigned flags)
{
	struct built b = {0};
	size_t total = eptf_hv_count_entries(r, n, flags);
	size_t np = (total + 509) / 510;
	struct eptf_hv_flush_list *pages = malloc((np ? np : 1) * sizeof(*pages));
	uint16_t *counts = malloc((np ? np : 1) * sizeof(*counts));
	static struct eptf_hv_request req;
	struct eptf_hv_validate_cfg cfg = {0, flags != 0};

	assert_non_null(pages);
	assert_non_null(counts);
	if (np > 1) {
		/* one page short: ENOSPC and nothing written */
		pages[0].address_space = 0x5a5a;
		assert_int_equal(eptf_hv_build_pages(r, n, flags, 0x1234000, pages, np - 1, counts),
				 EPTF_ENOSPC);
		assert_int_equal(pages[0].address_space, 0x5a5a);
	}
	b.npages = eptf_hv_build_pages(r, n, flags, 0x1234000, pages, np, counts);
	assert_int_equal(b.npages, (int)np);
	assert_true(total < (1u << 24)); /* the generator never needs more */
	b.ent = calloc(total + 1, sizeof(*b.ent));
	assert_non_null(b.ent);
	for (size_t p = 0; p < np; p++) {
		assert_int_equal(pages[p].address_space, 0x1234000);
		assert_int_equal(pages[p].flags, 0);
		assert_int_equal(counts[p], p + 1 < np ? 510 : total - 510 * (np - 1));
		for (unsigned i = 0; i < counts[p]; i++) {
			struct eptf_hv_entry e;

			assert_int_equal(eptf_hv_entry_decode(pages[p].gpa_list[i], &e), 0);
			if (e.unit == EPTF_HV_UNIT_2M)
				assert_true(flags & EPTF_HV_MERGE_LARGE_2M);
			if (e.unit == EPTF_HV_UNIT_1G)
				assert_true(flags & EPTF_HV_MERGE_LARGE_1G);
			b.ent[b.nent++] = (struct iv){e.gfn, e.gfn + e.pages, e.unit};
			seen_units[e.unit]++;
		}
		/* the parent accepts the page and sees the same ranges */
		struct eptf_hv_control c = {.code = EPTF_HVCALL_FLUSH_GPA_LIST, .rep_count = counts[p]};
		assert_int_equal(eptf_hv_validate(eptf_hv_control_build(&c), &pages[p],
						  16 + 8u * counts[p], &cfg, &req),
				 EPTF_HV_STATUS_SUCCESS);
		assert_int_equal(req.nranges, counts[p]);
		for (unsigned i = 0; i < counts[p]; i++) {
			const struct iv *x = &b.ent[b.nent - counts[p] + i];
			assert_int_equal(req.ranges[i].gfn, x->s);
			assert_int_equal(req.ranges[i].pages, x->e - x->s);
		}
	}
	assert_int_equal(b.nent, total);
	free(pages);
	free(counts);
	return b;
}

/* Linux: one eptf_hv_fill_linux per range, each into a fresh page. */
static uint64_t linux_entries(const struct eptf_hv_range *r, size_t n)
{
	static struct eptf_hv_flush_list scratch;
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++) {
		if (r[i].pages == 0)
			continue;
		int got = eptf_hv_fill_linux(&scratch, 0, r[i].gfn, r[i].pages);

		if (got == EPTF_ENOSPC) /* more than one page: min(remaining, 2048) each */
			total += (r[i].pages + 2047) / 2048;
		else {
			assert_true(got > 0);
			total += (uint64_t)got;
		}
	}
	return total;
}

/* All properties for one input set. */
static void check_set(const struct eptf_hv_range *in, size_t n)
{
	struct eptf_hv_range *m = malloc((n ? n : 1) * sizeof(*m));
	struct iv *want = malloc((n ? n : 1) * sizeof(*want));
	size_t nm, nw;

	assert_non_null(m);
	assert_non_null(want);
	memcpy(m, in, n * sizeof(*m));
	nm = eptf_hv_ranges_merge(m, n);
	nw = union_of(in, n, want);
	/* merge gives exactly the union, sorted, with gaps between */
	assert_int_equal(nm, nw);
	for (size_t i = 0; i < nm; i++) {
		assert_int_equal(m[i].gfn, want[i].s);
		assert_int_equal(m[i].gfn + m[i].pages, want[i].e);
	}

	for (int fi = 0; fi < FLAG_SETS; fi++) {
		unsigned flags = flag_set(fi);
		struct built b = build_and_decode(m, nm, flags);

		/* entries never exceed Linux's count for the raw or the merged ranges */
		assert_true(b.nent <= linux_entries(m, nm));
		assert_true(b.nent <= linux_entries(in, n));

		/* decoded entries: disjoint and their union is exactly the input union */
		qsort(b.ent, b.nent, sizeof(*b.ent), iv_cmp);
		size_t w = 0;
		for (size_t i = 0; i < b.nent; i++) {
			if (i > 0)
				assert_true(b.ent[i - 1].e <= b.ent[i].s);
			if (i > 0 && b.ent[i - 1].e == b.ent[i].s) {
				if (mergeable(&b.ent[i - 1], &b.ent[i], flags))
					fail_msg("flags %u: entries [%llx,%llx) and [%llx,%llx) could be one",
						 flags, (unsigned long long)b.ent[i - 1].s,
						 (unsigned long long)b.ent[i - 1].e,
						 (unsigned long long)b.ent[i].s,
						 (unsigned long long)b.ent[i].e);
				continue; /* same union interval */
			}
			if (i > 0) {
				assert_true(w < nw);
				assert_int_equal(b.ent[i - 1].e, want[w].e);
				w++;
			}
			assert_true(w < nw);
			assert_int_equal(b.ent[i].s, want[w].s);
		}
		if (b.nent) {
			assert_int_equal(b.ent[b.nent - 1].e, want[w].e);
			assert_int_equal(w + 1, nw);
		} else {
			assert_int_equal(nw, 0);
		}
		free(b.ent);
	}
	free(m);
	free(want);
}

static uint64_t gen_pages(unsigned mode)
{
	switch (mode) {
	case 0:
		return 1 + rnd() % 600;
	case 1:
		return 512 * (1 + rnd() % 24) + (rnd() % 3 ? 0 : rnd() % 5);
	case 2:
		return 1 + rnd() % 20000;
	case 3:
		return ((1 + rnd() % 3) << 18) + (rnd() % 2 ? 0 : rnd() % 2048) - (rnd() % 2 ? 0 : 512);
	case 4:
		return 2048 * (1 + rnd() % 8);
	case 5:
		return 1 + rnd() % 4;
	default:
		return rnd() % 3; /* including empty ranges */
	}
}

static uint64_t gen_gfn(uint64_t base, uint64_t window, unsigned mode)
{
	uint64_t g = base + rnd() % window;

	switch (rnd() % 4) {
	case 0:
		return g & ~511ull;
	case 1:
		return (g & ~((1ull << 18) - 1)) - (mode == 3 && rnd() % 2 ? 512 * (rnd() % 4) : 0);
	default:
		return g;
	}
}

static void test_property_random_sets(void **state)
{
	(void)state;
	static const uint64_t windows[] = {1ull << 13, 1ull << 17, 1ull << 21, 1ull << 24};
	struct eptf_hv_range in[48];

	rng_state = 0x5eed0001;
	for (int set = 0; set < 3000; set++) {
		size_t n = 1 + rnd() % 40;
		uint64_t window = windows[rnd() % 4];
		uint64_t base = (rnd() % (1ull << 36)) & ~((1ull << 18) - 1);

		if (set % 97 == 0)
			base = (1ull << 52) - (1ull << 25); /* near the top of the frame space */
		for (size_t i = 0; i < n; i++) {
			unsigned mode = (unsigned)(rnd() % 7);

			in[i].gfn = gen_gfn(base + (1ull << 18), window, mode);
			in[i].pages = gen_pages(mode);
		}
		check_set(in, n);
	}
	/* the generator really exercises every entry kind */
	assert_true(seen_units[EPTF_HV_UNIT_4K] > 10000);
	assert_true(seen_units[EPTF_HV_UNIT_2M] > 1000);
	assert_true(seen_units[EPTF_HV_UNIT_1G] > 100);
}

static void test_merge_basic(void **state)
{
	(void)state;
	struct eptf_hv_range r[] = {
		{100, 10}, {0, 5}, {5, 5}, {50, 0}, {105, 2}, {200, 1}, {110, 3}, {199, 1},
	};
	size_t n = eptf_hv_ranges_merge(r, sizeof(r) / sizeof(r[0]));

	/* [0,10) adjacent pieces join; [100,113) overlapping + adjacent; [199,201) */
	assert_int_equal(n, 3);
	assert_int_equal(r[0].gfn, 0);
	assert_int_equal(r[0].pages, 10);
	assert_int_equal(r[1].gfn, 100);
	assert_int_equal(r[1].pages, 13);
	assert_int_equal(r[2].gfn, 199);
	assert_int_equal(r[2].pages, 2);

	/* empty input, all-empty input */
	assert_int_equal(eptf_hv_ranges_merge(NULL, 0), 0);
	struct eptf_hv_range z[] = {{5, 0}, {1, 0}};
	assert_int_equal(eptf_hv_ranges_merge(z, 2), 0);

	/* ends that would pass 2^64 saturate instead of wrapping */
	struct eptf_hv_range o[] = {{UINT64_MAX - 9, 5}, {UINT64_MAX - 6, 100}};
	assert_int_equal(eptf_hv_ranges_merge(o, 2), 1);
	assert_int_equal(o[0].gfn, UINT64_MAX - 9);
	assert_int_equal(o[0].pages, 9);
}

static void test_merge_large_sort(void **state)
{
	(void)state;
	size_t n = 200000;
	struct eptf_hv_range *r = malloc(n * sizeof(*r));
	struct iv *want = malloc(n * sizeof(*want));

	assert_non_null(r);
	assert_non_null(want);
	rng_state = 42;
	for (size_t i = 0; i < n; i++) {
		r[i].gfn = rnd() % (1ull << 30);
		r[i].pages = 1 + rnd() % 4000;
	}
	size_t nw = union_of(r, n, want);
	size_t nm = eptf_hv_ranges_merge(r, n);
	assert_int_equal(nm, nw);
	for (size_t i = 0; i < nm; i++) {
		assert_int_equal(r[i].gfn, want[i].s);
		assert_int_equal(r[i].gfn + r[i].pages, want[i].e);
	}
	/* patterns that hurt naive quicksorts: all equal, sawtooth, organ pipe */
	for (int pat = 0; pat < 3; pat++) {
		for (size_t i = 0; i < n; i++) {
			r[i].gfn = pat == 0 ? 7 : pat == 1 ? (i % 1000) * 10 : (i < n / 2 ? i : n - i) * 10;
			r[i].pages = pat == 0 ? 1 + i % 3 : 1;
		}
		nw = union_of(r, n, want);
		nm = eptf_hv_ranges_merge(r, n);
		assert_int_equal(nm, nw);
		for (size_t i = 0; i < nm; i++) {
			assert_int_equal(r[i].gfn, want[i].s);
			assert_int_equal(r[i].gfn + r[i].pages, want[i].e);
		}
	}
	/* already sorted and reverse sorted inputs */
	for (size_t i = 0; i < n; i++) {
		r[i].gfn = 3 * (n - i);
		r[i].pages = 1;
	}
	assert_int_equal(eptf_hv_ranges_merge(r, n), n);
	for (size_t i = 1; i < n; i++)
		assert_true(r[i - 1].gfn < r[i].gfn);
	free(r);
	free(want);
}

/* Build one range and return its decoded entries (at most @max). */
static size_t one(uint64_t gfn, uint64_t pages, unsigned flags, struct eptf_hv_entry *out, size_t max)
{
	static struct eptf_hv_flush_list pages_buf[4];
	uint16_t counts[4];
	struct eptf_hv_range r = {gfn, pages};
	int np = eptf_hv_build_pages(&r, 1, flags, 0, pages_buf, 4, counts);
	size_t k = 0;

	assert_true(np >= 0);
	for (int p = 0; p < np; p++)
		for (unsigned i = 0; i < counts[p]; i++) {
			assert_true(k < max);
			assert_int_equal(eptf_hv_entry_decode(pages_buf[p].gpa_list[i], &out[k]), 0);
			k++;
		}
	assert_int_equal(k, eptf_hv_count_entries(&r, 1, flags));
	return k;
}

#define F2M EPTF_HV_MERGE_LARGE_2M
#define F1G EPTF_HV_MERGE_LARGE_1G
#define G1 (1ull << 18)

static void test_large_entries(void **state)
{
	(void)state;
	struct eptf_hv_entry e[1100];

	/* one 2 MiB page: a small entry does it in one; large only when it saves entries */
	assert_int_equal(one(0, 512, F2M | F1G, e, 4), 1);
	assert_int_equal(e[0].unit, EPTF_HV_UNIT_4K);
	/* 8 aligned 2 MiB units: one 2M entry instead of two small */
	assert_int_equal(one(0, 4096, F2M, e, 4), 1);
	assert_int_equal(e[0].unit, EPTF_HV_UNIT_2M);
	assert_int_equal(e[0].units, 8);
	assert_int_equal(one(0, 4096, 0, e, 4), 2);
	/* one aligned 1 GiB: 1G entry, or 512 2M units in one entry, or 128 small */
	assert_int_equal(one(G1, G1, F1G, e, 4), 1);
	assert_int_equal(e[0].unit, EPTF_HV_UNIT_1G);
	assert_int_equal(e[0].gfn, G1);
	assert_int_equal(one(G1, G1, F2M, e, 4), 1);
	assert_int_equal(e[0].unit, EPTF_HV_UNIT_2M);
	assert_int_equal(e[0].units, 512);
	assert_int_equal(one(G1, G1, 0, e, 200), 128);
	/* both allowed, equal counts: the 1G unit is preferred over 512 2M units */
	assert_int_equal(one(G1, G1, F2M | F1G, e, 4), 1);
	assert_int_equal(e[0].unit, EPTF_HV_UNIT_1G);
	/* 1G alignment: 1 GiB of frames from a 2 MiB (not 1 GiB) boundary can't use 1G */
	assert_int_equal(one(G1 + 512, G1, F1G, e, 200), 128);
	assert_int_equal(e[0].unit, EPTF_HV_UNIT_4K);
	assert_int_equal(one(G1 + 512, G1, F1G | F2M, e, 4), 1);
	assert_int_equal(e[0].unit, EPTF_HV_UNIT_2M);
	/* 1G-only: unaligned head and tail as small entries around the 1G run */
	assert_int_equal(one(G1 - 100, 3 * G1 + 200, F1G, e, 4), 3);
	assert_int_equal(e[0].gfn, G1 - 100);
	assert_int_equal(e[0].pages, 100);
	assert_int_equal(e[1].unit, EPTF_HV_UNIT_1G);
	assert_int_equal(e[1].units, 3);
	assert_int_equal(e[2].pages, 100);
	/* straddling a 1 GiB run by one 2 MiB unit each side: one 2M entry of 514 beats 2M+1G+2M */
	assert_int_equal(one(G1 - 512, G1 + 1024, F2M | F1G, e, 4), 1);
	assert_int_equal(e[0].unit, EPTF_HV_UNIT_2M);
	assert_int_equal(e[0].units, 514);
	/* 4 TiB aligned: 4096 1G units in two entries; 2^21 2M units in 1024 entries */
	assert_int_equal(one(0, 1ull << 30, F1G, e, 4), 2);
	assert_int_equal(e[0].units, 2048);
	assert_int_equal(e[1].gfn, 2048ull << 18);
	assert_int_equal(one(0, 1ull << 30, F2M, e, 1100), 1024);
	/* small head absorbing 2M units: [100, 100 + 1948 + 4*2048*512) */
	assert_int_equal(one(100, 412 + 1536 + 4096ull * 512, F2M, e, 8), 3);
	assert_int_equal(e[0].gfn, 100);
	assert_int_equal(e[0].pages, 1948); /* 412 to the boundary + 3 units absorbed */
	assert_int_equal(e[1].unit, EPTF_HV_UNIT_2M);
	assert_int_equal(e[1].units, 2048);
	/* near the top of the frame space */
	assert_int_equal(one((1ull << 52) - G1, G1, F1G, e, 4), 1);
	assert_int_equal(e[0].gfn, (1ull << 52) - G1);
}

static void test_build_errors(void **state)
{
	(void)state;
	static struct eptf_hv_flush_list p[2];
	uint16_t counts[2] = {77, 77};
	struct eptf_hv_range past[] = {{0, 5}, {(1ull << 52) - 1, 2}};
	struct eptf_hv_range many = {0, 511ull * 2048}; /* 511 small entries */

	p[0].address_space = 0x5a;
	assert_int_equal(eptf_hv_build_pages(past, 2, 0, 1, p, 2, counts), EPTF_EGPARANGE);
	assert_int_equal(p[0].address_space, 0x5a); /* nothing written */
	assert_int_equal(eptf_hv_build_pages(&many, 1, 0, 1, p, 1, counts), EPTF_ENOSPC);
	assert_int_equal(p[0].address_space, 0x5a);
	assert_int_equal(counts[0], 77);
	assert_int_equal(eptf_hv_build_pages(&many, 1, 0, 1, p, 2, counts), 2);
	assert_int_equal(counts[0], 510);
	assert_int_equal(counts[1], 1);
	/* with 2M entries the same range takes one entry */
	assert_int_equal(eptf_hv_build_pages(&many, 1, F2M, 1, p, 1, counts), 1);
	assert_int_equal(counts[0], 1);
	/* nothing to do: no pages used */
	assert_int_equal(eptf_hv_build_pages(NULL, 0, 0, 1, p, 0, counts), 0);
	struct eptf_hv_range empty = {5, 0};
	assert_int_equal(eptf_hv_build_pages(&empty, 1, 0, 1, p, 0, counts), 0);
	assert_int_equal(eptf_hv_count_entries(&empty, 1, 0), 0);
}

/* Brute force: the fewest entries that exactly cover [s, e) (shortest path). */
static uint64_t brute_min(uint64_t s, uint64_t e, unsigned flags)
{
	uint64_t nodes[4200], best[4200];
	size_t n = 0;

	nodes[n++] = s;
	for (uint64_t x = (s / 512 + 1) * 512; x < e; x += 512)
		nodes[n++] = x;
	nodes[n++] = e;
	assert_true(n <= 4200);
	best[0] = 0;
	for (size_t j = 1; j < n; j++) {
		best[j] = UINT64_MAX;
		for (size_t i = 0; i < j; i++) {
			uint64_t len = nodes[j] - nodes[i], c = (len + 2047) / 2048;

			if ((flags & F2M) && nodes[i] % 512 == 0 && len % 512 == 0) {
				uint64_t c2 = (len / 512 + 2047) / 2048;
				c = c2 < c ? c2 : c;
			}
			if ((flags & F1G) && nodes[i] % G1 == 0 && len % G1 == 0) {
				uint64_t c3 = (len / G1 + 2047) / 2048;
				c = c3 < c ? c3 : c;
			}
			if (best[i] + c < best[j])
				best[j] = best[i] + c;
		}
	}
	return best[n - 1];
}

static void test_minimal_vs_brute_force(void **state)
{
	(void)state;
	rng_state = 0xb00f;
	/* 2M: ranges up to ~40000 pages starting anywhere in the first 8 MiB */
	for (int i = 0; i < 3000; i++) {
		uint64_t s = rnd() % 2048 + (rnd() % 2 ? 0 : 512 * (rnd() % 8));
		uint64_t len = 1 + rnd() % (i % 3 == 0 ? 40000 : 5000);
		struct eptf_hv_range r = {s, len};
		for (unsigned f = 0; f < 2; f++) {
			uint64_t want = brute_min(s, s + len, f ? F2M : 0);
			if (eptf_hv_count_entries(&r, 1, f ? F2M : 0) != want)
				fail_msg("[%llu, +%llu) flags %u: %zu entries, optimum %llu",
					 (unsigned long long)s, (unsigned long long)len, f,
					 eptf_hv_count_entries(&r, 1, f ? F2M : 0),
					 (unsigned long long)want);
		}
	}
	/* 1G (with and without 2M): ranges around 1 GiB boundaries, up to ~2 GiB */
	for (int i = 0; i < 40; i++) {
		uint64_t s = G1 - rnd() % (8 * 2048) + (rnd() % 2 ? 0 : 512 * (rnd() % 4));
		uint64_t len = G1 + rnd() % (G1 + 1);
		struct eptf_hv_range r = {s, len};
		const unsigned fs[] = {F1G, F1G | F2M};
		for (unsigned k = 0; k < 2; k++) {
			uint64_t want = brute_min(s, s + len, fs[k]);
			assert_int_equal(eptf_hv_count_entries(&r, 1, fs[k]), want);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_basic),
		cmocka_unit_test(test_merge_large_sort),
		cmocka_unit_test(test_large_entries),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_property_random_sets),
		cmocka_unit_test(test_minimal_vs_brute_force),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
