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
#include "internal.h"

/*
 * Does the memslot range @slot cover every exact range of @fp, and need no
 * more Linux entries than they do? The count first: at almost every
 * memslot flush point (a dirty-log harvest of a few pages) the items need
 * far fewer entries than the slot, and then where they lie does not
 * matter. No array.
 */
static bool slot_wins(const struct eptf_hv_range *slot, const struct eptf_flush_point *fp)
{
	uint64_t entries = 0;

	for (size_t i = 0; i < fp->nitems; i++) {
		struct eptf_hv_range r = eptf_flush__item_range(&fp->items[i]);

		entries += eptf_flush__linux_entries(&r, 1); /* 0 for an empty item */
	}
	if (eptf_flush__linux_entries(slot, 1) > entries)
		return false;
	for (size_t i = 0; i < fp->nitems; i++) {
		struct eptf_hv_range r = eptf_flush__item_range(&fp->items[i]);

		if (r.pages == 0)
			continue;
		if (r.gfn < slot->gfn || r.gfn + r.pages > slot->gfn + slot->pages)
			return false;
	}
	return true;
}

static int list_flush(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	struct eptf_hv_range slot;

	ctx->stats.flush_points++;
	if (fp->nroots == 0)
		return 0;
	if ((fp->site == EPTF_SITE_DIRTY_LOG || fp->site == EPTF_SITE_WP_SLOT ||
	     fp->site == EPTF_SITE_SLOT_REMOVE) &&
	    eptf_flush__all_direct(fp) && fp->slot_npages) {
		slot.gfn = fp->slot_base_gfn;
		slot.pages = fp->slot_npages;
		if (slot_wins(&slot, fp)) {
			eptf_flush_ranges_linux(ctx, fp, &slot, 1);
			return 0;
		}
	}
	/* the exact ranges go straight into the input page */
	eptf_flush__linux_items(ctx, fp);
	return 0;
}

const struct eptf_strategy eptf_strategy_list = {
	.name = "list",
	.summary = "the series corrected: exact ranges, one list call per root, full past 510 entries",
	.correct = true,
	.flush = list_flush,
};
