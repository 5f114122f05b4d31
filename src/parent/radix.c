// SPDX-License-Identifier: BSD-2-Clause
/* The parent's radix tree: see radix.h for the shape and its reasons. */
#include "parent/radix.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <eptflush/error.h>

static inline void rx_clr(struct rx_node *n, unsigned i)
{
	if (!(n->bits[i >> 6] &= ~(1ull << (i & 63))))
		n->words &= ~(1ull << (i >> 6));
}

static inline bool rx_is_leaf(uint64_t s)
{
	return s & 1u;
}

static inline struct rx_node *rx_child(uint64_t s)
{
	return (struct rx_node *)(uintptr_t)s;
}

static inline bool rx_empty(const struct rx_node *n)
{
	return !n->words;
}

/*
 * A node from malloc (the pool is empty). Only the presence bitmap is
 * cleared: a slot is read only when its bit is set, and every path that
 * sets a bit writes the slot first. Skipping the 4 KiB slot array (calloc
 * cleared all 4160 bytes) matters because nodes come and go with every
 * flush that empties them and every refault (bench_replay, BENCHMARKS.md:
 * calloc's memset was the top libc cost). Pooled nodes need not even that:
 * rx_free() takes only empty nodes, so their bitmaps are already clear.
 */
struct rx_node *rx_alloc_slow(struct rx_tree *t)
{
	struct rx_node *n = malloc(sizeof(*n));

	if (!n)
		return NULL;
	t->nodes++;
	n->words = 0;
	memset(n->bits, 0, sizeof(n->bits));
	return n;
}

/* Free @n, which must be empty (rx_empty()): pooled nodes stay empty for rx_alloc(). */
static void rx_free(struct rx_tree *t, struct rx_node *n)
{
	struct rx_pool *pool = t->pool;

	assert(rx_empty(n));
	t->nodes--;
	if (pool && pool->count < pool->max) {
		n->slot[0] = (uint64_t)(uintptr_t)pool->free;
		pool->free = n;
		pool->count++;
		return;
	}
	free(n);
}

void rx_pool_drain(struct rx_pool *pool)
{
	while (pool->free) {
		struct rx_node *n = pool->free;

		pool->free = (struct rx_node *)(uintptr_t)n->slot[0];
		free(n);
	}
	pool->count = 0;
}

/* The slots [*i0, *i1] of a level-@k node whose first page is @nbase that [lo, hi) overlaps. */
static inline void rx_slot_range(unsigned k, uint64_t nbase, uint64_t lo, uint64_t hi, unsigned *i0,
				 unsigned *i1)
{
	unsigned sh = RX_SHIFT(k); /* spans are powers of two: shift, do not divide */
	uint64_t last = (hi - 1 - nbase) >> sh;

	*i0 = lo > nbase ? (unsigned)((lo - nbase) >> sh) : 0;
	*i1 = last > RX_FANOUT - 1 ? RX_FANOUT - 1 : (unsigned)last;
}

/* The non-empty 64-slot words of @n holding slots of [i0, i1]. */
static inline uint64_t rx_words(const struct rx_node *n, unsigned i0, unsigned i1)
{
	return n->words & ((2ull << (i1 >> 6)) - 1) & ~((1ull << (i0 >> 6)) - 1);
}

/* The occupied slots of @n in its 64-slot word @w, limited to slots [i0, i1]. */
static inline uint64_t rx_word_bits(const struct rx_node *n, unsigned w, unsigned i0, unsigned i1)
{
	uint64_t m = n->bits[w];

	if (w == i0 >> 6)
		m &= ~0ull << (i0 & 63);
	if (w == i1 >> 6 && (i1 & 63) != 63)
		m &= (1ull << ((i1 & 63) + 1)) - 1;
	return m;
}

/*
 * Remove the leaves in slots [i0, i1] of the level-1 node @n, unreported. A
 * level-1 slot holds only leaves and nobody is told which go: clear the
 * bits and count them (a list flush lands here).
 */
static inline uint64_t rx_rm_l1(struct rx_tree *t, struct rx_node *n, unsigned i0, unsigned i1)
{
	uint64_t removed = 0;

	for (uint64_t wm = rx_words(n, i0, i1); wm; wm &= wm - 1) {
		unsigned w = (unsigned)__builtin_ctzll(wm);
		uint64_t m = rx_word_bits(n, w, i0, i1);

		if (!(n->bits[w] &= ~m))
			n->words &= ~(1ull << w);
		/* no popcnt in the baseline ISA, and there are few of them */
		for (; m; m &= m - 1)
			removed++;
	}
	t->leaves -= removed;
	return removed;
}

/*
 * Remove the leaves of node @n (level @k, first page @nbase) overlapping
 * [lo, hi); frees children that become empty. The caller frees @n.
 */
static uint64_t rx_rm(struct rx_tree *t, struct rx_node *n, unsigned k, uint64_t nbase, uint64_t lo,
		      uint64_t hi, rx_leaf_fn fn, void *ctx)
{
	unsigned sh = RX_SHIFT(k), i0, i1;
	uint64_t removed = 0;

	rx_slot_range(k, nbase, lo, hi, &i0, &i1);
	if (k == 1 && !fn)
		return rx_rm_l1(t, n, i0, i1);
	for (uint64_t wm = rx_words(n, i0, i1); wm; wm &= wm - 1) {
		unsigned w = (unsigned)__builtin_ctzll(wm);
		uint64_t m = rx_word_bits(n, w, i0, i1);

		while (m) {
			unsigned i = w * 64 + (unsigned)__builtin_ctzll(m);
			uint64_t sbase = nbase + ((uint64_t)i << sh);
			uint64_t s = n->slot[i];

			m &= m - 1;
			if (rx_is_leaf(s)) {
				rx_clr(n, i);
				t->leaves--;
				removed++;
				if (fn)
					fn(ctx, sbase, k, s >> 1);
			} else {
				struct rx_node *c = rx_child(s);

				removed += rx_rm(t, c, k - 1, sbase, lo, hi, fn, ctx);
				if (rx_empty(c)) {
					rx_clr(n, i);
					rx_free(t, c);
				}
			}
		}
	}
	return removed;
}

/* A node and slot rx_remove_range() passed through on its way down. */
struct rx_step {
	struct rx_node *n;
	unsigned i;
};

/* The end of [addr, addr + pages) clipped to what @t covers in *@hi; false when nothing is left. */
static bool rx_clip(const struct rx_tree *t, uint64_t addr, uint64_t pages, uint64_t *hi)
{
	uint64_t cover = RX_COVER(t->height);

	if (!t->top || !pages || addr >= cover)
		return false;
	*hi = pages > cover - addr ? cover : addr + pages;
	return true;
}

uint64_t rx_remove_range(struct rx_tree *t, uint64_t addr, uint64_t pages, rx_leaf_fn fn, void *ctx)
{
	struct rx_step path[RX_TOP];
	struct rx_node *n = t->top;
	uint64_t hi, removed;
	unsigned k, depth = 0;

	if (!rx_clip(t, addr, pages, &hi))
		return 0;
	/*
	 * A list entry usually lies within one slot of each level down to a
	 * level-1 node: follow it down without recursion while it does and the
	 * slot holds a child. A node of level k starts at a multiple of
	 * RX_SPAN(k + 1), so [addr, hi) lies in one of its slots iff addr and
	 * hi - 1 agree above RX_SHIFT(k). Most list entries find an absent slot
	 * on the way and remove nothing.
	 */
	for (k = t->height; k > 1; k--) {
		unsigned sh = RX_SHIFT(k);
		unsigned i = rx_index(addr, k);
		uint64_t s;

		if ((addr ^ (hi - 1)) >> sh)
			break;
		if (!rx_test(n, i))
			return 0;
		s = n->slot[i];
		if (rx_is_leaf(s))
			break;
		path[depth].n = n;
		path[depth].i = i;
		depth++;
		n = rx_child(s);
	}
	/* remove in the last node reached (first page: @addr rounded down to its span) */
	if (k == 1 && !fn) {
		/* a level-1 node: its slots' range without a call to rx_rm() */
		uint64_t last = hi - 1 - (addr & ~(RX_SPAN(2) - 1));
		unsigned i1 = last > RX_FANOUT - 1 ? RX_FANOUT - 1 : (unsigned)last;

		removed = rx_rm_l1(t, n, rx_index(addr, 1), i1);
	} else {
		uint64_t nbase = k < t->height ? addr & ~(RX_SPAN(k + 1) - 1) : 0;

		removed = rx_rm(t, n, k, nbase, addr, hi, fn, ctx);
	}
	/* free the nodes the removal emptied, bottom up */
	while (rx_empty(n)) {
		rx_free(t, n);
		if (!depth) {
			t->top = NULL;
			break;
		}
		depth--;
		n = path[depth].n;
		rx_clr(n, path[depth].i);
	}
	return removed;
}

/* Clear @n's bitmap (only its non-empty words), making it empty for rx_free(). */
static inline void rx_wipe(struct rx_node *n)
{
	for (uint64_t wm = n->words; wm; wm &= wm - 1)
		n->bits[__builtin_ctzll(wm)] = 0;
	n->words = 0;
}

/*
 * Where rx_clear() puts the nodes it frees: the pool's list and how many
 * more it may take, kept in locals and written back once, not per node.
 */
struct rx_sink {
	struct rx_node *head;
	uint64_t room;
};

static inline void rx_sink_put(struct rx_sink *sk, struct rx_node *n)
{
	if (sk->room) {
		n->slot[0] = (uint64_t)(uintptr_t)sk->head;
		sk->head = n;
		sk->room--;
	} else {
		free(n);
	}
}

/* Empty the level-2 node @n and sink its level-1 children, then @n. */
static void rx_free_l2(struct rx_sink *sk, struct rx_node *n)
{
	for (uint64_t wm = n->words; wm; wm &= wm - 1) {
		unsigned w = (unsigned)__builtin_ctzll(wm);

		for (uint64_t m = n->bits[w]; m; m &= m - 1) {
			uint64_t s = n->slot[w * 64 + (unsigned)__builtin_ctzll(m)];

			if (!rx_is_leaf(s)) {
				struct rx_node *c = rx_child(s);

				rx_wipe(c);
				rx_sink_put(sk, c);
			}
		}
		n->bits[w] = 0;
	}
	n->words = 0;
	rx_sink_put(sk, n);
}

/*
 * Free @n (level @k > 1) and every node below it, leaves unreported, each
 * emptied for the pool. Level 2 is a loop of its own: a root switch frees a
 * few level-1 nodes per level-2 node, a few dozen in all.
 */
static void rx_free_all(struct rx_sink *sk, struct rx_node *n, unsigned k)
{
	if (k == 2) {
		rx_free_l2(sk, n);
		return;
	}
	for (uint64_t wm = n->words; wm; wm &= wm - 1) {
		unsigned w = (unsigned)__builtin_ctzll(wm);

		for (uint64_t m = n->bits[w]; m; m &= m - 1) {
			uint64_t s = n->slot[w * 64 + (unsigned)__builtin_ctzll(m)];

			if (!rx_is_leaf(s))
				rx_free_all(sk, rx_child(s), k - 1);
		}
		n->bits[w] = 0;
	}
	n->words = 0;
	rx_sink_put(sk, n);
}

uint64_t rx_clear(struct rx_tree *t)
{
	struct rx_pool *pool = t->pool;
	struct rx_sink sk = { NULL, 0 };
	uint64_t n = t->leaves;

	if (pool) {
		sk.head = pool->free;
		sk.room = pool->max > pool->count ? pool->max - pool->count : 0;
	}
	if (t->top && t->height > 1) {
		rx_free_all(&sk, t->top, t->height);
	} else if (t->top) {
		rx_wipe(t->top);
		rx_sink_put(&sk, t->top);
	}
	if (pool) {
		pool->count = pool->max > pool->count ? pool->max - sk.room : pool->count;
		pool->free = sk.head;
	}
	t->nodes = 0; /* every node of the tree is freed */
	t->top = NULL;
	t->leaves = 0;
	return n;
}

int rx_insert_below(struct rx_tree *t, struct rx_node *n, unsigned k, uint64_t base, unsigned level,
		    uint64_t payload)
{
	for (; k > level; k--)
		if (!(n = rx_link_new(t, n, base, k)))
			return EPTF_ENOMEM;
	rx_put_leaf(t, n, base, level, payload);
	return 0;
}

int rx_insert(struct rx_tree *t, uint64_t base, unsigned level, uint64_t payload, rx_leaf_fn fn,
	      void *ctx)
{
	struct rx_node *n;
	unsigned k, i;

	if (level < 1 || level > 3 || base >= RX_PAGES || (base & (RX_SPAN(level) - 1)))
		return EPTF_EINVAL;
	if (!t->top) {
		if (!(t->top = rx_alloc(t)))
			return EPTF_ENOMEM;
		t->height = level;
	}
	/* grow on top until the tree covers @base and has a level for the leaf */
	while (t->height < level || base >= RX_COVER(t->height)) {
		struct rx_node *up = rx_alloc(t);

		if (!up)
			return EPTF_ENOMEM;
		up->slot[0] = (uint64_t)(uintptr_t)t->top;
		rx_set(up, 0);
		t->top = up;
		t->height++;
	}
	n = t->top;
	for (k = t->height; k > level; k--) {
		i = rx_index(base, k);
		if (rx_test(n, i) && rx_is_leaf(n->slot[i])) {
			/* a bigger leaf covers @base: it goes (a shadow entry is split) */
			uint64_t s = n->slot[i];

			rx_clr(n, i);
			t->leaves--;
			if (fn)
				fn(ctx, base & ~(RX_SPAN(k) - 1), k, s >> 1);
		}
		if (!rx_test(n, i)) {
			struct rx_node *c = rx_alloc(t);

			if (!c)
				return EPTF_ENOMEM;
			n->slot[i] = (uint64_t)(uintptr_t)c;
			rx_set(n, i);
		}
		n = rx_child(n->slot[i]);
	}
	i = rx_index(base, level);
	if (rx_test(n, i)) {
		uint64_t s = n->slot[i];

		if (rx_is_leaf(s)) {
			t->leaves--;
			if (fn)
				fn(ctx, base, level, s >> 1);
		} else {
			struct rx_node *c = rx_child(s);

			rx_rm(t, c, level - 1, base, base, base + RX_SPAN(level), fn, ctx);
			rx_free(t, c);
		}
	}
	n->slot[i] = payload << 1 | 1u;
	rx_set(n, i);
	t->leaves++;
	return 0;
}

/* Remove the leaf at (@base, @level) below @n; frees nodes that become empty. */
static bool rx_rm_exact(struct rx_tree *t, struct rx_node *n, unsigned k, uint64_t base,
			unsigned level, uint64_t *payload)
{
	unsigned i = rx_index(base, k);
	uint64_t s;

	if (!rx_test(n, i))
		return false;
	s = n->slot[i];
	if (k == level) {
		if (!rx_is_leaf(s))
			return false;
		if (payload)
			*payload = s >> 1;
		rx_clr(n, i);
		t->leaves--;
		return true;
	}
	if (rx_is_leaf(s) || !rx_rm_exact(t, rx_child(s), k - 1, base, level, payload))
		return false;
	if (rx_empty(rx_child(s))) {
		rx_free(t, rx_child(s));
		rx_clr(n, i);
	}
	return true;
}

bool rx_remove_exact(struct rx_tree *t, uint64_t base, unsigned level, uint64_t *payload)
{
	bool done;

	if (!t->top || level < 1 || level > t->height || base >= RX_COVER(t->height) ||
	    (base & (RX_SPAN(level) - 1)))
		return false;
	done = rx_rm_exact(t, t->top, t->height, base, level, payload);
	if (rx_empty(t->top)) {
		rx_free(t, t->top);
		t->top = NULL;
	}
	return done;
}

static int rx_vis(const struct rx_node *n, unsigned k, uint64_t nbase, uint64_t lo, uint64_t hi,
		  rx_visit_fn fn, void *ctx)
{
	unsigned sh = RX_SHIFT(k), i0, i1;

	rx_slot_range(k, nbase, lo, hi, &i0, &i1);
	for (uint64_t wm = rx_words(n, i0, i1); wm; wm &= wm - 1) {
		unsigned w = (unsigned)__builtin_ctzll(wm);
		uint64_t m = rx_word_bits(n, w, i0, i1);

		while (m) {
			unsigned i = w * 64 + (unsigned)__builtin_ctzll(m);
			uint64_t sbase = nbase + ((uint64_t)i << sh);
			uint64_t s = n->slot[i];
			int r;

			m &= m - 1;
			if (rx_is_leaf(s))
				r = fn(ctx, sbase, k, s >> 1);
			else
				r = rx_vis(rx_child(s), k - 1, sbase, lo, hi, fn, ctx);
			if (r)
				return r;
		}
	}
	return 0;
}

int rx_visit(const struct rx_tree *t, uint64_t addr, uint64_t pages, rx_visit_fn fn, void *ctx)
{
	const struct rx_node *n = t->top;
	uint64_t hi;
	unsigned k;

	if (!rx_clip(t, addr, pages, &hi))
		return 0;
	/* follow the range down while it lies in one slot, as rx_remove_range() does */
	for (k = t->height; k > 1; k--) {
		unsigned i = rx_index(addr, k);
		uint64_t s;

		if ((addr ^ (hi - 1)) >> RX_SHIFT(k))
			break;
		if (!rx_test(n, i))
			return 0;
		s = n->slot[i];
		if (rx_is_leaf(s))
			break;
		n = rx_child(s);
	}
	return rx_vis(n, k, k < t->height ? addr & ~(RX_SPAN(k + 1) - 1) : 0, addr, hi, fn, ctx);
}
