/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * list-merge (ours): the exact ranges (as `list`), sorted and merged
 * (overlaps and neighbours become one range: a zapped parent swallows its
 * children, the items of one sync or dirty-log pass coalesce), encoded
 * with the merging builder -- 2 MiB / 1 GiB entries for aligned runs when
 * the parent accepts them -- into as many input pages as needed, one list
 * call per page per root. Overflow therefore costs another call instead
 * of a full flush; only a failed call (or more than
 * EPTF_FLUSH_MERGE_MAX_PAGES pages) degrades that root to full.
 */
#include "internal.h"

static int merge_flush(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	struct eptf_hv_range buf[EPTF_FLUSH_STACK_RANGES], *ex;
	size_t n;
	int r;

	ctx->stats.flush_points++;
	if (fp->nroots == 0)
		return 0;
	ex = eptf_flush__exact_or_full(ctx, fp, buf, EPTF_FLUSH_STACK_RANGES, &n);
	if (!ex)
		return EPTF_ENOMEM;
	r = eptf_flush_ranges_merged(ctx, fp, ex, n);
	eptf_flush__ranges_put(ex, buf);
	return r;
}

const struct eptf_strategy eptf_strategy_list_merge = {
	.name = "list-merge",
	.summary = "exact ranges sorted and merged, large entries, several calls instead of a full fallback",
	.correct = true,
	.flush = merge_flush,
};
