// SPDX-License-Identifier: BSD-2-Clause
/*
 * The stale-translation checker and the `ideal` oracle.
 *
 * The items' ranges are sorted and merged into disjoint runs (and the aged
 * items into a second set of runs). For each root in use, the parent's
 * entries overlapping each run are enumerated with eptf_parent_for_each
 * (O(log n + matches), so a level-4 zap costs what is cached under it, not
 * 512^4 pages). An entry overlapping several runs is judged only from the
 * first: it was already reached iff it starts before the end of the
 * previous run (runs are sorted and disjoint, entries contiguous), so no
 * per-entry set is needed and memory stays O(items). An entry is aged iff
 * it overlaps an aged run (binary search).
 *
 * Each entry is judged against L1's tables leaf by leaf, not page by page:
 * an L1 leaf maps contiguous frames with one permission set, so its first
 * page decides for all of its pages, and a 2 MiB entry over a 2 MiB L1
 * leaf is one walk.
 */
#include <stdlib.h>
#include <string.h>

#include <eptflush/checker.h>
#include <eptflush/error.h>

struct run {
	uint64_t lo, hi; /* [lo, hi) input pages */
};

struct chk {
	eptf_xlate_fn xlate;
	void *xctx;
	const struct eptf_flush_point *fp;
	uint64_t root;
	uint64_t prev_end;      /* end of the previous run of this root: entries before it were judged */
	const struct run *aged; /* merged aged runs */
	size_t naged;
	eptf_violation_fn cb;
	void *cbctx;
	size_t stale;
	/* ideal: the stale entries collected */
	bool collect, oom;
	struct eptf_cached *coll;
	size_t ncoll, capcoll;
};

static unsigned clamp_level(unsigned l)
{
	return l < 1 ? 1 : l > 3 ? 3 : l;
}

static uint64_t entry_end(const struct eptf_cached *c)
{
	return c->addr + EPTF_PAGES_PER_LEVEL(clamp_level(c->level));
}

/* Why @c is not what L1 grants now, or NULL when it is. */
static const char *judge(const struct chk *k, const struct eptf_cached *c, bool *mapped,
			 struct eptf_xlate *cur)
{
	uint64_t p = c->addr, end = entry_end(c);

	*mapped = false;
	memset(cur, 0, sizeof(*cur));
	while (p < end) {
		struct eptf_xlate x;
		uint64_t s;

		if (k->xlate(k->xctx, k->root, p, &x) < 0) {
			*mapped = false;
			return "unmapped";
		}
		*mapped = true;
		*cur = x;
		if (x.frame != c->frame + (p - c->addr))
			return "frame";
		if (c->writable && !x.writable)
			return "writable";
		if (c->executable && !x.executable)
			return "executable";
		/* the rest of this L1 leaf maps contiguous frames with the same rights */
		s = EPTF_PAGES_PER_LEVEL(clamp_level(x.level));
		p = (p & ~(s - 1)) + s;
	}
	return NULL;
}

/* Does [lo, hi) overlap an aged run? */
static bool overlaps_aged(const struct chk *k, uint64_t lo, uint64_t hi)
{
	size_t a = 0, b = k->naged;

	/* first run with hi > lo */
	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (k->aged[m].hi <= lo)
			a = m + 1;
		else
			b = m;
	}
	return a < k->naged && k->aged[a].lo < hi;
}

static void report(struct chk *k, const struct eptf_cached *c, bool mapped,
		   const struct eptf_xlate *cur, const char *why)
{
	k->stale++;
	if (k->cb) {
		struct eptf_violation v = {
			.op_index = k->fp->op_index, .site = k->fp->site, .root_hpa = k->root,
			.cached = *c, .mapped = mapped, .current = *cur, .why = why,
		};

		k->cb(k->cbctx, &v);
	}
	if (k->collect) {
		if (k->ncoll == k->capcoll) {
			size_t nc = k->capcoll ? k->capcoll * 2 : 64;
			struct eptf_cached *a = realloc(k->coll, nc * sizeof(*a));

			if (!a) {
				k->oom = true;
				return;
			}
			k->coll = a;
			k->capcoll = nc;
		}
		k->coll[k->ncoll++] = *c;
	}
}

static int on_entry(void *ctx, const struct eptf_cached *c)
{
	struct chk *k = ctx;
	struct eptf_xlate cur;
	const char *why;
	bool mapped;

	if (c->addr < k->prev_end)
		return 0; /* it overlaps the previous run too: judged there */
	why = judge(k, c, &mapped, &cur);
	if (!why && k->naged && overlaps_aged(k, c->addr, entry_end(c)))
		why = "aged";
	if (why)
		report(k, c, mapped, &cur, why);
	return 0;
}

static int run_cmp(const void *a, const void *b)
{
	const struct run *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/*
 * Sort @n runs by start. A flush point's items are few, or nearly in
 * address order (a zap of a range, a slot's write-protect): insertion sort
 * costs a few instructions per item and per inversion, where glibc's qsort
 * spends about 450 instructions even for a handful and 13 000 for a few
 * hundred (the checker's biggest share before). When the inversions pass
 * 8 per item, qsort finishes the job. Runs with equal starts may come out
 * in either order: runs_merge() merges them the same way.
 */
static void runs_sort(struct run *r, size_t n)
{
	size_t budget = 8 * n;

	for (size_t i = 1; i < n; i++) {
		struct run x = r[i];
		size_t j = i;

		for (; j && r[j - 1].lo > x.lo; j--) {
			if (!budget--) {
				r[j] = x; /* r[0..i] is a permutation again */
				qsort(r, n, sizeof(*r), run_cmp);
				return;
			}
			r[j] = r[j - 1];
		}
		r[j] = x;
	}
}

/* Sort and merge @n runs in place (overlapping or adjacent); returns the new count. */
static size_t runs_merge(struct run *r, size_t n)
{
	size_t m = 0;

	runs_sort(r, n);
	for (size_t i = 0; i < n; i++) {
		if (r[i].hi <= r[i].lo)
			continue;
		if (m && r[i].lo <= r[m - 1].hi) {
			if (r[i].hi > r[m - 1].hi)
				r[m - 1].hi = r[i].hi;
		} else {
			r[m++] = r[i];
		}
	}
	return m;
}

static struct run item_run(const struct eptf_inval *it)
{
	struct run r = { it->addr, it->addr + it->pages };

	if (r.hi < r.lo) /* a range past 2^64: clip */
		r.hi = UINT64_MAX;
	return r;
}

/* Visit every entry of every root of the flush point overlapping @all[0..@nall) (sorted, disjoint). */
static void visit_runs(struct chk *k, const struct eptf_parent *p, const struct run *all, size_t nall)
{
	const struct eptf_flush_point *fp = k->fp;

	for (size_t r = 0; r < fp->nroots; r++) {
		k->root = fp->roots[r].hpa;
		k->prev_end = 0;
		for (size_t i = 0; i < nall; i++) {
			eptf_parent_for_each(p, k->root, all[i].lo, all[i].hi - all[i].lo, on_entry, k);
			k->prev_end = all[i].hi;
		}
	}
}

/* Returns false when out of memory (nothing examined). */
static bool run_all(struct chk *k, const struct eptf_parent *p)
{
	const struct eptf_flush_point *fp = k->fp;
	struct run small[64];
	struct run *all = small, *aged;
	size_t nall = 0, naged = 0;

	if (!fp->nitems || !fp->nroots)
		return true;
	if (fp->nitems == 1) {
		/* five flush points in six on `mixed`: one run, no sort; aged iff the item is */
		struct run one = item_run(&fp->items[0]);

		if (one.hi <= one.lo)
			return true;
		k->aged = &one;
		k->naged = fp->items[0].change == EPTF_CHG_AGED;
		visit_runs(k, p, &one, 1);
		return true;
	}
	if (2 * fp->nitems > sizeof(small) / sizeof(small[0])) {
		all = malloc(2 * fp->nitems * sizeof(*all));
		if (!all)
			return false;
	}
	aged = all + fp->nitems;
	for (size_t i = 0; i < fp->nitems; i++) {
		all[nall++] = item_run(&fp->items[i]);
		if (fp->items[i].change == EPTF_CHG_AGED)
			aged[naged++] = item_run(&fp->items[i]);
	}
	nall = runs_merge(all, nall);
	k->naged = runs_merge(aged, naged);
	k->aged = aged;
	visit_runs(k, p, all, nall);
	if (all != small)
		free(all);
	return true;
}

size_t eptf_check_stale_xlate(eptf_xlate_fn xlate, void *xlate_ctx, const struct eptf_parent *p,
			      const struct eptf_flush_point *fp, eptf_violation_fn cb, void *ctx)
{
	struct chk k = { .xlate = xlate, .xctx = xlate_ctx, .fp = fp, .cb = cb, .cbctx = ctx };

	if (!run_all(&k, p)) {
		/* out of memory for the merged runs: judge item by item, duplicates possible */
		for (size_t i = 0; i < fp->nitems; i++) {
			struct run a = item_run(&fp->items[i]);

			k.aged = &a;
			k.naged = fp->items[i].change == EPTF_CHG_AGED;
			for (size_t r = 0; r < fp->nroots; r++) {
				k.root = fp->roots[r].hpa;
				k.prev_end = 0;
				eptf_parent_for_each(p, k.root, a.lo, a.hi - a.lo, on_entry, &k);
			}
		}
	}
	return k.stale;
}

static int cached_cmp(const void *a, const void *b)
{
	const struct eptf_cached *x = a, *y = b;

	if (x->root_hpa != y->root_hpa)
		return x->root_hpa < y->root_hpa ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->level != y->level)
		return x->level < y->level ? -1 : 1;
	return (int)x->in_tlb - (int)y->in_tlb;
}

size_t eptf_ideal_flush_xlate(eptf_xlate_fn xlate, void *xlate_ctx, struct eptf_parent *p,
			      const struct eptf_flush_point *fp, struct eptf_ideal_counts *out)
{
	struct chk k = { .xlate = xlate, .xctx = xlate_ctx, .fp = fp, .collect = true };
	struct eptf_ideal_counts cnt = { 0 };
	size_t n = 0;

	if (!run_all(&k, p) || k.oom) {
		/* cannot name the stale set: drop everything in range (correct, not minimal) */
		struct eptf_parent_stats before, after;

		free(k.coll);
		eptf_parent_get_stats(p, &before);
		for (size_t i = 0; i < fp->nitems; i++)
			for (size_t r = 0; r < fp->nroots; r++)
				eptf_parent_drop_range(p, fp->roots[r].hpa, fp->items[i].addr,
						       fp->items[i].pages);
		eptf_parent_get_stats(p, &after);
		cnt.ept02_dropped = after.ept02_dropped - before.ept02_dropped;
		cnt.tlb_dropped = after.tlb_dropped - before.tlb_dropped;
		cnt.roots = fp->nroots;
		if (out)
			*out = cnt;
		return (size_t)(cnt.ept02_dropped + cnt.tlb_dropped);
	}
	if (k.ncoll)
		qsort(k.coll, k.ncoll, sizeof(*k.coll), cached_cmp);
	for (size_t i = 0; i < k.ncoll; i++) {
		const struct eptf_cached *c = &k.coll[i];
		const struct eptf_cached *prev = i ? &k.coll[i - 1] : NULL;

		n++;
		if (!prev || prev->root_hpa != c->root_hpa)
			cnt.roots++;
		/* an EPT02 and a TLB entry of one translation cover the same pages: count them once */
		if (!prev || prev->root_hpa != c->root_hpa || prev->addr != c->addr ||
		    prev->level != c->level)
			cnt.pages += EPTF_PAGES_PER_LEVEL(clamp_level(c->level));
		if (c->in_tlb)
			cnt.tlb_dropped++;
		else
			cnt.ept02_dropped++;
		eptf_parent_drop(p, c);
	}
	free(k.coll);
	if (out)
		*out = cnt;
	return n;
}
