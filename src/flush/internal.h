/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Helpers shared by the strategy files (src/flush/common.c). Not part of
 * the public surface: strategies outside src/flush use <eptflush/flush.h>.
 */
#ifndef EPTF_FLUSH_INTERNAL_H
#define EPTF_FLUSH_INTERNAL_H

#include <eptflush/flush.h>

/* True when every root of @fp is direct (TDP): only then may a gfn range be used (rule 6). */
static inline bool eptf_flush__all_direct(const struct eptf_flush_point *fp)
{
	for (size_t i = 0; i < fp->nroots; i++)
		if (!fp->roots[i].direct)
			return false;
	return true;
}

/* Report @fmt through ctx->error (if any) for @op_index. Does not count. */
void eptf_flush__report(struct eptf_flush_ctx *ctx, uint64_t op_index, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The input range a corrected KVM flushes for one item (rules 3, 4, 6; see
 * eptf_flush_exact_ranges). Empty (pages == 0) items are skipped by every
 * user.
 */
static inline struct eptf_hv_range eptf_flush__item_range(const struct eptf_inval *it)
{
	struct eptf_hv_range r;

	if (it->kind == EPTF_INV_SP) {
		r.gfn = it->sp_base;
		r.pages = EPTF_PAGES_PER_LEVEL(it->sp_level + 1u);
	} else {
		r.gfn = it->addr;
		r.pages = it->pages;
	}
	return r;
}

/*
 * Room for this many ranges on a strategy's stack (1 KiB): flush points
 * with at most this many items need no allocation.
 */
#define EPTF_FLUSH_STACK_RANGES 64u

/*
 * Room for @need ranges: @buf when its @cap entries are enough, else a new
 * array. Release with eptf_flush__ranges_put(). When out of memory, every
 * root of @fp is flushed in full first (eptf_flush__fallback_full: nothing
 * may stay stale) and NULL is returned; the caller then returns
 * EPTF_ENOMEM.
 */
struct eptf_hv_range *eptf_flush__ranges_get(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
					     struct eptf_hv_range *buf, size_t cap, size_t need);

/* Free what eptf_flush__ranges_get() or eptf_flush__exact_or_full() returned (nothing when it is @buf). */
void eptf_flush__ranges_put(struct eptf_hv_range *r, const struct eptf_hv_range *buf);

/*
 * The exact ranges of @fp (eptf_flush_exact_ranges) in room from
 * eptf_flush__ranges_get() for fp->nitems ranges; *@n receives the count.
 * NULL (after a full flush) when out of memory.
 */
struct eptf_hv_range *eptf_flush__exact_or_full(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
						struct eptf_hv_range *buf, size_t cap, size_t *n);

/*
 * list's path: the exact ranges of @fp's items, filled straight into one
 * input page with the Linux filler (no range array), sent to every root as
 * eptf_flush_ranges_linux would send them.
 */
int eptf_flush__linux_items(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp);

/* Entries the Linux filler needs for @ranges (each range split in 2048-page entries). */
static inline uint64_t eptf_flush__linux_entries(const struct eptf_hv_range *ranges, size_t n)
{
	uint64_t e = 0;

	for (size_t i = 0; i < n; i++)
		e += (ranges[i].pages + EPTF_HV_MAX_FLUSH_PAGES - 1) / EPTF_HV_MAX_FLUSH_PAGES;
	return e;
}

/* Full flush of every root of @fp after a list attempt degraded (counts one fallback per root). */
int eptf_flush__fallback_full(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp);

/*
 * Full flush of one root; counts the call. If it fails, the root gets an
 * INVEPT through ctx->invept (a fallback, and an error unless the status is
 * transient); without ctx->invept the failure is an error. Returns 0 when
 * the root was flushed one way or the other, else the negative error.
 */
int eptf_flush__full_root(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp, uint64_t hpa);

/*
 * Send @count entries of @list (address_space already set) with 0x00B0,
 * counting the call; @pages is how many 4 KiB pages they cover. A failed
 * call (a time-out after partial progress included: not resumed, as in
 * Linux) is counted as a fallback -- and as an error unless its status is
 * transient -- and that root gets a full flush. Returns 0 if the list call
 * succeeded, 1 if it degraded.
 */
int eptf_flush__send_list(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
			  struct eptf_hv_flush_list *list, uint16_t count, uint64_t pages);

/*
 * The single range mainline sends for @fp's site, in @r (mainline.c).
 * Returns 1 for a one-range site (ZAP_RANGE, memslot sites), 0 for a
 * per-SPTE range site (SPLIT, SPTE_CHANGE), -1 for a full-flush site.
 */
int eptf_flush__mainline_range(const struct eptf_flush_point *fp, struct eptf_hv_range *r);

/*
 * adaptive's estimator (adaptive.c), exposed for its unit test. It sees one
 * flush point at a time, as (op_index, L1's fault count at that point).
 */
struct eptf_adaptive_est {
	uint64_t last_op;     /* op_index of the previous flush point (0 before the first) */
	uint64_t last_faults; /* eptf_mmu_stats.faults at the previous flush point */
	double retouch;       /* EWMA of re-touch opportunities per interval: U in adaptive.c */
	bool primed;          /* retouch holds at least one interval */
};
void eptf_adaptive_est_init(struct eptf_adaptive_est *e);
/*
 * Account the interval ending at a flush point at @op_index, where L1 has
 * counted @faults fault-ins so far: g = max(0, dt - dfaults - 1) time units
 * in which L2 may have re-touched a cached page. Returns the updated
 * estimate U of the refaults a full flush would add (>= 0).
 */
double eptf_adaptive_est_update(struct eptf_adaptive_est *e, uint64_t op_index, uint64_t faults);

/*
 * adaptive's decision (adaptive.c), exposed for its unit test: true when
 * a full flush of @nroots roots, followed by @refaults estimated refaults,
 * is cheaper under @cm than a list of @entries entries to each root, or
 * when the list needs more than EPTF_FLUSH_MERGE_MAX_PAGES calls.
 */
bool eptf_adaptive_prefers_full(const struct eptf_cost_model *cm, uint64_t nroots, uint64_t entries,
				double refaults);

extern const struct eptf_strategy eptf_strategy_full, eptf_strategy_mainline, eptf_strategy_seed_v2,
	eptf_strategy_list, eptf_strategy_list_merge, eptf_strategy_adaptive;

/*
 * The cap on input pages (list calls) one root may receive for one flush
 * point from the merging path: 16 pages = 8160 entries, 64 GiB in 4 KiB
 * entries and far more with large ones. Past it a full flush (one call)
 * is cheaper than 16+ nested round trips under any cost model -- only a
 * zapped 512 GiB root page without large entries gets there (65536
 * entries) -- so the merging path degrades to full instead.
 */
#define EPTF_FLUSH_MERGE_MAX_PAGES 16u

#endif
