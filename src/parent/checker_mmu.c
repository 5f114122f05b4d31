// SPDX-License-Identifier: BSD-2-Clause
/*
 * The checker and the oracle over the real MMU model (checker.c does the
 * work through an xlate callback). Separate so that users of the callback
 * forms do not link the MMU.
 */
#include <eptflush/checker.h>

/* eptf_xlate_fn takes a void *; carry the const pointer without casting it away. */
struct mmu_ref {
	const struct eptf_mmu *mmu;
};

static int mmu_xlate(void *ctx, uint64_t root_hpa, uint64_t addr, struct eptf_xlate *out)
{
	const struct mmu_ref *m = ctx;

	return eptf_mmu_translate(m->mmu, root_hpa, addr, out);
}

size_t eptf_check_stale(const struct eptf_mmu *mmu, const struct eptf_parent *p,
			const struct eptf_flush_point *fp, eptf_violation_fn cb, void *ctx)
{
	struct mmu_ref m = { mmu };

	return eptf_check_stale_xlate(mmu_xlate, &m, p, fp, cb, ctx);
}

size_t eptf_ideal_flush(const struct eptf_mmu *mmu, struct eptf_parent *p,
			const struct eptf_flush_point *fp, struct eptf_ideal_counts *out)
{
	struct mmu_ref m = { mmu };

	return eptf_ideal_flush_xlate(mmu_xlate, &m, p, fp, out);
}
