/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Flush strategies: how L1 turns a flush point into hypercalls. Each is a
 * small ops table (src/flush/<name>.c). All hypercalls go through
 * libeptflush (fillers, builders, the rep driver) and the transport.
 *
 *   full        a full flush (0x00AF) per root at every flush point
 *   mainline    Linux today: one contiguous range per call where Linux uses a
 *               range flush (and every root is direct), full elsewhere
 *   seed-v2     the series as posted, defects included (DESIGN.md section 1)
 *   list        the series corrected
 *   list-merge  sorted, merged, large-page entries, several calls instead of a
 *               full fallback
 *   adaptive    per flush point, list-merge or full from the cost model, using
 *               only what L1 knows
 *
 * Rule 1: any list or range flush that is unsupported, overflows or fails
 * degrades to a full flush of every affected root, never to no flush; a
 * full flush that fails degrades to an INVEPT of that root
 * (eptf_flush_ctx.invept). A call that fails with a transient status the
 * parent may return to any well-formed call (HV_STATUS_INSUFFICIENT_MEMORY,
 * HV_STATUS_TIME_OUT: what fault injection produces) and is handled by the
 * fallback is counted as a fallback, not as an error; any other failure
 * status (a rejected call) is also an error.
 */
#ifndef EPTFLUSH_FLUSH_H
#define EPTFLUSH_FLUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <eptflush/hv.h>
#include <eptflush/mmu.h>
#include <eptflush/parent.h>

/* What a strategy did, counted on the L1 side. */
struct eptf_flush_stats {
	uint64_t flush_points;
	uint64_t hypercalls;      /* hypercall instructions issued (incl. rep continuations) */
	uint64_t list_hypercalls; /* rep calls of 0x00B0 started */
	uint64_t full_flushes;    /* 0x00AF calls */
	uint64_t list_entries;    /* entries sent */
	uint64_t pages_flushed;   /* 4 KiB pages the entries cover */
	uint64_t fallbacks;       /* list/range attempts that degraded to full */
	uint64_t errors;          /* errors surfaced cleanly (seed defects 3 and 8, rejected calls) */
	uint64_t skipped;         /* flush points where the strategy sent nothing */
	/*
	 * Full flushes (0x00AF) that failed and were replaced by an INVEPT of
	 * that root through eptf_flush_ctx.invept (each is also a fallback).
	 */
	uint64_t invept_fallbacks;
};

struct eptf_flush_ctx {
	struct eptf_hv_transport hv;       /* to the parent */
	const struct eptf_cost_model *cost; /* for adaptive */
	bool parent_accepts_large;         /* CPUID-like knowledge: large entries are accepted */
	const struct eptf_mmu *mmu;        /* L1's own counters (eptf_mmu_get_stats) */
	struct eptf_flush_stats stats;
	/* Report an error cleanly (may be NULL). */
	void (*error)(void *ctx, uint64_t op_index, const char *msg);
	void *error_ctx;
	void *priv; /* the strategy's own state */
	/*
	 * The last step of the fallback chain (list -> full -> INVEPT): when a
	 * full flush of @root_hpa fails, KVM's kvm_flush_remote_tlbs() falls
	 * back to KVM_REQ_TLB_FLUSH, and each vCPU executes INVEPT on its root,
	 * which the parent emulates as a flush of that root and which cannot
	 * fail. The replay engine wires this to eptf_parent_flush_root(). May be
	 * NULL: a failed full flush is then only reported as an error.
	 */
	void (*invept)(void *ctx, uint64_t root_hpa);
	void *invept_ctx;
};

struct eptf_strategy {
	const char *name;
	const char *summary; /* one line, for --help and reports */
	bool correct;        /* expected to show no stale translations */
	int (*init)(struct eptf_flush_ctx *ctx);  /* may be NULL */
	void (*fini)(struct eptf_flush_ctx *ctx); /* may be NULL */
	/* Flush for @fp. Returns 0, or a negative EPTF_E* for an internal failure. */
	int (*flush)(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp);
};

/* Every strategy, NULL-terminated, in report order. */
extern const struct eptf_strategy *const eptf_strategies[];
/* The strategy named @name, or NULL. */
const struct eptf_strategy *eptf_strategy_find(const char *name);

/* ---- helpers the strategies share (src/flush/common.c) -------------- */

/* A full flush (0x00AF) of every root in @fp. */
int eptf_flush_full(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp);

/*
 * Send @n ranges to every root of @fp with the Linux filler (one input page,
 * 510 entries); a root whose list overflows or whose call fails gets a full
 * flush instead (rule 1).
 */
int eptf_flush_ranges_linux(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
			    const struct eptf_hv_range *ranges, size_t n);

/*
 * Mainline's shape: each of the @n ranges is its own list call (Linux
 * filler, offset 0) to every root of @fp; a range that overflows 510
 * entries or a call that fails gives that root a full flush instead and
 * ends its ranges (rule 1).
 */
int eptf_flush_ranges_each(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
			   const struct eptf_hv_range *ranges, size_t n);

/*
 * Sort and merge @ranges (modified in place), encode them with the merging
 * builder (large entries when the parent accepts them) into as many input
 * pages as needed, and send them to every root of @fp; a failed call
 * degrades that root to a full flush.
 */
int eptf_flush_ranges_merged(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp,
			     struct eptf_hv_range *ranges, size_t n);

/*
 * The ranges a corrected KVM flushes for @fp (rules 3-6): a zapped page
 * covers 512^L input pages from its base (never sp->gfn for indirect
 * pages); an SPTE covers its whole mapping. Writes at most @cap ranges,
 * returns how many there are (may be > @cap: call again with more room).
 */
size_t eptf_flush_exact_ranges(const struct eptf_flush_point *fp, struct eptf_hv_range *out,
			       size_t cap);

#endif
