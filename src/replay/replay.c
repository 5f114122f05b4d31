/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The replay engine plays KVM's outermost caller: apply an op to the L1
 * model, hand its flush point to the strategy (or the `ideal` oracle), run
 * the checker, and only then let the model free what it zapped (flush
 * before free, rule 2). L2 accesses go to the parent after L1 has faulted
 * the page in, so the parent caches what L1 grants at that moment.
 *
 * Lanes (a strategy, its parent, its checker, its counters) hang off a
 * group that owns the L1 model: the model's course does not depend on the
 * strategy, so a comparison applies each op once and lets every lane
 * handle the result (replay.h). A plain replay is a group of one.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eptflush/replay.h>

/* One lane: a strategy (or the oracle), its parent and its counters, over the group's L1 model (r->g->mmu). */
struct eptf_replay {
	struct eptf_replay_group *g;
	struct eptf_replay_config cfg;
	const struct eptf_strategy *strategy; /* NULL for ideal */
	struct eptf_parent *parent;
	struct eptf_flush_ctx fctx;
	bool strategy_init;
	/* engine counters */
	uint64_t refused;
	uint64_t stale_violations;
	uint64_t ideal_flush_points, ideal_calls, ideal_pages;
};

/*
 * The L1 model and the lanes that share it (eptf_replay_create() makes a
 * group of one, @solo: destroying its lane destroys the group).
 */
struct eptf_replay_group {
	struct eptf_mmu *mmu;
	uint64_t ops;
	/*
	 * The current op's result: here rather than on the op's stack, so
	 * that the op needs no frame of its own.
	 */
	struct eptf_mmu_result res;
	bool solo;
	size_t n;
	struct eptf_replay *lane[];
};

void eptf_replay_config_default(struct eptf_replay_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->strategy = "full";
	cfg->nr_vcpus = 1;
	eptf_parent_config_default(&cfg->parent);
	cfg->checker = true;
}

static int xlate(void *ctx, uint64_t root_hpa, uint64_t addr, struct eptf_xlate *out)
{
	return eptf_mmu_translate(ctx, root_hpa, addr, out);
}

static void strategy_error(void *ctx, uint64_t op_index, const char *msg)
{
	struct eptf_replay *r = ctx;

	if (r->cfg.on_error)
		r->cfg.on_error(r->cfg.ctx, op_index, msg);
}

/* L1 freed a root page: every lane's parent may forget that root (its hpa is never reused). */
static void root_freed(void *ctx, uint64_t root_hpa)
{
	struct eptf_replay_group *g = ctx;

	for (size_t i = 0; i < g->n; i++)
		eptf_parent_forget_root(g->lane[i]->parent, root_hpa);
}

/* The last fallback of a strategy (flush.h): INVEPT of the root whose full flush failed. */
static void strategy_invept(void *ctx, uint64_t root_hpa)
{
	struct eptf_replay *r = ctx;

	eptf_parent_flush_root(r->parent, root_hpa);
}

static void lane_destroy(struct eptf_replay *r)
{
	if (r->strategy_init && r->strategy && r->strategy->fini)
		r->strategy->fini(&r->fctx);
	if (r->parent)
		eptf_parent_destroy(r->parent);
	free(r);
}

/* A lane over @g's model (not yet in g->lane); EPTF_ENOENT for an unknown strategy. */
static int lane_create(struct eptf_replay_group *g, const struct eptf_replay_config *cfg, struct eptf_replay **out)
{
	struct eptf_replay *r;
	int err;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return EPTF_ENOMEM;
	r->g = g;
	r->cfg = *cfg;
	if (cfg->strategy_ops) {
		r->strategy = cfg->strategy_ops;
	} else if (!cfg->strategy || strcmp(cfg->strategy, EPTF_IDEAL_NAME) != 0) {
		r->strategy = eptf_strategy_find(cfg->strategy ? cfg->strategy : "full");
		if (!r->strategy) {
			free(r);
			return EPTF_ENOENT;
		}
	}
	err = eptf_parent_create(&r->cfg.parent, xlate, r->g->mmu, &r->parent);
	if (err < 0)
		goto fail;
	r->fctx.hv = eptf_parent_transport(r->parent);
	r->fctx.cost = &r->cfg.parent.cost;
	r->fctx.parent_accepts_large = r->cfg.parent.allow_large;
	r->fctx.mmu = r->g->mmu;
	r->fctx.error = strategy_error;
	r->fctx.error_ctx = r;
	r->fctx.invept = strategy_invept;
	r->fctx.invept_ctx = r;
	if (r->strategy && r->strategy->init) {
		err = r->strategy->init(&r->fctx);
		if (err < 0)
			goto fail;
	}
	r->strategy_init = true;
	*out = r;
	return 0;
fail:
	lane_destroy(r);
	return err;
}

int eptf_replay_group_create(const struct eptf_replay_config *cfgs, size_t n, struct eptf_replay_group **out,
			     size_t *failed)
{
	struct eptf_replay_group *g;
	int err;

	*out = NULL;
	if (!cfgs || n < 1 || n > EPTF_REPLAY_GROUP_MAX)
		return EPTF_EINVAL;
	/* 0 vCPUs means 1, as for a single replay */
	unsigned nr_vcpus = cfgs[0].nr_vcpus ? cfgs[0].nr_vcpus : 1;
	for (size_t i = 1; i < n; i++)
		if ((cfgs[i].nr_vcpus ? cfgs[i].nr_vcpus : 1) != nr_vcpus)
			return EPTF_EINVAL;

	struct eptf_mmu_config mcfg = { .nr_vcpus = nr_vcpus };

	g = calloc(1, sizeof(*g) + n * sizeof(g->lane[0]));
	if (!g)
		return EPTF_ENOMEM;
	err = eptf_mmu_create(&mcfg, &g->mmu);
	if (err < 0)
		goto fail;
	eptf_mmu_set_root_freed(g->mmu, root_freed, g);
	for (; g->n < n; g->n++) {
		err = lane_create(g, &cfgs[g->n], &g->lane[g->n]);
		if (err < 0) {
			if (failed)
				*failed = g->n;
			goto fail;
		}
	}
	*out = g;
	return 0;
fail:
	eptf_replay_group_destroy(g);
	return err;
}

void eptf_replay_group_destroy(struct eptf_replay_group *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++)
		lane_destroy(g->lane[i]);
	if (g->mmu)
		eptf_mmu_destroy(g->mmu);
	free(g);
}

struct eptf_replay *eptf_replay_group_lane(struct eptf_replay_group *g, size_t i)
{
	return g && i < g->n ? g->lane[i] : NULL;
}

int eptf_replay_create(const struct eptf_replay_config *cfg, struct eptf_replay **out)
{
	struct eptf_replay_group *g;
	int err;

	*out = NULL;
	err = eptf_replay_group_create(cfg, 1, &g, NULL);
	if (err < 0)
		return err;
	g->solo = true;
	*out = g->lane[0];
	return 0;
}

void eptf_replay_destroy(struct eptf_replay *r)
{
	if (r && r->g->solo)
		eptf_replay_group_destroy(r->g);
}

static void report(struct eptf_replay *r, uint64_t op_index, const char *msg)
{
	if (r->cfg.on_error)
		r->cfg.on_error(r->cfg.ctx, op_index, msg);
}

static void on_violation(void *ctx, const struct eptf_violation *v)
{
	struct eptf_replay *r = ctx;

	if (r->cfg.on_violation)
		r->cfg.on_violation(r->cfg.ctx, v);
}

/* ---- the ideal oracle ------------------------------------------------ */

/*
 * The lower bound (eptf_ideal_flush, src/parent/checker): drop exactly the
 * stale entries; counted as one list call with one entry per root that had
 * any, no entry limit.
 */
static int ideal_flush(struct eptf_replay *r, const struct eptf_flush_point *fp)
{
	struct eptf_ideal_counts c = { 0 };

	r->ideal_flush_points++;
	eptf_ideal_flush(r->g->mmu, r->parent, fp, &c);
	r->ideal_calls += c.roots;
	r->ideal_pages += c.pages;
	return 0;
}

/* ---- ops --------------------------------------------------------------- */

static void check(struct eptf_replay *r, const struct eptf_flush_point *fp)
{
	if (!r->cfg.checker)
		return;
	r->stale_violations += eptf_check_stale(r->g->mmu, r->parent, fp, on_violation, r);
}

/* A lane's part of a flush point: its strategy (or the oracle), its checker, its on_flush. */
static int flush_point(struct eptf_replay *r, const struct eptf_flush_point *fp)
{
	int err;

	if (r->strategy)
		err = r->strategy->flush(&r->fctx, fp);
	else
		err = ideal_flush(r, fp);
	check(r, fp);
	if (r->cfg.on_flush) {
		struct eptf_metrics m;

		eptf_replay_metrics(r, &m);
		r->cfg.on_flush(r->cfg.ctx, fp->op_index, &m);
	}
	return err;
}

static void refused(struct eptf_replay *r, const struct eptf_op *op, uint64_t index, int err)
{
	const char *name = eptf_op_name(op->kind);
	char msg[256];

	r->refused++;
	if (r->strategy && r->strategy->name && strcmp(r->strategy->name, "seed-v2") == 0 && err == EPTF_ENOENT &&
	    (op->kind == EPTF_OP_GET_DIRTY_LOG || op->kind == EPTF_OP_CLEAR_DIRTY_LOG))
		snprintf(msg, sizeof(msg),
			 "%s: seed-v2 defect 8: kvm_get_memslot() returned NULL and the posted code dereferences it (slot %#x)",
			 name, op->slot);
	else
		snprintf(msg, sizeof(msg), "%s: %s", name ? name : "unknown op", eptf_strerror(err));
	report(r, index, msg);
}

/*
 * The parts of an op that most ops skip (a root switch, a flush point, a
 * refusal) are kept out of line, so that the op itself saves and restores
 * only the registers its common path needs.
 */
static __attribute__((noinline)) int op_failed(struct eptf_replay_group *g, const struct eptf_op *op, int err)
{
	if (err == EPTF_ENOMEM)
		return err;
	for (size_t i = 0; i < g->n; i++)
		refused(g->lane[i], op, g->ops - 1, err); /* the op's index */
	return 0;
}

/*
 * Every lane flushes (the INVEPT of a root switch, then the flush point and
 * its check), in lane order; then the model frees what it zapped, once all
 * have flushed (rule 2). EPTF_ENOMEM if any lane ran out of memory.
 */
static __attribute__((noinline)) int op_flush(struct eptf_replay_group *g)
{
	const struct eptf_mmu_result *res = &g->res;
	int ret = 0;

	for (size_t i = 0; i < g->n; i++) {
		struct eptf_replay *r = g->lane[i];

		if (res->loaded_root)
			eptf_parent_flush_root(r->parent, res->loaded_root);
		if (res->fp.site != EPTF_SITE_NONE && flush_point(r, &res->fp) == EPTF_ENOMEM)
			ret = EPTF_ENOMEM;
	}
	if (res->fp.site != EPTF_SITE_NONE)
		eptf_mmu_finish(g->mmu);
	return ret;
}

void eptf_replay_prefetch(struct eptf_replay *r, const struct eptf_op *op)
{
	eptf_mmu_prefetch(r->g->mmu, op);
}

void eptf_replay_group_prefetch(struct eptf_replay_group *g, const struct eptf_op *op)
{
	eptf_mmu_prefetch(g->mmu, op);
}

/*
 * One op through the group's @n lanes (g->n). Inlined into both callers:
 * a plain replay passes the constant 1, so its op has no lane loop.
 */
static inline __attribute__((always_inline)) int group_op(struct eptf_replay_group *g, const struct eptf_op *op,
							  size_t n)
{
	struct eptf_mmu_result *res = &g->res;
	int err;

	err = eptf_mmu_apply(g->mmu, op, g->ops++, res);
	if (err < 0)
		return op_failed(g, op, err);
	if (res->loaded_root || res->fp.site != EPTF_SITE_NONE) {
		err = op_flush(g);
		if (err == EPTF_ENOMEM)
			return err;
	}
	if (op->kind == EPTF_OP_ACCESS && !res->guest_fault) {
		/* after a flush point (eptf_mmu_finish() has run) ask again */
		uint64_t root = res->fp.site == EPTF_SITE_NONE ? res->access_root
							      : eptf_mmu_vcpu_root(g->mmu, op->vcpu);

		for (size_t i = 0; root && i < n; i++)
			eptf_parent_access(g->lane[i]->parent, root, op->addr, op->flags & EPTF_OPF_WRITE,
					   op->flags & EPTF_OPF_EXEC);
	}
	return 0;
}

int eptf_replay_group_op(struct eptf_replay_group *g, const struct eptf_op *op)
{
	return group_op(g, op, g->n);
}

int eptf_replay_op(struct eptf_replay *r, const struct eptf_op *op)
{
	if (!r->g->solo)
		return EPTF_EINVAL;
	return group_op(r->g, op, 1);
}

struct eptf_parent *eptf_replay_parent(struct eptf_replay *r)
{
	return r->parent;
}

struct eptf_mmu *eptf_replay_mmu(struct eptf_replay *r)
{
	return r->g->mmu;
}

/* ---- metrics ------------------------------------------------------------ */

void eptf_replay_metrics(const struct eptf_replay *r, struct eptf_metrics *m)
{
	const struct eptf_flush_stats *fs = &r->fctx.stats;
	struct eptf_parent_stats ps;

	eptf_parent_get_stats(r->parent, &ps);
	memset(m, 0, sizeof(*m));
	m->ops = r->g->ops;
	m->flush_points = fs->flush_points + r->ideal_flush_points;
	m->hypercalls = fs->hypercalls + r->ideal_calls;
	m->list_hypercalls = fs->list_hypercalls + r->ideal_calls;
	m->full_flushes = fs->full_flushes;
	m->list_entries = fs->list_entries + r->ideal_calls;
	m->pages_flushed = fs->pages_flushed + r->ideal_pages;
	m->ept02_dropped = ps.ept02_dropped;
	m->tlb_dropped = ps.tlb_dropped;
	m->ept_violations = ps.ept_violations;
	m->tlb_misses = ps.tlb_misses;
	m->tlb_hits = ps.tlb_hits;
	m->stale_violations = r->stale_violations;
	m->errors = r->refused + fs->errors;
	m->fallbacks = fs->fallbacks;
	/*
	 * root_flushes stays the root-switch INVEPTs, the same for every
	 * strategy: the INVEPT fallbacks also go through
	 * eptf_parent_flush_root() and are counted in fallbacks instead.
	 */
	m->root_flushes = ps.root_flushes - fs->invept_fallbacks;
	m->faults_injected = ps.injected;
	/*
	 * The parent charges what it received; the oracle's calls never
	 * reach it, so they are charged here at the same rates.
	 */
	m->modeled_cycles = ps.modeled_cycles + r->ideal_calls * (r->cfg.parent.cost.hypercall +
								  r->cfg.parent.cost.list_entry);
}

const char *const eptf_metrics_keys[] = {
	"ops",           "flush_points",   "hypercalls",     "list_hypercalls", "full_flushes",
	"list_entries",  "pages_flushed",  "ept02_dropped",  "tlb_dropped",     "ept_violations",
	"tlb_misses",    "tlb_hits",       "stale_violations", "errors",        "fallbacks",
	"root_flushes",  "faults_injected", "modeled_cycles", NULL,
};

/* Field offsets in the order of eptf_metrics_keys. */
static const size_t metric_offsets[] = {
	offsetof(struct eptf_metrics, ops),             offsetof(struct eptf_metrics, flush_points),
	offsetof(struct eptf_metrics, hypercalls),      offsetof(struct eptf_metrics, list_hypercalls),
	offsetof(struct eptf_metrics, full_flushes),    offsetof(struct eptf_metrics, list_entries),
	offsetof(struct eptf_metrics, pages_flushed),   offsetof(struct eptf_metrics, ept02_dropped),
	offsetof(struct eptf_metrics, tlb_dropped),     offsetof(struct eptf_metrics, ept_violations),
	offsetof(struct eptf_metrics, tlb_misses),      offsetof(struct eptf_metrics, tlb_hits),
	offsetof(struct eptf_metrics, stale_violations), offsetof(struct eptf_metrics, errors),
	offsetof(struct eptf_metrics, fallbacks),       offsetof(struct eptf_metrics, root_flushes),
	offsetof(struct eptf_metrics, faults_injected), offsetof(struct eptf_metrics, modeled_cycles),
};

/* Every field is a uint64_t and has a key: adding a field without a key fails here. */
_Static_assert(sizeof(struct eptf_metrics) == sizeof(metric_offsets) / sizeof(size_t) * sizeof(uint64_t),
	       "eptf_metrics_keys must name every field of struct eptf_metrics, in order");

uint64_t eptf_metrics_get(const struct eptf_metrics *m, size_t key_index)
{
	uint64_t v;

	if (key_index >= sizeof(metric_offsets) / sizeof(metric_offsets[0]))
		return 0;
	memcpy(&v, (const char *)m + metric_offsets[key_index], sizeof(v));
	return v;
}
