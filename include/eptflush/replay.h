/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The replay engine: applies an op stream to the L1 model, hands each
 * flush point to a strategy (or to the `ideal` oracle), lets L2 accesses
 * reach the parent model, runs the checker after every flush, and counts.
 * It plays KVM's outermost caller: apply, flush, check, then free.
 */
#ifndef EPTFLUSH_REPLAY_H
#define EPTFLUSH_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <eptflush/checker.h>
#include <eptflush/flush.h>
#include <eptflush/op.h>
#include <eptflush/parent.h>

#define EPTF_IDEAL_NAME "ideal"

/* The metrics of one replay; the JSON `results` keys are these names. */
struct eptf_metrics {
	uint64_t ops;
	uint64_t flush_points;
	uint64_t hypercalls;
	uint64_t list_hypercalls;
	uint64_t full_flushes;
	uint64_t list_entries;
	uint64_t pages_flushed;
	uint64_t ept02_dropped;
	uint64_t tlb_dropped;
	uint64_t ept_violations;
	uint64_t tlb_misses;
	uint64_t tlb_hits;
	uint64_t stale_violations;
	uint64_t errors;        /* ops the model refused + strategy errors + rejected calls */
	uint64_t fallbacks;
	uint64_t root_flushes;  /* INVEPT on root switch (same for every strategy) */
	uint64_t faults_injected;
	uint64_t modeled_cycles;
};

struct eptf_replay_config {
	const char *strategy;      /* a strategy name or EPTF_IDEAL_NAME */
	unsigned nr_vcpus;
	struct eptf_parent_config parent;
	bool checker;              /* run the checker (default on) */
	/* per violation (may be NULL); the engine counts them anyway */
	eptf_violation_fn on_violation;
	/* per error (may be NULL): op index and message */
	void (*on_error)(void *ctx, uint64_t op_index, const char *msg);
	void *ctx;
	/* called after each flush point (may be NULL): for "flushes over time" charts */
	void (*on_flush)(void *ctx, uint64_t op_index, const struct eptf_metrics *m);
	/*
	 * A strategy outside the registry (tests' deliberately broken ones);
	 * when non-NULL it is used and @strategy only names it. May be NULL.
	 */
	const struct eptf_strategy *strategy_ops;
};

void eptf_replay_config_default(struct eptf_replay_config *cfg);

struct eptf_replay;

/* EPTF_ENOENT for an unknown strategy name. */
int eptf_replay_create(const struct eptf_replay_config *cfg, struct eptf_replay **out);
void eptf_replay_destroy(struct eptf_replay *r);

/*
 * Apply one op. Returns 0; an op the model refuses is counted as an error
 * and reported through on_error, and also returns 0 (the replay goes on).
 * Returns a negative EPTF_E* only for an internal failure (out of memory).
 */
int eptf_replay_op(struct eptf_replay *r, const struct eptf_op *op);

/*
 * A hint that @op is the next op for @r (eptf_mmu_prefetch()): call it
 * before the work that comes first (the current op, another lane's op) so
 * that its memory loads overlap that work. Changes nothing.
 */
void eptf_replay_prefetch(struct eptf_replay *r, const struct eptf_op *op);

/*
 * ---- Lanes over one L1 model ----
 *
 * KVM's MMU does the same whatever flush strategy follows it: what it zaps,
 * syncs and write-protects, and so every flush point, depends only on the
 * ops. Strategies, the parent and the checker read the L1 model, never
 * change it. So several replays of the same ops (a comparison's lanes)
 * can share one L1 model: each op is applied to it once, then every lane
 * handles the result with its own strategy, parent and checker, in lane
 * order, and the model frees what was zapped once all lanes have flushed.
 * Each lane's metrics, callbacks and their order are what a replay of its
 * own would give (tests/test_replay_group.c checks this).
 */
struct eptf_replay_group;

/*
 * A group of @n lanes (1..EPTF_REPLAY_GROUP_MAX), lane i configured by
 * @cfgs[i]; every nr_vcpus must be the same, 0 counting as 1 (EPTF_EINVAL
 * otherwise, and for n out of range). EPTF_ENOENT for an unknown strategy.
 * When a lane cannot be made (an unknown strategy, its strategy's init
 * failed, no memory), *@failed (when non-NULL) is its index.
 */
#define EPTF_REPLAY_GROUP_MAX 64
int eptf_replay_group_create(const struct eptf_replay_config *cfgs, size_t n, struct eptf_replay_group **out,
			     size_t *failed);
/* Destroys the group and its lanes. */
void eptf_replay_group_destroy(struct eptf_replay_group *g);

/*
 * Lane @i (NULL when out of range), owned by the group: ask it for metrics
 * and models; eptf_replay_op() on it returns EPTF_EINVAL and
 * eptf_replay_destroy() leaves it alone (the group destroys it).
 */
struct eptf_replay *eptf_replay_group_lane(struct eptf_replay_group *g, size_t i);

/* Apply one op to every lane; returns as eptf_replay_op() does. */
int eptf_replay_group_op(struct eptf_replay_group *g, const struct eptf_op *op);

/* eptf_replay_prefetch() for the group's shared model. */
void eptf_replay_group_prefetch(struct eptf_replay_group *g, const struct eptf_op *op);

/* The models a replay drives, for tests and tools that inspect them (owned by @r; a group's lanes share one mmu). */
struct eptf_parent *eptf_replay_parent(struct eptf_replay *r);
struct eptf_mmu *eptf_replay_mmu(struct eptf_replay *r);

void eptf_replay_metrics(const struct eptf_replay *r, struct eptf_metrics *out);

/* Names and values of struct eptf_metrics fields, for reports: NULL-terminated. */
extern const char *const eptf_metrics_keys[];
uint64_t eptf_metrics_get(const struct eptf_metrics *m, size_t key_index);

#endif
