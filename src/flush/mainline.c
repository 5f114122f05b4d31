/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mainline: what Linux does today (v6.x). A single contiguous range per
 * hypercall, only where Linux calls kvm_flush_remote_tlbs_range() and only
 * when every root is direct (rule 6: a gfn range means nothing to a shadow
 * root); a full flush everywhere else.
 *
 *   ZAP_RANGE    kvm_zap_gfn_range(): [gfn_start, gfn_end), widened to the
 *                huge SPTEs it dropped whole (see below)
 *   DIRTY_LOG, WP_SLOT, SLOT_REMOVE
 *                kvm_flush_remote_tlbs_memslot(): [base_gfn, +npages)
 *   SPLIT        drop_large_spte() -> kvm_flush_remote_tlbs_sptep(): the huge
 *                SPTE's range, gfn_round_for_level(), KVM_PAGES_PER_HPAGE(level)
 *   SPTE_CHANGE  kvm_flush_remote_tlbs_gfn(gfn, level): that SPTE's range
 *   others       COMMIT_ZAP (kvm_mmu_commit_zap_page), SYNC_PAGE, WP_GFN, AGE
 *                (kvm_age_gfn with flush_on_ret), UNMAP, PTE_WRITE: full flush
 *
 * Each range is its own call through the Linux filler; past 510 entries
 * Linux gets -ENOSPC and falls back to a full flush, and so do we.
 */
#include "internal.h"

/*
 * The one range Linux sends for the sites that range-flush, in @r.
 * Returns 1 when the site range-flushes with a single range, 0 when it
 * flushes per item (SPLIT, SPTE_CHANGE), -1 for a full-flush site.
 */
int eptf_flush__mainline_range(const struct eptf_flush_point *fp, struct eptf_hv_range *r)
{
	switch (fp->site) {
	case EPTF_SITE_ZAP_RANGE: {
		/*
		 * The zap drops a huge SPTE that straddles the request
		 * whole; Linux flushes only the request there, which leaves
		 * the straddling part cached in the parent. We widen to the
		 * hull so that mainline stays a correct baseline (its
		 * callers zap aligned ranges, so this rarely matters).
		 */
		uint64_t lo = fp->range_gfn, hi = fp->range_gfn + fp->range_pages;

		for (size_t i = 0; i < fp->nitems; i++) {
			if (fp->items[i].addr < lo)
				lo = fp->items[i].addr;
			if (fp->items[i].addr + fp->items[i].pages > hi)
				hi = fp->items[i].addr + fp->items[i].pages;
		}
		r->gfn = lo;
		r->pages = hi - lo;
		return 1;
	}
	case EPTF_SITE_DIRTY_LOG:
	case EPTF_SITE_WP_SLOT:
	case EPTF_SITE_SLOT_REMOVE:
		r->gfn = fp->slot_base_gfn;
		r->pages = fp->slot_npages;
		return 1;
	case EPTF_SITE_SPLIT:
	case EPTF_SITE_SPTE_CHANGE:
		return 0;
	default:
		return -1;
	}
}

static int mainline_flush(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	struct eptf_hv_range one, buf[EPTF_FLUSH_STACK_RANGES], *ranges;
	size_t n;
	int kind;

	ctx->stats.flush_points++;
	kind = eptf_flush__mainline_range(fp, &one);
	if (kind < 0 || !eptf_flush__all_direct(fp))
		return eptf_flush_full(ctx, fp);
	if (kind == 1)
		return eptf_flush_ranges_each(ctx, fp, &one, 1);
	/* SPLIT / SPTE_CHANGE: one kvm_flush_remote_tlbs_gfn() per SPTE */
	ranges = eptf_flush__exact_or_full(ctx, fp, buf, EPTF_FLUSH_STACK_RANGES, &n);
	if (!ranges)
		return EPTF_ENOMEM;
	eptf_flush_ranges_each(ctx, fp, ranges, n);
	eptf_flush__ranges_put(ranges, buf);
	return 0;
}

const struct eptf_strategy eptf_strategy_mainline = {
	.name = "mainline",
	.summary = "Linux today: one range per call where Linux range-flushes (direct roots), full elsewhere",
	.correct = true,
	.flush = mainline_flush,
};
