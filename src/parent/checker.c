// SPDX-License-Identifier: BSD-2-Clause
/*
 * The stale-translation checker and the `ideal` oracle.
 *
 * For each item of a flush point and each root in use, the parent's
 * entries overlapping the item's range are enumerated with
 * eptf_parent_for_each (O(log n + matches), so a level-4 zap costs what is
 * cached under it, not 512^4 pages). Each entry is judged against L1's
 * tables: walking L1 leaf by leaf, not page by page (an L1 leaf maps
 * contiguous frames with one permission set, so its first page decides for
 * all of its pages), so a 2 MiB entry over a 2 MiB L1 leaf is one walk.
 * A set of (root, addr, level, in_tlb) already judged keeps each entry
 * counted once per call, with its state so that an entry judged clean from
 * one item can still turn "aged" from another (clear_flush_young).
 */
#include <stdlib.h>
#include <string.h>

#include <eptflush/checker.h>
#include <eptflush/error.h>

enum seen_state { SEEN_NEW = 0, SEEN_CLEAN = 1, SEEN_STALE = 2 };

struct seen {
	uint64_t root, addr;
	uint16_t tag;   /* level | in_tlb << 8; 0 = empty slot (levels are >= 1) */
	uint8_t state;
};

struct chk {
	eptf_xlate_fn xlate;
	void *xctx;
	const struct eptf_flush_point *fp;
	uint64_t root;
	bool aged;
	struct seen *set;
	size_t cap, n;
	eptf_violation_fn cb;
	void *cbctx;
	size_t stale;
	/* ideal: the stale entries collected */
	bool collect, oom;
	struct eptf_cached *coll;
	size_t ncoll, capcoll;
};

static uint64_t seen_hash(uint64_t root, uint64_t addr, uint16_t tag)
{
	uint64_t h = root * 0x9e3779b97f4a7c15ull ^ addr * 0xc2b2ae3d27d4eb4full ^ tag;

	return h ^ (h >> 29);
}

static bool seen_grow(struct chk *k)
{
	size_t ncap = k->cap ? k->cap * 2 : 256;
	struct seen *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return false;
	for (size_t i = 0; i < k->cap; i++) {
		struct seen *o = &k->set[i];
		size_t j;

		if (!o->tag)
			continue;
		j = seen_hash(o->root, o->addr, o->tag) & (ncap - 1);
		while (ns[j].tag)
			j = (j + 1) & (ncap - 1);
		ns[j] = *o;
	}
	free(k->set);
	k->set = ns;
	k->cap = ncap;
	return true;
}

/* The set slot of @c, inserted as SEEN_NEW if absent; NULL when out of memory. */
static struct seen *seen_get(struct chk *k, const struct eptf_cached *c)
{
	uint16_t tag = (uint16_t)(c->level | (c->in_tlb ? 1u << 8 : 0));
	size_t j;

	if ((k->n + 1) * 2 > k->cap && !seen_grow(k))
		return NULL;
	j = seen_hash(c->root_hpa, c->addr, tag) & (k->cap - 1);
	while (k->set[j].tag) {
		struct seen *s = &k->set[j];

		if (s->tag == tag && s->root == c->root_hpa && s->addr == c->addr)
			return s;
		j = (j + 1) & (k->cap - 1);
	}
	k->set[j] = (struct seen){ .root = c->root_hpa, .addr = c->addr, .tag = tag };
	k->n++;
	return &k->set[j];
}

static unsigned clamp_level(unsigned l)
{
	return l < 1 ? 1 : l > 3 ? 3 : l;
}

/* Why @c is not what L1 grants now, or NULL when it is. */
static const char *judge(const struct chk *k, const struct eptf_cached *c, bool *mapped,
			 struct eptf_xlate *cur)
{
	uint64_t span = EPTF_PAGES_PER_LEVEL(clamp_level(c->level));
	uint64_t p = c->addr, end = c->addr + span;

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
	struct seen *s = seen_get(k, c);
	struct eptf_xlate cur;
	const char *why;
	bool mapped;

	if (s && s->state == SEEN_STALE)
		return 0;
	if (s && s->state == SEEN_CLEAN) {
		if (k->aged) {
			s->state = SEEN_STALE;
			judge(k, c, &mapped, &cur); /* for the report's current translation */
			report(k, c, mapped, &cur, "aged");
		}
		return 0;
	}
	why = judge(k, c, &mapped, &cur);
	if (!why && k->aged)
		why = "aged";
	if (s)
		s->state = why ? SEEN_STALE : SEEN_CLEAN;
	if (why)
		report(k, c, mapped, &cur, why);
	return 0;
}

static void run(struct chk *k, const struct eptf_parent *p)
{
	const struct eptf_flush_point *fp = k->fp;

	for (size_t i = 0; i < fp->nitems; i++) {
		k->aged = fp->items[i].change == EPTF_CHG_AGED;
		for (size_t r = 0; r < fp->nroots; r++) {
			k->root = fp->roots[r].hpa;
			eptf_parent_for_each(p, k->root, fp->items[i].addr, fp->items[i].pages, on_entry, k);
		}
	}
}

size_t eptf_check_stale_xlate(eptf_xlate_fn xlate, void *xlate_ctx, const struct eptf_parent *p,
			      const struct eptf_flush_point *fp, eptf_violation_fn cb, void *ctx)
{
	struct chk k = { .xlate = xlate, .xctx = xlate_ctx, .fp = fp, .cb = cb, .cbctx = ctx };

	run(&k, p);
	free(k.set);
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

	run(&k, p);
	free(k.set);
	if (k.oom) {
		/* cannot name the stale set: drop everything in range (correct, not minimal) */
		free(k.coll);
		k.coll = NULL;
		k.ncoll = 0;
		for (size_t i = 0; i < fp->nitems; i++) {
			for (size_t r = 0; r < fp->nroots; r++) {
				struct eptf_parent_stats before, after;

				eptf_parent_get_stats(p, &before);
				eptf_parent_drop_range(p, fp->roots[r].hpa, fp->items[i].addr,
						       fp->items[i].pages);
				eptf_parent_get_stats(p, &after);
				cnt.ept02_dropped += after.ept02_dropped - before.ept02_dropped;
				cnt.tlb_dropped += after.tlb_dropped - before.tlb_dropped;
			}
		}
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

		if (prev && cached_cmp(prev, c) == 0)
			continue; /* only if the seen set ran out of memory */
		n++;
		if (!prev || prev->root_hpa != c->root_hpa)
			cnt.roots++;
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
