/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * list: the series corrected. Every site flushes the exact ranges of what
 * it changed (eptf_flush_exact_ranges: rules 3, 4, 6) gathered into ONE
 * list call per root through the Linux filler (P1's offset, P2/P4's one
 * list per commit); more than 510 entries, or a failed call, is a full
 * flush of that root (rule 1). Nothing is filtered (no last_level, so no
 * empty list: defects 1, 2, 4, 6, 7 cannot happen), the filler stops at the
 * first error (defect 3), aging uses the gfns of the aged SPTEs (defect 5).
 *
 * Memslot sites (DIRTY_LOG as P8, WP_SLOT, SLOT_REMOVE as mainline's
 * kvm_flush_remote_tlbs_memslot()): when every root is direct, the memslot
 * range is used instead if it needs no more entries than the exact list
 * (it covers every item of the slot). So list never sends more entries
 * than the series did there, and never more calls than mainline: one call
 * (or one full flush) per root per flush point.
 */
#include <stdlib.h>

#include "internal.h"

/* Does [r] cover every range in @ex? */
static bool covers(const struct eptf_hv_range *r, const struct eptf_hv_range *ex, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ex[i].gfn < r->gfn || ex[i].gfn + ex[i].pages > r->gfn + r->pages)
			return false;
	return true;
}

static int list_flush(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	struct eptf_hv_range *ex, slot;
	size_t n;

	ctx->stats.flush_points++;
	if (fp->nroots == 0)
		return 0;
	ex = eptf_flush__exact_or_full(ctx, fp, &n);
	if (!ex)
		return EPTF_ENOMEM;
	if ((fp->site == EPTF_SITE_DIRTY_LOG || fp->site == EPTF_SITE_WP_SLOT ||
	     fp->site == EPTF_SITE_SLOT_REMOVE) &&
	    eptf_flush__all_direct(fp) && fp->slot_npages) {
		slot.gfn = fp->slot_base_gfn;
		slot.pages = fp->slot_npages;
		if (covers(&slot, ex, n) &&
		    eptf_flush__linux_entries(&slot, 1) <= eptf_flush__linux_entries(ex, n)) {
			ex[0] = slot;
			n = 1;
		}
	}
	eptf_flush_ranges_linux(ctx, fp, ex, n);
	free(ex);
	return 0;
}

const struct eptf_strategy eptf_strategy_list = {
	.name = "list",
	.summary = "the series corrected: exact ranges, one list call per root, full past 510 entries",
	.correct = true,
	.flush = list_flush,
};
