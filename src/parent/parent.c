// SPDX-License-Identifier: BSD-2-Clause
/*
 * The L0 model: EPT02 shadow cache and TLB per root, L2 accesses, root
 * switches, queries for the checker. Hypercalls are in transport.c; the
 * layout is described in parent_priv.h and docs/parent-model.md.
 */
#include <stdlib.h>
#include <string.h>

#include <eptflush/error.h>

#include "parent/parent_priv.h"

/* EPT02 leaf payload: frame << 2 | X << 1 | W. */
static inline uint64_t ept_pack(uint64_t frame, bool w, bool x)
{
	return frame << 2 | (uint64_t)x << 1 | (uint64_t)w;
}

static inline uint64_t ept_frame(uint64_t payload)
{
	return payload >> 2;
}

static inline bool ept_w(uint64_t payload)
{
	return payload & 1u;
}

static inline bool ept_x(uint64_t payload)
{
	return (payload >> 1) & 1u;
}

void eptf_parent_config_default(struct eptf_parent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->vendor = EPTF_PARENT_INTEL;
	/* Zen 2 L2 DTLB: 2,048 entries (anchors-and-costs.md §2, WikiChip zen_2). */
	cfg->tlb_entries = 2048;
	cfg->backing_level = 1;
	cfg->gpa_bits = 52;
	cfg->allow_large = false;
	eptf_cost_model_default(&cfg->cost);
}

/* ---- roots ------------------------------------------------------------ */

static size_t root_hash(uint64_t hpa, size_t nbuckets)
{
	uint64_t h = hpa * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (nbuckets - 1);
}

struct proot *eptf__parent_root(const struct eptf_parent *p, uint64_t hpa)
{
	struct proot *r = p->buckets[root_hash(hpa, p->nbuckets)];

	while (r && r->hpa != hpa)
		r = r->next;
	return r;
}

static struct proot *root_get(struct eptf_parent *p, uint64_t hpa)
{
	struct proot *r = eptf__parent_root(p, hpa);

	if (r)
		return r;
	if (p->nroots >= p->nbuckets) {
		size_t nb = p->nbuckets * 2;
		struct proot **b = calloc(nb, sizeof(*b));

		if (!b)
			return NULL;
		for (size_t i = 0; i < p->nbuckets; i++) {
			while (p->buckets[i]) {
				struct proot *q = p->buckets[i];

				p->buckets[i] = q->next;
				q->next = b[root_hash(q->hpa, nb)];
				b[root_hash(q->hpa, nb)] = q;
			}
		}
		free(p->buckets);
		p->buckets = b;
		p->nbuckets = nb;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->hpa = hpa;
	r->ept.pool = r->tlb.pool = &p->pool;
	r->next = p->buckets[root_hash(hpa, p->nbuckets)];
	p->buckets[root_hash(hpa, p->nbuckets)] = r;
	p->nroots++;
	return r;
}

/* ---- TLB pool and LRU ------------------------------------------------- */

static void lru_unlink(struct eptf_parent *p, uint32_t i)
{
	struct tlb_ent *e = &p->tlb[i];

	if (e->prev != TLB_NIL)
		p->tlb[e->prev].next = e->next;
	else
		p->lru_head = e->next;
	if (e->next != TLB_NIL)
		p->tlb[e->next].prev = e->prev;
	else
		p->lru_tail = e->prev;
	e->prev = e->next = TLB_NIL;
}

static void lru_push_front(struct eptf_parent *p, uint32_t i)
{
	struct tlb_ent *e = &p->tlb[i];

	e->prev = TLB_NIL;
	e->next = p->lru_head;
	if (p->lru_head != TLB_NIL)
		p->tlb[p->lru_head].prev = i;
	else
		p->lru_tail = i;
	p->lru_head = i;
}

/* Return slot @i (already out of its root's tree) to the free list. */
static void tlb_slot_free(struct eptf_parent *p, uint32_t i)
{
	lru_unlink(p, i);
	p->tlb[i].root = NULL;
	p->tlb[i].next = p->free_head;
	p->free_head = i;
}

/* rx_leaf_fn for TLB leaves leaving a tree: free the slot, count it in *ctx->count. */
struct drop_ctx {
	struct eptf_parent *p;
	uint64_t *count; /* may be NULL */
};

static void tlb_leaf_gone(void *ctx, uint64_t addr, unsigned level, uint64_t payload)
{
	struct drop_ctx *d = ctx;

	(void)addr;
	(void)level;
	tlb_slot_free(d->p, (uint32_t)payload);
	if (d->count)
		(*d->count)++;
}

static void ept_leaf_gone(void *ctx, uint64_t addr, unsigned level, uint64_t payload)
{
	struct drop_ctx *d = ctx;

	(void)addr;
	(void)level;
	(void)payload;
	if (d->count)
		(*d->count)++;
}

/*
 * Free a root's trees and the root itself (it is on no list any more). The
 * nodes go back to malloc, not to the pool: a forgotten root's memory is
 * returned at once (eptf_parent_forget_root).
 */
static void root_free(struct proot *r)
{
	r->ept.pool = r->tlb.pool = NULL; /* may already be */
	rx_remove_range(&r->ept, 0, RX_PAGES, NULL, NULL);
	rx_remove_range(&r->tlb, 0, RX_PAGES, NULL, NULL);
	free(r);
}

/* Evict the least recently used TLB entry (any root, or an orphan). */
static void tlb_evict_lru(struct eptf_parent *p)
{
	uint32_t i = p->lru_tail;
	struct tlb_ent *e = &p->tlb[i];

	if (e->orphan) {
		e->orphan = false;
		p->orphan_tlb--;
	} else {
		rx_remove_exact(&e->root->tlb, e->addr, e->level, NULL);
	}
	tlb_slot_free(p, i);
	p->st.tlb_evictions++;
}

/*
 * Fill the TLB of @r with a translation; overlapping entries of the root are
 * replaced. @none_overlap: the caller knows no TLB entry of @r overlaps (a
 * 4 KiB fill right after a lookup of that page missed), so the removal pass
 * would find nothing and is skipped.
 */
static void tlb_fill(struct eptf_parent *p, struct proot *r, uint64_t base, unsigned level,
		     uint64_t frame, bool w, bool x, bool none_overlap)
{
	struct drop_ctx d = { p, &p->st.tlb_replaced };
	uint32_t i;

	if (!p->cfg.tlb_entries)
		return;
	/* Make room first: eviction may free nodes on the path the insert will take. */
	if (!none_overlap)
		rx_remove_range(&r->tlb, base, RX_SPAN(level), tlb_leaf_gone, &d);
	if (p->free_head == TLB_NIL)
		tlb_evict_lru(p);
	i = p->free_head;
	p->free_head = p->tlb[i].next;
	p->tlb[i] = (struct tlb_ent){ .root = r, .addr = base, .frame = frame, .prev = TLB_NIL,
				      .next = TLB_NIL, .level = (uint8_t)level, .writable = w,
				      .executable = x };
	if (rx_insert(&r->tlb, base, level, i, tlb_leaf_gone, &d) < 0) {
		/* out of memory: the TLB simply does not cache it */
		p->tlb[i].root = NULL;
		p->tlb[i].next = p->free_head;
		p->free_head = i;
		return;
	}
	lru_push_front(p, i);
}

/* ---- lifecycle -------------------------------------------------------- */

#ifndef PARENT_POOL_MAX
#define PARENT_POOL_MAX 256
#endif

int eptf_parent_create(const struct eptf_parent_config *cfg, eptf_xlate_fn xlate, void *xlate_ctx,
		       struct eptf_parent **out)
{
	struct eptf_parent *p;

	*out = NULL;
	if (!cfg || !xlate || cfg->backing_level < 1 || cfg->backing_level > 3 ||
	    cfg->vendor > EPTF_PARENT_AMD || cfg->tlb_entries >= TLB_NIL ||
	    cfg->gpa_bits > 64)
		return EPTF_EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return EPTF_ENOMEM;
	p->cfg = *cfg;
	p->xlate = xlate;
	p->xlate_ctx = xlate_ctx;
	p->nbuckets = 16;
	p->buckets = calloc(p->nbuckets, sizeof(*p->buckets));
	p->tlb = cfg->tlb_entries ? calloc(cfg->tlb_entries, sizeof(*p->tlb)) : NULL;
	if (!p->buckets || (cfg->tlb_entries && !p->tlb)) {
		free(p->buckets);
		free(p->tlb);
		free(p);
		return EPTF_ENOMEM;
	}
	p->lru_head = p->lru_tail = TLB_NIL;
	p->free_head = cfg->tlb_entries ? 0 : TLB_NIL;
	for (uint32_t i = 0; i < cfg->tlb_entries; i++) {
		p->tlb[i].prev = TLB_NIL;
		p->tlb[i].next = i + 1 < cfg->tlb_entries ? i + 1 : TLB_NIL;
	}
	/* splitmix64 seeding: any seed, including 0, gives a usable stream */
	p->rng = cfg->inject.seed;
	p->pool.max = PARENT_POOL_MAX;
	*out = p;
	return 0;
}

void eptf_parent_destroy(struct eptf_parent *p)
{
	if (!p)
		return;
	for (size_t b = 0; b < p->nbuckets; b++) {
		while (p->buckets[b]) {
			struct proot *r = p->buckets[b];

			p->buckets[b] = r->next;
			root_free(r);
		}
	}
	rx_pool_drain(&p->pool);
	free(p->buckets);
	free(p->tlb);
	free(p);
}

/* ---- dropping --------------------------------------------------------- */

void eptf__parent_tlb_clear(struct eptf_parent *p, struct proot *r)
{
	struct drop_ctx d = { p, &p->st.tlb_dropped };

	rx_remove_range(&r->tlb, 0, RX_PAGES, tlb_leaf_gone, &d);
}

void eptf__parent_root_clear(struct eptf_parent *p, struct proot *r)
{
	struct drop_ctx d = { p, &p->st.ept02_dropped };

	rx_remove_range(&r->ept, 0, RX_PAGES, ept_leaf_gone, &d);
	eptf__parent_tlb_clear(p, r);
}

void eptf__parent_drop_range(struct eptf_parent *p, struct proot *r, uint64_t gfn, uint64_t pages,
			     bool tlb_too)
{
	struct drop_ctx d = { p, &p->st.ept02_dropped };

	rx_remove_range(&r->ept, gfn, pages, ept_leaf_gone, &d);
	if (tlb_too) {
		d.count = &p->st.tlb_dropped;
		rx_remove_range(&r->tlb, gfn, pages, tlb_leaf_gone, &d);
	}
}

void eptf_parent_drop_range(struct eptf_parent *p, uint64_t root_hpa, uint64_t addr, uint64_t pages)
{
	struct proot *r = eptf__parent_root(p, root_hpa);

	if (r)
		eptf__parent_drop_range(p, r, addr, pages, true);
}

void eptf_parent_flush_root(struct eptf_parent *p, uint64_t root_hpa)
{
	struct proot *r = eptf__parent_root(p, root_hpa);

	p->st.root_flushes++;
	if (r)
		eptf__parent_root_clear(p, r);
}

/* rx_leaf_fn for a forgotten root's TLB leaves: the slot stays taken, as an orphan. */
static void tlb_leaf_orphan(void *ctx, uint64_t addr, unsigned level, uint64_t payload)
{
	struct eptf_parent *p = ctx;

	(void)addr;
	(void)level;
	p->tlb[payload].root = NULL;
	p->tlb[payload].orphan = true;
	p->orphan_tlb++;
}

void eptf_parent_forget_root(struct eptf_parent *p, uint64_t root_hpa)
{
	struct proot **link, *r;

	if (!p)
		return;
	link = &p->buckets[root_hash(root_hpa, p->nbuckets)];
	while (*link && (*link)->hpa != root_hpa)
		link = &(*link)->next;
	r = *link;
	if (!r)
		return;
	*link = r->next;
	p->nroots--;
	/* not counted as drops: L1 freed the table, nothing flushed it */
	r->ept.pool = r->tlb.pool = NULL; /* its nodes go back to malloc */
	rx_remove_range(&r->tlb, 0, RX_PAGES, tlb_leaf_orphan, p);
	root_free(r);
	if (!p->nroots)
		rx_pool_drain(&p->pool); /* no live root: hold no spare nodes either */
}

void eptf_parent_drop(struct eptf_parent *p, const struct eptf_cached *c)
{
	struct proot *r = eptf__parent_root(p, c->root_hpa);
	uint64_t payload;

	if (!r)
		return;
	if (c->in_tlb) {
		if (rx_remove_exact(&r->tlb, c->addr, c->level, &payload)) {
			tlb_slot_free(p, (uint32_t)payload);
			p->st.tlb_dropped++;
		}
	} else if (rx_remove_exact(&r->ept, c->addr, c->level, NULL)) {
		p->st.ept02_dropped++;
	}
}

/* ---- accesses --------------------------------------------------------- */

static inline bool permits(bool w, bool x, bool write, bool exec)
{
	return (!write || w) && (!exec || x);
}

enum eptf_access_outcome eptf_parent_access(struct eptf_parent *p, uint64_t root_hpa, uint64_t addr,
					    bool write, bool exec)
{
	struct proot *r = eptf__parent_root(p, root_hpa);
	struct eptf_xlate x;
	uint64_t base, payload, span, frame;
	unsigned level;
	bool tlb_has = r && rx_lookup(&r->tlb, addr, &base, &level, &payload);

	if (tlb_has) {
		struct tlb_ent *e = &p->tlb[payload];

		if (permits(e->writable, e->executable, write, exec)) {
			lru_unlink(p, (uint32_t)payload);
			lru_push_front(p, (uint32_t)payload);
			p->st.tlb_hits++;
			return EPTF_ACCESS_TLB_HIT;
		}
	}
	if (r && rx_lookup(&r->ept, addr, &base, &level, &payload) &&
	    permits(ept_w(payload), ept_x(payload), write, exec)) {
		tlb_fill(p, r, base, level, ept_frame(payload), ept_w(payload), ept_x(payload),
			 level == 1 && !tlb_has);
		p->st.tlb_misses++;
		return EPTF_ACCESS_TLB_MISS;
	}
	/* EPT violation: L0 walks L1's tables and rebuilds the shadow entry. */
	if (addr >= RX_PAGES || p->xlate(p->xlate_ctx, root_hpa, addr, &x) < 0 ||
	    !permits(x.writable, x.executable, write, exec)) {
		p->st.unmapped++;
		return EPTF_ACCESS_UNMAPPED;
	}
	level = x.level < 1 ? 1 : x.level > 3 ? 3 : x.level;
	if (level > p->cfg.backing_level)
		level = p->cfg.backing_level; /* a smaller-backed parent splinters L1's huge page */
	span = RX_SPAN(level);
	base = addr & ~(span - 1);
	frame = x.frame - (addr - base);
	if (!r && !(r = root_get(p, root_hpa)))
		return EPTF_ACCESS_UNMAPPED; /* out of memory: nothing cached */
	{
		struct drop_ctx d = { p, &p->st.ept02_replaced };

		if (rx_insert(&r->ept, base, level, ept_pack(frame, x.writable, x.executable),
			      ept_leaf_gone, &d) < 0)
			return EPTF_ACCESS_UNMAPPED;
	}
	tlb_fill(p, r, base, level, frame, x.writable, x.executable, level == 1 && !tlb_has);
	p->st.ept_violations++;
	return EPTF_ACCESS_EPT_VIOLATION;
}

/* ---- queries ---------------------------------------------------------- */

struct visit_ctx {
	const struct eptf_parent *p;
	uint64_t root;
	bool tlb;
	int (*cb)(void *ctx, const struct eptf_cached *c);
	void *ctx;
};

static int visit_leaf(void *ctx, uint64_t addr, unsigned level, uint64_t payload)
{
	struct visit_ctx *v = ctx;
	struct eptf_cached c = { .root_hpa = v->root, .addr = addr, .level = (uint8_t)level,
				 .in_tlb = v->tlb };

	if (v->tlb) {
		const struct tlb_ent *e = &v->p->tlb[payload];

		c.frame = e->frame;
		c.writable = e->writable;
		c.executable = e->executable;
	} else {
		c.frame = ept_frame(payload);
		c.writable = ept_w(payload);
		c.executable = ept_x(payload);
	}
	return v->cb(v->ctx, &c);
}

void eptf_parent_for_each(const struct eptf_parent *p, uint64_t root_hpa, uint64_t addr,
			  uint64_t pages, int (*cb)(void *ctx, const struct eptf_cached *c), void *ctx)
{
	const struct proot *r = eptf__parent_root(p, root_hpa);
	struct visit_ctx v = { p, root_hpa, false, cb, ctx };

	if (!r)
		return;
	if (rx_visit(&r->ept, addr, pages, visit_leaf, &v))
		return;
	v.tlb = true;
	rx_visit(&r->tlb, addr, pages, visit_leaf, &v);
}

void eptf_parent_get_stats(const struct eptf_parent *p, struct eptf_parent_stats *st)
{
	const struct eptf_cost_model *cm = &p->cfg.cost;

	*st = p->st;
	st->ept02_entries = 0;
	st->tlb_entries = 0;
	st->bytes = sizeof(*p) + p->nbuckets * sizeof(*p->buckets) +
		    (uint64_t)p->cfg.tlb_entries * sizeof(*p->tlb) + rx_pool_bytes(&p->pool);
	for (size_t b = 0; b < p->nbuckets; b++) {
		for (const struct proot *r = p->buckets[b]; r; r = r->next) {
			st->ept02_entries += r->ept.leaves;
			st->tlb_entries += r->tlb.leaves;
			st->bytes += sizeof(*r) + rx_bytes(&r->ept) + rx_bytes(&r->tlb);
		}
	}
	st->tlb_entries += p->orphan_tlb;
	/* The formula of docs/cost-model.md §"Total". */
	st->modeled_cycles = st->hypercalls * cm->hypercall + st->list_entries * cm->list_entry +
			     st->full_flushes * cm->full_flush +
			     st->ept_violations * cm->ept_violation +
			     st->tlb_misses * cm->tlb_miss_walk + st->ept02_dropped * cm->entry_drop;
}
