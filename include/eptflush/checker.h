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

#endif
