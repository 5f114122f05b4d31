/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Hypercall fault injection end to end (issue 6, "Faults"): every synthetic
 * workload replayed under every correct strategy and the ideal bound while
 * the parent injects error statuses, partial rep completions and time-outs
 * at several rates. What must hold:
 *   - no correct strategy leaves a stale translation, whatever is injected
 *     (fallback chain list -> full -> INVEPT, docs/strategies.md);
 *   - faults are injected where they can be: hv-error into any call,
 *     partial and time-out into list calls (a full flush has no reps);
 *   - every injected failure (hv-error, time-out) is exactly one fallback
 *     more than the same run without faults; partial completions are
 *     continued, never a fallback;
 *   - a failed full flush becomes an INVEPT of that root, counted as a
 *     fallback and not in root_flushes (which stays the root switches);
 *   - handled injected faults are not errors;
 *   - ideal issues no hypercalls: no faults, no fallbacks;
 *   - the results depend only on the seeds (same seed, same metrics).
 * Sizes are small so that the whole program stays a few seconds under ASan.
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

#include <eptflush/flush.h>
#include <eptflush/replay.h>
#include <eptflush/workload.h>

#define WL_VCPUS 2
#define WL_SEED 7
#define INJECT_SEED 12345

/*
 * The workloads issue 6 names (the registry must hold each), each long
 * enough for about a hundred hypercalls per strategy (boot flushes rarely:
 * a small guest and more ops) and short enough for ASan.
 */
static const struct {
	const char *name;
	uint64_t guest_pages;
	uint64_t ops;
} workloads[] = {
	{ "boot", 16ull << 8, 10000 },      { "migrate", 256ull << 8, 4000 },
	{ "overcommit", 256ull << 8, 4000 }, { "shadow", 256ull << 8, 6000 },
	{ "hugepage", 256ull << 8, 2500 },  { "mixed", 256ull << 8, 5000 },
};
#define NWL (sizeof(workloads) / sizeof(workloads[0]))
/* A lane with at least this many calls a fault can land on must draw one at 10% (P(none) < 1%). */
#define MIN_CALLS 50

/* One workload's ops, generated once and replayed by every run. */
struct stream {
	const char *name;
	struct eptf_op *ops;
	size_t n;
};

static struct stream streams[NWL];

static void stream_load(struct stream *s, const char *name, uint64_t guest_pages, uint64_t ops)
{
	struct eptf_workload_params wp;
	struct eptf_workload *wl;
	size_t cap = 0;

	eptf_workload_params_default(&wp);
	wp.guest_pages = guest_pages;
	wp.nr_vcpus = WL_VCPUS;
	wp.ops = ops;
	wp.seed = WL_SEED;
	assert_int_equal(eptf_workload_create(name, &wp, &wl), 0);
	s->name = name;
	s->n = 0;
	s->ops = NULL;
	for (;;) {
		struct eptf_op op;

		memset(&op, 0, sizeof(op));
		if (eptf_workload_next(wl, &op) != 1)
			break;
		if (s->n == cap) {
			cap = cap ? 2 * cap : 1024;
			s->ops = realloc(s->ops, cap * sizeof(*s->ops));
			assert_non_null(s->ops);
		}
		s->ops[s->n++] = op;
	}
	eptf_workload_destroy(wl);
	assert_true(s->n > 0);
}

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < NWL; i++)
		stream_load(&streams[i], workloads[i].name, workloads[i].guest_pages, workloads[i].ops);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < NWL; i++)
		free(streams[i].ops);
	return 0;
}

/* What one replay produced: its metrics and the INVEPT fallbacks the parent saw. */
struct outcome {
	struct eptf_metrics m;
	uint64_t invept_fallbacks; /* parent root flushes beyond the root switches */
};

static struct outcome run(const struct stream *s, const char *strategy, const struct eptf_parent_inject *inj)
{
	struct eptf_replay_config cfg;
	struct eptf_parent_stats ps;
	struct eptf_replay *r;
	struct outcome o;

	eptf_replay_config_default(&cfg);
	cfg.strategy = strategy;
	cfg.nr_vcpus = WL_VCPUS;
	cfg.parent.inject = *inj;
	assert_int_equal(eptf_replay_create(&cfg, &r), 0);
	for (size_t i = 0; i < s->n; i++)
		assert_int_equal(eptf_replay_op(r, &s->ops[i]), 0);
	eptf_replay_metrics(r, &o.m);
	eptf_parent_get_stats(eptf_replay_parent(r), &ps);
	assert_true(ps.root_flushes >= o.m.root_flushes);
	o.invept_fallbacks = ps.root_flushes - o.m.root_flushes;
	eptf_replay_destroy(r);
	return o;
}

enum kind { K_HV_ERROR, K_PARTIAL, K_TIMEOUT, K_ALL, NKINDS };
static const char *const kind_names[NKINDS] = { "hv-error", "partial", "timeout", "all" };
/* Per kind rates in ppm: 1%, 10%, 50% (all three together: a third each at the top). */
static const uint32_t rates[] = { 10000, 100000, 500000 };
#define NRATES (sizeof(rates) / sizeof(rates[0]))

static struct eptf_parent_inject inject_of(enum kind k, uint32_t ppm, uint64_t seed)
{
	struct eptf_parent_inject in = { .seed = seed };

	switch (k) {
	case K_HV_ERROR: in.hv_error_ppm = ppm; break;
	case K_PARTIAL: in.partial_ppm = ppm; break;
	case K_TIMEOUT: in.timeout_ppm = ppm; break;
	default:
		if (ppm > 333333)
			ppm = 333333;
		in.hv_error_ppm = in.partial_ppm = in.timeout_ppm = ppm;
		break;
	}
	return in;
}

/* The strategies meant to be correct, plus ideal last. */
static size_t lanes(const char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; eptf_strategies[i] && n + 1 < max; i++)
		if (eptf_strategies[i]->correct)
			out[n++] = eptf_strategies[i]->name;
	out[n++] = EPTF_IDEAL_NAME;
	return n;
}

static void check_workload(const struct stream *s)
{
	const char *names[16];
	struct outcome base[16];
	size_t nl = lanes(names, 16);
	const struct eptf_parent_inject none = { 0 };

	assert_true(nl >= 6); /* full, mainline, list, list-merge, adaptive, ideal */
	for (size_t l = 0; l < nl; l++) {
		base[l] = run(s, names[l], &none);
		assert_int_equal(base[l].m.stale_violations, 0);
		assert_int_equal(base[l].m.faults_injected, 0);
		assert_int_equal(base[l].invept_fallbacks, 0);
	}
	for (int k = 0; k < NKINDS; k++) {
		for (size_t ri = 0; ri < NRATES; ri++) {
			struct eptf_parent_inject in = inject_of((enum kind)k, rates[ri], INJECT_SEED);
			uint64_t faults = 0, extra_fallbacks = 0, invept = 0, base_full = 0;
			bool partial_targets = k != K_PARTIAL;
			bool high = rates[ri] >= 100000;

			for (size_t l = 0; l < nl; l++) {
				const struct eptf_metrics *b = &base[l].m;
				bool ideal = !strcmp(names[l], EPTF_IDEAL_NAME);

				/* ideal is checked once per kind: it has nothing to draw faults on */
				if (ideal && ri + 1 != NRATES)
					continue;
				struct outcome o = run(s, names[l], &in);
				const struct eptf_metrics *m = &o.m;
				char tag[128];

				snprintf(tag, sizeof(tag), "%s/%s %s=%u ppm", s->name, names[l], kind_names[k],
					 rates[ri]);
				if (m->stale_violations || m->errors != b->errors)
					fail_msg("%s: %llu stale violations, %llu errors (without faults %llu)", tag,
						 (unsigned long long)m->stale_violations,
						 (unsigned long long)m->errors, (unsigned long long)b->errors);
				/* the same op stream: the same flush points and root switches */
				assert_int_equal(m->flush_points, b->flush_points);
				assert_int_equal(m->root_flushes, b->root_flushes);
				if (ideal) {
					/* no hypercall reaches the parent: nothing to inject or fall back from */
					assert_int_equal(m->faults_injected, 0);
					assert_int_equal(m->fallbacks, 0);
					assert_memory_equal(m, b, sizeof(*m));
					continue;
				}
				/*
				 * hv-error lands on any call, time-out on list calls, partial
				 * on list calls of two entries or more (counted here only
				 * when the calls average two: a lower bound is not known).
				 */
				uint64_t targets = k == K_HV_ERROR || k == K_ALL ? b->hypercalls : b->list_hypercalls;
				if (k == K_PARTIAL && b->list_entries < 2 * b->list_hypercalls)
					targets = b->list_entries > b->list_hypercalls ? 1 : 0;
				if (high && targets >= MIN_CALLS && m->faults_injected == 0)
					fail_msg("%s: no fault injected over %llu calls", tag, (unsigned long long)targets);
				if (targets == 0)
					assert_int_equal(m->faults_injected, 0);
				if (k == K_PARTIAL && targets >= MIN_CALLS)
					partial_targets = true;
				assert_true(m->fallbacks >= b->fallbacks);
				faults += m->faults_injected;
				extra_fallbacks += m->fallbacks - b->fallbacks;
				invept += o.invept_fallbacks;
				base_full += b->full_flushes;
				assert_true(o.invept_fallbacks <= m->fallbacks);
				switch (k) {
				case K_PARTIAL:
					/* continued, never degraded: only more hypercall instructions */
					assert_int_equal(m->fallbacks, b->fallbacks);
					assert_int_equal(m->hypercalls, b->hypercalls + m->faults_injected);
					assert_int_equal(o.invept_fallbacks, 0);
					break;
				case K_HV_ERROR:
				case K_TIMEOUT:
					/* each injected failure is exactly one more fallback */
					if (m->fallbacks != b->fallbacks + m->faults_injected)
						fail_msg("%s: %llu fallbacks, %llu without faults, %llu faults", tag,
							 (unsigned long long)m->fallbacks,
							 (unsigned long long)b->fallbacks,
							 (unsigned long long)m->faults_injected);
					if (k == K_TIMEOUT) /* a full flush is a simple call: it cannot time out */
						assert_int_equal(o.invept_fallbacks, 0);
					else if (high && b->full_flushes >= MIN_CALLS && !o.invept_fallbacks)
						fail_msg("%s: no INVEPT fallback over %llu full flushes", tag,
							 (unsigned long long)b->full_flushes);
					break;
				default:
					/* partials are not fallbacks, failures are one each */
					assert_true(m->fallbacks - b->fallbacks <= m->faults_injected);
					break;
				}
			}
			/* over all strategies of the workload, each kind shows up from 10% on */
			if (high && partial_targets) {
				if (!faults)
					fail_msg("%s %s=%u ppm: no fault injected in any strategy", s->name,
						 kind_names[k], rates[ri]);
				if (k != K_PARTIAL && !extra_fallbacks)
					fail_msg("%s %s=%u ppm: no fallback taken", s->name, kind_names[k], rates[ri]);
				if ((k == K_HV_ERROR || k == K_ALL) && base_full && !invept)
					fail_msg("%s %s=%u ppm: no INVEPT fallback over %llu full flushes", s->name,
						 kind_names[k], rates[ri], (unsigned long long)base_full);
			}
			if (getenv("EPTF_FAULTS_VERBOSE"))
				printf("%-10s %-8s %6.2f%%: faults %llu, fallbacks +%llu (INVEPT %llu)\n", s->name,
				       kind_names[k], rates[ri] / 1e4, (unsigned long long)faults,
				       (unsigned long long)extra_fallbacks, (unsigned long long)invept);
		}
	}
}

#define WL_TEST(idx)                                \
	static void test_wl_##idx(void **state)     \
	{                                           \
		(void)state;                        \
		check_workload(&streams[idx]);      \
	}
WL_TEST(0)
WL_TEST(1)
WL_TEST(2)
WL_TEST(3)
WL_TEST(4)
WL_TEST(5)

/* Every named workload is in the registry (a renamed one would silently drop out of the tests above). */
static void test_workloads_named(void **state)
{
	(void)state;
	for (size_t i = 0; i < NWL; i++) {
		bool found = false;

		for (size_t k = 0; eptf_workloads[k].name; k++)
			found |= !strcmp(eptf_workloads[k].name, workloads[i].name);
		assert_true(found);
	}
}

/* Same seeds, same results; another injection seed, other faults. */
static void test_deterministic(void **state)
{
	const struct stream *s = &streams[NWL - 1]; /* mixed */
	const char *names[16];
	size_t nl = lanes(names, 16);
	bool differs = false;

	(void)state;
	for (size_t l = 0; l + 1 < nl; l++) {
		struct eptf_parent_inject in = inject_of(K_ALL, 100000, INJECT_SEED);
		struct outcome a = run(s, names[l], &in), b = run(s, names[l], &in);

		assert_memory_equal(&a.m, &b.m, sizeof(a.m));
		assert_int_equal(a.invept_fallbacks, b.invept_fallbacks);
		in.seed = INJECT_SEED + 1;
		struct outcome c = run(s, names[l], &in);
		differs |= memcmp(&a.m, &c.m, sizeof(a.m)) != 0;
		assert_int_equal(c.m.stale_violations, 0);
	}
	assert_true(differs);
}

/*
 * Every call fails: list calls fall back to full flushes, which fall back
 * to INVEPT; still no stale translation, and each full flush issued
 * is one INVEPT fallback.
 */
static void test_every_call_fails(void **state)
{
	const struct stream *s = &streams[NWL - 1];
	struct eptf_parent_inject in = { .hv_error_ppm = 1000000, .seed = 1 };
	const char *names[16];
	size_t nl = lanes(names, 16);

	(void)state;
	for (size_t l = 0; l + 1 < nl; l++) {
		struct outcome o = run(s, names[l], &in);

		assert_int_equal(o.m.stale_violations, 0);
		assert_int_equal(o.m.faults_injected, o.m.hypercalls);
		assert_true(o.m.full_flushes > 0);
		assert_int_equal(o.invept_fallbacks, o.m.full_flushes);
		/* every list call and every full flush degraded once (and overflows, as without faults) */
		assert_true(o.m.fallbacks >= o.m.list_hypercalls + o.invept_fallbacks);
		assert_int_equal(o.m.hypercalls, o.m.list_hypercalls + o.m.full_flushes);
	}
}

/* ---- the fallback chain at the flush layer, with a scripted parent ---------- */

/* A transport that answers every call with one status and counts the calls by code. */
struct scripted {
	uint16_t status;
	unsigned list_calls, space_calls;
	unsigned invepts;
	uint64_t invept_root;
	unsigned errors_reported;
};

static uint64_t scripted_call(void *ctx, uint64_t control, const void *input, size_t len)
{
	struct scripted *sc = ctx;

	(void)input;
	(void)len;
	if ((control & 0xffffu) == EPTF_HVCALL_FLUSH_GPA_LIST)
		sc->list_calls++;
	else
		sc->space_calls++;
	/* success completes every rep asked (bits 43:32 of the control word) */
	return eptf_hv_result_build(sc->status,
				    sc->status == EPTF_HV_STATUS_SUCCESS ? (uint16_t)((control >> 32) & 0xfffu) : 0);
}

static void scripted_invept(void *ctx, uint64_t root)
{
	struct scripted *sc = ctx;

	sc->invepts++;
	sc->invept_root = root;
}

static void scripted_error(void *ctx, uint64_t op, const char *msg)
{
	struct scripted *sc = ctx;

	(void)op;
	assert_non_null(msg);
	sc->errors_reported++;
}

/* One list call of one range to root 0x5000 through @status; returns the flush stats. */
static struct eptf_flush_stats chain(uint16_t status, bool hook, struct scripted *sc)
{
	const struct eptf_root_ref root = { .hpa = 0x5000, .direct = true };
	const struct eptf_hv_range range = { .gfn = 0x100, .pages = 4 };
	struct eptf_flush_point fp;
	struct eptf_flush_ctx ctx;

	memset(sc, 0, sizeof(*sc));
	sc->status = status;
	memset(&fp, 0, sizeof(fp));
	fp.site = EPTF_SITE_ZAP_RANGE;
	fp.op_index = 3;
	fp.roots = &root;
	fp.nroots = 1;
	memset(&ctx, 0, sizeof(ctx));
	ctx.hv.hypercall = scripted_call;
	ctx.hv.ctx = sc;
	ctx.error = scripted_error;
	ctx.error_ctx = sc;
	if (hook) {
		ctx.invept = scripted_invept;
		ctx.invept_ctx = sc;
	}
	assert_int_equal(eptf_flush_ranges_linux(&ctx, &fp, &range, 1), 0);
	return ctx.stats;
}

/* What one chain() run must leave: the calls by code, the INVEPTs and the stats. */
struct chain_case {
	uint16_t status;
	bool hook;
	unsigned list_calls, space_calls, invepts;
	uint64_t invept_root;
	uint64_t fallbacks, invept_fallbacks, errors;
	unsigned errors_reported;
};

static void check_chain(const struct chain_case *cc)
{
	struct scripted sc;
	struct eptf_flush_stats st = chain(cc->status, cc->hook, &sc);

	assert_int_equal(sc.list_calls, cc->list_calls);
	assert_int_equal(sc.space_calls, cc->space_calls);
	assert_int_equal(sc.invepts, cc->invepts);
	assert_int_equal(sc.invept_root, cc->invept_root);
	assert_int_equal(st.fallbacks, cc->fallbacks);
	assert_int_equal(st.invept_fallbacks, cc->invept_fallbacks);
	assert_int_equal(st.errors, cc->errors);
	assert_int_equal(sc.errors_reported, cc->errors_reported);
}

static void test_chain_transient(void **state)
{
	/* injected failures: list -> full -> INVEPT, two fallbacks, no error */
	static const struct chain_case cases[] = {
		{ EPTF_HV_STATUS_INSUFFICIENT_MEMORY, true, 1, 1, 1, 0x5000, 2, 1, 0, 0 },
		{ EPTF_HV_STATUS_TIME_OUT, true, 1, 1, 1, 0x5000, 2, 1, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_chain(&cases[i]);
}

static void test_chain_rejected(void **state)
{
	static const struct chain_case cases[] = {
		/* a rejected call is the strategy's fault: still the whole chain, and an error at each step */
		{ EPTF_HV_STATUS_INVALID_PARAMETER, true, 1, 1, 1, 0x5000, 2, 1, 2, 2 },
		/* without the hook nothing is left to degrade to: an error, no INVEPT fallback */
		{ EPTF_HV_STATUS_INSUFFICIENT_MEMORY, false, 1, 1, 0, 0, 1, 0, 1, 1 },
		/* success: nothing degrades */
		{ EPTF_HV_STATUS_SUCCESS, true, 1, 0, 0, 0, 0, 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_chain(&cases[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workloads_named),
		cmocka_unit_test(test_wl_0),
		cmocka_unit_test(test_wl_1),
		cmocka_unit_test(test_wl_2),
		cmocka_unit_test(test_wl_3),
		cmocka_unit_test(test_wl_4),
		cmocka_unit_test(test_wl_5),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_every_call_fails),
		cmocka_unit_test(test_chain_transient),
		cmocka_unit_test(test_chain_rejected),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
