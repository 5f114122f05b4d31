/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * eptf_hv_fill_linux held to Linux's behaviour. The reference below is our
 * own model of hyperv_fill_flush_guest_mapping_list() with the seed's offset
 * parameter, written from its documented semantics (seed-series.md 4, 7.8):
 * gpa_n starts at offset; while pages remain: if gpa_n >= 510 return -ENOSPC;
 * additional_pages = min(remaining, 2048) - 1; entry = {additional_pages,
 * largepage 0, basepfn cur}; advance. It encodes by arithmetic (multiply /
 * add) rather than the library's shifts so that a shared mistake is unlikely.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/hv.h>

#define SENTINEL 0xdeadbeefcafef00dull
#define REF_ENOSPC (-1000)

/* Reference: returns the entry count or REF_ENOSPC; writes like Linux. */
static int ref_fill(uint64_t *list, int offset, uint64_t cur, uint64_t pages)
{
	int gpa_n = offset;

	do {
		if (gpa_n >= 510)
			return REF_ENOSPC;
		uint64_t add = (pages < 2048 ? pages : 2048) - 1;

		list[gpa_n] = add + 0 * 2048 + cur * 4096; /* bits 0-10, bit 11, 12-63 */
		pages -= add + 1;
		cur += add + 1;
		gpa_n++;
	} while (pages > 0);
	return gpa_n;
}

static struct eptf_hv_flush_list got;
static uint64_t want[EPTF_HV_MAX_FLUSH_REP_COUNT];
static unsigned long checks;

static void fill_sentinel(void)
{
	got.address_space = SENTINEL;
	got.flags = SENTINEL;
	for (unsigned i = 0; i < EPTF_HV_MAX_FLUSH_REP_COUNT; i++) {
		got.gpa_list[i] = SENTINEL ^ i;
		want[i] = SENTINEL ^ i;
	}
}

/* One comparison of the library against the reference. */
static void check_one(int offset, uint64_t start, uint64_t pages)
{
	fill_sentinel();
	int r = eptf_hv_fill_linux(&got, offset, start, pages);
	int w = ref_fill(want, offset, start, pages);

	if (w == REF_ENOSPC) {
		if (r != EPTF_ENOSPC)
			fail_msg("offset %d start %llu pages %llu: got %d, want ENOSPC", offset,
				 (unsigned long long)start, (unsigned long long)pages, r);
	} else if (r != w) {
		fail_msg("offset %d start %llu pages %llu: got %d, want %d", offset,
			 (unsigned long long)start, (unsigned long long)pages, r, w);
	}
	/* the header is not the filler's business */
	assert_int_equal(got.address_space, SENTINEL);
	assert_int_equal(got.flags, SENTINEL);
	/* every slot, written or not, matches the reference (including the
	 * entries Linux leaves behind on -ENOSPC) */
	if (memcmp(got.gpa_list, want, sizeof(want)) != 0) {
		for (unsigned i = 0; i < EPTF_HV_MAX_FLUSH_REP_COUNT; i++)
			if (got.gpa_list[i] != want[i])
				fail_msg("offset %d start %llu pages %llu: entry %u is 0x%016llx, want "
					 "0x%016llx",
					 offset, (unsigned long long)start, (unsigned long long)pages, i,
					 (unsigned long long)got.gpa_list[i],
					 (unsigned long long)want[i]);
	}
	checks++;
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static const uint64_t starts[] = {
	0, 1, 511, 512, 2047, 2048, 0x12345, 0x40000, (1ull << 40) + 3, (1ull << 52) - (1ull << 21) - 5,
};

static void test_sweep_lengths(void **state)
{
	(void)state;
	const int offsets[] = {0, 1, 7, 255, 509, 510};

	checks = 0;
	for (size_t si = 0; si < sizeof(starts) / sizeof(starts[0]); si++) {
		uint64_t s = starts[si];

		/* every length 1..4100 at offset 0 and one other offset */
		for (uint64_t n = 1; n <= 4100; n++) {
			check_one(0, s, n);
			check_one((int)(n % 511), s, n);
		}
		/* around every multiple of 2048 up to 2,000,000 pages */
		for (uint64_t k = 1; k * 2048 <= 2000000 + 2048; k++) {
			for (int d = -2; d <= 2; d++) {
				uint64_t n = k * 2048 + (uint64_t)(int64_t)d;

				for (size_t oi = 0; oi < sizeof(offsets) / sizeof(offsets[0]); oi++)
					check_one(offsets[oi], s, n);
			}
		}
		/* random lengths up to 2,000,000 */
		for (int i = 0; i < 300; i++)
			check_one((int)(rnd() % 511), s, 1 + rnd() % 2000000);
	}
	assert_true(checks > 100000);
}

/* The 510-entry edge: 510 * 2048 = 1,044,480 pages fit exactly at offset 0. */
static void test_entry_limit_edge(void **state)
{
	(void)state;
	const uint64_t edge = 510ull * 2048;

	fill_sentinel();
	assert_int_equal(eptf_hv_fill_linux(&got, 0, 0, edge), 510);
	assert_int_equal(got.gpa_list[509], 509ull * 2048 * 4096 + 2047);
	fill_sentinel();
	assert_int_equal(eptf_hv_fill_linux(&got, 0, 0, edge + 1), EPTF_ENOSPC);
	/* Linux wrote all 510 entries before finding no room for the 511th */
	assert_int_equal(got.gpa_list[509], 509ull * 2048 * 4096 + 2047);

	/* at every offset, the largest range that fits and one page more */
	for (int off = 0; off <= 510; off++) {
		uint64_t fit = (uint64_t)(510 - off) * 2048;

		if (fit > 0) {
			check_one(off, 0x1000, fit);
			check_one(off, 0x1000, fit - 1);
			check_one(off, 0x1000, fit - 2047);
		}
		check_one(off, 0x1000, fit + 1);
		check_one(off, 0x1000, 1);
		check_one(off, 0x1000, 2049);
		fill_sentinel();
		int r = eptf_hv_fill_linux(&got, off, 7, fit + 1);
		assert_int_equal(r, EPTF_ENOSPC);
		if (fit > 0)
			assert_int_equal(eptf_hv_fill_linux(&got, off, 7, fit), 510);
	}
	/* all offsets with a dense set of lengths around the edge */
	for (int off = 0; off <= 510; off += 3)
		for (uint64_t n = edge - 4100; n <= edge + 4100; n += 1021)
			check_one(off, 0xabc, n);
}

/* Appending at the count a previous call returned continues the list (patch 1). */
static void test_append_chain(void **state)
{
	(void)state;
	struct eptf_hv_flush_list l;
	int n = 0;

	n = eptf_hv_fill_linux(&l, n, 100, 3000); /* 2048 + 952 */
	assert_int_equal(n, 2);
	n = eptf_hv_fill_linux(&l, n, 9000, 1);
	assert_int_equal(n, 3);
	n = eptf_hv_fill_linux(&l, n, 0x200, 512);
	assert_int_equal(n, 4);
	/* 0x647ff: basepfn 100 (0x64), additional 0x7ff; 0x8643b7: basepfn 2148 (0x864),
	 * additional 951 (0x3b7); 0x2328000: basepfn 9000, additional 0;
	 * 0x2001ff: basepfn 0x200, additional 511 */
	assert_int_equal(l.gpa_list[0], 0x647ffull);
	assert_int_equal(l.gpa_list[1], 0x8643b7ull);
	assert_int_equal(l.gpa_list[2], 0x2328000ull);
	assert_int_equal(l.gpa_list[3], 0x2001ffull);
}

static void test_errors(void **state)
{
	(void)state;
	const int bad_offsets[] = {-1, -2, -510, -2147483647 - 1, 511, 512, 100000, 2147483647};

	for (size_t i = 0; i < sizeof(bad_offsets) / sizeof(bad_offsets[0]); i++) {
		fill_sentinel();
		assert_int_equal(eptf_hv_fill_linux(&got, bad_offsets[i], 0, 1), EPTF_EBADOFFSET);
		/* bad offset wins over the other errors */
		assert_int_equal(eptf_hv_fill_linux(&got, bad_offsets[i], 0, 0), EPTF_EBADOFFSET);
		assert_int_equal(eptf_hv_fill_linux(&got, bad_offsets[i], 1ull << 52, 1),
				 EPTF_EBADOFFSET);
		assert_memory_equal(got.gpa_list, want, sizeof(want)); /* untouched */
	}
	fill_sentinel();
	assert_int_equal(eptf_hv_fill_linux(&got, 0, 0, 0), EPTF_EEMPTY);
	assert_int_equal(eptf_hv_fill_linux(&got, 510, 5, 0), EPTF_EEMPTY);
	assert_int_equal(eptf_hv_fill_linux(&got, 0, 1ull << 52, 0), EPTF_EEMPTY);
	/* ranges running past 2^52 frames */
	assert_int_equal(eptf_hv_fill_linux(&got, 0, 1ull << 52, 1), EPTF_EGPARANGE);
	assert_int_equal(eptf_hv_fill_linux(&got, 0, (1ull << 52) - 1, 2), EPTF_EGPARANGE);
	assert_int_equal(eptf_hv_fill_linux(&got, 0, 5, UINT64_MAX), EPTF_EGPARANGE);
	assert_int_equal(eptf_hv_fill_linux(&got, 0, UINT64_MAX, 1), EPTF_EGPARANGE);
	assert_int_equal(eptf_hv_fill_linux(&got, 3, 1, (1ull << 52)), EPTF_EGPARANGE);
	assert_memory_equal(got.gpa_list, want, sizeof(want)); /* untouched */
	/* the last frame itself is fine */
	assert_int_equal(eptf_hv_fill_linux(&got, 0, (1ull << 52) - 1, 1), 1);
	assert_int_equal(got.gpa_list[0], 0xfffffffffffff000ull);
	/* offset 510 is legal but full: ENOSPC, not EBADOFFSET */
	assert_int_equal(eptf_hv_fill_linux(&got, 510, 0, 1), EPTF_ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sweep_lengths),
		cmocka_unit_test(test_entry_limit_edge),
		cmocka_unit_test(test_append_chain),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
