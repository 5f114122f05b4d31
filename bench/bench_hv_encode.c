/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench_hv_encode: how fast the two encoders turn ranges into hv_gpa_page_range
 * entries, on the same 10^6 random ranges, in one run.
 *
 *   linux   eptf_hv_fill_linux, one call per range appended at the running
 *           offset, a fresh input page whenever -ENOSPC says the page is full
 *           (what the seed series does, minus the full-flush fallback).
 *   merge   eptf_hv_ranges_merge (heapsort + merge of all 10^6 ranges) then
 *           eptf_hv_count_entries and eptf_hv_build_pages into as many input
 *           pages as needed; once with 4 KiB entries only and once with 2 MiB /
 *           1 GiB entries allowed. The sort is inside the timed region; the copy
 *           of the unsorted input is not.
 *
 * Ranges (seeded, identical every run): 70% 1..16 pages anywhere (single
 * SPTEs), 20% one 2 MiB-aligned 512-page run (a level-1 shadow page), 9.9%
 * 1..4096 pages, 0.1% a 1 GiB-aligned 262144-page run (a level-2 shadow
 * page); gfns uniform over the first 2^40 frames (4 PiB), so that ranges
 * rarely overlap and merging does not collapse the input. Reported: the median of
 * the repetitions of entries written per second and input ranges per second,
 * and merge/linux ratios.
 *
 * usage: bench_hv_encode [ranges] [repetitions]   (default 1000000 7)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include <eptflush/hv.h>

#include "bench_common.h"

static uint64_t rng_state = 0x6265e5c4f00dull;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}



static volatile uint64_t sink;

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
	int reps = argc > 2 ? atoi(argv[2]) : 7;

	if (n == 0 || reps < 1 || reps > 101) {
		fprintf(stderr, "usage: bench_hv_encode [ranges >= 1] [repetitions 1..101]\n");
		return 2;
	}
	struct eptf_hv_range *in = malloc(n * sizeof(*in)), *work = malloc(n * sizeof(*work));
	double *t_lin = calloc((size_t)reps, sizeof(double)), *t_m0 = calloc((size_t)reps, sizeof(double)),
	       *t_ml = calloc((size_t)reps, sizeof(double)), *t_sort = calloc((size_t)reps, sizeof(double));
	uint64_t linux_entries = 0, m0_entries = 0, ml_entries = 0;

	if (!in || !work || !t_lin || !t_m0 || !t_ml || !t_sort) {
		fprintf(stderr, "bench_hv_encode: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t k = rnd() % 1000, g = rnd() % (1ull << 40);

		if (k < 700) {
			in[i].gfn = g;
			in[i].pages = 1 + rnd() % 16;
		} else if (k < 900) {
			in[i].gfn = g & ~511ull;
			in[i].pages = 512;
		} else if (k < 999) {
			in[i].gfn = g;
			in[i].pages = 1 + rnd() % 4096;
		} else {
			in[i].gfn = g & ~((1ull << 18) - 1);
			in[i].pages = 1ull << 18;
		}
	}

	/* pages for the merge output: never more entries than Linux uses */
	uint64_t bound = 0;
	for (size_t i = 0; i < n; i++)
		bound += (in[i].pages + 2047) / 2048;
	size_t max_pages = (size_t)(bound / EPTF_HV_MAX_FLUSH_REP_COUNT + 1);
	struct eptf_hv_flush_list *pages = malloc(max_pages * sizeof(*pages));
	uint16_t *counts = malloc(max_pages * sizeof(*counts));
	static struct eptf_hv_flush_list list;

	if (!pages || !counts) {
		fprintf(stderr, "bench_hv_encode: out of memory\n");
		return 1;
	}

	for (int r = 0; r < reps; r++) {
		/* linux filler */
		uint64_t entries = 0, sum = 0;
		int off = 0;
		double t0 = bench_wall();

		for (size_t i = 0; i < n; i++) {
			int got = eptf_hv_fill_linux(&list, off, in[i].gfn, in[i].pages);

			if (got == EPTF_ENOSPC) {
				sum += list.gpa_list[off - 1];
				entries += (uint64_t)off;
				off = 0;
				got = eptf_hv_fill_linux(&list, 0, in[i].gfn, in[i].pages);
			}
			if (got < 0) {
				fprintf(stderr, "bench_hv_encode: fill: %s\n", eptf_strerror(got));
				return 1;
			}
			off = got;
		}
		entries += (uint64_t)off;
		t_lin[r] = bench_wall() - t0;
		linux_entries = entries;
		sink += sum;

		/* merging builder, 4 KiB entries only and with large entries */
		for (int large = 0; large < 2; large++) {
			unsigned flags = large ? EPTF_HV_MERGE_LARGE_2M | EPTF_HV_MERGE_LARGE_1G : 0;

			memcpy(work, in, n * sizeof(*in));
			t0 = bench_wall();
			size_t nm = eptf_hv_ranges_merge(work, n);
			if (!large)
				t_sort[r] = bench_wall() - t0;
			int np = eptf_hv_build_pages(work, nm, flags, 0x1000, pages, max_pages, counts);
			double t = bench_wall() - t0;

			if (np < 0) {
				fprintf(stderr, "bench_hv_encode: build: %s\n", eptf_strerror(np));
				return 1;
			}
			entries = 0;
			for (int p = 0; p < np; p++)
				entries += counts[p];
			sink += pages[0].gpa_list[0];
			if (large) {
				t_ml[r] = t;
				ml_entries = entries;
			} else {
				t_m0[r] = t;
				m0_entries = entries;
			}
		}
	}

	double lin = bench_median(t_lin, reps), m0 = bench_median(t_m0, reps), ml = bench_median(t_ml, reps),
	       srt = bench_median(t_sort, reps);

	bench_print_machine();
	printf("input: %zu random ranges (seeded), median of %d repetitions\n\n", n, reps);
	printf("%-22s %10s %12s %14s %14s\n", "encoder", "seconds", "entries", "entries/s", "ranges/s");
	printf("%-22s %10.4f %12llu %14.0f %14.0f\n", "linux filler", lin,
	       (unsigned long long)linux_entries, (double)linux_entries / lin, (double)n / lin);
	printf("%-22s %10.4f %12llu %14.0f %14.0f\n", "merge (4k entries)", m0,
	       (unsigned long long)m0_entries, (double)m0_entries / m0, (double)n / m0);
	printf("%-22s %10.4f %12llu %14.0f %14.0f\n", "merge (--large)", ml,
	       (unsigned long long)ml_entries, (double)ml_entries / ml, (double)n / ml);
	printf("(of the merge time, eptf_hv_ranges_merge's sort + merge: %.4f s)\n", srt);
	printf("\nratio merge(4k)/linux: entries/s %.3f, ranges/s %.3f, entries %.3f\n",
	       ((double)m0_entries / m0) / ((double)linux_entries / lin), lin / m0,
	       (double)m0_entries / (double)linux_entries);
	printf("ratio merge(large)/linux: entries/s %.3f, ranges/s %.3f, entries %.3f\n",
	       ((double)ml_entries / ml) / ((double)linux_entries / lin), lin / ml,
	       (double)ml_entries / (double)linux_entries);
	free(in);
	free(work);
	free(pages);
	free(counts);
	free(t_lin);
	free(t_m0);
	free(t_ml);
	free(t_sort);
	return 0;
}
