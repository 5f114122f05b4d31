/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * seed-v2: "X86/KVM/Hyper-V: Add HV ept tlb range list flush" V2 (Lan
 * Tianyu, 2 Feb 2019) as posted, defects included, on top of the v5.0
 * baseline (full flush everywhere except kvm_zap_gfn_range's range).
 * See docs/strategies.md and reference/seed-series.md.
 *
 *   COMMIT_ZAP  P2+P3+P4: sps with last_level, [sp->gfn, KVM_PAGES_PER_HPAGE(level))
 *               -- defect 1 (under-flush: a level-L sp maps 512^L pages),
 *               defect 7 (sp->gfn of an indirect sp is a guest-table gfn),
 *               defect 2 (empty list: no flush at all), defect 3 (the filler
 *               runs on after -ENOSPC with a negative offset)
 *   SYNC_PAGE   P5: page_header(spte) per changed SPTE; a leaf SPTE is not a
 *               page table and contributes nothing (defect 4); empty -> no flush
 *   WP_GFN      P6: [gfn, gfn + 1) -- defect 6 (huge SPTEs), defect 7 (indirect)
 *   DIRTY_LOG   P8: the memslot range
 *   AGE         P10: [hva_start, hva_end - hva_start + 1) as gfn/pages (defect 5)
 *   ZAP_RANGE   the baseline's range (as mainline); everything else full.
 * Defect 8 (kvm_get_memslot() NULL) is reported by the replay engine.
 */

#include "internal.h"

/*
 * P2's fill callback followed by P4's kvm_flush_remote_tlbs_with_list():
 * fill (sp_gfn, pages) pairs, passing the previous return value on as the
 * offset whatever it was. The posted loop does not stop at -ENOSPC; the
 * next call sees a negative offset, which in the kernel writes before the
 * input page. Our filler refuses it (EPTF_EBADOFFSET), so we surface it as
 * an error and do what the caller would have done with a negative return:
 * goto fault -> -ENOTSUPP -> kvm_flush_remote_tlbs().
 */
static int seed_list_flush(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
			   const struct eptf_hv_range *ranges, size_t n)
{
	struct eptf_hv_flush_list list;
	uint64_t pages = 0;
	int bad_after = 0; /* the error the filler had returned before a negative offset */
	int off = 0;

	if (n == 0) {
		/* P4: if (hlist_empty(flush_list)) return; -- defect 2 */
		ctx->stats.skipped++;
		return 0;
	}
	/*
	 * Not zeroed: once the offset goes negative it stays negative (the
	 * filler refuses it) and nothing is sent, so only entries the filler
	 * wrote are ever sent.
	 */
	for (size_t i = 0; i < n; i++) {
		int prev = off;

		off = eptf_hv_fill_linux(&list, off, ranges[i].gfn, ranges[i].pages);
		if (prev < 0 && !bad_after)
			bad_after = prev;
		if (off >= 0)
			pages += ranges[i].pages;
	}
	if (bad_after) {
		ctx->stats.errors++;
		if (bad_after == EPTF_ENOSPC)
			eptf_flush__report(ctx, fp->op_index,
					   "seed-v2 defect 3: filler called with negative offset after -ENOSPC");
		else
			eptf_flush__report(ctx, fp->op_index,
					   "seed-v2 defect 3: filler called with negative offset after %s",
					   eptf_strerror(bad_after));
	}
	if (off <= 0)
		return eptf_flush__fallback_full(ctx, fp);
	for (size_t i = 0; i < fp->nroots; i++) {
		list.address_space = fp->roots[i].hpa;
		eptf_flush__send_list(ctx, fp, &list, (uint16_t)off, pages);
	}
	return 0;
}

static int seed_commit_zap(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
			   struct eptf_hv_range *r)
{
	size_t n = 0;

	for (size_t i = 0; i < fp->nitems; i++) {
		const struct eptf_inval *it = &fp->items[i];

		if (it->kind != EPTF_INV_SP || !it->last_level)
			continue; /* P4: only last_level sps go on the flush list */
		r[n].gfn = it->sp_gfn;                           /* defect 7 */
		r[n].pages = EPTF_PAGES_PER_LEVEL(it->sp_level); /* defect 1 */
		n++;
	}
	return seed_list_flush(ctx, fp, r, n);
}

static int seed_sync_page(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
			  struct eptf_hv_range *r)
{
	size_t n = 0;

	for (size_t i = 0; i < fp->nitems; i++) {
		const struct eptf_inval *it = &fp->items[i];

		if (it->kind != EPTF_INV_SPTE || it->leaf)
			continue; /* page_header() of a leaf SPTE: no shadow page (defect 4) */
		r[n].gfn = it->addr;
		r[n].pages = it->pages;
		n++;
	}
	return seed_list_flush(ctx, fp, r, n);
}

/*
 * P6: every kvm_mmu_slot_gfn_write_protect() call that protected something
 * flushes kvm_flush_remote_tlbs_with_address(kvm, gfn, 1) itself. One op of
 * ours may write-protect several gfns (a shadow fault that shadows several
 * guest tables): fp->gfn is the first, and each 4 KiB WP_GFN item names its
 * own. A huge SPTE item names its first gfn, not the tracked one, so it adds
 * nothing; the tracked gfn inside it is fp->gfn or another item's. Defect 6
 * (one page for a huge SPTE) and defect 7 (a gfn in an indirect root) stay.
 */
static int seed_wp_gfn(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	struct eptf_hv_range buf[EPTF_FLUSH_STACK_RANGES];
	struct eptf_hv_range *r = eptf_flush__ranges_get(ctx, fp, buf, EPTF_FLUSH_STACK_RANGES, fp->nitems + 1);
	size_t n = 0;
	int ret;

	if (!r)
		return EPTF_ENOMEM;
	r[n++] = (struct eptf_hv_range){fp->gfn, 1};
	for (size_t i = 0; i < fp->nitems; i++) {
		const struct eptf_inval *it = &fp->items[i];
		bool seen = false;

		if (it->site != EPTF_SITE_WP_GFN || it->kind != EPTF_INV_SPTE || it->huge)
			continue;
		for (size_t j = 0; j < n && !seen; j++)
			seen = r[j].gfn == it->gfn;
		if (!seen)
			r[n++] = (struct eptf_hv_range){it->gfn, 1};
	}
	ret = eptf_flush_ranges_each(ctx, fp, r, n);
	eptf_flush__ranges_put(r, buf);
	return ret;
}

static int seed_flush(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	struct eptf_hv_range one, buf[EPTF_FLUSH_STACK_RANGES], *r;
	int ret;

	ctx->stats.flush_points++;
	switch (fp->site) {
	case EPTF_SITE_COMMIT_ZAP:
	case EPTF_SITE_SYNC_PAGE:
		/* at most one range per item */
		r = eptf_flush__ranges_get(ctx, fp, buf, EPTF_FLUSH_STACK_RANGES, fp->nitems);
		if (!r)
			return EPTF_ENOMEM;
		ret = fp->site == EPTF_SITE_COMMIT_ZAP ? seed_commit_zap(ctx, fp, r) : seed_sync_page(ctx, fp, r);
		eptf_flush__ranges_put(r, buf);
		return ret;
	case EPTF_SITE_WP_GFN:
		return seed_wp_gfn(ctx, fp);
	case EPTF_SITE_DIRTY_LOG:
		/* P8: kvm_flush_remote_tlbs_with_address(kvm, memslot->base_gfn, memslot->npages) */
		one.gfn = fp->slot_base_gfn;
		one.pages = fp->slot_npages;
		return eptf_flush_ranges_linux(ctx, fp, &one, 1);
	case EPTF_SITE_AGE:
		/* P10: kvm_flush_remote_tlbs_with_address(kvm, start, end - start + 1) on hvas (defect 5) */
		one.gfn = fp->hva_start;
		one.pages = fp->hva_end - fp->hva_start + 1;
		return eptf_flush_ranges_linux(ctx, fp, &one, 1);
	case EPTF_SITE_ZAP_RANGE:
		/* the v5.0 baseline's kvm_zap_gfn_range() range, as mainline */
		if (eptf_flush__all_direct(fp) && eptf_flush__mainline_range(fp, &one) == 1)
			return eptf_flush_ranges_each(ctx, fp, &one, 1);
		return eptf_flush_full(ctx, fp);
	default:
		return eptf_flush_full(ctx, fp);
	}
}

const struct eptf_strategy eptf_strategy_seed_v2 = {
	.name = "seed-v2",
	.summary = "the V2 series as posted (2019), defects 1-8 included",
	.correct = false,
	.flush = seed_flush,
};
