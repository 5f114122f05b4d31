/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Shadow paging: L2 is a guest OS whose processes each own a 4-level page
 * table (x86-64 layout, EPTF_GPTE_*) in guest memory; vCPUs run them on
 * indirect roots (ROOT_LOAD cr3=...). The churn is what an OS does under
 * fork-heavy load: fork (copy the parent's leaves, write-protect both:
 * copy-on-write), COW breaks (a leaf gets a new frame and W), demand
 * faults, munmap/mprotect, exit (KVM zaps the shadow pages of the dead
 * tables, then the guest clears them), each followed by the SYNC a TLB
 * flush causes.
 *
 * Layout of process p: T4 at pt_base + 16p; T4[1] -> T3; T3[0] -> T2;
 * T2[pd[k]] -> T1[k] (k < WL_NT1); T1[k][i] (i < WL_LEAVES) -> data. So a
 * leaf's guest-virtual page is 1 << 27 | pd[k] << 9 | i. T2[pdh] maps a
 * 2 MiB guest page (PS: a transparent huge page in the guest), gva pages
 * 1 << 27 | pdh << 9 | 0..511.
 */
#include <string.h>

#include "wl.h"

#define PTE_TABLE (EPTF_GPTE_PRESENT | EPTF_GPTE_WRITABLE)

static uint64_t gva_page(const struct wl_proc *pr, unsigned k, unsigned i)
{
	return 1ull << 27 | (uint64_t)pr->pd[k] << 9 | i;
}

static void gpt_write(struct eptf_workload *w, uint64_t table, unsigned index, uint64_t pte)
{
	struct eptf_op *op = wl_push(w, EPTF_OP_GPT_WRITE);

	op->addr = table;
	op->count = index;
	op->value = pte;
}

/* A data frame in the working set, never in the page-table chunk. */
static uint64_t data_frame(struct eptf_workload *w)
{
	for (;;) {
		uint64_t gfn = wl_ws_page(w);

		if (gfn / 512 != w->pt_base / 512)
			return gfn;
	}
}

static uint64_t data_pte(struct eptf_workload *w, bool writable)
{
	return data_frame(w) << 12 | EPTF_GPTE_PRESENT | (writable ? EPTF_GPTE_WRITABLE : 0) |
	       (wl_chance(w, 50) ? EPTF_GPTE_NX : 0);
}

/* A 2 MiB guest page: a 2 MiB-aligned working-set frame outside the page-table chunk. */
static uint64_t huge_pte(struct eptf_workload *w, bool writable)
{
	uint64_t gfn = data_frame(w) & ~511ull;

	return gfn << 12 | EPTF_GPTE_PRESENT | EPTF_GPTE_HUGE | (writable ? EPTF_GPTE_WRITABLE : 0);
}

static void set_huge(struct eptf_workload *w, struct wl_proc *pr, uint64_t pte)
{
	pr->hpte = pte;
	gpt_write(w, pr->t2, pr->pdh, pte);
}

static void set_leaf(struct eptf_workload *w, struct wl_proc *pr, unsigned k, unsigned i, uint64_t pte)
{
	pr->leaf[k][i] = pte;
	gpt_write(w, pr->t1[k], i, pte);
}

/* Put vCPU @v on process @p (a CR3 load: KVM loads the indirect root). */
static void run_on(struct eptf_workload *w, unsigned v, unsigned p)
{
	struct eptf_op *op;

	if (w->vmode[v] == 2 && w->vproc[v] == p)
		return;
	op = wl_push(w, EPTF_OP_ROOT_LOAD);
	op->vcpu = v;
	op->addr = w->proc[p].t4;
	w->vmode[v] = 2;
	w->vproc[v] = (uint8_t)p;
	w->proc[p].sh4 = true;
}

static unsigned pick_alive(struct eptf_workload *w)
{
	unsigned start = (unsigned)wl_below(w, WL_NPROC);

	for (unsigned i = 0; i < WL_NPROC; i++)
		if (w->proc[(start + i) % WL_NPROC].alive)
			return (start + i) % WL_NPROC;
	return 0; /* proc 0 never dies while it is the only one */
}

static unsigned nalive(const struct eptf_workload *w)
{
	unsigned n = 0;

	for (unsigned i = 0; i < WL_NPROC; i++)
		n += w->proc[i].alive;
	return n;
}

/* A vCPU running @p, switching one to it if none is. */
static unsigned vcpu_on(struct eptf_workload *w, unsigned p)
{
	unsigned start = (unsigned)wl_below(w, w->p.nr_vcpus), v;

	for (unsigned i = 0; i < w->p.nr_vcpus; i++) {
		v = (start + i) % w->p.nr_vcpus;
		if (w->vmode[v] == 2 && w->vproc[v] == p)
			return v;
	}
	v = start;
	run_on(w, v, p);
	return v;
}

/* An L2 access (or a KVM fault-in) of leaf (k, i) of @p by @v; shadows the path. */
static void touch(struct eptf_workload *w, unsigned v, unsigned p, unsigned k, unsigned i)
{
	struct wl_proc *pr = &w->proc[p];
	uint64_t pte = pr->leaf[k][i];
	struct eptf_op *op;
	bool wr = (pte & EPTF_GPTE_WRITABLE) && wl_chance(w, 40);

	op = wl_push(w, (pte & EPTF_GPTE_PRESENT) && wl_chance(w, 25) ? EPTF_OP_MAP : EPTF_OP_ACCESS);
	op->vcpu = v;
	op->addr = gva_page(pr, k, i);
	op->flags = wr ? EPTF_OPF_WRITE : 0;
	if (op->kind == EPTF_OP_MAP) {
		op->level = 1;
		if (pte & EPTF_GPTE_WRITABLE)
			op->flags = EPTF_OPF_WRITE;
	}
	if (pte & EPTF_GPTE_PRESENT)
		pr->sh3 = pr->sh2 = pr->sh1[k] = true;
}

/* An access (or fault-in at 4 KiB or 2 MiB) inside the 2 MiB guest page of @p. */
static void touch_huge(struct eptf_workload *w, unsigned v, unsigned p)
{
	struct wl_proc *pr = &w->proc[p];
	struct eptf_op *op;
	bool present = pr->hpte & EPTF_GPTE_PRESENT, writable = pr->hpte & EPTF_GPTE_WRITABLE;

	op = wl_push(w, present && wl_chance(w, 25) ? EPTF_OP_MAP : EPTF_OP_ACCESS);
	op->vcpu = v;
	op->addr = 1ull << 27 | (uint64_t)pr->pdh << 9 | wl_below(w, 512);
	op->flags = writable && wl_chance(w, 40) ? EPTF_OPF_WRITE : 0;
	if (op->kind == EPTF_OP_MAP) {
		op->level = (uint8_t)(1 + wl_below(w, 2));
		if (op->level == 2)
			op->addr &= ~511ull;
		op->flags = writable ? EPTF_OPF_WRITE : 0;
	}
	if (present)
		pr->sh3 = pr->sh2 = true;
}

static void sync_proc(struct eptf_workload *w, unsigned p)
{
	for (unsigned v = 0; v < w->p.nr_vcpus; v++)
		if (w->vmode[v] == 2 && w->vproc[v] == p) {
			wl_push(w, EPTF_OP_SYNC)->vcpu = v;
			return;
		}
}

/* Build process @p: fresh (parent < 0) or forked from @parent (copy-on-write). */
static void proc_create(struct eptf_workload *w, unsigned p, int parent)
{
	struct wl_proc *pr = &w->proc[p];

	memset(pr, 0, sizeof(*pr));
	pr->alive = true;
	pr->t4 = w->pt_base + 16ull * p;
	pr->t3 = pr->t4 + 1;
	pr->t2 = pr->t4 + 2;
	for (unsigned k = 0; k < WL_NT1; k++) {
		pr->t1[k] = pr->t4 + 3 + k;
		if (parent >= 0) {
			pr->pd[k] = w->proc[parent].pd[k];
			continue;
		}
		for (;;) {
			bool dup = false;

			pr->pd[k] = (uint16_t)wl_below(w, 512);
			for (unsigned j = 0; j < k; j++)
				dup |= pr->pd[j] == pr->pd[k];
			if (!dup)
				break;
		}
	}
	if (parent >= 0) {
		pr->pdh = w->proc[parent].pdh;
	} else {
		for (;;) {
			bool dup = false;

			pr->pdh = (uint16_t)wl_below(w, 512);
			for (unsigned j = 0; j < WL_NT1; j++)
				dup |= pr->pd[j] == pr->pdh;
			if (!dup)
				break;
		}
	}
	gpt_write(w, pr->t4, 1, pr->t3 << 12 | PTE_TABLE);
	gpt_write(w, pr->t3, 0, pr->t2 << 12 | PTE_TABLE);
	for (unsigned k = 0; k < WL_NT1; k++)
		gpt_write(w, pr->t2, pr->pd[k], pr->t1[k] << 12 | PTE_TABLE);
	if (parent < 0) {
		set_huge(w, pr, huge_pte(w, true));
		for (unsigned k = 0; k < WL_NT1; k++)
			for (unsigned n = 0; n < 16; n++)
				set_leaf(w, pr, k, (unsigned)wl_below(w, WL_LEAVES), data_pte(w, true));
		return;
	}
	struct wl_proc *pa = &w->proc[parent];
	/* a huge page is shared copy-on-write like any other (the PMD loses W in both) */
	if (pa->hpte & EPTF_GPTE_PRESENT) {
		set_huge(w, pr, pa->hpte & ~EPTF_GPTE_WRITABLE);
		if (pa->hpte & EPTF_GPTE_WRITABLE)
			set_huge(w, pa, pa->hpte & ~EPTF_GPTE_WRITABLE);
	}
	for (unsigned k = 0; k < WL_NT1; k++)
		for (unsigned i = 0; i < WL_LEAVES; i++) {
			uint64_t pte = pa->leaf[k][i];

			if (!(pte & EPTF_GPTE_PRESENT))
				continue;
			set_leaf(w, pr, k, i, pte & ~EPTF_GPTE_WRITABLE);
			if (pte & EPTF_GPTE_WRITABLE)
				set_leaf(w, pa, k, i, pte & ~EPTF_GPTE_WRITABLE);
		}
	/* the parent's TLB flush after write-protecting: KVM syncs its unsync pages */
	sync_proc(w, (unsigned)parent);
}

/* Exit: move vCPUs away, zap the shadow pages of p's tables, then the guest clears them. */
static void proc_exit(struct eptf_workload *w, unsigned p)
{
	struct wl_proc *pr = &w->proc[p];
	unsigned other, n = 0;
	struct eptf_op *op;

	do
		other = pick_alive(w);
	while (other == p);
	for (unsigned v = 0; v < w->p.nr_vcpus; v++)
		if (w->vmode[v] == 2 && w->vproc[v] == p)
			run_on(w, v, other);
	for (unsigned k = 0; k < WL_NT1; k++)
		if (pr->sh1[k]) {
			op = wl_push(w, EPTF_OP_PREPARE_ZAP);
			op->addr = pr->t1[k];
			op->level = 1;
			n++;
		}
	const struct {
		bool sh;
		uint64_t gfn;
		uint8_t level;
	} up[] = {{pr->sh2, pr->t2, 2}, {pr->sh3, pr->t3, 3}, {pr->sh4, pr->t4, 4}};
	for (unsigned j = 0; j < 3; j++)
		if (up[j].sh) {
			op = wl_push(w, EPTF_OP_PREPARE_ZAP);
			op->addr = up[j].gfn;
			op->level = up[j].level;
			n++;
		}
	if (n)
		wl_push(w, EPTF_OP_COMMIT_ZAP);
	for (unsigned k = 0; k < WL_NT1; k++) {
		for (unsigned i = 0; i < WL_LEAVES; i++)
			if (pr->leaf[k][i])
				set_leaf(w, pr, k, i, 0);
		gpt_write(w, pr->t2, pr->pd[k], 0);
	}
	if (pr->hpte)
		set_huge(w, pr, 0);
	gpt_write(w, pr->t3, 0, 0);
	gpt_write(w, pr->t4, 1, 0);
	pr->alive = false;
}

void wl_shadow_setup(struct eptf_workload *w)
{
	w->pt_base = w->win[0];
	proc_create(w, 0, -1);
	if (w->kind == WK_SHADOW)
		for (unsigned v = 0; v < w->p.nr_vcpus; v++)
			run_on(w, v, 0);
}

/* A random present leaf of @p matching (@pte & @mask) == @want; false if none found. */
static bool pick_leaf(struct eptf_workload *w, unsigned p, uint64_t mask, uint64_t want, unsigned *k,
		      unsigned *i)
{
	for (int tries = 0; tries < 64; tries++) {
		*k = (unsigned)wl_below(w, WL_NT1);
		*i = (unsigned)wl_below(w, WL_LEAVES);
		uint64_t pte = w->proc[p].leaf[*k][*i];

		if ((pte & EPTF_GPTE_PRESENT) && (pte & mask) == want)
			return true;
	}
	return false;
}

void wl_burst_shadow(struct eptf_workload *w)
{
	unsigned p = pick_alive(w), v, k, i, r = (unsigned)wl_below(w, 100);
	struct wl_proc *pr = &w->proc[p];

	if (r < 12) { /* context switch */
		v = (unsigned)wl_below(w, w->p.nr_vcpus);
		run_on(w, v, p);
		for (unsigned n = 0; n < 4; n++)
			if (pick_leaf(w, p, 0, 0, &k, &i))
				touch(w, v, p, k, i);
	} else if (r < 57) { /* run: accesses, demand faults */
		v = vcpu_on(w, p);
		for (uint64_t n = 8 + wl_below(w, 24); n; n--) {
			k = (unsigned)wl_below(w, WL_NT1);
			i = (unsigned)wl_below(w, WL_LEAVES);
			if (wl_chance(w, 15)) {
				touch_huge(w, v, p);
				continue;
			}
			if (!(pr->leaf[k][i] & EPTF_GPTE_PRESENT) && wl_chance(w, 50))
				set_leaf(w, pr, k, i, data_pte(w, true)); /* the guest's own page fault */
			touch(w, v, p, k, i);
		}
	} else if (r < 86) { /* copy-on-write breaks */
		unsigned n = 0;

		v = vcpu_on(w, p);
		for (unsigned c = 1 + (unsigned)wl_below(w, 8); c; c--)
			if (pick_leaf(w, p, EPTF_GPTE_WRITABLE, 0, &k, &i)) {
				set_leaf(w, pr, k, i, data_pte(w, true));
				n++;
			}
		/* the 2 MiB page's copy-on-write: a new huge frame (a level-2 table write) */
		if ((pr->hpte & EPTF_GPTE_PRESENT) && !(pr->hpte & EPTF_GPTE_WRITABLE) && wl_chance(w, 30)) {
			set_huge(w, pr, huge_pte(w, true));
			n++;
		}
		if (n) {
			wl_push(w, EPTF_OP_SYNC)->vcpu = v;
			for (unsigned c = 0; c < n; c++)
				if (pick_leaf(w, p, EPTF_GPTE_WRITABLE, EPTF_GPTE_WRITABLE, &k, &i)) {
					struct eptf_op *op = wl_push(w, EPTF_OP_ACCESS);

					op->vcpu = v;
					op->addr = gva_page(pr, k, i);
					op->flags = EPTF_OPF_WRITE;
					pr->sh3 = pr->sh2 = pr->sh1[k] = true;
				}
		}
	} else if (r < 90) { /* fork */
		unsigned child = WL_NPROC;

		for (unsigned c = 0; c < WL_NPROC; c++)
			if (!w->proc[c].alive) {
				child = c;
				break;
			}
		if (child < WL_NPROC)
			proc_create(w, child, (int)p);
		else
			proc_exit(w, p);
	} else if (r < 93) { /* exit */
		if (nalive(w) > 1)
			proc_exit(w, p);
		else
			proc_create(w, (p + 1) % WL_NPROC, (int)p);
	} else { /* munmap / mprotect */
		bool prot = wl_chance(w, 50);
		unsigned n = 0;

		for (unsigned c = 1 + (unsigned)wl_below(w, 16); c; c--)
			if (pick_leaf(w, p, 0, 0, &k, &i)) {
				set_leaf(w, pr, k, i, prot ? pr->leaf[k][i] & ~EPTF_GPTE_WRITABLE : 0);
				n++;
			}
		if (n)
			sync_proc(w, p);
	}
}
