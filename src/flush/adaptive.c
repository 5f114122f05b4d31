/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * adaptive (ours): per flush point, list-merge or full, whichever the cost
 * model (ctx->cost) says is cheaper, estimated only from what L1 knows --
 * its own items and counters (eptf_mmu_get_stats) and its history -- never
 * from the parent model's internals.
 *
 *   E = entries of the merged exact ranges (eptf_hv_count_entries),
 *   C = ceil(E / 510) list calls per root, R = roots, P = pages those
 *       entries cover, M = mapped_4k (4 KiB pages L1's leaves map).
 *   cost(list) = R * (C * hypercall + E * list_entry)
 *   cost(full) = R * (hypercall + full_flush)
 *              + rho * max(0, M - P) * ept_violation
 * The last term is the refaults a full flush adds over the list: the
 * still-valid translations it throws away that L2 touches again, each an
 * EPT violation and resync. rho, the fraction of mapped pages L2 re-touches
 * between flush points, is learnt from the one signal L1 has about L2's
 * touches: at every clear_flush_young flush point the aged SPTEs are the
 * pages found young, so sample = aged pages / M, and
 * rho <- (3 * rho + sample) / 4 (an EWMA), starting from rho = 1/2.
 * Ties go to the list (it keeps the parent's cache warm).
 */
#include <stdlib.h>

#include "internal.h"

struct adaptive_state {
	double rho; /* estimated re-touch fraction, 0..1 */
};

#define ADAPTIVE_RHO0 0.5

static int adaptive_init(struct eptf_flush_ctx *ctx)
{
	struct adaptive_state *s = malloc(sizeof(*s));

	if (!s)
		return EPTF_ENOMEM;
	s->rho = ADAPTIVE_RHO0;
	ctx->priv = s;
	return 0;
}

static void adaptive_fini(struct eptf_flush_ctx *ctx)
{
	free(ctx->priv);
	ctx->priv = NULL;
}

/* Learn rho from a clear_flush_young flush point: its items are the young pages. */
static void learn(struct adaptive_state *s, const struct eptf_flush_point *fp, uint64_t mapped)
{
	double young = 0, sample;

	if (fp->site != EPTF_SITE_AGE || mapped == 0)
		return;
	for (size_t i = 0; i < fp->nitems; i++)
		young += (double)fp->items[i].pages;
	sample = young / (double)mapped;
	if (sample > 1)
		sample = 1;
	s->rho = (3 * s->rho + sample) / 4;
}

bool eptf_adaptive_prefers_full(const struct eptf_cost_model *cm, double rho, uint64_t nroots,
				uint64_t entries, uint64_t covered, uint64_t mapped)
{
	uint64_t calls = (entries + EPTF_HV_MAX_FLUSH_REP_COUNT - 1) / EPTF_HV_MAX_FLUSH_REP_COUNT;
	double list, full, lost;

	if (calls > EPTF_FLUSH_MERGE_MAX_PAGES)
		return true;
	list = (double)nroots * ((double)calls * (double)cm->hypercall + (double)entries * (double)cm->list_entry);
	lost = mapped > covered ? (double)(mapped - covered) : 0;
	full = (double)nroots * ((double)cm->hypercall + (double)cm->full_flush) +
	       rho * lost * (double)cm->ept_violation;
	return full < list;
}

static int adaptive_flush(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	struct adaptive_state *s = ctx->priv;
	struct eptf_mmu_stats st = { 0 };
	struct eptf_cost_model cm;
	struct eptf_hv_range *ex;
	unsigned flags = ctx->parent_accepts_large ? EPTF_HV_MERGE_LARGE_2M | EPTF_HV_MERGE_LARGE_1G : 0;
	uint64_t covered = 0;
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
	ex = eptf_flush__exact_alloc(fp, &n);
	if (!ex) {
		eptf_flush__fallback_full(ctx, fp);
		return EPTF_ENOMEM;
	}
	n = eptf_hv_ranges_merge(ex, n);
	for (size_t i = 0; i < n; i++)
		covered += ex[i].pages;
	entries = eptf_hv_count_entries(ex, n, flags);
	if (s)
		learn(s, fp, st.mapped_4k);
	if (n == 0 || eptf_adaptive_prefers_full(&cm, s ? s->rho : ADAPTIVE_RHO0, fp->nroots, entries,
						  covered, st.mapped_4k))
		r = eptf_flush_full(ctx, fp);
	else
		r = eptf_flush_ranges_merged(ctx, fp, ex, n);
	free(ex);
	return r;
}

const struct eptf_strategy eptf_strategy_adaptive = {
	.name = "adaptive",
	.summary = "per flush point list-merge or full, from the cost model and L1's own counters",
	.correct = true,
	.init = adaptive_init,
	.fini = adaptive_fini,
	.flush = adaptive_flush,
};
