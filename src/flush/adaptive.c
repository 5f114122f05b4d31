/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * adaptive (ours): per flush point, list-merge or full, whichever the cost
 * model (ctx->cost) says is cheaper, estimated only from what L1 knows --
 * the flush point's own items, its own counters (eptf_mmu_get_stats) and
 * the history of the flush points it has seen -- never from the parent
 * model's internals (no eptf_parent_* call, no parent statistic).
 *
 *   E = entries of the merged exact ranges (eptf_hv_count_entries, large
 *       entries when the parent accepts them), C = ceil(E / 510) list calls
 *       per root, R = roots.
 *   cost(list) = R * (C * hypercall + E * list_entry)
 *   cost(full) = R * (hypercall + full_flush) + U * ept_violation
 *   choose full iff cost(full) < cost(list), and always when C > 16
 *   (EPTF_FLUSH_MERGE_MAX_PAGES, where list-merge itself degrades).
 *
 * U is the refaults a full flush adds over the list: still-valid cached
 * translations it throws away that L2 touches again before the next flush
 * point, each an EPT violation and resync. A refault needs an L2 access to
 * a page L2 already touched, and L1 sees two things about L2's accesses:
 *
 *   - time: between two flush points dt = op_index - previous op_index
 *     time units pass (L1 reads its TSC; in the model every op is one time
 *     unit and an access touches one page, so dt bounds the accesses);
 *   - its own faults (eptf_mmu_stats.faults): df of those time units were
 *     L2 accesses to pages L1 did not map (or not writably) -- first
 *     touches, which no flush choice can save -- and one is the operation
 *     that produced this flush point.
 *
 * So g = max(0, dt - df - 1) is an upper bound on the re-touches of
 * cached translations in the interval that just ended, and
 * U <- (3 U + g) / 4 (an EWMA; the first interval sets U = g) predicts the
 * next one. Over-estimating U only makes adaptive choose the list, which
 * is always correct and at worst costs what list-merge costs; the estimate
 * is an upper bound for exactly that reason.
 *
 * Why not mapped_4k times a re-touch fraction (the first version): L1's
 * huge leaves count 512 pages each in mapped_4k, but the parent only
 * caches the 4 KiB pieces L2 touched, and a mapped page that L2 does not
 * touch again costs nothing when dropped; on the hugepage workload that
 * estimate made adaptive send 1.4 M list entries where full flushes were
 * x0.68 of the cost. The accessed bit would be the exact signal (in
 * reality the parent sets it when it walks L1's EPT to rebuild an entry),
 * but L1 must clear it to see new touches, and a strategy does not change
 * L1's tables.
 *
 * Ties go to the list (it keeps the parent's cache warm). Both choices are
 * correct, so adaptive never leaves a stale translation.
 */
#include <stdlib.h>

#include "internal.h"

struct adaptive_state {
	struct eptf_adaptive_est est;
};

void eptf_adaptive_est_init(struct eptf_adaptive_est *e)
{
	e->last_op = 0;
	e->last_faults = 0;
	e->retouch = 0;
	e->primed = false;
}

double eptf_adaptive_est_update(struct eptf_adaptive_est *e, uint64_t op_index, uint64_t faults)
{
	/* Both are monotonic in a replay; a caller that restarts them must not underflow. */
	uint64_t dt = op_index >= e->last_op ? op_index - e->last_op : 0;
	uint64_t df = faults >= e->last_faults ? faults - e->last_faults : 0;
	double g = dt > df + 1 ? (double)(dt - df - 1) : 0;

	e->retouch = e->primed ? (3 * e->retouch + g) / 4 : g;
	e->primed = true;
	e->last_op = op_index;
	e->last_faults = faults;
	return e->retouch;
}

bool eptf_adaptive_prefers_full(const struct eptf_cost_model *cm, uint64_t nroots, uint64_t entries,
				double refaults)
{
	uint64_t calls = (entries + EPTF_HV_MAX_FLUSH_REP_COUNT - 1) / EPTF_HV_MAX_FLUSH_REP_COUNT;
	double list, full;

	if (calls > EPTF_FLUSH_MERGE_MAX_PAGES)
		return true;
	if (refaults < 0)
		refaults = 0;
	list = (double)nroots * ((double)calls * (double)cm->hypercall + (double)entries * (double)cm->list_entry);
	full = (double)nroots * ((double)cm->hypercall + (double)cm->full_flush) +
	       refaults * (double)cm->ept_violation;
	return full < list;
}

static int adaptive_init(struct eptf_flush_ctx *ctx)
{
	struct adaptive_state *s = malloc(sizeof(*s));

	if (!s)
		return EPTF_ENOMEM;
	eptf_adaptive_est_init(&s->est);
	ctx->priv = s;
	return 0;
}

static void adaptive_fini(struct eptf_flush_ctx *ctx)
{
	free(ctx->priv);
	ctx->priv = NULL;
}

static int adaptive_flush(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	struct adaptive_state *s = ctx->priv;
	struct eptf_mmu_stats st = { 0 };
	struct eptf_cost_model cm;
	struct eptf_hv_range buf[EPTF_FLUSH_STACK_RANGES], *ex;
	unsigned flags = ctx->parent_accepts_large ? EPTF_HV_MERGE_LARGE_2M | EPTF_HV_MERGE_LARGE_1G : 0;
	double refaults;
	size_t n, entries;
	int r;

	ctx->stats.flush_points++;
	if (fp->nroots == 0)
		return 0;
	if (ctx->mmu)
		eptf_mmu_get_stats(ctx->mmu, &st);
	if (ctx->cost)
		cm = *ctx->cost;
	else
		eptf_cost_model_default(&cm);
	/*
	 * Without state (init not called) nothing is known about L2's
	 * touches: assume the worst, which means the list.
	 */
	refaults = s ? eptf_adaptive_est_update(&s->est, fp->op_index, st.faults) : 1e300;
	ex = eptf_flush__exact_or_full(ctx, fp, buf, EPTF_FLUSH_STACK_RANGES, &n);
	if (!ex)
		return EPTF_ENOMEM;
	n = eptf_hv_ranges_merge(ex, n);
	entries = eptf_hv_count_entries(ex, n, flags);
	if (n == 0 || eptf_adaptive_prefers_full(&cm, fp->nroots, entries, refaults))
		r = eptf_flush_full(ctx, fp);
	else
		r = eptf_flush_ranges_merged(ctx, fp, ex, n);
	eptf_flush__ranges_put(ex, buf);
	return r;
}

const struct eptf_strategy eptf_strategy_adaptive = {
	.name = "adaptive",
	.summary = "per flush point list-merge or full, from the cost model, L1's faults and the time between flushes",
	.correct = true,
	.init = adaptive_init,
	.fini = adaptive_fini,
	.flush = adaptive_flush,
};
