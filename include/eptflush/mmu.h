/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The L1 model: KVM's MMU as far as the flush paths need it. Memslots,
 * shadow pages (struct kvm_mmu_page), SPTEs, rmaps, vCPUs with roots, and
 * KVM's operations. A mutator never flushes: it reports what it changed as
 * a flush point, and the caller (the replay engine, playing KVM's outermost
 * caller) hands the flush point to a strategy, then calls
 * eptf_mmu_finish() which frees zapped pages (flush before free, rule 2).
 *
 * Levels are KVM's: an SPTE at level L maps 512^(L-1) 4 KiB pages
 * (KVM_PAGES_PER_HPAGE(L)); a shadow page (sp) at level L holds 512 SPTEs
 * of level L and covers 512^L pages. Roots are level 4.
 *
 * Root "hpa": each root sp has a synthetic, stable, page-aligned host
 * physical address used as the hypercall address_space.
 */
#ifndef EPTFLUSH_MMU_H
#define EPTFLUSH_MMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <eptflush/op.h>

#define EPTF_MAX_VCPUS 64
#define EPTF_PAGES_PER_LEVEL(level) (1ull << (9 * ((level) - 1))) /* KVM_PAGES_PER_HPAGE */

struct eptf_mmu;

struct eptf_mmu_config {
	unsigned nr_vcpus; /* 1..EPTF_MAX_VCPUS */
};

/* Create an empty model (no memslots; every vCPU without a root). */
int eptf_mmu_create(const struct eptf_mmu_config *cfg, struct eptf_mmu **out);
void eptf_mmu_destroy(struct eptf_mmu *mmu);

/* ---- what a mutator reports ------------------------------------------ */

enum eptf_site {
	EPTF_SITE_NONE = 0,
	EPTF_SITE_COMMIT_ZAP,  /* kvm_mmu_commit_zap_page: items are EPTF_INV_SP, one per page on the
				* invalid list (explicit prepare_zap, collapse, guest-table zaps) */
	EPTF_SITE_ZAP_RANGE,   /* kvm_zap_gfn_range: SPTE drops; range_gfn/range_pages = request */
	EPTF_SITE_SYNC_PAGE,   /* FNAME(sync_page): SPTEs of synced indirect pages dropped/weakened */
	EPTF_SITE_WP_GFN,      /* kvm_mmu_slot_gfn_write_protect (page track, shadowing a guest
				* table): SPTEs that lost W; gfn = the gfn */
	EPTF_SITE_WP_SLOT,     /* dirty logging enabled: SPTEs of the slot that lost W */
	EPTF_SITE_DIRTY_LOG,   /* get/clear dirty log: SPTEs re-protected; slot range set */
	EPTF_SITE_AGE,         /* clear_flush_young: SPTEs whose accessed bit was cleared */
	EPTF_SITE_UNMAP,       /* MMU-notifier unmap of an hva range: SPTE drops */
	EPTF_SITE_SLOT_REMOVE, /* memslot delete or move: SPTE drops in the old range */
	EPTF_SITE_SPLIT,       /* a huge SPTE dropped to install a table (drop_large_spte) */
	EPTF_SITE_PTE_WRITE,   /* L2 wrote a shadowed non-leaf guest table (kvm_mmu_pte_write) */
	EPTF_SITE_SPTE_CHANGE, /* a fault replaced a present leaf with another frame */
	EPTF_SITE_COUNT,
};

/* Name of a site ("commit_zap", ...). */
const char *eptf_site_name(enum eptf_site site);

enum eptf_inv_kind {
	EPTF_INV_SP = 1,   /* a whole shadow page was zapped */
	EPTF_INV_SPTE = 2, /* one SPTE was dropped or weakened */
};

enum eptf_inv_change {
	EPTF_CHG_DROP = 1,   /* no longer present (or the page is gone) */
	EPTF_CHG_WRPROT = 2, /* lost write permission */
	EPTF_CHG_AGED = 3,   /* accessed bit cleared (clear_flush_young) */
	EPTF_CHG_FRAME = 4,  /* now maps another frame */
};

/* One invalidation the model knows about, with what KVM itself knows. */
struct eptf_inval {
	uint8_t kind;       /* enum eptf_inv_kind */
	uint8_t change;     /* enum eptf_inv_change (EPTF_CHG_DROP for a page) */
	uint8_t sp_level;   /* role.level of the page holding the SPTE / of the zapped page, 1..4 */
	bool direct;        /* role.direct */
	bool last_level;    /* sp->last_level as seed V2 keeps it (set by the last set_spte) */
	bool leaf;          /* SPTE: it was a leaf (false: a link to a child page) */
	bool huge;          /* SPTE: a leaf above level 1 */
	uint8_t site;       /* enum eptf_site of the KVM code that made this change; differs from
			     * fp->site only when one op changed things under several sites (a fault
			     * that splits, collapses or shadows a guest table: KVM flushes each of
			     * those on its own, the model reports one flush point) */
	uint16_t index;     /* SPTE: index in its page */
	uint64_t sp_gfn;    /* sp->gfn: first gfn (direct) or the guest table's gfn (indirect) */
	uint64_t sp_base;   /* first input page the page maps (== sp_gfn for direct pages) */
	uint64_t addr;      /* first input page affected: SPTE: sp_base + index * 512^(sp_level-1);
			     * SP: sp_base */
	uint64_t pages;     /* input pages affected: SPTE 512^(sp_level-1); SP 512^sp_level */
	uint64_t gfn;       /* SPTE leaf: first gfn it mapped (== addr for direct) */
};

/* A root a flush must reach. */
struct eptf_root_ref {
	uint64_t hpa; /* address_space for the hypercalls */
	bool direct;
};

/*
 * A flush point: the end of a KVM operation that must flush before it
 * returns (or before it frees pages). Produced iff nitems > 0. Everything
 * it points to is owned by the model and valid until eptf_mmu_finish().
 */
struct eptf_flush_point {
	enum eptf_site site;
	uint64_t op_index;             /* the op number (0-based) in its trace */
	const struct eptf_inval *items;
	size_t nitems;
	const struct eptf_root_ref *roots; /* distinct valid roots loaded by any vCPU (a zapped
					    * root stays listed up to the flush point that frees it:
					    * its vCPUs still run on it, docs/model.md) */
	size_t nroots;
	/* context the kernel code at the site has */
	uint32_t slot;                  /* WP_SLOT, DIRTY_LOG, SLOT_REMOVE */
	uint64_t slot_base_gfn, slot_npages;
	uint64_t gfn;                   /* WP_GFN */
	uint64_t range_gfn, range_pages; /* ZAP_RANGE */
	uint64_t hva_start, hva_end;    /* AGE, UNMAP (bytes, end exclusive) */
};

/* What one op did besides its flush point. */
struct eptf_mmu_result {
	struct eptf_flush_point fp; /* fp.site == EPTF_SITE_NONE: nothing to flush (then items and
				     * roots are NULL, nitems and nroots 0, the context fields
				     * unspecified) */
	uint64_t loaded_root;       /* ROOT_LOAD (or an implicit reload): the hpa the vCPU now uses,
				     * 0 if its root did not change */
	uint64_t access_root;       /* ACCESS: the hpa of the root the access went through, which is
				     * eptf_mmu_vcpu_root() of its vCPU until eptf_mmu_finish();
				     * 0 on a guest fault */
	bool faulted;               /* ACCESS: KVM had to fault in or fix up the page first */
	bool guest_fault;           /* ACCESS/MAP: L2's own tables do not map the address */
	int young;                  /* CLEAR_*_YOUNG: the answer (pages found young) */
	uint64_t dirty_pages;       /* GET/CLEAR_DIRTY_LOG: pages reported dirty */
};

/*
 * Apply @op (the @op_index-th of its trace). On success returns 0 and fills
 * @res. An op the model refuses (bad memslot id, overlapping memslot, vCPU
 * out of range, level out of range, a map outside every memslot, ...)
 * returns a negative EPTF_E* and changes nothing. Must not be called again
 * before eptf_mmu_finish() when the previous call produced a flush point.
 */
int eptf_mmu_apply(struct eptf_mmu *mmu, const struct eptf_op *op, uint64_t op_index,
		   struct eptf_mmu_result *res);

/* The flush for the last flush point is done: free zapped pages, reset the item list. */
void eptf_mmu_finish(struct eptf_mmu *mmu);

/*
 * Called with the hpa of every root page the model frees, from
 * eptf_mmu_finish() (so after the flush point's flush). Root hpas are never
 * reused, so no vCPU can load that root again; the replay engine passes
 * this on to eptf_parent_forget_root() to keep the parent's memory bounded
 * by the live roots.
 */
typedef void (*eptf_root_freed_fn)(void *ctx, uint64_t root_hpa);
/* Register @fn (NULL: none) and its @ctx; replaces an earlier registration. */
void eptf_mmu_set_root_freed(struct eptf_mmu *mmu, eptf_root_freed_fn fn, void *ctx);

/* ---- queries (the parent model and the checker walk L1's tables) ----- */

/* A translation as L1's tables grant it now. */
struct eptf_xlate {
	uint64_t frame;   /* host frame of the 4 KiB input page asked for */
	uint8_t level;    /* level of the leaf SPTE (1..3) */
	bool writable;
	bool executable;
	bool accessed;    /* the leaf's accessed bit */
};

/*
 * Walk the root with address_space @root_hpa for input page @addr. Returns
 * 0 and fills @out when a present leaf is reachable from that root, or
 * EPTF_ENOENT (not mapped, or no such valid root). Never changes the model.
 */
int eptf_mmu_translate(const struct eptf_mmu *mmu, uint64_t root_hpa, uint64_t addr,
		       struct eptf_xlate *out);

/*
 * A hint that @op will be applied soon: for an ACCESS, start loading the
 * leaf SPTE its walk will end on (walking the levels above it, which are
 * usually cached). Reads the model and changes nothing; any op is allowed.
 * The walk's leaf load is the largest single stall of a replay, and the
 * previous op's work hides it.
 */
void eptf_mmu_prefetch(const struct eptf_mmu *mmu, const struct eptf_op *op);

/* The vCPU's current root hpa, 0 if none (or its root was zapped and freed, until it reloads). */
uint64_t eptf_mmu_vcpu_root(const struct eptf_mmu *mmu, unsigned vcpu);

/* Counters an L1 strategy may use (what KVM itself could count). */
struct eptf_mmu_stats {
	uint64_t pages;        /* live shadow pages */
	uint64_t leaf_sptes;   /* present leaf SPTEs */
	uint64_t mapped_4k;    /* 4 KiB pages mapped by present leaves */
	uint64_t zapped_pages; /* pages zapped so far */
	uint64_t faults;       /* fault-ins */
	uint64_t bytes;        /* model memory in use, bytes */
};
void eptf_mmu_get_stats(const struct eptf_mmu *mmu, struct eptf_mmu_stats *st);

/* Memslot lookup by KVM id; EPTF_ENOENT for a bad id (the seed's kvm_get_memslot() without its NULL). */
struct eptf_memslot_info {
	uint32_t slot;
	uint64_t base_gfn, npages, hva;
	uint32_t flags;
};
int eptf_mmu_get_memslot(const struct eptf_mmu *mmu, uint32_t slot, struct eptf_memslot_info *out);

/*
 * Test and debug aid, O(size of the model): check the model's internal
 * invariants (every present leaf is in the rmap of its gfn and level and
 * maps the frame its memslot gives, every link has the matching parent
 * link, every live page is found by its key, per-page counts) and recount
 * pages, leaf_sptes, mapped_4k and bytes into @recount (may be NULL; the other
 * fields are copied). Returns 0, or EPTF_EINVAL at the first inconsistency
 * or when the incremental counters differ from the recount.
 */
int eptf_mmu_check(const struct eptf_mmu *mmu, struct eptf_mmu_stats *recount);

#endif
