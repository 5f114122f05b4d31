/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Helpers for the scenario and replay tests: a replay with counters for
 * errors and violations, op builders, and metric deltas around the ops a
 * test is about. Header-only (static functions) so each test program
 * stays one file plus this.
 */
#ifndef EPTF_TEST_SCENARIO_H
#define EPTF_TEST_SCENARIO_H

#include <stdio.h>
#include <string.h>

#include <eptflush/replay.h>

struct sc {
	struct eptf_replay *r;
	const char *strategy;
	uint64_t errors;
	char last_error[512];
	uint64_t violations;
	char last_why[32];
	struct eptf_metrics mark;
};

static inline void sc_on_error(void *ctx, uint64_t op, const char *msg)
{
	struct sc *s = ctx;

	(void)op;
	s->errors++;
	snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
}

static inline void sc_on_violation(void *ctx, const struct eptf_violation *v)
{
	struct sc *s = ctx;

	s->violations++;
	snprintf(s->last_why, sizeof(s->last_why), "%s", v->why ? v->why : "?");
}

/* Open a replay of @strategy with @nvcpus vCPUs and parent backing level @backing (1 = 4 KiB). */
static inline void sc_open_cfg(struct sc *s, struct eptf_replay_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->strategy = cfg->strategy;
	cfg->on_error = sc_on_error;
	cfg->on_violation = sc_on_violation;
	cfg->ctx = s;
	assert_int_equal(eptf_replay_create(cfg, &s->r), 0);
}

static inline void sc_open(struct sc *s, const char *strategy, unsigned nvcpus, unsigned backing)
{
	struct eptf_replay_config cfg;

	eptf_replay_config_default(&cfg);
	cfg.strategy = strategy;
	cfg.nr_vcpus = nvcpus;
	cfg.parent.backing_level = backing;
	sc_open_cfg(s, &cfg);
}

static inline void sc_close(struct sc *s)
{
	eptf_replay_destroy(s->r);
	s->r = NULL;
}

static inline void sc_op(struct sc *s, uint32_t kind, uint32_t vcpu, uint32_t slot, uint8_t level, uint8_t flags,
		  uint64_t addr, uint64_t count, uint64_t value)
{
	struct eptf_op op = {
		.kind = kind, .vcpu = vcpu, .slot = slot, .level = level, .flags = flags,
		.addr = addr, .count = count, .value = value,
	};

	assert_int_equal(eptf_replay_op(s->r, &op), 0);
}

/* The op must be accepted by the model (no error reported). */
static inline void sc_ok(struct sc *s, uint32_t kind, uint32_t vcpu, uint32_t slot, uint8_t level, uint8_t flags,
		  uint64_t addr, uint64_t count, uint64_t value)
{
	uint64_t before = s->errors;

	sc_op(s, kind, vcpu, slot, level, flags, addr, count, value);
	if (s->errors != before)
		fail_msg("%s: op %s refused: %s", s->strategy, eptf_op_name(kind), s->last_error);
}

static inline void sc_slot(struct sc *s, uint32_t slot, uint64_t base, uint64_t pages, uint64_t hva, uint8_t flags)
{
	sc_ok(s, EPTF_OP_SLOT_ADD, 0, slot, 0, flags, base, pages, hva);
}

static inline void sc_root_direct(struct sc *s, uint32_t vcpu, uint64_t as)
{
	sc_ok(s, EPTF_OP_ROOT_LOAD, vcpu, 0, 0, EPTF_OPF_DIRECT, as, 0, 0);
}

static inline void sc_root_shadow(struct sc *s, uint32_t vcpu, uint64_t cr3_gfn)
{
	sc_ok(s, EPTF_OP_ROOT_LOAD, vcpu, 0, 0, 0, cr3_gfn, 0, 0);
}

static inline void sc_map(struct sc *s, uint32_t vcpu, uint64_t addr, uint8_t level, uint8_t flags)
{
	sc_ok(s, EPTF_OP_MAP, vcpu, 0, level, flags, addr, 0, 0);
}

static inline void sc_access(struct sc *s, uint32_t vcpu, uint64_t addr, uint8_t flags)
{
	sc_ok(s, EPTF_OP_ACCESS, vcpu, 0, 0, flags, addr, 0, 0);
}

static inline void sc_prepare_zap(struct sc *s, uint64_t gfn, uint8_t level, bool direct)
{
	sc_ok(s, EPTF_OP_PREPARE_ZAP, 0, 0, level, direct ? EPTF_OPF_DIRECT : 0, gfn, 0, 0);
}

static inline void sc_commit(struct sc *s)
{
	sc_ok(s, EPTF_OP_COMMIT_ZAP, 0, 0, 0, 0, 0, 0, 0);
}

static inline void sc_gpt(struct sc *s, uint64_t table, unsigned index, uint64_t gpte)
{
	sc_ok(s, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, table, index, gpte);
}

static inline void sc_mark(struct sc *s)
{
	eptf_replay_metrics(s->r, &s->mark);
}

/* Metrics now minus at the last mark. */
static inline struct eptf_metrics sc_delta(struct sc *s)
{
	struct eptf_metrics now, d;

	eptf_replay_metrics(s->r, &now);
	for (size_t i = 0; eptf_metrics_keys[i]; i++) {
		uint64_t v = eptf_metrics_get(&now, i) - eptf_metrics_get(&s->mark, i);

		memcpy((char *)&d + i * sizeof(uint64_t), &v, sizeof(v));
	}
	return d;
}

static inline struct eptf_metrics sc_metrics(struct sc *s)
{
	struct eptf_metrics m;

	eptf_replay_metrics(s->r, &m);
	return m;
}

/* A guest PTE pointing at @gfn. */
static inline uint64_t gpte(uint64_t gfn, bool writable)
{
	return EPTF_GPTE_PRESENT | (writable ? EPTF_GPTE_WRITABLE : 0) | ((gfn << 12) & EPTF_GPTE_FRAME_MASK);
}

#endif
