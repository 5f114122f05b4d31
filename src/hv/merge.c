/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The merging builder (ours, not in Linux): sort and merge ranges, then cover
 * each merged range exactly with the fewest entries, using 2 MiB / 1 GiB
 * entries where the parent accepts them, over as many input pages as needed.
 *
 * Covering one range [s, e) with the fewest entries. Entries come in three
 * kinds: small (any start, 1..2048 pages), 2M (512-aligned start, 1..2048
 * units of 512 pages) and 1G (262144-aligned start, 1..2048 units). In an
 * optimal cover, a small entry lying between two large entries starts and
 * ends 2 MiB aligned and could be a 2M entry, and a 2M entry between two 1G
 * entries could be a 1G entry, so some optimal cover has the shape
 *
 *     [s, a) small | [a, b) 2M | [b, c) 1G | [c, d) 2M | [d, e) small
 *
 * (any region may be empty), each region cut into full entries plus one
 * partial. The cost of a region of u units is ceil(u / 2048). Moving a
 * boundary up by four 2M units (2048 pages) costs the small region below
 * exactly one more entry and saves the region above at most one, so it never
 * pays; hence a needs to be tried only at round_up(s, 512) + k * 512 for
 * k = 0..4 (one spare for the rounding of the next boundary), and likewise b
 * relative to a, c relative to d and d relative to e. When 2M entries are
 * not allowed, a 1G region follows the small one directly and moving it by
 * one 1G unit adds 128 small entries, so only the first aligned boundary and
 * one spare are tried. We evaluate the all-small cover (Linux's, cost
 * ceil((e - s) / 2048)), the best 2M-only cover and the best cover with a 1G
 * region, and keep the cheapest; on a tie the all-small cover wins over any
 * large one, and a cover with a 1G region wins over a 2M-only one. So
 * the result never has more entries than the Linux filler, and large entries
 * are used only where they save entries. The property tests in
 * tests/test_hv_merge.c check minimality against a brute-force search and
 * that no two entries could be merged.
 *
 * Freestanding: no libc; the sort is our own introsort with a heapsort
 * fallback (qsort is libc).
 */
#include <eptflush/hv.h>

#define MAXU EPTF_HV_MAX_FLUSH_PAGES /* units per entry, any kind */
#define P2M EPTF_HV_PAGES_2M
#define P1G EPTF_HV_PAGES_1G
#define SPARE 5u /* boundary candidates k = 0..4 */
#define LARGE_ANY (EPTF_HV_MERGE_LARGE_2M | EPTF_HV_MERGE_LARGE_1G)

static uint64_t range_end_sat(const struct eptf_hv_range *r)
{
	return r->pages > UINT64_MAX - r->gfn ? UINT64_MAX : r->gfn + r->pages;
}

static bool range_less(const struct eptf_hv_range *x, const struct eptf_hv_range *y)
{
	return x->gfn < y->gfn || (x->gfn == y->gfn && x->pages < y->pages);
}

static void range_swap(struct eptf_hv_range *x, struct eptf_hv_range *y)
{
	uint64_t g = x->gfn, p = x->pages;

	x->gfn = y->gfn;
	x->pages = y->pages;
	y->gfn = g;
	y->pages = p;
}

static void sift_down(struct eptf_hv_range *r, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;

		if (child >= n)
			return;
		if (child + 1 < n && range_less(&r[child], &r[child + 1]))
			child++;
		if (!range_less(&r[root], &r[child]))
			return;
		range_swap(&r[root], &r[child]);
		root = child;
	}
}

/* Heapsort: O(n log n) worst case, in place, no recursion. */
static void heap_sort(struct eptf_hv_range *r, size_t n)
{
	if (n < 2)
		return;
	for (size_t i = n / 2; i-- > 0;)
		sift_down(r, i, n);
	for (size_t end = n - 1; end > 0; end--) {
		range_swap(&r[0], &r[end]);
		sift_down(r, 0, end);
	}
}

static void insertion_sort(struct eptf_hv_range *r, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && range_less(&r[j], &r[j - 1]); j--)
			range_swap(&r[j], &r[j - 1]);
}

/*
 * Introsort: quicksort (median of three, Hoare partition) that falls back to
 * heapsort when it recurses deeper than 2 log2(n), so O(n log n) in the
 * worst case, and insertion sort for short runs. It recurses on the smaller
 * side only, so the stack stays O(log n). Heapsort alone is 3-4 times slower
 * on 10^6 ranges (cache misses; bench/bench_hv_encode.c).
 */
static void intro_sort(struct eptf_hv_range *r, size_t n, unsigned depth)
{
	while (n > 16) {
		if (depth == 0) {
			heap_sort(r, n);
			return;
		}
		depth--;
		/* median of three to r[0], then Hoare partition around it */
		size_t mid = n / 2;
		if (range_less(&r[mid], &r[0]))
			range_swap(&r[mid], &r[0]);
		if (range_less(&r[n - 1], &r[0]))
			range_swap(&r[n - 1], &r[0]);
		if (range_less(&r[n - 1], &r[mid]))
			range_swap(&r[n - 1], &r[mid]);
		range_swap(&r[0], &r[mid]); /* pivot (the median) at r[0] */
		struct eptf_hv_range pivot = r[0];
		size_t i = 0, j = n;

		for (;;) {
			do
				i++;
			while (i < n && range_less(&r[i], &pivot));
			do
				j--;
			while (range_less(&pivot, &r[j]));
			if (i >= j)
				break;
			range_swap(&r[i], &r[j]);
		}
		range_swap(&r[0], &r[j]); /* pivot to its place: [0, j) <= r[j] <= (j, n) */
		size_t left = j, right = n - j - 1;

		if (left < right) {
			intro_sort(r, left, depth);
			r += j + 1;
			n = right;
		} else {
			intro_sort(r + j + 1, right, depth);
			n = left;
		}
	}
	insertion_sort(r, n);
}

static void ranges_sort(struct eptf_hv_range *r, size_t n)
{
	unsigned depth = 0;
	size_t i = 1;

	/*
	 * Already in order (one range, the items of one pass, a list merged
	 * before): nothing to do. The order is total on (gfn, pages), so
	 * skipping the sort cannot change the result.
	 */
	while (i < n && !range_less(&r[i], &r[i - 1]))
		i++;
	if (i >= n)
		return;

	for (size_t m = n; m > 1; m >>= 1)
		depth += 2;
	intro_sort(r, n, depth);
}

size_t eptf_hv_ranges_merge(struct eptf_hv_range *ranges, size_t n)
{
	size_t out = 0;

	if (!ranges)
		return 0;
	ranges_sort(ranges, n);
	for (size_t i = 0; i < n; i++) {
		if (ranges[i].pages == 0)
			continue;
		if (out > 0) {
			struct eptf_hv_range *last = &ranges[out - 1];
			uint64_t last_end = range_end_sat(last);

			/* overlapping or adjacent: extend (ends saturate at 2^64 - 1) */
			if (ranges[i].gfn <= last_end) {
				uint64_t end = range_end_sat(&ranges[i]);

				if (end > last_end)
					last->pages = end - last->gfn;
				continue;
			}
		}
		ranges[out].gfn = ranges[i].gfn;
		ranges[out].pages = ranges[i].pages;
		out++;
	}
	return out;
}

/* ---- covering one range ------------------------------------------------ */

/* Region boundaries, s <= a <= b <= c <= d <= e, see the comment on top. */
struct plan {
	uint64_t s, a, b, c, d, e;
};

/* Entries for @len pages in units of @unit_pages (len is a multiple). */
static uint64_t region_cost(uint64_t len, uint64_t unit_pages)
{
	return (len / unit_pages + MAXU - 1) / MAXU;
}

static uint64_t round_up(uint64_t x, uint64_t align)
{
	return (x + align - 1) & ~(align - 1);
}

static uint64_t round_down(uint64_t x, uint64_t align)
{
	return x & ~(align - 1);
}

struct side {
	uint64_t outer; /* a (ascending) or d (descending) */
	uint64_t inner; /* b or c: the 1G boundary */
	uint64_t cost;
};

/*
 * Candidate (a, b) pairs for the ascending side: S1 = [s, a) small,
 * M1 = [a, b) 2M, b 1 GiB aligned. Returns how many were stored.
 */
static unsigned up_sides(uint64_t s, uint64_t e, bool use2m, struct side *out)
{
	unsigned n = 0;

	if (!use2m) {
		uint64_t b0 = round_up(s, P1G);

		for (unsigned kb = 0; kb < 2; kb++) {
			uint64_t b = b0 + kb * P1G;

			if (b > e)
				break;
			out[n].outer = b;
			out[n].inner = b;
			out[n].cost = region_cost(b - s, 1);
			n++;
		}
		return n;
	}
	for (unsigned ka = 0; ka < SPARE; ka++) {
		uint64_t a = round_up(s, P2M) + ka * P2M;

		if (a > e)
			break;
		for (unsigned kb = 0; kb < SPARE; kb++) {
			uint64_t b = round_up(a, P1G) + kb * P1G;

			if (b > e)
				break;
			out[n].outer = a;
			out[n].inner = b;
			out[n].cost = region_cost(a - s, 1) + region_cost(b - a, P2M);
			n++;
		}
	}
	return n;
}

/* Candidate (d, c) pairs: M2 = [c, d) 2M, S2 = [d, e) small, c 1 GiB aligned. */
static unsigned down_sides(uint64_t s, uint64_t e, bool use2m, struct side *out)
{
	unsigned n = 0;

	if (!use2m) {
		uint64_t c0 = round_down(e, P1G);

		for (unsigned kc = 0; kc < 2; kc++) {
			if (c0 < s + kc * P1G)
				break;
			uint64_t c = c0 - kc * P1G;

			out[n].outer = c;
			out[n].inner = c;
			out[n].cost = region_cost(e - c, 1);
			n++;
		}
		return n;
	}
	for (unsigned kd = 0; kd < SPARE; kd++) {
		uint64_t d0 = round_down(e, P2M);

		if (d0 < s + kd * P2M)
			break;
		uint64_t d = d0 - kd * P2M;

		for (unsigned kc = 0; kc < SPARE; kc++) {
			uint64_t c0 = round_down(d, P1G);

			if (c0 < s + kc * P1G)
				break;
			uint64_t c = c0 - kc * P1G;

			out[n].outer = d;
			out[n].inner = c;
			out[n].cost = region_cost(e - d, 1) + region_cost(d - c, P2M);
			n++;
		}
	}
	return n;
}

/*
 * The cheapest cover of [s, e) (s < e <= 2^52) of the shape above. Returns
 * its entry count and stores its boundaries in @p.
 */
static uint64_t plan_range(uint64_t s, uint64_t e, unsigned flags, struct plan *p)
{
	bool use2m = flags & EPTF_HV_MERGE_LARGE_2M;
	bool use1g = flags & EPTF_HV_MERGE_LARGE_1G;
	uint64_t best = region_cost(e - s, 1);
	bool best_large = false;

	/* all small: Linux's cover */
	p->s = s;
	p->a = p->b = p->c = p->d = p->e = e;

	if (use2m) {
		for (unsigned ka = 0; ka < SPARE; ka++) {
			uint64_t a = round_up(s, P2M) + ka * P2M;

			if (a > e)
				break;
			for (unsigned kd = 0; kd < SPARE; kd++) {
				uint64_t d0 = round_down(e, P2M);

				if (d0 < s + kd * P2M)
					break;
				uint64_t d = d0 - kd * P2M;

				if (d <= a)
					break;
				uint64_t cost = region_cost(a - s, 1) + region_cost(d - a, P2M) +
						region_cost(e - d, 1);
				if (cost < best) {
					best = cost;
					best_large = true;
					p->a = a;
					p->b = p->c = p->d = d;
				}
			}
		}
	}
	if (use1g && e - s >= P1G) {
		struct side up[SPARE * SPARE], down[SPARE * SPARE];
		unsigned nu = up_sides(s, e, use2m, up);
		unsigned nd = down_sides(s, e, use2m, down);

		for (unsigned i = 0; i < nu; i++) {
			for (unsigned j = 0; j < nd; j++) {
				if (up[i].inner >= down[j].inner)
					continue;
				uint64_t cost = up[i].cost + down[j].cost +
						region_cost(down[j].inner - up[i].inner, P1G);
				/* between two large covers, take the one with 1G units */
				if (cost < best || (cost == best && best_large)) {
					best = cost;
					p->a = up[i].outer;
					p->b = up[i].inner;
					p->c = down[j].inner;
					p->d = down[j].outer;
				}
			}
		}
	}
	return best;
}

size_t eptf_hv_count_entries(const struct eptf_hv_range *ranges, size_t n, unsigned flags)
{
	size_t total = 0;
	struct plan p;

	if (!ranges)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const struct eptf_hv_range *r = &ranges[i];

		if (r->pages == 0)
			continue;
		/*
		 * A range build_pages would reject: count it as the Linux
		 * filler would. Without large entries every cover is the
		 * Linux one too (plan_range's all-small plan).
		 */
		if (!(flags & LARGE_ANY) || r->gfn >= EPTF_HV_FRAME_LIMIT ||
		    r->pages > EPTF_HV_FRAME_LIMIT - r->gfn)
			total += (size_t)region_cost(r->pages, 1);
		else
			total += (size_t)plan_range(r->gfn, r->gfn + r->pages, flags, &p);
	}
	return total;
}

/* ---- writing input pages ----------------------------------------------- */

struct emitter {
	struct eptf_hv_flush_list *pages;
	uint16_t *counts;
	uint64_t address_space;
	size_t page;  /* current page */
	unsigned idx; /* entries in the current page */
};

static void emit(struct emitter *em, uint64_t entry)
{
	if (em->idx == EPTF_HV_MAX_FLUSH_REP_COUNT) {
		em->page++;
		em->idx = 0;
	}
	if (em->idx == 0) {
		em->pages[em->page].address_space = em->address_space;
		em->pages[em->page].flags = 0;
	}
	em->pages[em->page].gpa_list[em->idx++] = entry;
	em->counts[em->page] = (uint16_t)em->idx;
}

/* Cover [x, y) with entries of @unit (both ends aligned to it). */
static void emit_region(struct emitter *em, uint64_t x, uint64_t y, enum eptf_hv_unit unit)
{
	uint64_t up, units;

	if (x >= y) /* most of a plan's five regions are empty */
		return;
	up = unit == EPTF_HV_UNIT_1G ? P1G : unit == EPTF_HV_UNIT_2M ? P2M : 1;
	units = (y - x) / up;

	while (units > 0) {
		uint32_t n = units < MAXU ? (uint32_t)units : MAXU;
		uint64_t entry = 0;

		/*
		 * Cannot fail: x aligned, n in 1..2048, range checked by the
		 * caller. A 4 KiB entry (every entry unless the parent takes
		 * large ones) is written as eptf_hv_entry_encode() writes it:
		 * additional_pages 10:0, basepfn 63:12.
		 */
		if (unit == EPTF_HV_UNIT_4K)
			entry = (uint64_t)(n - 1) | (x << 12);
		else
			(void)eptf_hv_entry_encode(x, n, unit, &entry);
		emit(em, entry);
		x += (uint64_t)n * up;
		units -= n;
	}
}

int eptf_hv_build_pages(const struct eptf_hv_range *ranges, size_t n, unsigned flags,
			uint64_t address_space, struct eptf_hv_flush_list *pages,
			size_t max_pages, uint16_t *counts)
{
	struct emitter em = {pages, counts, address_space, 0, 0};
	size_t total, needed;
	struct plan p;

	if (n > 0 && !ranges)
		return EPTF_EINVAL;
	total = 0;
	for (size_t i = 0; i < n; i++) {
		const struct eptf_hv_range *r = &ranges[i];

		if (r->pages && (r->gfn >= EPTF_HV_FRAME_LIMIT ||
				 r->pages > EPTF_HV_FRAME_LIMIT - r->gfn))
			return EPTF_EGPARANGE;
		/* eptf_hv_count_entries() without large entries, in the same pass */
		total += (size_t)region_cost(r->pages, 1);
	}
	if (flags & LARGE_ANY)
		total = eptf_hv_count_entries(ranges, n, flags);
	if (total == 0)
		return 0;
	needed = (total + EPTF_HV_MAX_FLUSH_REP_COUNT - 1) / EPTF_HV_MAX_FLUSH_REP_COUNT;
	if (needed > max_pages || needed > (size_t)INT32_MAX)
		return EPTF_ENOSPC;
	if (!pages || !counts)
		return EPTF_EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct eptf_hv_range *r = &ranges[i];

		if (r->pages == 0)
			continue;
		if (!(flags & LARGE_ANY)) {
			/*
			 * plan_range's all-small plan, without planning:
			 * emit_region(gfn, gfn + pages, 4K) without its division
			 * and call (every range unless the parent takes large
			 * entries)
			 */
			uint64_t x = r->gfn, left = r->pages;

			do {
				uint64_t k = left < MAXU ? left : MAXU;

				emit(&em, (k - 1) | (x << 12));
				x += k;
				left -= k;
			} while (left);
			continue;
		}
		plan_range(r->gfn, r->gfn + r->pages, flags, &p);
		emit_region(&em, p.s, p.a, EPTF_HV_UNIT_4K);
		emit_region(&em, p.a, p.b, EPTF_HV_UNIT_2M);
		emit_region(&em, p.b, p.c, EPTF_HV_UNIT_1G);
		emit_region(&em, p.c, p.d, EPTF_HV_UNIT_2M);
		emit_region(&em, p.d, p.e, EPTF_HV_UNIT_4K);
	}
	return (int)needed;
}
