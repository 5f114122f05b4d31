/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The L0 model: what Hyper-V keeps for L1's second-level tables. Per root
 * (address_space): an EPT02 shadow cache (unbounded) and a hardware TLB
 * (bounded, LRU, 4 KiB / 2 MiB / 1 GiB entries). A translation is cached at
 * the smaller of L1's mapping size and the parent's backing page size.
 *
 * The parent receives hypercalls as control word + input bytes (it is an
 * eptf_hv_transport), validates them with libeptflush, and applies them:
 * a list flush drops the EPT02 entries overlapping the list and, on Intel,
 * all of that root's TLB entries (INVEPT has no per-address form), on AMD
 * only the overlapping ones; a space flush drops both for that root.
 *
 * L2 accesses hit the TLB, or walk EPT02 (a TLB miss), or take an EPT
 * violation that rebuilds the EPT02 entry from L1's current tables.
 */
#ifndef EPTFLUSH_PARENT_H
#define EPTFLUSH_PARENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <eptflush/hv.h>
#include <eptflush/mmu.h>

/* ---- cost model (docs/cost-model.md cites every default) ------------- */

struct eptf_cost_model {
	uint64_t hypercall;     /* cycles per hypercall instruction issued (a nested exit round trip) */
	uint64_t list_entry;    /* cycles per list entry processed by the parent */
	uint64_t full_flush;    /* cycles for dropping a root's shadow EPT (beyond the hypercall) */
	uint64_t ept_violation; /* cycles per EPT violation + EPT02 resync of one entry */
	uint64_t tlb_miss_walk; /* cycles per TLB miss that walks EPT02 (2D walk, up to 24 refs) */
	uint64_t entry_drop;    /* cycles per EPT02 entry dropped */
};

/* The defaults, with their sources in docs/cost-model.md and src/parent/cost.c. */
void eptf_cost_model_default(struct eptf_cost_model *cm);
/* Set one parameter by name ("hypercall", ...); EPTF_ENOENT for an unknown name. */
int eptf_cost_model_set(struct eptf_cost_model *cm, const char *key, uint64_t value);
/* Parameter names, NULL-terminated, in documentation order; and a value by index. */
extern const char *const eptf_cost_model_keys[];
uint64_t eptf_cost_model_get(const struct eptf_cost_model *cm, size_t key_index);

/* ---- the parent ------------------------------------------------------- */

enum eptf_parent_vendor {
	EPTF_PARENT_INTEL = 0, /* list flush drops all of the root's TLB entries */
	EPTF_PARENT_AMD = 1,   /* list flush drops only the overlapping TLB entries */
};

/* Faults the parent can inject into hypercalls (issue 6); rates in parts per million. */
struct eptf_parent_inject {
	uint32_t hv_error_ppm; /* fail a call with HV_STATUS_INSUFFICIENT_MEMORY */
	uint32_t partial_ppm;  /* complete only part of a rep call (success, fewer reps) */
	uint32_t timeout_ppm;  /* fail with HV_STATUS_TIME_OUT after partial progress */
	uint64_t seed;
};

struct eptf_parent_config {
	enum eptf_parent_vendor vendor;
	unsigned tlb_entries;   /* default 2048 */
	unsigned backing_level; /* 1 = 4 KiB (default), 2 = 2 MiB, 3 = 1 GiB */
	unsigned gpa_bits;      /* for the validator; default 52 */
	bool allow_large;       /* accept large list entries */
	struct eptf_cost_model cost;
	struct eptf_parent_inject inject;
};

void eptf_parent_config_default(struct eptf_parent_config *cfg);

/* How the parent walks L1's tables (eptf_mmu_translate in eptflush). */
typedef int (*eptf_xlate_fn)(void *ctx, uint64_t root_hpa, uint64_t addr, struct eptf_xlate *out);

struct eptf_parent;

int eptf_parent_create(const struct eptf_parent_config *cfg, eptf_xlate_fn xlate, void *xlate_ctx,
		       struct eptf_parent **out);
void eptf_parent_destroy(struct eptf_parent *p);

/*
 * An eptf_xlate_fn over eptf_mmu_translate(): @mmu is the struct eptf_mmu *
 * (read only). For eptf_parent_create(p_cfg, eptf_parent_xlate_mmu, mmu, &p).
 */
int eptf_parent_xlate_mmu(void *mmu, uint64_t root_hpa, uint64_t addr, struct eptf_xlate *out);

/* A transport whose hypercalls go to @p. */
struct eptf_hv_transport eptf_parent_transport(struct eptf_parent *p);

enum eptf_access_outcome {
	EPTF_ACCESS_TLB_HIT = 0,
	EPTF_ACCESS_TLB_MISS = 1,     /* walked EPT02 */
	EPTF_ACCESS_EPT_VIOLATION = 2, /* rebuilt the EPT02 entry from L1 */
	EPTF_ACCESS_UNMAPPED = 3,     /* L1 maps nothing there: reflected to L1 */
};

/* An L2 access through root @root_hpa to input page @addr. */
enum eptf_access_outcome eptf_parent_access(struct eptf_parent *p, uint64_t root_hpa, uint64_t addr,
					    bool write, bool exec);

/* INVEPT single-context on a root switch: drop the root's EPT02 and TLB entries. Counted apart. */
void eptf_parent_flush_root(struct eptf_parent *p, uint64_t root_hpa);

/*
 * L1 freed the root page @root_hpa (struct eptf_mmu reports it through
 * eptf_mmu_set_root_freed(); root hpas are never reused, so no vCPU can
 * load it again). Its EPT02 cache is freed at once, without counting
 * drops: nothing is hidden from the checker, which only looks at the roots
 * a flush point lists, and a freed root is never listed again. Its TLB
 * entries keep their slots in the shared pool (as entries tagged with a
 * dead EPTP stay in hardware) until LRU eviction reclaims them, so hit,
 * miss and eviction counts are what they were without this call, but the
 * root and its trees are freed now. An unknown hpa is ignored. This keeps
 * the parent's memory bounded by the live roots however long the trace.
 */
void eptf_parent_forget_root(struct eptf_parent *p, uint64_t root_hpa);

/* One cached translation. */
struct eptf_cached {
	uint64_t root_hpa;
	uint64_t addr;   /* first input page, aligned to its size */
	uint8_t level;   /* 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB */
	uint64_t frame;  /* host frame of addr */
	bool writable, executable;
	bool in_tlb;     /* a TLB entry (else an EPT02 entry) */
};

/*
 * Call @cb for every EPT02 and TLB entry of @root_hpa overlapping
 * [addr, addr + pages). @cb returns 0 to go on, non-zero to stop.
 * Cost: O(log n + matches), never a scan of the whole cache.
 */
void eptf_parent_for_each(const struct eptf_parent *p, uint64_t root_hpa, uint64_t addr,
			  uint64_t pages, int (*cb)(void *ctx, const struct eptf_cached *c), void *ctx);

/* Drop one cached entry exactly (the `ideal` oracle only). Counted as a drop. */
void eptf_parent_drop(struct eptf_parent *p, const struct eptf_cached *c);

/* Drop every EPT02 and TLB entry of @root_hpa overlapping [addr, addr + pages); counted as drops. */
void eptf_parent_drop_range(struct eptf_parent *p, uint64_t root_hpa, uint64_t addr, uint64_t pages);

struct eptf_parent_stats {
	uint64_t hypercalls;      /* hypercall instructions received (incl. continuations) */
	uint64_t list_hypercalls; /* of them 0x00B0 */
	uint64_t full_flushes;    /* 0x00AF applied */
	uint64_t list_entries;    /* entries applied */
	uint64_t pages_flushed;   /* 4 KiB pages covered by applied entries */
	uint64_t rejected;        /* calls the validator rejected */
	uint64_t injected;        /* faults injected */
	uint64_t root_flushes;    /* eptf_parent_flush_root calls */
	uint64_t ept02_dropped;
	uint64_t tlb_dropped;
	uint64_t ept_violations;
	uint64_t tlb_misses;
	uint64_t tlb_hits;
	uint64_t ept02_entries;   /* live now */
	uint64_t tlb_entries;     /* live now */
	uint64_t modeled_cycles;  /* cost model applied to all of the above */
	uint64_t bytes;           /* memory in use */
	/* additions (not in the cost formula; see docs/parent-model.md) */
	uint64_t unmapped;        /* accesses L1 does not map or permit: nothing cached */
	uint64_t tlb_evictions;   /* TLB entries evicted by LRU for capacity */
	uint64_t tlb_replaced;    /* TLB entries replaced by an overlapping fill */
	uint64_t ept02_replaced;  /* EPT02 entries replaced by a rebuild (a resync, not a drop) */
};
void eptf_parent_get_stats(const struct eptf_parent *p, struct eptf_parent_stats *st);

#endif
