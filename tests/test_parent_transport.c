// SPDX-License-Identifier: BSD-2-Clause
/*
 * The parent as hypercall target: list flush semantics on Intel and AMD
 * (exact counts of dropped EPT02 and TLB entries), the space flush, the
 * validator's rejections (counted, no effect), fault injection through the
 * real rep driver, and the cost formula.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/error.h>
#include <eptflush/hv.h>
#include <eptflush/parent.h>

#include "parent_test_util.h"

#define R1 0x10000ull
#define R2 0x20000ull

/* L1 maps every page of every root 1:1 with frame = addr + root, RWX, as 4 KiB leaves. */
static int flat_xlate(void *ctx, uint64_t root, uint64_t addr, struct eptf_xlate *out)
{
	(void)ctx;
	*out = (struct eptf_xlate){ .frame = addr + root, .level = 1, .writable = true,
				    .executable = true };
	return 0;
}

static struct eptf_parent *mk_cfg(const struct eptf_parent_config *cfg)
{
	struct eptf_parent *p;

	assert_int_equal(eptf_parent_create(cfg, flat_xlate, NULL, &p), 0);
	return p;
}

static struct eptf_parent *mk(enum eptf_parent_vendor v)
{
	struct eptf_parent_config cfg;

	eptf_parent_config_default(&cfg);
	cfg.vendor = v;
	return mk_cfg(&cfg);
}

/* Touch pages [a, a + n) of @root. */
static void touch(struct eptf_parent *p, uint64_t root, uint64_t a, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(eptf_parent_access(p, root, a + i, false, false),
				 EPTF_ACCESS_EPT_VIOLATION);
}

static uint16_t fill(struct eptf_hv_flush_list *l, uint64_t as, const uint64_t (*r)[2], size_t n)
{
	memset(l, 0, sizeof(*l));
	l->address_space = as;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(eptf_hv_entry_encode(r[i][0], (uint32_t)r[i][1], EPTF_HV_UNIT_4K,
						      &l->gpa_list[i]),
				 0);
	return (uint16_t)n;
}

/* A parent, its hypercall transport, a list page and the last call's outcome. */
struct rig {
	struct eptf_parent *p;
	struct eptf_hv_transport t;
	struct eptf_hv_flush_list l;
	struct eptf_hv_call_info info;
};

static void rig_init(struct rig *g, struct eptf_parent *p)
{
	memset(g, 0, sizeof(*g));
	g->p = p;
	g->t = eptf_parent_transport(p);
}

/* A list call of @n entries through the rep driver: returns its rc, g->info has the rest. */
static int rig_list(struct rig *g, uint16_t n)
{
	return eptf_hv_flush_list_call(&g->t, &g->l, n, &g->info);
}

/* 10 pages at 0 and 10 at 100 in R1, 10 at 0 in R2; list flush [0,5) + [100,102) of R1. */
static void list_case(enum eptf_parent_vendor v, uint64_t want_tlb_dropped)
{
	struct rig g;
	const uint64_t r[][2] = { { 0, 5 }, { 100, 2 } };
	uint16_t n;

	rig_init(&g, mk(v));
	n = fill(&g.l, R1, r, 2);
	touch(g.p, R1, 0, 10);
	touch(g.p, R1, 100, 10);
	touch(g.p, R2, 0, 10);
	assert_int_equal(rig_list(&g, n), 0);
	assert_int_equal(g.info.status, EPTF_HV_STATUS_SUCCESS);
	assert_int_equal(g.info.reps_done, 2);
	assert_int_equal(g.info.issues, 1);
	expect_stats(g.p, STAT(hypercalls, 1), STAT(list_hypercalls, 1), STAT(list_entries, 2),
		     STAT(pages_flushed, 7), STAT(ept02_dropped, 7), STAT(tlb_dropped, want_tlb_dropped),
		     STAT(ept02_entries, 30 - 7), STAT(tlb_entries, 30 - want_tlb_dropped),
		     STAT(full_flushes, 0));
	/* flushed pages fault again; unflushed ones hit the TLB (AMD) or walk EPT02 (Intel) */
	expect_access_list(g.p, ACC(R1, 4, EPTF_ACCESS_EPT_VIOLATION),
			   ACC(R1, 101, EPTF_ACCESS_EPT_VIOLATION),
			   ACC(R1, 5, v == EPTF_PARENT_AMD ? EPTF_ACCESS_TLB_HIT : EPTF_ACCESS_TLB_MISS),
			   ACC(R2, 0, EPTF_ACCESS_TLB_HIT));
	eptf_parent_destroy(g.p);
}

static void test_list_flush_intel(void **state)
{
	(void)state;
	list_case(EPTF_PARENT_INTEL, 20); /* all of R1's TLB entries, none of R2's */
}

static void test_list_flush_amd(void **state)
{
	(void)state;
	list_case(EPTF_PARENT_AMD, 7);
}

static void test_list_flush_huge_entries(void **state)
{
	struct eptf_parent_config cfg;
	struct rig g;

	(void)state;
	eptf_parent_config_default(&cfg);
	cfg.vendor = EPTF_PARENT_AMD;
	cfg.allow_large = true;
	rig_init(&g, mk_cfg(&cfg));
	touch(g.p, R1, 510, 4); /* 510..513 straddle the first 2 MiB boundary */
	g.l.address_space = R1;
	/* one 2 MiB entry [512, 1024) */
	assert_int_equal(eptf_hv_entry_encode(512, 1, EPTF_HV_UNIT_2M, &g.l.gpa_list[0]), 0);
	assert_int_equal(rig_list(&g, 1), 0);
	expect_stats(g.p, STAT(pages_flushed, 512), STAT(ept02_dropped, 2), STAT(tlb_dropped, 2));
	eptf_parent_destroy(g.p);
}

static void test_space_flush(void **state)
{
	struct rig g;

	(void)state;
	rig_init(&g, mk(EPTF_PARENT_AMD));
	touch(g.p, R1, 0, 10);
	touch(g.p, R2, 0, 3);
	assert_int_equal(eptf_hv_flush_space_call(&g.t, R1, &g.info), 0);
	/* an unknown root: nothing cached, still a successful full flush */
	assert_int_equal(eptf_hv_flush_space_call(&g.t, 0x777000, &g.info), 0);
	expect_stats(g.p, STAT(hypercalls, 2), STAT(list_hypercalls, 0), STAT(full_flushes, 2),
		     STAT(ept02_dropped, 10), STAT(tlb_dropped, 10), STAT(ept02_entries, 3),
		     STAT(tlb_entries, 3));
	eptf_parent_destroy(g.p);
}

static void test_rejected_has_no_effect(void **state)
{
	struct rig g;
	const uint64_t r[][2] = { { 0, 10 } };
	uint16_t n;

	(void)state;
	rig_init(&g, mk(EPTF_PARENT_INTEL));
	n = fill(&g.l, R1, r, 1);
	touch(g.p, R1, 0, 10);
	g.l.flags = 1; /* RsvdZ */
	assert_int_equal(rig_list(&g, n), EPTF_EHV);
	assert_int_equal(g.info.status, EPTF_HV_STATUS_INVALID_PARAMETER);
	/* a large entry the parent does not accept (allow_large is false) */
	g.l.flags = 0;
	assert_int_equal(eptf_hv_entry_encode(0, 1, EPTF_HV_UNIT_2M, &g.l.gpa_list[0]), 0);
	assert_int_equal(rig_list(&g, n), EPTF_EHV);
	assert_int_equal(g.info.status, EPTF_HV_STATUS_INVALID_PARAMETER);
	/* an unknown call code straight through the transport */
	assert_int_equal(eptf_hv_result_status(g.t.hypercall(g.t.ctx, 0x1234, &g.l, sizeof(g.l))),
			 EPTF_HV_STATUS_INVALID_HYPERCALL_CODE);
	expect_stats(g.p, STAT(hypercalls, 3), STAT(rejected, 3), STAT(list_entries, 0),
		     STAT(ept02_dropped, 0), STAT(tlb_dropped, 0), STAT(ept02_entries, 10));
	eptf_parent_destroy(g.p);
}

static void test_result_word_reps(void **state)
{
	struct rig g;
	const uint64_t r[][2] = { { 0, 1 }, { 10, 1 }, { 20, 1 }, { 30, 1 } };
	uint16_t n;
	uint64_t ctl, res;

	(void)state;
	rig_init(&g, mk(EPTF_PARENT_INTEL));
	n = fill(&g.l, R1, r, 4);
	touch(g.p, R1, 0, 40);
	/* a continuation from rep 2: applies reps 2 and 3 only, reports 4 completed in total */
	ctl = EPTF_HVCALL_FLUSH_GPA_LIST | (uint64_t)n << 32 | (uint64_t)2 << 48;
	res = g.t.hypercall(g.t.ctx, ctl, &g.l, 16 + 8u * n);
	assert_int_equal(eptf_hv_result_status(res), EPTF_HV_STATUS_SUCCESS);
	assert_int_equal(eptf_hv_result_reps(res), 4);
	expect_stats(g.p, STAT(list_entries, 2), STAT(ept02_dropped, 2));
	expect_access_list(g.p, ACC(R1, 10, EPTF_ACCESS_TLB_MISS), ACC(R1, 20, EPTF_ACCESS_EPT_VIOLATION));
	eptf_parent_destroy(g.p);
}

static struct eptf_parent *mk_inject(uint32_t err, uint32_t part, uint32_t to, uint64_t seed)
{
	struct eptf_parent_config cfg;

	eptf_parent_config_default(&cfg);
	cfg.inject = (struct eptf_parent_inject){ err, part, to, seed };
	return mk_cfg(&cfg);
}

/* @n single-page entries at 0, 10, 20, ... of R1. */
static uint16_t many(struct eptf_hv_flush_list *l, uint16_t n)
{
	memset(l, 0, sizeof(*l));
	l->address_space = R1;
	for (uint16_t i = 0; i < n; i++)
		assert_int_equal(eptf_hv_entry_encode(10u * i, 1, EPTF_HV_UNIT_4K, &l->gpa_list[i]), 0);
	return n;
}

/*
 * A parent injecting faults at the given rates (ppm) with @seed, @n entries
 * listed by many() and every page they name touched. Returns the entry count.
 */
static uint16_t inject_rig(struct rig *g, uint32_t err, uint32_t part, uint32_t to,
			   uint64_t seed, uint16_t n)
{
	rig_init(g, mk_inject(err, part, to, seed));
	many(&g->l, n);
	touch(g->p, R1, 0, 10u * n);
	return n;
}

static void test_inject_hv_error(void **state)
{
	struct rig g;
	uint16_t n = inject_rig(&g, 1000000, 0, 0, 1, 8);

	(void)state;
	assert_int_equal(rig_list(&g, n), EPTF_EHV);
	assert_int_equal(g.info.status, EPTF_HV_STATUS_INSUFFICIENT_MEMORY);
	assert_int_equal(eptf_hv_flush_space_call(&g.t, R1, &g.info), EPTF_EHV);
	assert_int_equal(g.info.status, EPTF_HV_STATUS_INSUFFICIENT_MEMORY);
	expect_stats(g.p, STAT(injected, 2), STAT(list_entries, 0), STAT(full_flushes, 0),
		     STAT(ept02_dropped, 0));
	eptf_parent_destroy(g.p);
}

static void test_inject_partial_driver_continues(void **state)
{
	struct rig g;
	uint16_t n = inject_rig(&g, 0, 1000000, 0, 42, 50);

	(void)state;
	assert_int_equal(rig_list(&g, n), 0);
	assert_int_equal(g.info.reps_done, 50);
	assert_true(g.info.issues > 1);
	/* every call with >= 2 reps left is cut short; the last one (1 rep left) cannot be */
	expect_stats(g.p, STAT(hypercalls, g.info.issues), STAT(injected, g.info.issues - 1),
		     STAT(list_entries, 50), STAT(ept02_dropped, 50));
	eptf_parent_destroy(g.p);
}

static void test_inject_timeout(void **state)
{
	struct rig g;
	uint16_t n = inject_rig(&g, 0, 0, 1000000, 7, 50);

	(void)state;
	assert_int_equal(rig_list(&g, n), EPTF_EHV);
	assert_int_equal(g.info.status, EPTF_HV_STATUS_TIME_OUT);
	assert_true(g.info.reps_done < 50);
	assert_int_equal(g.info.issues, 1);
	expect_stats(g.p, STAT(injected, 1), STAT(list_entries, g.info.reps_done),
		     STAT(ept02_dropped, g.info.reps_done));
	eptf_parent_destroy(g.p);
}

/* Run 400 list calls of 8 entries; returns injected count, fills a fingerprint of the outcomes. */
static uint64_t inject_run(uint32_t err, uint32_t part, uint32_t to, uint64_t seed, uint64_t *fp)
{
	struct rig g;
	uint16_t n;
	uint64_t inj;

	rig_init(&g, mk_inject(err, part, to, seed));
	n = many(&g.l, 8);
	*fp = 0;
	for (int i = 0; i < 400; i++) {
		int rc = rig_list(&g, n);

		*fp = *fp * 31 + (uint64_t)(rc + 100) * 7 + g.info.status * 13 +
		      g.info.reps_done * 17 + g.info.issues;
	}
	inj = stats(g.p).injected;
	eptf_parent_destroy(g.p);
	return inj;
}

static void test_inject_deterministic_and_rated(void **state)
{
	uint64_t fa, fb, fc, ia, ib, ic;

	(void)state;
	ia = inject_run(100000, 100000, 100000, 5, &fa);
	ib = inject_run(100000, 100000, 100000, 5, &fb);
	ic = inject_run(100000, 100000, 100000, 6, &fc);
	assert_int_equal(ia, ib);
	assert_int_equal(fa, fb);
	assert_true(fa != fc);
	/* 30% of the first issues of 400 calls (plus continuations): well inside [80, 200] */
	assert_true(ia >= 80 && ia <= 200);
	assert_true(ic >= 80 && ic <= 200);
	/* no rates: no faults */
	assert_int_equal(inject_run(0, 0, 0, 5, &fa), 0);
}

static void test_cost_formula(void **state)
{
	struct eptf_parent_config cfg;
	struct rig g;
	const uint64_t r[][2] = { { 0, 3 }, { 50, 1 } };
	uint16_t n;

	(void)state;
	eptf_parent_config_default(&cfg);
	cfg.tlb_entries = 8;
	cfg.cost = (struct eptf_cost_model){ .hypercall = 1000000000, .list_entry = 10000000,
					     .full_flush = 100000, .ept_violation = 1000,
					     .tlb_miss_walk = 10, .entry_drop = 1 };
	rig_init(&g, mk_cfg(&cfg));
	n = fill(&g.l, R1, r, 2);
	touch(g.p, R1, 0, 10);                 /* 10 violations */
	touch(g.p, R1, 50, 1);                 /* 11 */
	eptf_parent_access(g.p, R1, 0, false, false); /* evicted from the 8-entry TLB: a miss */
	assert_int_equal(rig_list(&g, n), 0);                              /* 1 call, 2 entries, 4 drops */
	assert_int_equal(eptf_hv_flush_space_call(&g.t, R1, &g.info), 0); /* 1 call, 7 drops */
	expect_stats(g.p, STAT(hypercalls, 2), STAT(list_entries, 2), STAT(full_flushes, 1),
		     STAT(ept_violations, 11), STAT(tlb_misses, 1), STAT(ept02_dropped, 11),
		     STAT(modeled_cycles, 2000000000ull + 20000000 + 100000 + 11000 + 10 + 11));
	eptf_parent_destroy(g.p);
}

/* Random control words and input pages never crash the parent; every call is counted once. */
static void test_random_calls_are_safe(void **state)
{
	struct eptf_parent_config cfg;
	struct eptf_parent *p;
	struct eptf_hv_transport t;
	static uint64_t page[512];
	uint64_t s = 0x1234567;
	uint64_t ok = 0, n = 20000;

	(void)state;
	eptf_parent_config_default(&cfg);
	cfg.vendor = EPTF_PARENT_AMD;
	cfg.allow_large = true;
	cfg.gpa_bits = 64;
	p = mk_cfg(&cfg);
	t = eptf_parent_transport(p);
	touch(p, R1, 0, 64);
	for (uint64_t i = 0; i < n; i++) {
		uint16_t reps;
		uint64_t ctl, res;

		for (size_t w = 0; w < 8; w++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			page[w] = s;
		}
		page[0] = i & 1 ? R1 : page[0];
		page[1] = i & 2 ? 0 : page[1];
		reps = (uint16_t)(1 + (s >> 40) % 6);
		ctl = (i & 4 ? EPTF_HVCALL_FLUSH_GPA_LIST : (s & 0xffff)) | (uint64_t)reps << 32;
		if (i % 5 == 0)
			ctl = s; /* anything at all */
		res = t.hypercall(t.ctx, ctl, page, (size_t)((s >> 20) % (sizeof(page) + 1)));
		ok += eptf_hv_result_status(res) == EPTF_HV_STATUS_SUCCESS;
	}
	{
		struct eptf_parent_stats st = stats(p);

		assert_int_equal(st.hypercalls, n);
		assert_int_equal(st.rejected + ok, n);
		assert_true(ok > 0 && st.rejected > 0);
	}
	eptf_parent_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_flush_intel),
		cmocka_unit_test(test_list_flush_amd),
		cmocka_unit_test(test_list_flush_huge_entries),
		cmocka_unit_test(test_space_flush),
		cmocka_unit_test(test_rejected_has_no_effect),
		cmocka_unit_test(test_result_word_reps),
		cmocka_unit_test(test_inject_hv_error),
		cmocka_unit_test(test_inject_partial_driver_continues),
		cmocka_unit_test(test_inject_timeout),
		cmocka_unit_test(test_inject_deterministic_and_rated),
		cmocka_unit_test(test_cost_formula),
		cmocka_unit_test(test_random_calls_are_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
