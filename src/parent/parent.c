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

static inline struct proot *root_find(const struct eptf_parent *p, uint64_t hpa)
{
	struct proot *r = p->last_root;

	/* accesses come in runs on one root (a vCPU's), queries too */
	if (r && r->hpa == hpa)
		return r;
	r = p->buckets[root_hash(hpa, p->nbuckets)];

	while (r && r->hpa != hpa)
		r = r->next;
	return r;
}

struct proot *eptf__parent_root(const struct eptf_parent *p, uint64_t hpa)
{
	return root_find(p, hpa);
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
	r->ept.pool = &p->pool;
	r->tlb_head = TLB_NIL;
	r->tlb_salt = hpa * 0xc2b2ae3d27d4eb4full;
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

static inline void lru_push_front(struct eptf_parent *p, uint32_t i)
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

/* Return slot @i (already out of the hash and its root's chain) to the free list. */
static void tlb_slot_free(struct eptf_parent *p, uint32_t i)
{
	lru_unlink(p, i);
	p->tlb[i].root = NULL;
	p->tlb[i].next = p->free_head;
	p->free_head = i;
}

/*
 * The hash bucket of (@r, @addr). The level is not hashed: an entry covers
 * its first page, and at most one entry of a root covers a page, so no two
 * entries of a root share a first page.
 */
static inline uint32_t tlb_hash_index(uint64_t salt, uint64_t addr, uint32_t hmask)
{
	uint64_t h = (addr ^ salt) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 32) & hmask;
}

static inline uint32_t *tlb_bucket(const struct eptf_parent *p, const struct proot *r,
				   uint64_t addr)
{
	return &p->tlb_hash[tlb_hash_index(r->tlb_salt, addr, p->tlb_hmask)];
}

/* The slot of @r's entry of @level at @addr (aligned) in the chain from @i, or TLB_NIL. */
static inline uint32_t tlb_chain_find(const struct eptf_parent *p, uint32_t i,
				      const struct proot *r, unsigned level, uint64_t addr)
{
	while (i != TLB_NIL) {
		const struct tlb_ent *e = &p->tlb[i];

		if (e->addr == addr && e->root == r && e->level == level)
			break;
		i = e->hnext;
	}
	return i;
}

/* The slot of @r's entry of @level at @addr (aligned), or TLB_NIL. */
static inline uint32_t tlb_find(const struct eptf_parent *p, const struct proot *r, unsigned level,
				uint64_t addr)
{
	return tlb_chain_find(p, *tlb_bucket(p, r, addr), r, level, addr);
}

/*
 * The slot of @r's entry covering page @addr, or TLB_NIL (at most one covers
 * a page). *@b1 gets @addr's hash bucket if the level-1 probe computed it
 * (else it is left alone), for a 4 KiB fill after a miss.
 */
static inline uint32_t tlb_lookup(const struct eptf_parent *p, const struct proot *r, uint64_t addr,
				  uint32_t **b1)
{
	uint32_t i = TLB_NIL;

	/* a 4 KiB-backed parent has only level-1 entries: one probe */
	if (r->tlb_n[1]) {
		*b1 = tlb_bucket(p, r, addr);
		if ((i = tlb_chain_find(p, **b1, r, 1, addr)) != TLB_NIL)
			return i;
	}
	if (!(r->tlb_n[2] | r->tlb_n[3]))
		return TLB_NIL;
	if (r->tlb_n[2] && (i = tlb_find(p, r, 2, addr & ~(RX_SPAN(2) - 1))) != TLB_NIL)
		return i;
	if (r->tlb_n[3])
		i = tlb_find(p, r, 3, addr & ~(RX_SPAN(3) - 1));
	return i;
}

/* Take slot @i (filled in, root set) into hash bucket @b (its own) and its root's chain. */
static inline void tlb_link_at(struct eptf_parent *p, uint32_t i, uint32_t *b)
{
	struct tlb_ent *e = &p->tlb[i];
	struct proot *r = e->root;

	e->hnext = *b;
	*b = i;
	e->rprev = TLB_NIL;
	e->rnext = r->tlb_head;
	if (r->tlb_head != TLB_NIL)
		p->tlb[r->tlb_head].rprev = i;
	r->tlb_head = i;
	r->tlb_n[e->level]++;
}

/* Take slot @i out of the hash only. */
static void tlb_unhash(struct eptf_parent *p, uint32_t i)
{
	struct tlb_ent *e = &p->tlb[i];
	uint32_t *link = tlb_bucket(p, e->root, e->addr);

	while (*link != i)
		link = &p->tlb[*link].hnext;
	*link = e->hnext;
}

/* Take slot @i out of the hash and its root's chain. */
static void tlb_unlink(struct eptf_parent *p, uint32_t i)
{
	struct tlb_ent *e = &p->tlb[i];
	struct proot *r = e->root;

	tlb_unhash(p, i);
	if (e->rprev != TLB_NIL)
		p->tlb[e->rprev].rnext = e->rnext;
	else
		r->tlb_head = e->rnext;
	if (e->rnext != TLB_NIL)
		p->tlb[e->rnext].rprev = e->rprev;
	r->tlb_n[e->level]--;
}

/* Drop entry @i of its root, counting it in *@count (may be NULL). */
static void tlb_drop(struct eptf_parent *p, uint32_t i, uint64_t *count)
{
	tlb_unlink(p, i);
	tlb_slot_free(p, i);
	if (count)
		(*count)++;
}

static inline uint64_t tlb_end(const struct tlb_ent *e)
{
	return e->addr + RX_SPAN(e->level);
}

/*
 * How many probes tlb_remove_range() would make for [lo, hi) (hi > lo): the
 * aligned entries of each level in use that overlap the range, or @limit
 * when that is more.
 */
static uint64_t tlb_probes(const struct proot *r, uint64_t lo, uint64_t hi, uint64_t limit)
{
	uint64_t n = 0;

	for (unsigned l = 1; l <= 3 && n < limit; l++) {
		unsigned sh = RX_SHIFT(l);

		if (r->tlb_n[l])
			n += ((hi - 1) >> sh) - (lo >> sh) + 1;
	}
	return n < limit ? n : limit;
}

/* Remove every TLB entry of @r overlapping [lo, hi) (hi > lo), counting them in *@count. */
static void tlb_remove_range(struct eptf_parent *p, struct proot *r, uint64_t lo, uint64_t hi,
			     uint64_t *count)
{
	uint64_t held = (uint64_t)r->tlb_n[1] + r->tlb_n[2] + r->tlb_n[3];

	if (!held)
		return;
	if (tlb_probes(r, lo, hi, held) < held) {
		/* a short range: look each entry that could overlap it up */
		for (unsigned l = 1; l <= 3; l++) {
			unsigned sh = RX_SHIFT(l);

			for (uint64_t a = lo >> sh; r->tlb_n[l] && a <= (hi - 1) >> sh; a++) {
				uint32_t i = tlb_find(p, r, l, a << sh);

				if (i != TLB_NIL)
					tlb_drop(p, i, count);
			}
		}
		return;
	}
	for (uint32_t i = r->tlb_head, nx; i != TLB_NIL; i = nx) {
		const struct tlb_ent *e = &p->tlb[i];

		nx = e->rnext;
		if (e->addr < hi && tlb_end(e) > lo)
			tlb_drop(p, i, count);
	}
}

static void ept_leaf_gone(void *ctx, uint64_t addr, unsigned level, uint64_t payload)
{
	uint64_t *count = ctx;

	(void)addr;
	(void)level;
	(void)payload;
	if (count)
		(*count)++;
}

/*
 * Free a root's tree and the root itself (it is on no list any more and
 * holds no TLB slot). The nodes go back to malloc, not to the pool: a
 * forgotten root's memory is returned at once (eptf_parent_forget_root).
 */
static void root_free(struct proot *r)
{
	r->ept.pool = NULL;
	rx_clear(&r->ept);
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
		tlb_unlink(p, i);
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
/*
 * Take a slot (evicting the LRU entry when none is free) for @r's entry of
 * @level at @base, given its hash bucket @b, and link it in as the most
 * recent. The eviction may unlink an entry from the chain @b heads: *@b is
 * read after it.
 */
static inline void tlb_take(struct eptf_parent *p, struct proot *r, uint32_t *b, uint64_t base,
			    unsigned level, uint64_t frame, bool w, bool x)
{
	struct tlb_ent *e;
	uint32_t i;

	if (p->free_head == TLB_NIL)
		tlb_evict_lru(p);
	i = p->free_head;
	e = &p->tlb[i];
	p->free_head = e->next;
	e->root = r;
	e->addr = base;
	e->frame = frame;
	e->level = (uint8_t)level;
	e->writable = w;
	e->executable = x;
	e->orphan = false;
	tlb_link_at(p, i, b);
	lru_push_front(p, i);
}

static void tlb_fill(struct eptf_parent *p, struct proot *r, uint64_t base, unsigned level,
		     uint64_t frame, bool w, bool x, bool none_overlap)
{
	if (!p->cfg.tlb_entries)
		return;
	/* Make room first: the replaced entries' slots are taken before any eviction. */
	if (!none_overlap)
		tlb_remove_range(p, r, base, base + RX_SPAN(level), &p->st.tlb_replaced);
	tlb_take(p, r, tlb_bucket(p, r, base), base, level, frame, w, x);
}

/* ---- lifecycle -------------------------------------------------------- */

/*
 * Free radix nodes the parent keeps (radix.h, struct rx_pool): 256 nodes,
 * 1 MiB, held the malloc/free pairs of list/mixed down to 2% of what they
 * were (1 024 saved only 1% more instructions; bench_replay, callgrind).
 */
#define PARENT_POOL_MAX 256

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
	if (cfg->tlb_entries) {
		/* at least two buckets per slot: chains of about one */
		size_t nb = 2;

		while (nb < 2 * (size_t)cfg->tlb_entries)
			nb *= 2;
		p->tlb_hash = malloc(nb * sizeof(*p->tlb_hash));
		if (p->tlb_hash) {
			memset(p->tlb_hash, 0xff, nb * sizeof(*p->tlb_hash)); /* TLB_NIL */
			p->tlb_hmask = (uint32_t)(nb - 1);
		}
	}
	if (!p->buckets || (cfg->tlb_entries && (!p->tlb || !p->tlb_hash))) {
		free(p->buckets);
		free(p->tlb);
		free(p->tlb_hash);
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
	free(p->tlb_hash);
	free(p);
}

/* ---- dropping --------------------------------------------------------- */

void eptf__parent_tlb_clear(struct eptf_parent *p, struct proot *r)
{
	/* the whole chain goes: only the hash and the LRU need unlinking per entry */
	for (uint32_t i = r->tlb_head, nx; i != TLB_NIL; i = nx) {
		nx = p->tlb[i].rnext;
		tlb_unhash(p, i);
		tlb_slot_free(p, i);
		p->st.tlb_dropped++;
	}
	r->tlb_head = TLB_NIL;
	memset(r->tlb_n, 0, sizeof(r->tlb_n));
}

void eptf__parent_root_clear(struct eptf_parent *p, struct proot *r)
{
	p->st.ept02_dropped += rx_clear(&r->ept);
	eptf__parent_tlb_clear(p, r);
}

void eptf__parent_tlb_remove_range(struct eptf_parent *p, struct proot *r, uint64_t lo, uint64_t hi,
				   uint64_t *count)
{
	tlb_remove_range(p, r, lo, hi, count);
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
	if (p->last_root == r)
		p->last_root = NULL;
	/* not counted as drops: L1 freed the table, nothing flushed it; the slots stay taken */
	for (uint32_t i = r->tlb_head, nx; i != TLB_NIL; i = nx) {
		nx = p->tlb[i].rnext;
		tlb_unhash(p, i);
		p->tlb[i].root = NULL;
		p->tlb[i].orphan = true;
		p->orphan_tlb++;
	}
	root_free(r);
	if (!p->nroots)
		rx_pool_drain(&p->pool); /* no live root: hold no spare nodes either */
}

void eptf_parent_drop(struct eptf_parent *p, const struct eptf_cached *c)
{
	struct proot *r = eptf__parent_root(p, c->root_hpa);

	if (!r)
		return;
	if (c->in_tlb) {
		uint32_t i = TLB_NIL;

		if (c->level >= 1 && c->level <= 3 && r->tlb_n[c->level])
			i = tlb_find(p, r, c->level, c->addr);
		if (i != TLB_NIL)
			tlb_drop(p, i, &p->st.tlb_dropped);
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
	struct proot *r = root_find(p, root_hpa);
	struct eptf_xlate x;
	uint64_t base, payload, span, frame;
	unsigned level;
	uint32_t i = TLB_NIL, *b1 = NULL;
	bool tlb_has = false;
	struct rx_hint hint = { NULL, 0 };

	if (r) {
		p->last_root = r;
		/* @addr's bucket serves the lookup and a 4 KiB fill after it */
		i = tlb_lookup(p, r, addr, &b1);
		tlb_has = i != TLB_NIL;
	}
	if (tlb_has) {
		struct tlb_ent *e = &p->tlb[i];

		if (permits(e->writable, e->executable, write, exec)) {
			if (p->lru_head != i) {
				lru_unlink(p, i);
				lru_push_front(p, i);
			}
			p->st.tlb_hits++;
			return EPTF_ACCESS_TLB_HIT;
		}
	}
	if (r && rx_lookup(&r->ept, addr, &base, &level, &payload, &hint) &&
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
	/* 1..backing_level (itself 1..3): a smaller-backed parent splinters L1's huge page */
	level = x.level < 1 ? 1 : x.level;
	if (level > p->cfg.backing_level)
		level = p->cfg.backing_level;
	span = RX_SPAN(level);
	base = addr & ~(span - 1);
	frame = x.frame - (addr - base);
	if (!r && !(r = root_get(p, root_hpa)))
		return EPTF_ACCESS_UNMAPPED; /* out of memory: nothing cached */
	/* the hint is from the lookup above (none if @r was just made): nothing changed @r since */
	if (rx_insert_at(&r->ept, &hint, base, level, ept_pack(frame, x.writable, x.executable),
			 ept_leaf_gone, &p->st.ept02_replaced) < 0)
		return EPTF_ACCESS_UNMAPPED;
	if (level == 1 && !tlb_has) {
		/* the common fill (an EPT violation at 4 KiB backing): nothing overlaps, the lookup's bucket */
		if (p->cfg.tlb_entries)
			tlb_take(p, r, b1 ? b1 : tlb_bucket(p, r, addr), addr, 1, frame, x.writable,
				 x.executable);
	} else {
		tlb_fill(p, r, base, level, frame, x.writable, x.executable, false);
	}
	p->st.ept_violations++;
	return EPTF_ACCESS_EPT_VIOLATION;
}

/* ---- queries ---------------------------------------------------------- */

struct visit_ctx {
	const struct eptf_parent *p;
	uint64_t root;
	int (*cb)(void *ctx, const struct eptf_cached *c);
	void *ctx;
};

static int visit_leaf(void *ctx, uint64_t addr, unsigned level, uint64_t payload)
{
	struct visit_ctx *v = ctx;
	struct eptf_cached c;

	memset(&c, 0, sizeof(c)); /* padding too: callers may compare entries bytewise */
	c.root_hpa = v->root;
	c.addr = addr;
	c.level = (uint8_t)level;
	c.frame = ept_frame(payload);
	c.writable = ept_w(payload);
	c.executable = ept_x(payload);
	return v->cb(v->ctx, &c);
}

static int visit_tlb(const struct visit_ctx *v, uint32_t i)
{
	const struct tlb_ent *e = &v->p->tlb[i];
	struct eptf_cached c;

	memset(&c, 0, sizeof(c));
	c.root_hpa = v->root;
	c.addr = e->addr;
	c.level = e->level;
	c.frame = e->frame;
	c.writable = e->writable;
	c.executable = e->executable;
	c.in_tlb = true;
	return v->cb(v->ctx, &c);
}

/* A TLB entry found by a visit: its first page (the sort key) and its slot. */
struct tlb_hit {
	uint64_t addr;
	uint32_t slot;
};

static int tlb_hit_cmp(const void *a, const void *b)
{
	const struct tlb_hit *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/*
 * Call @v's callback for each TLB entry of @r overlapping [lo, hi), in
 * address order (as a walk of a tree would: a root's entries do not
 * overlap, so their first pages are distinct). Returns the callback's stop
 * value or 0.
 */
static int tlb_visit(const struct visit_ctx *v, const struct proot *r, uint64_t lo, uint64_t hi)
{
	const struct eptf_parent *p = v->p;
	uint64_t held = (uint64_t)r->tlb_n[1] + r->tlb_n[2] + r->tlb_n[3];
	struct tlb_hit small[32], *h = small;
	size_t n = 0, cap = sizeof(small) / sizeof(small[0]);
	int ret = 0;

	if (!held)
		return 0;
	if (held > cap && !(h = malloc(held * sizeof(*h)))) {
		/* out of memory: pick the entries in address order one by one, O(held^2) */
		uint64_t from = 0;

		for (;;) {
			uint32_t best = TLB_NIL;

			for (uint32_t i = r->tlb_head; i != TLB_NIL; i = p->tlb[i].rnext) {
				const struct tlb_ent *e = &p->tlb[i];

				if (e->addr >= from && e->addr < hi && tlb_end(e) > lo &&
				    (best == TLB_NIL || e->addr < p->tlb[best].addr))
					best = i;
			}
			if (best == TLB_NIL)
				return 0;
			if ((ret = visit_tlb(v, best)))
				return ret;
			from = p->tlb[best].addr + 1;
		}
	}
	if (tlb_probes(r, lo, hi, held) < held) {
		for (unsigned l = 1; l <= 3; l++) {
			unsigned sh = RX_SHIFT(l);

			for (uint64_t a = lo >> sh; r->tlb_n[l] && a <= (hi - 1) >> sh; a++) {
				uint32_t i = tlb_find(p, r, l, a << sh);

				if (i != TLB_NIL)
					h[n++] = (struct tlb_hit){ a << sh, i };
			}
		}
	} else {
		for (uint32_t i = r->tlb_head; i != TLB_NIL; i = p->tlb[i].rnext) {
			const struct tlb_ent *e = &p->tlb[i];

			if (e->addr < hi && tlb_end(e) > lo)
				h[n++] = (struct tlb_hit){ e->addr, i };
		}
	}
	if (n > 1)
		qsort(h, n, sizeof(*h), tlb_hit_cmp);
	for (size_t k = 0; k < n && !ret; k++)
		ret = visit_tlb(v, h[k].slot);
	if (h != small)
		free(h);
	return ret;
}

void eptf_parent_for_each(const struct eptf_parent *p, uint64_t root_hpa, uint64_t addr,
			  uint64_t pages, int (*cb)(void *ctx, const struct eptf_cached *c), void *ctx)
{
	const struct proot *r = eptf__parent_root(p, root_hpa);
	struct visit_ctx v = { p, root_hpa, cb, ctx };

	if (!r || !pages)
		return;
	/* the checker asks about every root in use, often just emptied: skip the calls then */
	if (!rx_range_empty(&r->ept, addr, pages) && rx_visit(&r->ept, addr, pages, visit_leaf, &v))
		return;
	if (r->tlb_head != TLB_NIL)
		tlb_visit(&v, r, addr, range_end(addr, pages));
}

void eptf_parent_get_stats(const struct eptf_parent *p, struct eptf_parent_stats *st)
{
	const struct eptf_cost_model *cm = &p->cfg.cost;

	*st = p->st;
	st->ept02_entries = 0;
	st->tlb_entries = 0;
	st->bytes = sizeof(*p) + p->nbuckets * sizeof(*p->buckets) +
		    (uint64_t)p->cfg.tlb_entries * sizeof(*p->tlb) + rx_pool_bytes(&p->pool) +
		    (p->tlb_hash ? ((uint64_t)p->tlb_hmask + 1) * sizeof(*p->tlb_hash) : 0);
	for (size_t b = 0; b < p->nbuckets; b++) {
		for (const struct proot *r = p->buckets[b]; r; r = r->next) {
			st->ept02_entries += r->ept.leaves;
			st->tlb_entries += (uint64_t)r->tlb_n[1] + r->tlb_n[2] + r->tlb_n[3];
			st->bytes += sizeof(*r) + rx_bytes(&r->ept);
		}
	}
	st->tlb_entries += p->orphan_tlb;
	/* The formula of docs/cost-model.md §"Total". */
	st->modeled_cycles = st->hypercalls * cm->hypercall + st->list_entries * cm->list_entry +
			     st->full_flushes * cm->full_flush +
			     st->ept_violations * cm->ept_violation +
			     st->tlb_misses * cm->tlb_miss_walk + st->ept02_dropped * cm->entry_drop;
}
