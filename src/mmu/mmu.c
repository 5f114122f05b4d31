/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The L1 model: KVM's MMU (arch/x86/kvm/mmu/mmu.c, paging_tmpl.h,
 * page_track.c) reduced to what the flush paths need. docs/model.md maps
 * every op to the kernel functions it stands for.
 *
 * Storage, chosen so that a mapped 4 KiB page costs a few bytes:
 * - shadow pages live in a pool of fixed chunks (stable addresses, indices
 *   as handles); while a page maps something it owns one 4 KiB table of
 *   packed u64 SPTEs (and, for indirect pages, a second table of target
 *   gfns, like KVM's sp->gfns); an empty page shares a read-only zero
 *   table, so the orphans KVM keeps cost only their struct;
 * - a hash keyed by sp->gfn (KVM's mmu_page_hash) chains the live pages;
 * - rmaps are per memslot and per level (KVM's slot->arch.rmap[level]):
 *   64-entry chunks of u64 heads (plus an occupancy word) under a
 *   two-level directory (plus a bitmap of allocated chunks), both
 *   allocated on first use and freed when empty again (a sparse guest pays
 *   per touched 256 KiB, a huge slot almost nothing for its directory); a
 *   head is empty, one tagged SPTE reference, or a pointer to a small
 *   array (KVM's pte_list). Slot-wide walks follow the bitmaps, so they
 *   cost what is mapped, not the slot's size;
 * - tables, chunks and directory pages are carved from batches (past 8
 *   MiB, from 2 MiB huge-page arenas); freed ones go to zeroed pools and
 *   are reused before anything new is carved.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE */

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <eptflush/error.h>
#include <eptflush/mmu.h>

#include "mmu_int.h"

/*
 * Packed SPTE. Bits 0-6 are flags, bits 12-63 the host frame of a leaf or
 * the pool index of the child page of a link. The layout is private: no
 * other part sees SPTEs, only struct eptf_xlate and struct eptf_inval.
 */
#define SPTE_P (1ull << 0)
#define SPTE_W (1ull << 1)
#define SPTE_X (1ull << 2)
#define SPTE_A (1ull << 3)
#define SPTE_D (1ull << 4)
#define SPTE_HUGE (1ull << 5) /* leaf above level 1 (PT_PAGE_SIZE_MASK) */
#define SPTE_LINK (1ull << 6) /* non-leaf: points to a child page */
#define SPTE_SHIFT 12
#define SPTE_CHILD(s) ((uint32_t)((s) >> SPTE_SHIFT))
#define SPTE_FRAME(s) ((s) >> SPTE_SHIFT)

#define NIL 0u /* pool index 0 is never used */
#define NSPTE 512u
#define LVL_SHIFT(l) (9u * ((unsigned)(l) - 1u))
#define PPL(l) EPTF_PAGES_PER_LEVEL(l)
#define INPUT_LIMIT (1ull << 36) /* 4-level tables translate 48-bit addresses: 2^36 pages */
#define GFN_LIMIT (1ull << 40)   /* 52-bit guest-physical addresses */
#define KVM_AS_NUM 2u            /* KVM_ADDRESS_SPACE_NUM on x86 (SMM) */
#define SLOT_ID_LIMIT 0x8000u    /* KVM_MEM_SLOTS_NUM */
#define SLOT_MAX_PAGES ((1ull << 31) - 1) /* KVM_MEM_MAX_NR_PAGES */

/* An SPTE reference in an rmap or a parent list: pool index and SPTE index. */
#define REF(idx, i) (((uint64_t)(idx) << 9) | (uint64_t)(i))
#define REF_IDX(r) ((uint32_t)((r) >> 9))
#define REF_I(r) ((unsigned)((r)&511u))

/* item storage kept between flush points (56 bytes each) */
#define ITEMS_KEEP 65536u

/*
 * rmap chunk: 64 heads, then three summary words (536 bytes); the count per
 * chunk fits a u8.
 * - occupancy: bit k is set iff head k is not empty. Slot-wide walks
 *   (dirty-log enable, aging, zaps) jump from one used head to the next
 *   instead of loading all 64.
 * - maybe-writable: bit k is set if an SPTE of head k may have W; clear
 *   means none has. Set wherever W is granted, cleared by the walk that
 *   write-protects the whole head. Dirty-log enable visits only these
 *   heads: a page not made writable since the last write-protect has
 *   nothing to protect, and loading its SPTE (a cache miss) was most of
 *   that walk's cost.
 * - maybe-accessed: the same for A, set where A is set and cleared by
 *   aging, which visits only these heads.
 * Both are supersets (a set bit may be stale), so skipping a clear head
 * skips only SPTEs the callback would have left alone: same items, same
 * order. Bits of empty heads are 0 (a freed chunk is all zero).
 */
#define RCHUNK_SHIFT 6
#define RCHUNK (1u << RCHUNK_SHIFT)
#define RCHUNK_OCC RCHUNK       /* index of the occupancy word */
#define RCHUNK_W (RCHUNK + 1)   /* index of the maybe-writable word */
#define RCHUNK_A (RCHUNK + 2)   /* index of the maybe-accessed word */
#define RCHUNK_BYTES ((RCHUNK + 3) * sizeof(uint64_t))

/* rmap directory page: 512 chunks (32768 entries) */
#define RDIR_SHIFT 9
#define RDIR (1u << RDIR_SHIFT)

/*
 * The shadow-page pool is one array, reserved at its largest (SP_MAX
 * pages, ~740 MiB of address space) and touched as it grows: SP() is one
 * add instead of two dependent loads, and a struct sp never moves. It is
 * charged to stats.bytes in steps of CHUNK_SPS pages, as it is touched.
 */
#define CHUNK_SHIFT 10
#define CHUNK_SPS (1u << CHUNK_SHIFT)
#define SP_MAX (UINT32_MAX >> 9) /* REF() packs indices in 55 bits; 2^23 pages is plenty */
#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

/*
 * A page's SPTE table or gfn table: 512 u64, then 8 words of presence
 * bitmap (SPTE tables only: bit i set iff SPTE i is present), so that zaps
 * and syncs visit the present SPTEs instead of scanning all 512.
 */
#define TBL_WORDS (NSPTE + NSPTE / 64)
#define TBL_BYTES (TBL_WORDS * sizeof(uint64_t))
#define SPT_PRESENT(t) ((t) + NSPTE)
/*
 * Tables, rmap chunks and rmap directory pages come from zeroed pools,
 * filled a batch at a time (one malloc for 16 tables, 64 chunks or 4
 * directory pages): pages come and go with every zap and fault, sparse
 * gfns bring chunks and directory pages, and one allocation per object
 * (plus its free) was several percent of a replay. A freed object goes
 * back to its pool, zeroed, and is reused before anything new is
 * allocated, so live plus pooled bytes only grow when the live bytes reach
 * a new high: the pools never raise the peak. The batches are freed with
 * the model.
 */
#define TBL_BATCH 16u
#define CHUNK_BATCH 64u
#define DIR_BATCH 4u
/*
 * Once the pools together have taken THP_AFTER bytes, further batches are
 * carved from 2 MiB arenas mapped with MADV_HUGEPAGE (zero already, so not
 * zeroed again). A model of many MiB spread over 4 KiB pages misses the
 * TLB on most random accesses, and on a virtual machine each of those
 * misses is a two-dimensional page walk. The arena in use is charged to
 * stats.bytes in full (a huge page is resident as a whole): at most 2 MiB
 * of slack, which the threshold keeps under a quarter of the model.
 */
#define ARENA_BYTES (2u << 20)
#define THP_AFTER (8u << 20)

/* role.access of an indirect page: what the guest entries above it grant */
#define ACC_W 0x1u
#define ACC_NX 0x2u

/* page-track value of a gfn: bit 63 WP_GFN, bits 0-23 shadowing pages, 24-47 unsync ones */
#define TRK_WP (1ull << 63)
#define TRK_SHADOW(v) ((v)&0xffffffull)
#define TRK_UNSYNC(v) (((v) >> 24) & 0xffffffull)
#define TRK_ONE_UNSYNC (1ull << 24)

struct sp {
	uint64_t gfn;      /* sp->gfn: first gfn (direct), guest table gfn (indirect, shadows) */
	uint64_t base;     /* first input page mapped */
	uint64_t *spt;     /* 512 packed SPTEs; SPT_ZERO (shared, read only) while none is present */
	uint64_t *gfns;    /* indirect only: gfn of each leaf (KVM's sp->gfns); NULL while empty */
	uint64_t hpa;      /* root pages: synthetic stable hpa */
	uint64_t parent0;  /* first parent SPTE reference, 0 = none */
	uint64_t *xpar;    /* further parent references (indirect pages shared by roots) */
	uint32_t nxpar, capxpar;
	uint32_t hnext;      /* hash chain; free-list link when unused */
	uint32_t root_count; /* vCPUs using it as root */
	uint32_t unsync_pos; /* index in mmu->unsync while unsync */
	uint16_t nr_present;
	uint8_t level; /* role.level 1..4 */
	uint8_t as;    /* role.smm: address space of a direct page */
	uint8_t access; /* indirect: ACC_* granted by the guest entries above */
	bool direct;     /* role.direct */
	bool shadows;    /* indirect and shadows the guest table sp->gfn (write-tracks it) */
	bool last_level; /* seed V2: set by set_spte() when a leaf is installed */
	bool unsync;
	bool invalid; /* prepared for zapping: off the hash, waiting for commit/free */
	bool used;
};

struct slot {
	uint32_t id, flags;
	uint64_t base, npages, hva;
	/*
	 * Dirty bitmap and its summary (bitmap_bytes()): allocated when dirty
	 * logging is first enabled, kept, all zero, while it is off. Zeroing
	 * only the words the summary flags when logging stops is cheaper than
	 * a new 128 KiB calloc per GiB at every enable (migration toggles it
	 * often); the memory is what the slot holds while logging anyway.
	 */
	uint64_t *dirty;
	struct rdir **rdir[3]; /* per level: directory pages, allocated on first use */
	size_t nchunks[3];     /* chunks the level needs (bounds) */
	size_t ndirs[3];
};

struct rdir {
	uint64_t *chunk[RDIR]; /* RCHUNK heads + three summary words each, or NULL */
	uint64_t live[RDIR / 64]; /* bit c set iff chunk[c] is allocated (walks skip empty chunks) */
	/*
	 * Bit c set if chunk c's maybe-writable (flagged[0]) or maybe-accessed
	 * (flagged[1]) word may be non-zero (a superset; 0 for absent chunks):
	 * dirty-log enable and aging skip whole chunks without loading them.
	 */
	uint64_t flagged[2][RDIR / 64];
	uint8_t count[RDIR];   /* heads in use per chunk (the chunk is freed at 0) */
	uint32_t used;         /* chunks allocated (the page is freed at 0) */
};

struct rmap_desc {
	uint32_t n, cap;
	uint64_t ref[];
};

struct vcpu {
	uint32_t root; /* pool index; NIL when none or when its root was zapped */
	uint64_t hpa;  /* root in use by the hardware; kept after a zap until the reload */
	uint64_t key;  /* direct: address space; indirect: guest CR3 table gfn */
	bool loaded;
	bool direct;
	/*
	 * Its zapped root has been flushed (by the flush point that frees it)
	 * and freed: KVM's vCPU handles KVM_REQ_MMU_RELOAD before it enters
	 * the guest again, so later flushes need not reach the dead root.
	 */
	bool retired;
};

struct vec32 {
	uint32_t *v;
	size_t n, cap;
};

/*
 * Objects of one size: @v holds the freed ones (all zero; @cap is at
 * least every object ever handed out, so a put never allocates), @fresh
 * the rest of the last batch, never used (zeroed when handed out).
 */
struct pool {
	void **v;
	size_t n, cap, total;
	char *fresh;
	size_t nfresh;
	bool fresh_zero; /* @fresh was carved from an arena: zero already */
};

struct eptf_mmu {
	unsigned nr_vcpus;
	struct vcpu vcpu[EPTF_MAX_VCPUS];

	struct sp *sps;   /* the pool: SP_MAX pages reserved, nchunk * CHUNK_SPS charged */
	size_t nchunk;
	uint32_t nsp;     /* next never-used pool index */
	uint32_t free_sp; /* free list through sp->hnext */

	uint32_t *bucket;
	size_t nbucket;

	struct slot *slot;
	size_t nslot, capslot;
	size_t slot_hint; /* index slot_find() tries first (any value is safe) */

	struct eptf_u64map roots; /* hpa -> pool index of live root pages */
	struct eptf_u64map track; /* gfn -> TRK_* */
	struct eptf_u64map lpage; /* level << 56 | region -> write-tracked gfns in it */
	struct eptf_u64map gpt;   /* gfn -> L2 guest table (512 u64) */

	struct vec32 unsync;  /* unsync pages */
	struct vec32 invalid; /* KVM's invalid_list between PREPARE_ZAP and COMMIT_ZAP */
	struct vec32 tofree;  /* zapped pages freed by eptf_mmu_finish() */

	struct eptf_inval *items;
	size_t nitems, capitems;
	struct eptf_root_ref rootref[EPTF_MAX_VCPUS];
	struct eptf_flush_point ctx; /* context fields of the current op's flush point */
	bool ctx_gfn_set;
	bool ctx_used; /* some field of @ctx was set since it was last zeroed */
	enum eptf_site site;
	bool pending;
	/*
	 * The leaf the last ACCESS op ended on, valid until the next
	 * eptf_mmu_apply() or eptf_mmu_finish() (nothing changes in between):
	 * the parent's translation of that same address right after the
	 * access, on a TLB miss, reads it instead of walking again.
	 */
	struct {
		bool valid;
		uint64_t root_hpa, addr;
		uint32_t leaf;
		unsigned i;
	} last;

	struct pool tpool; /* free tables, all zero (counted in st.bytes) */
	struct pool cpool; /* free rmap chunks, all zero */
	struct pool dpool; /* free rmap directory pages, all zero */
	struct pool batches; /* every malloc'd batch the pools were filled from (freed with the model) */
	struct pool arenas;  /* every 2 MiB arena (unmapped with the model) */
	char *arena;         /* the rest of the current arena, @arena_left bytes */
	size_t arena_left;
	size_t arena_waste;  /* tails of earlier arenas too short for a batch */
	size_t pooled_bytes; /* batches taken by all pools */

	uint64_t next_hpa;
	eptf_root_freed_fn root_freed; /* told about every root page freed (may be NULL) */
	void *root_freed_ctx;
	int err; /* sticky allocation failure inside an op */
	struct eptf_mmu_stats st;
};

/* ---- memory --------------------------------------------------------- */

static void *zalloc(struct eptf_mmu *m, size_t sz)
{
	void *p = calloc(1, sz);
	if (p)
		m->st.bytes += sz;
	else
		m->err = EPTF_ENOMEM;
	return p;
}

static void zfree(struct eptf_mmu *m, void *p, size_t sz)
{
	if (p) {
		free(p);
		m->st.bytes -= sz;
	}
}

static void *zrealloc(struct eptf_mmu *m, void *p, size_t old, size_t sz)
{
	void *q = realloc(p, sz);
	if (!q) {
		m->err = EPTF_ENOMEM;
		return NULL;
	}
	m->st.bytes -= old;
	m->st.bytes += sz;
	return q;
}

static bool vec_push(struct eptf_mmu *m, struct vec32 *v, uint32_t x)
{
	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 16;
		uint32_t *nv = zrealloc(m, v->v, v->cap * sizeof(*nv), ncap * sizeof(*nv));
		if (!nv)
			return false;
		v->v = nv;
		v->cap = ncap;
	}
	v->v[v->n++] = x;
	return true;
}

static void vec_free(struct eptf_mmu *m, struct vec32 *v)
{
	zfree(m, v->v, v->cap * sizeof(*v->v));
	v->v = NULL;
	v->n = v->cap = 0;
}

/* ---- tables -------------------------------------------------------- */

/* Room in @pl->v for @more further objects. */
static bool pool_reserve(struct eptf_mmu *m, struct pool *pl, size_t more)
{
	if (pl->total + more <= pl->cap)
		return true;
	size_t ncap = pl->cap ? pl->cap : 64;
	while (ncap < pl->total + more)
		ncap *= 2;
	void **nv = zrealloc(m, pl->v, pl->cap * sizeof(*nv), ncap * sizeof(*nv));
	if (!nv)
		return false;
	pl->v = nv;
	pl->cap = ncap;
	return true;
}

/* A 2 MiB-aligned arena of ARENA_BYTES, zero, huge pages advised; NULL on failure. */
static char *arena_map(void)
{
	char *raw = mmap(NULL, 2 * (size_t)ARENA_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (raw == MAP_FAILED)
		return NULL;
	char *a = (char *)(((uintptr_t)raw + ARENA_BYTES - 1) & ~(uintptr_t)(ARENA_BYTES - 1));
	if (a > raw)
		munmap(raw, (size_t)(a - raw));
	munmap(a + ARENA_BYTES, (size_t)(raw + ARENA_BYTES - a));
#ifdef MADV_HUGEPAGE
	madvise(a, ARENA_BYTES, MADV_HUGEPAGE); /* advice only: 4 KiB pages work too */
#endif
	return a;
}

/* A new block of @bytes (an arena, or malloc'd) recorded in @list to be freed with the model; NULL on ENOMEM. */
static char *block_new(struct eptf_mmu *m, struct pool *list, bool arena, size_t bytes)
{
	if (!pool_reserve(m, list, 1))
		return NULL;
	char *b = arena ? arena_map() : malloc(bytes);
	if (!b) {
		m->err = EPTF_ENOMEM;
		return NULL;
	}
	list->v[list->n++] = b;
	list->total++;
	m->st.bytes += bytes;
	return b;
}

/* Give @pl a fresh batch of @batch blocks of @sz: malloc'd while the pools are small, then carved from arenas. */
static bool pool_refill(struct eptf_mmu *m, struct pool *pl, size_t sz, size_t batch)
{
	size_t bytes = sz * batch;
	bool big = m->pooled_bytes >= THP_AFTER;
	char *b;

	if (!big) {
		if (!(b = block_new(m, &m->batches, false, bytes)))
			return false;
	} else {
		if (m->arena_left < bytes) {
			char *a = block_new(m, &m->arenas, true, ARENA_BYTES);
			if (!a)
				return false;
			m->arena_waste += m->arena_left;
			m->arena = a;
			m->arena_left = ARENA_BYTES;
		}
		b = m->arena;
		m->arena += bytes;
		m->arena_left -= bytes;
	}
	m->pooled_bytes += bytes;
	pl->fresh = b;
	pl->nfresh = batch;
	pl->fresh_zero = big;
	return true;
}

/*
 * A zeroed block of @sz bytes: a freed one from @pl, else the next of its
 * batch, else a new batch of @batch. A malloc'd block is zeroed as it is
 * handed out, not with its batch: zeroing 16 tables at once to use one
 * evicted what the replay was using and measured slower than one calloc
 * each. An arena's blocks are zero already.
 */
static void *pool_get(struct eptf_mmu *m, struct pool *pl, size_t sz, size_t batch)
{
	if (pl->n)
		return pl->v[--pl->n];
	if (!pl->nfresh && !pool_refill(m, pl, sz, batch))
		return NULL;
	if (!pool_reserve(m, pl, 1))
		return NULL;
	void *p = pl->fresh;
	pl->fresh += sz;
	pl->nfresh--;
	pl->total++;
	if (!pl->fresh_zero)
		memset(p, 0, sz);
	return p;
}

/* Give back an all-zero block from @pl (there is always room). */
static void pool_put(struct pool *pl, void *p)
{
	assert(pl->n < pl->cap);
	pl->v[pl->n++] = p;
}

/*
 * The SPTE table of every page that maps nothing: all zero and never
 * written (every write is to a present SPTE or follows sp_materialize()).
 * An empty page costs its struct only, so the shadow pages KVM keeps after
 * their users are gone (orphans of zapped roots, emptied guest tables) do
 * not make memory grow with the trace.
 */
static const uint64_t zero_spt[TBL_WORDS];
#define SPT_ZERO ((uint64_t *)(uintptr_t)zero_spt)

/* A zeroed table: from the pool, else newly allocated. */
static uint64_t *tbl_get(struct eptf_mmu *m)
{
	return pool_get(m, &m->tpool, TBL_BYTES, TBL_BATCH);
}

/* Give back a table; @zero: it is known to be all zero already. */
static void tbl_put(struct eptf_mmu *m, uint64_t *t, bool zero)
{
	if (!t || t == SPT_ZERO)
		return;
	if (!zero)
		memset(t, 0, TBL_BYTES);
	pool_put(&m->tpool, t);
}

/* Give the page a table of its own before an SPTE is made present; false on ENOMEM. */
static bool sp_materialize(struct eptf_mmu *m, struct sp *sp)
{
	if (sp->spt != SPT_ZERO)
		return true;
	uint64_t *t = tbl_get(m);
	if (!t)
		return false;
	sp->spt = t;
	return true;
}

/* The page's last present SPTE went: its tables go back (every non-present SPTE is 0). */
static void sp_emptied(struct eptf_mmu *m, struct sp *sp)
{
#ifndef NDEBUG
	for (unsigned i = 0; i < TBL_WORDS; i++)
		assert(!sp->spt[i]);
#endif
	tbl_put(m, sp->spt, true);
	sp->spt = SPT_ZERO;
	tbl_put(m, sp->gfns, false);
	sp->gfns = NULL;
}

/* ---- shadow-page pool and hash -------------------------------------- */

static struct sp *SP(const struct eptf_mmu *m, uint32_t idx)
{
	return &m->sps[idx];
}

static uint32_t sp_new(struct eptf_mmu *m)
{
	uint32_t idx;

	if (m->free_sp != NIL) {
		idx = m->free_sp;
		m->free_sp = SP(m, idx)->hnext;
	} else {
		if (m->nsp == SP_MAX) {
			m->err = EPTF_ENOMEM;
			return NIL;
		}
		idx = m->nsp;
		if ((idx >> CHUNK_SHIFT) >= m->nchunk) {
			m->nchunk++;
			m->st.bytes += CHUNK_SPS * sizeof(struct sp);
		}
		m->nsp++;
	}
	struct sp *sp = SP(m, idx);
	memset(sp, 0, sizeof(*sp));
	sp->spt = SPT_ZERO; /* a table comes with the first present SPTE */
	sp->used = true;
	return idx;
}

static void sp_release(struct eptf_mmu *m, uint32_t idx)
{
	struct sp *sp = SP(m, idx);

	/* a zapped page is empty (its table is SPT_ZERO) except after an allocation failure */
	tbl_put(m, sp->spt, false);
	tbl_put(m, sp->gfns, false);
	zfree(m, sp->xpar, sp->capxpar * sizeof(uint64_t));
	memset(sp, 0, sizeof(*sp));
	sp->hnext = m->free_sp;
	m->free_sp = idx;
}

static size_t hbucket(const struct eptf_mmu *m, uint64_t gfn)
{
	return (size_t)eptf_mix64(gfn) & (m->nbucket - 1);
}

static void hash_grow(struct eptf_mmu *m)
{
	size_t nb = m->nbucket * 2;
	int err = m->err;
	uint32_t *b = zalloc(m, nb * sizeof(*b));
	if (!b) {
		m->err = err; /* a longer chain is slower, not wrong */
		return;
	}
	for (size_t i = 0; i < m->nbucket; i++) {
		uint32_t idx = m->bucket[i];
		while (idx != NIL) {
			struct sp *sp = SP(m, idx);
			uint32_t next = sp->hnext;
			size_t h = (size_t)eptf_mix64(sp->gfn) & (nb - 1);
			sp->hnext = b[h];
			b[h] = idx;
			idx = next;
		}
	}
	zfree(m, m->bucket, m->nbucket * sizeof(*b));
	m->bucket = b;
	m->nbucket = nb;
}

static void hash_insert(struct eptf_mmu *m, uint32_t idx)
{
	if (m->st.pages + 1 > m->nbucket)
		hash_grow(m);
	struct sp *sp = SP(m, idx);
	size_t h = hbucket(m, sp->gfn);
	sp->hnext = m->bucket[h];
	m->bucket[h] = idx;
	m->st.pages++;
}

static void hash_remove(struct eptf_mmu *m, uint32_t idx)
{
	struct sp *sp = SP(m, idx);
	uint32_t *link = &m->bucket[hbucket(m, sp->gfn)];

	while (*link != idx) {
		assert(*link != NIL);
		if (*link == NIL)
			return;
		link = &SP(m, *link)->hnext;
	}
	*link = sp->hnext;
	sp->hnext = NIL;
	m->st.pages--;
}

/* KVM's role comparison in kvm_mmu_get_page(): gfn, base and the role bits. */
struct sp_key {
	uint64_t gfn, base;
	uint8_t level, as, access;
	bool direct, shadows;
};

static bool sp_matches(const struct sp *sp, const struct sp_key *k)
{
	return sp->gfn == k->gfn && sp->base == k->base && sp->level == k->level && sp->direct == k->direct &&
	       sp->as == k->as && sp->access == k->access && sp->shadows == k->shadows && !sp->invalid;
}

static uint32_t sp_lookup(const struct eptf_mmu *m, const struct sp_key *k)
{
	for (uint32_t idx = m->bucket[hbucket(m, k->gfn)]; idx != NIL; idx = SP(m, idx)->hnext)
		if (sp_matches(SP(m, idx), k))
			return idx;
	return NIL;
}

/* ---- memslots ------------------------------------------------------- */

static bool slot_has(const struct slot *s, unsigned as, uint64_t gfn)
{
	return EPTF_SLOT_AS(s->id) == as && gfn >= s->base && gfn - s->base < s->npages;
}

/* The memslot of @gfn in address space @as, or NULL (read-only: for eptf_mmu_check()). */
static const struct slot *slot_lookup(const struct eptf_mmu *m, unsigned as, uint64_t gfn)
{
	for (size_t i = 0; i < m->nslot; i++)
		if (slot_has(&m->slot[i], as, gfn))
			return &m->slot[i];
	return NULL;
}

/*
 * slot_lookup() that tries the slot it found last first: faults and
 * accesses come in runs on the same slot, and the loop over the slots was
 * a visible share of an access.
 */
static struct slot *slot_find(struct eptf_mmu *m, unsigned as, uint64_t gfn)
{
	if (m->slot_hint < m->nslot && slot_has(&m->slot[m->slot_hint], as, gfn))
		return &m->slot[m->slot_hint];
	for (size_t i = 0; i < m->nslot; i++) {
		if (slot_has(&m->slot[i], as, gfn)) {
			m->slot_hint = i;
			return &m->slot[i];
		}
	}
	return NULL;
}

static struct slot *slot_by_id(const struct eptf_mmu *m, uint32_t id)
{
	for (size_t i = 0; i < m->nslot; i++)
		if (m->slot[i].id == id)
			return &m->slot[i];
	return NULL;
}

/* The host frame backing @gfn: the slot's userspace mapping, page by page. */
static uint64_t slot_frame(const struct slot *s, uint64_t gfn)
{
	return (s->hva >> 12) + (gfn - s->base);
}

static size_t rmap_nchunks(uint64_t base, uint64_t npages, unsigned level)
{
	unsigned sh = LVL_SHIFT(level);
	uint64_t entries = ((base + npages - 1) >> sh) - (base >> sh) + 1;
	return (size_t)((entries + RCHUNK - 1) >> RCHUNK_SHIFT);
}

static int slot_alloc_rmaps(struct eptf_mmu *m, struct slot *s)
{
	for (unsigned l = 1; l <= 3; l++) {
		s->nchunks[l - 1] = rmap_nchunks(s->base, s->npages, l);
		s->ndirs[l - 1] = (s->nchunks[l - 1] + RDIR - 1) >> RDIR_SHIFT;
		s->rdir[l - 1] = zalloc(m, s->ndirs[l - 1] * sizeof(struct rdir *));
		if (!s->rdir[l - 1])
			return EPTF_ENOMEM;
	}
	return 0;
}

/* Called only when every rmap of the slot is empty (after its SPTEs were zapped). */
static void slot_free_rmaps(struct eptf_mmu *m, struct slot *s)
{
	for (unsigned l = 0; l < 3; l++) {
		for (size_t d = 0; s->rdir[l] && d < s->ndirs[l]; d++) {
			struct rdir *r = s->rdir[l][d];
			if (!r)
				continue;
			/* an empty rmap has given its chunks and directory pages back already */
			for (unsigned c = 0; c < RDIR; c++)
				if (r->chunk[c])
					pool_put(&m->cpool, r->chunk[c]);
			pool_put(&m->dpool, r);
		}
		zfree(m, s->rdir[l], s->ndirs[l] * sizeof(struct rdir *));
		s->rdir[l] = NULL;
		s->nchunks[l] = s->ndirs[l] = 0;
	}
}

static size_t dirty_words(uint64_t npages)
{
	return (size_t)((npages + 63) / 64);
}

/*
 * The dirty bitmap (one bit per page), then its summary: bit w set iff
 * word w of the bitmap is not zero, so that get_dirty_log visits only the
 * words with dirty pages instead of every word of a large slot.
 */
static size_t bitmap_bytes(uint64_t npages)
{
	size_t words = dirty_words(npages);
	return (words + (words + 63) / 64) * sizeof(uint64_t);
}

static uint64_t *dirty_sum(const struct slot *s)
{
	return s->dirty + dirty_words(s->npages);
}

/* ---- rmaps (KVM's pte_list) ----------------------------------------- */

/* rmap entry of @gfn at @level within the slot */
static uint64_t rmap_entry(const struct slot *s, unsigned level, uint64_t gfn)
{
	unsigned sh = LVL_SHIFT(level);
	return (gfn >> sh) - (s->base >> sh);
}

static struct rdir *rdir_of(const struct slot *s, unsigned level, size_t c)
{
	return c < s->nchunks[level - 1] ? s->rdir[level - 1][c >> RDIR_SHIFT] : NULL;
}

/* Chunk @c of @level, or NULL when it holds nothing. */
static uint64_t *chunk_of(const struct slot *s, unsigned level, size_t c)
{
	const struct rdir *r = rdir_of(s, level, c);
	return r ? r->chunk[c & (RDIR - 1)] : NULL;
}

static uint64_t *rmap_peek(const struct slot *s, unsigned level, uint64_t gfn)
{
	uint64_t e = rmap_entry(s, level, gfn);
	uint64_t *chunk = chunk_of(s, level, (size_t)(e >> RCHUNK_SHIFT));

	return chunk ? &chunk[e & (RCHUNK - 1)] : NULL;
}

static struct rmap_desc *rmap_desc(uint64_t h)
{
	return (struct rmap_desc *)(uintptr_t)h;
}

static size_t rmap_count(uint64_t h)
{
	if (!h)
		return 0;
	if (h & 1)
		return 1;
	return rmap_desc(h)->n;
}

static uint64_t rmap_at(uint64_t h, size_t k)
{
	return (h & 1) ? h >> 1 : rmap_desc(h)->ref[k];
}

static void rmap_add(struct eptf_mmu *m, uint64_t *h, uint64_t ref)
{
	if (!*h) {
		*h = ref << 1 | 1;
		return;
	}
	if (*h & 1) {
		struct rmap_desc *d = zalloc(m, sizeof(*d) + 4 * sizeof(uint64_t));
		if (!d)
			return;
		d->cap = 4;
		d->n = 2;
		d->ref[0] = *h >> 1;
		d->ref[1] = ref;
		*h = (uint64_t)(uintptr_t)d;
		return;
	}
	struct rmap_desc *d = rmap_desc(*h);
	if (d->n == d->cap) {
		size_t old = sizeof(*d) + d->cap * sizeof(uint64_t);
		d = zrealloc(m, d, old, sizeof(*d) + 2 * d->cap * sizeof(uint64_t));
		if (!d)
			return;
		d->cap *= 2;
		*h = (uint64_t)(uintptr_t)d;
	}
	d->ref[d->n++] = ref;
}

static void rmap_del(struct eptf_mmu *m, uint64_t *h, uint64_t ref)
{
	if (*h & 1) {
		assert(*h >> 1 == ref);
		*h = 0;
		return;
	}
	struct rmap_desc *d = rmap_desc(*h);
	for (uint32_t k = 0; k < d->n; k++) {
		if (d->ref[k] != ref)
			continue;
		d->ref[k] = d->ref[--d->n];
		if (d->n == 1) {
			*h = d->ref[0] << 1 | 1;
			zfree(m, d, sizeof(*d) + d->cap * sizeof(uint64_t));
		}
		return;
	}
	assert(!"rmap reference missing");
}

/*
 * Set the summary bits of entry @e (in chunk @ci of directory page @r) for
 * what @spte grants: W and A (RCHUNK_W, RCHUNK_A, rdir->flagged).
 */
static void rmap_sum_set(struct rdir *r, unsigned ci, uint64_t e, uint64_t spte)
{
	uint64_t bit = 1ull << (e & (RCHUNK - 1)), cbit = 1ull << (ci % 64);
	uint64_t *chunk = r->chunk[ci];

	if (spte & SPTE_W) {
		chunk[RCHUNK_W] |= bit;
		r->flagged[0][ci / 64] |= cbit;
	}
	if (spte & SPTE_A) {
		chunk[RCHUNK_A] |= bit;
		r->flagged[1][ci / 64] |= cbit;
	}
}

/* An SPTE of the rmap head of @gfn at @level gained W or A (@spte holds the new bits). */
static void rmap_note(const struct slot *s, unsigned level, uint64_t gfn, uint64_t spte)
{
	uint64_t e = rmap_entry(s, level, gfn);
	size_t c = (size_t)(e >> RCHUNK_SHIFT);
	struct rdir *r = rdir_of(s, level, c);

	assert(r && r->chunk[c & (RDIR - 1)]);
	if (r && r->chunk[c & (RDIR - 1)])
		rmap_sum_set(r, (unsigned)(c & (RDIR - 1)), e, spte);
}

/*
 * Add @ref to the rmap of @gfn at @level, allocating its chunk on first
 * use; @spte: the value the SPTE gets (for the summary bits).
 */
static void rmap_insert(struct eptf_mmu *m, struct slot *s, unsigned level, uint64_t gfn, uint64_t ref,
			uint64_t spte)
{
	uint64_t e = rmap_entry(s, level, gfn);
	size_t c = (size_t)(e >> RCHUNK_SHIFT);
	struct rdir **rp = &s->rdir[level - 1][c >> RDIR_SHIFT];
	unsigned ci = (unsigned)(c & (RDIR - 1));

	assert(c < s->nchunks[level - 1]);
	if (!*rp) {
		*rp = pool_get(m, &m->dpool, sizeof(struct rdir), DIR_BATCH);
		if (!*rp)
			return;
	}
	struct rdir *r = *rp;
	if (!r->chunk[ci]) {
		r->chunk[ci] = pool_get(m, &m->cpool, RCHUNK_BYTES, CHUNK_BATCH);
		if (!r->chunk[ci])
			return;
		r->used++;
		r->live[ci / 64] |= 1ull << (ci % 64);
	}
	uint64_t *h = &r->chunk[ci][e & (RCHUNK - 1)];
	bool was_empty = !*h;
	rmap_add(m, h, ref);
	if (was_empty && *h) {
		r->count[ci]++;
		r->chunk[ci][RCHUNK_OCC] |= 1ull << (e & (RCHUNK - 1));
	}
	if (*h)
		rmap_sum_set(r, ci, e, spte);
}

/* Remove @ref from the rmap of @gfn at @level; an emptied chunk is freed. */
static void rmap_remove(struct eptf_mmu *m, struct slot *s, unsigned level, uint64_t gfn, uint64_t ref)
{
	uint64_t e = rmap_entry(s, level, gfn);
	size_t c = (size_t)(e >> RCHUNK_SHIFT);
	struct rdir *r = rdir_of(s, level, c);
	unsigned ci = (unsigned)(c & (RDIR - 1));
	uint64_t *chunk = r ? r->chunk[ci] : NULL;

	assert(chunk);
	if (!chunk)
		return;
	uint64_t *h = &chunk[e & (RCHUNK - 1)];
	rmap_del(m, h, ref);
	if (*h)
		return;
	chunk[RCHUNK_OCC] &= ~(1ull << (e & (RCHUNK - 1)));
	chunk[RCHUNK_W] &= ~(1ull << (e & (RCHUNK - 1)));
	chunk[RCHUNK_A] &= ~(1ull << (e & (RCHUNK - 1)));
	if (--r->count[ci] == 0) {
		/* every head and the occupancy word are 0 again */
		pool_put(&m->cpool, chunk);
		r->chunk[ci] = NULL;
		r->live[ci / 64] &= ~(1ull << (ci % 64));
		r->flagged[0][ci / 64] &= ~(1ull << (ci % 64));
		r->flagged[1][ci / 64] &= ~(1ull << (ci % 64));
		if (--r->used == 0) {
			/* chunk[], live[] and count[] are all 0 again */
			s->rdir[level - 1][c >> RDIR_SHIFT] = NULL;
			pool_put(&m->dpool, r);
		}
	}
}

/* ---- page tracking and large-page permission (page_track.c, lpage_info) -- */

static uint64_t trk_get(const struct eptf_mmu *m, uint64_t gfn)
{
	uint64_t v = 0;
	eptf_u64map_get(&m->track, gfn, &v);
	return v;
}

static bool trk_on(uint64_t v)
{
	return (v & TRK_WP) || TRK_SHADOW(v) > TRK_UNSYNC(v);
}

static bool gfn_tracked(const struct eptf_mmu *m, uint64_t gfn)
{
	return trk_on(trk_get(m, gfn));
}

static uint64_t lpage_key(uint64_t gfn, unsigned level)
{
	return ((uint64_t)level << 56) | (gfn >> LVL_SHIFT(level));
}

/* KVM's kvm_mmu_gfn_disallow_lpage(): no huge mapping may cover a write-tracked gfn. */
static void lpage_adjust(struct eptf_mmu *m, uint64_t gfn, bool inc)
{
	for (unsigned l = 2; l <= 3; l++) {
		uint64_t key = lpage_key(gfn, l), c = 0;
		eptf_u64map_get(&m->lpage, key, &c);
		c = inc ? c + 1 : c - 1;
		if (c) {
			int err = eptf_u64map_put(&m->lpage, key, c, &m->st.bytes);
			if (err)
				m->err = err;
		} else
			eptf_u64map_del(&m->lpage, key);
	}
}

static bool lpage_ok(const struct eptf_mmu *m, uint64_t gfn, unsigned level)
{
	for (unsigned l = 2; l <= level; l++)
		if (eptf_u64map_get(&m->lpage, lpage_key(gfn, l), NULL))
			return false;
	return true;
}

/* Store the new track value; true when the gfn just became write-tracked. */
static bool trk_set(struct eptf_mmu *m, uint64_t gfn, uint64_t v)
{
	bool was = trk_on(trk_get(m, gfn)), now = trk_on(v);

	if (v) {
		int err = eptf_u64map_put(&m->track, gfn, v, &m->st.bytes);
		if (err)
			m->err = err;
	} else {
		eptf_u64map_del(&m->track, gfn);
	}
	if (was != now)
		lpage_adjust(m, gfn, now);
	return !was && now;
}

/* ---- items (what a flush point reports) ----------------------------- */

static struct eptf_inval *item_new(struct eptf_mmu *m, enum eptf_site site)
{
	if (m->nitems == m->capitems) {
		size_t ncap = m->capitems ? m->capitems * 2 : 64;
		struct eptf_inval *n = zrealloc(m, m->items, m->capitems * sizeof(*n), ncap * sizeof(*n));
		if (!n)
			return NULL;
		m->items = n;
		m->capitems = ncap;
	}
	/* one flush point per op: it carries the site of the first change */
	if (m->site == EPTF_SITE_NONE)
		m->site = site;
	struct eptf_inval *it = &m->items[m->nitems++];
	memset(it, 0, sizeof(*it));
	it->site = (uint8_t)site;
	return it;
}

static uint64_t leaf_gfn(const struct sp *sp, unsigned i)
{
	return sp->direct ? sp->gfn + (uint64_t)i * PPL(sp->level) : sp->gfns[i];
}

/* Report SPTE @i of page @idx whose value before the change was @old. */
static void item_spte(struct eptf_mmu *m, enum eptf_site site, uint32_t idx, unsigned i, uint64_t old,
		      enum eptf_inv_change change)
{
	struct eptf_inval *it = item_new(m, site);
	if (!it)
		return;
	const struct sp *sp = SP(m, idx);
	it->kind = EPTF_INV_SPTE;
	it->change = (uint8_t)change;
	it->sp_level = sp->level;
	it->direct = sp->direct;
	it->last_level = sp->last_level;
	it->leaf = !(old & SPTE_LINK);
	it->huge = it->leaf && sp->level > 1;
	it->index = (uint16_t)i;
	it->sp_gfn = sp->gfn;
	it->sp_base = sp->base;
	it->addr = sp->base + (uint64_t)i * PPL(sp->level);
	it->pages = PPL(sp->level);
	it->gfn = it->leaf ? leaf_gfn(sp, i) : (sp->direct ? it->addr : 0);
}

/* Report a zapped page (one entry of kvm_mmu_commit_zap_page()'s invalid list). */
static void item_sp(struct eptf_mmu *m, uint32_t idx)
{
	struct eptf_inval *it = item_new(m, EPTF_SITE_COMMIT_ZAP);
	if (!it)
		return;
	const struct sp *sp = SP(m, idx);
	it->kind = EPTF_INV_SP;
	it->change = EPTF_CHG_DROP;
	it->sp_level = sp->level;
	it->direct = sp->direct;
	it->last_level = sp->last_level;
	it->sp_gfn = sp->gfn;
	it->sp_base = sp->base;
	it->addr = sp->base;
	it->pages = PPL(sp->level + 1u); /* 512^level: the V3 fix of seed defect 1 */
	it->gfn = sp->gfn;
}

/* ---- SPTE primitives ------------------------------------------------ */

static void par_add(struct eptf_mmu *m, uint32_t cidx, uint64_t ref)
{
	struct sp *c = SP(m, cidx);

	if (!c->parent0) {
		c->parent0 = ref;
		return;
	}
	if (c->nxpar == c->capxpar) {
		uint32_t ncap = c->capxpar ? c->capxpar * 2 : 2;
		uint64_t *n = zrealloc(m, c->xpar, c->capxpar * sizeof(*n), ncap * sizeof(*n));
		if (!n)
			return;
		c->xpar = n;
		c->capxpar = ncap;
	}
	c->xpar[c->nxpar++] = ref;
}

static void par_del(struct eptf_mmu *m, uint32_t cidx, uint64_t ref)
{
	struct sp *c = SP(m, cidx);
	(void)m;

	if (c->parent0 == ref) {
		c->parent0 = c->nxpar ? c->xpar[--c->nxpar] : 0;
		return;
	}
	for (uint32_t k = 0; k < c->nxpar; k++) {
		if (c->xpar[k] == ref) {
			c->xpar[k] = c->xpar[--c->nxpar];
			return;
		}
	}
	assert(!"parent link missing");
}

/* KVM's drop_spte()/mmu_page_zap_pte(): clear one SPTE, keeping rmaps and parent lists right. */
static void spte_clear(struct eptf_mmu *m, uint32_t idx, unsigned i)
{
	struct sp *sp = SP(m, idx);
	uint64_t s = sp->spt[i];

	if (!(s & SPTE_P))
		return;
	if (s & SPTE_LINK) {
		par_del(m, SPTE_CHILD(s), REF(idx, i));
	} else {
		uint64_t gfn = leaf_gfn(sp, i);
		struct slot *sl = slot_find(m, sp->as, gfn);
		assert(sl);
		if (sl)
			rmap_remove(m, sl, sp->level, gfn, REF(idx, i));
		m->st.leaf_sptes--;
		m->st.mapped_4k -= PPL(sp->level);
	}
	sp->spt[i] = 0;
	SPT_PRESENT(sp->spt)[i / 64] &= ~(1ull << (i % 64));
	if (--sp->nr_present == 0)
		sp_emptied(m, sp);
}

/* KVM's set_spte() for a new leaf: frame from the memslot, rmap added, last_level set. */
static void spte_set_leaf(struct eptf_mmu *m, uint32_t idx, unsigned i, uint64_t gfn, struct slot *sl,
			  uint64_t bits)
{
	struct sp *sp = SP(m, idx);

	if (sp->spt[i] & SPTE_P)
		spte_clear(m, idx, i);
	if (!sp_materialize(m, sp))
		return;
	if (!sp->direct && !sp->gfns) {
		sp->gfns = tbl_get(m);
		if (!sp->gfns)
			return;
	}
	rmap_insert(m, sl, sp->level, gfn, REF(idx, i), bits);
	if (m->err)
		return;
	if (!sp->direct)
		sp->gfns[i] = gfn;
	sp->spt[i] = (slot_frame(sl, gfn) << SPTE_SHIFT) | bits | SPTE_P | (sp->level > 1 ? SPTE_HUGE : 0);
	SPT_PRESENT(sp->spt)[i / 64] |= 1ull << (i % 64);
	sp->nr_present++;
	sp->last_level = true;
	m->st.leaf_sptes++;
	m->st.mapped_4k += PPL(sp->level);
}

/* KVM's link_shadow_page(): does not touch last_level. */
static void spte_link(struct eptf_mmu *m, uint32_t pidx, unsigned i, uint32_t cidx)
{
	struct sp *p = SP(m, pidx);

	if (!sp_materialize(m, p))
		return;
	p->spt[i] = ((uint64_t)cidx << SPTE_SHIFT) | SPTE_P | SPTE_LINK;
	SPT_PRESENT(p->spt)[i / 64] |= 1ull << (i % 64);
	p->nr_present++;
	par_add(m, cidx, REF(pidx, i));
}

/* The callback of the rmap walks, on one SPTE reference. */
typedef void (*rmap_fn)(struct eptf_mmu *m, uint64_t ref, void *arg);

/* Drop W (and D) from the SPTE @ref: the write-protect of one reference; @arg is the site. */
static void wp_cb(struct eptf_mmu *m, uint64_t ref, void *arg)
{
	enum eptf_site site = *(const enum eptf_site *)arg;
	struct sp *sp = SP(m, REF_IDX(ref));
	uint64_t s = sp->spt[REF_I(ref)];

	if (!(s & SPTE_W))
		return;
	item_spte(m, site, REF_IDX(ref), REF_I(ref), s, EPTF_CHG_WRPROT);
	sp->spt[REF_I(ref)] = s & ~(SPTE_W | SPTE_D);
}

/* References gathered before their callback runs on them. */
#define VISIT_BATCH 32u

/* Call @fn on every reference of @refs[0..n), after prefetching what it loads. */
static void visit_batch(struct eptf_mmu *m, const uint64_t *refs, size_t n, rmap_fn fn, void *arg)
{
	/*
	 * A slot-wide walk visits SPTEs scattered over the shadow pages: each
	 * costs a load of its struct sp and one of the SPTE, both usually
	 * cache misses, and the second depends on the first. Issued for the
	 * whole batch first, the misses overlap instead of queueing.
	 */
	for (size_t k = 0; k < n; k++)
		__builtin_prefetch(&SP(m, REF_IDX(refs[k]))->spt);
	for (size_t k = 0; k < n; k++)
		__builtin_prefetch(&SP(m, REF_IDX(refs[k]))->spt[REF_I(refs[k])], 1);
	for (size_t k = 0; k < n; k++)
		fn(m, refs[k], arg);
}

/*
 * References gathered ahead of their callback, which then runs on them in
 * the order they were added (visit_batch()): for walks whose callback
 * changes SPTEs but no rmap.
 */
struct ref_batch {
	rmap_fn fn;
	void *arg;
	size_t n;
	uint64_t refs[VISIT_BATCH];
};

/* An empty batch for @fn (refs[] is not zeroed: a designated initializer would clear 256 bytes). */
static void batch_init(struct ref_batch *b, rmap_fn fn, void *arg)
{
	b->fn = fn;
	b->arg = arg;
	b->n = 0;
}

static void batch_flush(struct eptf_mmu *m, struct ref_batch *b)
{
	visit_batch(m, b->refs, b->n, b->fn, b->arg);
	b->n = 0;
}

/* Add every reference of the rmap head @h. */
static inline void batch_head(struct eptf_mmu *m, struct ref_batch *b, uint64_t h)
{
	for (size_t k = 0, cnt = rmap_count(h); k < cnt; k++) {
		if (b->n == VISIT_BATCH)
			batch_flush(m, b);
		b->refs[b->n++] = rmap_at(h, k);
	}
}

/*
 * Add the references of every head mapping @gfn through @sl (levels 1 to
 * 3) that may hold a writable SPTE, and clear those heads' maybe-writable
 * bits: the batch's callback is wp_cb().
 */
static inline void batch_wp_gfn(struct eptf_mmu *m, struct ref_batch *b, struct slot *sl, uint64_t gfn)
{
	for (unsigned l = 1; l <= 3; l++) {
		uint64_t e = rmap_entry(sl, l, gfn);
		uint64_t *chunk = chunk_of(sl, l, (size_t)(e >> RCHUNK_SHIFT));
		uint64_t bit = 1ull << (e & (RCHUNK - 1));
		if (!chunk || !(chunk[RCHUNK_W] & bit))
			continue; /* no SPTE of this head has W */
		chunk[RCHUNK_W] &= ~bit;
		batch_head(m, b, chunk[e & (RCHUNK - 1)]);
	}
}

/*
 * Drop W from every SPTE that maps @gfn through @sl, huge ones included
 * (__rmap_write_protect() over every level, as kvm_mmu_slot_gfn_write_protect()
 * does).
 */
static void wp_gfn_slot(struct eptf_mmu *m, struct slot *sl, uint64_t gfn, enum eptf_site site)
{
	struct ref_batch b;

	batch_init(&b, wp_cb, &site);
	batch_wp_gfn(m, &b, sl, gfn);
	batch_flush(m, &b);
}

static void wp_gfn_all(struct eptf_mmu *m, uint64_t gfn, enum eptf_site site)
{
	for (size_t k = 0; k < m->nslot; k++) {
		struct slot *s = &m->slot[k];
		if (gfn >= s->base && gfn - s->base < s->npages)
			wp_gfn_slot(m, s, gfn, site);
	}
}

/* The memslot context of the flush point (WP_SLOT, DIRTY_LOG, SLOT_REMOVE). */
static void ctx_slot(struct eptf_mmu *m, const struct slot *s)
{
	m->ctx.slot = s->id;
	m->ctx.slot_base_gfn = s->base;
	m->ctx.slot_npages = s->npages;
	m->ctx_used = true;
}

static void ctx_gfn(struct eptf_mmu *m, uint64_t gfn)
{
	if (!m->ctx_gfn_set) {
		m->ctx.gfn = gfn;
		m->ctx_gfn_set = true;
		m->ctx_used = true;
	}
}

/* account_shadowed()/unaccount_shadowed(): a shadowed guest table is write-tracked. */
static void account_shadow(struct eptf_mmu *m, uint64_t gfn, bool inc)
{
	uint64_t v = trk_get(m, gfn);

	v = inc ? v + 1 : v - 1;
	if (trk_set(m, gfn, v)) {
		/* rmap_write_protect() from kvm_mmu_get_page(): site WP_GFN */
		ctx_gfn(m, gfn);
		wp_gfn_all(m, gfn, EPTF_SITE_WP_GFN);
	}
}

static void unsync_drop(struct eptf_mmu *m, uint32_t idx)
{
	struct sp *sp = SP(m, idx);
	uint32_t last = m->unsync.v[--m->unsync.n];

	if (last != idx) {
		m->unsync.v[sp->unsync_pos] = last;
		SP(m, last)->unsync_pos = sp->unsync_pos;
	}
	sp->unsync = false;
	trk_set(m, sp->gfn, trk_get(m, sp->gfn) - TRK_ONE_UNSYNC);
}

/* kvm_mmu_get_page() when no page matches: a new page in the hash. */
static uint32_t sp_create(struct eptf_mmu *m, const struct sp_key *k)
{
	uint32_t idx = sp_new(m);
	if (idx == NIL)
		return NIL;
	struct sp *sp = SP(m, idx);

	sp->gfn = k->gfn;
	sp->base = k->base;
	sp->level = k->level;
	sp->as = k->as;
	sp->access = k->access;
	sp->direct = k->direct;
	sp->shadows = k->shadows;
	hash_insert(m, idx);
	if (k->level == 4) {
		sp->hpa = m->next_hpa++ << 12;
		int err = eptf_u64map_put(&m->roots, sp->hpa, idx, &m->st.bytes);
		if (err)
			m->err = err;
	}
	if (k->shadows)
		account_shadow(m, k->gfn, true);
	return idx;
}

/*
 * kvm_mmu_prepare_zap_page(): drop the page's SPTEs (children are unlinked,
 * not zapped: they stay in the hash as orphans), unlink it from its parents,
 * take it off the hash and append it to @list. The SPTE drops are not
 * reported one by one: the page's item covers them.
 */
static void zap_page(struct eptf_mmu *m, uint32_t idx, struct vec32 *list)
{
	struct sp *sp = SP(m, idx);

	for (unsigned w = 0; w < NSPTE / 64 && sp->nr_present; w++)
		for (uint64_t b = SPT_PRESENT(sp->spt)[w]; b; b &= b - 1)
			spte_clear(m, idx, w * 64 + (unsigned)__builtin_ctzll(b));
	/* unlink it from its parents: each parent reference is a present link to @idx */
	while (sp->parent0) {
		uint64_t ref = sp->parent0;

		assert(SP(m, REF_IDX(ref))->spt[REF_I(ref)] == (((uint64_t)idx << SPTE_SHIFT) | SPTE_P | SPTE_LINK));
		spte_clear(m, REF_IDX(ref), REF_I(ref));
	}
	if (sp->level == 4 && sp->hpa) {
		eptf_u64map_del(&m->roots, sp->hpa);
		/* kvm_reload_remote_mmus(): vCPUs on it reload on their next fault */
		for (unsigned v = 0; v < m->nr_vcpus; v++)
			if (m->vcpu[v].root == idx)
				m->vcpu[v].root = NIL;
		sp->root_count = 0;
	}
	if (sp->unsync)
		unsync_drop(m, idx);
	if (sp->shadows) {
		sp->shadows = false;
		account_shadow(m, sp->gfn, false);
	}
	hash_remove(m, idx);
	sp->invalid = true;
	m->st.zapped_pages++;
	vec_push(m, list, idx);
}

/* Zap @idx and every page below it; each is one COMMIT_ZAP item, freed in finish. */
static void zap_subtree(struct eptf_mmu *m, uint32_t idx)
{
	uint32_t kids[NSPTE];
	unsigned n = 0;
	struct sp *sp = SP(m, idx);

	for (unsigned w = 0; w < NSPTE / 64; w++) {
		for (uint64_t b = SPT_PRESENT(sp->spt)[w]; b; b &= b - 1) {
			uint64_t s = sp->spt[w * 64 + (unsigned)__builtin_ctzll(b)];
			if (s & SPTE_LINK)
				kids[n++] = SPTE_CHILD(s);
		}
	}
	item_sp(m, idx);
	zap_page(m, idx, &m->tofree);
	for (unsigned k = 0; k < n; k++)
		if (!SP(m, kids[k])->invalid)
			zap_subtree(m, kids[k]);
}

/* ---- guest (L2) page tables ----------------------------------------- */

static const uint64_t *gpt_table(const struct eptf_mmu *m, uint64_t gfn)
{
	uint64_t p;
	if (!eptf_u64map_get(&m->gpt, gfn, &p))
		return NULL;
	return (const uint64_t *)(uintptr_t)p;
}

/* What a fault needs to know before it changes anything (FNAME(walk_addr) + level choice). */
struct plan {
	bool direct;
	uint8_t as;
	unsigned level;  /* level of the leaf to install */
	unsigned glevel; /* indirect: level of the guest's leaf; direct: 4 */
	uint64_t addr;   /* input page */
	uint64_t gfn;    /* gfn of the 4 KiB page asked for */
	uint64_t tgfn;   /* first gfn of the leaf to install */
	uint64_t gframe; /* indirect: first gfn of the guest leaf mapping */
	uint64_t table[5];  /* indirect: guest table gfn at each level */
	uint8_t access[5];  /* indirect: ACC_* granted above the page at each level */
	bool chain_w, chain_nx;
	struct slot *slot;
};

static bool guest_walk(const struct eptf_mmu *m, uint64_t cr3, uint64_t va, struct plan *p)
{
	uint64_t t = cr3;
	bool w = true, nx = false;

	for (int lv = 4; lv >= 1; lv--) {
		p->table[lv] = t;
		p->access[lv] = (uint8_t)((w ? ACC_W : 0) | (nx ? ACC_NX : 0));
		const uint64_t *tbl = gpt_table(m, t);
		uint64_t e = tbl ? tbl[(va >> LVL_SHIFT(lv)) & 511] : 0;
		if (!(e & EPTF_GPTE_PRESENT))
			return false;
		w = w && (e & EPTF_GPTE_WRITABLE);
		nx = nx || (e & EPTF_GPTE_NX);
		uint64_t f = (e & EPTF_GPTE_FRAME_MASK) >> 12;
		/* PS is honoured at levels 2 and 3 only (it is reserved in a PML4E) */
		if (lv == 1 || (lv <= 3 && (e & EPTF_GPTE_HUGE))) {
			p->glevel = (unsigned)lv;
			p->gframe = f & ~(PPL(lv) - 1);
			p->chain_w = w;
			p->chain_nx = nx;
			for (int k = lv - 1; k >= 1; k--)
				p->access[k] = (uint8_t)((w ? ACC_W : 0) | (nx ? ACC_NX : 0));
			return true;
		}
		t = f;
	}
	return false;
}

/*
 * Decide the fault without changing anything. Returns 0, 1 when L2's own
 * tables do not map @addr (a guest fault), or EPTF_EINVAL when the gfn is
 * outside every memslot (an MMIO/emulation exit in KVM; refused here).
 * The level is KVM's kvm_mmu_hugepage_adjust(): at most what was asked and
 * what the guest maps, reduced while the huge range leaves the memslot, is
 * dirty-logged, or holds a write-tracked gfn (lpage_info).
 */
static int plan_fault(struct eptf_mmu *m, const struct vcpu *v, uint64_t addr, unsigned req_level,
		      struct plan *p)
{
	memset(p, 0, sizeof(*p));
	if (addr >= INPUT_LIMIT)
		return EPTF_EINVAL;
	p->addr = addr;
	p->direct = v->direct;
	if (v->direct) {
		p->as = (uint8_t)v->key;
		p->glevel = 4;
		p->gfn = addr;
		p->chain_w = true;
	} else {
		if (!guest_walk(m, v->key, addr, p))
			return 1;
		p->gfn = p->gframe + (addr & (PPL(p->glevel) - 1));
	}
	p->slot = slot_find(m, p->as, p->gfn);
	if (!p->slot)
		return EPTF_EINVAL;
	const struct slot *s = p->slot;
	unsigned level = req_level < p->glevel ? req_level : p->glevel;
	if (s->flags & EPTF_SLOTF_DIRTY_LOG)
		level = 1;
	while (level > 1) {
		uint64_t b = p->gfn & ~(PPL(level) - 1);
		/* host frames must be aligned like the gfns (KVM disallows lpages otherwise) */
		bool ok = b >= s->base && b + PPL(level) <= s->base + s->npages &&
			  !(((s->hva >> 12) ^ s->base) & (PPL(level) - 1)) && lpage_ok(m, b, level);
		/* a guest table shadowed on this walk (pages at levels 4..level) will be write-tracked too */
		for (unsigned lv = 4; ok && !p->direct && lv >= level && lv >= p->glevel; lv--)
			if (p->table[lv] >= b && p->table[lv] - b < PPL(level))
				ok = false;
		if (ok)
			break;
		level--;
	}
	p->level = level;
	p->tgfn = p->gfn & ~(PPL(level) - 1);
	return 0;
}

static unsigned spte_index(uint64_t addr, unsigned level)
{
	return (unsigned)((addr >> LVL_SHIFT(level)) & 511);
}

/* The key of the page at @level on the fault's path. */
static void plan_key(const struct plan *p, unsigned level, struct sp_key *k)
{
	memset(k, 0, sizeof(*k));
	k->level = (uint8_t)level;
	k->base = level == 4 ? 0 : p->addr & ~(PPL(level + 1) - 1);
	k->direct = p->direct;
	k->as = p->as;
	if (p->direct) {
		k->gfn = k->base;
	} else if (level >= p->glevel) {
		k->gfn = p->table[level];
		k->shadows = true;
		k->access = p->access[level];
	} else {
		/* below a guest huge page: KVM's direct-role page for it; kept indirect here */
		k->gfn = p->gframe + (k->base & (PPL(p->glevel) - 1));
		k->access = p->access[level];
	}
}

static void mark_dirty(struct slot *s, uint64_t gfn)
{
	if (s->flags & EPTF_SLOTF_DIRTY_LOG) {
		uint64_t off = gfn - s->base;
		s->dirty[off / 64] |= 1ull << (off % 64);
		dirty_sum(s)[off / 4096] |= 1ull << (off / 64 % 64);
	}
}

/*
 * Install the planned leaf from the vCPU's root (direct_map()/FNAME(fetch)):
 * intermediate pages are found or created, a huge leaf in the way is split
 * (drop_large_spte()), a table where the leaf goes is zapped (collapse).
 */
static uint32_t install_leaf(struct eptf_mmu *m, uint32_t cur, const struct plan *p, bool write);

/*
 * Install the planned leaf below @root. Returns the page it went to (the
 * leaf is SPTE spte_index(p->addr, p->level) there), or NIL if an
 * allocation failed.
 */
static uint32_t do_fault_from(struct eptf_mmu *m, uint32_t cur, unsigned from, const struct plan *p, bool write)
{
	m->st.faults++;
	for (unsigned lv = from; lv > p->level; lv--) {
		struct sp *sp = SP(m, cur);
		unsigned i = spte_index(p->addr, lv);
		uint64_t s = sp->spt[i];
		struct sp_key k;

		plan_key(p, lv - 1, &k);
		if (s & SPTE_P) {
			if ((s & SPTE_LINK) && sp_matches(SP(m, SPTE_CHILD(s)), &k)) {
				cur = SPTE_CHILD(s);
				continue;
			}
			/* a huge leaf in the way, or a stale link to another guest table */
			item_spte(m, (s & SPTE_LINK) ? EPTF_SITE_SPTE_CHANGE : EPTF_SITE_SPLIT, cur, i, s,
				  EPTF_CHG_DROP);
			spte_clear(m, cur, i);
		}
		uint32_t c = sp_lookup(m, &k);
		if (c == NIL)
			c = sp_create(m, &k);
		if (c == NIL || m->err)
			return NIL;
		spte_link(m, cur, i, c);
		cur = c;
	}

	return install_leaf(m, cur, p, write);
}

static uint32_t do_fault(struct eptf_mmu *m, uint32_t root, const struct plan *p, bool write)
{
	return do_fault_from(m, root, 4, p, write);
}

/* The leaf step of do_fault(): install the planned leaf in page @cur; returns @cur (NIL on ENOMEM). */
static uint32_t install_leaf(struct eptf_mmu *m, uint32_t cur, const struct plan *p, bool write)
{
	struct sp *sp = SP(m, cur);
	unsigned i = spte_index(p->addr, p->level);
	uint64_t s = sp->spt[i];
	if ((s & (SPTE_P | SPTE_LINK)) == (SPTE_P | SPTE_LINK))
		zap_subtree(m, SPTE_CHILD(s)); /* collapse: the child subtree goes, site COMMIT_ZAP */

	struct slot *sl = p->slot;
	bool w = !(sl->flags & EPTF_SLOTF_READONLY) && p->chain_w && !gfn_tracked(m, p->tgfn) &&
		 (!(sl->flags & EPTF_SLOTF_DIRTY_LOG) || write);
	uint64_t bits = SPTE_A | (w ? SPTE_W : 0) | (p->chain_nx ? 0 : SPTE_X) | (w && write ? SPTE_D : 0);

	s = sp->spt[i];
	if ((s & SPTE_P) && leaf_gfn(sp, i) == p->tgfn) {
		/* same frame: permissions only grow, no flush needed */
		sp->spt[i] = s | bits;
		rmap_note(sl, sp->level, p->tgfn, bits & ~s);
		sp->last_level = true;
	} else {
		if (s & SPTE_P)
			item_spte(m, EPTF_SITE_SPTE_CHANGE, cur, i, s, EPTF_CHG_FRAME);
		spte_set_leaf(m, cur, i, p->tgfn, sl, bits);
	}
	if (w)
		mark_dirty(sl, p->tgfn);
	return m->err ? NIL : cur;
}

/* ---- roots ---------------------------------------------------------- */

static void root_key(const struct vcpu *v, struct sp_key *k)
{
	memset(k, 0, sizeof(*k));
	k->level = 4;
	k->direct = v->direct;
	if (v->direct) {
		k->as = (uint8_t)v->key;
	} else {
		k->gfn = v->key;
		k->shadows = true;
		k->access = ACC_W;
	}
}

/* Make sure the vCPU has a live root (kvm_mmu_reload()); reports a changed root. */
static void vcpu_reload(struct eptf_mmu *m, struct vcpu *v, struct eptf_mmu_result *res)
{
	struct sp_key k;

	if (v->root != NIL)
		return;
	root_key(v, &k);
	uint32_t idx = sp_lookup(m, &k);
	if (idx == NIL)
		idx = sp_create(m, &k);
	if (idx == NIL)
		return;
	v->root = idx;
	SP(m, idx)->root_count++;
	v->hpa = SP(m, idx)->hpa;
	v->retired = false;
	res->loaded_root = v->hpa;
}

/*
 * Walk to the leaf for @addr; true with its page and index. False when an
 * SPTE on the way is not present: then *pidx is the page that holds it and
 * *pi that page's level (NIL and 0 without a root).
 */
static bool leaf_find(const struct eptf_mmu *m, uint32_t root, uint64_t addr, uint32_t *pidx, unsigned *pi)
{
	uint32_t cur = root;

	*pidx = NIL;
	*pi = 0;
	if (cur == NIL || addr >= INPUT_LIMIT)
		return false;
	for (unsigned lv = 4; lv >= 1; lv--) {
		unsigned i = spte_index(addr, lv);
		uint64_t s = SP(m, cur)->spt[i];
		if (!(s & SPTE_P)) {
			*pidx = cur;
			*pi = lv;
			return false;
		}
		if (!(s & SPTE_LINK)) {
			*pidx = cur;
			*pi = i;
			return true;
		}
		cur = SPTE_CHILD(s);
	}
	return false;
}

/* ---- ops ------------------------------------------------------------ */

static struct vcpu *op_vcpu(struct eptf_mmu *m, const struct eptf_op *op)
{
	return op->vcpu < m->nr_vcpus ? &m->vcpu[op->vcpu] : NULL;
}

static int op_root_load(struct eptf_mmu *m, const struct eptf_op *op, struct eptf_mmu_result *res)
{
	struct vcpu *v = op_vcpu(m, op);
	struct vcpu nv;
	struct sp_key k;

	if (!v)
		return EPTF_EINVAL;
	memset(&nv, 0, sizeof(nv));
	nv.direct = op->flags & EPTF_OPF_DIRECT;
	nv.key = op->addr;
	if (nv.direct ? op->addr >= KVM_AS_NUM : op->addr >= GFN_LIMIT)
		return EPTF_EINVAL;
	root_key(&nv, &k);
	uint32_t idx = sp_lookup(m, &k);
	if (idx != NIL && idx == v->root)
		return 0; /* same root: kvm_mmu_load() finds nothing to do */
	if (idx == NIL)
		idx = sp_create(m, &k);
	if (idx == NIL)
		return m->err;
	if (v->root != NIL)
		SP(m, v->root)->root_count--;
	v->root = idx;
	v->loaded = true;
	v->direct = nv.direct;
	v->key = nv.key;
	v->hpa = SP(m, idx)->hpa;
	v->retired = false;
	SP(m, idx)->root_count++;
	res->loaded_root = v->hpa;
	return 0;
}

static int op_map(struct eptf_mmu *m, const struct eptf_op *op, struct eptf_mmu_result *res)
{
	struct vcpu *v = op_vcpu(m, op);
	struct plan p;

	if (!v || op->level < 1 || op->level > 3)
		return EPTF_EINVAL;
	if (!v->loaded)
		return EPTF_ENOENT;
	int r = plan_fault(m, v, op->addr, op->level, &p);
	if (r < 0)
		return r;
	if (r == 1) {
		res->guest_fault = true;
		return 0;
	}
	vcpu_reload(m, v, res);
	if (v->root == NIL)
		return m->err;
	do_fault(m, v->root, &p, op->flags & EPTF_OPF_WRITE);
	return 0;
}

#ifndef NDEBUG
/* Debug builds: the links from @root down to level @to all exist and match @p's roles, ending at @expect. */
static bool direct_links_match(const struct eptf_mmu *m, uint32_t root, const struct plan *p, unsigned to,
			       uint32_t expect)
{
	uint32_t cur = root;

	for (unsigned lv = 4; lv > to; lv--) {
		uint64_t s = SP(m, cur)->spt[spte_index(p->addr, lv)];
		struct sp_key k;
		plan_key(p, lv - 1, &k);
		if (!(s & SPTE_P) || !(s & SPTE_LINK) || !sp_matches(SP(m, SPTE_CHILD(s)), &k))
			return false;
		cur = SPTE_CHILD(s);
	}
	return cur == expect;
}

/* Debug builds: a walk from @root finds the leaf for @addr at SPTE @i of page @idx. */
static bool leaf_is(const struct eptf_mmu *m, uint32_t root, uint64_t addr, uint32_t idx, unsigned i)
{
	uint32_t wli = NIL;
	unsigned widx = 0;

	return leaf_find(m, root, addr, &wli, &widx) && wli == idx && widx == i;
}
#endif

static int op_access(struct eptf_mmu *m, const struct eptf_op *op, struct eptf_mmu_result *res)
{
	struct vcpu *v = op_vcpu(m, op);
	bool write = op->flags & EPTF_OPF_WRITE;
	uint32_t li = NIL;
	unsigned lidx = 0;
	struct plan p;
	bool fault = false;

	if (!v)
		return EPTF_EINVAL;
	if (!v->loaded)
		return EPTF_ENOENT;
	if (op->addr >= INPUT_LIMIT)
		return EPTF_EINVAL;
	uint32_t root = v->root;
	if (root == NIL) {
		/* the reload will find this page if another vCPU recreated it already */
		struct sp_key k;
		root_key(v, &k);
		root = sp_lookup(m, &k);
	}
	bool have = leaf_find(m, root, op->addr, &li, &lidx);
	uint32_t stop = have ? NIL : li; /* where the walk found no SPTE, and that page's level */
	unsigned stop_lv = have ? 0 : lidx;
	if (!have) {
		int r = plan_fault(m, v, op->addr, 1, &p);
		if (r < 0)
			return r;
		if (r == 1) {
			res->guest_fault = true;
			return 0;
		}
		fault = true;
	} else if (write && !(SP(m, li)->spt[lidx] & SPTE_W)) {
		/* fast_page_fault()/the slow path: fixable unless write-tracked, read-only or guest-RO */
		unsigned lvl = SP(m, li)->level;
		int r = plan_fault(m, v, op->addr, lvl, &p);
		if (r == 0 && !(p.slot->flags & EPTF_SLOTF_READONLY) && p.chain_w && !gfn_tracked(m, p.gfn))
			fault = true;
	}
	vcpu_reload(m, v, res);
	if (v->root == NIL)
		return m->err;
	if (fault) {
		if (have && p.direct && v->root == root && p.level == SP(m, li)->level &&
		    leaf_gfn(SP(m, li), lidx) == p.tgfn) {
			/*
			 * A write to a present, write-protected direct leaf
			 * (fast_page_fault()): do_fault() would walk links that
			 * all match (a direct page's role is its address range,
			 * level and address space) down to the same leaf and
			 * only add W; so go straight to the leaf step.
			 */
			assert(direct_links_match(m, root, &p, p.level, li));
			m->st.faults++;
			li = install_leaf(m, li, &p, write);
		} else if (!have && p.direct && v->root == root && stop != NIL && p.level <= stop_lv) {
			/*
			 * Nothing present at @stop_lv on the way: do_fault()
			 * would re-walk the links above it, which all match for a
			 * direct root (see above), so it starts where the first
			 * walk stopped.
			 */
			assert(direct_links_match(m, root, &p, stop_lv, stop));
			li = do_fault_from(m, stop, stop_lv, &p, write);
		} else {
			li = do_fault(m, v->root, &p, write);
		}
		lidx = spte_index(op->addr, p.level);
		res->faulted = true;
		if (m->err || li == NIL)
			return m->err ? m->err : EPTF_ENOMEM;
		assert(leaf_is(m, v->root, op->addr, li, lidx));
	}
	/* the leaf the first walk found (no fault) or the one the fault installed, on the same root */
	if (have || fault) {
		struct sp *sp = SP(m, li);
		uint64_t old = sp->spt[lidx], s = old | SPTE_A;
		bool dirty = write && (s & SPTE_W);
		if (dirty || !(old & SPTE_A)) {
			uint64_t g = leaf_gfn(sp, lidx);
			struct slot *sl = slot_find(m, sp->as, g);
			if (dirty) {
				s |= SPTE_D;
				if (sl && sp->level == 1)
					mark_dirty(sl, g);
			}
			if (sl && !(old & SPTE_A))
				rmap_note(sl, sp->level, g, SPTE_A);
		}
		sp->spt[lidx] = s;
		m->last.valid = true;
		m->last.root_hpa = SP(m, v->root)->hpa;
		res->access_root = m->last.root_hpa;
		assert(res->access_root == eptf_mmu_vcpu_root(m, op->vcpu));
		m->last.addr = op->addr;
		m->last.leaf = li;
		m->last.i = lidx;
	}
	return 0;
}

/* The walk's callback removes each reference (else: the summary word it visits). */
#define WALK_DROP 0u

/*
 * The next used rmap entry of @level at or after @e and at most @e1, or
 * UINT64_MAX. Absent directory pages, unallocated chunks (rdir->live) and
 * empty heads (the chunk's occupancy word) are skipped without loading
 * them, so the cost follows the mapped entries, not the slot's size.
 */
static uint64_t rmap_next(const struct slot *sl, unsigned level, uint64_t e, uint64_t e1)
{
	size_t nchunks = sl->nchunks[level - 1];

	while (e <= e1) {
		size_t c = (size_t)(e >> RCHUNK_SHIFT);
		if (c >= nchunks)
			return UINT64_MAX;
		const struct rdir *r = sl->rdir[level - 1][c >> RDIR_SHIFT];
		uint64_t dir_end = (((uint64_t)(c >> RDIR_SHIFT) + 1) << RDIR_SHIFT) << RCHUNK_SHIFT;
		if (!r) {
			e = dir_end;
			continue;
		}
		/* the first allocated chunk at or after c in this directory page */
		unsigned ci = (unsigned)(c & (RDIR - 1));
		unsigned w = ci / 64;
		uint64_t bits = r->live[w] & (~0ull << (ci % 64));
		while (!bits && ++w < RDIR / 64)
			bits = r->live[w];
		if (!bits) {
			e = dir_end;
			continue;
		}
		unsigned nci = w * 64 + (unsigned)__builtin_ctzll(bits);
		if (nci != ci) {
			e = (((uint64_t)(c >> RDIR_SHIFT) << RDIR_SHIFT) + nci) << RCHUNK_SHIFT;
			continue; /* re-check the bounds for the new chunk */
		}
		uint64_t occ = r->chunk[ci][RCHUNK_OCC] & (~0ull << (e & (RCHUNK - 1)));
		if (!occ) {
			e = ((uint64_t)c + 1) << RCHUNK_SHIFT;
			continue;
		}
		e = ((uint64_t)c << RCHUNK_SHIFT) + (unsigned)__builtin_ctzll(occ);
		return e <= e1 ? e : UINT64_MAX;
	}
	return UINT64_MAX;
}

/*
 * rmap_range() without drops: @fn changes SPTEs but no rmap, so the
 * references can be gathered in batches ahead of the calls, in the same
 * order as one at a time. Only heads whose summary bit @sum (RCHUNK_W or
 * RCHUNK_A) is set are visited, and the bit is cleared: @fn leaves no SPTE
 * of the head with that permission.
 */
static void rmap_visit(struct eptf_mmu *m, struct slot *sl, unsigned level, uint64_t e0, uint64_t e1, unsigned sum,
		       rmap_fn fn, void *arg)
{
	size_t nchunks = sl->nchunks[level - 1];
	unsigned which = sum == RCHUNK_W ? 0 : 1;
	struct ref_batch b;

	if (!nchunks)
		return;
	batch_init(&b, fn, arg);
	if (e1 >= (uint64_t)nchunks << RCHUNK_SHIFT)
		e1 = ((uint64_t)nchunks << RCHUNK_SHIFT) - 1;
	for (uint64_t c0 = e0 >> RCHUNK_SHIFT, c1 = e1 >> RCHUNK_SHIFT, d = c0 >> RDIR_SHIFT; d <= c1 >> RDIR_SHIFT;
	     d++) {
		struct rdir *r = sl->rdir[level - 1][d];
		if (!r)
			continue;
		/* the flagged chunks of this directory page within [c0, c1] */
		uint64_t dfirst = d << RDIR_SHIFT;
		unsigned lo = c0 > dfirst ? (unsigned)(c0 - dfirst) : 0;
		unsigned hi = c1 - dfirst < RDIR - 1 ? (unsigned)(c1 - dfirst) : RDIR - 1;
		for (unsigned w = lo / 64; w <= hi / 64; w++) {
			uint64_t cbits = r->flagged[which][w];
			if (w == lo / 64)
				cbits &= ~0ull << (lo % 64);
			if (w == hi / 64)
				cbits &= ~0ull >> (63 - hi % 64);
			while (cbits) {
				unsigned ci = w * 64 + (unsigned)__builtin_ctzll(cbits);
				uint64_t c = dfirst + ci, first = c << RCHUNK_SHIFT;
				uint64_t *chunk = r->chunk[ci];
				uint64_t heads = chunk ? chunk[sum] : 0;

				cbits &= cbits - 1;
				/* the flagged heads of this chunk within [e0, e1] */
				if (e0 > first)
					heads &= ~0ull << (e0 - first);
				if (e1 - first < RCHUNK - 1)
					heads &= ~0ull >> (RCHUNK - 1 - (e1 - first));
				if (chunk) {
					chunk[sum] &= ~heads;
					if (!chunk[sum])
						r->flagged[which][w] &= ~(1ull << (ci % 64));
				}
				for (; heads; heads &= heads - 1)
					batch_head(m, &b, chunk[__builtin_ctzll(heads)]);
			}
		}
	}
	batch_flush(m, &b);
}

static void rmap_range(struct eptf_mmu *m, struct slot *sl, unsigned level, uint64_t g0, uint64_t g1, unsigned walk,
		       rmap_fn fn, void *arg)
{
	unsigned sh = LVL_SHIFT(level);
	uint64_t e1 = ((g1 - 1) >> sh) - (sl->base >> sh);

	if (walk != WALK_DROP) {
		rmap_visit(m, sl, level, (g0 >> sh) - (sl->base >> sh), e1, walk, fn, arg);
		return;
	}

	/* drops may free the chunk (and its directory page) under us: look the head up again each time */
	for (uint64_t e = (g0 >> sh) - (sl->base >> sh); (e = rmap_next(sl, level, e, e1)) != UINT64_MAX; e++) {
		size_t c = (size_t)(e >> RCHUNK_SHIFT);
		uint64_t *h = &chunk_of(sl, level, c)[e & (RCHUNK - 1)];
		/* fn removes the first reference each time */
		size_t n = rmap_count(*h);
		while (n) {
			fn(m, rmap_at(*h, 0), arg);
			if (!chunk_of(sl, level, c))
				break; /* the last reference of the chunk went, and the chunk */
			size_t left = rmap_count(*h);
			if (left >= n) {
				assert(!"rmap drop made no progress");
				break;
			}
			n = left;
		}
	}
}

static void rmap_range_all(struct eptf_mmu *m, struct slot *sl, uint64_t g0, uint64_t g1, unsigned walk, rmap_fn fn,
			   void *arg)
{
	for (unsigned l = 1; l <= 3; l++)
		rmap_range(m, sl, l, g0, g1, walk, fn, arg);
}

static void drop_cb(struct eptf_mmu *m, uint64_t ref, void *arg)
{
	enum eptf_site site = *(const enum eptf_site *)arg;
	uint64_t s = SP(m, REF_IDX(ref))->spt[REF_I(ref)];

	item_spte(m, site, REF_IDX(ref), REF_I(ref), s, EPTF_CHG_DROP);
	spte_clear(m, REF_IDX(ref), REF_I(ref));
}

struct age_arg {
	int young;
	bool flush;
};

static void age_cb(struct eptf_mmu *m, uint64_t ref, void *arg)
{
	struct age_arg *a = arg;
	struct sp *sp = SP(m, REF_IDX(ref));
	uint64_t s = sp->spt[REF_I(ref)];

	if (!(s & SPTE_A))
		return;
	a->young++;
	if (a->flush)
		item_spte(m, EPTF_SITE_AGE, REF_IDX(ref), REF_I(ref), s, EPTF_CHG_AGED);
	sp->spt[REF_I(ref)] = s & ~SPTE_A;
}

static void slot_zap_all(struct eptf_mmu *m, struct slot *s)
{
	enum eptf_site site = EPTF_SITE_SLOT_REMOVE;

	ctx_slot(m, s);
	rmap_range_all(m, s, s->base, s->base + s->npages, WALK_DROP, drop_cb, &site);
}

static bool slot_overlaps(const struct eptf_mmu *m, uint32_t id, uint64_t base, uint64_t npages)
{
	for (size_t i = 0; i < m->nslot; i++) {
		const struct slot *s = &m->slot[i];
		if (s->id == id || EPTF_SLOT_AS(s->id) != EPTF_SLOT_AS(id))
			continue;
		if (base < s->base + s->npages && s->base < base + npages)
			return true;
	}
	return false;
}

static bool slot_range_ok(uint64_t base, uint64_t npages)
{
	return npages > 0 && npages <= SLOT_MAX_PAGES && base < INPUT_LIMIT && npages <= INPUT_LIMIT - base;
}

static int op_slot_add(struct eptf_mmu *m, const struct eptf_op *op)
{
	uint32_t id = op->slot;

	if (EPTF_SLOT_AS(id) >= KVM_AS_NUM || EPTF_SLOT_ID(id) >= SLOT_ID_LIMIT || !slot_range_ok(op->addr, op->count) ||
	    (op->value & 0xfff) || op->count > (UINT64_MAX - op->value) >> 12 ||
	    (op->flags & ~(uint32_t)(EPTF_SLOTF_DIRTY_LOG | EPTF_SLOTF_READONLY)))
		return EPTF_EINVAL;
	if (slot_by_id(m, id) || slot_overlaps(m, id, op->addr, op->count))
		return EPTF_EEXIST;
	if (m->nslot == m->capslot) {
		size_t ncap = m->capslot ? m->capslot * 2 : 8;
		struct slot *n = zrealloc(m, m->slot, m->capslot * sizeof(*n), ncap * sizeof(*n));
		if (!n)
			return EPTF_ENOMEM;
		m->slot = n;
		m->capslot = ncap;
	}
	struct slot *s = &m->slot[m->nslot];
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->flags = op->flags;
	s->base = op->addr;
	s->npages = op->count;
	s->hva = op->value;
	int err = slot_alloc_rmaps(m, s);
	if (!err && (s->flags & EPTF_SLOTF_DIRTY_LOG)) {
		s->dirty = zalloc(m, bitmap_bytes(s->npages));
		if (!s->dirty)
			err = EPTF_ENOMEM;
	}
	if (err) {
		slot_free_rmaps(m, s);
		return err;
	}
	m->nslot++;
	return 0;
}

static int op_slot_delete(struct eptf_mmu *m, const struct eptf_op *op)
{
	struct slot *s = slot_by_id(m, op->slot);

	if (!s)
		return EPTF_ENOENT;
	/* kvm_arch_flush_shadow_memslot(): every SPTE of the slot, in every root */
	slot_zap_all(m, s);
	slot_free_rmaps(m, s);
	zfree(m, s->dirty, bitmap_bytes(s->npages));
	*s = m->slot[--m->nslot];
	return 0;
}

static int op_slot_move(struct eptf_mmu *m, const struct eptf_op *op)
{
	struct slot *s = slot_by_id(m, op->slot);

	if (!s)
		return EPTF_ENOENT;
	if (!slot_range_ok(op->addr, s->npages))
		return EPTF_EINVAL;
	if (slot_overlaps(m, s->id, op->addr, s->npages))
		return EPTF_EEXIST;
	slot_zap_all(m, s);
	slot_free_rmaps(m, s);
	s->base = op->addr;
	if (s->dirty)
		memset(s->dirty, 0, bitmap_bytes(s->npages));
	return slot_alloc_rmaps(m, s);
}

static int op_slot_flags(struct eptf_mmu *m, const struct eptf_op *op)
{
	struct slot *s = slot_by_id(m, op->slot);

	if (!s)
		return EPTF_ENOENT;
	if ((op->flags & ~(uint32_t)(EPTF_SLOTF_DIRTY_LOG | EPTF_SLOTF_READONLY)) ||
	    ((op->flags ^ s->flags) & EPTF_SLOTF_READONLY))
		return EPTF_EINVAL; /* KVM refuses to change KVM_MEM_READONLY in place */
	bool on = op->flags & EPTF_SLOTF_DIRTY_LOG, was = s->flags & EPTF_SLOTF_DIRTY_LOG;
	if (on && !was) {
		if (!s->dirty)
			s->dirty = zalloc(m, bitmap_bytes(s->npages));
		if (!s->dirty)
			return EPTF_ENOMEM;
		s->flags = op->flags;
		/* kvm_mmu_slot_remove_write_access() */
		enum eptf_site site = EPTF_SITE_WP_SLOT;
		ctx_slot(m, s);
		rmap_range_all(m, s, s->base, s->base + s->npages, RCHUNK_W, wp_cb, &site);
	} else if (!on && was) {
		/* KVM frees the bitmap; it is kept here, zeroed word by word through the summary */
		uint64_t *sum = dirty_sum(s);
		for (size_t sw = 0, words = dirty_words(s->npages); sw < (words + 63) / 64; sw++) {
			for (uint64_t b = sum[sw]; b; b &= b - 1)
				s->dirty[sw * 64 + (unsigned)__builtin_ctzll(b)] = 0;
			sum[sw] = 0;
		}
		s->flags = op->flags;
	}
	return 0;
}

static int op_zap_range(struct eptf_mmu *m, const struct eptf_op *op)
{
	enum eptf_site site = EPTF_SITE_ZAP_RANGE;

	if (op->count > UINT64_MAX - op->addr)
		return EPTF_EINVAL;
	m->ctx.range_gfn = op->addr;
	m->ctx.range_pages = op->count;
	m->ctx_used = true;
	uint64_t end = op->addr + op->count;
	for (size_t k = 0; k < m->nslot; k++) {
		struct slot *s = &m->slot[k];
		uint64_t g0 = op->addr > s->base ? op->addr : s->base;
		uint64_t g1 = end < s->base + s->npages ? end : s->base + s->npages;
		if (g0 < g1)
			rmap_range_all(m, s, g0, g1, WALK_DROP, drop_cb, &site);
	}
	return 0;
}

/* For each memslot overlapping [start, end) call @fn on the leaves mapping its gfns there. */
static void hva_walk(struct eptf_mmu *m, uint64_t start, uint64_t end, unsigned walk, rmap_fn fn, void *arg)
{
	for (size_t k = 0; k < m->nslot; k++) {
		struct slot *s = &m->slot[k];
		uint64_t hend = s->hva + (s->npages << 12);
		uint64_t lo = start > s->hva ? start : s->hva;
		uint64_t hi = end < hend ? end : hend;
		if (lo >= hi)
			continue;
		/* hva_to_gfn_memslot() for both ends; a partly covered page counts */
		uint64_t g0 = s->base + ((lo - s->hva) >> 12);
		uint64_t g1 = s->base + ((hi - s->hva + 4095) >> 12);
		rmap_range_all(m, s, g0, g1, walk, fn, arg);
	}
}

static int op_age(struct eptf_mmu *m, const struct eptf_op *op, bool flush, struct eptf_mmu_result *res)
{
	struct age_arg a = { 0, flush };

	if (op->count < op->addr)
		return EPTF_EINVAL;
	m->ctx.hva_start = op->addr;
	m->ctx.hva_end = op->count;
	m->ctx_used = true;
	hva_walk(m, op->addr, op->count, RCHUNK_A, age_cb, &a);
	res->young = a.young;
	return 0;
}

static int op_unmap(struct eptf_mmu *m, const struct eptf_op *op)
{
	enum eptf_site site = EPTF_SITE_UNMAP;

	if (op->count < op->addr)
		return EPTF_EINVAL;
	m->ctx.hva_start = op->addr;
	m->ctx.hva_end = op->count;
	m->ctx_used = true;
	hva_walk(m, op->addr, op->count, WALK_DROP, drop_cb, &site);
	return 0;
}

static int op_wp_gfn(struct eptf_mmu *m, const struct eptf_op *op)
{
	bool found = false;

	for (size_t k = 0; k < m->nslot; k++)
		if (op->addr >= m->slot[k].base && op->addr - m->slot[k].base < m->slot[k].npages)
			found = true;
	if (!found)
		return EPTF_EINVAL; /* kvm_slot_page_track_add_page() needs a memslot */
	trk_set(m, op->addr, trk_get(m, op->addr) | TRK_WP);
	ctx_gfn(m, op->addr);
	wp_gfn_all(m, op->addr, EPTF_SITE_WP_GFN);
	return 0;
}

/* Collect the live pages with sp->gfn == @gfn that @want accepts (for ops that then mutate). */
static size_t pages_of_gfn(const struct eptf_mmu *m, uint64_t gfn, uint32_t *out, size_t max,
			   bool (*want)(const struct sp *sp, const struct eptf_op *op), const struct eptf_op *op)
{
	size_t n = 0;
	for (uint32_t idx = m->bucket[hbucket(m, gfn)]; idx != NIL; idx = SP(m, idx)->hnext) {
		const struct sp *sp = SP(m, idx);
		if (sp->gfn == gfn && want(sp, op)) {
			if (n < max)
				out[n] = idx;
			n++;
		}
	}
	return n;
}

static bool want_prepare(const struct sp *sp, const struct eptf_op *op)
{
	return sp->level == op->level && sp->direct == !!(op->flags & EPTF_OPF_DIRECT);
}

static bool want_shadow(const struct sp *sp, const struct eptf_op *op)
{
	(void)op;
	return sp->shadows;
}

/* Run @fn on a snapshot of the matching pages (the hash may change under it). */
static int for_pages_of_gfn(struct eptf_mmu *m, uint64_t gfn,
			    bool (*want)(const struct sp *sp, const struct eptf_op *op), const struct eptf_op *op,
			    void (*fn)(struct eptf_mmu *m, uint32_t idx, const struct eptf_op *op))
{
	uint32_t small[64];
	uint32_t *v = small;
	size_t n = pages_of_gfn(m, gfn, small, 64, want, op);

	if (n > 64) {
		v = malloc(n * sizeof(*v));
		if (!v)
			return EPTF_ENOMEM;
		pages_of_gfn(m, gfn, v, n, want, op);
	}
	for (size_t k = 0; k < n; k++)
		if (!SP(m, v[k])->invalid)
			fn(m, v[k], op);
	if (v != small)
		free(v);
	return (int)(n > (size_t)INT32_MAX ? INT32_MAX : n);
}

static void prepare_one(struct eptf_mmu *m, uint32_t idx, const struct eptf_op *op)
{
	(void)op;
	zap_page(m, idx, &m->invalid);
}

static int op_prepare_zap(struct eptf_mmu *m, const struct eptf_op *op)
{
	if (op->level < 1 || op->level > 4)
		return EPTF_EINVAL;
	int n = for_pages_of_gfn(m, op->addr, want_prepare, op, prepare_one);
	if (n < 0)
		return n;
	return n ? 0 : EPTF_ENOENT;
}

static int op_commit_zap(struct eptf_mmu *m)
{
	for (size_t k = 0; k < m->invalid.n; k++) {
		item_sp(m, m->invalid.v[k]);
		vec_push(m, &m->tofree, m->invalid.v[k]);
	}
	m->invalid.n = 0;
	return 0;
}

/* kvm_vm_ioctl_get_dirty_log()/clear: harvest and re-protect the dirty pages of @mask at @word. */
static uint64_t harvest(struct eptf_mmu *m, struct slot *s, size_t word, uint64_t mask)
{
	uint64_t bits = s->dirty[word] & mask;
	uint64_t n = 0;

	s->dirty[word] &= ~mask;
	if (!s->dirty[word])
		dirty_sum(s)[word / 64] &= ~(1ull << (word % 64));
	/*
	 * wp_gfn_slot() for each page, in the same order (page by page, level
	 * 1 to 3), but with the references of many pages gathered first and
	 * visited as one batch, so that the SPTE loads overlap.
	 */
	enum eptf_site site = EPTF_SITE_DIRTY_LOG;
	struct ref_batch rb;

	batch_init(&rb, wp_cb, &site);
	for (; bits; bits &= bits - 1, n++)
		batch_wp_gfn(m, &rb, s, s->base + (uint64_t)word * 64 + (unsigned)__builtin_ctzll(bits));
	batch_flush(m, &rb);
	return n;
}

static int op_dirty_log(struct eptf_mmu *m, const struct eptf_op *op, bool clear, struct eptf_mmu_result *res)
{
	struct slot *s = slot_by_id(m, op->slot);

	if (!s || !(s->flags & EPTF_SLOTF_DIRTY_LOG))
		return EPTF_ENOENT; /* KVM: no such slot, or no dirty bitmap */
	if (clear && (op->addr % 64 || op->addr >= s->npages))
		return EPTF_EINVAL;
	ctx_slot(m, s);
	size_t words = (size_t)((s->npages + 63) / 64);
	uint64_t last = s->npages % 64 ? (1ull << (s->npages % 64)) - 1 : ~0ull;
	if (clear) {
		size_t w = (size_t)(op->addr / 64);
		res->dirty_pages = harvest(m, s, w, op->value & (w + 1 == words ? last : ~0ull));
	} else {
		const uint64_t *sum = dirty_sum(s);
		for (size_t sw = 0; sw < (words + 63) / 64; sw++) {
			for (uint64_t b = sum[sw]; b; b &= b - 1) {
				size_t w = sw * 64 + (unsigned)__builtin_ctzll(b);
				res->dirty_pages += harvest(m, s, w, ~0ull);
			}
		}
	}
	return 0;
}

static void gpt_write_one(struct eptf_mmu *m, uint32_t idx, const struct eptf_op *op)
{
	struct sp *sp = SP(m, idx);
	unsigned i = (unsigned)op->count;

	if (sp->level == 1) {
		/* mmu_try_to_unsync_pages(): leaf tables go unsync, no flush */
		if (!sp->unsync) {
			sp->unsync = true;
			sp->unsync_pos = (uint32_t)m->unsync.n;
			if (vec_push(m, &m->unsync, idx))
				trk_set(m, sp->gfn, trk_get(m, sp->gfn) + TRK_ONE_UNSYNC);
			else
				sp->unsync = false;
		}
		return;
	}
	/* kvm_mmu_pte_write() -> mmu_page_zap_pte() */
	uint64_t s = sp->spt[i];
	if (s & SPTE_P) {
		item_spte(m, EPTF_SITE_PTE_WRITE, idx, i, s, EPTF_CHG_DROP);
		spte_clear(m, idx, i);
	}
}

static int op_gpt_write(struct eptf_mmu *m, const struct eptf_op *op)
{
	if (op->count > 511 || op->addr >= GFN_LIMIT)
		return EPTF_EINVAL;
	uint64_t p;
	uint64_t *tbl = NULL;
	if (eptf_u64map_get(&m->gpt, op->addr, &p)) {
		tbl = (uint64_t *)(uintptr_t)p;
	} else if (op->value) {
		tbl = zalloc(m, NSPTE * sizeof(uint64_t));
		if (!tbl)
			return EPTF_ENOMEM;
		int err = eptf_u64map_put(&m->gpt, op->addr, (uint64_t)(uintptr_t)tbl, &m->st.bytes);
		if (err) {
			zfree(m, tbl, NSPTE * sizeof(uint64_t));
			return err;
		}
	}
	if (tbl)
		tbl[op->count] = op->value;
	int n = for_pages_of_gfn(m, op->addr, want_shadow, op, gpt_write_one);
	return n < 0 ? n : 0;
}

static bool reachable(const struct eptf_mmu *m, uint32_t idx, uint32_t root, unsigned depth)
{
	if (idx == root)
		return true;
	if (!depth)
		return false;
	const struct sp *sp = SP(m, idx);
	if (sp->parent0 && reachable(m, REF_IDX(sp->parent0), root, depth - 1))
		return true;
	for (uint32_t k = 0; k < sp->nxpar; k++)
		if (reachable(m, REF_IDX(sp->xpar[k]), root, depth - 1))
			return true;
	return false;
}

/* One present leaf SPTE @i of the unsync page @idx against its guest entry (sync_page). */
static void sync_spte(struct eptf_mmu *m, uint32_t idx, const uint64_t *tbl, unsigned i)
{
	struct sp *sp = SP(m, idx);
	uint64_t s = sp->spt[i];

	if (s & SPTE_LINK)
		return;
	uint64_t e = tbl ? tbl[i] : 0;
	uint64_t ngfn = (e & EPTF_GPTE_FRAME_MASK) >> 12;
	struct slot *sl = (e & EPTF_GPTE_PRESENT) ? slot_find(m, 0, ngfn) : NULL;
	if (!sl) {
		item_spte(m, EPTF_SITE_SYNC_PAGE, idx, i, s, EPTF_CHG_DROP);
		spte_clear(m, idx, i);
		return;
	}
	bool same = ngfn == leaf_gfn(sp, i);
	bool w = (s & SPTE_W) && (sp->access & ACC_W) && (e & EPTF_GPTE_WRITABLE) &&
		 !(sl->flags & EPTF_SLOTF_READONLY) && !gfn_tracked(m, ngfn) &&
		 (same || !(sl->flags & EPTF_SLOTF_DIRTY_LOG));
	bool x = !(sp->access & ACC_NX) && !(e & EPTF_GPTE_NX);
	uint64_t bits = (w ? SPTE_W : 0) | (x ? SPTE_X : 0);
	if (!same) {
		item_spte(m, EPTF_SITE_SYNC_PAGE, idx, i, s, EPTF_CHG_FRAME);
		spte_set_leaf(m, idx, i, ngfn, sl, bits);
	} else if ((s & ~bits) & (SPTE_W | SPTE_X)) {
		/* lost W or X: one "permission reduced" item */
		item_spte(m, EPTF_SITE_SYNC_PAGE, idx, i, s, EPTF_CHG_WRPROT);
		sp->spt[i] = (s & ~(SPTE_W | SPTE_X | (w ? 0 : SPTE_D))) | bits;
		sp->last_level = true;
	} else if (bits & ~s) {
		sp->spt[i] = s | bits; /* more permission: no flush needed */
		sp->last_level = true;
	}
}

/* FNAME(sync_page): bring a level-1 unsync page's present SPTEs in line with its guest table. */
static void sync_page(struct eptf_mmu *m, uint32_t idx)
{
	struct sp *sp = SP(m, idx);
	const uint64_t *tbl = gpt_table(m, sp->gfn);

	/*
	 * The present SPTEs, a bitmap word at a time: sync_spte() changes SPTE
	 * i only (the page gets a new table if it empties and refills, but
	 * then i was its only present SPTE).
	 */
	for (unsigned w = 0; w < NSPTE / 64 && sp->nr_present; w++)
		for (uint64_t b = SPT_PRESENT(sp->spt)[w]; b && sp->nr_present; b &= b - 1)
			sync_spte(m, idx, tbl, w * 64 + (unsigned)__builtin_ctzll(b));
	unsync_drop(m, idx);
}

static int op_sync(struct eptf_mmu *m, const struct eptf_op *op)
{
	struct vcpu *v = op_vcpu(m, op);

	if (!v)
		return EPTF_EINVAL;
	if (v->root == NIL || !m->unsync.n)
		return 0;
	uint32_t *snap = malloc(m->unsync.n * sizeof(*snap));
	if (!snap)
		return EPTF_ENOMEM;
	size_t n = m->unsync.n;
	memcpy(snap, m->unsync.v, n * sizeof(*snap));
	for (size_t k = 0; k < n; k++) {
		struct sp *sp = SP(m, snap[k]);
		if (sp->unsync && !sp->invalid && reachable(m, snap[k], v->root, 3))
			sync_page(m, snap[k]);
	}
	free(snap);
	return 0;
}

/* ---- public API ----------------------------------------------------- */

int eptf_mmu_create(const struct eptf_mmu_config *cfg, struct eptf_mmu **out)
{
	if (!cfg || !out || cfg->nr_vcpus < 1 || cfg->nr_vcpus > EPTF_MAX_VCPUS)
		return EPTF_EINVAL;
	struct eptf_mmu *m = calloc(1, sizeof(*m));
	if (!m)
		return EPTF_ENOMEM;
	m->st.bytes = sizeof(*m);
	m->sps = mmap(NULL, (size_t)SP_MAX * sizeof(struct sp), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->sps == MAP_FAILED) {
		free(m);
		return EPTF_ENOMEM;
	}
	m->nr_vcpus = cfg->nr_vcpus;
	m->nsp = 1;
	m->next_hpa = 1;
	m->nbucket = 1024;
	m->bucket = zalloc(m, m->nbucket * sizeof(*m->bucket));
	if (!m->bucket) {
		munmap(m->sps, (size_t)SP_MAX * sizeof(struct sp));
		free(m);
		return EPTF_ENOMEM;
	}
	*out = m;
	return 0;
}

void eptf_mmu_destroy(struct eptf_mmu *m)
{
	if (!m)
		return;
	for (uint32_t idx = 1; idx < m->nsp; idx++) {
		struct sp *sp = SP(m, idx);
		if (sp->used)
			free(sp->xpar); /* its tables are in the batches */
	}
	munmap(m->sps, (size_t)SP_MAX * sizeof(struct sp));
	for (size_t k = 0; k < m->nslot; k++) {
		struct slot *s = &m->slot[k];
		for (unsigned l = 0; l < 3; l++) {
			for (size_t d = 0; s->rdir[l] && d < s->ndirs[l]; d++) {
				struct rdir *r = s->rdir[l][d];
				for (unsigned c = 0; r && c < RDIR; c++) {
					uint64_t *chunk = r->chunk[c];
					for (unsigned e = 0; chunk && e < RCHUNK; e++)
						if (chunk[e] && !(chunk[e] & 1))
							free(rmap_desc(chunk[e]));
				}
			}
			free(s->rdir[l]);
		}
		free(s->dirty);
	}
	free(m->slot);
	for (size_t i = 0; i < m->gpt.cap; i++)
		if (m->gpt.keys[i] != EPTF_U64MAP_EMPTY)
			free((void *)(uintptr_t)m->gpt.vals[i]);
	eptf_u64map_free(&m->gpt, &m->st.bytes);
	eptf_u64map_free(&m->roots, &m->st.bytes);
	eptf_u64map_free(&m->track, &m->st.bytes);
	eptf_u64map_free(&m->lpage, &m->st.bytes);
	vec_free(m, &m->unsync);
	vec_free(m, &m->invalid);
	vec_free(m, &m->tofree);
	free(m->items);
	free(m->bucket);
	for (size_t k = 0; k < m->batches.n; k++)
		free(m->batches.v[k]);
	free(m->batches.v);
	for (size_t k = 0; k < m->arenas.n; k++)
		munmap(m->arenas.v[k], ARENA_BYTES);
	free(m->arenas.v);
	free(m->tpool.v);
	free(m->cpool.v);
	free(m->dpool.v);
	free(m);
}

const char *eptf_site_name(enum eptf_site site)
{
	static const char *const names[EPTF_SITE_COUNT] = {
		[EPTF_SITE_NONE] = "none",
		[EPTF_SITE_COMMIT_ZAP] = "commit_zap",
		[EPTF_SITE_ZAP_RANGE] = "zap_range",
		[EPTF_SITE_SYNC_PAGE] = "sync_page",
		[EPTF_SITE_WP_GFN] = "wp_gfn",
		[EPTF_SITE_WP_SLOT] = "wp_slot",
		[EPTF_SITE_DIRTY_LOG] = "dirty_log",
		[EPTF_SITE_AGE] = "age",
		[EPTF_SITE_UNMAP] = "unmap",
		[EPTF_SITE_SLOT_REMOVE] = "slot_remove",
		[EPTF_SITE_SPLIT] = "split",
		[EPTF_SITE_PTE_WRITE] = "pte_write",
		[EPTF_SITE_SPTE_CHANGE] = "spte_change",
	};
	return (unsigned)site < EPTF_SITE_COUNT ? names[site] : "?";
}

static size_t collect_roots(struct eptf_mmu *m)
{
	size_t n = 0;

	for (unsigned v = 0; v < m->nr_vcpus; v++) {
		const struct vcpu *c = &m->vcpu[v];
		bool dup = false;
		if (!c->loaded || !c->hpa || c->retired)
			continue;
		for (size_t k = 0; k < n && !dup; k++)
			dup = m->rootref[k].hpa == c->hpa;
		if (dup)
			continue;
		m->rootref[n].hpa = c->hpa;
		m->rootref[n].direct = c->direct;
		n++;
	}
	return n;
}

int eptf_mmu_apply(struct eptf_mmu *m, const struct eptf_op *op, uint64_t op_index, struct eptf_mmu_result *res)
{
	int ret;

	if (!m || !op || !res)
		return EPTF_EINVAL;
	if (m->pending)
		return EPTF_EBUSY;
	m->last.valid = false;
	/*
	 * Field by field: most ops (accesses) set none of the flush point's
	 * context, and two memsets of ~150 bytes per op were 4% of a replay.
	 */
	res->fp.site = EPTF_SITE_NONE;
	res->fp.items = NULL;
	res->fp.nitems = 0;
	res->fp.roots = NULL;
	res->fp.nroots = 0;
	res->loaded_root = 0;
	res->access_root = 0;
	res->faulted = false;
	res->guest_fault = false;
	res->young = 0;
	res->dirty_pages = 0;
	if (m->ctx_used) {
		memset(&m->ctx, 0, sizeof(m->ctx));
		m->ctx_used = false;
	}
	m->ctx_gfn_set = false;
	m->site = EPTF_SITE_NONE;
	m->nitems = 0;
	m->err = 0;

	switch (op->kind) {
	case EPTF_OP_SLOT_ADD:
		ret = op_slot_add(m, op);
		break;
	case EPTF_OP_SLOT_DELETE:
		ret = op_slot_delete(m, op);
		break;
	case EPTF_OP_SLOT_MOVE:
		ret = op_slot_move(m, op);
		break;
	case EPTF_OP_SLOT_FLAGS:
		ret = op_slot_flags(m, op);
		break;
	case EPTF_OP_ROOT_LOAD:
		ret = op_root_load(m, op, res);
		break;
	case EPTF_OP_MAP:
		ret = op_map(m, op, res);
		break;
	case EPTF_OP_ACCESS:
		ret = op_access(m, op, res);
		break;
	case EPTF_OP_ZAP_RANGE:
		ret = op_zap_range(m, op);
		break;
	case EPTF_OP_PREPARE_ZAP:
		ret = op_prepare_zap(m, op);
		break;
	case EPTF_OP_COMMIT_ZAP:
		ret = op_commit_zap(m);
		break;
	case EPTF_OP_GET_DIRTY_LOG:
		ret = op_dirty_log(m, op, false, res);
		break;
	case EPTF_OP_CLEAR_DIRTY_LOG:
		ret = op_dirty_log(m, op, true, res);
		break;
	case EPTF_OP_WP_GFN:
		ret = op_wp_gfn(m, op);
		break;
	case EPTF_OP_CLEAR_FLUSH_YOUNG:
		ret = op_age(m, op, true, res);
		break;
	case EPTF_OP_CLEAR_YOUNG:
		ret = op_age(m, op, false, res);
		break;
	case EPTF_OP_UNMAP_HVA:
		ret = op_unmap(m, op);
		break;
	case EPTF_OP_GPT_WRITE:
		ret = op_gpt_write(m, op);
		break;
	case EPTF_OP_SYNC:
		ret = op_sync(m, op);
		break;
	default:
		ret = EPTF_EINVAL;
		break;
	}
	if (ret >= 0 && m->err)
		ret = m->err;
	if (ret < 0) {
		/* refused ops changed nothing; after an allocation failure drop what was collected */
		eptf_mmu_finish(m);
		memset(res, 0, sizeof(*res));
		return ret;
	}
	if (m->nitems) {
		struct eptf_flush_point *fp = &res->fp;
		*fp = m->ctx;
		fp->site = m->site;
		fp->op_index = op_index;
		fp->items = m->items;
		fp->nitems = m->nitems;
		fp->roots = m->rootref;
		fp->nroots = collect_roots(m);
		m->pending = true;
	}
	return 0;
}

void eptf_mmu_finish(struct eptf_mmu *m)
{
	if (!m)
		return;
	m->last.valid = false;
	for (size_t k = 0; k < m->tofree.n; k++) {
		const struct sp *sp = SP(m, m->tofree.v[k]);
		uint64_t root_hpa = sp->level == 4 ? sp->hpa : 0;
		for (unsigned v = 0; sp->level == 4 && v < m->nr_vcpus; v++)
			if (m->vcpu[v].root == NIL && m->vcpu[v].loaded && m->vcpu[v].hpa == sp->hpa)
				m->vcpu[v].retired = true;
		sp_release(m, m->tofree.v[k]);
		if (root_hpa && m->root_freed)
			m->root_freed(m->root_freed_ctx, root_hpa);
	}
	m->tofree.n = 0;
	m->nitems = 0;
	/* a slot-wide flush point can hold millions of items: do not keep that much for the next one */
	if (m->capitems > ITEMS_KEEP) {
		zfree(m, m->items, m->capitems * sizeof(*m->items));
		m->items = NULL;
		m->capitems = 0;
	}
	m->site = EPTF_SITE_NONE;
	m->pending = false;
}

void eptf_mmu_set_root_freed(struct eptf_mmu *m, eptf_root_freed_fn fn, void *ctx)
{
	if (!m)
		return;
	m->root_freed = fn;
	m->root_freed_ctx = ctx;
}

/* The translation of @addr by the leaf SPTE @s at level @lv. */
static void xlate_fill(uint64_t s, unsigned lv, uint64_t addr, struct eptf_xlate *out)
{
	out->frame = SPTE_FRAME(s) + (addr & (PPL(lv) - 1));
	out->level = (uint8_t)lv;
	out->writable = s & SPTE_W;
	out->executable = s & SPTE_X;
	out->accessed = s & SPTE_A;
}

static int xlate_walk(const struct eptf_mmu *m, uint64_t root_hpa, uint64_t addr, struct eptf_xlate *out)
{
	uint64_t v;

	if (!eptf_u64map_get(&m->roots, root_hpa, &v))
		return EPTF_ENOENT;
	uint32_t cur = (uint32_t)v;
	for (unsigned lv = 4; lv >= 1; lv--) {
		uint64_t s = SP(m, cur)->spt[spte_index(addr, lv)];
		if (!(s & SPTE_P))
			return EPTF_ENOENT;
		if (!(s & SPTE_LINK)) {
			xlate_fill(s, lv, addr, out);
			return 0;
		}
		cur = SPTE_CHILD(s);
	}
	return EPTF_ENOENT;
}

int eptf_mmu_translate(const struct eptf_mmu *m, uint64_t root_hpa, uint64_t addr, struct eptf_xlate *out)
{
	if (!m || !out || addr >= INPUT_LIMIT)
		return EPTF_ENOENT;
	if (m->last.valid && m->last.root_hpa == root_hpa && m->last.addr == addr) {
		const struct sp *sp = SP(m, m->last.leaf);
		xlate_fill(sp->spt[m->last.i], sp->level, addr, out);
#ifndef NDEBUG
		struct eptf_xlate w;
		assert(xlate_walk(m, root_hpa, addr, &w) == 0 && w.frame == out->frame && w.level == out->level &&
		       w.writable == out->writable && w.executable == out->executable &&
		       w.accessed == out->accessed);
#endif
		return 0;
	}
	return xlate_walk(m, root_hpa, addr, out);
}

void eptf_mmu_prefetch(const struct eptf_mmu *m, const struct eptf_op *op)
{
	if (!m || !op || op->kind != EPTF_OP_ACCESS || op->vcpu >= m->nr_vcpus || op->addr >= INPUT_LIMIT)
		return;
	/* a vCPU's root is a live page or NIL, and every present link leads to a live page */
	uint32_t cur = m->vcpu[op->vcpu].root;
	if (cur == NIL)
		return;
	for (unsigned lv = 4; lv >= 2; lv--) {
		uint64_t s = SP(m, cur)->spt[spte_index(op->addr, lv)];
		if ((s & (SPTE_P | SPTE_LINK)) != (SPTE_P | SPTE_LINK))
			return;
		cur = SPTE_CHILD(s);
	}
	const struct sp *sp = SP(m, cur);
	__builtin_prefetch(sp);
	__builtin_prefetch(&sp->spt[spte_index(op->addr, 1)]);
}

uint64_t eptf_mmu_vcpu_root(const struct eptf_mmu *m, unsigned vcpu)
{
	if (!m || vcpu >= m->nr_vcpus || !m->vcpu[vcpu].loaded || m->vcpu[vcpu].retired)
		return 0;
	return m->vcpu[vcpu].hpa;
}

void eptf_mmu_get_stats(const struct eptf_mmu *m, struct eptf_mmu_stats *st)
{
	if (m && st)
		*st = m->st;
}

int eptf_mmu_get_memslot(const struct eptf_mmu *m, uint32_t slot, struct eptf_memslot_info *out)
{
	const struct slot *s = m ? slot_by_id(m, slot) : NULL;

	if (!s)
		return EPTF_ENOENT;
	if (out) {
		out->slot = s->id;
		out->base_gfn = s->base;
		out->npages = s->npages;
		out->hva = s->hva;
		out->flags = s->flags;
	}
	return 0;
}

/* ---- consistency check (tests) -------------------------------------- */

static bool rmap_has(uint64_t h, uint64_t ref)
{
	size_t n = rmap_count(h);
	for (size_t k = 0; k < n; k++)
		if (rmap_at(h, k) == ref)
			return true;
	return false;
}

static bool parents_have(const struct sp *c, uint64_t ref)
{
	if (c->parent0 == ref)
		return true;
	for (uint32_t k = 0; k < c->nxpar; k++)
		if (c->xpar[k] == ref)
			return true;
	return false;
}

static bool all_zero(const void *p, size_t sz)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < sz; i++)
		if (b[i])
			return false;
	return true;
}

int eptf_mmu_check(const struct eptf_mmu *m, struct eptf_mmu_stats *recount)
{
	struct eptf_mmu_stats st;
	uint64_t refs = 0;

	memset(&st, 0, sizeof(st));
	st.zapped_pages = m->st.zapped_pages;
	st.faults = m->st.faults;
	/* every allocation the model charges to stats.bytes */
	st.bytes = sizeof(*m) + m->nchunk * CHUNK_SPS * sizeof(struct sp) +
		   m->nbucket * sizeof(uint32_t) + m->capslot * sizeof(struct slot) +
		   (m->roots.cap + m->track.cap + m->lpage.cap + m->gpt.cap) * 2 * sizeof(uint64_t) +
		   m->gpt.n * NSPTE * sizeof(uint64_t) +
		   (m->unsync.cap + m->invalid.cap + m->tofree.cap) * sizeof(uint32_t) +
		   m->capitems * sizeof(struct eptf_inval) + m->tpool.n * TBL_BYTES + m->cpool.n * RCHUNK_BYTES +
		   m->dpool.n * sizeof(struct rdir) + m->tpool.nfresh * TBL_BYTES + m->cpool.nfresh * RCHUNK_BYTES +
		   m->dpool.nfresh * sizeof(struct rdir) +
		   (m->tpool.cap + m->cpool.cap + m->dpool.cap + m->batches.cap + m->arenas.cap) * sizeof(void *) +
		   m->arena_left + m->arena_waste;
	/* pooled objects are all zero: the next user relies on it */
	for (size_t k = 0; k < m->tpool.n; k++)
		if (!all_zero(m->tpool.v[k], TBL_BYTES))
			return EPTF_EINVAL;
	for (size_t k = 0; k < m->cpool.n; k++)
		if (!all_zero(m->cpool.v[k], RCHUNK_BYTES))
			return EPTF_EINVAL;
	for (size_t k = 0; k < m->dpool.n; k++)
		if (!all_zero(m->dpool.v[k], sizeof(struct rdir)))
			return EPTF_EINVAL;
	for (uint32_t idx = 1; idx < m->nsp; idx++) {
		const struct sp *sp = SP(m, idx);
		unsigned present = 0;
		if (!sp->used)
			continue;
		st.bytes += TBL_BYTES * ((sp->spt != SPT_ZERO) + (sp->gfns != NULL)) + sp->capxpar * sizeof(uint64_t);
		if (!sp->invalid) {
			st.pages++;
			struct sp_key k = { sp->gfn, sp->base, sp->level, sp->as, sp->access, sp->direct, sp->shadows };
			if (sp_lookup(m, &k) != idx)
				return EPTF_EINVAL;
		}
		for (unsigned i = 0; i < NSPTE; i++) {
			uint64_t s = sp->spt[i];
			if (!!(s & SPTE_P) != ((SPT_PRESENT(sp->spt)[i / 64] >> (i % 64)) & 1))
				return EPTF_EINVAL; /* the presence bitmap is exact */
			if (!(s & SPTE_P))
				continue;
			present++;
			if (s & SPTE_LINK) {
				const struct sp *c = SP(m, SPTE_CHILD(s));
				if (!c->used || c->invalid || c->level + 1 != sp->level || !parents_have(c, REF(idx, i)))
					return EPTF_EINVAL;
				continue;
			}
			if (sp->invalid)
				return EPTF_EINVAL;
			st.leaf_sptes++;
			st.mapped_4k += PPL(sp->level);
			uint64_t g = leaf_gfn(sp, i);
			const struct slot *sl = slot_lookup(m, sp->as, g);
			if (!sl || SPTE_FRAME(s) != slot_frame(sl, g) || !!(s & SPTE_HUGE) != (sp->level > 1))
				return EPTF_EINVAL;
			const uint64_t *h = rmap_peek(sl, sp->level, g);
			if (!h || !rmap_has(*h, REF(idx, i)))
				return EPTF_EINVAL;
		}
		if (present != sp->nr_present)
			return EPTF_EINVAL;
		if (sp->parent0) {
			const struct sp *p = SP(m, REF_IDX(sp->parent0));
			if (p->spt[REF_I(sp->parent0)] != (((uint64_t)idx << SPTE_SHIFT) | SPTE_P | SPTE_LINK))
				return EPTF_EINVAL;
		}
	}
	for (size_t k = 0; k < m->nslot; k++) {
		const struct slot *s = &m->slot[k];
		if (s->dirty) {
			st.bytes += bitmap_bytes(s->npages);
			for (size_t w = 0; w < dirty_words(s->npages); w++)
				if ((uint64_t)(s->dirty[w] != 0) != ((dirty_sum(s)[w / 64] >> (w % 64)) & 1) ||
				    (s->dirty[w] && !(s->flags & EPTF_SLOTF_DIRTY_LOG)))
					return EPTF_EINVAL; /* the summary is exact; a kept bitmap is zero */
		}
		for (unsigned l = 0; l < 3; l++) {
			st.bytes += s->ndirs[l] * sizeof(struct rdir *);
			for (size_t d = 0; d < s->ndirs[l]; d++) {
				const struct rdir *r = s->rdir[l][d];
				unsigned chunks = 0;
				if (!r)
					continue;
				st.bytes += sizeof(*r);
				for (unsigned c = 0; c < RDIR; c++) {
					const uint64_t *chunk = r->chunk[c];
					unsigned used = 0;
					bool live = (r->live[c / 64] >> (c % 64)) & 1;
					bool fw = (r->flagged[0][c / 64] >> (c % 64)) & 1;
					bool fa = (r->flagged[1][c / 64] >> (c % 64)) & 1;
					if (!chunk) {
						if (r->count[c] || live || fw || fa)
							return EPTF_EINVAL;
						continue;
					}
					if ((chunk[RCHUNK_W] && !fw) || (chunk[RCHUNK_A] && !fa))
						return EPTF_EINVAL; /* the directory's summaries are supersets */
					if (!live)
						return EPTF_EINVAL;
					chunks++;
					st.bytes += RCHUNK_BYTES;
					for (unsigned e = 0; e < RCHUNK; e++) {
						uint64_t h = chunk[e];
						used += h != 0;
						if ((uint64_t)(h != 0) != ((chunk[RCHUNK_OCC] >> e) & 1))
							return EPTF_EINVAL; /* the occupancy word is exact */
						if (!h && (((chunk[RCHUNK_W] | chunk[RCHUNK_A]) >> e) & 1))
							return EPTF_EINVAL; /* no summary bit on an empty head */
						for (size_t j = 0; j < rmap_count(h); j++) {
							uint64_t ref = rmap_at(h, j);
							uint64_t spte = SP(m, REF_IDX(ref))->spt[REF_I(ref)];
							/* the summaries are supersets */
							if ((spte & SPTE_W) && !((chunk[RCHUNK_W] >> e) & 1))
								return EPTF_EINVAL;
							if ((spte & SPTE_A) && !((chunk[RCHUNK_A] >> e) & 1))
								return EPTF_EINVAL;
						}
						refs += rmap_count(h);
						if (h && !(h & 1))
							st.bytes += sizeof(struct rmap_desc) + rmap_desc(h)->cap * sizeof(uint64_t);
					}
					if (!used || used != r->count[c])
						return EPTF_EINVAL; /* an empty chunk is freed; the count is exact */
				}
				if (!chunks || chunks != r->used)
					return EPTF_EINVAL; /* an empty directory page is freed */
			}
		}
	}
	if (refs != st.leaf_sptes)
		return EPTF_EINVAL;
	if (recount)
		*recount = st;
	if (st.pages != m->st.pages || st.leaf_sptes != m->st.leaf_sptes || st.mapped_4k != m->st.mapped_4k ||
	    st.bytes != m->st.bytes)
		return EPTF_EINVAL;
	return 0;
}
