/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * adaptive's estimator and decision (src/flush/adaptive.c): the refault
 * estimate from L1's clock and fault count, the cost comparison, and the
 * choice it makes on hand-made flush points and on flush points of a real
 * L1 model (eptf_mmu), whose fault counter is the only L1 statistic it reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/flush.h>

#include "flush/internal.h"

/* ---- a fake parent that records which call each root got ------------------ */

#define MAX_CALLS 64

static struct {
	uint16_t code[MAX_CALLS];
	uint64_t as[MAX_CALLS];
	uint16_t reps[MAX_CALLS];
	size_t n;
} fk;

static uint64_t fake_hypercall(void *ctx, uint64_t control, const void *input, size_t len)
{
	struct eptf_hv_control c;
	uint64_t as;

	(void)ctx;
	assert_true(fk.n < MAX_CALLS);
	assert_true(len >= 16);
	eptf_hv_control_parse(control, &c);
	memcpy(&as, input, sizeof(as));
	fk.code[fk.n] = c.code;
	fk.as[fk.n] = as;
	fk.reps[fk.n] = c.rep_count;
	fk.n++;
	return eptf_hv_result_build(EPTF_HV_STATUS_SUCCESS, c.rep_count);
}

static struct eptf_cost_model cm;

static const struct eptf_strategy *adaptive(void)
{
	const struct eptf_strategy *s = eptf_strategy_find("adaptive");

	assert_non_null(s);
	return s;
}

static void ctx_init(struct eptf_flush_ctx *ctx)
{
	memset(&fk, 0, sizeof(fk));
	memset(ctx, 0, sizeof(*ctx));
	eptf_cost_model_default(&cm);
	ctx->hv.hypercall = fake_hypercall;
	ctx->cost = &cm;
	assert_int_equal(adaptive()->init(ctx), 0);
}

static void ctx_fini(struct eptf_flush_ctx *ctx)
{
	adaptive()->fini(ctx);
	assert_null(ctx->priv);
}

/* Calls of @code in the fake's log. */
static size_t count_calls(uint16_t code)
{
	size_t k = 0;

	for (size_t i = 0; i < fk.n; i++)
		if (fk.code[i] == code)
			k++;
	return k;
}

/* ---- the estimator ------------------------------------------------------------ */

static void test_estimator(void **state)
{
	struct eptf_adaptive_est e;

	(void)state;
	eptf_adaptive_est_init(&e);
	/* First interval: 100 time units, 0 faults, one is the flushing op: 99 re-touch chances. */
	assert_true(eptf_adaptive_est_update(&e, 100, 0) == 99.0);
	/* Next: 10 units, 5 of them L1 faults (first touches), 1 the op: g = 4, U = (3*99 + 4)/4. */
	assert_true(eptf_adaptive_est_update(&e, 110, 5) == (3 * 99.0 + 4) / 4);
	/* Every unit a fault: nothing could have re-touched a cached page; U decays by 3/4. */
	{
		double before = e.retouch;

		assert_true(eptf_adaptive_est_update(&e, 130, 25) == before * 3 / 4);
	}
	/* More faults than time (a fault burst counted in one op): g clamps at 0, never negative. */
	assert_true(eptf_adaptive_est_update(&e, 131, 1000) >= 0);
	/* A clock or counter that went backwards (a restarted source) does not underflow. */
	assert_true(eptf_adaptive_est_update(&e, 5, 0) >= 0);
	assert_true(e.retouch < 1e6);
	/* Two flush points of one op (dt = 0): g = 0. */
	eptf_adaptive_est_init(&e);
	assert_true(eptf_adaptive_est_update(&e, 0, 0) == 0.0);
	assert_true(eptf_adaptive_est_update(&e, 0, 0) == 0.0);
}

/* ---- the decision under the default cost model ----------------------------------- */

static void test_decision(void **state)
{
	(void)state;
	eptf_cost_model_default(&cm);
	/*
	 * A zapped level-2 page without large entries: 262144 pages = 128
	 * entries of 2048. list = 8304 + 128 * 260 = 41584; full = 8304 + 2283
	 * = 10587 + U * 8834: full iff U < 3.51.
	 */
	assert_true(eptf_adaptive_prefers_full(&cm, 1, 128, 0));
	assert_true(eptf_adaptive_prefers_full(&cm, 1, 128, 3.5));
	assert_false(eptf_adaptive_prefers_full(&cm, 1, 128, 3.6));
	/* One entry: list 8564 < full 10587 even with nothing to refault. */
	assert_false(eptf_adaptive_prefers_full(&cm, 1, 1, 0));
	/* Roots multiply both sides' calls, not the refaults: 4 roots, 128 entries, U = 10 -> full. */
	assert_false(eptf_adaptive_prefers_full(&cm, 1, 128, 10));
	assert_true(eptf_adaptive_prefers_full(&cm, 4, 128, 10));
	/* A negative estimate counts as 0. */
	assert_true(eptf_adaptive_prefers_full(&cm, 1, 128, -5));
	/* A tie goes to the list: list_entry chosen so both sides are 10587 with U = 0. */
	{
		struct eptf_cost_model t = cm;

		t.list_entry = 2283; /* 8304 + 1 * 2283 == 8304 + 2283 */
		assert_false(eptf_adaptive_prefers_full(&t, 1, 1, 0));
	}
	/* Past EPTF_FLUSH_MERGE_MAX_PAGES calls: full, whatever the refaults. */
	assert_true(eptf_adaptive_prefers_full(&cm, 1, 510ull * EPTF_FLUSH_MERGE_MAX_PAGES + 1, 1e12));
	assert_false(eptf_adaptive_prefers_full(&cm, 1, 510ull * EPTF_FLUSH_MERGE_MAX_PAGES, 1e12));
	/* A cheap violation makes full win earlier: ept_violation = 2000 -> full iff U < 15.5. */
	cm.ept_violation = 2000;
	assert_true(eptf_adaptive_prefers_full(&cm, 1, 128, 15));
	assert_false(eptf_adaptive_prefers_full(&cm, 1, 128, 16));
}

/* ---- hand-made flush points --------------------------------------------------------- */

static struct eptf_inval items[4];
static struct eptf_root_ref roots[2] = { { 0x100000, true }, { 0x200000, true } };

/* A zapped direct level-2 page at @base: 512^2 pages, 128 small entries. */
static struct eptf_flush_point zap_l2(uint64_t op_index, uint64_t base, size_t nroots)
{
	memset(items, 0, sizeof(items));
	items[0].kind = EPTF_INV_SP;
	items[0].change = EPTF_CHG_DROP;
	items[0].sp_level = 2;
	items[0].direct = true;
	items[0].sp_gfn = items[0].sp_base = items[0].addr = base;
	items[0].pages = EPTF_PAGES_PER_LEVEL(3);
	return (struct eptf_flush_point){
		.site = EPTF_SITE_COMMIT_ZAP, .op_index = op_index, .items = items, .nitems = 1,
		.roots = roots, .nroots = nroots,
	};
}

/* One dropped 4 KiB leaf at @gfn: one entry. */
static struct eptf_flush_point drop_4k(uint64_t op_index, uint64_t gfn)
{
	memset(items, 0, sizeof(items));
	items[0].kind = EPTF_INV_SPTE;
	items[0].change = EPTF_CHG_DROP;
	items[0].sp_level = 1;
	items[0].direct = true;
	items[0].leaf = true;
	items[0].index = (uint16_t)(gfn % 512);
	items[0].sp_gfn = items[0].sp_base = gfn & ~511ull;
	items[0].addr = items[0].gfn = gfn;
	items[0].pages = 1;
	return (struct eptf_flush_point){
		.site = EPTF_SITE_ZAP_RANGE, .op_index = op_index, .items = items, .nitems = 1,
		.roots = roots, .nroots = 1, .range_gfn = gfn, .range_pages = 1,
	};
}

/* A huge list and a small working set (flush points back to back): a full flush per root. */
static void test_full_when_list_huge_and_working_set_small(void **state)
{
	struct eptf_flush_ctx ctx;
	struct eptf_flush_point fp;

	(void)state;
	ctx_init(&ctx);
	for (uint64_t op = 1; op <= 3; op++) {
		fk.n = 0;
		fp = zap_l2(op, 0x40000 * op, 2);
		assert_int_equal(adaptive()->flush(&ctx, &fp), 0);
		assert_int_equal(fk.n, 2);
		assert_int_equal(count_calls(EPTF_HVCALL_FLUSH_GPA_SPACE), 2);
		assert_true(fk.as[0] == roots[0].hpa && fk.as[1] == roots[1].hpa);
	}
	assert_int_equal(ctx.stats.full_flushes, 6);
	assert_int_equal(ctx.stats.list_hypercalls, 0);
	assert_int_equal(ctx.stats.fallbacks, 0); /* a choice, not a degradation */
	assert_int_equal(ctx.stats.flush_points, 3);
	ctx_fini(&ctx);
}

/* A small list and a large working set (a long run of L2 time): the list. */
static void test_list_when_working_set_large_and_list_small(void **state)
{
	struct eptf_flush_ctx ctx;
	struct eptf_flush_point fp;

	(void)state;
	ctx_init(&ctx);
	fp = drop_4k(5000, 0x1234);
	assert_int_equal(adaptive()->flush(&ctx, &fp), 0);
	assert_int_equal(fk.n, 1);
	assert_int_equal(fk.code[0], EPTF_HVCALL_FLUSH_GPA_LIST);
	assert_int_equal(fk.reps[0], 1);
	/* The same huge zap that gets a full flush above gets the list after that much L2 time. */
	fk.n = 0;
	fp = zap_l2(10000, 0x40000, 1);
	assert_int_equal(adaptive()->flush(&ctx, &fp), 0);
	assert_int_equal(fk.n, 1);
	assert_int_equal(fk.code[0], EPTF_HVCALL_FLUSH_GPA_LIST);
	assert_int_equal(fk.reps[0], 128);
	/*
	 * Then flush points back to back: U decays by 3/4 per interval, from
	 * (3 * 4999 + 4999) / 4 = 4999 down below 3.51 after about 26 of them,
	 * and the huge zaps switch to full flushes.
	 */
	{
		uint64_t op = 10000;
		unsigned lists = 0;
		bool switched = false;

		for (unsigned i = 0; i < 40; i++) {
			fk.n = 0;
			fp = zap_l2(++op, 0x40000, 1);
			assert_int_equal(adaptive()->flush(&ctx, &fp), 0);
			assert_int_equal(fk.n, 1);
			if (fk.code[0] == EPTF_HVCALL_FLUSH_GPA_SPACE) {
				switched = true;
			} else {
				assert_false(switched); /* never back to the list while U only decays */
				lists++;
			}
		}
		assert_true(switched);
		assert_true(lists >= 20 && lists <= 30);
	}
	ctx_fini(&ctx);
}

/* Large entries change the list's size, and with it the choice. */
static void test_large_entries_make_the_list_small(void **state)
{
	struct eptf_flush_ctx ctx;
	struct eptf_flush_point fp;

	(void)state;
	ctx_init(&ctx);
	ctx.parent_accepts_large = true;
	fp = zap_l2(1, 0x40000, 1); /* 1 GiB aligned: one 1 GiB entry, 8564 < 10587 */
	assert_int_equal(adaptive()->flush(&ctx, &fp), 0);
	assert_int_equal(fk.n, 1);
	assert_int_equal(fk.code[0], EPTF_HVCALL_FLUSH_GPA_LIST);
	assert_int_equal(fk.reps[0], 1);
	ctx_fini(&ctx);
}

/* ---- with a real L1 model: its fault counter is the signal ------------------------------ */

static void apply(struct eptf_mmu *m, uint64_t *idx, struct eptf_op op, struct eptf_mmu_result *res)
{
	memset(res, 0, sizeof(*res));
	assert_int_equal(eptf_mmu_apply(m, &op, (*idx)++, res), 0);
	if (res->fp.site == EPTF_SITE_NONE)
		eptf_mmu_finish(m);
}

/*
 * 600 4 KiB leaves at every other gfn (so 600 entries, 2 calls: list =
 * 2 * 8304 + 600 * 260 = 172608; full iff U < 18.3), zapped by one
 * kvm_zap_gfn_range. With @retouch accesses to mapped pages in between,
 * the interval holds that much L2 time L1 did not spend faulting.
 */
static uint16_t zap_after(unsigned retouch)
{
	struct eptf_mmu_config mc = { .nr_vcpus = 1 };
	struct eptf_mmu *m;
	struct eptf_mmu_result res;
	struct eptf_flush_ctx ctx;
	uint64_t idx = 0;
	uint16_t code;

	assert_int_equal(eptf_mmu_create(&mc, &m), 0);
	apply(m, &idx, (struct eptf_op){ .kind = EPTF_OP_SLOT_ADD, .slot = 0, .addr = 0, .count = 4096,
					 .value = 0x7f0000000000ull },
	      &res);
	apply(m, &idx, (struct eptf_op){ .kind = EPTF_OP_ROOT_LOAD, .vcpu = 0, .flags = EPTF_OPF_DIRECT }, &res);
	for (unsigned i = 0; i < 600; i++)
		apply(m, &idx, (struct eptf_op){ .kind = EPTF_OP_MAP, .addr = 2ull * i, .level = 1 }, &res);
	for (unsigned i = 0; i < retouch; i++)
		apply(m, &idx, (struct eptf_op){ .kind = EPTF_OP_ACCESS, .addr = 2ull * (i % 600) }, &res);
	memset(&res, 0, sizeof(res));
	assert_int_equal(eptf_mmu_apply(m, &(struct eptf_op){ .kind = EPTF_OP_ZAP_RANGE, .addr = 0, .count = 1200 },
					idx, &res),
			 0);
	assert_int_equal(res.fp.site, EPTF_SITE_ZAP_RANGE);
	assert_int_equal(res.fp.nitems, 600);
	ctx_init(&ctx);
	ctx.mmu = m;
	assert_int_equal(adaptive()->flush(&ctx, &res.fp), 0);
	assert_true(fk.n >= 1);
	code = fk.code[0];
	if (code == EPTF_HVCALL_FLUSH_GPA_LIST) {
		assert_int_equal(fk.n, 2);
		assert_int_equal(fk.reps[0] + fk.reps[1], 600);
	} else {
		assert_int_equal(fk.n, 1);
	}
	ctx_fini(&ctx);
	eptf_mmu_finish(m);
	eptf_mmu_destroy(m);
	return code;
}

static void test_real_model_faults(void **state)
{
	(void)state;
	/* Every op before the zap was an L1 fault (or setup): U = 602 - 600 - 1 = 1: full. */
	assert_int_equal(zap_after(0), EPTF_HVCALL_FLUSH_GPA_SPACE);
	/* 600 accesses to mapped pages: U = 601 re-touch chances: the list. */
	assert_int_equal(zap_after(600), EPTF_HVCALL_FLUSH_GPA_LIST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_estimator),
		cmocka_unit_test(test_decision),
		cmocka_unit_test(test_full_when_list_huge_and_working_set_small),
		cmocka_unit_test(test_list_when_working_set_large_and_list_small),
		cmocka_unit_test(test_large_entries_make_the_list_small),
		cmocka_unit_test(test_real_model_faults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
