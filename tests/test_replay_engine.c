/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The replay engine's own contract: configuration defaults, strategy
 * lookup, metric keys in struct order, refused ops reported and counted,
 * root switches flushed the same way for every strategy, accesses reaching
 * the parent, the on_flush callback, and the ideal oracle's counting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "scenario.h"

#define RW (EPTF_OPF_WRITE)

static void test_config_default(void **state)
{
	struct eptf_replay_config cfg;
	struct eptf_parent_config pc;

	(void)state;
	eptf_replay_config_default(&cfg);
	eptf_parent_config_default(&pc);
	assert_true(cfg.checker);
	assert_int_equal(cfg.nr_vcpus, 1);
	assert_memory_equal(&cfg.parent, &pc, sizeof(pc));
	assert_null(cfg.on_error);
	assert_null(cfg.on_violation);
	assert_null(cfg.on_flush);
	assert_null(cfg.strategy_ops);
}

static void test_create_names(void **state)
{
	struct eptf_replay_config cfg;
	struct eptf_replay *r = NULL;

	(void)state;
	eptf_replay_config_default(&cfg);
	cfg.strategy = "no-such-strategy";
	assert_int_equal(eptf_replay_create(&cfg, &r), EPTF_ENOENT);
	assert_null(r);
	for (size_t i = 0; eptf_strategies[i]; i++) {
		cfg.strategy = eptf_strategies[i]->name;
		assert_int_equal(eptf_replay_create(&cfg, &r), 0);
		eptf_replay_destroy(r);
	}
	cfg.strategy = EPTF_IDEAL_NAME;
	assert_int_equal(eptf_replay_create(&cfg, &r), 0);
	eptf_replay_destroy(r);
	eptf_replay_destroy(NULL);
}

static void test_metric_keys(void **state)
{
	static const char *const want[] = {
		"ops", "flush_points", "hypercalls", "list_hypercalls", "full_flushes", "list_entries",
		"pages_flushed", "ept02_dropped", "tlb_dropped", "ept_violations", "tlb_misses", "tlb_hits",
		"stale_violations", "errors", "fallbacks", "root_flushes", "faults_injected", "modeled_cycles",
	};
	struct eptf_metrics m;
	size_t i;

	(void)state;
	/* distinct values in struct order, read back by index */
	m.ops = 1, m.flush_points = 2, m.hypercalls = 3, m.list_hypercalls = 4, m.full_flushes = 5;
	m.list_entries = 6, m.pages_flushed = 7, m.ept02_dropped = 8, m.tlb_dropped = 9;
	m.ept_violations = 10, m.tlb_misses = 11, m.tlb_hits = 12, m.stale_violations = 13;
	m.errors = 14, m.fallbacks = 15, m.root_flushes = 16, m.faults_injected = 17, m.modeled_cycles = 18;
	for (i = 0; eptf_metrics_keys[i]; i++) {
		assert_true(i < sizeof(want) / sizeof(want[0]));
		assert_string_equal(eptf_metrics_keys[i], want[i]);
		assert_int_equal(eptf_metrics_get(&m, i), i + 1);
	}
	assert_int_equal(i, sizeof(want) / sizeof(want[0]));
	assert_int_equal(eptf_metrics_get(&m, i), 0);
}

static void test_refused_op(void **state)
{
	struct sc s;
	struct eptf_metrics m;

	(void)state;
	sc_open(&s, "list", 1, 1);
	sc_op(&s, EPTF_OP_MAP, 5, 0, 1, 0, 0, 0, 0); /* vCPU out of range */
	assert_int_equal(s.errors, 1);
	assert_non_null(strstr(s.last_error, "map: EPTF_"));
	sc_op(&s, EPTF_OP_SLOT_DELETE, 0, 3, 0, 0, 0, 0, 0);
	assert_string_equal(s.last_error, "slot_delete: EPTF_ENOENT: no such object");
	m = sc_metrics(&s);
	assert_int_equal(m.errors, 2);
	assert_int_equal(m.ops, 2);
	sc_close(&s);
}

static uint64_t flushes_seen;
static struct eptf_metrics last_seen;

static void count_flush(void *ctx, uint64_t op, const struct eptf_metrics *m)
{
	(void)ctx;
	(void)op;
	flushes_seen++;
	last_seen = *m;
}

/* Accesses reach the parent; a root switch is an INVEPT counted apart and alike for all. */
static void test_access_and_root_switch(void **state)
{
	(void)state;
	for (size_t k = 0; eptf_strategies[k]; k++) {
		struct eptf_replay_config cfg;
		struct sc s;
		struct eptf_metrics m;

		eptf_replay_config_default(&cfg);
		cfg.strategy = eptf_strategies[k]->name;
		cfg.nr_vcpus = 2;
		cfg.on_flush = count_flush;
		sc_open_cfg(&s, &cfg);
		flushes_seen = 0;
		sc_slot(&s, 0, 0, 0x1000, 0x100000000ull, 0);
		sc_root_direct(&s, 0, 0);
		sc_access(&s, 0, 0x10, RW);
		sc_access(&s, 0, 0x10, 0);
		m = sc_metrics(&s);
		assert_int_equal(m.ept_violations, 1);
		assert_int_equal(m.tlb_hits, 1);
		assert_int_equal(m.root_flushes, 1);
		sc_root_direct(&s, 1, 1);  /* another root */
		sc_root_direct(&s, 0, 1);
		sc_root_direct(&s, 0, 1);  /* same root: nothing */
		m = sc_metrics(&s);
		assert_int_equal(m.root_flushes, 3);
		assert_int_equal(m.hypercalls, 0);
		assert_int_equal(flushes_seen, 0);
		sc_root_direct(&s, 0, 0);
		sc_access(&s, 0, 0x10, RW);
		sc_ok(&s, EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, 0x10, 1, 0);
		assert_int_equal(flushes_seen, 1);
		assert_int_equal(last_seen.flush_points, 1);
		assert_true(last_seen.hypercalls >= 1);
		assert_int_equal(sc_metrics(&s).stale_violations, 0);
		sc_close(&s);
	}
}

/* ideal: one call and one entry per root with stale entries, nothing for roots without. */
static void test_ideal_counts(void **state)
{
	struct sc s;
	struct eptf_metrics d;

	(void)state;
	sc_open(&s, EPTF_IDEAL_NAME, 2, 1);
	sc_slot(&s, 0, 0, 0x1000, 0x100000000ull, 0);
	sc_root_direct(&s, 0, 0);
	sc_root_direct(&s, 1, 1);
	sc_access(&s, 0, 0x10, RW);
	sc_access(&s, 0, 0x11, RW);
	sc_mark(&s);
	sc_ok(&s, EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, 0x10, 2, 0);
	d = sc_delta(&s);
	assert_int_equal(d.flush_points, 1);
	assert_int_equal(d.hypercalls, 1);   /* root 0 only: root 1 cached nothing */
	assert_int_equal(d.list_entries, 1);
	assert_int_equal(d.full_flushes, 0);
	assert_int_equal(d.ept02_dropped, 2);
	assert_int_equal(d.stale_violations, 0);
	sc_mark(&s);
	sc_ok(&s, EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, 0x10, 2, 0); /* nothing mapped any more */
	assert_int_equal(sc_delta(&s).hypercalls, 0);
	sc_close(&s);
}

/* The checker can be turned off; then nothing is counted even for seed-v2's stale entries. */
static void test_checker_off(void **state)
{
	struct eptf_replay_config cfg;
	struct sc s;

	(void)state;
	eptf_replay_config_default(&cfg);
	cfg.strategy = "seed-v2";
	cfg.checker = false;
	sc_open_cfg(&s, &cfg);
	sc_slot(&s, 0, 0, 0x1000, 0x100000000ull, 0);
	sc_root_direct(&s, 0, 0);
	sc_access(&s, 0, 0x10, RW);
	sc_access(&s, 0, 0x11, RW);
	sc_prepare_zap(&s, 0, 1, true);
	sc_commit(&s);
	assert_int_equal(sc_metrics(&s).stale_violations, 0);
	assert_int_equal(s.violations, 0);
	sc_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_default),
		cmocka_unit_test(test_create_names),
		cmocka_unit_test(test_metric_keys),
		cmocka_unit_test(test_refused_op),
		cmocka_unit_test(test_access_and_root_switch),
		cmocka_unit_test(test_ideal_counts),
		cmocka_unit_test(test_checker_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
