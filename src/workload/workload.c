/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Workload registry, parameters, the op queue, the PRNG and the fixed-size
 * trackers shared by the generators (see wl.h for the overall shape).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eptflush/error.h>

#include "wl.h"

const struct eptf_workload_desc eptf_workloads[] = {
	{"boot", "vCPUs fault in the guest's memory (2 MiB / 1 GiB pages where aligned), then run"},
	{"migrate", "live migration: dirty logging, rounds of get/clear dirty log over a shrinking "
		    "working set"},
	{"overcommit", "host memory pressure: clear_(flush_)young scans, unmaps of cold ranges, refaults"},
	{"shadow", "shadow paging: guest page-table churn (fork, copy-on-write, exit): unsync, sync, "
		   "indirect zaps"},
	{"hugepage", "2 MiB / 1 GiB maps, splits and collapses, direct zaps, memslot moves and deletes"},
	{"mixed", "all of the above interleaved across vCPUs"},
	{NULL, NULL},
};

void eptf_workload_params_default(struct eptf_workload_params *p)
{
	p->guest_pages = 1ull << 20; /* 4 GiB */
	p->nr_vcpus = 4;
	p->ops = 10000;
	p->seed = 1;
}

/* ---- PRNG: xoshiro256** seeded through splitmix64 (Blackman & Vigna) ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t wl_rand(struct eptf_workload *w)
{
	uint64_t *s = w->rng;
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

uint64_t wl_below(struct eptf_workload *w, uint64_t n)
{
	/* Lemire's multiply-shift would need 128-bit math; rejection keeps it exact */
	uint64_t lim = UINT64_MAX - UINT64_MAX % n, r;

	do
		r = wl_rand(w);
	while (r >= lim);
	return r % n;
}

bool wl_chance(struct eptf_workload *w, unsigned percent)
{
	return wl_below(w, 100) < percent;
}

struct eptf_op *wl_push(struct eptf_workload *w, uint32_t kind)
{
	struct eptf_op *op;

	if (w->qlen == WL_QCAP)
		abort(); /* a burst larger than the queue: a generator bug (see wl.h) */
	op = &w->q[(w->qhead + w->qlen++) % WL_QCAP];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	return op;
}

/* ---- trackers ----------------------------------------------------------- */

#define PROBES 64

static size_t track_hash(const struct wl_track *t, uint64_t idx)
{
	uint64_t x = idx * 0x9e3779b97f4a7c15ull;

	return (size_t)(x ^ (x >> 29)) & (t->cap - 1);
}

uint8_t wl_track_get(const struct wl_track *t, uint64_t idx)
{
	size_t h = track_hash(t, idx);

	for (int i = 0; i < PROBES; i++) {
		size_t j = (h + (size_t)i) & (t->cap - 1);

		if (t->key[j] == idx + 1)
			return t->st[j];
		if (t->key[j] == 0)
			return T_NONE;
	}
	return T_NONE;
}

void wl_track_set(struct wl_track *t, uint64_t idx, uint8_t st)
{
	size_t h = track_hash(t, idx), reuse = SIZE_MAX;

	for (int i = 0; i < PROBES; i++) {
		size_t j = (h + (size_t)i) & (t->cap - 1);

		if (t->key[j] == idx + 1) {
			t->st[j] = st;
			return;
		}
		if (t->key[j] == 0) {
			if (st == T_NONE)
				return;
			if (reuse == SIZE_MAX)
				reuse = j;
			break;
		}
		if (t->st[j] == T_NONE && reuse == SIZE_MAX)
			reuse = j;
	}
	/*
	 * Not present: take an empty slot, or one whose state is T_NONE (it
	 * stays on every probe chain, so no lookup breaks). Full: forget it;
	 * a tracker only ever under-reports what exists.
	 */
	if (st != T_NONE && reuse != SIZE_MAX) {
		t->key[reuse] = idx + 1;
		t->st[reuse] = st;
	}
}

void wl_track_clear_range(struct wl_track *t, uint64_t lo, uint64_t hi)
{
	for (size_t j = 0; j < t->cap; j++)
		if (t->key[j] && t->key[j] - 1 >= lo && t->key[j] - 1 < hi)
			t->st[j] = T_NONE;
}

bool wl_track_pick(struct eptf_workload *w, const struct wl_track *t, uint8_t st, uint64_t *idx)
{
	size_t start = (size_t)wl_below(w, t->cap);

	for (size_t i = 0; i < t->cap; i++) {
		size_t j = (start + i) & (t->cap - 1);

		if (t->key[j] && t->st[j] == st) {
			*idx = t->key[j] - 1;
			return true;
		}
	}
	return false;
}

static int track_init(struct wl_track *t, size_t cap)
{
	t->cap = cap;
	t->key = calloc(cap, sizeof(*t->key));
	t->st = calloc(cap, sizeof(*t->st));
	return t->key && t->st ? 0 : EPTF_ENOMEM;
}

static void track_free(struct wl_track *t)
{
	free(t->key);
	free(t->st);
}

/* ---- schedule ------------------------------------------------------------ */

static const struct {
	const char *name;
	enum wl_kind kind;
	unsigned prefix_chunks; /* fault-in pass before the steady state (0: whole working set) */
	unsigned weight[B_COUNT];
} kinds[] = {
	{"boot", WK_BOOT, 0, {[B_FILL] = 1, [B_TOUCH] = 3}},
	{"migrate", WK_MIGRATE, 256, {[B_MIGRATE] = 2, [B_TOUCH] = 1}},
	{"overcommit", WK_OVERCOMMIT, 256, {[B_AGE] = 2, [B_RECLAIM] = 2, [B_TOUCH] = 2}},
	{"shadow", WK_SHADOW, 0, {[B_SHADOW] = 1}},
	{"hugepage", WK_HUGEPAGE, 64, {[B_HUGE] = 6, [B_ZAP] = 4, [B_BAR] = 2}},
	{"mixed", WK_MIXED, 128,
	 {[B_FILL] = 1, [B_TOUCH] = 2, [B_MIGRATE] = 1, [B_AGE] = 1, [B_RECLAIM] = 1, [B_HUGE] = 1,
	  [B_ZAP] = 1, [B_BAR] = 1, [B_SHADOW] = 3}},
};

static void run_burst(struct eptf_workload *w, enum wl_burst b)
{
	switch (b) {
	case B_FILL: wl_burst_fill(w); break;
	case B_TOUCH: wl_burst_touch(w); break;
	case B_MIGRATE: wl_burst_migrate(w); break;
	case B_AGE: wl_burst_age(w); break;
	case B_RECLAIM: wl_burst_reclaim(w); break;
	case B_HUGE: wl_burst_huge(w); break;
	case B_ZAP: wl_burst_zap(w); break;
	case B_BAR: wl_burst_bar(w); break;
	case B_SHADOW: wl_burst_shadow(w); break;
	case B_COUNT: break;
	}
}

static void step(struct eptf_workload *w)
{
	unsigned total = 0, pick;
	int b;

	if (!w->setup_done) {
		w->setup_done = true;
		wl_direct_setup(w);
		if (w->kind == WK_SHADOW || w->kind == WK_MIXED)
			wl_shadow_setup(w);
		return;
	}
	if (w->fill_pos < w->fill_end) {
		wl_burst_fill(w);
		return;
	}
	for (b = 0; b < B_COUNT; b++)
		total += w->weight[b];
	pick = (unsigned)wl_below(w, total);
	for (b = 0; b < B_COUNT; b++) {
		if (pick < w->weight[b])
			break;
		pick -= w->weight[b];
	}
	run_burst(w, (enum wl_burst)b);
	/* a burst that found nothing to do (no candidate page): the guest just runs a little */
	if (w->qlen == 0 && w->kind != WK_SHADOW)
		wl_burst_poke(w);
	else if (w->qlen == 0)
		wl_burst_shadow(w);
}

int eptf_workload_create(const char *name, const struct eptf_workload_params *p, struct eptf_workload **out)
{
	struct eptf_workload *w;
	size_t k;
	uint64_t x;

	*out = NULL;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (!strcmp(kinds[k].name, name))
			break;
	if (k == sizeof(kinds) / sizeof(kinds[0]))
		return EPTF_ENOENT;
	/* 2 MiB granularity keeps every slot and window huge-page aligned */
	if (p->guest_pages < 1024 || p->guest_pages % 512 || p->guest_pages > WL_MAX_GUEST_PAGES ||
	    p->nr_vcpus < 1 || p->nr_vcpus > EPTF_MAX_VCPUS || p->ops < 1)
		return EPTF_EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return EPTF_ENOMEM;
	if (track_init(&w->chunks, WL_CHUNK_CAP) || track_init(&w->gigs, WL_GIG_CAP)) {
		eptf_workload_destroy(w);
		return EPTF_ENOMEM;
	}
	w->p = *p;
	w->kind = kinds[k].kind;
	w->name = kinds[k].name;
	memcpy(w->weight, kinds[k].weight, sizeof(w->weight));
	x = p->seed ^ ((uint64_t)w->kind << 56);
	for (int i = 0; i < 4; i++)
		w->rng[i] = splitmix64(&x);
	w->fill_end = kinds[k].prefix_chunks; /* clamped by wl_direct_setup() */
	*out = w;
	return 0;
}

void eptf_workload_header(const struct eptf_workload *w, struct eptf_trace_header *hdr)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->version = EPTF_TRACE_VERSION;
	hdr->nr_vcpus = w->p.nr_vcpus;
	snprintf(hdr->source, sizeof(hdr->source), "synthetic");
	snprintf(hdr->name, sizeof(hdr->name), "%s", w->name);
	snprintf(hdr->detail, sizeof(hdr->detail), "workload=%s guest_pages=0x%llx vcpus=%u ops=%llu seed=%llu",
		 w->name, (unsigned long long)w->p.guest_pages, w->p.nr_vcpus,
		 (unsigned long long)w->p.ops, (unsigned long long)w->p.seed);
}

int eptf_workload_next(struct eptf_workload *w, struct eptf_op *op)
{
	if (w->emitted >= w->p.ops)
		return 0;
	while (w->qlen == 0)
		step(w);
	*op = w->q[w->qhead];
	w->qhead = (w->qhead + 1) % WL_QCAP;
	w->qlen--;
	/* the last op closes an open invalid list, so a trace never ends mid-zap */
	if (w->emitted + 1 == w->p.ops && (w->pending_prepare || op->kind == EPTF_OP_PREPARE_ZAP) &&
	    op->kind != EPTF_OP_COMMIT_ZAP) {
		memset(op, 0, sizeof(*op));
		op->kind = EPTF_OP_COMMIT_ZAP;
	}
	if (op->kind == EPTF_OP_PREPARE_ZAP)
		w->pending_prepare = true;
	else if (op->kind == EPTF_OP_COMMIT_ZAP)
		w->pending_prepare = false;
	w->emitted++;
	return 1;
}

void eptf_workload_destroy(struct eptf_workload *w)
{
	if (!w)
		return;
	track_free(&w->chunks);
	track_free(&w->gigs);
	free(w);
}
