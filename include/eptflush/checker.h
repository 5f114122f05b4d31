/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The stale-translation checker. After a strategy has flushed a flush
 * point, no EPT02 or TLB entry of any root in use may translate an input
 * page to a frame, or with a permission, that L1's tables no longer grant;
 * and no entry may survive for a page whose accessed bit clear_flush_young
 * cleared. Only what the flush point changed is examined (its items'
 * ranges, in every root in use), so the checker stays on by default.
 *
 * It also serves the `ideal` lower bound: the stale entries alone, which
 * the oracle drops exactly.
 */
#ifndef EPTFLUSH_CHECKER_H
#define EPTFLUSH_CHECKER_H

#include <eptflush/mmu.h>
#include <eptflush/parent.h>

struct eptf_violation {
	uint64_t op_index;
	enum eptf_site site;
	uint64_t root_hpa;
	struct eptf_cached cached;    /* the stale entry */
	bool mapped;                  /* L1 maps the page now */
	struct eptf_xlate current;    /* valid when mapped */
	const char *why;              /* "unmapped", "frame", "writable", "executable", "aged" */
};

typedef void (*eptf_violation_fn)(void *ctx, const struct eptf_violation *v);

/*
 * Find the stale entries for flush point @fp: every cached entry of every
 * root in fp->roots overlapping an item's range that L1 no longer grants.
 * Calls @cb (may be NULL) per stale entry; returns how many.
 */
size_t eptf_check_stale(const struct eptf_mmu *mmu, const struct eptf_parent *p,
			const struct eptf_flush_point *fp, eptf_violation_fn cb, void *ctx);

/*
 * The same, with L1's tables seen through @xlate(@xlate_ctx, ...) instead
 * of an eptf_mmu (the parent's own translator works; tests use fakes).
 * eptf_check_stale(mmu, ...) is this with eptf_parent_xlate_mmu.
 */
size_t eptf_check_stale_xlate(eptf_xlate_fn xlate, void *xlate_ctx, const struct eptf_parent *p,
			      const struct eptf_flush_point *fp, eptf_violation_fn cb, void *ctx);

/* What the `ideal` oracle did at one flush point. */
struct eptf_ideal_counts {
	uint64_t roots;         /* roots with >= 1 stale entry: ideal hypercalls = ideal list entries */
	uint64_t ept02_dropped; /* stale EPT02 entries dropped */
	uint64_t tlb_dropped;   /* stale TLB entries dropped */
	uint64_t pages;         /* 4 KiB pages covered by the distinct stale (root, addr, level) */
};

/*
 * The `ideal` lower bound at flush point @fp: find the stale entries
 * exactly as eptf_check_stale() does and drop exactly those with
 * eptf_parent_drop() (so @p's ept02_dropped/tlb_dropped count them; no
 * hypercall reaches @p). Fills @out (may be NULL); returns the number of
 * stale entries dropped. Why one list entry per root suffices is in
 * docs/parent-model.md. On allocation failure falls back to dropping every
 * entry of the items' ranges in the affected roots (still correct, not
 * ideal) and returns what it dropped.
 */
size_t eptf_ideal_flush(const struct eptf_mmu *mmu, struct eptf_parent *p,
			const struct eptf_flush_point *fp, struct eptf_ideal_counts *out);
size_t eptf_ideal_flush_xlate(eptf_xlate_fn xlate, void *xlate_ctx, struct eptf_parent *p,
			      const struct eptf_flush_point *fp, struct eptf_ideal_counts *out);

#endif
