/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Inside the parent model (shared by parent.c and transport.c).
 *
 * Layout: one struct proot per address space (root hpa), in a chained hash
 * table. Each holds a radix tree (radix.h) of its EPT02 shadow entries,
 * whose leaves pack (frame << 2 | X << 1 | W). The TLB is one global pool
 * of cfg.tlb_entries slots, each tagged with its root like VPID/ASID-tagged
 * hardware, with capacity counted across all roots. A global intrusive LRU
 * list (prev/next indexes in the pool) gives O(1) touch, fill and eviction;
 * a hash of (root, level, first page) finds a root's entry for a page in
 * one probe per level in use; and each root chains its own slots
 * (rprev/rnext) so that dropping its whole TLB (an Intel list flush, a root
 * switch) costs what it holds, not a walk. A TLB has at most a few thousand
 * entries, so a range drop probes each page of the range or, when that is
 * more, scans the root's chain.
 */
#ifndef EPTF_PARENT_PRIV_H
#define EPTF_PARENT_PRIV_H

#include <eptflush/parent.h>

#include "parent/radix.h"

#define TLB_NIL UINT32_MAX

struct proot {
	uint64_t hpa;        /* address_space */
	struct rx_tree ept;  /* EPT02 entries */
	uint32_t tlb_head;   /* this root's TLB slots, chained through rnext (TLB_NIL: none) */
	uint32_t tlb_n[4];   /* this root's TLB entries of level 1..3 ([0] unused) */
	uint64_t tlb_salt;   /* mixes the root into its entries' TLB hash */
	struct proot *next;  /* hash chain */
};

/*
 * One TLB slot. Free slots are chained through @next with @root == NULL.
 * An orphan (an entry of a root L1 freed, eptf_parent_forget_root) has
 * @root == NULL too and is in no hash chain and no root's chain, but stays
 * on the LRU list, holding its slot until it is evicted, as a dead EPTP's
 * entries do in hardware.
 */
struct tlb_ent {
	struct proot *root;
	uint64_t addr;       /* first input page, aligned to the level */
	uint64_t frame;      /* host frame of addr */
	uint32_t prev, next; /* LRU list: head = most recent */
	uint32_t hnext;      /* hash chain */
	uint32_t rprev, rnext; /* the root's chain */
	uint8_t level;
	bool writable, executable;
	bool orphan;
};

struct eptf_parent {
	struct eptf_parent_config cfg;
	eptf_xlate_fn xlate;
	void *xlate_ctx;

	struct proot **buckets;
	size_t nbuckets, nroots;
	struct proot *last_root; /* the last access's root (NULL: none), tried before the hash */
	uint64_t orphan_tlb; /* TLB slots still held by entries of forgotten roots */
	struct rx_pool pool; /* free radix nodes of all the roots' trees */

	struct tlb_ent *tlb;     /* cfg.tlb_entries slots */
	uint32_t lru_head, lru_tail, free_head;
	uint32_t *tlb_hash;      /* TLB hash buckets (slot index or TLB_NIL) */
	uint32_t tlb_hmask;      /* buckets - 1: a power of two, at least 2 per slot */

	uint64_t rng;            /* fault-injection PRNG state (splitmix64) */
	struct eptf_parent_stats st; /* counters; live counts and cost filled by get_stats */
	struct eptf_hv_request req;  /* validator output (8 KiB: kept off the stack) */
};

struct proot *eptf__parent_root(const struct eptf_parent *p, uint64_t hpa);
/* Drop every EPT02 and TLB entry of @r, counting them as dropped. */
void eptf__parent_root_clear(struct eptf_parent *p, struct proot *r);
/* Remove every TLB entry of @r overlapping [lo, hi) (hi > lo), counting them in *@count. */
void eptf__parent_tlb_remove_range(struct eptf_parent *p, struct proot *r, uint64_t lo, uint64_t hi,
				   uint64_t *count);

/* The end of [addr, addr + pages), saturated at 2^64 - 1. */
static inline uint64_t range_end(uint64_t addr, uint64_t pages)
{
	return pages > UINT64_MAX - addr ? UINT64_MAX : addr + pages;
}

/*
 * Drop the EPT02 (and on AMD the TLB) entries of @r overlapping a range,
 * counting them. Inline: the transport calls it once per list entry.
 */
static inline void eptf__parent_drop_range(struct eptf_parent *p, struct proot *r, uint64_t gfn,
					   uint64_t pages, bool tlb_too)
{
	if (!rx_range_empty(&r->ept, gfn, pages))
		p->st.ept02_dropped += rx_remove_range(&r->ept, gfn, pages, NULL, NULL);
	if (tlb_too && pages)
		eptf__parent_tlb_remove_range(p, r, gfn, range_end(gfn, pages), &p->st.tlb_dropped);
}
/* Drop every TLB entry of @r, counting them. */
void eptf__parent_tlb_clear(struct eptf_parent *p, struct proot *r);

#endif
