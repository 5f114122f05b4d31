/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Bursts over direct (TDP) roots: memslot layout and fault-in (boot),
 * migration rounds (migrate), aging and reclaim (overcommit), huge-page
 * maps/splits/collapses, direct zaps and the movable device slot
 * (hugepage). Every op names memory inside a memslot, at a level whose
 * range the slot covers, so the L1 model accepts it.
 */
#include <stdlib.h>
#include <string.h>

#include "wl.h"

#define GIG_PAGES (1ull << 18)
#define L3_PAGES (1ull << 27)

/* ---- layout --------------------------------------------------------------- */

const struct wl_slot *wl_slot_of(const struct eptf_workload *w, uint64_t gfn)
{
	for (unsigned i = 0; i <= w->nram; i++) {
		const struct wl_slot *s = &w->slot[i];

		if (s->present && gfn >= s->base && gfn < s->base + s->npages)
			return s;
	}
	return NULL;
}

/* @pages from @gfn lie inside one slot without dirty logging (a huge mapping may go there). */
static bool huge_ok(const struct eptf_workload *w, uint64_t gfn, uint64_t pages)
{
	const struct wl_slot *s = wl_slot_of(w, gfn);

	return s && gfn + pages <= s->base + s->npages && !(s->flags & EPTF_SLOTF_DIRTY_LOG);
}

static uint64_t hva_of(const struct wl_slot *s, uint64_t gfn)
{
	return s->hva + (gfn - s->base) * 4096;
}

static void push_slot_add(struct eptf_workload *w, const struct wl_slot *s)
{
	struct eptf_op *op = wl_push(w, EPTF_OP_SLOT_ADD);

	op->slot = s->id;
	op->addr = s->base;
	op->count = s->npages;
	op->value = s->hva;
	op->flags = (uint8_t)s->flags;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void add_gig(struct eptf_workload *w, uint64_t g)
{
	const struct wl_slot *s;

	if (w->ngig == WL_MAX_GIGS)
		return;
	for (unsigned i = 0; i < w->ngig; i++)
		if (w->gig_cand[i] == g)
			return;
	s = wl_slot_of(w, g * GIG_PAGES);
	if (s && s->id != WL_BAR_SLOT && (g + 1) * GIG_PAGES <= s->base + s->npages)
		w->gig_cand[w->ngig++] = g;
}

void wl_direct_setup(struct eptf_workload *w)
{
	uint64_t G = w->p.guest_pages, part, align, tc, wmax;
	unsigned n = G >= (1ull << 20) ? 4 : G >= 8192 ? 2 : 1;

	/* RAM: n contiguous slots, 1 GiB aligned when large enough; 1 GiB hva gaps between them */
	align = G / n >= GIG_PAGES ? GIG_PAGES : 512;
	part = G / n / align * align;
	w->nram = n;
	for (unsigned i = 0; i < n; i++) {
		struct wl_slot *s = &w->slot[i];

		s->present = true;
		s->id = i;
		s->base = i * part;
		s->npages = i == n - 1 ? G - s->base : part;
		s->hva = WL_HVA_BASE + s->base * 4096 + (uint64_t)i * (GIG_PAGES * 4096);
		push_slot_add(w, s);
	}
	/* the device slot sits above RAM and alternates between two 1 GiB aligned places */
	w->bar_pos[0] = (G + GIG_PAGES - 1) / GIG_PAGES * GIG_PAGES + GIG_PAGES;
	w->bar_pos[1] = w->bar_pos[0] + GIG_PAGES;
	if (w->kind == WK_HUGEPAGE || w->kind == WK_MIXED) {
		struct wl_slot *s = &w->slot[n];

		s->present = true;
		s->id = WL_BAR_SLOT;
		s->base = w->bar_pos[0];
		s->npages = WL_BAR_PAGES;
		s->hva = WL_BAR_HVA;
		push_slot_add(w, s);
	}

	/* working windows: at most WL_MAX_WIN of WL_WIN_CHUNKS chunks, spread over the guest */
	tc = G / 512;
	w->win_chunks = (unsigned)(tc < WL_WIN_CHUNKS ? tc : WL_WIN_CHUNKS);
	wmax = tc / w->win_chunks;
	if (wmax <= WL_MAX_WIN) {
		w->nwin = (unsigned)wmax;
		for (unsigned i = 0; i < w->nwin; i++)
			w->win[i] = (uint64_t)i * w->win_chunks * 512;
	} else {
		w->nwin = 0;
		/* window 0 is low memory (where a guest kernel lives); the rest are random */
		w->win[w->nwin++] = 0;
		while (w->nwin < WL_MAX_WIN) {
			uint64_t g = wl_below(w, wmax) * w->win_chunks * 512;
			bool dup = false;

			for (unsigned i = 0; i < w->nwin; i++)
				dup |= w->win[i] == g;
			if (!dup)
				w->win[w->nwin++] = g;
		}
		qsort(w->win, w->nwin, sizeof(w->win[0]), cmp_u64);
	}
	if (w->fill_end == 0 || w->fill_end > (uint64_t)w->nwin * w->win_chunks)
		w->fill_end = (uint64_t)w->nwin * w->win_chunks;
	if (w->kind == WK_SHADOW)
		w->fill_end = 0;

	/* 1 GiB regions for huge maps: those holding a window, then random ones */
	for (unsigned i = 0; i < w->nwin; i++)
		add_gig(w, w->win[i] / GIG_PAGES);
	for (int tries = 0; tries < 64 && G >= GIG_PAGES; tries++)
		add_gig(w, wl_below(w, G / GIG_PAGES));

	if (w->kind != WK_SHADOW)
		for (unsigned v = 0; v < w->p.nr_vcpus; v++) {
			struct eptf_op *op = wl_push(w, EPTF_OP_ROOT_LOAD);

			op->vcpu = v;
			op->flags = EPTF_OPF_DIRECT;
			w->vmode[v] = 1;
		}
}

/* ---- trackers ------------------------------------------------------------- */

static void l3_set(struct eptf_workload *w, uint64_t gfn)
{
	uint64_t r = gfn / L3_PAGES;

	w->l3[r / 64] |= 1ull << (r % 64);
}

static void track_map(struct eptf_workload *w, uint64_t gfn, unsigned level)
{
	l3_set(w, gfn);
	if (level == 3) {
		wl_track_set(&w->gigs, gfn / GIG_PAGES, T_HUGE);
		/* a 1 GiB leaf replaces the level-2 page and everything under it */
		wl_track_clear_range(&w->chunks, gfn / 512, gfn / 512 + 512);
		return;
	}
	wl_track_set(&w->gigs, gfn / GIG_PAGES, T_TABLE);
	wl_track_set(&w->chunks, gfn / 512, level == 2 ? T_HUGE : T_TABLE);
}

/*
 * Something dropped mappings in [gfn, gfn + pages): forget every page we
 * knew of there. Conservative on purpose: the model may free emptied page
 * tables, and a prepare_zap of a page that is gone is an error.
 */
static void track_drop(struct eptf_workload *w, uint64_t gfn, uint64_t pages)
{
	uint64_t end = gfn + pages;

	wl_track_clear_range(&w->chunks, gfn / 512, (end + 511) / 512);
	wl_track_clear_range(&w->gigs, gfn / GIG_PAGES, (end + GIG_PAGES - 1) / GIG_PAGES);
	for (uint64_t r = gfn / L3_PAGES; r < (end + L3_PAGES - 1) / L3_PAGES && r < WL_L3_REGIONS; r++)
		w->l3[r / 64] &= ~(1ull << (r % 64));
}

/* After a commit that zapped the direct page (level, gfn) with all its children. */
static void track_zap_sp(struct eptf_workload *w, unsigned level, uint64_t gfn)
{
	if (level == 1) {
		wl_track_set(&w->chunks, gfn / 512, T_NONE);
	} else if (level == 2) {
		wl_track_set(&w->gigs, gfn / GIG_PAGES, T_NONE);
		wl_track_clear_range(&w->chunks, gfn / 512, gfn / 512 + 512);
	} else {
		track_drop(w, gfn, L3_PAGES);
	}
}

/* ---- emitters ------------------------------------------------------------- */

unsigned wl_direct_vcpu(struct eptf_workload *w)
{
	unsigned v = (unsigned)wl_below(w, w->p.nr_vcpus);

	if (w->vmode[v] != 1) {
		struct eptf_op *op = wl_push(w, EPTF_OP_ROOT_LOAD);

		op->vcpu = v;
		op->flags = EPTF_OPF_DIRECT;
		w->vmode[v] = 1;
	}
	return v;
}

static uint64_t uniform_page(struct eptf_workload *w)
{
	return w->win[wl_below(w, w->nwin)] + wl_below(w, (uint64_t)w->win_chunks * 512);
}

/*
 * A working-set page with locality: WL_HOT_PERCENT of the picks come from a
 * hot set of WL_HOT pages (it fits the parent's default 2048-entry TLB, so
 * what a flush drops shows up as misses and violations), the rest are
 * uniform over the working set; one pick in 64 moves a hot page elsewhere.
 */
uint64_t wl_ws_page(struct eptf_workload *w)
{
	if (!w->hot_ready) {
		w->hot_ready = true;
		for (unsigned i = 0; i < WL_HOT; i++)
			w->hot[i] = uniform_page(w);
	}
	if (wl_below(w, 64) == 0)
		w->hot[wl_below(w, WL_HOT)] = uniform_page(w);
	if (wl_chance(w, WL_HOT_PERCENT))
		return w->hot[wl_below(w, WL_HOT)];
	return uniform_page(w);
}

/*
 * The @cpos-th chunk of the working set, interleaved over the windows so
 * that any prefix of the working set (a fill prefix, a migration round's
 * shrinking set) spans the whole guest.
 */
static uint64_t ws_chunk_gfn(const struct eptf_workload *w, uint64_t cpos)
{
	return w->win[cpos % w->nwin] + (cpos / w->nwin) * 512;
}

static void e_map(struct eptf_workload *w, unsigned v, uint64_t gfn, unsigned level, uint8_t flags)
{
	struct eptf_op *op = wl_push(w, EPTF_OP_MAP);

	op->vcpu = v;
	op->addr = gfn;
	op->level = (uint8_t)level;
	op->flags = flags;
	track_map(w, gfn, level);
}

static void e_access(struct eptf_workload *w, unsigned v, uint64_t gfn, uint8_t flags)
{
	struct eptf_op *op = wl_push(w, EPTF_OP_ACCESS);

	op->vcpu = v;
	op->addr = gfn;
	op->flags = flags;
}

static void e_hva(struct eptf_workload *w, uint32_t kind, uint64_t gfn, uint64_t pages)
{
	const struct wl_slot *s = wl_slot_of(w, gfn);
	struct eptf_op *op;

	if (!s)
		return;
	if (gfn + pages > s->base + s->npages)
		pages = s->base + s->npages - gfn;
	op = wl_push(w, kind);
	op->addr = hva_of(s, gfn);
	op->count = op->addr + pages * 4096;
	if (kind == EPTF_OP_UNMAP_HVA)
		track_drop(w, gfn, pages);
}

static uint8_t data_flags(struct eptf_workload *w)
{
	return (uint8_t)(EPTF_OPF_WRITE | (wl_chance(w, 20) ? EPTF_OPF_EXEC : 0));
}

/* ---- bursts --------------------------------------------------------------- */

void wl_burst_fill(struct eptf_workload *w)
{
	uint64_t total = (uint64_t)w->nwin * w->win_chunks;
	uint64_t cpos = w->fill_pos++ % total;
	uint64_t gfn = ws_chunk_gfn(w, cpos);
	unsigned v = wl_direct_vcpu(w);
	bool huge_kind = w->kind != WK_MIGRATE;

	if (huge_kind && gfn % GIG_PAGES == 0 && huge_ok(w, gfn, GIG_PAGES) && wl_chance(w, 25)) {
		e_map(w, v, gfn, 3, data_flags(w));
		for (int i = 0; i < 4; i++)
			e_access(w, v, gfn + wl_below(w, GIG_PAGES), wl_chance(w, 30) ? EPTF_OPF_WRITE : 0);
		return;
	}
	if (huge_kind && huge_ok(w, gfn, 512) && wl_chance(w, 30)) {
		e_map(w, v, gfn, 2, data_flags(w));
		for (int i = 0; i < 4; i++)
			e_access(w, v, gfn + wl_below(w, 512), wl_chance(w, 30) ? EPTF_OPF_WRITE : 0);
		return;
	}
	for (uint64_t n = 4 + wl_below(w, 12); n; n--) {
		uint64_t page = gfn + wl_below(w, 512);

		e_map(w, v, page, 1, data_flags(w));
		e_access(w, v, page, wl_chance(w, 50) ? EPTF_OPF_WRITE : 0);
	}
}

void wl_burst_touch(struct eptf_workload *w)
{
	unsigned v = wl_direct_vcpu(w);

	for (uint64_t n = 16 + wl_below(w, 48); n; n--)
		e_access(w, v, wl_ws_page(w), wl_chance(w, 30) ? EPTF_OPF_WRITE : 0);
}

void wl_burst_poke(struct eptf_workload *w)
{
	unsigned v = wl_direct_vcpu(w);

	for (uint64_t n = 1 + wl_below(w, 4); n; n--)
		e_access(w, v, wl_ws_page(w), wl_chance(w, 30) ? EPTF_OPF_WRITE : 0);
}

static void set_dirty_logging(struct eptf_workload *w, bool on)
{
	for (unsigned i = 0; i < w->nram; i++) {
		struct eptf_op *op = wl_push(w, EPTF_OP_SLOT_FLAGS);

		w->slot[i].flags = on ? EPTF_SLOTF_DIRTY_LOG : 0;
		op->slot = w->slot[i].id;
		op->flags = (uint8_t)w->slot[i].flags;
	}
}

/*
 * One step of a migration: dirty logging on; then rounds in which vCPUs
 * write a working set that halves each round and the VMM harvests it with
 * get (sometimes) and clear (64-page masks, manual protect); then a final
 * harvest and dirty logging off, and it starts over.
 */
void wl_burst_migrate(struct eptf_workload *w)
{
	uint64_t total = (uint64_t)w->nwin * w->win_chunks, n = 0;

	if (w->mig_phase == 0) {
		set_dirty_logging(w, true);
		/* the first round's working set: at most 512 MiB, halving each round */
		w->mig_ws = total < 256 ? total : 256;
		w->mig_round = 0;
		/* the pages the guest keeps writing; round r writes a prefix of them */
		for (unsigned i = 0; i < WL_MIG_SET; i++)
			w->mig_set[i] = ws_chunk_gfn(w, wl_below(w, w->mig_ws)) + wl_below(w, 512);
		w->mig_phase = 1;
		return;
	}
	if (w->mig_phase == 2) {
		for (unsigned i = 0; i < w->nram; i++)
			wl_push(w, EPTF_OP_GET_DIRTY_LOG)->slot = w->slot[i].id;
		set_dirty_logging(w, false);
		w->mig_phase = 0;
		return;
	}
	/*
	 * A round lasts as long as sending the last round's dirty pages: the
	 * set written shrinks with the working set (2 pages per chunk), and
	 * each page of it is written about twice (a write after the clear
	 * re-protected it takes a write fault again).
	 */
	uint64_t set = w->mig_ws * 2 < WL_MIG_SET ? w->mig_ws * 2 : WL_MIG_SET;
	uint64_t cap = w->kind == WK_MIXED ? 128 : 2 * WL_MIG_SET;
	uint64_t writes = 2 * set < cap ? 2 * set : cap;
	for (uint64_t i = 0; i < writes; i++) {
		uint64_t gfn = w->mig_set[wl_below(w, set)];
		unsigned v = wl_direct_vcpu(w);

		e_access(w, v, gfn, EPTF_OPF_WRITE);
		w->dirty[n++] = gfn;
	}
	qsort(w->dirty, n, sizeof(w->dirty[0]), cmp_u64);
	for (unsigned i = 0; i < w->nram; i++) {
		const struct wl_slot *s = &w->slot[i];

		if (!wl_chance(w, 30))
			continue;
		for (uint64_t j = 0; j < n; j++)
			if (w->dirty[j] >= s->base && w->dirty[j] < s->base + s->npages) {
				wl_push(w, EPTF_OP_GET_DIRTY_LOG)->slot = s->id;
				break;
			}
	}
	for (uint64_t j = 0; j < n;) {
		const struct wl_slot *s = wl_slot_of(w, w->dirty[j]);

		if (!s) { /* cannot happen: every dirtied page came from the working set */
			j++;
			continue;
		}
		uint64_t first = (w->dirty[j] - s->base) & ~63ull, mask = 0;

		while (j < n && w->dirty[j] >= s->base + first && w->dirty[j] < s->base + first + 64)
			mask |= 1ull << (w->dirty[j++] - s->base - first);
		struct eptf_op *op = wl_push(w, EPTF_OP_CLEAR_DIRTY_LOG);
		op->slot = s->id;
		op->addr = first;
		op->value = mask;
	}
	w->mig_round++;
	w->mig_ws /= 2;
	if (w->mig_ws == 0)
		w->mig_phase = 2;
}

/*
 * Aging, as the host's reclaim does it: a clear_young sweep over one
 * window's hva range (MGLRU's walk) and clear_flush_young on a few small
 * ranges (rmap-based reclaim checking single pages).
 */
void wl_burst_age(struct eptf_workload *w)
{
	uint64_t base = w->win[w->age_cursor++ % w->nwin], pages = (uint64_t)w->win_chunks * 512;

	for (uint64_t g = base; g < base + pages;) {
		const struct wl_slot *s = wl_slot_of(w, g);

		if (!s)
			break; /* cannot happen: windows lie in RAM slots */
		uint64_t end = s->base + s->npages < base + pages ? s->base + s->npages : base + pages;

		e_hva(w, EPTF_OP_CLEAR_YOUNG, g, end - g);
		g = end;
	}
	for (uint64_t n = 4 + wl_below(w, 12); n; n--)
		e_hva(w, EPTF_OP_CLEAR_FLUSH_YOUNG, base + wl_below(w, pages), 1 + wl_below(w, 16));
	/* the guest keeps running between scans, mostly on its hot set */
	unsigned v = wl_direct_vcpu(w);
	for (uint64_t n = 8 + wl_below(w, 24); n; n--)
		e_access(w, v, wl_ws_page(w), wl_chance(w, 30) ? EPTF_OPF_WRITE : 0);
}

/*
 * Unmap cold ranges (swap-out, balloon, THP split on the host), then
 * refault some. Cold: in a chunk the fault-in pass went through, drawn
 * uniformly, not from the hot set that the host's LRU would keep.
 */
void wl_burst_reclaim(struct eptf_workload *w)
{
	uint64_t total = (uint64_t)w->nwin * w->win_chunks;
	uint64_t filled = w->fill_pos < total ? w->fill_pos : total;

	for (uint64_t n = 1 + wl_below(w, 3); n; n--) {
		uint64_t gfn = filled ? ws_chunk_gfn(w, wl_below(w, filled)) + wl_below(w, 512) : uniform_page(w);
		uint64_t pages;

		switch (wl_below(w, 3)) {
		case 0: pages = 1 + wl_below(w, 64); break;
		case 1: gfn &= ~511ull; pages = 512; break;
		default: gfn &= ~511ull; pages = 512 * (1 + wl_below(w, 4)); break;
		}
		e_hva(w, EPTF_OP_UNMAP_HVA, gfn, pages);
		w->cold[w->ncold++ % 16] = gfn;
	}
	unsigned v = wl_direct_vcpu(w);
	unsigned known = w->ncold < 16 ? w->ncold : 16;
	for (uint64_t n = 4 + wl_below(w, 12); n; n--) {
		uint64_t gfn = w->cold[wl_below(w, known)] + wl_below(w, 64);

		if (!wl_slot_of(w, gfn))
			continue;
		if (wl_chance(w, 30))
			e_map(w, v, gfn, 1, data_flags(w));
		e_access(w, v, gfn, wl_chance(w, 30) ? EPTF_OPF_WRITE : 0);
	}
}

static bool pick_gig(struct eptf_workload *w, uint8_t st, uint64_t *g)
{
	unsigned start = (unsigned)wl_below(w, w->ngig ? w->ngig : 1);

	for (unsigned i = 0; i < w->ngig; i++) {
		uint64_t c = w->gig_cand[(start + i) % w->ngig];

		if (w->nwp && w->ngig > 1 && c == w->gig_cand[0])
			continue; /* holds write-tracked gfns: never huge again */
		if (wl_track_get(&w->gigs, c) == st && huge_ok(w, c * GIG_PAGES, GIG_PAGES)) {
			*g = c;
			return true;
		}
	}
	return false;
}

/* Huge-page maps, splits (a smaller map inside a huge one) and collapses (a huge map over a table). */
void wl_burst_huge(struct eptf_workload *w)
{
	unsigned v = wl_direct_vcpu(w);
	uint64_t idx, gfn;

	switch (wl_below(w, 6)) {
	case 0: /* split a 2 MiB mapping */
		if (wl_track_pick(w, &w->chunks, T_HUGE, &idx) && wl_slot_of(w, idx * 512)) {
			gfn = idx * 512 + wl_below(w, 512);
			e_map(w, v, gfn, 1, data_flags(w));
			e_access(w, v, gfn, EPTF_OPF_WRITE);
			break;
		}
		/* fall through */
	case 1: /* map 2 MiB */
		gfn = wl_ws_page(w) & ~511ull;
		if (huge_ok(w, gfn, 512)) {
			e_map(w, v, gfn, 2, data_flags(w));
			e_access(w, v, gfn + wl_below(w, 512), 0);
		}
		break;
	case 2: /* collapse a level-1 table into 2 MiB */
		if (wl_track_pick(w, &w->chunks, T_TABLE, &idx) && huge_ok(w, idx * 512, 512)) {
			e_map(w, v, idx * 512, 2, data_flags(w));
			e_access(w, v, idx * 512 + wl_below(w, 512), EPTF_OPF_WRITE);
		}
		break;
	case 3: /* split a 1 GiB mapping into 2 MiB (and maybe 4 KiB) */
		if (pick_gig(w, T_HUGE, &idx)) {
			gfn = idx * GIG_PAGES + wl_below(w, 512) * 512;
			e_map(w, v, gfn, 2, data_flags(w));
			if (wl_chance(w, 50))
				e_map(w, v, gfn + wl_below(w, 512), 1, data_flags(w));
			e_access(w, v, gfn, 0);
			break;
		}
		/* fall through */
	case 4: /* map 1 GiB */
		if (pick_gig(w, T_NONE, &idx) || pick_gig(w, T_HUGE, &idx)) {
			e_map(w, v, idx * GIG_PAGES, 3, data_flags(w));
			e_access(w, v, idx * GIG_PAGES + wl_below(w, GIG_PAGES), EPTF_OPF_WRITE);
		}
		break;
	default: /* collapse a level-2 table into 1 GiB */
		if (pick_gig(w, T_TABLE, &idx)) {
			e_map(w, v, idx * GIG_PAGES, 3, data_flags(w));
			e_access(w, v, idx * GIG_PAGES + wl_below(w, GIG_PAGES), 0);
		}
		break;
	}
}

static void e_prepare(struct eptf_workload *w, uint64_t gfn, unsigned level)
{
	struct eptf_op *op = wl_push(w, EPTF_OP_PREPARE_ZAP);

	op->addr = gfn;
	op->level = (uint8_t)level;
	op->flags = EPTF_OPF_DIRECT;
	track_zap_sp(w, level, gfn);
}

/*
 * Write-track one gfn inside a 2 MiB mapping (page tracking, as when KVM
 * shadows a nested guest's table there: the case of seed defect 6). A
 * tracked gfn stays tracked (there is no op to untrack it) and keeps its
 * 2 MiB and 1 GiB ranges from being mapped huge again (lpage_info), so the
 * tracked gfns are few (WL_MAX_WP) and confined to one 1 GiB region, the
 * first window's, which pick_gig() then leaves out of the 1 GiB maps.
 */
static void wp_in_huge(struct eptf_workload *w)
{
	uint64_t lo = 0, hi = w->p.guest_pages, idx, gfn;
	unsigned v;

	if (w->nwp >= WL_MAX_WP)
		return;
	if (w->ngig > 1) {
		lo = w->gig_cand[0] * GIG_PAGES;
		hi = lo + GIG_PAGES;
	}
	for (int tries = 0; tries < 16; tries++)
		if (wl_track_pick(w, &w->chunks, T_HUGE, &idx) && idx * 512 >= lo && idx * 512 < hi &&
		    wl_slot_of(w, idx * 512)) {
			wl_push(w, EPTF_OP_WP_GFN)->addr = idx * 512 + wl_below(w, 512);
			w->nwp++;
			return;
		}
	/* no 2 MiB mapping there yet: make one in the first window for a later call */
	gfn = ws_chunk_gfn(w, (uint64_t)w->nwin * wl_below(w, w->win_chunks));
	if (gfn >= lo && gfn < hi && huge_ok(w, gfn, 512)) {
		v = wl_direct_vcpu(w);
		e_map(w, v, gfn, 2, data_flags(w));
		e_access(w, v, gfn + wl_below(w, 512), 0);
		return;
	}
	/* huge maps are impossible there now (dirty logging): track a 4 KiB page */
	if (gfn >= lo && gfn < hi && wl_slot_of(w, gfn)) {
		wl_push(w, EPTF_OP_WP_GFN)->addr = gfn + wl_below(w, 512);
		w->nwp++;
	}
}

/* Direct zaps: a commit of several pages (leaf tables and non-leaf ones), zap_range, wp_gfn. */
void wl_burst_zap(struct eptf_workload *w)
{
	uint64_t idx, gfn, pages;
	unsigned n = 0;

	switch (wl_below(w, 4)) {
	case 0:
	case 1: /* a commit of up to 6 pages: level-1 tables, sometimes a level-2 or level-3 page */
		for (unsigned i = 1 + (unsigned)wl_below(w, 4); i; i--)
			if (wl_track_pick(w, &w->chunks, T_TABLE, &idx)) {
				e_prepare(w, idx * 512, 1);
				n++;
			}
		if (wl_chance(w, 40) && wl_track_pick(w, &w->gigs, T_TABLE, &idx)) {
			e_prepare(w, idx * GIG_PAGES, 2);
			n++;
		}
		if (wl_chance(w, 5)) {
			for (unsigned r = 0; r < WL_L3_REGIONS; r++)
				if (w->l3[r / 64] & (1ull << (r % 64))) {
					e_prepare(w, (uint64_t)r * L3_PAGES, 3);
					n++;
					break;
				}
		}
		if (n)
			wl_push(w, EPTF_OP_COMMIT_ZAP);
		break;
	case 2: /* kvm_zap_gfn_range: MTRR / APIC page / memory-attribute changes */
		gfn = wl_ws_page(w);
		pages = wl_chance(w, 50) ? 1 + wl_below(w, 64) : 512 * (1 + wl_below(w, 4));
		if (pages >= 512)
			gfn &= ~511ull;
		if (gfn + pages > w->p.guest_pages)
			pages = w->p.guest_pages - gfn;
		struct eptf_op *op = wl_push(w, EPTF_OP_ZAP_RANGE);
		op->addr = gfn;
		op->count = pages;
		track_drop(w, gfn, pages);
		break;
	default:
		wp_in_huge(w);
		break;
	}
}

/* The device slot: map into it, move it (BAR reprogramming), delete it and add it back. */
void wl_burst_bar(struct eptf_workload *w)
{
	struct wl_slot *s = &w->slot[w->nram];
	struct eptf_op *op;
	unsigned v;

	if (!s->id)
		return; /* this workload has no device slot */
	if (!s->present) {
		s->present = true;
		s->base = w->bar_pos[w->bar_at];
		push_slot_add(w, s);
		return;
	}
	switch (wl_below(w, 4)) {
	case 0:
		op = wl_push(w, EPTF_OP_SLOT_MOVE);
		track_drop(w, s->base, s->npages);
		w->bar_at ^= 1;
		s->base = w->bar_pos[w->bar_at];
		op->slot = s->id;
		op->addr = s->base;
		break;
	case 1:
		wl_push(w, EPTF_OP_SLOT_DELETE)->slot = s->id;
		track_drop(w, s->base, s->npages);
		s->present = false;
		break;
	default:
		v = wl_direct_vcpu(w);
		if (wl_chance(w, 30)) {
			uint64_t gfn = s->base + wl_below(w, s->npages / 512) * 512;

			e_map(w, v, gfn, 2, EPTF_OPF_WRITE);
			e_access(w, v, gfn + wl_below(w, 512), EPTF_OPF_WRITE);
		} else {
			for (uint64_t n = 1 + wl_below(w, 8); n; n--) {
				uint64_t gfn = s->base + wl_below(w, s->npages);

				e_map(w, v, gfn, 1, EPTF_OPF_WRITE);
				e_access(w, v, gfn, EPTF_OPF_WRITE);
			}
		}
		break;
	}
}
