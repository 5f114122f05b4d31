/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the strategies share: the full flush, the Linux-compatible list path
 * (one input page, the seed's filler), the merging path (several input
 * pages, large entries), and the exact ranges a corrected KVM flushes.
 *
 * Counting: stats.hypercalls adds eptf_hv_call_info.issues (continuations
 * included); list_hypercalls counts 0x00B0 calls started, full_flushes
 * 0x00AF calls issued, list_entries and pages_flushed what each list call
 * carried (per root). A list call that fails is a fallback (to a full
 * flush of that root), a full flush that fails is a fallback to an INVEPT
 * of that root (invept_fallbacks); either is also an error unless its
 * status is transient (transient_status(): what fault injection returns).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "hv/wire_priv.h"

void eptf_flush__report(struct eptf_flush_ctx *ctx, uint64_t op_index, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!ctx->error)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->error(ctx->error_ctx, op_index, msg);
}

/*
 * A failure status the parent may return for any well-formed call: out of
 * resources (HV_STATUS_INSUFFICIENT_MEMORY) or a time-out
 * (HV_STATUS_TIME_OUT, TLFS "Hypercall Continuation": the caller did not
 * get the reps it asked for). Fault injection produces exactly these. KVM
 * treats them like any failure (it falls back); we count them as fallbacks
 * only, because the strategy did nothing wrong. Any other failure status
 * means the parent rejected the call: that is also an error.
 */
static bool transient_status(uint16_t status)
{
	return status == EPTF_HV_STATUS_INSUFFICIENT_MEMORY || status == EPTF_HV_STATUS_TIME_OUT;
}

int eptf_flush__full_root(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp, uint64_t hpa)
{
	struct eptf_hv_call_info info = { 0 };
	int r = eptf_hv_flush_space_call(&ctx->hv, hpa, &info);
	bool transient;

	ctx->stats.hypercalls += info.issues;
	ctx->stats.full_flushes++;
	if (r >= 0)
		return r;
	transient = r == EPTF_EHV && transient_status(info.status);
	if (!ctx->invept) {
		/* Nothing is left to degrade to: report it so it is seen. */
		ctx->stats.errors++;
		eptf_flush__report(ctx, fp->op_index, "full flush of root %#llx failed: %s (status %#x)",
				   (unsigned long long)hpa, eptf_strerror(r), info.status);
		return r;
	}
	/*
	 * kvm_flush_remote_tlbs(): when the Hyper-V flush (hv_remote_flush_tlb)
	 * returns non-zero, KVM raises KVM_REQ_TLB_FLUSH on every vCPU and each
	 * one executes INVEPT on its root before re-entering the guest. The
	 * parent emulates INVEPT as a flush of that root; it cannot fail.
	 */
	ctx->invept(ctx->invept_ctx, hpa);
	ctx->stats.fallbacks++;
	ctx->stats.invept_fallbacks++;
	if (!transient) {
		ctx->stats.errors++;
		eptf_flush__report(ctx, fp->op_index,
				   "full flush of root %#llx failed: %s (status %#x); INVEPT of that root instead",
				   (unsigned long long)hpa, eptf_strerror(r), info.status);
	}
	return 0;
}

int eptf_flush_full(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	for (size_t i = 0; i < fp->nroots; i++)
		eptf_flush__full_root(ctx, fp, fp->roots[i].hpa);
	return 0;
}

int eptf_flush__fallback_full(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	ctx->stats.fallbacks += fp->nroots;
	return eptf_flush_full(ctx, fp);
}

/* A list call failed: count it, report it unless transient, and flush the root in full instead. */
static __attribute__((noinline)) int send_list_failed(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
						      const struct eptf_hv_flush_list *list, uint16_t count,
						      const struct eptf_hv_call_info *info, int r)
{
	/*
	 * A failure status -- including HV_STATUS_TIME_OUT after some reps
	 * were done -- is not resumed: hv_do_rep_hypercall() continues only
	 * on success with fewer reps (eptf_hv_rep_call does too) and returns
	 * any other status, and KVM then falls back to kvm_flush_remote_tlbs()
	 * for that flush. Resuming from reps_done would also be safe for a
	 * time-out, but it is not what Linux does.
	 */
	ctx->stats.fallbacks++;
	if (!(r == EPTF_EHV && transient_status(info->status))) {
		ctx->stats.errors++;
		eptf_flush__report(ctx, fp->op_index,
				   "list flush of root %#llx failed after %u of %u entries: %s (status %#x); full flush instead",
				   (unsigned long long)list->address_space, info->reps_done, count, eptf_strerror(r),
				   info->status);
	}
	eptf_flush__full_root(ctx, fp, list->address_space);
	return 1;
}

/* eptf_flush__send_list, inline for this file's list paths; the failure is out of line. */
static inline int send_list(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
			    struct eptf_hv_flush_list *list, uint16_t count, uint64_t pages)
{
	struct eptf_hv_call_info info = { 0 };
	int r;

	list->flags = 0;
	r = eptf_hv_flush_list_call(&ctx->hv, list, count, &info);
	ctx->stats.hypercalls += info.issues;
	ctx->stats.list_hypercalls++;
	ctx->stats.list_entries += count;
	ctx->stats.pages_flushed += pages;
	if (r >= 0)
		return 0;
	return send_list_failed(ctx, fp, list, count, &info, r);
}

int eptf_flush__send_list(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
			  struct eptf_hv_flush_list *list, uint16_t count, uint64_t pages)
{
	return send_list(ctx, fp, list, count, pages);
}

/*
 * eptf_hv_fill_linux for callers that treat every failure alike (a full
 * flush, rule 1): a range that needs more entries than the page has left
 * fails with EPTF_ENOSPC without the filler first writing the entries that
 * fit (a 4 GiB memslot range is 512 entries: 510 written and thrown away,
 * about 7,500 instructions, at every dirty-log flush point of mainline and
 * seed-v2). @pages > 0.
 */
static int fill_linux(struct eptf_hv_flush_list *list, int off, uint64_t gfn, uint64_t pages)
{
	/* one entry (pages <= 2048): the filler itself says ENOSPC before writing it */
	if (pages > EPTF_HV_MAX_FLUSH_PAGES) {
		uint64_t need = (pages - 1) / EPTF_HV_MAX_FLUSH_PAGES + 1;

		if (off >= 0 && off <= (int)EPTF_HV_MAX_FLUSH_REP_COUNT &&
		    need > EPTF_HV_MAX_FLUSH_REP_COUNT - (unsigned)off)
			return EPTF_ENOSPC;
	}
	return eptf_hv__fill_linux(list, off, gfn, pages); /* eptf_hv_fill_linux, inlined */
}

/* One input page being filled by the Linux filler, for every root alike. */
struct linux_fill {
	struct eptf_hv_flush_list list;
	int off;        /* entries written */
	uint64_t pages; /* pages they cover */
};

/* Append range @r (empty ones are skipped); false when it does not fit: full flush (rule 1). */
static bool linux_add(struct linux_fill *f, struct eptf_hv_range r)
{
	int k;

	if (r.pages == 0)
		return true;
	k = fill_linux(&f->list, f->off, r.gfn, r.pages);
	if (k < 0) /* -ENOSPC or a range past the frame space */
		return false;
	f->off = k;
	f->pages += r.pages;
	return true;
}

/*
 * Send the filled page to every root of @fp: the list is the same for
 * every root, stamp each root in. With no entry at all, a full flush
 * (never degrade to no flush: rule 1).
 */
static int linux_send(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp, struct linux_fill *f)
{
	if (f->off == 0)
		return eptf_flush__fallback_full(ctx, fp);
	for (size_t i = 0; i < fp->nroots; i++) {
		f->list.address_space = fp->roots[i].hpa;
		send_list(ctx, fp, &f->list, (uint16_t)f->off, f->pages);
	}
	return 0;
}

/*
 * The input pages below are not zeroed: the filler writes entries from 0
 * up, only the first @off are sent (input length 16 + 8 * off), and the
 * header is written before each call. Zeroing 4 KiB per flush point was
 * about a tenth of list's instructions.
 */
int eptf_flush_ranges_linux(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
			    const struct eptf_hv_range *ranges, size_t n)
{
	struct linux_fill f;

	f.off = 0;
	f.pages = 0;
	for (size_t i = 0; i < n; i++)
		if (!linux_add(&f, ranges[i]))
			return eptf_flush__fallback_full(ctx, fp);
	return linux_send(ctx, fp, &f);
}

int eptf_flush__linux_items(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	struct linux_fill f;

	/* eptf_flush_ranges_linux over eptf_flush_exact_ranges(fp), without the array */
	f.off = 0;
	f.pages = 0;
	for (size_t i = 0; i < fp->nitems; i++)
		if (!linux_add(&f, eptf_flush__item_range(&fp->items[i])))
			return eptf_flush__fallback_full(ctx, fp);
	return linux_send(ctx, fp, &f);
}

int eptf_flush_ranges_each(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
			   const struct eptf_hv_range *ranges, size_t n)
{
	bool any = false;

	for (size_t i = 0; i < n; i++)
		if (ranges[i].pages)
			any = true;
	if (!any)
		return eptf_flush__fallback_full(ctx, fp);
	for (size_t ri = 0; ri < fp->nroots; ri++) {
		struct eptf_hv_flush_list list; /* not zeroed: see eptf_flush_ranges_linux */

		list.address_space = fp->roots[ri].hpa;
		for (size_t i = 0; i < n; i++) {
			int r;

			if (ranges[i].pages == 0)
				continue;
			r = fill_linux(&list, 0, ranges[i].gfn, ranges[i].pages);
			if (r < 0) {
				/* kvm_flush_remote_tlbs_range() failed: full flush, nothing more for this root */
				ctx->stats.fallbacks++;
				eptf_flush__full_root(ctx, fp, list.address_space);
				break;
			}
			if (eptf_flush__send_list(ctx, fp, &list, (uint16_t)r, ranges[i].pages))
				break; /* this root got a full flush already */
		}
	}
	return 0;
}

/* 4 KiB pages the first @count entries of @list cover. */
static uint64_t list_pages(const struct eptf_hv_flush_list *list, uint16_t count)
{
	uint64_t pages = 0;

	for (uint16_t i = 0; i < count; i++) {
		struct eptf_hv_entry e;

		if (eptf_hv_entry_decode(list->gpa_list[i], &e) == 0)
			pages += e.pages;
	}
	return pages;
}

int eptf_flush_ranges_merged(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
			     struct eptf_hv_range *ranges, size_t n)
{
	unsigned flags = ctx->parent_accepts_large ? EPTF_HV_MERGE_LARGE_2M | EPTF_HV_MERGE_LARGE_1G : 0;
	/* one input page (almost every flush point) lives on the stack, not zeroed */
	struct eptf_hv_flush_list one_page, *pages = &one_page;
	uint64_t one_covered = 0, *covered = &one_covered;
	uint16_t one_count = 0, *counts = &one_count;
	size_t entries, npages;
	bool heap = false;
	int used;

	if (fp->nroots == 0)
		return 0;
	n = eptf_hv_ranges_merge(ranges, n);
	if (n == 0)
		return eptf_flush__fallback_full(ctx, fp);
	/*
	 * Try one page first: the builder counts the entries itself and says
	 * EPTF_ENOSPC when they need more pages. Only then are the pages
	 * counted here (past EPTF_FLUSH_MERGE_MAX_PAGES: full flush) and
	 * allocated.
	 */
	used = eptf_hv_build_pages(ranges, n, flags, fp->roots[0].hpa, pages, 1, counts);
	if (used == EPTF_ENOSPC) {
		entries = eptf_hv_count_entries(ranges, n, flags);
		npages = (entries + EPTF_HV_MAX_FLUSH_REP_COUNT - 1) / EPTF_HV_MAX_FLUSH_REP_COUNT;
		if (npages > EPTF_FLUSH_MERGE_MAX_PAGES)
			return eptf_flush__fallback_full(ctx, fp);
		pages = calloc(npages, sizeof(*pages));
		counts = calloc(npages, sizeof(*counts));
		covered = calloc(npages, sizeof(*covered));
		heap = true;
		if (!pages || !counts || !covered) {
			free(pages);
			free(counts);
			free(covered);
			eptf_flush__fallback_full(ctx, fp);
			return EPTF_ENOMEM;
		}
		used = eptf_hv_build_pages(ranges, n, flags, fp->roots[0].hpa, pages, npages, counts);
	}
	if (used <= 0) {
		/* a range past the frame space (or, never, no entry at all): rule 1 */
		eptf_flush__fallback_full(ctx, fp);
	} else {
		if (used == 1) {
			/*
			 * One page: its entries cover exactly the union of
			 * the merged (disjoint) ranges (eptf_hv_build_pages
			 * is exact), so no need to decode them back.
			 */
			covered[0] = 0;
			for (size_t i = 0; i < n; i++)
				covered[0] += ranges[i].pages;
		} else {
			for (int p = 0; p < used; p++)
				covered[p] = list_pages(&pages[p], counts[p]);
		}
		for (size_t ri = 0; ri < fp->nroots; ri++) {
			for (int p = 0; p < used; p++) {
				pages[p].address_space = fp->roots[ri].hpa;
				if (eptf_flush__send_list(ctx, fp, &pages[p], counts[p], covered[p]))
					break; /* degraded to a full flush of this root */
			}
		}
	}
	if (heap) {
		free(pages);
		free(counts);
		free(covered);
	}
	return 0;
}

size_t eptf_flush_exact_ranges(const struct eptf_flush_point *fp, struct eptf_hv_range *out, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < fp->nitems; i++) {
		/*
		 * The model states each item's input range: a zapped page
		 * covers 512^L pages from sp_base (rule 3, rule 6: never
		 * sp_gfn), an SPTE its whole mapping, huge or not (rule 4),
		 * from its gfn rounded to its level.
		 */
		struct eptf_hv_range r = eptf_flush__item_range(&fp->items[i]);

		if (r.pages == 0)
			continue;
		if (k < cap)
			out[k] = r;
		k++;
	}
	return k;
}

struct eptf_hv_range *eptf_flush__ranges_get(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
					     struct eptf_hv_range *buf, size_t cap, size_t need)
{
	struct eptf_hv_range *r;

	if (need <= cap)
		return buf;
	r = malloc(need * sizeof(*r));
	if (!r)
		eptf_flush__fallback_full(ctx, fp);
	return r;
}

void eptf_flush__ranges_put(struct eptf_hv_range *r, const struct eptf_hv_range *buf)
{
	if (r != buf)
		free(r);
}

struct eptf_hv_range *eptf_flush__exact_or_full(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
						struct eptf_hv_range *buf, size_t cap, size_t *n)
{
	struct eptf_hv_range *r = eptf_flush__ranges_get(ctx, fp, buf, cap, fp->nitems);

	*n = r ? eptf_flush_exact_ranges(fp, r, fp->nitems > cap ? fp->nitems : cap) : 0;
	return r;
}
