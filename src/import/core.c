/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The import core: kernel MMU events in, ops out. docs/import.md explains
 * every mapping; the comments here say why the bookkeeping is needed.
 *
 * Sources for the event semantics: arch/x86/kvm/mmu/mmutrace.h (formats),
 * arch/x86/kvm/mmu/mmu.c and paging_tmpl.h (when each event fires: the
 * guest walk traces one paging_element per level before the fault installs
 * shadow pages with get_page and the leaf with set_spte, followed by
 * prefetched leaves; zaps are prepared in a batch and committed once),
 * include/trace/events/kvm.h (notifier events carry host addresses).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eptflush/error.h>

#include "imp.h"

#define IMP_MAX_VCPUS 64
#define IMP_MAX_CPUS 8192
#define IMP_MAX_SLOTS 4096
#define IMP_GETS 8
#define IMP_SYNCS 64
/* the reorder window after a sync (see sync_window_open) */
#define WIN_MAX_OPS 8192
#define WIN_MAX_EVENTS 100000

/* Pages an SPTE of @level maps (KVM_PAGES_PER_HPAGE), levels 1..5. */
static uint64_t level_pages(unsigned level)
{
	return 1ull << (9 * (level - 1));
}

/* x86 guest PTE bits a walk reports (SDM vol. 3 4.5): P 0, W 1, U 2, A 5, D 6, PS 7, NX 63. */
#define GPTE_P (1ull << 0)
#define GPTE_W (1ull << 1)
#define GPTE_U (1ull << 2)
#define GPTE_A (1ull << 5)
#define GPTE_PS (1ull << 7)
#define GPTE_NX (1ull << 63)
#define GPTE_FRAME 0x000ffffffffff000ull
/* A and D change on every walk that sets them; they are not a guest write of consequence. */
#define GPTE_CMP_MASK (GPTE_P | GPTE_W | GPTE_U | GPTE_PS | GPTE_NX | GPTE_FRAME)

/* TDP MMU SPTE bits (arch/x86/kvm/mmu/spte.h): SPTE_MMU_PRESENT_MASK bit 11, writable bit 1. */
#define TSPTE_PRESENT (1ull << 11)
#define TSPTE_W (1ull << 1)
#define TSPTE_X_EPT (1ull << 2)
#define TSPTE_HUGE (1ull << 7)
#define TSPTE_NX (1ull << 63)
#define TSPTE_FRAME 0x000ffffffffff000ull

/* What the importer knows of one guest page table (from walks and prefetches). */
struct gtab {
	uint64_t known[8];  /* bitmap of entries seen */
	uint64_t pte[512];
};

/* One shadow page table, named by the page of its SPTEs' kernel address. */
struct stab {
	uint64_t pa_page;  /* set_spte `at` >> 12 */
	uint64_t base;     /* first input page it maps (gva page or gfn) */
	uint64_t sp_gfn;   /* guest table gfn (indirect) or first gfn (direct) */
	uint64_t sp_key;   /* key in imp->sps, 0 if the page's (gfn, role) is unknown */
	uint8_t level;     /* role.level: level of its SPTEs */
	bool direct;       /* it maps gfns linearly (direct role) */
	bool have_gfn;     /* sp_gfn is known */
};

struct task {
	int pid;
	int vcpu;          /* -1: not (yet) a vCPU */
	/* the current guest walk and the fault it starts */
	bool walking;      /* paging_element events may follow */
	bool fault;        /* a walk finished and its set_spte has not come yet */
	uint64_t gva;
	uint32_t pferr;
	uint64_t pte[6];   /* by level */
	uint8_t have;      /* bit L: pte[L] seen */
	unsigned top;      /* first level walked */
	uint64_t walk_root; /* table gfn of the top level, 0 if unknown */
	bool walk_root_known;
	struct {
		uint64_t gfn;
		uint32_t role;
	} gets[IMP_GETS];  /* get_page events since the walk began */
	unsigned ngets;
	/* kvm_page_fault: an access to place after its MAP (direct roots) */
	bool pf_pending;
	uint64_t pf_page;
	uint32_t pf_err;
	/*
	 * The task is inside an operation an op already stands for (an MMU
	 * notifier unmap/age, a memslot change): the TDP drops it makes next
	 * are that op's own effect in the model, not a separate zap.
	 */
	bool implied;
};

struct vcpu_state {
	bool has_root;
	bool direct;
	uint64_t root;     /* guest CR3 table gfn, or address space for a direct root */
};

struct imp {
	struct eptf_import_options opts;
	struct eptf_import_sink sink;
	struct eptf_import_stats *st;
	bool begun;
	unsigned nr_vcpus;
	bool ended;
	/*
	 * The reorder window: ops after a SYNC are held back so that a guest
	 * entry of a synced table, learned from a later walk, can be written
	 * before the SYNC (where the guest wrote it), see sync_window_open().
	 */
	bool win;
	struct qent {
		struct eptf_op op;
		char *comment; /* a comment line instead of an op */
	} *q;
	size_t qn, qcap, q_sync_pos;
	uint64_t win_tables[IMP_SYNCS];
	unsigned win_ntables;
	uint64_t win_events;
	bool saw_tdp;
	/* a memslot-delete marker whose slot_delete waits for the zap_all_fast that follows */
	bool pend_del, pend_del_after_zap;
	uint32_t pend_del_slot;
	int pend_del_pid;
	char why_buf[256];     /* the reason emit() refused an op */          /* kvm_tdp_mmu_spte_changed seen: it, not set_spte, says what TDP maps */
	struct imp_map tasks;  /* pid -> struct task */
	struct imp_map stabs;  /* pa page -> struct stab */
	struct imp_map sps;    /* sp key -> struct stab (same object, not owned) */
	struct imp_map gtabs;  /* table gfn -> struct gtab */
	struct imp_map live;   /* live_key() of every page the model holds -> IMP_LIVE */
	struct imp_map seen;   /* live_key() of every page a get_page event showed -> IMP_LIVE */
	struct eptf_import_slot *slots;
	size_t nslots, slots_cap;
	struct vcpu_state vcpus[IMP_MAX_VCPUS];
	unsigned next_vcpu;
	uint64_t *cpu_ts;      /* last timestamp per cpu, +1 (0: none yet) */
	size_t ncpu_ts;
	/* the open run: a zap batch, syncs, or TDP drops of one task */
	int run_pid;
	unsigned run_zaps;
	unsigned run_nsync;
	bool run_sync_overflow;
	uint64_t run_syncs[IMP_SYNCS];
	bool run_tz;
	uint64_t run_tz_start, run_tz_end;
};

static char imp_live_tag;
#define IMP_LIVE ((void *)&imp_live_tag)

/* How the model names a page for PREPARE_ZAP: (gfn, level, direct). */
static uint64_t live_key(uint64_t gfn, unsigned level, bool direct)
{
	return (gfn << 8) | (direct ? 0x10u : 0) | level;
}

static int live_add(struct imp *imp, uint64_t gfn, unsigned level, bool direct)
{
	return imp_map_put(&imp->live, live_key(gfn, level, direct), IMP_LIVE);
}

/*
 * The pages the model creates for a MAP of input page @page at @level (its
 * fault walks from the root down): kept so that a later prepare_zap is
 * emitted only for a page the model has (else it is "unplaced").
 */
static int live_path(struct imp *imp, const struct task *t, unsigned v, uint64_t page, uint64_t gfn,
		     unsigned level, bool direct_root)
{
	const struct vcpu_state *vs = &imp->vcpus[v];
	int err = live_add(imp, vs->root, 4, direct_root);
	bool direct = direct_root;
	uint64_t table = vs->root;
	for (unsigned l = 3; l >= level && !err; l--) {
		if (!direct && t && (t->have >> (l + 1) & 1)) {
			uint64_t up = t->pte[l + 1];
			if (up & GPTE_PS)
				direct = true;
			else
				table = (up & GPTE_FRAME) >> 12;
		} else if (!direct) {
			break; /* not from a walk: the upper pages exist already */
		}
		if (direct)
			err = live_add(imp, (direct_root ? page : gfn) & ~(level_pages(l + 1) - 1), l, true);
		else
			err = live_add(imp, table, l, false);
	}
	return err;
}

static uint64_t sp_key(uint64_t gfn, uint32_t role)
{
	/* gfns are below 2^44 here; the role subset fits in 20 bits. */
	return (gfn << 20) | (role & IMP_ROLE_KEY_MASK) | (1ull << 63);
}

/* ---- output --------------------------------------------------------- */

static int begin(struct imp *imp)
{
	if (imp->begun)
		return 0;
	imp->begun = true;
	struct eptf_trace_header hdr;
	memset(&hdr, 0, sizeof(hdr));
	hdr.version = EPTF_TRACE_VERSION;
	hdr.nr_vcpus = imp->nr_vcpus;
	imp->st->nr_vcpus = imp->nr_vcpus;
	snprintf(hdr.source, sizeof(hdr.source), "import");
	snprintf(hdr.detail, sizeof(hdr.detail), "%s", imp->st->format);
	int err = imp->sink.begin ? imp->sink.begin(imp->sink.ctx, &hdr) : 0;
	if (err)
		return err;
	/* memslots given as options exist before the first event */
	for (size_t i = 0; i < imp->opts.nslots; i++) {
		const struct eptf_import_slot *sl = &imp->opts.slots[i];
		struct eptf_op op = { .kind = EPTF_OP_SLOT_ADD, .slot = sl->slot, .addr = sl->base_gfn,
				      .count = sl->npages, .value = sl->hva, .flags = (uint8_t)sl->flags };
		imp->st->ops[op.kind]++;
		err = imp->sink.op ? imp->sink.op(imp->sink.ctx, &op) : 0;
		if (err)
			return err;
	}
	return 0;
}

/* Hold @op (or comment @text) in the window at position @pos. */
static int q_insert(struct imp *imp, const struct eptf_op *op, const char *text, size_t pos)
{
	if (imp->qn == imp->qcap) {
		size_t ncap = imp->qcap ? imp->qcap * 2 : 64;
		struct qent *n = realloc(imp->q, ncap * sizeof(*n));
		if (!n)
			return EPTF_ENOMEM;
		imp->q = n;
		imp->qcap = ncap;
	}
	struct qent e = { .comment = NULL };
	if (op) {
		e.op = *op;
	} else {
		size_t l = strlen(text) + 1;
		if (!(e.comment = malloc(l)))
			return EPTF_ENOMEM;
		memcpy(e.comment, text, l);
	}
	memmove(imp->q + pos + 1, imp->q + pos, (imp->qn - pos) * sizeof(*imp->q));
	imp->q[pos] = e;
	imp->qn++;
	return 0;
}

/* Close the window: everything held goes out in order. */
static int win_flush(struct imp *imp)
{
	int err = 0;
	imp->win = false;
	for (size_t i = 0; i < imp->qn; i++) {
		struct qent *e = &imp->q[i];
		if (!err) {
			if (e->comment)
				err = imp->sink.comment ? imp->sink.comment(imp->sink.ctx, e->comment) : 0;
			else
				err = imp->sink.op ? imp->sink.op(imp->sink.ctx, &e->op) : 0;
		}
		free(e->comment);
	}
	imp->qn = 0;
	return err;
}

static bool win_has_table(const struct imp *imp, uint64_t gfn)
{
	for (unsigned i = 0; i < imp->win_ntables; i++)
		if (imp->win_tables[i] == gfn)
			return true;
	return false;
}

static int emit(struct imp *imp, const struct eptf_op *op)
{
	int err = begin(imp);
	if (err)
		return err;
	/* an event whose numbers make an op the trace format refuses is malformed input */
	if (eptf_op_validate(op, imp->why_buf + 32, sizeof(imp->why_buf) - 32)) {
		memcpy(imp->why_buf, "event out of the op range: ", 27);
		memmove(imp->why_buf + 27, imp->why_buf + 32, strlen(imp->why_buf + 32) + 1);
		return EPTF_EPARSE;
	}
	imp->st->ops[op->kind]++;
	if (imp->win && imp->qn < WIN_MAX_OPS)
		return q_insert(imp, op, NULL, imp->qn);
	if (imp->win && (err = win_flush(imp)))
		return err;
	return imp->sink.op ? imp->sink.op(imp->sink.ctx, op) : 0;
}

static int emit_comment(struct imp *imp, const char *text)
{
	int err = begin(imp);
	if (err)
		return err;
	if (imp->win && imp->qn < WIN_MAX_OPS)
		return q_insert(imp, NULL, text, imp->qn);
	if (imp->win && (err = win_flush(imp)))
		return err;
	return imp->sink.comment ? imp->sink.comment(imp->sink.ctx, text) : 0;
}

/* ---- memslots -------------------------------------------------------- */

static struct eptf_import_slot *slot_find(struct imp *imp, uint32_t id)
{
	for (size_t i = 0; i < imp->nslots; i++)
		if (imp->slots[i].slot == id)
			return &imp->slots[i];
	return NULL;
}

static const struct eptf_import_slot *slot_of_gfn(const struct imp *imp, uint64_t gfn)
{
	for (size_t i = 0; i < imp->nslots; i++)
		if (gfn >= imp->slots[i].base_gfn && gfn - imp->slots[i].base_gfn < imp->slots[i].npages)
			return &imp->slots[i];
	return NULL;
}

static int slot_add(struct imp *imp, const struct eptf_import_slot *s)
{
	struct eptf_import_slot *old = slot_find(imp, s->slot);
	if (old) {
		*old = *s;
		return 0;
	}
	if (imp->nslots == imp->slots_cap) {
		if (imp->slots_cap >= IMP_MAX_SLOTS)
			return EPTF_ENOSPC;
		size_t ncap = imp->slots_cap ? imp->slots_cap * 2 : 8;
		struct eptf_import_slot *n = realloc(imp->slots, ncap * sizeof(*n));
		if (!n)
			return EPTF_ENOMEM;
		imp->slots = n;
		imp->slots_cap = ncap;
	}
	imp->slots[imp->nslots++] = *s;
	return 0;
}

/* ---- tasks and vCPUs -------------------------------------------------- */

static struct task *task_get(struct imp *imp, int pid)
{
	uint64_t key = (uint64_t)(uint32_t)pid;
	struct task *t = imp_map_get(&imp->tasks, key);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->pid = pid;
	t->vcpu = -1;
	if (imp_map_put(&imp->tasks, key, t)) {
		free(t);
		return NULL;
	}
	return t;
}

/*
 * The vCPU a task runs. Tasks that walk guest tables or load roots are
 * vCPU threads; they get numbers in order of appearance unless a marker or
 * kvm_page_fault named them. More tasks than vCPUs wrap around.
 */
static unsigned task_vcpu(struct imp *imp, struct task *t)
{
	if (t->vcpu < 0)
		t->vcpu = (int)imp->next_vcpu++;
	unsigned n = imp->nr_vcpus ? imp->nr_vcpus : 1;
	return (unsigned)t->vcpu % n;
}

/* ---- guest page tables ------------------------------------------------- */

static struct gtab *gtab_get(struct imp *imp, uint64_t gfn, bool create)
{
	struct gtab *g = imp_map_get(&imp->gtabs, gfn);
	if (g || !create)
		return g;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	if (imp_map_put(&imp->gtabs, gfn, g)) {
		free(g);
		return NULL;
	}
	return g;
}

/* Make the model's copy of guest table @table entry @idx equal @pte (GPT_WRITE if it differs). */
static int gpt_set(struct imp *imp, uint64_t table, unsigned idx, uint64_t pte)
{
	struct gtab *g = gtab_get(imp, table, true);
	if (!g)
		return EPTF_ENOMEM;
	bool known = g->known[idx / 64] >> (idx % 64) & 1;
	if (known && ((g->pte[idx] ^ pte) & GPTE_CMP_MASK) == 0)
		return 0;
	g->known[idx / 64] |= 1ull << (idx % 64);
	g->pte[idx] = pte;
	struct eptf_op op = { .kind = EPTF_OP_GPT_WRITE, .addr = table, .count = idx, .value = pte };
	if (imp->win && win_has_table(imp, table) && imp->qn < WIN_MAX_OPS &&
	    eptf_op_validate(&op, NULL, 0) == 0) {
		/*
		 * A synced table has not been written since its sync (a write
		 * would have unsynced it and closed the window): the guest
		 * made this change before the sync, which is what KVM's sync
		 * saw. Write it before the SYNC.
		 */
		imp->st->ops[op.kind]++;
		int err = q_insert(imp, &op, NULL, imp->q_sync_pos);
		imp->q_sync_pos++;
		return err;
	}
	return emit(imp, &op);
}

/* ---- runs: zap batches, syncs, TDP drops ------------------------------ */

/* Start task @pid's run of TDP drops at [gfn, gfn + pages) (the previous run is closed). */
static void run_tz_open(struct imp *imp, int pid, uint64_t gfn, uint64_t pages)
{
	imp->run_pid = pid;
	imp->run_tz = true;
	imp->run_tz_start = gfn;
	imp->run_tz_end = gfn + pages;
}

static int run_close(struct imp *imp)
{
	int err = 0;
	if (imp->run_tz) {
		struct eptf_op op = { .kind = EPTF_OP_ZAP_RANGE, .addr = imp->run_tz_start,
				      .count = imp->run_tz_end - imp->run_tz_start };
		imp->run_tz = false;
		err = emit(imp, &op);
		if (err)
			return err;
	}
	if (imp->run_zaps) {
		struct eptf_op op = { .kind = EPTF_OP_COMMIT_ZAP };
		imp->run_zaps = 0;
		err = emit(imp, &op);
		if (err)
			return err;
	}
	if (imp->run_nsync || imp->run_sync_overflow) {
		struct task *t = task_get(imp, imp->run_pid);
		unsigned nsync = imp->run_nsync;
		const uint64_t *syncs = imp->run_syncs;
		imp->run_nsync = 0;
		imp->run_sync_overflow = false;
		if (!t)
			return EPTF_ENOMEM;
		unsigned v = task_vcpu(imp, t);
		if (imp->vcpus[v].has_root) {
			struct eptf_op op = { .kind = EPTF_OP_SYNC, .vcpu = v };
			if (imp->win && (err = win_flush(imp)))
				return err;
			if ((err = begin(imp)))
				return err;
			imp->st->ops[op.kind]++;
			/* open the window: the SYNC is its first entry */
			if ((err = q_insert(imp, &op, NULL, 0)))
				return err;
			imp->win = true;
			imp->q_sync_pos = 0;
			imp->win_events = 0;
			imp->win_ntables = 0;
			for (unsigned i = 0; i < nsync; i++)
				imp->win_tables[imp->win_ntables++] = (syncs[i] & ~(1ull << 63)) >> 20;
		} else {
			imp->st->unplaced[EPTF_IEV_SYNC_PAGE]++;
		}
	}
	return err;
}

static int run_join(struct imp *imp, int pid)
{
	if (imp->run_pid != pid) {
		int err = run_close(imp);
		if (err)
			return err;
		imp->run_pid = pid;
	}
	return 0;
}

/* ---- the guest walk ---------------------------------------------------- */

/* The walk is complete: mirror every guest entry it read into the model's guest tables. */
static int walk_finish(struct imp *imp, struct task *t)
{
	t->walking = false;
	if (!t->have)
		return 0;
	uint64_t table = t->walk_root;
	bool table_known = t->walk_root_known;
	for (unsigned level = t->top; level >= 1; level--) {
		if (!(t->have >> level & 1))
			break;
		uint64_t pte = t->pte[level];
		unsigned idx = (unsigned)(t->gva >> (12 + 9 * (level - 1))) & 511;
		if (table_known) {
			int err = gpt_set(imp, table, idx, pte);
			if (err)
				return err;
		}
		if (!(pte & GPTE_P) || (level > 1 && (pte & GPTE_PS)))
			break;
		table = (pte & GPTE_FRAME) >> 12;
		table_known = true;
	}
	return 0;
}

/* ---- event handlers ---------------------------------------------------- */

static int on_get_page(struct imp *imp, struct task *t, const struct imp_ev *ev)
{
	unsigned level = IMP_ROLE_LEVEL(ev->role);
	if (level >= 1 && level <= 4) {
		int e = imp_map_put(&imp->seen, live_key(ev->gfn, level, ev->role & IMP_ROLE_DIRECT), IMP_LIVE);
		if (e)
			return e;
	}
	if (t->ngets < IMP_GETS) {
		t->gets[t->ngets].gfn = ev->gfn;
		t->gets[t->ngets].role = ev->role;
		t->ngets++;
	}
	if (level < 4) {
		imp->st->used[EPTF_IEV_GET_PAGE]++;
		return 0;
	}
	/* A level-4 page has no parent: it is a root the vCPU is loading. */
	if (level > 4) {
		imp->st->unplaced[EPTF_IEV_GET_PAGE]++;
		return 0;
	}
	int err = begin(imp); /* fixes the vCPU count before vCPU numbers are used */
	if (err)
		return err;
	unsigned v = task_vcpu(imp, t);
	bool direct = ev->role & IMP_ROLE_DIRECT;
	uint64_t root = direct ? 0 : ev->gfn;
	struct vcpu_state *vs = &imp->vcpus[v];
	imp->st->used[EPTF_IEV_GET_PAGE]++;
	if (vs->has_root && vs->direct == direct && vs->root == root)
		return 0;
	vs->has_root = true;
	vs->direct = direct;
	vs->root = root;
	struct eptf_op op = { .kind = EPTF_OP_ROOT_LOAD, .vcpu = v, .addr = root,
			      .flags = direct ? EPTF_OPF_DIRECT : 0 };
	if ((err = live_add(imp, root, 4, direct)))
		return err;
	return emit(imp, &op);
}

static void stab_forget(struct imp *imp, uint64_t key)
{
	struct stab *s = imp_map_del(&imp->sps, key);
	if (s) {
		imp_map_del(&imp->stabs, s->pa_page);
		free(s);
	}
}

static int on_prepare_zap(struct imp *imp, struct task *t, const struct imp_ev *ev)
{
	unsigned level = IMP_ROLE_LEVEL(ev->role);
	if (level < 1 || level > 4) {
		imp->st->unplaced[EPTF_IEV_PREPARE_ZAP]++;
		return 0;
	}
	bool direct = ev->role & IMP_ROLE_DIRECT;
	if (ev->role & IMP_ROLE_INVALID) {
		/* an invalid (obsolete or already zapped) root being freed: the model zapped it before */
		imp->st->ignored[EPTF_IEV_PREPARE_ZAP]++;
		return 0;
	}
	int err = run_join(imp, t->pid);
	if (err)
		return err;
	uint64_t key = sp_key(ev->gfn, ev->role);
	bool seen = imp_map_del(&imp->seen, live_key(ev->gfn, level, direct)) != NULL;
	if (!imp_map_del(&imp->live, live_key(ev->gfn, level, direct))) {
		/*
		 * The model does not hold this page. If the trace showed KVM make
		 * it, no leaf was ever installed under it (the fault stopped
		 * early), so the model had nothing to build: nothing to zap.
		 * Otherwise it predates the trace and cannot be placed.
		 */
		stab_forget(imp, key);
		if (seen)
			imp->st->ignored[EPTF_IEV_PREPARE_ZAP]++;
		else
			imp->st->unplaced[EPTF_IEV_PREPARE_ZAP]++;
		return 0;
	}
	/* A sync that fails zaps the page; the zap is what changed. */
	for (unsigned i = 0; i < imp->run_nsync; i++) {
		if (imp->run_syncs[i] == key) {
			imp->run_syncs[i] = imp->run_syncs[--imp->run_nsync];
			break;
		}
	}
	stab_forget(imp, key);
	imp->run_zaps++;
	imp->st->used[EPTF_IEV_PREPARE_ZAP]++;
	struct eptf_op op = { .kind = EPTF_OP_PREPARE_ZAP, .addr = ev->gfn, .level = (uint8_t)level,
			      .flags = (ev->role & IMP_ROLE_DIRECT) ? EPTF_OPF_DIRECT : 0 };
	return emit(imp, &op);
}

static int on_sync_page(struct imp *imp, struct task *t, const struct imp_ev *ev)
{
	int err = run_join(imp, t->pid);
	if (err)
		return err;
	if (imp->run_nsync < IMP_SYNCS)
		imp->run_syncs[imp->run_nsync++] = sp_key(ev->gfn, ev->role);
	else
		imp->run_sync_overflow = true;
	imp->st->used[EPTF_IEV_SYNC_PAGE]++;
	return 0;
}

/*
 * The guest is writing a table KVM shadows and KVM let the page go out of
 * sync. Rewrite one entry with its known value so that the model takes its
 * write-to-shadowed-table path (unsync) without changing the guest table.
 */
static int on_unsync_page(struct imp *imp, const struct imp_ev *ev)
{
	if (ev->role & IMP_ROLE_DIRECT) {
		imp->st->unplaced[EPTF_IEV_UNSYNC_PAGE]++;
		return 0;
	}
	struct gtab *g = gtab_get(imp, ev->gfn, false);
	unsigned idx = 0;
	uint64_t pte = 0;
	if (g) {
		for (unsigned w = 0; w < 8; w++) {
			if (g->known[w]) {
				idx = w * 64 + (unsigned)__builtin_ctzll(g->known[w]);
				pte = g->pte[idx];
				break;
			}
		}
	}
	imp->st->used[EPTF_IEV_UNSYNC_PAGE]++;
	struct eptf_op op = { .kind = EPTF_OP_GPT_WRITE, .addr = ev->gfn, .count = idx, .value = pte };
	return emit(imp, &op);
}

static int emit_access(struct imp *imp, unsigned v, uint64_t page, uint32_t pferr)
{
	/* PFERR_WRITE_MASK bit 1, PFERR_FETCH_MASK bit 4 (arch/x86/include/asm/kvm_host.h) */
	struct eptf_op op = { .kind = EPTF_OP_ACCESS, .vcpu = v, .addr = page,
			      .flags = (uint8_t)(((pferr & 2) ? EPTF_OPF_WRITE : 0) |
						 ((pferr & 0x10) ? EPTF_OPF_EXEC : 0)) };
	return emit(imp, &op);
}

static int remember_stab(struct imp *imp, uint64_t pa_page, uint64_t base, unsigned level, bool direct,
			 bool have_gfn, uint64_t sp_gfn, uint64_t key)
{
	struct stab *s = imp_map_get(&imp->stabs, pa_page);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return EPTF_ENOMEM;
		if (imp_map_put(&imp->stabs, pa_page, s)) {
			free(s);
			return EPTF_ENOMEM;
		}
	} else if (s->sp_key && s->sp_key != key) {
		imp_map_del(&imp->sps, s->sp_key);
	}
	s->pa_page = pa_page;
	s->base = base;
	s->level = (uint8_t)level;
	s->direct = direct;
	s->have_gfn = have_gfn;
	s->sp_gfn = sp_gfn;
	s->sp_key = key;
	if (key) {
		struct stab *o = imp_map_get(&imp->sps, key);
		if (o && o != s) {
			/* the same page seen at another address: the older table is gone */
			imp_map_del(&imp->stabs, o->pa_page);
			free(o);
		}
		if (imp_map_put(&imp->sps, key, s))
			return EPTF_ENOMEM;
	}
	return 0;
}

static int on_set_spte(struct imp *imp, struct task *t, const struct imp_ev *ev)
{
	unsigned level = ev->level;
	if (level < 1 || level > 3) {
		imp->st->unplaced[EPTF_IEV_SET_SPTE]++;
		return 0;
	}
	uint64_t pa_page = ev->sptep >> 12;
	unsigned idx = (unsigned)(ev->sptep & 0xfff) / 8;
	int err = begin(imp);
	if (err)
		return err;
	unsigned v = task_vcpu(imp, t);
	struct vcpu_state *vs = &imp->vcpus[v];
	uint8_t fl = (uint8_t)((ev->writable ? EPTF_OPF_WRITE : 0) | (ev->exec ? EPTF_OPF_EXEC : 0));
	uint64_t span = level_pages(level + 1); /* pages the holding shadow page covers */
	uint64_t page;
	const struct stab *pf_stab = NULL; /* the table a prefetched leaf sits in */

	if (vs->has_root && vs->direct && imp->saw_tdp) {
		/* the TDP MMU traces the same leaf as kvm_tdp_mmu_spte_changed first */
		imp->st->ignored[EPTF_IEV_SET_SPTE]++;
		t->pf_pending = false;
		return 0;
	}
	if (!slot_of_gfn(imp, ev->gfn) || !vs->has_root) {
		imp->st->unplaced[EPTF_IEV_SET_SPTE]++;
		t->fault = false;
		return 0;
	}
	if (vs->direct) {
		/* direct root: the input page is the gfn itself */
		page = ev->gfn & ~(level_pages(level) - 1);
		err = remember_stab(imp, pa_page, ev->gfn & ~(span - 1), level, true, true,
				    ev->gfn & ~(span - 1), 0);
	} else if (t->fault) {
		/* the leaf of the fault the last walk started */
		uint64_t gpage = t->gva >> 12;
		page = gpage & ~(level_pages(level) - 1);
		uint64_t base = gpage & ~(span - 1);
		bool have_gfn = false, sp_direct = false;
		uint64_t sp_gfn = 0, key = 0;
		for (unsigned i = t->ngets; i-- > 0;) {
			if (IMP_ROLE_LEVEL(t->gets[i].role) == level) {
				sp_gfn = t->gets[i].gfn;
				sp_direct = t->gets[i].role & IMP_ROLE_DIRECT;
				key = sp_key(sp_gfn, t->gets[i].role);
				have_gfn = true;
				break;
			}
		}
		if (!have_gfn && (t->have >> (level + 1) & 1)) {
			uint64_t up = t->pte[level + 1];
			if ((up & GPTE_P) && !(up & GPTE_PS)) {
				sp_gfn = (up & GPTE_FRAME) >> 12;
				have_gfn = true;
			}
		}
		if (!have_gfn) {
			/* the guest maps this range with a huge page: a direct shadow page */
			sp_direct = true;
			sp_gfn = ev->gfn & ~(span - 1);
			have_gfn = true;
		}
		err = remember_stab(imp, pa_page, base, level, sp_direct, have_gfn, sp_gfn, key);
	} else {
		/* a prefetched leaf: place it through its table */
		struct stab *s = imp_map_get(&imp->stabs, pa_page);
		if (!s || s->level != level) {
			imp->st->unplaced[EPTF_IEV_SET_SPTE]++;
			return 0;
		}
		pf_stab = s;
		page = s->base + (uint64_t)idx * level_pages(level);
		if (!s->direct && s->have_gfn && level == 1) {
			/* the guest entry the prefetch read: same frame, the permissions the SPTE got */
			struct gtab *g = gtab_get(imp, s->sp_gfn, false);
			bool known = g && (g->known[idx / 64] >> (idx % 64) & 1);
			uint64_t old = known ? g->pte[idx] : 0;
			if (!known || ((old & GPTE_FRAME) >> 12) != ev->gfn || !(old & GPTE_P)) {
				uint64_t pte = (ev->gfn << 12) | GPTE_P | GPTE_U | GPTE_A |
					       (ev->writable ? GPTE_W : 0) | (ev->exec ? 0 : GPTE_NX);
				err = gpt_set(imp, s->sp_gfn, idx, pte);
			}
		}
	}
	if (err)
		return err;
	if (vs->direct)
		err = live_path(imp, NULL, v, page, ev->gfn, level, true);
	else if (t->fault)
		err = live_path(imp, t, v, page, ev->gfn, level, false);
	else if (pf_stab)
		err = live_add(imp, pf_stab->sp_gfn, level, pf_stab->direct);
	if (err)
		return err;
	imp->st->used[EPTF_IEV_SET_SPTE]++;
	struct eptf_op op = { .kind = EPTF_OP_MAP, .vcpu = v, .addr = page, .level = (uint8_t)level, .flags = fl };
	err = emit(imp, &op);
	if (err)
		return err;
	if (!vs->direct && t->fault) {
		t->fault = false;
		return emit_access(imp, v, t->gva >> 12, t->pferr);
	}
	if (vs->direct && t->pf_pending && (t->pf_page & ~(level_pages(level) - 1)) == page) {
		t->pf_pending = false;
		return emit_access(imp, v, t->pf_page, t->pf_err);
	}
	return 0;
}

static int on_tdp_changed(struct imp *imp, struct task *t, const struct imp_ev *ev)
{
	unsigned level = ev->level;
	if (level < 1 || level > 4 || ev->as_id > 1) {
		imp->st->unplaced[EPTF_IEV_TDP_SPTE_CHANGED]++;
		return 0;
	}
	uint64_t old = ev->old_spte, new = ev->new_spte;
	imp->saw_tdp = true;
	bool old_p = old & TSPTE_PRESENT, new_p = new & TSPTE_PRESENT;
	bool old_leaf = old_p && (level == 1 || (old & TSPTE_HUGE));
	bool new_leaf = new_p && (level == 1 || (new & TSPTE_HUGE));
	uint64_t pages = level_pages(level);
	uint64_t gfn = ev->gfn & ~(pages - 1);
	int err;

	if (old_p && !new_p && t->implied) {
		imp->st->ignored[EPTF_IEV_TDP_SPTE_CHANGED]++;
		return 0;
	}
	if (old_p && !new_p) {
		/* a leaf or a whole table dropped: coalesce the task's drops into one range */
		if (imp->run_pid != t->pid || !imp->run_tz) {
			err = run_join(imp, t->pid);
			if (!err)
				err = run_close(imp);
			if (err)
				return err;
			run_tz_open(imp, t->pid, gfn, pages);
		} else if (gfn >= imp->run_tz_start && gfn + pages <= imp->run_tz_end) {
			/* inside a table already dropped */
		} else if (gfn == imp->run_tz_end) {
			imp->run_tz_end = gfn + pages;
		} else {
			err = run_close(imp);
			if (err)
				return err;
			run_tz_open(imp, t->pid, gfn, pages);
		}
		imp->st->used[EPTF_IEV_TDP_SPTE_CHANGED]++;
		return 0;
	}
	err = run_close(imp);
	if (err)
		return err;
	if (new_leaf) {
		bool wr = new & TSPTE_W;
		bool x = (new & TSPTE_X_EPT) && !(new & TSPTE_NX);
		bool same = old_leaf && ((old ^ new) & TSPTE_FRAME) == 0;
		if (same && !(wr && !(old & TSPTE_W)) && !(x && !((old & TSPTE_X_EPT) && !(old & TSPTE_NX)))) {
			if ((old & TSPTE_W) && !wr) {
				const struct eptf_import_slot *s = slot_of_gfn(imp, gfn);
				if (s && (s->flags & EPTF_SLOTF_DIRTY_LOG)) {
					/* the slot's write-protection by dirty logging: the model did it */
					imp->st->ignored[EPTF_IEV_TDP_SPTE_CHANGED]++;
					return 0;
				}
				imp->st->used[EPTF_IEV_TDP_SPTE_CHANGED]++;
				struct eptf_op op = { .kind = EPTF_OP_WP_GFN, .addr = gfn };
				return emit(imp, &op);
			}
			imp->st->ignored[EPTF_IEV_TDP_SPTE_CHANGED]++; /* accessed/dirty bits only */
			return 0;
		}
		if (!slot_of_gfn(imp, gfn)) {
			imp->st->unplaced[EPTF_IEV_TDP_SPTE_CHANGED]++;
			return 0;
		}
		err = begin(imp);
		if (err)
			return err;
		unsigned v = task_vcpu(imp, t);
		struct vcpu_state *vs = &imp->vcpus[v];
		if (!vs->has_root || !vs->direct || vs->root != ev->as_id) {
			vs->has_root = true;
			vs->direct = true;
			vs->root = ev->as_id;
			struct eptf_op rl = { .kind = EPTF_OP_ROOT_LOAD, .vcpu = v, .addr = ev->as_id,
					      .flags = EPTF_OPF_DIRECT };
			err = emit(imp, &rl);
			if (err)
				return err;
		}
		if ((err = live_path(imp, NULL, v, gfn, gfn, level, true)))
			return err;
		imp->st->used[EPTF_IEV_TDP_SPTE_CHANGED]++;
		struct eptf_op op = { .kind = EPTF_OP_MAP, .vcpu = v, .addr = gfn, .level = (uint8_t)level,
				      .flags = (uint8_t)((wr ? EPTF_OPF_WRITE : 0) | (x ? EPTF_OPF_EXEC : 0)) };
		err = emit(imp, &op);
		if (err)
			return err;
		if (t->pf_pending && (t->pf_page & ~(pages - 1)) == gfn) {
			t->pf_pending = false;
			return emit_access(imp, v, t->pf_page, t->pf_err);
		}
		return 0;
	}
	/* a link to a new table, or non-present to non-present: the leaves that follow say it */
	imp->st->ignored[EPTF_IEV_TDP_SPTE_CHANGED]++;
	return 0;
}

/* Clip a host range to the guest's memslots: one op per slot it touches. */
static int on_hva_range(struct imp *imp, unsigned evkind, uint32_t opkind, uint64_t start, uint64_t end)
{
	bool any = false;
	for (size_t i = 0; i < imp->nslots; i++) {
		const struct eptf_import_slot *s = &imp->slots[i];
		uint64_t lo = s->hva, hi = s->hva + s->npages * 4096;
		uint64_t a = start > lo ? start : lo, b = end < hi ? end : hi;
		if (a >= b)
			continue;
		any = true;
		struct eptf_op op = { .kind = opkind, .addr = a, .count = b };
		int err = emit(imp, &op);
		if (err)
			return err;
	}
	if (any) {
		imp->st->used[evkind]++;
	} else {
		imp->st->ignored[evkind]++;
		imp->st->outside_guest++;
	}
	return 0;
}

/* ---- markers ------------------------------------------------------------ */

/* Find `key=` in @args and parse its number. 1 found, 0 absent, -1 malformed. */
static int marker_num(const char *args, const char *key, uint64_t *out)
{
	size_t kl = strlen(key);
	const char *p = args;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		if ((size_t)(p - w) > kl && strncmp(w, key, kl) == 0 && w[kl] == '=')
			return imp_parse_u64(w + kl + 1, (size_t)(p - w) - kl - 1, out) ? 1 : -1;
	}
	return 0;
}

static int need(const char *args, const char *key, uint64_t *out, const char **why)
{
	int r = marker_num(args, key, out);
	if (r == 1)
		return 0;
	*why = r < 0 ? "bad number in eptflush marker" : "eptflush marker lacks a required key";
	return EPTF_EPARSE;
}

/* Emit a held-back slot_delete. */
static int del_flush(struct imp *imp)
{
	if (!imp->pend_del)
		return 0;
	imp->pend_del = false;
	struct eptf_op op = { .kind = EPTF_OP_SLOT_DELETE, .slot = imp->pend_del_slot };
	return emit(imp, &op);
}

static int on_marker(struct imp *imp, const struct imp_ev *ev, const char **why)
{
	const char *s = ev->text;
	size_t vl = strcspn(s, " ");
	const char *args = s + vl;
	uint64_t id = 0, a = 0, b = 0, c = 0, fl = 0;
	int err;
#define VERB(w) (vl == strlen(w) && strncmp(s, w, vl) == 0)
	if (VERB("vcpus")) {
		while (*args == ' ')
			args++;
		if (!imp_parse_u64(args, strlen(args), &a) || a < 1 || a > IMP_MAX_VCPUS) {
			*why = "bad vCPU count in eptflush marker";
			return EPTF_EPARSE;
		}
		if (imp->begun || imp->opts.nr_vcpus) {
			imp->st->ignored[EPTF_IEV_MARKER]++;
			return 0;
		}
		imp->nr_vcpus = (unsigned)a;
	} else if (VERB("vcpu")) {
		while (*args == ' ')
			args++;
		size_t nl = strcspn(args, " ");
		if (!imp_parse_u64(args, nl, &a) || a >= IMP_MAX_VCPUS) {
			*why = "bad vCPU number in eptflush marker";
			return EPTF_EPARSE;
		}
		if ((err = need(args, "tid", &b, why)))
			return err;
		struct task *t = task_get(imp, (int)b);
		if (!t)
			return EPTF_ENOMEM;
		t->vcpu = (int)a;
	} else if (VERB("memslot")) {
		if ((err = begin(imp))) /* option memslots go first */
			return err;
		if ((err = need(args, "id", &id, why)) || (err = need(args, "gfn", &a, why)) ||
		    (err = need(args, "pages", &b, why)) || (err = need(args, "hva", &c, why)))
			return err;
		if (marker_num(args, "flags", &fl) < 0) {
			*why = "bad number in eptflush marker";
			return EPTF_EPARSE;
		}
		if (id > UINT32_MAX || b == 0 || b > EPTF_TRACE_PAGE_LIMIT || a + b > EPTF_TRACE_PAGE_LIMIT ||
		    fl > 3 || (c & 0xfff) || c + b * 4096 < c) {
			*why = "memslot out of range in eptflush marker";
			return EPTF_EPARSE;
		}
		struct eptf_import_slot sl = { .slot = (uint32_t)id, .base_gfn = a, .npages = b, .hva = c,
					       .flags = (uint32_t)fl };
		if ((err = slot_add(imp, &sl)))
			return err;
		struct eptf_op op = { .kind = EPTF_OP_SLOT_ADD, .slot = sl.slot, .addr = a, .count = b,
				      .value = c, .flags = (uint8_t)fl };
		if ((err = emit(imp, &op)))
			return err;
	} else if (VERB("memslot-delete")) {
		if ((err = begin(imp)))
			return err;
		if ((err = need(args, "id", &id, why)))
			return err;
		struct eptf_import_slot *sl = id <= UINT32_MAX ? slot_find(imp, (uint32_t)id) : NULL;
		if (!sl) {
			*why = "eptflush marker deletes an unknown memslot";
			return EPTF_EPARSE;
		}
		*sl = imp->slots[--imp->nslots];
		if ((err = del_flush(imp)))
			return err;
		/*
		 * Held back: if the ioctl zaps everything with
		 * kvm_mmu_zap_all_fast (it does on these kernels), that zap's
		 * commit is the flush and the slot_delete comes after it.
		 */
		imp->pend_del = true;
		imp->pend_del_after_zap = false;
		imp->pend_del_slot = (uint32_t)id;
		imp->pend_del_pid = ev->pid;
	} else if (VERB("memslot-flags")) {
		if ((err = begin(imp)))
			return err;
		if ((err = need(args, "id", &id, why)) || (err = need(args, "flags", &fl, why)))
			return err;
		struct eptf_import_slot *sl = id <= UINT32_MAX ? slot_find(imp, (uint32_t)id) : NULL;
		if (!sl || fl > 3) {
			*why = "eptflush marker names an unknown memslot or bad flags";
			return EPTF_EPARSE;
		}
		sl->flags = (uint32_t)fl;
		struct eptf_op op = { .kind = EPTF_OP_SLOT_FLAGS, .slot = (uint32_t)id, .flags = (uint8_t)fl };
		if ((err = emit(imp, &op)))
			return err;
	} else if (VERB("get-dirty-log")) {
		if ((err = need(args, "id", &id, why)))
			return err;
		if (id > UINT32_MAX || !slot_find(imp, (uint32_t)id)) {
			*why = "eptflush marker names an unknown memslot";
			return EPTF_EPARSE;
		}
		struct eptf_op op = { .kind = EPTF_OP_GET_DIRTY_LOG, .slot = (uint32_t)id };
		if ((err = emit(imp, &op)))
			return err;
	} else if (VERB("clear-dirty-log")) {
		if ((err = need(args, "id", &id, why)) || (err = need(args, "first", &a, why)) ||
		    (err = need(args, "mask", &b, why)))
			return err;
		struct eptf_import_slot *cs = id <= UINT32_MAX ? slot_find(imp, (uint32_t)id) : NULL;
		if (!cs || a % 64 || a >= cs->npages) {
			*why = "eptflush marker names an unknown memslot or a bad first page";
			return EPTF_EPARSE;
		}
		struct eptf_op op = { .kind = EPTF_OP_CLEAR_DIRTY_LOG, .slot = (uint32_t)id, .addr = a,
				      .value = b };
		if ((err = emit(imp, &op)))
			return err;
	} else if (VERB("phase")) {
		char buf[200];
		while (*args == ' ')
			args++;
		snprintf(buf, sizeof(buf), "phase %s", args);
		if ((err = emit_comment(imp, buf)))
			return err;
	} else if (VERB("end")) {
		if ((err = run_close(imp)) || (err = del_flush(imp)))
			return err;
		imp->ended = true;
	} else {
		imp->st->ignored[EPTF_IEV_MARKER]++;
		return 0;
	}
#undef VERB
	imp->st->used[EPTF_IEV_MARKER]++;
	return 0;
}

/* ---- dispatch ------------------------------------------------------------ */

static int feed(struct imp *imp, const struct imp_ev *ev, const char **why);

int imp_feed(struct imp *imp, const struct imp_ev *ev, const char **why)
{
	imp->why_buf[0] = 0;
	*why = NULL;
	int err = feed(imp, ev, why);
	if (err == EPTF_EPARSE && !*why)
		*why = imp->why_buf[0] ? imp->why_buf : "malformed event";
	return err;
}

static int feed(struct imp *imp, const struct imp_ev *ev, const char **why)
{
	int err;
	if (ev->kind >= EPTF_IEV_COUNT) {
		*why = "unknown event";
		return EPTF_EPARSE;
	}
	if (ev->cpu >= 0) {
		if (ev->cpu >= IMP_MAX_CPUS) {
			*why = "CPU number out of range";
			return EPTF_EPARSE;
		}
		if ((size_t)ev->cpu >= imp->ncpu_ts) {
			size_t n = (size_t)ev->cpu + 1;
			uint64_t *ts = realloc(imp->cpu_ts, n * sizeof(*ts));
			if (!ts)
				return EPTF_ENOMEM;
			memset(ts + imp->ncpu_ts, 0, (n - imp->ncpu_ts) * sizeof(*ts));
			imp->cpu_ts = ts;
			imp->ncpu_ts = n;
		}
		if (imp->cpu_ts[ev->cpu] && ev->ts_ns + 1 < imp->cpu_ts[ev->cpu]) {
			*why = "event out of timestamp order on its CPU";
			return EPTF_EPARSE;
		}
		imp->cpu_ts[ev->cpu] = ev->ts_ns + 1;
	}
	if (imp->ended) {
		imp->st->after_end++;
		return 0;
	}
	struct task *t = task_get(imp, ev->pid);
	if (!t)
		return EPTF_ENOMEM;

	/* A run ends at any other event of its task, and at any MMU-lock event of another task. */
	bool in_run = ev->kind == EPTF_IEV_PREPARE_ZAP || ev->kind == EPTF_IEV_SYNC_PAGE ||
		      ev->kind == EPTF_IEV_TDP_SPTE_CHANGED;
	bool lockless = ev->kind == EPTF_IEV_WALK || ev->kind == EPTF_IEV_PAGING_ELEMENT;
	if ((imp->run_pid == ev->pid && !in_run) || (imp->run_pid != ev->pid && !lockless)) {
		if ((err = run_close(imp)))
			return err;
	}
	/* after the run closed: its SYNC may just have opened the window */
	if (imp->win) {
		/* a write to a synced table (unsync), its zap, or a long wait ends the window */
		bool close = ++imp->win_events > WIN_MAX_EVENTS;
		if ((ev->kind == EPTF_IEV_UNSYNC_PAGE || ev->kind == EPTF_IEV_PREPARE_ZAP) &&
		    win_has_table(imp, ev->gfn))
			close = true;
		if (ev->kind == EPTF_IEV_MARKER && strncmp(ev->text, "end", 3) == 0)
			close = true;
		if (close && (err = win_flush(imp)))
			return err;
	}

	if (ev->kind != EPTF_IEV_TDP_SPTE_CHANGED && ev->kind != EPTF_IEV_SPLIT_HUGE_PAGE)
		t->implied = ev->kind == EPTF_IEV_UNMAP_HVA_RANGE || ev->kind == EPTF_IEV_AGE_HVA ||
			     (ev->kind == EPTF_IEV_MARKER && strncmp(ev->text, "memslot", 7) == 0);
	if (imp->pend_del && imp->pend_del_pid == ev->pid) {
		if (ev->kind == EPTF_IEV_ZAP_ALL_FAST)
			imp->pend_del_after_zap = true;
		else if (!(imp->pend_del_after_zap && ev->kind == EPTF_IEV_PREPARE_ZAP) &&
			 (err = del_flush(imp)))
			return err;
	}
	if (t->walking && ev->kind != EPTF_IEV_PAGING_ELEMENT) {
		if ((err = walk_finish(imp, t)))
			return err;
	}

	switch (ev->kind) {
	case EPTF_IEV_WALK:
		t->walking = true;
		t->fault = true;
		t->gva = ev->addr;
		t->pferr = ev->pferr;
		t->have = 0;
		t->top = 0;
		t->ngets = 0;
		{
			if ((err = begin(imp)))
				return err;
			unsigned v = task_vcpu(imp, t);
			t->walk_root_known = imp->vcpus[v].has_root && !imp->vcpus[v].direct;
			t->walk_root = imp->vcpus[v].root;
		}
		imp->st->used[ev->kind]++;
		return 0;
	case EPTF_IEV_PAGING_ELEMENT:
		/*
		 * The walker retries from the top without a new walk event when
		 * setting an A/D bit races (FNAME(walk_addr_generic),
		 * `goto retry_walk`): the top level again restarts the walk.
		 */
		if (t->walking && t->top && ev->level == t->top)
			t->have = 0;
		if (!t->walking || ev->level < 1 || ev->level > 5 || (t->top && ev->level > t->top) ||
		    (t->have >> ev->level & 1)) {
			imp->st->unplaced[ev->kind]++;
			return 0;
		}
		if (!t->top)
			t->top = ev->level;
		t->pte[ev->level] = ev->pte;
		t->have |= (uint8_t)(1u << ev->level);
		imp->st->used[ev->kind]++;
		return 0;
	case EPTF_IEV_GET_PAGE:
		return on_get_page(imp, t, ev);
	case EPTF_IEV_PREPARE_ZAP:
		return on_prepare_zap(imp, t, ev);
	case EPTF_IEV_SYNC_PAGE:
		return on_sync_page(imp, t, ev);
	case EPTF_IEV_UNSYNC_PAGE:
		return on_unsync_page(imp, ev);
	case EPTF_IEV_SET_SPTE:
		return on_set_spte(imp, t, ev);
	case EPTF_IEV_TDP_SPTE_CHANGED:
		return on_tdp_changed(imp, t, ev);
	case EPTF_IEV_UNMAP_HVA_RANGE:
		if (ev->end < ev->start) {
			*why = "host range ends before it starts";
			return EPTF_EPARSE;
		}
		return on_hva_range(imp, ev->kind, EPTF_OP_UNMAP_HVA, ev->start, ev->end);
	case EPTF_IEV_AGE_HVA:
		if (ev->end < ev->start) {
			*why = "host range ends before it starts";
			return EPTF_EPARSE;
		}
		/*
		 * kvm_age_hva fires for both clear_flush_young and clear_young
		 * (virt/kvm/kvm_main.c). DAMON ages through
		 * mmu_notifier_clear_young (mm/damon/ops-common.c): no flush.
		 * Reclaim (folio_referenced) uses clear_flush_young.
		 */
		return on_hva_range(imp, ev->kind, ev->damon ? EPTF_OP_CLEAR_YOUNG : EPTF_OP_CLEAR_FLUSH_YOUNG,
				    ev->start, ev->end);
	case EPTF_IEV_PAGE_FAULT:
		if (ev->vcpu_id < IMP_MAX_VCPUS)
			t->vcpu = (int)ev->vcpu_id;
		t->pf_pending = true;
		t->pf_page = ev->addr >> 12;
		t->pf_err = ev->pferr;
		imp->st->used[ev->kind]++;
		return 0;
	case EPTF_IEV_ZAP_ALL_FAST: {
		char buf[96];
		snprintf(buf, sizeof(buf), "kvm_mmu_zap_all_fast gen %u used_pages %u: obsolete pages follow",
			 (unsigned)ev->gen, ev->used_pages);
		imp->st->used[ev->kind]++;
		return emit_comment(imp, buf);
	}
	case EPTF_IEV_MARKER:
		return on_marker(imp, ev, why);
	case EPTF_IEV_TEST_AGE_HVA:       /* asks, changes nothing */
	case EPTF_IEV_SPTE_REQUESTED:     /* the set_spte that follows says what was installed */
	case EPTF_IEV_SPLIT_HUGE_PAGE:    /* the TDP spte_changed events carry the effect */
	default:
		imp->st->ignored[ev->kind]++;
		return 0;
	}
}

void imp_other(struct imp *imp)
{
	imp->st->other_events++;
}

int imp_finish(struct imp *imp)
{
	int err;
	for (size_t i = 0; i < imp->tasks.cap; i++) {
		struct task *t = imp->tasks.vals[i];
		if (t && t != IMP_MAP_TOMB && t->walking && (err = walk_finish(imp, t)))
			return err;
	}
	if ((err = run_close(imp)) || (err = del_flush(imp)))
		return err;
	if (imp->win && (err = win_flush(imp)))
		return err;
	return begin(imp);
}

int imp_create(const struct eptf_import_options *opts, const struct eptf_import_sink *sink,
	       struct eptf_import_stats *st, struct imp **out)
{
	struct imp *imp = calloc(1, sizeof(*imp));
	if (!imp)
		return EPTF_ENOMEM;
	imp->opts = *opts;
	imp->sink = *sink;
	imp->st = st;
	imp->run_pid = -1;
	imp->nr_vcpus = opts->nr_vcpus ? opts->nr_vcpus : 1;
	if (imp->nr_vcpus > IMP_MAX_VCPUS) {
		free(imp);
		return EPTF_EINVAL;
	}
	for (size_t i = 0; i < opts->nslots; i++) {
		int err = slot_add(imp, &opts->slots[i]);
		if (err) {
			imp_destroy(imp);
			return err;
		}
	}
	*out = imp;
	return 0;
}

void imp_destroy(struct imp *imp)
{
	if (!imp)
		return;
	imp_map_free_all(&imp->tasks);
	imp_map_free_all(&imp->stabs);
	free(imp->sps.keys); /* values are owned by stabs */
	free(imp->sps.vals);
	imp_map_free_all(&imp->gtabs);
	free(imp->live.keys); /* values are a tag */
	free(imp->live.vals);
	free(imp->seen.keys);
	free(imp->seen.vals);
	for (size_t i = 0; i < imp->qn; i++)
		free(imp->q[i].comment);
	free(imp->q);
	free(imp->slots);
	free(imp->cpu_ts);
	free(imp);
}
