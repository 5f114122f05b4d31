/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A 512-ary radix tree over 4 KiB input pages, shaped like the page tables
 * it shadows: a slot of a level-k node covers 512^(k-1) pages and holds
 * either a leaf (a cached translation of that size: k = 1 is 4 KiB, 2 is
 * 2 MiB, 3 is 1 GiB) or a pointer to a level-(k-1) node. So at most one
 * leaf covers any page, which is how a shadow EPT behaves too (a 2 MiB
 * shadow entry and a 4 KiB one for the same page cannot coexist).
 *
 * Why this shape: a range query or a range drop descends only into present
 * slots of the range (a presence bitmap per node finds them with ctz), so
 * it costs O(depth + nodes touched + leaves in range), never a scan of the
 * whole cache; and a densely populated level-1 node costs 4168 bytes for
 * 512 entries, about 8.1 bytes per cached 4 KiB page (see
 * docs/parent-model.md).
 *
 * Slot encoding (packed u64): bit 0 = 1 for a leaf, payload in bits 1-63;
 * bit 0 = 0 for a child node pointer (malloc'd, so at least 2-aligned).
 * Presence lives only in the bitmap, so a leaf payload of 0 is fine.
 */
#ifndef EPTF_PARENT_RADIX_H
#define EPTF_PARENT_RADIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <eptflush/error.h>

#define RX_FANOUT 512u
#define RX_TOP 5u                      /* highest level a top node can have */
#define RX_PAGES (1ull << (9 * RX_TOP)) /* pages the tree can address: 2^45 (57-bit GPA) */
#define RX_SHIFT(k) (9u * ((k) - 1u))          /* log2 of RX_SPAN(k) */
#define RX_SPAN(k) (1ull << RX_SHIFT(k))       /* pages one slot of a level-k node covers */
#define RX_COVER(h) (1ull << (9 * (h)))      /* pages a tree whose top node is level h covers */

struct rx_node {
	uint64_t words;                /* bit w set iff bits[w] != 0: empty words are skipped */
	uint64_t bits[RX_FANOUT / 64]; /* presence bitmap */
	uint64_t slot[RX_FANOUT];
};

/*
 * The top node's level (@height) is the lowest that covers every leaf: a
 * tree over a 16 GiB guest (2^22 pages) is 3 levels deep, not RX_TOP, so
 * each lookup, insert and range walk skips the two levels that would hold
 * only slot 0. An insert above the covered extent adds levels on top (the
 * old top becomes slot 0 of the new one); the height drops only when the
 * tree empties.
 */
struct rx_tree {
	struct rx_node *top; /* NULL while empty */
	unsigned height;     /* level of @top (1..RX_TOP) while it is not NULL */
	uint64_t nodes;      /* nodes in the tree (for memory accounting) */
	uint64_t leaves;     /* leaves present */
	struct rx_pool *pool; /* where freed nodes go and new ones come from (NULL: free them) */
};

/*
 * Freed nodes kept for reuse, shared by all the trees of one parent and
 * chained through slot[0]. A root switch (INVEPT) empties a whole EPT02
 * tree, list flushes empty level-1 nodes, and the following accesses
 * rebuild about as many nodes; taking them from here saves a malloc + free
 * of 4168 bytes per node (glibc serves that size from its bins, not tcache:
 * about 400 instructions a pair, a tenth of the replay). Pooled nodes only
 * come from freed ones and @max bounds them (1 MiB for the parent's 256).
 */
struct rx_pool {
	struct rx_node *free;
	uint64_t count; /* nodes in @free */
	uint64_t max;   /* keep at most this many; the rest go back to malloc */
};

/* Free every pooled node (before freeing the pool's owner). */
void rx_pool_drain(struct rx_pool *pool);

/* Bytes held by the pool's nodes. */
static inline uint64_t rx_pool_bytes(const struct rx_pool *pool)
{
	return pool->count * sizeof(struct rx_node);
}

/* Called for each leaf a mutation removes. */
typedef void (*rx_leaf_fn)(void *ctx, uint64_t addr, unsigned level, uint64_t payload);
/* Called for each leaf a visit finds; non-zero stops the visit. */
typedef int (*rx_visit_fn)(void *ctx, uint64_t addr, unsigned level, uint64_t payload);

/* Where a lookup stopped at an absent slot (rx_insert_at() starts there). */
struct rx_hint {
	struct rx_node *n; /* NULL: no hint */
	unsigned k;        /* @n's level */
};

static inline unsigned rx_index(uint64_t addr, unsigned k)
{
	return (unsigned)((addr >> RX_SHIFT(k)) & (RX_FANOUT - 1));
}

static inline bool rx_test(const struct rx_node *n, unsigned i)
{
	return (n->bits[i >> 6] >> (i & 63)) & 1u;
}

static inline void rx_set(struct rx_node *n, unsigned i)
{
	n->bits[i >> 6] |= 1ull << (i & 63);
	n->words |= 1ull << (i >> 6);
}

/*
 * The leaf covering @addr: returns true and fills @base/@level/@payload.
 * On a miss at an absent slot, @hint records the node, for an
 * rx_insert_at() of a leaf covering @addr before anything else changes @t.
 * Inline: it is on every EPT02 walk of the parent, and the caller keeps
 * the hint in registers.
 */
static inline bool rx_lookup(const struct rx_tree *t, uint64_t addr, uint64_t *base,
			     unsigned *level, uint64_t *payload, struct rx_hint *hint)
{
	struct rx_node *n = t->top;

	hint->n = NULL;
	if (!n || addr >= RX_COVER(t->height))
		return false;
	/* a level-1 slot always holds a leaf, so the walk ends by k = 1 */
	for (unsigned k = t->height;; k--) {
		unsigned i = rx_index(addr, k);
		uint64_t s;

		if (!rx_test(n, i)) {
			hint->n = n;
			hint->k = k;
			return false;
		}
		s = n->slot[i];
		if (s & 1u) {
			*base = addr & ~(RX_SPAN(k) - 1);
			*level = k;
			*payload = s >> 1;
			return true;
		}
		n = (struct rx_node *)(uintptr_t)s;
	}
}

/* A new empty node when the pool is empty (malloc), or NULL. */
struct rx_node *rx_alloc_slow(struct rx_tree *t);

/*
 * A new empty node for @t. Pooled nodes are kept empty (bitmaps clear: a
 * node is freed only once empty, or cleared by rx_clear), so taking one is
 * a pop.
 */
static inline struct rx_node *rx_alloc(struct rx_tree *t)
{
	struct rx_pool *pool = t->pool;
	struct rx_node *n = pool ? pool->free : NULL;

	if (!n)
		return rx_alloc_slow(t);
	pool->free = (struct rx_node *)(uintptr_t)n->slot[0];
	pool->count--;
	t->nodes++;
	return n;
}

/*
 * Install a leaf of @level (1..3) at @base (aligned to RX_SPAN(level), below
 * RX_PAGES). Every leaf overlapping it (a bigger one above, smaller ones
 * below, the same slot) is removed first and reported to @fn. Returns 0 or
 * EPTF_ENOMEM (then the overlapping leaves may be gone but the tree is
 * consistent).
 */
int rx_insert(struct rx_tree *t, uint64_t base, unsigned level, uint64_t payload, rx_leaf_fn fn,
	      void *ctx);

/* A new node linked into @n's slot for @base at level @k, or NULL (ENOMEM). */
static inline struct rx_node *rx_link_new(struct rx_tree *t, struct rx_node *n, uint64_t base, unsigned k)
{
	struct rx_node *c = rx_alloc(t);

	if (c) {
		unsigned i = rx_index(base, k);

		n->slot[i] = (uint64_t)(uintptr_t)c;
		rx_set(n, i);
	}
	return c;
}

/* The leaf @payload in @n's slot for @base at @level. */
static inline void rx_put_leaf(struct rx_tree *t, struct rx_node *n, uint64_t base, unsigned level,
			       uint64_t payload)
{
	unsigned i = rx_index(base, level);

	n->slot[i] = payload << 1 | 1u;
	rx_set(n, i);
	t->leaves++;
}

/* rx_insert_at() when nodes of levels @k - 1 down to @level are missing under @n. */
int rx_insert_below(struct rx_tree *t, struct rx_node *n, unsigned k, uint64_t base, unsigned level,
		    uint64_t payload);

/*
 * rx_insert() of a leaf covering the page rx_lookup() missed, with @t
 * unchanged since: the walk starts at the node @hint names instead of the
 * top, and finds nothing to replace. Without a usable hint (none, or the
 * leaf is bigger than the hint's level) it is rx_insert(). Unlike
 * rx_insert(), it does not check its arguments: @level must be 1..3 and
 * @base aligned to it. Inline, like rx_lookup(): an EPT violation is most
 * of the parent's accesses.
 */
static inline int rx_insert_at(struct rx_tree *t, const struct rx_hint *hint, uint64_t base,
			       unsigned level, uint64_t payload, rx_leaf_fn fn, void *ctx)
{
	struct rx_node *n = hint->n;
	unsigned k;

	if (!n || hint->k < level)
		return rx_insert(t, base, level, payload, fn, ctx);
	/*
	 * The slot at hint->k is absent, so is everything under it: no leaf
	 * to replace. Usually one node is missing (a level-1 node under a
	 * present level-2 one), sometimes two: straight-line code for those,
	 * rx_insert_below()'s loop for more (a loop here made the compiler
	 * spill ten registers around it on every violation).
	 */
	k = hint->k;
	if (k > level) {
		if (k > level + 2)
			return rx_insert_below(t, n, k, base, level, payload);
		/* a level-2 node missing too (the first touch of a 1 GiB region) */
		if (k == level + 2 && !(n = rx_link_new(t, n, base, k--)))
			return EPTF_ENOMEM;
		if (!(n = rx_link_new(t, n, base, k)))
			return EPTF_ENOMEM;
	}
	rx_put_leaf(t, n, base, level, payload);
	return 0;
}

/* Remove every leaf overlapping [addr, addr + pages), report each to @fn (may be NULL); returns how many. */
uint64_t rx_remove_range(struct rx_tree *t, uint64_t addr, uint64_t pages, rx_leaf_fn fn, void *ctx);

/*
 * True when [addr, addr + pages) certainly holds no leaf: the tree is empty,
 * or the range lies beyond it, or following the range down while it lies
 * in one slot of each level meets an absent slot. The descent of
 * rx_remove_range() and rx_visit(), inline and without a call: most list
 * entries and checker queries end here.
 */
static inline bool rx_range_empty(const struct rx_tree *t, uint64_t addr, uint64_t pages)
{
	const struct rx_node *n = t->top;
	uint64_t cover, last;

	if (!n || !pages)
		return true;
	cover = RX_COVER(t->height);
	if (addr >= cover)
		return true;
	last = pages > cover - addr ? cover - 1 : addr + pages - 1;
	for (unsigned k = t->height; k > 1; k--) {
		unsigned i = rx_index(addr, k);
		uint64_t s;

		if ((addr ^ last) >> RX_SHIFT(k))
			return false;
		if (!rx_test(n, i))
			return true;
		s = n->slot[i];
		if (s & 1u)
			return false;
		n = (const struct rx_node *)(uintptr_t)s;
	}
	return false;
}

/*
 * Remove every leaf, unreported, and free every node (a level-1 node is
 * freed without looking at its leaves); returns how many leaves there were.
 */
uint64_t rx_clear(struct rx_tree *t);

/* Remove the leaf at exactly (@base, @level) if there is one; returns true if removed. */
bool rx_remove_exact(struct rx_tree *t, uint64_t base, unsigned level, uint64_t *payload);

/* Visit every leaf overlapping [addr, addr + pages) in address order; returns @fn's stop value or 0. */
int rx_visit(const struct rx_tree *t, uint64_t addr, uint64_t pages, rx_visit_fn fn, void *ctx);

/* Bytes in use by the tree's nodes. */
static inline uint64_t rx_bytes(const struct rx_tree *t)
{
	return t->nodes * sizeof(struct rx_node);
}

#endif
