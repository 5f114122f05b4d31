/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Replay groups (include/eptflush/replay.h, "Lanes over one L1 model"):
 * several lanes, each a replay of the same ops under its own strategy,
 * parent and checker, sharing one L1 model. The contract is that each lane
 * behaves exactly as a replay of its own. Each test runs a group and, beside
 * it, one eptf_replay_create() replay per lane with the same configuration,
 * feeds both the same ops one at a time, and after every op requires, lane
 * by lane:
 *   - every field of struct eptf_metrics equal (named on failure);
 *   - the same on_violation, on_error (op index, message) and on_flush
 *     (op index, metrics) callbacks, in the same order (one log per lane,
 *     so the interleaving of the three kinds is compared too);
 *   - within one op, a group's callbacks come lane by lane, in lane order;
 *   - the same return value from the op;
 * and at the end every eptf_parent_stats counter of each lane's parent
 * equal (live entries and bytes show a root the lane's parent was not told
 * about), the shared L1 model's counters equal to a standalone model's,
 * and the shared model consistent (eptf_mmu_check).
 *
 * Inputs: every synthetic workload at three seeds, the parent with and
 * without fault injection, Intel and AMD, large entries, a small TLB; the
 * hand-written traces in tests/data; and a trace of refused ops (bad slot
 * ids, a seed-v2 get_dirty_log on a deleted slot, a vCPU out of range,
 * ...). Refused ops are also spliced into the other inputs, so every lane
 * takes the error path. Lanes: every registered strategy and `ideal`, plus
 * a strategy that never flushes (violations wherever the parent caches
 * something), a probe that keeps per-lane state and reports what it sees
 * of the flush point and of L1 at every flush point (a lane that flushed
 * after the model freed the zapped pages reports other numbers), a lane
 * with the checker off and lanes whose parent differs from the others'.
 * The lanes are rotated from case to case, so that each strategy is the
 * first, a middle and the last lane somewhere.
 *
 * eptf_replay_create() makes a group of one, so what is compared is a lane
 * among many against the same lane alone: a fault that depends on a lane's
 * place or on the number of lanes shows; one that every replay has alike
 * is for the engine's own tests (test_replay_engine and the others).
 *
 * The API edges: n out of range, lanes with different nr_vcpus, an unknown
 * strategy in lane k (*failed == k, failed may be NULL), lane indices out
 * of range, eptf_replay_op() on a grouped lane (EPTF_EINVAL, nothing
 * changes), eptf_replay_destroy() on a grouped lane (no effect),
 * eptf_replay_group_destroy(NULL), one mmu for every lane, and a group of
 * one lane against eptf_replay_create().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/checker.h>
#include <eptflush/error.h>
#include <eptflush/flush.h>
#include <eptflush/mmu.h>
#include <eptflush/replay.h>
#include <eptflush/trace.h>
#include <eptflush/workload.h>

#define NVCPUS 2
#define MAXL 16
/* a refused op is spliced into the workloads after every REFUSE_EVERY ops */
#define REFUSE_EVERY 211

/* ---- op streams -------------------------------------------------------- */

struct stream {
	char name[96];
	unsigned nr_vcpus;
	struct eptf_op *ops;
	size_t n, cap;
	size_t nrefused; /* refused_lines spliced in */
};

static void stream_push(struct stream *s, const struct eptf_op *op)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->ops = realloc(s->ops, s->cap * sizeof(*s->ops));
		assert_non_null(s->ops);
	}
	s->ops[s->n++] = *op;
}

static void stream_push_line(struct stream *s, const char *line)
{
	struct eptf_op op;
	const char *why = NULL;

	memset(&op, 0, sizeof(op));
	if (eptf_op_parse(line, &op, &why) != 0)
		fail_msg("bad test op \"%s\": %s", line, why ? why : "?");
	stream_push(s, &op);
}

static void stream_free(struct stream *s)
{
	free(s->ops);
	memset(s, 0, sizeof(*s));
}

/* Ops every model refuses (with NVCPUS vCPUs and the workloads' memslots). */
static const char *const refused_lines[] = {
	"get_dirty_log slot=0x7fff",                  /* no such slot: seed-v2 defect 8 message */
	"map vcpu=9 addr=0x10 level=1 w",            /* vCPU out of range */
	"clear_dirty_log slot=0x7fff first=0 mask=0x1",
	"slot_delete slot=0x7ffe",
	"slot_flags slot=0x7ffd dirty_log",
};
#define NREFUSED (sizeof(refused_lines) / sizeof(refused_lines[0]))

static const struct {
	const char *name;
	uint64_t guest_pages;
	uint64_t ops;
} workloads[] = {
	{ "boot", 8ull << 9, 12000 },      { "migrate", 64ull << 9, 6000 },
	{ "overcommit", 64ull << 9, 4000 }, { "shadow", 64ull << 9, 4000 },
	{ "hugepage", 64ull << 9, 2500 },  { "mixed", 64ull << 9, 4000 },
};
#define NWL (sizeof(workloads) / sizeof(workloads[0]))

static void stream_workload(struct stream *s, size_t wi, uint64_t seed)
{
	struct eptf_workload_params wp;
	struct eptf_workload *wl;
	size_t k = 0;

	memset(s, 0, sizeof(*s));
	eptf_workload_params_default(&wp);
	wp.guest_pages = workloads[wi].guest_pages;
	wp.nr_vcpus = NVCPUS;
	wp.ops = workloads[wi].ops;
	wp.seed = seed;
	assert_int_equal(eptf_workload_create(workloads[wi].name, &wp, &wl), 0);
	snprintf(s->name, sizeof(s->name), "%s seed %llu", workloads[wi].name, (unsigned long long)seed);
	s->nr_vcpus = NVCPUS;
	for (;;) {
		struct eptf_op op;

		memset(&op, 0, sizeof(op));
		if (eptf_workload_next(wl, &op) != 1)
			break;
		stream_push(s, &op);
		if (s->n % REFUSE_EVERY == 0) {
			stream_push_line(s, refused_lines[k++ % NREFUSED]);
			s->nrefused++;
		}
	}
	eptf_workload_destroy(wl);
	assert_true(s->n > workloads[wi].ops);
}

static void stream_file(struct stream *s, const char *file)
{
	struct eptf_trace_header hdr;
	struct eptf_trace_reader *rd;
	struct eptf_diag diag;
	char path[512];
	int err;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/%s", EPTF_TEST_DATA, file);
	if (eptf_trace_open(path, &hdr, &rd, &diag) != 0)
		fail_msg("%s", diag.msg);
	snprintf(s->name, sizeof(s->name), "%s", file);
	s->nr_vcpus = hdr.nr_vcpus;
	for (size_t k = 0;;) {
		struct eptf_op op;

		memset(&op, 0, sizeof(op));
		err = eptf_trace_read(rd, &op, &diag);
		if (err < 0)
			fail_msg("%s", diag.msg);
		if (err == 0)
			break;
		stream_push(s, &op);
		/* the traces are short: a refused op after every few, so that every lane reports errors */
		if (s->n % 5 == 0) {
			stream_push_line(s, refused_lines[k++ % NREFUSED]);
			s->nrefused++;
		}
	}
	eptf_trace_close(rd);
	assert_true(s->n > 0);
}

/*
 * Refused ops between ordinary ones: every kind of refusal the error path
 * sees, the seed-v2 special message (get/clear_dirty_log on a deleted
 * slot), flush points and root frees before and after them.
 */
static const char *const refused_trace[] = {
	"slot_add slot=0 gfn=0x0 pages=0x800 hva=0x7f0000000000",
	"slot_add slot=1 gfn=0x800 pages=0x800 hva=0x7f0040000000",
	"root_load vcpu=0 as=0",
	"root_load vcpu=1 as=0",
	"map vcpu=0 addr=0x10 level=1 w",
	"map vcpu=1 addr=0x810 level=1 w",
	"map vcpu=1 addr=0xa00 level=2 w",
	"access vcpu=0 addr=0x10 w",
	"access vcpu=1 addr=0x810 w",
	"access vcpu=1 addr=0xa05 w",
	"slot_flags slot=1 dirty_log",
	"access vcpu=1 addr=0x810 w",
	"get_dirty_log slot=1",
	"slot_delete slot=1",
	"get_dirty_log slot=1",                       /* deleted: ENOENT (seed-v2: defect 8) */
	"clear_dirty_log slot=1 first=0 mask=0x3",    /* the same */
	"get_dirty_log slot=0",                       /* no dirty bitmap: ENOENT */
	"map vcpu=0 addr=0x900 level=1 w",            /* outside every memslot */
	"map vcpu=5 addr=0x10 level=1",               /* vCPU out of range */
	"slot_add slot=0 gfn=0x1000 pages=0x10 hva=0x7f0080000000", /* the id exists */
	"slot_add slot=3 gfn=0x100 pages=0x10 hva=0x7f00c0000000",  /* overlaps slot 0 */
	"slot_flags slot=9 dirty_log",                /* no such slot */
	"slot_move slot=9 gfn=0x4000",
	"slot_delete slot=1",                         /* already deleted */
	"sync vcpu=7",
	"access vcpu=0 addr=0x10 w",
	"access vcpu=1 addr=0x11",
	"prepare_zap gfn=0x0 level=1 direct",
	"commit_zap",
	"get_dirty_log slot=0x10001",                 /* address space 1: no such slot */
	"access vcpu=0 addr=0x10 w",
	"map vcpu=0 addr=0x20 level=1 w",
	"access vcpu=0 addr=0x20",
	"prepare_zap gfn=0x0 level=4 direct",         /* the root itself */
	"commit_zap",
	"access vcpu=0 addr=0x20",
	"root_load vcpu=0 as=0",
	"root_load vcpu=1 as=0",
	"map vcpu=0 addr=0x20 level=1 w",
	"access vcpu=1 addr=0x20 w",
	"slot_add slot=1 gfn=0x800 pages=0x800 hva=0x7f0040000000",
	"slot_flags slot=1 dirty_log",
	"map vcpu=1 addr=0x820 level=1 w",
	"access vcpu=1 addr=0x820 w",
	"clear_dirty_log slot=1 first=0 mask=0xffffffffffffffff",
	"slot_delete slot=1",
	"clear_dirty_log slot=1 first=0 mask=0x1",   /* deleted again */
	"zap_range gfn=0x0 pages=0x800",
	"get_dirty_log slot=1",
	"access vcpu=0 addr=0x20",
};

/* The ops of refused_trace that the model refuses. */
#define REFUSED_IN_TRACE 14

static void stream_refused(struct stream *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "refused ops");
	s->nr_vcpus = NVCPUS;
	for (size_t i = 0; i < sizeof(refused_trace) / sizeof(refused_trace[0]); i++)
		stream_push_line(s, refused_trace[i]);
}

/* ---- callback logs ------------------------------------------------------ */

enum ev_kind { EV_VIOLATION = 1, EV_ERROR, EV_FLUSH };

struct event {
	enum ev_kind kind;
	uint64_t op_index;
	uint64_t seq; /* order over all the lanes of one side (group or standalone) */
	/* EV_FLUSH */
	struct eptf_metrics m;
	/* EV_VIOLATION */
	enum eptf_site site;
	uint64_t root_hpa;
	struct eptf_cached cached;
	bool mapped;
	struct eptf_xlate current;
	/* EV_ERROR: the message; EV_VIOLATION: why */
	char text[200];
	size_t text_len;
};

struct recorder {
	struct event *ev;
	size_t n, cap;
	uint64_t *seq; /* shared by one side's recorders */
	/* totals over a whole run */
	uint64_t violations, errors, flushes;
	bool seed_v2_defect8; /* an error message named seed-v2 defect 8 */
};

static struct event *rec_push(struct recorder *r, enum ev_kind kind, uint64_t op_index)
{
	struct event *e;

	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 16;
		r->ev = realloc(r->ev, r->cap * sizeof(*r->ev));
		assert_non_null(r->ev);
	}
	e = &r->ev[r->n++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->op_index = op_index;
	e->seq = (*r->seq)++;
	return e;
}

static void rec_text(struct event *e, const char *s)
{
	e->text_len = s ? strlen(s) : (size_t)-1;
	snprintf(e->text, sizeof(e->text), "%s", s ? s : "(null)");
}

static void rec_violation(void *ctx, const struct eptf_violation *v)
{
	struct recorder *r = ctx;
	struct event *e = rec_push(r, EV_VIOLATION, v->op_index);

	e->site = v->site;
	e->root_hpa = v->root_hpa;
	e->cached = v->cached;
	e->mapped = v->mapped;
	if (v->mapped)
		e->current = v->current;
	rec_text(e, v->why);
	r->violations++;
}

static void rec_error(void *ctx, uint64_t op_index, const char *msg)
{
	struct recorder *r = ctx;
	struct event *e = rec_push(r, EV_ERROR, op_index);

	rec_text(e, msg);
	if (msg && strstr(msg, "seed-v2 defect 8"))
		r->seed_v2_defect8 = true;
	r->errors++;
}

static void rec_flush(void *ctx, uint64_t op_index, const struct eptf_metrics *m)
{
	struct recorder *r = ctx;
	struct event *e = rec_push(r, EV_FLUSH, op_index);

	e->m = *m;
	r->flushes++;
}

static const char *kind_name(enum ev_kind k)
{
	return k == EV_VIOLATION ? "on_violation" : k == EV_ERROR ? "on_error" : "on_flush";
}

static void describe(const struct event *e, char *buf, size_t len)
{
	switch (e->kind) {
	case EV_VIOLATION:
		snprintf(buf, len,
			 "on_violation(op %llu, site %s, root %#llx, %s entry page %#llx level %u frame %#llx w%d x%d, "
			 "mapped %d, why %s)",
			 (unsigned long long)e->op_index, eptf_site_name(e->site), (unsigned long long)e->root_hpa,
			 e->cached.in_tlb ? "TLB" : "EPT02", (unsigned long long)e->cached.addr, e->cached.level,
			 (unsigned long long)e->cached.frame, e->cached.writable, e->cached.executable, e->mapped,
			 e->text);
		break;
	case EV_ERROR:
		snprintf(buf, len, "on_error(op %llu, \"%s\")", (unsigned long long)e->op_index, e->text);
		break;
	default:
		snprintf(buf, len, "on_flush(op %llu, ops %llu, flush_points %llu)", (unsigned long long)e->op_index,
			 (unsigned long long)e->m.ops, (unsigned long long)e->m.flush_points);
		break;
	}
}

/* The first metric that differs, or -1. */
static int metrics_diff(const struct eptf_metrics *a, const struct eptf_metrics *b)
{
	for (size_t k = 0; eptf_metrics_keys[k]; k++)
		if (eptf_metrics_get(a, k) != eptf_metrics_get(b, k))
			return (int)k;
	return -1;
}

/* Fails naming the first field of @got that differs from @want. */
static void expect_same_metrics(const char *where, const struct eptf_metrics *got, const struct eptf_metrics *want)
{
	int k = metrics_diff(got, want);

	if (k >= 0)
		fail_msg("%s: metrics.%s is %llu in the group, %llu standalone", where, eptf_metrics_keys[k],
			 (unsigned long long)eptf_metrics_get(got, (size_t)k),
			 (unsigned long long)eptf_metrics_get(want, (size_t)k));
	/* the keys name every field (replay.c asserts so): the whole struct must agree too */
	assert_memory_equal(got, want, sizeof(*got));
}

static bool same_cached(const struct eptf_cached *a, const struct eptf_cached *b)
{
	return a->root_hpa == b->root_hpa && a->addr == b->addr && a->level == b->level && a->frame == b->frame &&
	       a->writable == b->writable && a->executable == b->executable && a->in_tlb == b->in_tlb;
}

static bool same_xlate(const struct eptf_xlate *a, const struct eptf_xlate *b)
{
	return a->frame == b->frame && a->level == b->level && a->writable == b->writable &&
	       a->executable == b->executable && a->accessed == b->accessed;
}

/* The group lane's log @g of one op must be the standalone's @s, event by event. */
static void expect_same_log(const char *where, const struct recorder *g, const struct recorder *s)
{
	char a[400], b[400];

	for (size_t i = 0; i < g->n || i < s->n; i++) {
		const struct event *x = i < g->n ? &g->ev[i] : NULL, *y = i < s->n ? &s->ev[i] : NULL;
		bool same;

		if (!x || !y) {
			describe(x ? x : y, a, sizeof(a));
			fail_msg("%s: callback %zu: %s %s, none %s", where, i, a,
				 x ? "in the group" : "standalone", x ? "standalone" : "in the group");
		}
		if (x->kind != y->kind || x->op_index != y->op_index) {
			same = false;
		} else if (x->kind == EV_FLUSH) {
			int k = metrics_diff(&x->m, &y->m);

			if (k >= 0)
				fail_msg("%s: callback %zu, on_flush of op %llu: metrics.%s is %llu in the group, %llu "
					 "standalone",
					 where, i, (unsigned long long)x->op_index, eptf_metrics_keys[k],
					 (unsigned long long)eptf_metrics_get(&x->m, (size_t)k),
					 (unsigned long long)eptf_metrics_get(&y->m, (size_t)k));
			same = true;
		} else if (x->kind == EV_ERROR) {
			same = x->text_len == y->text_len && !strcmp(x->text, y->text);
		} else {
			same = x->site == y->site && x->root_hpa == y->root_hpa &&
			       same_cached(&x->cached, &y->cached) && x->mapped == y->mapped && (!x->mapped || same_xlate(&x->current, &y->current)) &&
			       x->text_len == y->text_len && !strcmp(x->text, y->text);
		}
		if (!same) {
			describe(x, a, sizeof(a));
			describe(y, b, sizeof(b));
			fail_msg("%s: callback %zu (%s): group %s, standalone %s", where, i, kind_name(x->kind), a, b);
		}
	}
}

/* ---- parent and mmu counters ------------------------------------------- */

#define PSTAT(f) { offsetof(struct eptf_parent_stats, f), #f }
static const struct {
	size_t off;
	const char *name;
} pstats[] = {
	PSTAT(hypercalls),     PSTAT(list_hypercalls), PSTAT(full_flushes),   PSTAT(list_entries),
	PSTAT(pages_flushed),  PSTAT(rejected),        PSTAT(injected),       PSTAT(root_flushes),
	PSTAT(ept02_dropped),  PSTAT(tlb_dropped),     PSTAT(ept_violations), PSTAT(tlb_misses),
	PSTAT(tlb_hits),       PSTAT(ept02_entries),   PSTAT(tlb_entries),    PSTAT(modeled_cycles),
	PSTAT(bytes),          PSTAT(unmapped),        PSTAT(tlb_evictions),  PSTAT(tlb_replaced),
	PSTAT(ept02_replaced),
};
_Static_assert(sizeof(pstats) / sizeof(pstats[0]) * sizeof(uint64_t) == sizeof(struct eptf_parent_stats),
	       "every eptf_parent_stats field is compared");

static void expect_same_parent(const char *where, struct eptf_parent *gp, struct eptf_parent *sp)
{
	struct eptf_parent_stats a, b;

	eptf_parent_get_stats(gp, &a);
	eptf_parent_get_stats(sp, &b);
	for (size_t i = 0; i < sizeof(pstats) / sizeof(pstats[0]); i++) {
		uint64_t x, y;

		memcpy(&x, (const char *)&a + pstats[i].off, sizeof(x));
		memcpy(&y, (const char *)&b + pstats[i].off, sizeof(y));
		if (x != y)
			fail_msg("%s: parent stats.%s is %llu in the group, %llu standalone", where, pstats[i].name,
				 (unsigned long long)x, (unsigned long long)y);
	}
}

static void expect_same_mmu(const char *where, const struct eptf_mmu *gm, const struct eptf_mmu *sm)
{
	struct eptf_mmu_stats a, b;

	eptf_mmu_get_stats(gm, &a);
	eptf_mmu_get_stats(sm, &b);
#define MSTAT(f)                                                                                          \
	do {                                                                                              \
		if (a.f != b.f)                                                                           \
			fail_msg("%s: shared mmu stats." #f " is %llu, a standalone model's %llu", where, \
				 (unsigned long long)a.f, (unsigned long long)b.f);                        \
	} while (0)
	MSTAT(pages);
	MSTAT(leaf_sptes);
	MSTAT(mapped_4k);
	MSTAT(zapped_pages);
	MSTAT(faults);
	MSTAT(bytes);
#undef MSTAT
	assert_int_equal(eptf_mmu_check(gm, NULL), 0);
}

/* ---- test strategies ----------------------------------------------------- */

/* Never flushes: every stale entry survives (violations wherever the parent cached something). */
static int none_flush(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	(void)fp;
	ctx->stats.flush_points++;
	ctx->stats.skipped++;
	return 0;
}

static const struct eptf_strategy strategy_none = {
	.name = "test-none",
	.summary = "flushes nothing",
	.correct = false,
	.flush = none_flush,
};

/*
 * Full flushes, with per-lane state (init/fini), and a report at every
 * flush point of what the strategy sees: the flush point and L1 as
 * eptf_mmu_get_stats() and eptf_mmu_translate() give it. A lane that ran
 * after the model freed the zapped pages (eptf_mmu_finish() before the last
 * lane flushed), or saw another flush point, reports something else than
 * its standalone replay. Every third report counts as an error.
 */
struct probe {
	uint64_t calls;
};

static int probe_init(struct eptf_flush_ctx *ctx)
{
	ctx->priv = calloc(1, sizeof(struct probe));
	return ctx->priv ? 0 : EPTF_ENOMEM;
}

static void probe_fini(struct eptf_flush_ctx *ctx)
{
	free(ctx->priv);
	ctx->priv = NULL;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ull;
}

static int probe_flush(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	struct probe *s = ctx->priv;
	struct eptf_mmu_stats ms;
	uint64_t h = 0xcbf29ce484222325ull;
	char msg[200];

	ctx->stats.flush_points++;
	s->calls++;
	eptf_mmu_get_stats(ctx->mmu, &ms);
	/* the first items' pages as every listed root translates them now */
	for (size_t r = 0; r < fp->nroots; r++) {
		h = mix(h, fp->roots[r].hpa);
		for (size_t i = 0; i < fp->nitems && i < 8; i++) {
			struct eptf_xlate x;
			int err = eptf_mmu_translate(ctx->mmu, fp->roots[r].hpa, fp->items[i].addr, &x);

			h = mix(h, fp->items[i].addr);
			h = mix(h, (uint64_t)err);
			if (!err)
				h = mix(mix(h, x.frame), (uint64_t)x.level << 8 | x.writable << 1 | x.executable);
		}
	}
	snprintf(msg, sizeof(msg),
		 "test-probe %llu: %s, %zu items, %zu roots, %#llx; L1 %llu pages, %llu leaves, %llu bytes",
		 (unsigned long long)s->calls, eptf_site_name(fp->site), fp->nitems, fp->nroots,
		 (unsigned long long)h, (unsigned long long)ms.pages, (unsigned long long)ms.leaf_sptes,
		 (unsigned long long)ms.bytes);
	if (s->calls % 3 == 0)
		ctx->stats.errors++;
	if (ctx->error)
		ctx->error(ctx->error_ctx, fp->op_index, msg);
	return eptf_flush_full(ctx, fp);
}

static const struct eptf_strategy strategy_probe = {
	.name = "test-probe",
	.summary = "full flushes, and a report of what it sees at every flush point",
	.correct = true,
	.init = probe_init,
	.fini = probe_fini,
	.flush = probe_flush,
};

/* ---- lanes --------------------------------------------------------------- */

struct pcase {
	const char *name;
	enum eptf_parent_vendor vendor;
	bool inject;
	bool allow_large;
	unsigned backing_level;
	unsigned tlb_entries; /* 0: the default */
};

static const struct pcase pcases[] = {
	{ "intel", EPTF_PARENT_INTEL, false, false, 1, 0 },
	{ "intel+faults", EPTF_PARENT_INTEL, true, false, 1, 0 },
	{ "amd+large+2M-backing", EPTF_PARENT_AMD, false, true, 2, 0 },
	{ "amd+faults", EPTF_PARENT_AMD, true, false, 1, 0 },
	{ "intel+faults+large+small-tlb", EPTF_PARENT_INTEL, true, true, 1, 48 },
};
#define NPCASES (sizeof(pcases) / sizeof(pcases[0]))

static void parent_of(const struct pcase *pc, uint64_t seed, struct eptf_parent_config *out)
{
	eptf_parent_config_default(out);
	out->vendor = pc->vendor;
	out->allow_large = pc->allow_large;
	out->backing_level = pc->backing_level;
	if (pc->tlb_entries)
		out->tlb_entries = pc->tlb_entries;
	if (pc->inject) {
		out->inject.hv_error_ppm = 60000;
		out->inject.partial_ppm = 60000;
		out->inject.timeout_ppm = 60000;
		out->inject.seed = 1000 + seed;
	}
}

struct harness {
	char where[160];
	size_t n;
	struct eptf_replay_config cfgs[MAXL];
	char labels[MAXL][48];
	struct recorder grec[MAXL], srec[MAXL];
	uint64_t gseq, sseq;
	struct eptf_replay_group *g;
	struct eptf_replay *solo[MAXL];
	uint64_t ops_done;
};

static struct eptf_replay_config *lane_add(struct harness *h, const char *strategy,
					   const struct eptf_strategy *ops, const struct eptf_parent_config *pc,
					   unsigned nr_vcpus)
{
	struct eptf_replay_config *c;

	assert_true(h->n < MAXL);
	c = &h->cfgs[h->n];
	eptf_replay_config_default(c);
	c->strategy = strategy;
	c->strategy_ops = ops;
	c->nr_vcpus = nr_vcpus;
	c->parent = *pc;
	c->checker = true;
	snprintf(h->labels[h->n], sizeof(h->labels[h->n]), "%s", strategy);
	h->n++;
	return c;
}

/* One lane per registered strategy and ideal, all on parent @pc. */
static void lanes_registered(struct harness *h, const struct eptf_parent_config *pc, unsigned nr_vcpus)
{
	for (size_t i = 0; eptf_strategies[i]; i++)
		lane_add(h, eptf_strategies[i]->name, NULL, pc, nr_vcpus);
	lane_add(h, EPTF_IDEAL_NAME, NULL, pc, nr_vcpus);
}

/* Lanes beyond the registry, and lanes whose parent or checker differs from the others'. */
static void lanes_extra(struct harness *h, const struct eptf_parent_config *pc, unsigned nr_vcpus)
{
	struct eptf_replay_config *c;

	lane_add(h, strategy_none.name, &strategy_none, pc, nr_vcpus);
	lane_add(h, strategy_probe.name, &strategy_probe, pc, nr_vcpus);
	c = lane_add(h, "list", NULL, pc, nr_vcpus);
	c->checker = false;
	snprintf(h->labels[h->n - 1], sizeof(h->labels[0]), "list (checker off)");
	c = lane_add(h, "seed-v2", NULL, pc, nr_vcpus);
	c->parent.vendor = pc->vendor == EPTF_PARENT_INTEL ? EPTF_PARENT_AMD : EPTF_PARENT_INTEL;
	c->parent.allow_large = !pc->allow_large;
	snprintf(h->labels[h->n - 1], sizeof(h->labels[0]), "seed-v2 (other vendor)");
	c = lane_add(h, "adaptive", NULL, pc, nr_vcpus);
	c->parent.tlb_entries = 32;
	c->parent.inject.hv_error_ppm = 200000;
	c->parent.inject.seed = pc->inject.seed + 77;
	snprintf(h->labels[h->n - 1], sizeof(h->labels[0]), "adaptive (small TLB, faults)");
	c = lane_add(h, EPTF_IDEAL_NAME, NULL, pc, nr_vcpus);
	c->parent.backing_level = 3;
	snprintf(h->labels[h->n - 1], sizeof(h->labels[0]), "ideal (1G backing)");
}

/* Lane i becomes lane (i + @rot) % n: every strategy takes every place (first, middle, last) somewhere. */
static void lanes_rotate(struct harness *h, size_t rot)
{
	struct eptf_replay_config c[MAXL];
	char l[MAXL][48];

	rot %= h->n;
	memcpy(c, h->cfgs, sizeof(c));
	memcpy(l, h->labels, sizeof(l));
	for (size_t i = 0; i < h->n; i++) {
		h->cfgs[(i + rot) % h->n] = c[i];
		memcpy(h->labels[(i + rot) % h->n], l[i], sizeof(l[i]));
	}
}

static void harness_start(struct harness *h)
{
	struct eptf_replay_config gc[MAXL];
	size_t failed = 12345;
	int err;

	assert_true(h->n >= 1);
	for (size_t i = 0; i < h->n; i++) {
		memset(&h->grec[i], 0, sizeof(h->grec[i]));
		memset(&h->srec[i], 0, sizeof(h->srec[i]));
		h->grec[i].seq = &h->gseq;
		h->srec[i].seq = &h->sseq;
		h->cfgs[i].on_violation = rec_violation;
		h->cfgs[i].on_error = rec_error;
		h->cfgs[i].on_flush = rec_flush;
		gc[i] = h->cfgs[i];
		gc[i].ctx = &h->grec[i];
	}
	err = eptf_replay_group_create(gc, h->n, &h->g, &failed);
	if (err != 0)
		fail_msg("%s: eptf_replay_group_create: %s (failed %zu)", h->where, eptf_strerror(err), failed);
	assert_non_null(h->g);
	for (size_t i = 0; i < h->n; i++) {
		struct eptf_replay_config sc = h->cfgs[i];

		sc.ctx = &h->srec[i];
		assert_int_equal(eptf_replay_create(&sc, &h->solo[i]), 0);
	}
	/* every lane is there, its own replay, and shares the one model */
	for (size_t i = 0; i < h->n; i++) {
		struct eptf_replay *l = eptf_replay_group_lane(h->g, i);

		assert_non_null(l);
		assert_ptr_equal(eptf_replay_mmu(l), eptf_replay_mmu(eptf_replay_group_lane(h->g, 0)));
		assert_non_null(eptf_replay_parent(l));
		for (size_t j = 0; j < i; j++) {
			struct eptf_replay *o = eptf_replay_group_lane(h->g, j);

			assert_ptr_not_equal(l, o);
			assert_ptr_not_equal(eptf_replay_parent(l), eptf_replay_parent(o));
		}
		assert_ptr_not_equal(eptf_replay_mmu(l), eptf_replay_mmu(h->solo[i]));
	}
	assert_null(eptf_replay_group_lane(h->g, h->n));
	h->ops_done = 0;
}

/* Within one op, the group's callbacks come lane by lane, in lane order. */
static void expect_lane_order(const struct harness *h, uint64_t op)
{
	uint64_t last = 0;
	size_t last_lane = 0;
	bool any = false;

	for (size_t l = 0; l < h->n; l++) {
		const struct recorder *r = &h->grec[l];

		if (!r->n)
			continue;
		if (any && r->ev[0].seq < last)
			fail_msg("%s: op %llu: lane %zu (%s) had a callback before lane %zu (%s) was done", h->where,
				 (unsigned long long)op, l, h->labels[l], last_lane, h->labels[last_lane]);
		for (size_t i = 1; i < r->n; i++)
			assert_true(r->ev[i].seq > r->ev[i - 1].seq);
		last = r->ev[r->n - 1].seq;
		last_lane = l;
		any = true;
	}
}

/* Compare every lane after the op just replayed; forget its callbacks. */
static void harness_compare(struct harness *h, uint64_t op)
{
	char where[320];

	expect_lane_order(h, op);
	for (size_t l = 0; l < h->n; l++) {
		struct eptf_replay *lane = eptf_replay_group_lane(h->g, l);
		struct eptf_metrics a, b;

		snprintf(where, sizeof(where), "%s: lane %zu (%s), after op %llu", h->where, l, h->labels[l],
			 (unsigned long long)op);
		expect_same_log(where, &h->grec[l], &h->srec[l]);
		h->grec[l].n = 0;
		h->srec[l].n = 0;
		assert_non_null(lane);
		eptf_replay_metrics(lane, &a);
		eptf_replay_metrics(h->solo[l], &b);
		expect_same_metrics(where, &a, &b);
	}
}

/* Replay ops[i] in the group and in every standalone replay (the next op prefetched first, as the CLI does). */
static void harness_step(struct harness *h, const struct stream *s, size_t i)
{
	int eg;

	if (i + 1 < s->n) {
		eptf_replay_group_prefetch(h->g, &s->ops[i + 1]);
		for (size_t l = 0; l < h->n; l++)
			eptf_replay_prefetch(h->solo[l], &s->ops[i + 1]);
	}
	eg = eptf_replay_group_op(h->g, &s->ops[i]);
	for (size_t l = 0; l < h->n; l++) {
		int es = eptf_replay_op(h->solo[l], &s->ops[i]);

		if (eg != es)
			fail_msg("%s: op %zu: the group returned %d, lane %zu (%s) standalone %d", h->where, i, eg, l,
				 h->labels[l], es);
	}
	assert_int_equal(eg, 0);
	h->ops_done++;
	harness_compare(h, i);
}

struct totals {
	uint64_t violations, errors, flushes, faults, defect8;
};

static void harness_finish(struct harness *h, struct totals *t)
{
	char where[320];
	struct eptf_mmu *shared = eptf_replay_mmu(eptf_replay_group_lane(h->g, 0));

	for (size_t l = 0; l < h->n; l++) {
		struct eptf_replay *lane = eptf_replay_group_lane(h->g, l);
		struct eptf_metrics m;

		snprintf(where, sizeof(where), "%s: lane %zu (%s), at the end", h->where, l, h->labels[l]);
		expect_same_parent(where, eptf_replay_parent(lane), eptf_replay_parent(h->solo[l]));
		expect_same_mmu(where, shared, eptf_replay_mmu(h->solo[l]));
		/* the standalone side's totals are the group's (the logs were equal op by op) */
		assert_int_equal(h->grec[l].violations, h->srec[l].violations);
		assert_int_equal(h->grec[l].errors, h->srec[l].errors);
		assert_int_equal(h->grec[l].flushes, h->srec[l].flushes);
		eptf_replay_metrics(lane, &m);
		assert_int_equal(m.ops, h->ops_done);
		assert_int_equal(m.flush_points, h->grec[l].flushes);
		if (!h->cfgs[l].checker)
			assert_int_equal(m.stale_violations, 0);
		if (t) {
			t->violations += h->grec[l].violations;
			t->errors += h->grec[l].errors;
			t->flushes += h->grec[l].flushes;
			t->faults += m.faults_injected;
			t->defect8 += h->grec[l].seed_v2_defect8;
		}
	}
	eptf_replay_group_destroy(h->g);
	h->g = NULL;
	for (size_t l = 0; l < h->n; l++) {
		eptf_replay_destroy(h->solo[l]);
		h->solo[l] = NULL;
		free(h->grec[l].ev);
		free(h->srec[l].ev);
	}
}

static struct harness *harness_new(const char *fmt_name, const char *pname)
{
	struct harness *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	snprintf(h->where, sizeof(h->where), "%s, parent %s", fmt_name, pname);
	return h;
}

/* The whole stream through a group of every registered strategy, ideal and the extra lanes. */
static void equivalence(const struct stream *s, const struct pcase *pc, uint64_t seed, size_t rot, struct totals *t)
{
	struct eptf_parent_config p;
	struct harness *h = harness_new(s->name, pc->name);
	struct totals mine = { 0 };

	parent_of(pc, seed, &p);
	lanes_registered(h, &p, s->nr_vcpus);
	lanes_extra(h, &p, s->nr_vcpus);
	lanes_rotate(h, rot);
	harness_start(h);
	for (size_t i = 0; i < s->n; i++)
		harness_step(h, s, i);
	/* every lane went through the error path: each spliced op was refused */
	for (size_t l = 0; l < h->n; l++) {
		struct eptf_metrics m;

		eptf_replay_metrics(eptf_replay_group_lane(h->g, l), &m);
		assert_true(s->nrefused > 0);
		if (m.errors < s->nrefused || h->grec[l].errors < s->nrefused)
			fail_msg("%s: lane %s: %llu errors, %zu ops refused", h->where, h->labels[l],
				 (unsigned long long)m.errors, s->nrefused);
	}
	harness_finish(h, &mine);
	if (getenv("EPTF_GROUP_VERBOSE"))
		printf("%-56s %6zu ops, %2zu lanes: %6llu flushes, %5llu violations, %5llu errors, %4llu faults\n",
		       h->where, s->n, h->n, (unsigned long long)mine.flushes, (unsigned long long)mine.violations,
		       (unsigned long long)mine.errors, (unsigned long long)mine.faults);
	if (pc->inject && s->n > 1000 && !mine.faults)
		fail_msg("%s: no fault injected", h->where);
	t->violations += mine.violations;
	t->errors += mine.errors;
	t->flushes += mine.flushes;
	t->faults += mine.faults;
	t->defect8 += mine.defect8;
	free(h);
}

/* ---- the tests ----------------------------------------------------------- */

/* Every workload named above exists (a renamed one would drop out silently), and the lanes fit a group. */
static void test_names(void **state)
{
	size_t nstrat = 0;

	(void)state;
	for (size_t i = 0; i < NWL; i++) {
		bool found = false;

		for (size_t k = 0; eptf_workloads[k].name; k++)
			found |= !strcmp(eptf_workloads[k].name, workloads[i].name);
		assert_true(found);
	}
	while (eptf_strategies[nstrat])
		nstrat++;
	assert_true(nstrat >= 6);
	assert_true(nstrat + 1 + 6 <= MAXL);
	assert_true(MAXL <= EPTF_REPLAY_GROUP_MAX);
}

static void check_workload(size_t wi)
{
	struct totals t = { 0 };

	for (size_t c = 0; c < NPCASES; c++) {
		struct stream s;
		uint64_t seed = 1 + c / 2; /* seeds 1, 1, 2, 2, 3 */

		stream_workload(&s, wi, seed);
		equivalence(&s, &pcases[c], seed, wi * NPCASES + c, &t);
		stream_free(&s);
	}
	/* the never-flushing lane leaves stale entries: the violation path was compared */
	if (!t.violations)
		fail_msg("%s: no violation in any lane", workloads[wi].name);
	/* the spliced get_dirty_log of a bad slot gave seed-v2's own message */
	assert_true(t.defect8 > 0);
	assert_true(t.flushes > 0);
	assert_true(t.faults > 0);
}

#define WL_TEST(idx)                            \
	static void test_wl_##idx(void **state) \
	{                                       \
		(void)state;                    \
		check_workload(idx);            \
	}
WL_TEST(0)
WL_TEST(1)
WL_TEST(2)
WL_TEST(3)
WL_TEST(4)
WL_TEST(5)

/* The hand-written traces (seed defects 1 and 2 give seed-v2 violations) and the refused ops. */
static void test_traces(void **state)
{
	static const char *const files[] = {
		"tiny.trace", "tiny-shadow.trace", "tiny-migrate.trace", "seed-defect1.trace", "seed-defect2.trace",
	};
	struct totals t = { 0 };

	(void)state;
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		for (size_t c = 0; c < NPCASES; c++) {
			struct stream s;

			stream_file(&s, files[f]);
			equivalence(&s, &pcases[c], 1, f * NPCASES + c, &t);
			stream_free(&s);
		}
	}
	assert_true(t.violations > 0);
}

static void test_refused(void **state)
{
	struct stream s;

	(void)state;
	stream_refused(&s);
	for (size_t c = 0; c < NPCASES; c++) {
		struct eptf_parent_config p;
		struct harness *h = harness_new(s.name, pcases[c].name);

		parent_of(&pcases[c], 5, &p);
		lanes_registered(h, &p, s.nr_vcpus);
		lanes_extra(h, &p, s.nr_vcpus);
		lanes_rotate(h, 3 * c);
		harness_start(h);
		for (size_t i = 0; i < s.n; i++)
			harness_step(h, &s, i);
		for (size_t l = 0; l < h->n; l++) {
			bool v2 = !strcmp(h->cfgs[l].strategy, "seed-v2");
			struct eptf_metrics m;

			eptf_replay_metrics(eptf_replay_group_lane(h->g, l), &m);
			/* at least the refusals of the trace, in every lane */
			if (m.errors < REFUSED_IN_TRACE)
				fail_msg("%s: lane %s: %llu errors", h->where, h->labels[l],
					 (unsigned long long)m.errors);
			assert_true(h->grec[l].errors >= REFUSED_IN_TRACE);
			assert_int_equal(h->grec[l].seed_v2_defect8, v2);
		}
		harness_finish(h, NULL);
		free(h);
	}
	stream_free(&s);
}

/* A group of one lane is eptf_replay_create()'s replay, for every strategy and ideal. */
static void test_single_lane(void **state)
{
	struct stream s;
	struct eptf_parent_config p;
	const char *names[MAXL];
	size_t nn = 0;

	(void)state;
	stream_workload(&s, NWL - 1, 9); /* mixed */
	for (size_t i = 0; eptf_strategies[i]; i++)
		names[nn++] = eptf_strategies[i]->name;
	names[nn++] = EPTF_IDEAL_NAME;
	for (size_t k = 0; k < nn; k++) {
		for (size_t c = 0; c < 2; c++) {
			struct harness *h = harness_new(s.name, pcases[c * 3].name);

			parent_of(&pcases[c * 3], 9, &p);
			lane_add(h, names[k], NULL, &p, s.nr_vcpus);
			harness_start(h);
			for (size_t i = 0; i < s.n; i++)
				harness_step(h, &s, i);
			harness_finish(h, NULL);
			free(h);
		}
	}
	stream_free(&s);
}

/* n == 0 and n past EPTF_REPLAY_GROUP_MAX are EPTF_EINVAL; n == EPTF_REPLAY_GROUP_MAX works. */
static void test_create_bad_n(void **state)
{
	static struct eptf_replay_config cfgs[EPTF_REPLAY_GROUP_MAX + 1];
	struct eptf_replay_group *g = NULL;
	struct stream s;
	size_t failed = 0;

	(void)state;
	for (size_t i = 0; i <= EPTF_REPLAY_GROUP_MAX; i++) {
		eptf_replay_config_default(&cfgs[i]);
		cfgs[i].strategy = eptf_strategies[i % 6]->name;
		cfgs[i].nr_vcpus = NVCPUS;
	}
	assert_int_equal(eptf_replay_group_create(cfgs, 0, &g, &failed), EPTF_EINVAL);
	assert_int_equal(eptf_replay_group_create(cfgs, 0, &g, NULL), EPTF_EINVAL);
	assert_int_equal(eptf_replay_group_create(cfgs, EPTF_REPLAY_GROUP_MAX + 1, &g, &failed), EPTF_EINVAL);
	assert_int_equal(eptf_replay_group_create(cfgs, (size_t)-1, &g, &failed), EPTF_EINVAL);

	/* the largest group: every lane there, and ops go through */
	assert_int_equal(eptf_replay_group_create(cfgs, EPTF_REPLAY_GROUP_MAX, &g, &failed), 0);
	assert_non_null(eptf_replay_group_lane(g, EPTF_REPLAY_GROUP_MAX - 1));
	assert_null(eptf_replay_group_lane(g, EPTF_REPLAY_GROUP_MAX));
	stream_refused(&s);
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(eptf_replay_group_op(g, &s.ops[i]), 0);
	for (size_t i = 0; i < EPTF_REPLAY_GROUP_MAX; i++) {
		struct eptf_metrics m, first;
		char where[64];

		eptf_replay_metrics(eptf_replay_group_lane(g, i), &m);
		assert_int_equal(m.ops, s.n);
		assert_true(m.errors >= REFUSED_IN_TRACE);
		if (eptf_strategies[i % 6]->correct)
			assert_int_equal(m.stale_violations, 0);
		/* lanes configured alike count alike, wherever they are */
		eptf_replay_metrics(eptf_replay_group_lane(g, i % 6), &first);
		snprintf(where, sizeof(where), "64 lanes: lane %zu against lane %zu", i, i % 6);
		expect_same_metrics(where, &m, &first);
	}
	eptf_replay_group_destroy(g);
	stream_free(&s);
}

/* Lanes with different nr_vcpus are EPTF_EINVAL, wherever the odd one is. */
static void test_create_vcpus(void **state)
{
	struct eptf_replay_config cfgs[4];
	struct eptf_replay_group *g;

	(void)state;
	for (size_t odd = 0; odd < 4; odd++) {
		for (size_t i = 0; i < 4; i++) {
			eptf_replay_config_default(&cfgs[i]);
			cfgs[i].strategy = i == 3 ? EPTF_IDEAL_NAME : "list";
			cfgs[i].nr_vcpus = i == odd ? 3 : 2;
		}
		g = NULL;
		assert_int_equal(eptf_replay_group_create(cfgs, 4, &g, NULL), EPTF_EINVAL);
	}
	/* the same everywhere: fine, and a lane's model has that many vCPUs */
	for (size_t i = 0; i < 4; i++)
		cfgs[i].nr_vcpus = 3;
	assert_int_equal(eptf_replay_group_create(cfgs, 4, &g, NULL), 0);
	{
		struct eptf_op op = { .kind = EPTF_OP_ROOT_LOAD, .vcpu = 2, .flags = EPTF_OPF_DIRECT };
		struct eptf_metrics m;

		assert_int_equal(eptf_replay_group_op(g, &op), 0);
		op.vcpu = 3;
		assert_int_equal(eptf_replay_group_op(g, &op), 0);
		for (size_t i = 0; i < 4; i++) {
			eptf_replay_metrics(eptf_replay_group_lane(g, i), &m);
			assert_int_equal(m.ops, 2);
			assert_int_equal(m.errors, 1); /* vCPU 3 of 3 */
		}
		assert_true(eptf_mmu_vcpu_root(eptf_replay_mmu(eptf_replay_group_lane(g, 0)), 2) != 0);
	}
	eptf_replay_group_destroy(g);
	/* 0 vCPUs counts as 1 (as for eptf_replay_create), so 0 and 1 mix; 0 and 2 do not */
	cfgs[0].nr_vcpus = 0;
	cfgs[1].nr_vcpus = cfgs[2].nr_vcpus = cfgs[3].nr_vcpus = 1;
	g = NULL;
	assert_int_equal(eptf_replay_group_create(cfgs, 4, &g, NULL), 0);
	eptf_replay_group_destroy(g);
	cfgs[1].nr_vcpus = 2;
	assert_int_equal(eptf_replay_group_create(cfgs, 4, &g, NULL), EPTF_EINVAL);
}

/* An unknown strategy in lane k: EPTF_ENOENT, *failed == k; failed may be NULL. */
static void test_create_unknown(void **state)
{
	struct eptf_replay_config cfgs[5];
	struct eptf_replay_group *g;

	(void)state;
	for (size_t bad = 0; bad < 5; bad++) {
		size_t failed = 999;

		for (size_t i = 0; i < 5; i++) {
			eptf_replay_config_default(&cfgs[i]);
			cfgs[i].strategy = i == 4 ? EPTF_IDEAL_NAME : eptf_strategies[i]->name;
			cfgs[i].nr_vcpus = NVCPUS;
		}
		cfgs[bad].strategy = "no-such-strategy";
		g = NULL;
		assert_int_equal(eptf_replay_group_create(cfgs, 5, &g, &failed), EPTF_ENOENT);
		assert_int_equal(failed, bad);
		assert_int_equal(eptf_replay_group_create(cfgs, 5, &g, NULL), EPTF_ENOENT);
		/* the first unknown lane is the one named */
		if (bad + 1 < 5) {
			cfgs[bad + 1].strategy = "neither";
			failed = 999;
			assert_int_equal(eptf_replay_group_create(cfgs, 5, &g, &failed), EPTF_ENOENT);
			assert_int_equal(failed, bad);
		}
	}
	/* a strategy outside the registry is no unknown strategy: strategy_ops wins, as for one replay */
	for (size_t i = 0; i < 5; i++) {
		eptf_replay_config_default(&cfgs[i]);
		cfgs[i].nr_vcpus = NVCPUS;
	}
	cfgs[2].strategy = "not-registered";
	cfgs[2].strategy_ops = &strategy_probe;
	assert_int_equal(eptf_replay_group_create(cfgs, 5, &g, NULL), 0);
	eptf_replay_group_destroy(g);
}

/* Lane indices out of range; destroying NULL. */
static void test_lane_range(void **state)
{
	struct eptf_replay_config cfgs[3];
	struct eptf_replay_group *g;

	(void)state;
	eptf_replay_group_destroy(NULL);
	for (size_t i = 0; i < 3; i++) {
		eptf_replay_config_default(&cfgs[i]);
		cfgs[i].strategy = i ? "list-merge" : "full";
	}
	assert_int_equal(eptf_replay_group_create(cfgs, 3, &g, NULL), 0);
	for (size_t i = 0; i < 3; i++) {
		struct eptf_replay *l = eptf_replay_group_lane(g, i);

		assert_non_null(l);
		assert_ptr_equal(eptf_replay_mmu(l), eptf_replay_mmu(eptf_replay_group_lane(g, 0)));
	}
	assert_null(eptf_replay_group_lane(g, 3));
	assert_null(eptf_replay_group_lane(g, 4));
	assert_null(eptf_replay_group_lane(g, EPTF_REPLAY_GROUP_MAX));
	assert_null(eptf_replay_group_lane(g, (size_t)-1));
	eptf_replay_group_destroy(g);
}

/*
 * eptf_replay_op() on a grouped lane is EPTF_EINVAL and changes nothing
 * (no metric, no callback, not the shared model); eptf_replay_destroy() of
 * a grouped lane leaves it alone. The group goes on exactly as the
 * standalone replays after either.
 */
static void test_grouped_lane_calls(void **state)
{
	struct stream s;
	struct eptf_parent_config p;
	struct harness *h;

	(void)state;
	stream_workload(&s, NWL - 1, 4); /* mixed */
	parent_of(&pcases[1], 4, &p);
	h = harness_new(s.name, "intel+faults, lanes poked");
	lanes_registered(h, &p, s.nr_vcpus);
	lanes_extra(h, &p, s.nr_vcpus);
	harness_start(h);
	for (size_t i = 0; i < s.n; i++) {
		if (i % 97 == 13) {
			struct eptf_mmu *mmu = eptf_replay_mmu(eptf_replay_group_lane(h->g, 0));
			struct eptf_mmu_stats before, after;

			eptf_mmu_get_stats(mmu, &before);
			for (size_t l = 0; l < h->n; l++) {
				struct eptf_replay *lane = eptf_replay_group_lane(h->g, l);
				struct eptf_metrics m0, m1;
				size_t n0 = h->grec[l].n;

				eptf_replay_metrics(lane, &m0);
				/* this op and the next: either would change the model if applied */
				assert_int_equal(eptf_replay_op(lane, &s.ops[i]), EPTF_EINVAL);
				if (i + 1 < s.n)
					assert_int_equal(eptf_replay_op(lane, &s.ops[i + 1]), EPTF_EINVAL);
				eptf_replay_metrics(lane, &m1);
				expect_same_metrics(h->where, &m1, &m0);
				assert_int_equal(h->grec[l].n, n0);
			}
			eptf_mmu_get_stats(mmu, &after);
			assert_memory_equal(&before, &after, sizeof(before));
		}
		if (i % 50 == 7) {
			/* a hint about any op, even one no model takes, changes nothing */
			struct eptf_op odd = s.ops[i];

			odd.vcpu = 1000;
			eptf_replay_group_prefetch(h->g, &odd);
			odd.kind = EPTF_OP_KIND_COUNT + 3;
			eptf_replay_group_prefetch(h->g, &odd);
			memset(&odd, 0, sizeof(odd));
			eptf_replay_group_prefetch(h->g, &odd);
		}
		if (i == s.n / 3 || i == s.n / 2) {
			/* twice: the second would be a double free if the first did anything */
			for (size_t l = 0; l < h->n; l++)
				eptf_replay_destroy(eptf_replay_group_lane(h->g, l));
		}
		harness_step(h, &s, i);
	}
	harness_finish(h, NULL);
	free(h);
	stream_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_create_bad_n),
		cmocka_unit_test(test_create_vcpus),
		cmocka_unit_test(test_create_unknown),
		cmocka_unit_test(test_lane_range),
		cmocka_unit_test(test_grouped_lane_calls),
		cmocka_unit_test(test_single_lane),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_traces),
		cmocka_unit_test(test_wl_0),
		cmocka_unit_test(test_wl_1),
		cmocka_unit_test(test_wl_2),
		cmocka_unit_test(test_wl_3),
		cmocka_unit_test(test_wl_4),
		cmocka_unit_test(test_wl_5),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
