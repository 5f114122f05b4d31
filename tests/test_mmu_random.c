/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Randomized consistency of the L1 model: thousands of random ops (valid
 * and invalid, every kind) over several seeds, with three direct roots,
 * one indirect root and changing guest tables. After each op:
 * - the model's own invariants hold and its counters match a recount
 *   (eptf_mmu_check);
 * - for random gfns, eptf_mmu_translate() on the direct roots agrees with
 *   a simple reference kept here: a translation always has the frame the
 *   memslots give, is never writable for a read-only slot or a
 *   write-tracked gfn, and a gfn the reference knows is unmapped (never
 *   mapped since its last zap/unmap/slot removal) does not translate;
 *   a successful MAP or ACCESS leaves the page mapped (and accessed);
 * - every flush point is well formed (item ranges, distinct roots).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/error.h>
#include <eptflush/mmu.h>

#define NAS 2
#define UNIVERSE ((1u << 18) + 8192u) /* gfns the reference follows */
#define NVCPU 4

struct rslot {
	bool live;
	uint32_t id;
	uint64_t base, npages, hva;
	uint32_t flags;
};

struct ref {
	struct rslot slot[4];
	uint8_t maybe[NAS][UNIVERSE]; /* 0: certainly not mapped by a direct root of that AS */
	uint8_t wp[UNIVERSE];         /* WP_GFN seen (tracking is never dropped) */
};

static uint64_t rng_state;
static uint64_t ok_ops[EPTF_OP_KIND_COUNT], sites[EPTF_SITE_COUNT], guest_faults;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static const struct rslot *ref_slot(const struct ref *r, unsigned as, uint64_t gfn)
{
	for (unsigned k = 0; k < 4; k++) {
		const struct rslot *s = &r->slot[k];
		if (s->live && EPTF_SLOT_AS(s->id) == as && gfn >= s->base && gfn < s->base + s->npages)
			return s;
	}
	return NULL;
}

static void ref_clear(struct ref *r, unsigned as, uint64_t g0, uint64_t g1)
{
	if (g0 >= UNIVERSE)
		return;
	if (g1 > UNIVERSE)
		g1 = UNIVERSE;
	memset(&r->maybe[as][g0], 0, g1 - g0);
}

static void ref_set(struct ref *r, unsigned as, uint64_t g0, uint64_t g1)
{
	if (g0 >= UNIVERSE)
		return;
	if (g1 > UNIVERSE)
		g1 = UNIVERSE;
	memset(&r->maybe[as][g0], 1, g1 - g0);
}

/* gfns of every slot whose hva range meets [start, end) */
static void ref_clear_hva(struct ref *r, uint64_t start, uint64_t end)
{
	for (unsigned k = 0; k < 4; k++) {
		const struct rslot *s = &r->slot[k];
		uint64_t hend = s->hva + s->npages * 4096;
		uint64_t lo = start > s->hva ? start : s->hva, hi = end < hend ? end : hend;
		if (!s->live || lo >= hi)
			continue;
		ref_clear(r, EPTF_SLOT_AS(s->id), s->base + (lo - s->hva) / 4096,
			  s->base + (hi - s->hva + 4095) / 4096);
	}
}

static uint64_t recent[16];

static uint64_t pick_gfn(void)
{
	switch (below(10)) {
	case 8:
		return recent[below(16)];
	case 9:
		return 0x100 + below(8); /* the guest's tables */
	case 0:
		return below(UNIVERSE);
	case 1:
		return (1u << 18) + below(8192);
	default:
		return below(4096);
	}
}

static void check_gfn(struct eptf_mmu *m, const struct ref *r, const uint64_t *hpa, uint64_t gfn)
{
	for (unsigned v = 0; v < 3; v++) {
		struct eptf_xlate x;
		unsigned as = v == 2 ? 1 : 0;
		uint64_t root = eptf_mmu_vcpu_root(m, v);
		if (!root)
			continue;
		(void)hpa;
		int ret = eptf_mmu_translate(m, root, gfn, &x);
		if (ret) {
			assert_int_equal(ret, EPTF_ENOENT);
			continue;
		}
		const struct rslot *s = ref_slot(r, as, gfn);
		if (!s) {
			fail_msg("gfn %#llx translates but is in no memslot", (unsigned long long)gfn);
			continue; /* not reached; says so to -Wnull-dereference at -O3 */
		}
		assert_true(gfn < UNIVERSE);
		assert_true(r->maybe[as][gfn]);
		assert_int_equal(x.frame, (s->hva >> 12) + (gfn - s->base));
		assert_true(x.level >= 1 && x.level <= 3);
		if (x.writable) {
			assert_false(s->flags & EPTF_SLOTF_READONLY);
			assert_false(r->wp[gfn]);
		}
	}
}

static void check_fp(const struct eptf_flush_point *fp, uint64_t op_index)
{
	assert_int_equal(fp->op_index, op_index);
	assert_true(fp->site > EPTF_SITE_NONE && fp->site < EPTF_SITE_COUNT);
	assert_true(fp->nroots >= 1);
	for (size_t a = 0; a < fp->nroots; a++)
		for (size_t b = a + 1; b < fp->nroots; b++)
			assert_true(fp->roots[a].hpa != fp->roots[b].hpa);
	assert_int_equal(fp->items[0].site, fp->site);
	for (size_t k = 0; k < fp->nitems; k++) {
		const struct eptf_inval *it = &fp->items[k];
		assert_true(it->site > EPTF_SITE_NONE && it->site < EPTF_SITE_COUNT);
		assert_int_equal(it->kind == EPTF_INV_SP, it->site == EPTF_SITE_COMMIT_ZAP);
		assert_true(it->sp_level >= 1 && it->sp_level <= 4);
		if (it->kind == EPTF_INV_SP) {
			assert_int_equal(it->pages, EPTF_PAGES_PER_LEVEL(it->sp_level + 1));
			assert_int_equal(it->addr, it->sp_base);
			assert_int_equal(it->change, EPTF_CHG_DROP);
		} else {
			assert_int_equal(it->kind, EPTF_INV_SPTE);
			assert_int_equal(it->pages, EPTF_PAGES_PER_LEVEL(it->sp_level));
			assert_int_equal(it->addr, it->sp_base + it->index * it->pages);
			assert_true(it->index < 512);
			assert_int_equal(it->huge, it->leaf && it->sp_level > 1);
			if (it->direct) {
				assert_int_equal(it->sp_gfn, it->sp_base);
				assert_int_equal(it->gfn, it->addr);
			}
			if (it->leaf)
				assert_true(it->sp_level <= 3);
		}
	}
}

/* op mix: mostly faults and guest-table writes, a little memslot churn */
static uint32_t pick_kind(void)
{
	static const uint8_t weight[EPTF_OP_KIND_COUNT] = {
		[EPTF_OP_SLOT_ADD] = 3,	      [EPTF_OP_SLOT_DELETE] = 1,     [EPTF_OP_SLOT_MOVE] = 1,
		[EPTF_OP_SLOT_FLAGS] = 3,     [EPTF_OP_ROOT_LOAD] = 3,	     [EPTF_OP_MAP] = 20,
		[EPTF_OP_ACCESS] = 15,	      [EPTF_OP_ZAP_RANGE] = 4,	     [EPTF_OP_PREPARE_ZAP] = 4,
		[EPTF_OP_COMMIT_ZAP] = 4,     [EPTF_OP_GET_DIRTY_LOG] = 3,   [EPTF_OP_CLEAR_DIRTY_LOG] = 3,
		[EPTF_OP_WP_GFN] = 3,	      [EPTF_OP_CLEAR_FLUSH_YOUNG] = 3, [EPTF_OP_CLEAR_YOUNG] = 2,
		[EPTF_OP_UNMAP_HVA] = 3,      [EPTF_OP_GPT_WRITE] = 10,	     [EPTF_OP_SYNC] = 5,
	};
	unsigned total = 0;
	for (unsigned k = 0; k < EPTF_OP_KIND_COUNT; k++)
		total += weight[k];
	unsigned x = (unsigned)below(total);
	for (unsigned k = 0; k < EPTF_OP_KIND_COUNT; k++) {
		if (x < weight[k])
			return k;
		x -= weight[k];
	}
	return EPTF_OP_MAP;
}

#define GPT_TABLES 0x100u /* guest tables live at gfns 0x100..0x10f */

static void run(uint64_t seed, unsigned nops)
{
	static struct ref r;
	struct eptf_mmu *m;
	struct eptf_mmu_config cfg = { .nr_vcpus = NVCPU };
	uint64_t hpa[NVCPU] = { 0 };
	uint64_t n = 0;

	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	memset(&r, 0, sizeof(r));
	assert_int_equal(eptf_mmu_create(&cfg, &m), 0);

	for (unsigned i = 0; i < nops; i++) {
		struct eptf_op op;
		struct eptf_mmu_result res;
		memset(&op, 0, sizeof(op));
		op.kind = pick_kind();
		op.vcpu = (uint32_t)below(NVCPU);
		op.level = (uint8_t)(1 + below(below(4) ? 1 : 3));
		op.flags = (uint8_t)(below(2) ? EPTF_OPF_WRITE : 0);
		uint64_t gfn = pick_gfn();
		unsigned sk = (unsigned)below(4);
		/* slot k: id, address space; fixed shapes so that they collide now and then */
		static const uint32_t ids[4] = { 0, 1, 2, 1u << 16 };
		static const uint64_t bases[4] = { 0, (1u << 18) + 512, (1u << 18) + 4096, 0 };
		static const uint64_t sizes[4] = { 1u << 18, 3584, 4096, 1024 };
		static const uint64_t hvas[4] = { 0x100000000ull, 0x200000000ull, 0x300000000ull, 0x100000000ull };

		switch (op.kind) {
		case EPTF_OP_SLOT_ADD:
			op.slot = ids[sk];
			op.addr = below(8) ? bases[sk] : pick_gfn();
			op.count = sizes[sk];
			op.value = hvas[sk];
			op.flags = (uint8_t)(below(4) == 0 ? EPTF_SLOTF_READONLY : below(4) == 0 ? EPTF_SLOTF_DIRTY_LOG : 0);
			break;
		case EPTF_OP_SLOT_DELETE:
			op.slot = ids[sk];
			break;
		case EPTF_OP_SLOT_MOVE:
			op.slot = ids[sk];
			op.addr = below(2) ? bases[sk] : bases[sk] + 8192 * below(3);
			break;
		case EPTF_OP_SLOT_FLAGS:
			op.slot = ids[sk];
			op.flags = (uint8_t)(below(2) ? EPTF_SLOTF_DIRTY_LOG : 0);
			if (r.slot[sk].live)
				op.flags |= (uint8_t)(r.slot[sk].flags & EPTF_SLOTF_READONLY);
			break;
		case EPTF_OP_ROOT_LOAD:
			if (op.vcpu == 3) {
				op.addr = GPT_TABLES;
			} else {
				op.flags = EPTF_OPF_DIRECT;
				op.addr = op.vcpu == 2;
			}
			break;
		case EPTF_OP_CLEAR_DIRTY_LOG:
			op.addr = below(4096) & ~63ull;
			op.value = rnd();
			/* fall through */
		case EPTF_OP_GET_DIRTY_LOG:
			op.slot = below(8) ? ids[sk] : 77;
			break;
		case EPTF_OP_ZAP_RANGE:
			op.addr = gfn;
			op.count = below(4) ? 1 + below(64) : below(1u << 19);
			break;
		case EPTF_OP_PREPARE_ZAP:
			op.level = (uint8_t)(1 + below(4));
			if (below(3)) {
				op.flags = EPTF_OPF_DIRECT;
				op.addr = op.level == 4 ? 0 : gfn & ~(EPTF_PAGES_PER_LEVEL(op.level + 1) - 1);
			} else {
				op.level = (uint8_t)(1 + below(4));
				op.addr = GPT_TABLES + below(16);
			}
			break;
		case EPTF_OP_WP_GFN:
			op.addr = gfn;
			break;
		case EPTF_OP_CLEAR_FLUSH_YOUNG:
		case EPTF_OP_CLEAR_YOUNG:
		case EPTF_OP_UNMAP_HVA: {
			uint64_t h = hvas[sk] + below(4096) * 4096 + below(2) * below(4096);
			op.addr = h;
			op.count = h + 1 + below(64 * 4096);
			break;
		}
		case EPTF_OP_GPT_WRITE: {
			/* CR3 0x100 -> PDPT 0x101 -> PD 0x102 -> PTs 0x103..0x10f */
			uint64_t t = GPT_TABLES + below(7);
			op.addr = t;
			op.count = below(4);
			uint64_t next = t < 0x102 ? t + 1 : 0x103 + below(4);
			uint64_t tgt = t < 0x102 ? next : t > 0x102 ? pick_gfn() : below(4) ? next : (below(4) << 9);
			op.value = below(6) ? EPTF_GPTE_PRESENT | (below(3) ? EPTF_GPTE_WRITABLE : 0) | (tgt << 12) : 0;
			if (t == 0x102 && (tgt & 511) == 0)
				op.value |= EPTF_GPTE_HUGE;
			break;
		}
		default:
			break;
		}
		if (op.kind == EPTF_OP_MAP || op.kind == EPTF_OP_ACCESS) {
			op.addr = op.vcpu == 3 ? below(4) * 512 + below(4) : gfn;
			if (op.kind == EPTF_OP_ACCESS)
				op.level = 0;
		}

		/* the hint reads the model and changes nothing: the checks below would see it */
		eptf_mmu_prefetch(m, &op);
		memset(&res, 0, sizeof(res));
		int ret = eptf_mmu_apply(m, &op, n, &res);
		assert_true(ret <= 0);
		if (ret < 0)
			assert_int_equal(res.fp.nitems, 0);
		if (res.fp.nitems)
			check_fp(&res.fp, n);
		else
			assert_int_equal(res.fp.site, EPTF_SITE_NONE);
		n++;
		if (ret == 0)
			ok_ops[op.kind]++;
		if (ret == 0 && op.kind == EPTF_OP_MAP && op.vcpu < 3)
			recent[below(16)] = op.addr;
		sites[res.fp.site]++;
		guest_faults += res.guest_fault;

		/* follow the op in the reference */
		if (ret == 0) {
			switch (op.kind) {
			case EPTF_OP_SLOT_ADD:
				r.slot[sk] = (struct rslot){ true, op.slot, op.addr, op.count, op.value, op.flags };
				break;
			case EPTF_OP_SLOT_DELETE:
			case EPTF_OP_SLOT_MOVE:
				for (unsigned k = 0; k < 4; k++) {
					if (!r.slot[k].live || r.slot[k].id != op.slot)
						continue;
					ref_clear(&r, EPTF_SLOT_AS(op.slot), r.slot[k].base, r.slot[k].base + r.slot[k].npages);
					if (op.kind == EPTF_OP_SLOT_DELETE)
						r.slot[k].live = false;
					else
						r.slot[k].base = op.addr;
				}
				break;
			case EPTF_OP_SLOT_FLAGS:
				for (unsigned k = 0; k < 4; k++)
					if (r.slot[k].live && r.slot[k].id == op.slot)
						r.slot[k].flags = op.flags;
				break;
			case EPTF_OP_ROOT_LOAD:
				if (res.loaded_root)
					hpa[op.vcpu] = res.loaded_root;
				break;
			case EPTF_OP_MAP:
				if (op.vcpu < 3 && !res.guest_fault) {
					uint64_t sz = EPTF_PAGES_PER_LEVEL(op.level);
					ref_set(&r, op.vcpu == 2, op.addr & ~(sz - 1), (op.addr & ~(sz - 1)) + sz);
				}
				break;
			case EPTF_OP_ACCESS:
				if (op.vcpu < 3 && !res.guest_fault)
					ref_set(&r, op.vcpu == 2, op.addr, op.addr + 1);
				break;
			case EPTF_OP_ZAP_RANGE:
				for (unsigned as = 0; as < NAS; as++)
					ref_clear(&r, as, op.addr, op.addr + op.count);
				break;
			case EPTF_OP_UNMAP_HVA:
				ref_clear_hva(&r, op.addr, op.count);
				break;
			case EPTF_OP_WP_GFN:
				if (op.addr < UNIVERSE)
					r.wp[op.addr] = 1;
				break;
			default:
				break;
			}
			if (res.loaded_root)
				hpa[op.vcpu] = res.loaded_root;
		}

		/* a successful fault leaves the page mapped, and accessed */
		if (ret == 0 && (op.kind == EPTF_OP_MAP || op.kind == EPTF_OP_ACCESS) && op.vcpu < 3 &&
		    !res.guest_fault) {
			struct eptf_xlate x;
			assert_int_equal(eptf_mmu_translate(m, eptf_mmu_vcpu_root(m, op.vcpu), op.addr, &x), 0);
			assert_true(x.accessed);
		}
		if (res.fp.nitems)
			eptf_mmu_finish(m);
		check_gfn(m, &r, hpa, gfn);
		for (unsigned k = 0; k < 8; k++)
			check_gfn(m, &r, hpa, pick_gfn());
		if (i % 4 == 0 || i + 1 == nops) {
			struct eptf_mmu_stats st, rc;
			assert_int_equal(eptf_mmu_check(m, &rc), 0);
			eptf_mmu_get_stats(m, &st);
			assert_int_equal(st.pages, rc.pages);
			assert_int_equal(st.leaf_sptes, rc.leaf_sptes);
			assert_int_equal(st.mapped_4k, rc.mapped_4k);
			assert_int_equal(st.bytes, rc.bytes);
		}
	}
	eptf_mmu_destroy(m);
}

static void test_random_seeds(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 8; seed++)
		run(seed, 5000);
	/* the walk must reach every op and every site, or it tests little */
	for (unsigned k = 1; k < EPTF_OP_KIND_COUNT; k++) {
		print_message("%-18s ok %llu\n", eptf_op_name(k), (unsigned long long)ok_ops[k]);
		assert_true(ok_ops[k] > 0);
	}
	for (unsigned k = 1; k < EPTF_SITE_COUNT; k++) {
		print_message("site %-12s %llu\n", eptf_site_name(k), (unsigned long long)sites[k]);
		assert_true(sites[k] > 0);
	}
	assert_true(guest_faults > 0);
}

/* A steady workload: many mapped pages, so the structures grow and shrink for real. */
static void test_random_dense(void **state)
{
	(void)state;
	struct eptf_mmu *m;
	struct eptf_mmu_config cfg = { .nr_vcpus = 2 };
	struct eptf_mmu_result res;
	struct eptf_mmu_stats st;

	rng_state = 12345;
	assert_int_equal(eptf_mmu_create(&cfg, &m), 0);
	struct eptf_op add = { EPTF_OP_SLOT_ADD, 0, 0, 0, 0, 0, 1u << 20, 0x40000000 };
	assert_int_equal(eptf_mmu_apply(m, &add, 0, &res), 0);
	struct eptf_op load = { EPTF_OP_ROOT_LOAD, 0, 0, 0, EPTF_OPF_DIRECT, 0, 0, 0 };
	assert_int_equal(eptf_mmu_apply(m, &load, 1, &res), 0);
	uint64_t root = res.loaded_root;
	for (uint64_t g = 0; g < 65536; g++) {
		struct eptf_op map = { EPTF_OP_MAP, 0, 0, 1, 0, g, 0, 0 };
		assert_int_equal(eptf_mmu_apply(m, &map, 2 + g, &res), 0);
		assert_int_equal(res.fp.nitems, 0);
	}
	eptf_mmu_get_stats(m, &st);
	assert_int_equal(st.mapped_4k, 65536);
	assert_int_equal(st.leaf_sptes, 65536);
	/* 128 level-1 pages, one level-2, one level-3, the root */
	assert_int_equal(st.pages, 128 + 3);
	print_message("bytes per mapped 4 KiB page: %.1f\n", (double)st.bytes / (double)st.mapped_4k);
	assert_true(st.bytes < 32 * st.mapped_4k);
	for (unsigned k = 0; k < 1000; k++) {
		uint64_t g = below(65536);
		struct eptf_xlate x;
		assert_int_equal(eptf_mmu_translate(m, root, g, &x), 0);
		assert_int_equal(x.frame, (0x40000000 >> 12) + g);
	}
	struct eptf_op zap = { EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, 0, 65536, 0 };
	assert_int_equal(eptf_mmu_apply(m, &zap, 99999, &res), 0);
	assert_int_equal(res.fp.nitems, 65536);
	eptf_mmu_finish(m);
	assert_int_equal(eptf_mmu_check(m, NULL), 0);
	eptf_mmu_get_stats(m, &st);
	assert_int_equal(st.leaf_sptes, 0);
	eptf_mmu_destroy(m);
}

/*
 * Sparse 4 KiB maps, one per 2 MiB region, until the table and rmap pools
 * are past the model's huge-page threshold (8 MiB): blocks carved from the
 * arenas must be zero and charged to stats.bytes like the rest
 * (eptf_mmu_check recounts both), freed ones are reused, and every
 * translation stays right.
 */
static void test_sparse_arenas(void **state)
{
	(void)state;
	struct eptf_mmu *m;
	struct eptf_mmu_config cfg = { .nr_vcpus = 1 };
	struct eptf_mmu_result res;
	struct eptf_mmu_stats st;
	const uint64_t regions = 4096; /* 4096 tables of 4160 bytes: about 17 MiB */
	uint64_t after_zap = 0;

	assert_int_equal(eptf_mmu_create(&cfg, &m), 0);
	struct eptf_op add = { EPTF_OP_SLOT_ADD, 0, 0, 0, 0, 0, regions * 512, 0x40000000 };
	assert_int_equal(eptf_mmu_apply(m, &add, 0, &res), 0);
	struct eptf_op load = { EPTF_OP_ROOT_LOAD, 0, 0, 0, EPTF_OPF_DIRECT, 0, 0, 0 };
	assert_int_equal(eptf_mmu_apply(m, &load, 1, &res), 0);
	uint64_t root = res.loaded_root;
	for (unsigned round = 0; round < 2; round++) {
		for (uint64_t r = 0; r < regions; r++) {
			struct eptf_op map = { EPTF_OP_MAP, 0, 0, 1, 0, r * 512 + (r * 7 + round) % 512, 0, 0 };
			assert_int_equal(eptf_mmu_apply(m, &map, 2 + r, &res), 0);
			assert_int_equal(res.fp.nitems, 0);
		}
		assert_int_equal(eptf_mmu_check(m, &st), 0);
		assert_int_equal(st.mapped_4k, regions);
		assert_int_equal(st.pages, regions + regions / 512 + 2); /* leaf tables, level 2, level 3, root */
		/* tables, rmap chunks, the pages' structs, plus at most one arena's unused tail */
		assert_true(st.bytes < regions * (4160 + 536 + 400) + (2u << 20));
		for (uint64_t r = 0; r < regions; r++) {
			struct eptf_xlate x;
			uint64_t g = r * 512 + (r * 7 + round) % 512;
			assert_int_equal(eptf_mmu_translate(m, root, g, &x), 0);
			assert_int_equal(x.frame, (0x40000000 >> 12) + g);
		}
		/* everything goes back to the pools (all zero, checked), to be reused by the next round */
		struct eptf_op zap = { EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, 0, regions * 512, 0 };
		assert_int_equal(eptf_mmu_apply(m, &zap, 99999, &res), 0);
		assert_int_equal(res.fp.nitems, regions);
		eptf_mmu_finish(m);
		assert_int_equal(eptf_mmu_check(m, &st), 0);
		assert_int_equal(st.leaf_sptes, 0);
		if (round == 0)
			after_zap = st.bytes;
		else
			assert_int_equal(st.bytes, after_zap); /* the second round took nothing new */
	}
	eptf_mmu_destroy(m);
}

/* Ops with arbitrary fields: refused or applied, never a crash, always consistent. */
static void test_random_garbage(void **state)
{
	(void)state;
	struct eptf_mmu *m;
	struct eptf_mmu_config cfg = { .nr_vcpus = 3 };
	struct eptf_mmu_result res;

	unsigned applied = 0, flushes = 0;

	rng_state = 777;
	assert_int_equal(eptf_mmu_create(&cfg, &m), 0);
	/* a sane start, so that the garbage also lands on mapped memory */
	const struct eptf_op start[] = {
		{ EPTF_OP_SLOT_ADD, 0, 0, 0, 0, 0, 1u << 16, 1ull << 32, },
		{ EPTF_OP_SLOT_ADD, 0, 1u << 16, 0, 0, 0, 1u << 12, 1ull << 32, },
		{ EPTF_OP_ROOT_LOAD, 0, 0, 0, EPTF_OPF_DIRECT, 0, 0, 0 },
		{ EPTF_OP_ROOT_LOAD, 1, 0, 0, EPTF_OPF_DIRECT, 1, 0, 0 },
		{ EPTF_OP_ROOT_LOAD, 2, 0, 0, 0, 0x10, 0, 0 },
	};
	for (unsigned k = 0; k < sizeof(start) / sizeof(start[0]); k++) {
		assert_int_equal(eptf_mmu_apply(m, &start[k], k, &res), 0);
		eptf_mmu_finish(m);
	}
	for (unsigned i = 0; i < 20000; i++) {
		struct eptf_op op;
		op.kind = (uint32_t)below(EPTF_OP_KIND_COUNT + 2);
		/* keep the memory and the roots mostly in place */
		if ((op.kind == EPTF_OP_SLOT_DELETE || op.kind == EPTF_OP_SLOT_MOVE) && below(16))
			op.kind = EPTF_OP_MAP;
		op.vcpu = (uint32_t)below(5);
		op.slot = (uint32_t)(below(4) ? below(2) << (16 * below(2)) : rnd());
		op.level = (uint8_t)below(6);
		op.flags = (uint8_t)rnd();
		/* small numbers often, anything sometimes */
		op.addr = below(3) ? below(1u << 12) : rnd() >> below(64);
		op.count = below(3) ? below(1u << 12) : rnd() >> below(64);
		op.value = below(2) ? (rnd() & ~0xfffull) >> below(40) : rnd();
		if (op.kind == EPTF_OP_GPT_WRITE && below(4)) {
			op.addr = 0x10 + below(4);
			op.count = below(8);
			op.value = (rnd() & (EPTF_GPTE_WRITABLE | EPTF_GPTE_HUGE | EPTF_GPTE_NX)) | EPTF_GPTE_PRESENT |
				   ((below(2) ? 0x10 + below(4) : below(1u << 12)) << 12);
		}
		if (op.kind == EPTF_OP_ROOT_LOAD && below(8)) {
			op.flags = op.vcpu == 2 ? 0 : EPTF_OPF_DIRECT;
			op.addr = op.vcpu == 2 ? 0x10 : op.vcpu;
		}
		if ((op.kind == EPTF_OP_SLOT_DELETE || op.kind == EPTF_OP_SLOT_MOVE) && op.slot == 0)
			op.slot = 1u << 16;
		if ((op.kind == EPTF_OP_MAP || op.kind == EPTF_OP_ACCESS) && op.vcpu == 2)
			op.addr = below(8) | (below(4) << 9) | (below(2) << 18);
		if (op.kind >= EPTF_OP_CLEAR_FLUSH_YOUNG && op.kind <= EPTF_OP_UNMAP_HVA && below(2)) {
			op.addr = (1ull << 32) + below(1u << 28);
			op.count = op.addr + below(1u << 22);
		}
		if (i % 64 == 0) {
			/* a hint for any op, even one the model refuses, changes nothing */
			struct eptf_mmu_stats a, b;
			assert_int_equal(eptf_mmu_check(m, &a), 0);
			eptf_mmu_prefetch(m, &op);
			assert_int_equal(eptf_mmu_check(m, &b), 0);
			assert_memory_equal(&a, &b, sizeof(a));
		} else {
			eptf_mmu_prefetch(m, &op);
		}
		memset(&res, 0, sizeof(res));
		int ret = eptf_mmu_apply(m, &op, i, &res);
		assert_true(ret <= 0);
		applied += ret == 0;

		if (res.fp.nitems) {
			flushes++;
			check_fp(&res.fp, i);
			eptf_mmu_finish(m);
		}
		if (i % 1000 == 0)
			assert_int_equal(eptf_mmu_check(m, NULL), 0);
	}
	assert_int_equal(eptf_mmu_check(m, NULL), 0);
	print_message("garbage: %u applied, %u flush points\n", applied, flushes);
	assert_true(applied > 1000 && flushes > 100);
	eptf_mmu_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_seeds),
		cmocka_unit_test(test_random_dense),
		cmocka_unit_test(test_sparse_arenas),
		cmocka_unit_test(test_random_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
