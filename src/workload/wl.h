/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Private state of the synthetic workload generators (src/workload only).
 *
 * Every workload is one generator context: a memslot layout, a bounded set
 * of "working windows" of guest memory (so a 1 TiB guest costs no more than
 * a 4 GiB one), small fixed-size trackers of what has been mapped at which
 * level (so prepare_zap names pages that exist), shadow "processes" with
 * their guest page tables, and a queue of pending ops. A workload is a
 * schedule of bursts (a fault-in pass over one chunk, one migration round,
 * one aging scan, one fork, ...) that push ops into the queue;
 * eptf_workload_next() pops them. Nothing grows with --ops.
 */
#ifndef EPTF_WL_H
#define EPTF_WL_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include <eptflush/mmu.h>
#include <eptflush/workload.h>

#define WL_QCAP 4096           /* queued ops: the largest burst must fit (static_assert below) */
#define WL_MAX_RAM_SLOTS 4
#define WL_BAR_SLOT 8          /* a movable device slot (a PCI BAR) for hugepage/mixed */
#define WL_BAR_PAGES 4096      /* 16 MiB */
#define WL_MAX_WIN 32          /* working windows */
#define WL_WIN_CHUNKS 64       /* 2 MiB chunks per window: 128 MiB */
#define WL_CHUNK_CAP 8192      /* chunk tracker entries (power of two) */
#define WL_GIG_CAP 1024        /* 1 GiB tracker entries (power of two) */
#define WL_L3_REGIONS 8192     /* 512 GiB regions below 2^40 pages */
#define WL_MAX_GIGS 8          /* 1 GiB regions the hugepage bursts use */
#define WL_MAX_WP 32           /* gfns write-tracked per trace (each blocks huge maps for good) */
#define WL_NPROC 8             /* shadow processes */
#define WL_NT1 8               /* level-1 guest tables per process */
#define WL_LEAVES 32           /* entries used in each level-1 table */
#define WL_DIRTY_MAX 1024      /* page writes per migration round, at most */
#define WL_MIG_SET 512         /* pages a migrating guest keeps writing */
#define WL_HOT 1024            /* hot pages: most accesses go to these (locality) */
#define WL_HOT_PERCENT 80
#define WL_HVA_BASE 0x100000000000ull /* 16 TiB, 1 GiB aligned */
#define WL_BAR_HVA 0x600000000000ull
#define WL_MAX_GUEST_PAGES (1ull << 32) /* 16 TiB */

/*
 * The largest bursts: a migration round (2 x WL_MIG_SET writes, as many
 * clear_dirty_logs at most, a get per slot, a root load per vCPU) and an
 * exit (a prepare per table, every leaf cleared) or a fork (every leaf
 * copied and write-protected).
 */
static_assert(2 * WL_MIG_SET <= WL_DIRTY_MAX, "a round's writes fit the dirty list");
static_assert(2 * WL_DIRTY_MAX + WL_MAX_RAM_SLOTS + EPTF_MAX_VCPUS <= WL_QCAP, "a round fits the queue");
static_assert(2 * (WL_NT1 * WL_LEAVES + WL_NT1 + 8) + EPTF_MAX_VCPUS <= WL_QCAP, "a fork fits the queue");

/* chunk (2 MiB) and gig (1 GiB) tracker states */
enum { T_NONE = 0, T_TABLE = 1, T_HUGE = 2 };

enum wl_kind { WK_BOOT, WK_MIGRATE, WK_OVERCOMMIT, WK_SHADOW, WK_HUGEPAGE, WK_MIXED };

enum wl_burst {
	B_FILL,      /* fault in the next chunk of the working set */
	B_TOUCH,     /* L2 accesses over the working set */
	B_MIGRATE,   /* one step of the migration state machine */
	B_AGE,       /* an aging scan (clear_young / clear_flush_young) */
	B_RECLAIM,   /* unmap cold ranges, then refault some */
	B_HUGE,      /* 2 MiB / 1 GiB maps, splits, collapses */
	B_ZAP,       /* prepare_zap + commit_zap of direct pages, zap_range, wp_gfn */
	B_BAR,       /* map, move, delete and re-add the device slot */
	B_SHADOW,    /* one step of guest page-table churn */
	B_COUNT,
};

struct wl_slot {
	bool present;
	uint32_t id;
	uint64_t base, npages, hva;
	uint32_t flags;
};

/* An open-addressing table from a region index to a T_* state, fixed size. */
struct wl_track {
	uint64_t *key; /* index + 1; 0 = empty */
	uint8_t *st;
	size_t cap;
};

struct wl_proc {
	bool alive;
	uint64_t t4, t3, t2, t1[WL_NT1]; /* guest table gfns */
	uint16_t pd[WL_NT1];             /* T2 index of each T1 */
	uint16_t pdh;                    /* T2 index of the 2 MiB guest page (PS) */
	uint64_t hpte;                   /* T2[pdh] as written (0: not present) */
	bool sh4, sh3, sh2, sh1[WL_NT1]; /* KVM has a shadow page for the table (as far as we know) */
	uint64_t leaf[WL_NT1][WL_LEAVES]; /* guest PTEs as written (0: not present) */
};

struct eptf_workload {
	struct eptf_workload_params p;
	enum wl_kind kind;
	const char *name;
	uint64_t rng[4];
	uint64_t emitted;

	struct eptf_op q[WL_QCAP];
	size_t qhead, qlen;
	bool pending_prepare; /* a prepare_zap was emitted and its commit_zap was not */

	struct wl_slot slot[WL_MAX_RAM_SLOTS + 1]; /* RAM slots, then the BAR */
	unsigned nram;
	uint64_t bar_pos[2];
	unsigned bar_at;

	uint64_t win[WL_MAX_WIN]; /* first gfn of each window */
	unsigned nwin, win_chunks;
	uint64_t fill_pos, fill_end; /* fill cursor over window chunks */
	uint64_t hot[WL_HOT];        /* the hot set, drifting slowly (0 until set up) */
	bool hot_ready;
	bool setup_done;

	struct wl_track chunks, gigs;
	uint64_t l3[WL_L3_REGIONS / 64];
	uint64_t gig_cand[WL_MAX_GIGS];
	unsigned ngig;
	unsigned nwp; /* wp_gfn ops so far */

	/* per vCPU: 0 none, 1 direct, 2 indirect on proc vproc */
	uint8_t vmode[EPTF_MAX_VCPUS];
	uint8_t vproc[EPTF_MAX_VCPUS];

	/* shadow */
	struct wl_proc proc[WL_NPROC];
	uint64_t pt_base;

	/* migrate */
	int mig_phase; /* 0 off, 1 rounds */
	uint64_t mig_ws;  /* working-set chunks this round */
	unsigned mig_round;
	uint64_t dirty[WL_DIRTY_MAX];
	uint64_t mig_set[WL_MIG_SET];

	/* overcommit */
	uint64_t age_cursor;
	uint64_t cold[16]; /* gfns recently unmapped, for refaults */
	unsigned ncold;

	unsigned weight[B_COUNT];
};

/* workload.c */
uint64_t wl_rand(struct eptf_workload *w);
uint64_t wl_below(struct eptf_workload *w, uint64_t n); /* uniform in [0, n), n > 0 */
bool wl_chance(struct eptf_workload *w, unsigned percent);
struct eptf_op *wl_push(struct eptf_workload *w, uint32_t kind);
uint8_t wl_track_get(const struct wl_track *t, uint64_t idx);
void wl_track_set(struct wl_track *t, uint64_t idx, uint8_t st);
void wl_track_clear_range(struct wl_track *t, uint64_t lo, uint64_t hi);
bool wl_track_pick(struct eptf_workload *w, const struct wl_track *t, uint8_t st, uint64_t *idx);

/* direct.c */
void wl_direct_setup(struct eptf_workload *w);
const struct wl_slot *wl_slot_of(const struct eptf_workload *w, uint64_t gfn);
unsigned wl_direct_vcpu(struct eptf_workload *w);
uint64_t wl_ws_page(struct eptf_workload *w);
void wl_burst_fill(struct eptf_workload *w);
void wl_burst_touch(struct eptf_workload *w);
void wl_burst_poke(struct eptf_workload *w); /* 1-4 accesses */
void wl_burst_migrate(struct eptf_workload *w);
void wl_burst_age(struct eptf_workload *w);
void wl_burst_reclaim(struct eptf_workload *w);
void wl_burst_huge(struct eptf_workload *w);
void wl_burst_zap(struct eptf_workload *w);
void wl_burst_bar(struct eptf_workload *w);

/* shadow.c */
void wl_shadow_setup(struct eptf_workload *w);
void wl_burst_shadow(struct eptf_workload *w);

#endif
