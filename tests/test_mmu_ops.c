/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The L1 model op by op: what each op changes in L1's tables and exactly
 * what its flush point reports (site, items, context, roots).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/error.h>
#include <eptflush/mmu.h>

#define HVA0 0x7f0000000000ull /* host address of slot 0: frame = 0x7f0000000 + gfn offset */
#define FRAME0 (HVA0 >> 12)
#define SLOT0_PAGES (1ull << 20) /* 4 GiB */

struct t {
	struct eptf_mmu *m;
	struct eptf_mmu_result res;
	uint64_t n;
};

static int apply(struct t *t, uint32_t kind, uint32_t vcpu, uint32_t slot, uint8_t level, uint8_t flags,
		 uint64_t addr, uint64_t count, uint64_t value)
{
	struct eptf_op op = { kind, vcpu, slot, level, flags, addr, count, value };
	if (t->res.fp.nitems)
		eptf_mmu_finish(t->m);
	memset(&t->res, 0, sizeof(t->res));
	int r = eptf_mmu_apply(t->m, &op, t->n++, &t->res);
	/* every op leaves the model consistent */
	assert_int_equal(eptf_mmu_check(t->m, NULL), 0);
	return r;
}

static void done(struct t *t)
{
	if (t->res.fp.nitems)
		eptf_mmu_finish(t->m);
	memset(&t->res, 0, sizeof(t->res));
}

static int setup(void **state)
{
	static struct t t;
	struct eptf_mmu_config cfg = { .nr_vcpus = 4 };
	memset(&t, 0, sizeof(t));
	assert_int_equal(eptf_mmu_create(&cfg, &t.m), 0);
	*state = &t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	done(t);
	eptf_mmu_destroy(t->m);
	return 0;
}

/* slot 0: 4 GiB at gfn 0; vCPU 0 on the direct root of address space 0 */
static uint64_t basic(struct t *t)
{
	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, 0, 0, 0, 0, SLOT0_PAGES, HVA0), 0);
	assert_int_equal(apply(t, EPTF_OP_ROOT_LOAD, 0, 0, 0, EPTF_OPF_DIRECT, 0, 0, 0), 0);
	uint64_t hpa = t->res.loaded_root;
	assert_true(hpa != 0 && (hpa & 0xfff) == 0);
	assert_int_equal(eptf_mmu_vcpu_root(t->m, 0), hpa);
	return hpa;
}

static void expect_xlate(struct t *t, uint64_t hpa, uint64_t addr, uint64_t frame, unsigned level, bool w)
{
	struct eptf_xlate x;
	assert_int_equal(eptf_mmu_translate(t->m, hpa, addr, &x), 0);
	assert_int_equal(x.frame, frame);
	assert_int_equal(x.level, level);
	assert_int_equal(x.writable, w);
}

static void expect_unmapped(struct t *t, uint64_t hpa, uint64_t addr)
{
	struct eptf_xlate x;
	assert_int_equal(eptf_mmu_translate(t->m, hpa, addr, &x), EPTF_ENOENT);
}

static struct eptf_mmu_stats stats(struct t *t)
{
	struct eptf_mmu_stats st;
	eptf_mmu_get_stats(t->m, &st);
	return st;
}

static void test_memslots(void **state)
{
	struct t *t = *state;
	struct eptf_memslot_info info;

	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, 1, 0, 0, 0x1000, 0x100, 0x10000000), 0);
	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, 1, 0, 0, 0x9000, 0x100, 0x20000000), EPTF_EEXIST);
	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, 2, 0, 0, 0x10ff, 0x10, 0x20000000), EPTF_EEXIST);
	/* the same gfns in address space 1 are another slot */
	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, (1u << 16) | 2, 0, 0, 0x1000, 0x100, 0x20000000), 0);
	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, 3, 0, 0, 0x5000, 0, 0x30000000), EPTF_EINVAL);
	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, 3, 0, 0, 0x5000, 1, 0x30000010), EPTF_EINVAL);
	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, 3, 0, 0x80, 0x5000, 1, 0x30000000), EPTF_EINVAL);
	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, 2u << 16, 0, 0, 0x5000, 1, 0x30000000), EPTF_EINVAL);

	assert_int_equal(eptf_mmu_get_memslot(t->m, 1, &info), 0);
	assert_int_equal(info.base_gfn, 0x1000);
	assert_int_equal(info.npages, 0x100);
	assert_int_equal(info.hva, 0x10000000);
	/* seed defect 8 done right: a bad id is an error, not a NULL */
	assert_int_equal(eptf_mmu_get_memslot(t->m, 77, &info), EPTF_ENOENT);
	assert_int_equal(apply(t, EPTF_OP_SLOT_DELETE, 0, 77, 0, 0, 0, 0, 0), EPTF_ENOENT);
	assert_int_equal(apply(t, EPTF_OP_GET_DIRTY_LOG, 0, 77, 0, 0, 0, 0, 0), EPTF_ENOENT);
	assert_int_equal(apply(t, EPTF_OP_CLEAR_DIRTY_LOG, 0, 77, 0, 0, 0, 0, ~0ull), EPTF_ENOENT);
	assert_int_equal(apply(t, EPTF_OP_SLOT_FLAGS, 0, 77, 0, EPTF_SLOTF_DIRTY_LOG, 0, 0, 0), EPTF_ENOENT);
	/* no bitmap without dirty logging */
	assert_int_equal(apply(t, EPTF_OP_GET_DIRTY_LOG, 0, 1, 0, 0, 0, 0, 0), EPTF_ENOENT);

	/* move: the slot's frames move with it (host frame = hva page + offset) */
	assert_int_equal(apply(t, EPTF_OP_ROOT_LOAD, 0, 0, 0, EPTF_OPF_DIRECT, 0, 0, 0), 0);
	uint64_t hpa = t->res.loaded_root;
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, EPTF_OPF_WRITE, 0x1010, 0, 0), 0);
	expect_xlate(t, hpa, 0x1010, (0x10000000 >> 12) + 0x10, 1, true);
	assert_int_equal(apply(t, EPTF_OP_SLOT_MOVE, 0, 1, 0, 0, 0x4000, 0, 0), 0);
	assert_int_equal(t->res.fp.site, EPTF_SITE_SLOT_REMOVE);
	assert_int_equal(t->res.fp.nitems, 1);
	assert_int_equal(t->res.fp.slot, 1);
	assert_int_equal(t->res.fp.slot_base_gfn, 0x1000);
	assert_int_equal(t->res.fp.slot_npages, 0x100);
	assert_int_equal(t->res.fp.items[0].addr, 0x1010);
	assert_int_equal(t->res.fp.items[0].change, EPTF_CHG_DROP);
	assert_int_equal(t->res.fp.nroots, 1);
	assert_int_equal(t->res.fp.roots[0].hpa, hpa);
	assert_true(t->res.fp.roots[0].direct);
	done(t);
	expect_unmapped(t, hpa, 0x1010);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x1010, 0, 0), EPTF_EINVAL);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x4010, 0, 0), 0);
	expect_xlate(t, hpa, 0x4010, (0x10000000 >> 12) + 0x10, 1, true);
	assert_int_equal(apply(t, EPTF_OP_SLOT_DELETE, 0, 1, 0, 0, 0, 0, 0), 0);
	assert_int_equal(t->res.fp.site, EPTF_SITE_SLOT_REMOVE);
	assert_int_equal(t->res.fp.slot_base_gfn, 0x4000);
	done(t);
	expect_unmapped(t, hpa, 0x4010);
	assert_int_equal(eptf_mmu_get_memslot(t->m, 1, &info), EPTF_ENOENT);
	assert_int_equal(stats(t).leaf_sptes, 0);
}

static void test_map_direct(void **state)
{
	struct t *t = *state;
	uint64_t hpa = basic(t);

	/* no flush point for a fresh fault-in */
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x1234, 0, 0), 0);
	assert_int_equal(t->res.fp.site, EPTF_SITE_NONE);
	assert_int_equal(t->res.fp.nitems, 0);
	expect_xlate(t, hpa, 0x1234, FRAME0 + 0x1234, 1, true);
	struct eptf_mmu_stats st = stats(t);
	assert_int_equal(st.pages, 4);
	assert_int_equal(st.leaf_sptes, 1);
	assert_int_equal(st.mapped_4k, 1);
	assert_int_equal(st.faults, 1);

	/* a 2 MiB leaf: translate gives the exact 4 KiB frame inside */
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 2, 0, 0x40005, 0, 0), 0);
	expect_xlate(t, hpa, 0x40000 + 77, FRAME0 + 0x40000 + 77, 2, true);
	assert_int_equal(stats(t).mapped_4k, 513);
	/* a 1 GiB leaf */
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 3, 0, 0x80000 + 3, 0, 0), 0);
	expect_xlate(t, hpa, 0x80000 + 0x3ffff, FRAME0 + 0xbffff, 3, true);
	assert_int_equal(stats(t).mapped_4k, 513 + 262144);

	/* no such root, or an input page past 4-level reach */
	expect_unmapped(t, hpa + 0x1000, 0x1234);
	expect_unmapped(t, 0, 0x1234);
	expect_unmapped(t, hpa, (1ull << 36) + 0x1234);
	/* outside every memslot: refused, nothing changes */
	st = stats(t);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, SLOT0_PAGES + 5, 0, 0), EPTF_EINVAL);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 4, 0, 5, 0, 0), EPTF_EINVAL);
	assert_int_equal(apply(t, EPTF_OP_MAP, 9, 0, 1, 0, 5, 0, 0), EPTF_EINVAL);
	assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 1, 0, 5, 0, 0), EPTF_ENOENT); /* no root */
	struct eptf_mmu_stats st2 = stats(t);
	assert_memory_equal(&st, &st2, sizeof(st));

	/* a huge range leaving the memslot is mapped smaller (kvm_mmu_hugepage_adjust) */
	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, 1, 0, 0, SLOT0_PAGES + 0x100, 0x100, 0x10000000), 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 2, 0, SLOT0_PAGES + 0x110, 0, 0), 0);
	expect_xlate(t, hpa, SLOT0_PAGES + 0x110, 0x10000 + 0x10, 1, true);
	/* host frames not aligned like the gfns: no huge mapping */
	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, 3, 0, 0, 2 * SLOT0_PAGES, 1024, 0x30001000), 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 2, 0, 2 * SLOT0_PAGES + 5, 0, 0), 0);
	expect_xlate(t, hpa, 2 * SLOT0_PAGES + 5, 0x30006, 1, true);
	/* a read-only slot maps read-only */
	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, 2, 0, EPTF_SLOTF_READONLY, SLOT0_PAGES + 0x400, 0x10,
			       0x20000000),
			 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, EPTF_OPF_WRITE, SLOT0_PAGES + 0x401, 0, 0), 0);
	expect_xlate(t, hpa, SLOT0_PAGES + 0x401, 0x20001, 1, false);
}

static void test_split_and_collapse(void **state)
{
	struct t *t = *state;
	uint64_t hpa = basic(t);

	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 2, 0, 0x200, 0, 0), 0);
	expect_xlate(t, hpa, 0x205, FRAME0 + 0x205, 2, true);

	/* a 4 KiB fault under the 2 MiB leaf splits it */
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x203, 0, 0), 0);
	const struct eptf_flush_point *fp = &t->res.fp;
	assert_int_equal(fp->site, EPTF_SITE_SPLIT);
	assert_int_equal(fp->nitems, 1);
	const struct eptf_inval *it = &fp->items[0];
	assert_int_equal(it->kind, EPTF_INV_SPTE);
	assert_int_equal(it->change, EPTF_CHG_DROP);
	assert_int_equal(it->sp_level, 2);
	assert_true(it->leaf);
	assert_true(it->huge);
	assert_true(it->direct);
	assert_true(it->last_level);
	assert_int_equal(it->index, 1);
	assert_int_equal(it->sp_gfn, 0);
	assert_int_equal(it->sp_base, 0);
	assert_int_equal(it->addr, 0x200);
	assert_int_equal(it->pages, 512);
	assert_int_equal(it->gfn, 0x200);
	done(t);
	expect_xlate(t, hpa, 0x203, FRAME0 + 0x203, 1, true);
	expect_unmapped(t, hpa, 0x205); /* the rest waits for its own fault */

	/* mapping 2 MiB over the level-1 table collapses it: the table page is zapped */
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x204, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 2, 0, 0x2ff, 0, 0), 0);
	fp = &t->res.fp;
	assert_int_equal(fp->site, EPTF_SITE_COMMIT_ZAP);
	assert_int_equal(fp->nitems, 1);
	it = &fp->items[0];
	assert_int_equal(it->kind, EPTF_INV_SP);
	assert_int_equal(it->sp_level, 1);
	assert_int_equal(it->sp_gfn, 0x200);
	assert_int_equal(it->addr, 0x200);
	assert_int_equal(it->pages, 512);
	assert_true(it->last_level);
	assert_int_equal(stats(t).zapped_pages, 1);
	done(t);
	expect_xlate(t, hpa, 0x203, FRAME0 + 0x203, 2, true);
	assert_int_equal(stats(t).pages, 3);

	/* a 1 GiB leaf over a level-2 table that holds a level-1 table: both pages go */
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x1000, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 3, 0, 0x7, 0, 0), 0);
	fp = &t->res.fp;
	assert_int_equal(fp->site, EPTF_SITE_COMMIT_ZAP);
	assert_int_equal(fp->nitems, 2);
	assert_int_equal(fp->items[0].sp_level, 2);
	assert_int_equal(fp->items[0].pages, 512 * 512);
	/* V2's flag is sticky: this page held the 2 MiB leaf earlier (set_spte set it) */
	assert_true(fp->items[0].last_level);
	assert_int_equal(fp->items[1].sp_level, 1);
	assert_int_equal(fp->items[1].sp_gfn, 0x1000 & ~0x1ffull);
	done(t);
	expect_xlate(t, hpa, 0x1000, FRAME0 + 0x1000, 3, true);
	assert_int_equal(stats(t).pages, 2);
	assert_int_equal(stats(t).leaf_sptes, 1);
}

/* roots reported by eptf_mmu_set_root_freed() */
struct freed {
	uint64_t hpa[8];
	size_t n;
};

static void on_root_freed(void *ctx, uint64_t root_hpa)
{
	struct freed *f = ctx;

	assert_true(f->n < 8);
	f->hpa[f->n++] = root_hpa;
}

static void test_prepare_commit_orphans(void **state)
{
	struct t *t = *state;
	uint64_t hpa = basic(t);

	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x10, 0, 0), 0);
	/* nothing with that key */
	assert_int_equal(apply(t, EPTF_OP_PREPARE_ZAP, 0, 0, 2, 0, 0x12345, 0, 0), EPTF_ENOENT);
	assert_int_equal(apply(t, EPTF_OP_PREPARE_ZAP, 0, 0, 2, 0, 0, 0, 0), EPTF_ENOENT); /* not indirect */
	assert_int_equal(apply(t, EPTF_OP_PREPARE_ZAP, 0, 0, 5, EPTF_OPF_DIRECT, 0, 0, 0), EPTF_EINVAL);

	/* zap the level-2 page (it holds only a link: last_level false) */
	assert_int_equal(apply(t, EPTF_OP_PREPARE_ZAP, 0, 0, 2, EPTF_OPF_DIRECT, 0, 0, 0), 0);
	assert_int_equal(t->res.fp.nitems, 0);
	expect_unmapped(t, hpa, 0x10);
	assert_int_equal(apply(t, EPTF_OP_COMMIT_ZAP, 0, 0, 0, 0, 0, 0, 0), 0);
	const struct eptf_flush_point *fp = &t->res.fp;
	assert_int_equal(fp->site, EPTF_SITE_COMMIT_ZAP);
	assert_int_equal(fp->nitems, 1);
	assert_int_equal(fp->items[0].kind, EPTF_INV_SP);
	assert_int_equal(fp->items[0].change, EPTF_CHG_DROP);
	assert_int_equal(fp->items[0].sp_level, 2);
	assert_false(fp->items[0].last_level);
	assert_int_equal(fp->items[0].addr, 0);
	assert_int_equal(fp->items[0].pages, 1ull << 18);
	assert_int_equal(fp->nroots, 1);
	done(t);
	/* the level-1 child is an orphan: still live, its leaf still present */
	struct eptf_mmu_stats st = stats(t);
	assert_int_equal(st.pages, 3);
	assert_int_equal(st.leaf_sptes, 1);
	expect_unmapped(t, hpa, 0x10);
	/* a fault in the same 2 MiB re-creates the level-2 page and re-links the orphan */
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x11, 0, 0), 0);
	assert_int_equal(t->res.fp.nitems, 0);
	expect_xlate(t, hpa, 0x10, FRAME0 + 0x10, 1, true);
	assert_int_equal(stats(t).pages, 4);
	/* an empty commit is no flush point */
	assert_int_equal(apply(t, EPTF_OP_COMMIT_ZAP, 0, 0, 0, 0, 0, 0, 0), 0);
	assert_int_equal(t->res.fp.site, EPTF_SITE_NONE);

	/* zapping the root: vCPUs reload lazily, with a new hpa */
	assert_int_equal(apply(t, EPTF_OP_ROOT_LOAD, 1, 0, 0, EPTF_OPF_DIRECT, 0, 0, 0), 0);
	assert_int_equal(t->res.loaded_root, hpa); /* one shared direct root per address space */
	assert_int_equal(apply(t, EPTF_OP_ROOT_LOAD, 1, 0, 0, EPTF_OPF_DIRECT, 0, 0, 0), 0);
	assert_int_equal(t->res.loaded_root, 0);
	struct freed fr = { 0 };
	eptf_mmu_set_root_freed(t->m, on_root_freed, &fr);
	assert_int_equal(apply(t, EPTF_OP_PREPARE_ZAP, 0, 0, 4, EPTF_OPF_DIRECT, 0, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_COMMIT_ZAP, 0, 0, 0, 0, 0, 0, 0), 0);
	fp = &t->res.fp;
	assert_int_equal(fp->nitems, 1);
	assert_int_equal(fp->items[0].sp_level, 4);
	assert_int_equal(fp->items[0].pages, 1ull << 36);
	assert_int_equal(fp->nroots, 1); /* the zapped root stays loaded until the vCPUs reload */
	assert_int_equal(fp->roots[0].hpa, hpa);
	assert_int_equal(fr.n, 0); /* not before the flush point is finished */
	done(t);
	/* freed by finish: reported once, with its hpa */
	assert_int_equal(fr.n, 1);
	assert_int_equal(fr.hpa[0], hpa);
	eptf_mmu_set_root_freed(t->m, NULL, NULL);
	expect_unmapped(t, hpa, 0x10);
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 0, 0, 0, 0, 0x10, 0, 0), 0);
	uint64_t nhpa = t->res.loaded_root;
	assert_true(nhpa != 0 && nhpa != hpa);
	assert_true(t->res.faulted);
	/* the orphaned level-3 page is re-linked: 0x10 is reachable through the old subtree */
	expect_xlate(t, nhpa, 0x10, FRAME0 + 0x10, 1, true);
	assert_int_equal(eptf_mmu_vcpu_root(t->m, 0), nhpa);
	/* vCPU 1 has not reloaded yet; its dead root was flushed by the commit and is not listed again */
	assert_int_equal(eptf_mmu_vcpu_root(t->m, 1), 0);
	assert_int_equal(apply(t, EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, 0x10, 1, 0), 0);
	assert_int_equal(t->res.fp.nroots, 1);
	assert_int_equal(t->res.fp.roots[0].hpa, nhpa);
	done(t);
	assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 1, 0, 0x20, 0, 0), 0);
	assert_int_equal(t->res.loaded_root, nhpa);
	assert_int_equal(eptf_mmu_vcpu_root(t->m, 1), nhpa);
}

static void test_zap_range(void **state)
{
	struct t *t = *state;
	uint64_t hpa = basic(t);

	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x10, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x11, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 2, 0, 0x400, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x900, 0, 0), 0);
	/* [0x11, 0x401): one 4 KiB leaf and the 2 MiB leaf it touches */
	assert_int_equal(apply(t, EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, 0x11, 0x3f0, 0), 0);
	const struct eptf_flush_point *fp = &t->res.fp;
	assert_int_equal(fp->site, EPTF_SITE_ZAP_RANGE);
	assert_int_equal(fp->range_gfn, 0x11);
	assert_int_equal(fp->range_pages, 0x3f0);
	assert_int_equal(fp->nitems, 2);
	assert_int_equal(fp->items[0].addr, 0x11);
	assert_int_equal(fp->items[0].pages, 1);
	assert_false(fp->items[0].huge);
	assert_int_equal(fp->items[1].addr, 0x400);
	assert_int_equal(fp->items[1].pages, 512);
	assert_true(fp->items[1].huge);
	done(t);
	expect_xlate(t, hpa, 0x10, FRAME0 + 0x10, 1, true);
	expect_unmapped(t, hpa, 0x11);
	expect_unmapped(t, hpa, 0x400);
	expect_xlate(t, hpa, 0x900, FRAME0 + 0x900, 1, true);
	/* nothing mapped there: no flush point */
	assert_int_equal(apply(t, EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, 0x5000, 0x100, 0), 0);
	assert_int_equal(t->res.fp.nitems, 0);
}

static void test_dirty_log(void **state)
{
	struct t *t = *state;
	uint64_t hpa = basic(t);

	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 2, 0, 0x200, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x5, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_SLOT_FLAGS, 0, 0, 0, EPTF_SLOTF_DIRTY_LOG, 0, 0, 0), 0);
	const struct eptf_flush_point *fp = &t->res.fp;
	assert_int_equal(fp->site, EPTF_SITE_WP_SLOT);
	assert_int_equal(fp->slot, 0);
	assert_int_equal(fp->slot_base_gfn, 0);
	assert_int_equal(fp->slot_npages, SLOT0_PAGES);
	assert_int_equal(fp->nitems, 2);
	assert_int_equal(fp->items[0].change, EPTF_CHG_WRPROT);
	assert_int_equal(fp->items[0].addr, 0x5);
	assert_int_equal(fp->items[1].addr, 0x200);
	assert_true(fp->items[1].huge);
	done(t);
	expect_xlate(t, hpa, 0x5, FRAME0 + 0x5, 1, false);

	/* a write to the read-only 4 KiB leaf is fixed (fast_page_fault) and logged */
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 0, 0, 0, EPTF_OPF_WRITE, 0x5, 0, 0), 0);
	assert_true(t->res.faulted);
	assert_int_equal(t->res.fp.nitems, 0);
	expect_xlate(t, hpa, 0x5, FRAME0 + 0x5, 1, true);
	/* a read needs nothing */
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 0, 0, 0, 0, 0x6, 0, 0), 0);
	assert_true(t->res.faulted);
	expect_xlate(t, hpa, 0x6, FRAME0 + 0x6, 1, false);
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 0, 0, 0, 0, 0x6, 0, 0), 0);
	assert_false(t->res.faulted);
	/* a write under the 2 MiB leaf maps 4 KiB: the huge leaf is split */
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 0, 0, 0, EPTF_OPF_WRITE, 0x201, 0, 0), 0);
	assert_true(t->res.faulted);
	assert_int_equal(t->res.fp.site, EPTF_SITE_SPLIT);
	done(t);
	expect_xlate(t, hpa, 0x201, FRAME0 + 0x201, 1, true);
	/* MAP on a dirty-logged slot: 4 KiB, writable only for a write fault */
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 2, EPTF_OPF_WRITE, 0x41, 0, 0), 0);
	expect_xlate(t, hpa, 0x41, FRAME0 + 0x41, 1, true);

	/* get: 0x5, 0x41, 0x201 dirty; each re-protected */
	assert_int_equal(apply(t, EPTF_OP_GET_DIRTY_LOG, 0, 0, 0, 0, 0, 0, 0), 0);
	fp = &t->res.fp;
	assert_int_equal(t->res.dirty_pages, 3);
	assert_int_equal(fp->site, EPTF_SITE_DIRTY_LOG);
	assert_int_equal(fp->slot, 0);
	assert_int_equal(fp->slot_npages, SLOT0_PAGES);
	assert_int_equal(fp->nitems, 3);
	for (size_t k = 0; k < 3; k++)
		assert_int_equal(fp->items[k].change, EPTF_CHG_WRPROT);
	assert_int_equal(fp->items[0].addr, 0x5);
	assert_int_equal(fp->items[1].addr, 0x41);
	assert_int_equal(fp->items[2].addr, 0x201);
	done(t);
	expect_xlate(t, hpa, 0x41, FRAME0 + 0x41, 1, false);
	assert_int_equal(apply(t, EPTF_OP_GET_DIRTY_LOG, 0, 0, 0, 0, 0, 0, 0), 0);
	assert_int_equal(t->res.dirty_pages, 0);
	assert_int_equal(t->res.fp.nitems, 0);

	/* clear with a mask: only the masked dirty pages are re-protected */
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 0, 0, 0, EPTF_OPF_WRITE, 0x41, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 0, 0, 0, EPTF_OPF_WRITE, 0x42, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_CLEAR_DIRTY_LOG, 0, 0, 0, 0, 0x40, 0, 1ull << 2), 0);
	assert_int_equal(t->res.dirty_pages, 1);
	assert_int_equal(t->res.fp.site, EPTF_SITE_DIRTY_LOG);
	assert_int_equal(t->res.fp.nitems, 1);
	assert_int_equal(t->res.fp.items[0].addr, 0x42);
	done(t);
	expect_xlate(t, hpa, 0x41, FRAME0 + 0x41, 1, true);
	expect_xlate(t, hpa, 0x42, FRAME0 + 0x42, 1, false);
	assert_int_equal(apply(t, EPTF_OP_CLEAR_DIRTY_LOG, 0, 0, 0, 0, 0x41, 0, 1), EPTF_EINVAL);
	assert_int_equal(apply(t, EPTF_OP_CLEAR_DIRTY_LOG, 0, 0, 0, 0, SLOT0_PAGES, 0, 1), EPTF_EINVAL);
	assert_int_equal(apply(t, EPTF_OP_CLEAR_DIRTY_LOG, 0, 0, 0, 0, 0x40, 0, ~0ull), 0);
	assert_int_equal(t->res.dirty_pages, 1);
	done(t);
	/* dirty logging off: nothing to flush, huge maps allowed again */
	assert_int_equal(apply(t, EPTF_OP_SLOT_FLAGS, 0, 0, 0, 0, 0, 0, 0), 0);
	assert_int_equal(t->res.fp.nitems, 0);
	assert_int_equal(apply(t, EPTF_OP_SLOT_FLAGS, 0, 0, 0, EPTF_SLOTF_READONLY, 0, 0, 0), EPTF_EINVAL);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 2, 0, 0x600, 0, 0), 0);
	expect_xlate(t, hpa, 0x600, FRAME0 + 0x600, 2, true);
}

static void test_dirty_log_slot_created_logging(void **state)
{
	struct t *t = *state;
	basic(t);
	uint64_t hpa = eptf_mmu_vcpu_root(t->m, 0);
	/* 100 pages, logging from the start: the last word of the bitmap is partial */
	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, 5, 0, EPTF_SLOTF_DIRTY_LOG, SLOT0_PAGES, 100, 0x50000000), 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 3, 0, SLOT0_PAGES + 70, 0, 0), 0);
	expect_xlate(t, hpa, SLOT0_PAGES + 70, 0x50046, 1, false); /* read fault: 4 KiB, read-only */
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 0, 0, 0, EPTF_OPF_WRITE, SLOT0_PAGES + 70, 0, 0), 0);
	assert_true(t->res.faulted);
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 0, 0, 0, EPTF_OPF_WRITE, SLOT0_PAGES + 99, 0, 0), 0);
	assert_true(t->res.faulted);
	expect_xlate(t, hpa, SLOT0_PAGES + 99, 0x50063, 1, true);
	/* bits past the end of the slot are ignored */
	assert_int_equal(apply(t, EPTF_OP_CLEAR_DIRTY_LOG, 0, 5, 0, 0, 64, 0, ~0ull), 0);
	assert_int_equal(t->res.dirty_pages, 2);
	assert_int_equal(t->res.fp.nitems, 2);
	assert_int_equal(t->res.fp.slot, 5);
	assert_int_equal(t->res.fp.slot_base_gfn, SLOT0_PAGES);
	assert_int_equal(t->res.fp.slot_npages, 100);
	assert_int_equal(t->res.fp.items[0].gfn, SLOT0_PAGES + 70);
	assert_int_equal(t->res.fp.items[1].gfn, SLOT0_PAGES + 99);
	done(t);
	expect_xlate(t, hpa, SLOT0_PAGES + 99, 0x50063, 1, false);
	assert_int_equal(apply(t, EPTF_OP_GET_DIRTY_LOG, 0, 5, 0, 0, 0, 0, 0), 0);
	assert_int_equal(t->res.dirty_pages, 0);
}

static void test_wp_gfn(void **state)
{
	struct t *t = *state;
	uint64_t hpa = basic(t);

	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 2, 0, 0x400, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_WP_GFN, 0, 0, 0, 0, 0x433, 0, 0), 0);
	const struct eptf_flush_point *fp = &t->res.fp;
	assert_int_equal(fp->site, EPTF_SITE_WP_GFN);
	assert_int_equal(fp->gfn, 0x433);
	assert_int_equal(fp->nitems, 1);
	assert_true(fp->items[0].huge);
	assert_int_equal(fp->items[0].addr, 0x400);
	assert_int_equal(fp->items[0].pages, 512);
	assert_int_equal(fp->items[0].change, EPTF_CHG_WRPROT);
	done(t);
	expect_xlate(t, hpa, 0x433, FRAME0 + 0x433, 2, false);
	/* tracked: no huge mapping may cover it any more, and the gfn maps read-only */
	assert_int_equal(apply(t, EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, 0x400, 512, 0), 0);
	done(t);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 2, EPTF_OPF_WRITE, 0x433, 0, 0), 0);
	expect_xlate(t, hpa, 0x433, FRAME0 + 0x433, 1, false);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 3, EPTF_OPF_WRITE, 0x434, 0, 0), 0);
	expect_xlate(t, hpa, 0x434, FRAME0 + 0x434, 1, true);
	/* a write stays read-only and is not a fixable fault */
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 0, 0, 0, EPTF_OPF_WRITE, 0x433, 0, 0), 0);
	assert_false(t->res.faulted);
	expect_xlate(t, hpa, 0x433, FRAME0 + 0x433, 1, false);
	/* again: nothing is writable, no flush point */
	assert_int_equal(apply(t, EPTF_OP_WP_GFN, 0, 0, 0, 0, 0x433, 0, 0), 0);
	assert_int_equal(t->res.fp.nitems, 0);
	assert_int_equal(apply(t, EPTF_OP_WP_GFN, 0, 0, 0, 0, SLOT0_PAGES + 1, 0, 0), EPTF_EINVAL);
}

static void test_aging(void **state)
{
	struct t *t = *state;
	uint64_t hpa = basic(t);
	struct eptf_xlate x;

	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x10, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x11, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 2, 0, 0x200, 0, 0), 0);
	assert_int_equal(eptf_mmu_translate(t->m, hpa, 0x10, &x), 0);
	assert_true(x.accessed);
	/* hva range [0x10 page + 1 byte, 0x201 page): 0x10 (partly), 0x11, the 2 MiB leaf */
	uint64_t start = HVA0 + 0x10 * 4096 + 1, end = HVA0 + 0x201 * 4096;
	assert_int_equal(apply(t, EPTF_OP_CLEAR_YOUNG, 0, 0, 0, 0, start, end, 0), 0);
	assert_int_equal(t->res.young, 3);
	assert_int_equal(t->res.fp.site, EPTF_SITE_NONE); /* clear_young never flushes */
	assert_int_equal(eptf_mmu_translate(t->m, hpa, 0x10, &x), 0);
	assert_false(x.accessed);
	assert_int_equal(apply(t, EPTF_OP_CLEAR_FLUSH_YOUNG, 0, 0, 0, 0, start, end, 0), 0);
	assert_int_equal(t->res.young, 0);
	assert_int_equal(t->res.fp.nitems, 0);
	/* touch two again */
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 0, 0, 0, 0, 0x11, 0, 0), 0);
	assert_false(t->res.faulted);
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 0, 0, 0, 0, 0x300, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_CLEAR_FLUSH_YOUNG, 0, 0, 0, 0, start, end, 0), 0);
	const struct eptf_flush_point *fp = &t->res.fp;
	assert_int_equal(t->res.young, 2);
	assert_int_equal(fp->site, EPTF_SITE_AGE);
	assert_int_equal(fp->hva_start, start);
	assert_int_equal(fp->hva_end, end);
	assert_int_equal(fp->nitems, 2);
	assert_int_equal(fp->items[0].change, EPTF_CHG_AGED);
	assert_int_equal(fp->items[0].addr, 0x11);
	assert_int_equal(fp->items[1].addr, 0x200);
	assert_int_equal(fp->items[1].pages, 512);
	done(t);
	/* aging keeps the mapping */
	expect_xlate(t, hpa, 0x11, FRAME0 + 0x11, 1, true);
	assert_int_equal(apply(t, EPTF_OP_CLEAR_YOUNG, 0, 0, 0, 0, end, start, 0), EPTF_EINVAL);
}

static void test_unmap_hva(void **state)
{
	struct t *t = *state;
	uint64_t hpa = basic(t);

	assert_int_equal(apply(t, EPTF_OP_SLOT_ADD, 0, 1u << 16, 0, 0, 0x10, 0x10, HVA0), 0); /* SMM alias */
	assert_int_equal(apply(t, EPTF_OP_ROOT_LOAD, 1, 0, 0, EPTF_OPF_DIRECT, 1, 0, 0), 0);
	uint64_t hpa1 = t->res.loaded_root;
	assert_true(hpa1 != hpa);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, 0x3, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 1, 0, 0x13, 0, 0), 0);
	expect_xlate(t, hpa1, 0x13, FRAME0 + 3, 1, true);
	/* the hva of gfn 3 in slot 0 is the hva of gfn 0x13 in the alias: both go */
	assert_int_equal(apply(t, EPTF_OP_UNMAP_HVA, 0, 0, 0, 0, HVA0 + 3 * 4096, HVA0 + 4 * 4096, 0), 0);
	const struct eptf_flush_point *fp = &t->res.fp;
	assert_int_equal(fp->site, EPTF_SITE_UNMAP);
	assert_int_equal(fp->hva_start, HVA0 + 3 * 4096);
	assert_int_equal(fp->nitems, 2);
	assert_int_equal(fp->nroots, 2);
	done(t);
	expect_unmapped(t, hpa, 3);
	expect_unmapped(t, hpa1, 0x13);
}

/*
 * Guest tables for the indirect tests: CR3 table 0x100 -> PDPT 0x101 ->
 * PD 0x102 -> PT 0x103; gva page 0x0..0x1ff through the PT, gva pages from
 * 0x200 through a 2 MiB guest page at gfn 0x800.
 */
#define GP (EPTF_GPTE_PRESENT | EPTF_GPTE_WRITABLE)

static void gpt(struct t *t, uint64_t table, unsigned index, uint64_t gpte)
{
	assert_int_equal(apply(t, EPTF_OP_GPT_WRITE, 0, 0, 0, 0, table, index, gpte), 0);
}

static void guest_tables(struct t *t)
{
	gpt(t, 0x100, 0, GP | (0x101ull << 12));
	gpt(t, 0x101, 0, GP | (0x102ull << 12));
	gpt(t, 0x102, 0, GP | (0x103ull << 12));
	gpt(t, 0x102, 1, GP | EPTF_GPTE_HUGE | (0x800ull << 12));
	for (unsigned i = 0; i < 16; i++)
		gpt(t, 0x103, i, GP | ((0x500ull + i) << 12));
	gpt(t, 0x103, 3, EPTF_GPTE_PRESENT | (0x503ull << 12)); /* read-only in the guest */
}

static void test_indirect(void **state)
{
	struct t *t = *state;
	uint64_t dhpa = basic(t);

	/* the L1 direct root maps the guest's table pages writable */
	for (uint64_t g = 0x100; g < 0x104; g++)
		assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 1, 0, g, 0, 0), 0);
	guest_tables(t);
	assert_int_equal(apply(t, EPTF_OP_ROOT_LOAD, 1, 0, 0, 0, 0x100, 0, 0), 0);
	uint64_t ihpa = t->res.loaded_root;
	/* shadowing CR3's table write-protects it everywhere */
	assert_int_equal(t->res.fp.site, EPTF_SITE_WP_GFN);
	assert_int_equal(t->res.fp.gfn, 0x100);
	assert_int_equal(t->res.fp.nitems, 1);
	assert_int_equal(t->res.fp.items[0].addr, 0x100);
	assert_int_equal(t->res.fp.nroots, 2);
	done(t);
	expect_xlate(t, dhpa, 0x100, FRAME0 + 0x100, 1, false);

	/* not mapped by the guest */
	struct eptf_mmu_stats st = stats(t);
	assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 1, 0, 0x7000, 0, 0), 0);
	assert_true(t->res.guest_fault);
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 1, 0, 0, 0, 0x20, 0, 0), 0);
	assert_true(t->res.guest_fault);
	struct eptf_mmu_stats st2 = stats(t);
	assert_memory_equal(&st, &st2, sizeof(st));

	/* gva page 5 -> gfn 0x505: three more tables get shadowed (one flush point) */
	assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 1, EPTF_OPF_WRITE, 5, 0, 0), 0);
	const struct eptf_flush_point *fp = &t->res.fp;
	assert_int_equal(fp->site, EPTF_SITE_WP_GFN);
	assert_int_equal(fp->gfn, 0x101);
	assert_int_equal(fp->nitems, 3);
	assert_int_equal(fp->items[0].gfn, 0x101);
	assert_int_equal(fp->items[1].gfn, 0x102);
	assert_int_equal(fp->items[2].gfn, 0x103);
	for (size_t k = 0; k < 3; k++)
		assert_int_equal(fp->items[k].site, EPTF_SITE_WP_GFN);
	done(t);
	expect_xlate(t, ihpa, 5, FRAME0 + 0x505, 1, true);
	expect_xlate(t, dhpa, 0x103, FRAME0 + 0x103, 1, false);
	/* the indirect leaf is reported with its gva page as addr and the gfn it maps */
	assert_int_equal(apply(t, EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, 0x505, 1, 0), 0);
	fp = &t->res.fp;
	assert_int_equal(fp->nitems, 1);
	assert_int_equal(fp->items[0].addr, 5);
	assert_int_equal(fp->items[0].gfn, 0x505);
	assert_int_equal(fp->items[0].sp_gfn, 0x103);
	assert_false(fp->items[0].direct);
	done(t);
	expect_unmapped(t, ihpa, 5);
}

static void test_indirect_sync(void **state)
{
	struct t *t = *state;
	basic(t);
	guest_tables(t);
	assert_int_equal(apply(t, EPTF_OP_ROOT_LOAD, 1, 0, 0, 0, 0x100, 0, 0), 0);
	uint64_t ihpa = t->res.loaded_root;
	for (uint64_t va = 0; va < 6; va++)
		assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 1, EPTF_OPF_WRITE, va, 0, 0), 0);
	expect_xlate(t, ihpa, 3, FRAME0 + 0x503, 1, false); /* guest PTE is read-only */
	expect_xlate(t, ihpa, 4, FRAME0 + 0x504, 1, true);
	/* a guest 2 MiB page mapped at 2 MiB */
	assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 2, 0, 0x233, 0, 0), 0);
	expect_xlate(t, ihpa, 0x233, FRAME0 + 0x833, 2, true);
	/* and at 4 KiB under it: the split, then a level-1 page below the guest huge page */
	assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 1, 0, 0x240, 0, 0), 0);
	assert_int_equal(t->res.fp.site, EPTF_SITE_SPLIT);
	assert_int_equal(t->res.fp.items[0].addr, 0x200);
	assert_int_equal(t->res.fp.items[0].gfn, 0x800);
	assert_int_equal(t->res.fp.items[0].sp_gfn, 0x102); /* the PD */
	assert_int_equal(t->res.fp.items[0].sp_base, 0);
	done(t);
	expect_xlate(t, ihpa, 0x240, FRAME0 + 0x840, 1, true);

	/* the guest rewrites leaf entries: the PT goes unsync, no flush yet */
	gpt(t, 0x103, 4, GP | (0x600ull << 12));         /* another frame */
	assert_int_equal(t->res.fp.nitems, 0);
	gpt(t, 0x103, 5, 0);                             /* removed */
	gpt(t, 0x103, 2, EPTF_GPTE_PRESENT | (0x502ull << 12)); /* write removed */
	gpt(t, 0x103, 9, GP | (0x509ull << 12));         /* new: not installed by sync */
	expect_xlate(t, ihpa, 4, FRAME0 + 0x504, 1, true); /* stale until the sync */
	assert_int_equal(apply(t, EPTF_OP_SYNC, 1, 0, 0, 0, 0, 0, 0), 0);
	const struct eptf_flush_point *fp = &t->res.fp;
	assert_int_equal(fp->site, EPTF_SITE_SYNC_PAGE);
	assert_int_equal(fp->nitems, 3);
	assert_int_equal(fp->items[0].index, 2);
	assert_int_equal(fp->items[0].change, EPTF_CHG_WRPROT);
	assert_int_equal(fp->items[1].index, 4);
	assert_int_equal(fp->items[1].change, EPTF_CHG_FRAME);
	assert_int_equal(fp->items[1].gfn, 0x504);
	assert_int_equal(fp->items[2].index, 5);
	assert_int_equal(fp->items[2].change, EPTF_CHG_DROP);
	for (size_t k = 0; k < 3; k++) {
		assert_true(fp->items[k].leaf);
		assert_false(fp->items[k].direct);
		assert_int_equal(fp->items[k].sp_level, 1);
		assert_int_equal(fp->items[k].sp_gfn, 0x103); /* the guest table ... */
		assert_int_equal(fp->items[k].sp_base, 0);    /* ... not the range mapped */
		assert_int_equal(fp->items[k].addr, fp->items[k].index);
	}
	assert_int_equal(fp->nroots, 2);
	done(t);
	expect_xlate(t, ihpa, 4, FRAME0 + 0x600, 1, true);
	expect_xlate(t, ihpa, 2, FRAME0 + 0x502, 1, false);
	expect_unmapped(t, ihpa, 5);
	expect_unmapped(t, ihpa, 9);
	assert_int_equal(apply(t, EPTF_OP_SYNC, 1, 0, 0, 0, 0, 0, 0), 0);
	assert_int_equal(t->res.fp.nitems, 0);

	/* writing a non-leaf guest table drops the shadow SPTE at that index */
	gpt(t, 0x102, 1, 0);
	fp = &t->res.fp;
	assert_int_equal(fp->site, EPTF_SITE_PTE_WRITE);
	assert_int_equal(fp->nitems, 1);
	assert_false(fp->items[0].leaf);
	assert_int_equal(fp->items[0].sp_level, 2);
	assert_int_equal(fp->items[0].addr, 0x200);
	assert_int_equal(fp->items[0].pages, 512);
	done(t);
	expect_unmapped(t, ihpa, 0x240);
	assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 1, 0, 0x240, 0, 0), 0);
	assert_true(t->res.guest_fault);

	/* zapping the shadow PT: sp_gfn is the guest table, sp_base the gva range */
	assert_int_equal(apply(t, EPTF_OP_PREPARE_ZAP, 0, 0, 1, 0, 0x103, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_COMMIT_ZAP, 0, 0, 0, 0, 0, 0, 0), 0);
	fp = &t->res.fp;
	assert_int_equal(fp->nitems, 1);
	assert_int_equal(fp->items[0].sp_gfn, 0x103);
	assert_int_equal(fp->items[0].sp_base, 0);
	assert_false(fp->items[0].direct);
	assert_true(fp->items[0].last_level);
	done(t);
	expect_unmapped(t, ihpa, 4);
	/* ACCESS faults it back in through the guest tables */
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 1, 0, 0, EPTF_OPF_WRITE, 4, 0, 0), 0);
	assert_true(t->res.faulted);
	expect_xlate(t, ihpa, 4, FRAME0 + 0x600, 1, true);
}

static void test_indirect_remap_and_shared_pages(void **state)
{
	struct t *t = *state;
	basic(t);
	guest_tables(t);
	assert_int_equal(apply(t, EPTF_OP_ROOT_LOAD, 1, 0, 0, 0, 0x100, 0, 0), 0);
	uint64_t r1 = t->res.loaded_root;
	assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 1, 0, 4, 0, 0), 0);
	/* the guest remaps gva page 4; the PT is unsync, a fault sees the new frame */
	gpt(t, 0x103, 4, GP | (0x600ull << 12));
	assert_int_equal(t->res.fp.nitems, 0);
	assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 1, 0, 4, 0, 0), 0);
	const struct eptf_flush_point *fp = &t->res.fp;
	assert_int_equal(fp->site, EPTF_SITE_SPTE_CHANGE);
	assert_int_equal(fp->nitems, 1);
	assert_int_equal(fp->items[0].change, EPTF_CHG_FRAME);
	assert_int_equal(fp->items[0].gfn, 0x504);
	assert_int_equal(fp->items[0].addr, 4);
	done(t);
	expect_xlate(t, r1, 4, FRAME0 + 0x600, 1, true);

	/* a second address space (CR3 0x110) shares the PDPT: one page, two parents */
	gpt(t, 0x110, 0, GP | (0x101ull << 12));
	assert_int_equal(apply(t, EPTF_OP_ROOT_LOAD, 2, 0, 0, 0, 0x110, 0, 0), 0);
	uint64_t r2 = t->res.loaded_root;
	assert_true(r2 != r1);
	uint64_t pages = stats(t).pages;
	assert_int_equal(apply(t, EPTF_OP_MAP, 2, 0, 1, 0, 4, 0, 0), 0);
	assert_int_equal(stats(t).pages, pages); /* everything below the root is shared */
	expect_xlate(t, r2, 4, FRAME0 + 0x600, 1, true);
	/* the guest rewrites the PDPT entry: the shared page drops its link once */
	gpt(t, 0x101, 0, GP | (0x102ull << 12));
	fp = &t->res.fp;
	assert_int_equal(fp->site, EPTF_SITE_PTE_WRITE);
	assert_int_equal(fp->nitems, 1);
	assert_int_equal(fp->items[0].sp_level, 3);
	assert_int_equal(fp->items[0].sp_gfn, 0x101);
	assert_false(fp->items[0].leaf);
	assert_int_equal(fp->items[0].pages, 1ull << 18);
	assert_int_equal(fp->nroots, 3); /* the direct root of vCPU 0 and both shadow roots */
	done(t);
	expect_unmapped(t, r1, 4);
	expect_unmapped(t, r2, 4);
	assert_int_equal(apply(t, EPTF_OP_ACCESS, 2, 0, 0, 0, 4, 0, 0), 0);
	assert_true(t->res.faulted);
	expect_xlate(t, r1, 4, FRAME0 + 0x600, 1, true);
	/* zapping the shared PDPT page unlinks it from both roots */
	assert_int_equal(apply(t, EPTF_OP_PREPARE_ZAP, 0, 0, 3, 0, 0x101, 0, 0), 0);
	assert_int_equal(apply(t, EPTF_OP_COMMIT_ZAP, 0, 0, 0, 0, 0, 0, 0), 0);
	assert_int_equal(t->res.fp.nitems, 1);
	assert_int_equal(t->res.fp.items[0].pages, 1ull << 27);
	done(t);
	expect_unmapped(t, r1, 4);
	expect_unmapped(t, r2, 4);
	/* SYNC on a vCPU whose root does not reach any unsync page does nothing */
	gpt(t, 0x103, 4, GP | (0x601ull << 12));
	assert_int_equal(apply(t, EPTF_OP_SYNC, 0, 0, 0, 0, 0, 0, 0), 0);
	assert_int_equal(t->res.fp.nitems, 0);
}

/* A guest huge page that holds the guest's own tables is mapped 4 KiB (lpage_info). */
static void test_indirect_huge_over_tables(void **state)
{
	struct t *t = *state;
	basic(t);
	guest_tables(t);
	gpt(t, 0x102, 2, GP | EPTF_GPTE_HUGE | (0x000ull << 12)); /* gva 0x400.. -> gfn 0.. */
	assert_int_equal(apply(t, EPTF_OP_ROOT_LOAD, 1, 0, 0, 0, 0x100, 0, 0), 0);
	uint64_t ihpa = t->res.loaded_root;
	assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 2, EPTF_OPF_WRITE, 0x405, 0, 0), 0);
	expect_xlate(t, ihpa, 0x405, FRAME0 + 5, 1, true);
	/* the tables themselves stay read-only through it */
	assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 1, EPTF_OPF_WRITE, 0x502, 0, 0), 0);
	expect_xlate(t, ihpa, 0x502, FRAME0 + 0x102, 1, false);
	/* the 2 MiB guest page at 0x800 has no tables in it: mapped 2 MiB */
	assert_int_equal(apply(t, EPTF_OP_MAP, 1, 0, 2, 0, 0x233, 0, 0), 0);
	expect_xlate(t, ihpa, 0x233, FRAME0 + 0x833, 2, true);
}

static void test_refused_ops_change_nothing(void **state)
{
	struct t *t = *state;
	uint64_t hpa = basic(t);
	assert_int_equal(apply(t, EPTF_OP_MAP, 0, 0, 2, 0, 0x200, 0, 0), 0);
	struct eptf_mmu_stats st = stats(t);
	struct {
		uint32_t kind, vcpu, slot;
		uint8_t level, flags;
		uint64_t addr, count, value;
		int err;
	} bad[] = {
		{ EPTF_OP_NONE, 0, 0, 0, 0, 0, 0, 0, EPTF_EINVAL },
		{ EPTF_OP_KIND_COUNT, 0, 0, 0, 0, 0, 0, 0, EPTF_EINVAL },
		{ EPTF_OP_ROOT_LOAD, 64, 0, 0, EPTF_OPF_DIRECT, 0, 0, 0, EPTF_EINVAL },
		{ EPTF_OP_ROOT_LOAD, 0, 0, 0, EPTF_OPF_DIRECT, 2, 0, 0, EPTF_EINVAL },
		{ EPTF_OP_MAP, 0, 0, 0, 0, 0x200, 0, 0, EPTF_EINVAL },
		{ EPTF_OP_MAP, 0, 0, 1, 0, 1ull << 36, 0, 0, EPTF_EINVAL },
		{ EPTF_OP_ACCESS, 0, 0, 0, 0, SLOT0_PAGES, 0, 0, EPTF_EINVAL },
		{ EPTF_OP_ACCESS, 2, 0, 0, 0, 0x200, 0, 0, EPTF_ENOENT },
		{ EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, 5, UINT64_MAX, 0, EPTF_EINVAL },
		{ EPTF_OP_PREPARE_ZAP, 0, 0, 0, EPTF_OPF_DIRECT, 0, 0, 0, EPTF_EINVAL },
		{ EPTF_OP_SLOT_MOVE, 0, 9, 0, 0, 0, 0, 0, EPTF_ENOENT },
		{ EPTF_OP_SLOT_MOVE, 0, 0, 0, 0, (1ull << 36) - 5, 0, 0, EPTF_EINVAL },
		{ EPTF_OP_SLOT_FLAGS, 0, 0, 0, 0x10, 0, 0, 0, EPTF_EINVAL },
		{ EPTF_OP_GPT_WRITE, 0, 0, 0, 0, 0x100, 512, 1, EPTF_EINVAL },
		{ EPTF_OP_UNMAP_HVA, 0, 0, 0, 0, HVA0 + 4096, HVA0, 0, EPTF_EINVAL },
		{ EPTF_OP_SYNC, 70, 0, 0, 0, 0, 0, 0, EPTF_EINVAL },
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		assert_int_equal(apply(t, bad[k].kind, bad[k].vcpu, bad[k].slot, bad[k].level, bad[k].flags,
				       bad[k].addr, bad[k].count, bad[k].value),
				 bad[k].err);
		assert_int_equal(t->res.fp.nitems, 0);
		struct eptf_mmu_stats st2 = stats(t);
		assert_memory_equal(&st, &st2, sizeof(st));
	}
	expect_xlate(t, hpa, 0x200, FRAME0 + 0x200, 2, true);
	/* a pending flush point must be finished first */
	assert_int_equal(apply(t, EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, 0x200, 1, 0), 0);
	struct eptf_op op = { EPTF_OP_COMMIT_ZAP, 0, 0, 0, 0, 0, 0, 0 };
	struct eptf_mmu_result r;
	assert_int_equal(eptf_mmu_apply(t->m, &op, 99, &r), EPTF_EBUSY);
	done(t);
	assert_int_equal(eptf_mmu_apply(t->m, &op, 99, &r), 0);
	assert_string_equal(eptf_site_name(EPTF_SITE_COMMIT_ZAP), "commit_zap");
	assert_string_equal(eptf_site_name(EPTF_SITE_SPTE_CHANGE), "spte_change");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_memslots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_and_collapse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepare_commit_orphans, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zap_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_log_slot_created_logging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wp_gfn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_hva, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_remap_and_shared_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_huge_over_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_ops_change_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
