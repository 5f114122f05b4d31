/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Property test of the whole model: seeded random op sequences (several
 * vCPUs, direct roots in two address spaces and shadow roots over L2's own
 * page tables (every third seed: direct roots only), huge pages, dirty logging, aging, unmaps, prepare/commit
 * zaps, guest page-table writes and syncs, memslot changes, L2 accesses)
 * replayed under every strategy. Properties:
 *   - full, mainline, list, list-merge, adaptive and ideal leave no stale
 *     translation (the checker finds none);
 *   - a deliberately broken strategy (list-merge that drops one range in N)
 *     is caught on every seed where a dropped range left a stale entry in
 *     the parent, and only there;
 *   - ideal is a lower bound: hypercalls, entries-or-full-flushes and EPT02
 *     drops of every correct strategy are >= ideal's;
 *   - list never issues more hypercalls than mainline;
 *   - seed-v2 runs the same sequences without crashing.
 * The total is over 10^5 generated ops.
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
#include <eptflush/replay.h>

#define NSEEDS 60
#define OPS_PER_SEED 1700 /* 60 * 1700 = 102000 ops */
#define NVCPUS 3

/* ---- deterministic generator --------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64* (Vigna) */
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd(uint64_t *s, uint64_t n)
{
	return n ? rng_next(s) % n : 0;
}

/* Layout: slot 0 (16 MiB at gfn 0) holds L2's page tables and data; slot 1 (1 GiB at 1 GiB) takes
 * 2 MiB and 1 GiB mappings; slot 2 is in address space 1 (SMM) and comes and goes. */
#define S0_PAGES 0x1000ull
#define S0_HVA 0x7f0000000000ull
#define S1_BASE 0x40000ull
#define S1_PAGES 0x40000ull
#define S1_HVA 0x7f1000000000ull
#define S2_ID (1u << 16)
#define S2_PAGES 0x800ull
#define S2_HVA 0x7f2000000000ull
/* guest tables: CR3 0x10 -> 0x11 -> 0x12 -> {0x13, 0x14, huge 0x400}; CR3 0x18 -> 0x19 -> 0x1a -> 0x1b.
 * Each leaf table maps its first GVA_HOT entries; accesses and guest writes go there. */
#define GVA_HOT 64u
/* hot sets keep the op mix dense: most ops find something mapped and cached */
#define S0_HOT_BASE 0x100ull
#define S0_HOT 0x100ull
#define S1_HOT 0x400ull

struct gen {
	uint64_t rng;
	struct eptf_op *ops;
	size_t n, cap;
	/* what each vCPU runs on, so that addresses fit: 0 = direct as0, 1 = direct as1, 2/3 = shadow */
	unsigned root[NVCPUS];
	bool s2_present;
	bool all_direct; /* no shadow root: mainline range-flushes where Linux does */
};

static void emit(struct gen *g, uint32_t kind, uint32_t vcpu, uint32_t slot, uint8_t level, uint8_t flags,
		 uint64_t addr, uint64_t count, uint64_t value)
{
	struct eptf_op op = {
		.kind = kind, .vcpu = vcpu, .slot = slot, .level = level, .flags = flags,
		.addr = addr, .count = count, .value = value,
	};

	assert_true(g->n < g->cap);
	g->ops[g->n++] = op;
}

static uint64_t gpte_of(uint64_t gfn, bool w, bool nx)
{
	return EPTF_GPTE_PRESENT | (w ? EPTF_GPTE_WRITABLE : 0) | (nx ? EPTF_GPTE_NX : 0) | (gfn << 12);
}

static uint64_t data_gfn(struct gen *g)
{
	return S0_HOT_BASE + rnd(&g->rng, S0_HOT);
}

static uint64_t hot_gfn(struct gen *g)
{
	return rnd(&g->rng, 2) ? data_gfn(g) : S1_BASE + rnd(&g->rng, S1_HOT);
}

static void gen_setup(struct gen *g)
{
	emit(g, EPTF_OP_SLOT_ADD, 0, 0, 0, 0, 0, S0_PAGES, S0_HVA);
	emit(g, EPTF_OP_SLOT_ADD, 0, 1, 0, 0, S1_BASE, S1_PAGES, S1_HVA);
	emit(g, EPTF_OP_SLOT_ADD, 0, S2_ID, 0, 0, 0, S2_PAGES, S2_HVA);
	g->s2_present = true;
	/* guest process A */
	emit(g, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, 0x10, 0, gpte_of(0x11, true, false));
	emit(g, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, 0x11, 0, gpte_of(0x12, true, false));
	emit(g, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, 0x12, 0, gpte_of(0x13, true, false));
	emit(g, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, 0x12, 1, gpte_of(0x14, true, false));
	emit(g, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, 0x12, 2, gpte_of(0x400, true, false) | EPTF_GPTE_HUGE);
	for (unsigned i = 0; i < 2 * GVA_HOT; i++)
		emit(g, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, 0x13 + i / GVA_HOT, i % GVA_HOT,
		     gpte_of(data_gfn(g), rnd(&g->rng, 4) != 0, false));
	/* guest process B shares frames with A */
	emit(g, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, 0x18, 0, gpte_of(0x19, true, false));
	emit(g, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, 0x19, 0, gpte_of(0x1a, true, false));
	emit(g, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, 0x1a, 0, gpte_of(0x1b, true, false));
	for (unsigned i = 0; i < GVA_HOT; i += 1 + (unsigned)rnd(&g->rng, 2))
		emit(g, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, 0x1b, i, gpte_of(data_gfn(g), true, false));
	emit(g, EPTF_OP_SLOT_FLAGS, 0, 1, 0, EPTF_SLOTF_DIRTY_LOG, 0, 0, 0);
	for (unsigned v = 0; v < NVCPUS; v++) {
		g->root[v] = v == 2 && !g->all_direct ? 2 : 0;
		if (g->root[v] == 2)
			emit(g, EPTF_OP_ROOT_LOAD, v, 0, 0, 0, 0x10, 0, 0);
		else
			emit(g, EPTF_OP_ROOT_LOAD, v, 0, 0, EPTF_OPF_DIRECT, 0, 0, 0);
	}
}

/* An input page for vCPU @v's current root: mostly a hot set, sometimes anywhere. */
static uint64_t gen_addr(struct gen *g, unsigned v)
{
	switch (g->root[v]) {
	case 0:
		if (rnd(&g->rng, 8))
			return hot_gfn(g);
		return S1_BASE + rnd(&g->rng, S1_PAGES);             /* slot 1 anywhere */
	case 1:
		return rnd(&g->rng, S2_PAGES + 16);                  /* slot 2 (sometimes past it) */
	case 2:
		/* table 0x13, table 0x14, the huge guest page, sometimes unmapped */
		return 512 * rnd(&g->rng, 3) + rnd(&g->rng, GVA_HOT + 2);
	default:
		return rnd(&g->rng, GVA_HOT + 2);
	}
}

static uint64_t gen_hva(struct gen *g)
{
	if (rnd(&g->rng, 2))
		return S0_HVA + (data_gfn(g) << 12);
	return S1_HVA + (rnd(&g->rng, S1_HOT) << 12);
}

static void gen_op(struct gen *g)
{
	unsigned v = (unsigned)rnd(&g->rng, NVCPUS);
	uint64_t r = rnd(&g->rng, 1000);
	uint8_t f = (uint8_t)((rnd(&g->rng, 2) ? EPTF_OPF_WRITE : 0) | (rnd(&g->rng, 10) ? 0 : EPTF_OPF_EXEC));

	if (r < 380) {
		emit(g, EPTF_OP_ACCESS, v, 0, 0, f, gen_addr(g, v), 0, 0);
	} else if (r < 470) {
		uint8_t level = (uint8_t)(1 + rnd(&g->rng, 3));
		uint64_t a = gen_addr(g, v);

		if (g->root[v] == 0 && rnd(&g->rng, 3) == 0) {
			a = S1_BASE + rnd(&g->rng, S1_PAGES); /* room for 2 MiB / 1 GiB */
			a &= ~(EPTF_PAGES_PER_LEVEL(level) - 1);
		}
		emit(g, EPTF_OP_MAP, v, 0, level, f, a, 0, 0);
	} else if (r < 500) {
		uint64_t a = hot_gfn(g);
		emit(g, EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, a, 1 + rnd(&g->rng, rnd(&g->rng, 2) ? 16 : 1024), 0);
	} else if (r < 545) {
		/* prepare-zap something likely to exist */
		uint8_t level = (uint8_t)(1 + rnd(&g->rng, 4));
		if (rnd(&g->rng, 3) == 0) {
			static const uint64_t tables[] = { 0x10, 0x11, 0x12, 0x13, 0x14, 0x18, 0x19, 0x1a, 0x1b };
			emit(g, EPTF_OP_PREPARE_ZAP, 0, 0, (uint8_t)(1 + rnd(&g->rng, 4)), 0,
			     tables[rnd(&g->rng, sizeof(tables) / sizeof(tables[0]))], 0, 0);
		} else {
			uint64_t a = hot_gfn(g);
			a &= ~(EPTF_PAGES_PER_LEVEL(level + 1) - 1);
			emit(g, EPTF_OP_PREPARE_ZAP, 0, 0, level, EPTF_OPF_DIRECT, a, 0, 0);
		}
		if (rnd(&g->rng, 3))
			emit(g, EPTF_OP_COMMIT_ZAP, 0, 0, 0, 0, 0, 0, 0);
	} else if (r < 560) {
		emit(g, EPTF_OP_COMMIT_ZAP, 0, 0, 0, 0, 0, 0, 0);
	} else if (r < 575) {
		emit(g, EPTF_OP_SLOT_FLAGS, 0, (uint32_t)rnd(&g->rng, 2), 0,
		     rnd(&g->rng, 4) ? EPTF_SLOTF_DIRTY_LOG : 0, 0, 0, 0);
	} else if (r < 610) {
		emit(g, EPTF_OP_GET_DIRTY_LOG, 0, (uint32_t)rnd(&g->rng, 2), 0, 0, 0, 0, 0);
	} else if (r < 640) {
		uint32_t s = (uint32_t)rnd(&g->rng, 2);
		uint64_t first = s ? rnd(&g->rng, S1_HOT) : data_gfn(g);
		emit(g, EPTF_OP_CLEAR_DIRTY_LOG, 0, s, 0, 0, first & ~63ull, 0, rng_next(&g->rng));
	} else if (r < 655) {
		/* page tracking of a gfn a direct root just wrote (else it is seldom writable) */
		uint64_t gfn = hot_gfn(g);

		for (unsigned w = 0; w < NVCPUS; w++) {
			if (g->root[w] == 0) {
				emit(g, EPTF_OP_ACCESS, w, 0, 0, EPTF_OPF_WRITE, gfn, 0, 0);
				break;
			}
		}
		emit(g, EPTF_OP_WP_GFN, 0, 0, 0, 0, gfn, 0, 0);
	} else if (r < 700) {
		uint64_t h = gen_hva(g), len = (1 + rnd(&g->rng, rnd(&g->rng, 2) ? 8 : 600)) << 12;
		emit(g, rnd(&g->rng, 2) ? EPTF_OP_CLEAR_FLUSH_YOUNG : EPTF_OP_CLEAR_YOUNG, 0, 0, 0, 0, h, h + len, 0);
	} else if (r < 715) {
		uint64_t h = gen_hva(g), len = (1 + rnd(&g->rng, 64)) << 12;
		emit(g, EPTF_OP_UNMAP_HVA, 0, 0, 0, 0, h, h + len, 0);
	} else if (r < 820) {
		/* L2 changes its tables: leaf entries mostly, sometimes a directory entry */
		uint64_t t = rnd(&g->rng, 5) ? 0x13 + rnd(&g->rng, 2) : 0x1b;
		uint64_t e = 0;

		if (rnd(&g->rng, 6))
			e = gpte_of(data_gfn(g), rnd(&g->rng, 3) != 0, rnd(&g->rng, 8) == 0);
		if (rnd(&g->rng, 12) == 0) {
			t = 0x12; /* directory: the huge entry or a table link */
			emit(g, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, t, 2,
			     rnd(&g->rng, 2) ? gpte_of(0x400, true, false) | EPTF_GPTE_HUGE : gpte_of(0x15, true, false));
		} else {
			emit(g, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, t, (unsigned)rnd(&g->rng, GVA_HOT), e);
		}
	} else if (r < 880) {
		emit(g, EPTF_OP_SYNC, v, 0, 0, 0, 0, 0, 0);
	} else if (r < 930) {
		/* vCPU 2 stays on shadow roots so that sync has work */
		unsigned k = g->all_direct ? (unsigned)rnd(&g->rng, 2)
			     : v == 2 ? 2 + (unsigned)rnd(&g->rng, 2) : (unsigned)rnd(&g->rng, 4);

		g->root[v] = k;
		if (k < 2)
			emit(g, EPTF_OP_ROOT_LOAD, v, 0, 0, EPTF_OPF_DIRECT, k, 0, 0);
		else
			emit(g, EPTF_OP_ROOT_LOAD, v, 0, 0, 0, k == 2 ? 0x10 : 0x18, 0, 0);
	} else if (r < 940) {
		if (g->s2_present)
			emit(g, EPTF_OP_SLOT_DELETE, 0, S2_ID, 0, 0, 0, 0, 0);
		else
			emit(g, EPTF_OP_SLOT_ADD, 0, S2_ID, 0, 0, 0, S2_PAGES, S2_HVA);
		g->s2_present = !g->s2_present;
	} else if (r < 945) {
		/* a bad memslot id: a clean error */
		emit(g, EPTF_OP_GET_DIRTY_LOG, 0, 77, 0, 0, 0, 0, 0);
	} else {
		/* bursts of accesses keep the parent's caches populated */
		for (unsigned i = 0; i < 4; i++)
			emit(g, EPTF_OP_ACCESS, v, 0, 0, f, gen_addr(g, v), 0, 0);
	}
}

static size_t gen_sequence(uint64_t seed, struct eptf_op **out)
{
	struct gen g = { .rng = seed * 0x9e3779b97f4a7c15ull + 1, .all_direct = seed % 3 == 0 };

	g.cap = OPS_PER_SEED + 2048;
	g.ops = calloc(g.cap, sizeof(*g.ops));
	assert_non_null(g.ops);
	gen_setup(&g);
	while (g.n < OPS_PER_SEED)
		gen_op(&g);
	*out = g.ops;
	return g.n;
}

/* ---- the deliberately broken strategy ------------------------------------- */

#define BROKEN_EVERY 5

static struct broken_state {
	struct eptf_replay *r;
	unsigned counter;
	uint64_t dropped;       /* ranges left out */
	uint64_t dropped_stale; /* of them, ranges that left a stale entry behind (test oracle) */
} bs;

struct oracle {
	const struct eptf_mmu *mmu;
	uint64_t root;
	bool aged;
	bool stale;
};

/* Test oracle (written apart from the checker): is @c no longer what L1 grants? */
static int oracle_entry(void *ctx, const struct eptf_cached *c)
{
	struct oracle *o = ctx;
	uint64_t pages = EPTF_PAGES_PER_LEVEL(c->level), p = c->addr;

	if (o->aged) {
		o->stale = true;
		return 1;
	}
	while (p < c->addr + pages) {
		struct eptf_xlate x;

		if (eptf_mmu_translate(o->mmu, o->root, p, &x) < 0 || x.frame != c->frame + (p - c->addr) ||
		    (c->writable && !x.writable) || (c->executable && !x.executable)) {
			o->stale = true;
			return 1;
		}
		p = (p | (EPTF_PAGES_PER_LEVEL(x.level) - 1)) + 1;
	}
	return 0;
}

static int broken_flush(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	struct eptf_hv_range *ex, dropped[64];
	size_t n, k = 0, nd = 0;

	ctx->stats.flush_points++;
	if (fp->nroots == 0)
		return 0;
	n = eptf_flush_exact_ranges(fp, NULL, 0);
	ex = calloc(n ? n : 1, sizeof(*ex));
	assert_non_null(ex);
	eptf_flush_exact_ranges(fp, ex, n);
	for (size_t i = 0; i < n; i++) {
		if (++bs.counter % BROKEN_EVERY == 0 && nd < 64) {
			dropped[nd++] = ex[i];
			continue;
		}
		ex[k++] = ex[i];
	}
	bs.dropped += nd;
	if (k)
		eptf_flush_ranges_merged(ctx, fp, ex, k);
	free(ex);
	/* after the flush: did a dropped range leave a stale entry behind? */
	for (size_t d = 0; d < nd; d++) {
		for (size_t ri = 0; ri < fp->nroots; ri++) {
			struct oracle o = {
				.mmu = eptf_replay_mmu(bs.r), .root = fp->roots[ri].hpa, .aged = fp->site == EPTF_SITE_AGE,
			};

			eptf_parent_for_each(eptf_replay_parent(bs.r), o.root, dropped[d].gfn, dropped[d].pages,
					     oracle_entry, &o);
			if (o.stale) {
				bs.dropped_stale++;
				break;
			}
		}
	}
	return 0;
}

static const struct eptf_strategy broken = {
	.name = "broken",
	.summary = "list-merge that leaves out one range in " "5",
	.correct = false,
	.flush = broken_flush,
};

/* ---- replay ----------------------------------------------------------------- */

static void config_for_seed(uint64_t seed, struct eptf_replay_config *cfg)
{
	eptf_replay_config_default(cfg);
	cfg->nr_vcpus = NVCPUS;
	cfg->parent.vendor = seed % 2 ? EPTF_PARENT_AMD : EPTF_PARENT_INTEL;
	cfg->parent.backing_level = seed % 3 == 2 ? 2 : 1;
	cfg->parent.allow_large = seed % 4 >= 2;
	cfg->parent.tlb_entries = seed % 5 == 0 ? 64 : 2048;
}

static struct eptf_metrics replay(uint64_t seed, const char *strategy, const struct eptf_strategy *ops,
				  const struct eptf_op *seq, size_t n)
{
	struct eptf_replay_config cfg;
	struct eptf_replay *r;
	struct eptf_metrics m;

	config_for_seed(seed, &cfg);
	cfg.strategy = strategy;
	cfg.strategy_ops = ops;
	assert_int_equal(eptf_replay_create(&cfg, &r), 0);
	if (ops)
		bs.r = r;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(eptf_replay_op(r, &seq[i]), 0);
	eptf_replay_metrics(r, &m);
	eptf_replay_destroy(r);
	assert_int_equal(m.ops, n);
	return m;
}

static const char *const correct[] = { "full", "mainline", "list", "list-merge", "adaptive" };
#define NCORRECT (sizeof(correct) / sizeof(correct[0]))

static void test_property(void **state)
{
	uint64_t total_ops = 0, caught_seeds = 0, stale_seeds = 0, flush_points = 0, errors = 0;
	uint64_t seed_v2_violations = 0, mainline_lists = 0;

	(void)state;
	for (uint64_t seed = 1; seed <= NSEEDS; seed++) {
		struct eptf_metrics m[NCORRECT], ideal, b, sv2;
		struct eptf_op *seq;
		size_t n = gen_sequence(seed, &seq);

		total_ops += n;
		for (size_t k = 0; k < NCORRECT; k++) {
			m[k] = replay(seed, correct[k], NULL, seq, n);
			if (m[k].stale_violations)
				fail_msg("seed %llu: %s left %llu stale translations", (unsigned long long)seed,
					 correct[k], (unsigned long long)m[k].stale_violations);
			assert_true(m[k].flush_points > 0);
		}
		ideal = replay(seed, EPTF_IDEAL_NAME, NULL, seq, n);
		assert_int_equal(ideal.stale_violations, 0);
		flush_points += ideal.flush_points;
		errors += ideal.errors;
		for (size_t k = 0; k < NCORRECT; k++) {
			/* every strategy sees the same flush points: L1 does not depend on the strategy */
			assert_int_equal(m[k].flush_points, ideal.flush_points);
			if (ideal.hypercalls > m[k].hypercalls || ideal.list_entries > m[k].list_entries + m[k].full_flushes ||
			    ideal.ept02_dropped > m[k].ept02_dropped)
				fail_msg("seed %llu: %s below ideal (calls %llu < %llu, entries+full %llu < %llu, "
					 "ept02 drops %llu < %llu)",
					 (unsigned long long)seed, correct[k], (unsigned long long)m[k].hypercalls,
					 (unsigned long long)ideal.hypercalls,
					 (unsigned long long)(m[k].list_entries + m[k].full_flushes),
					 (unsigned long long)ideal.list_entries, (unsigned long long)m[k].ept02_dropped,
					 (unsigned long long)ideal.ept02_dropped);
		}
		mainline_lists += m[1].list_hypercalls;
		/* list (index 2) never issues more hypercalls than mainline (index 1) */
		if (m[2].hypercalls > m[1].hypercalls)
			fail_msg("seed %llu: list %llu hypercalls > mainline %llu", (unsigned long long)seed,
				 (unsigned long long)m[2].hypercalls, (unsigned long long)m[1].hypercalls);

		memset(&bs, 0, sizeof(bs));
		b = replay(seed, "broken", &broken, seq, n);
		if (bs.dropped_stale) {
			stale_seeds++;
			if (!b.stale_violations)
				fail_msg("seed %llu: broken strategy left %llu stale ranges, checker saw nothing",
					 (unsigned long long)seed, (unsigned long long)bs.dropped_stale);
			caught_seeds++;
		} else {
			/* otherwise exact: nothing for the checker to find */
			assert_int_equal(b.stale_violations, 0);
		}

		sv2 = replay(seed, "seed-v2", NULL, seq, n);
		assert_int_equal(sv2.flush_points, ideal.flush_points);
		seed_v2_violations += sv2.stale_violations;
		free(seq);
	}
	assert_true(total_ops >= 100000);
	/* the generator must exercise what it claims, or the properties are vacuous */
	assert_true(flush_points > 20 * NSEEDS);
	assert_true(stale_seeds >= NSEEDS / 2);
	assert_int_equal(caught_seeds, stale_seeds);
	assert_true(seed_v2_violations > 0);
	assert_true(mainline_lists > 0); /* the all-direct seeds exercise mainline's range flushes */
	print_message("%llu ops over %d seeds, %llu flush points, %llu refused ops; broken strategy caught on "
		      "%llu/%llu seeds; seed-v2 %llu stale translations\n",
		      (unsigned long long)total_ops, NSEEDS, (unsigned long long)flush_points,
		      (unsigned long long)errors, (unsigned long long)caught_seeds, (unsigned long long)stale_seeds,
		      (unsigned long long)seed_v2_violations);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_property),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
