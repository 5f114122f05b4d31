/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The synthetic workloads: deterministic by seed, exactly --ops long, every
 * op representable and consistent with the memslots and roots the stream
 * itself set up (checked by an independent re-reading of the stream), and
 * each workload producing the operations it claims, counted by kind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/error.h>
#include <eptflush/mmu.h>
#include <eptflush/trace.h>
#include <eptflush/workload.h>

#define GIG (1ull << 18)
#define SETCAP (1u << 16)

/* A set of u64 keys with a value, open addressing, fixed size (test only). */
struct set {
	uint64_t key[SETCAP]; /* key + 1 */
	uint8_t val[SETCAP];
	unsigned n;
};

static uint8_t *set_slot(struct set *s, uint64_t k, bool insert)
{
	uint64_t h = (k * 0x9e3779b97f4a7c15ull) >> 48;

	for (unsigned i = 0; i < SETCAP; i++) {
		unsigned j = (unsigned)(h + i) & (SETCAP - 1);

		if (s->key[j] == k + 1)
			return &s->val[j];
		if (!s->key[j]) {
			if (!insert)
				return NULL;
			assert_true(s->n < SETCAP / 2);
			s->key[j] = k + 1;
			s->n++;
			return &s->val[j];
		}
	}
	return NULL;
}

/* set_slot() with insert, never NULL (the set never fills; spelled out for -Wnull-dereference at -O3). */
static uint8_t *set_get(struct set *s, uint64_t k)
{
	uint8_t *v = set_slot(s, k, true);

	if (!v)
		fail_msg("test set full");
	return v ? v : &s->val[0];
}

struct slotinfo {
	bool present;
	uint32_t id;
	uint64_t base, npages, hva;
	uint8_t flags;
	bool was_deleted;
};

/* What a stream did: counts and claims, gathered while checking it. */
struct stats {
	uint64_t ops, kinds[EPTF_OP_KIND_COUNT];
	uint64_t map_level[4];
	uint64_t direct_roots, indirect_roots;
	uint64_t dirty_on, dirty_off, writes;
	uint64_t prep_level[5], prep_indirect;
	uint64_t splits, collapses, readds;
	uint64_t gpt_wrprot, gpt_frame_change, gpt_clear, gpt_huge;
	uint64_t indirect_huge_maps; /* level-2 maps of gvas (inside a guest 2 MiB page) */
	uint64_t refaults;
	uint64_t wp_in_huge; /* wp_gfn of a page last mapped huge */
	uint64_t repeat_accesses; /* direct accesses to a page accessed before */
	uint64_t max_gfn;
	uint64_t clear_batches[64];
	unsigned nbatches; /* clear_dirty_log batches in the first migration */
	bool first_migration_done;
	unsigned vcpus_used;
	uint64_t checksum; /* FNV-1a over the formatted lines */
};

struct checker {
	struct eptf_workload_params p;
	struct slotinfo slot[16];
	uint8_t vmode[EPTF_MAX_VCPUS]; /* 0 none, 1 direct, 2 indirect */
	bool pending_prepare;
	uint64_t cur_batch;
	bool in_migration;
	struct set chunks; /* chunk -> level of the last map there (1 or 2) */
	struct set gigs;   /* gig -> 3 if last mapped at level 3 */
	uint64_t unmapped[16][2];
	unsigned nunmapped;
	struct set touched; /* direct chunks touched by map/access */
	struct set pages;   /* direct pages accessed (until full) */
	uint64_t used_vcpus;
	struct stats st;
	uint64_t last_pte[4096]; /* small cache: last pte per (table, index) hash */
};

static struct slotinfo *slot_by_id(struct checker *c, uint32_t id)
{
	for (int i = 0; i < 16; i++)
		if (c->slot[i].present && c->slot[i].id == id)
			return &c->slot[i];
	return NULL;
}

static struct slotinfo *slot_of(struct checker *c, uint64_t gfn)
{
	for (int i = 0; i < 16; i++)
		if (c->slot[i].present && gfn >= c->slot[i].base && gfn < c->slot[i].base + c->slot[i].npages)
			return &c->slot[i];
	return NULL;
}

static bool range_in_one_slot(struct checker *c, uint64_t gfn, uint64_t pages)
{
	struct slotinfo *s = slot_of(c, gfn);

	return s && gfn + pages <= s->base + s->npages;
}

static bool hva_in_one_slot(struct checker *c, uint64_t start, uint64_t end, uint64_t *gfn)
{
	for (int i = 0; i < 16; i++) {
		struct slotinfo *s = &c->slot[i];

		if (s->present && start >= s->hva && end <= s->hva + s->npages * 4096) {
			*gfn = s->base + (start - s->hva) / 4096;
			return true;
		}
	}
	return false;
}

static void fail_op(const struct eptf_op *op, uint64_t i, const char *why)
{
	char line[256];

	eptf_op_format(op, line, sizeof(line));
	fail_msg("op %llu '%s': %s", (unsigned long long)i, line, why);
}

static void check_op(struct checker *c, const struct eptf_op *op, uint64_t i)
{
	struct stats *st = &c->st;
	char line[EPTF_TRACE_MAX_LINE + 1], detail[256];
	struct slotinfo *s;
	uint64_t gfn = 0;
	int n;

	if (eptf_op_validate(op, detail, sizeof(detail)))
		fail_op(op, i, detail);
	n = eptf_op_format(op, line, sizeof(line));
	assert_true(n > 0);
	for (int k = 0; k < n; k++)
		st->checksum = (st->checksum ^ (uint8_t)line[k]) * 0x100000001b3ull;
	st->checksum = (st->checksum ^ '\n') * 0x100000001b3ull;
	st->ops++;
	st->kinds[op->kind]++;
	if (c->pending_prepare && op->kind != EPTF_OP_PREPARE_ZAP && op->kind != EPTF_OP_COMMIT_ZAP)
		fail_op(op, i, "a prepare_zap is not followed by its commit_zap");
	if (op->kind == EPTF_OP_ROOT_LOAD || op->kind == EPTF_OP_MAP || op->kind == EPTF_OP_ACCESS ||
	    op->kind == EPTF_OP_SYNC) {
		if (op->vcpu >= c->p.nr_vcpus)
			fail_op(op, i, "vcpu out of range");
		c->used_vcpus |= 1ull << op->vcpu;
	}
	if (op->kind != EPTF_OP_CLEAR_DIRTY_LOG && c->cur_batch) {
		if (c->in_migration && st->nbatches < 64)
			st->clear_batches[st->nbatches++] = c->cur_batch;
		c->cur_batch = 0;
	}
	switch (op->kind) {
	case EPTF_OP_SLOT_ADD:
		for (int k = 0; k < 16; k++) {
			struct slotinfo *o = &c->slot[k];

			if (o->present && (o->id == op->slot ||
					   (op->addr < o->base + o->npages && o->base < op->addr + op->count)))
				fail_op(op, i, "slot id in use or overlapping another slot");
		}
		for (int k = 0; k < 16; k++) {
			if (c->slot[k].present || (c->slot[k].id != op->slot && c->slot[k].npages))
				continue;
			if (c->slot[k].was_deleted)
				st->readds++;
			c->slot[k] = (struct slotinfo){true, op->slot, op->addr, op->count, op->value, op->flags, false};
			return;
		}
		fail_op(op, i, "too many slots");
		break;
	case EPTF_OP_SLOT_DELETE:
	case EPTF_OP_SLOT_MOVE:
	case EPTF_OP_SLOT_FLAGS:
	case EPTF_OP_GET_DIRTY_LOG:
	case EPTF_OP_CLEAR_DIRTY_LOG:
		s = slot_by_id(c, op->slot);
		if (!s)
			fail_op(op, i, "no such slot");
		if (op->kind == EPTF_OP_SLOT_DELETE) {
			s->present = false;
			s->was_deleted = true;
		} else if (op->kind == EPTF_OP_SLOT_MOVE) {
			s->present = false;
			if (slot_of(c, op->addr) || slot_of(c, op->addr + s->npages - 1))
				fail_op(op, i, "move onto another slot");
			s->present = true;
			s->base = op->addr;
		} else if (op->kind == EPTF_OP_SLOT_FLAGS) {
			if ((op->flags & EPTF_SLOTF_DIRTY_LOG) && !(s->flags & EPTF_SLOTF_DIRTY_LOG)) {
				st->dirty_on++;
				c->in_migration = !st->first_migration_done;
			}
			if (!(op->flags & EPTF_SLOTF_DIRTY_LOG) && (s->flags & EPTF_SLOTF_DIRTY_LOG)) {
				st->dirty_off++;
				if (c->in_migration)
					st->first_migration_done = true;
				c->in_migration = false;
			}
			s->flags = op->flags;
		} else {
			if (!(s->flags & EPTF_SLOTF_DIRTY_LOG))
				fail_op(op, i, "dirty log of a slot without dirty logging");
			if (op->kind == EPTF_OP_CLEAR_DIRTY_LOG) {
				if (op->addr % 64 || op->addr >= s->npages || !op->value)
					fail_op(op, i, "clear_dirty_log outside the slot or with an empty mask");
				if (op->addr + 64 > s->npages && (op->value >> (s->npages - op->addr)))
					fail_op(op, i, "mask bits past the slot");
				c->cur_batch++;
			}
		}
		break;
	case EPTF_OP_ROOT_LOAD:
		if (op->flags & EPTF_OPF_DIRECT) {
			c->vmode[op->vcpu] = 1;
			st->direct_roots++;
		} else {
			if (!slot_of(c, op->addr))
				fail_op(op, i, "CR3 table outside every slot");
			c->vmode[op->vcpu] = 2;
			st->indirect_roots++;
		}
		break;
	case EPTF_OP_MAP:
	case EPTF_OP_ACCESS:
		if (c->vmode[op->vcpu] == 0)
			fail_op(op, i, "vCPU without a root");
		if (op->kind == EPTF_OP_MAP)
			st->map_level[op->level]++;
		if (c->vmode[op->vcpu] == 2) {
			if (op->addr >= 1ull << 36)
				fail_op(op, i, "gva page past 48 bits");
			if (op->kind == EPTF_OP_MAP && op->level == 2)
				st->indirect_huge_maps++;
			break;
		}
		if (op->flags & EPTF_OPF_WRITE)
			st->writes++;
		if (op->addr > st->max_gfn)
			st->max_gfn = op->addr;
		set_slot(&c->touched, op->addr >> 9, true);
		if (op->kind == EPTF_OP_ACCESS) {
			if (c->pages.n < SETCAP / 2 - 1) {
				uint8_t *seen = set_get(&c->pages, op->addr);

				st->repeat_accesses += *seen;
				*seen = 1;
			}
			if (!slot_of(c, op->addr))
				fail_op(op, i, "access outside every slot");
			for (unsigned k = 0; k < c->nunmapped && k < 16; k++)
				if (op->addr >= c->unmapped[k][0] && op->addr < c->unmapped[k][1])
					st->refaults++;
			break;
		}
		uint64_t pages = EPTF_PAGES_PER_LEVEL(op->level);
		if (op->addr % pages || !range_in_one_slot(c, op->addr, pages))
			fail_op(op, i, "map not aligned or not inside one slot");
		s = slot_of(c, op->addr);
		if (op->level > 1 && s && (s->flags & EPTF_SLOTF_DIRTY_LOG))
			fail_op(op, i, "huge map in a dirty-logged slot");
		{
			uint8_t *gv = set_slot(&c->gigs, op->addr / GIG, op->level == 3);
			uint8_t *cv = op->level < 3 ? set_get(&c->chunks, op->addr >> 9)
						    : set_slot(&c->chunks, op->addr >> 9, false);

			if (op->level == 3) {
				if (gv && *gv == 2)
					st->collapses++; /* over a level-2 table */
				*gv = 3;
				break;
			}
			if (gv && *gv == 3)
				st->splits++; /* inside a 1 GiB mapping */
			else if (op->level == 1 && *cv == 2)
				st->splits++; /* inside a 2 MiB mapping */
			else if (op->level == 2 && *cv == 1)
				st->collapses++; /* over a level-1 table */
			*cv = op->level;
			if (gv)
				*gv = 2;
			else
				*set_get(&c->gigs, op->addr / GIG) = 2;
		}
		break;
	case EPTF_OP_PREPARE_ZAP:
		c->pending_prepare = true;
		st->prep_level[op->level]++;
		if (op->flags & EPTF_OPF_DIRECT) {
			if (op->level > 3 || op->addr % (EPTF_PAGES_PER_LEVEL(op->level) * 512))
				fail_op(op, i, "direct page gfn not aligned to its level (or a root)");
		} else {
			st->prep_indirect++;
			if (!slot_of(c, op->addr))
				fail_op(op, i, "guest table outside every slot");
		}
		break;
	case EPTF_OP_COMMIT_ZAP:
		c->pending_prepare = false;
		break;
	case EPTF_OP_ZAP_RANGE:
		if (!slot_of(c, op->addr))
			fail_op(op, i, "zap_range outside every slot");
		break;
	case EPTF_OP_WP_GFN: {
		uint8_t *cv = set_slot(&c->chunks, op->addr >> 9, false);
		uint8_t *gv = set_slot(&c->gigs, op->addr / GIG, false);

		if (!slot_of(c, op->addr))
			fail_op(op, i, "wp_gfn outside every slot");
		if ((cv && *cv == 2) || (gv && *gv == 3))
			st->wp_in_huge++;
		break;
	}
	case EPTF_OP_CLEAR_FLUSH_YOUNG:
	case EPTF_OP_CLEAR_YOUNG:
	case EPTF_OP_UNMAP_HVA:
		if (!hva_in_one_slot(c, op->addr, op->count, &gfn))
			fail_op(op, i, "hva range not inside one slot");
		if (op->kind == EPTF_OP_UNMAP_HVA) {
			c->unmapped[c->nunmapped % 16][0] = gfn;
			c->unmapped[c->nunmapped % 16][1] = gfn + (op->count - op->addr) / 4096;
			c->nunmapped++;
		}
		break;
	case EPTF_OP_GPT_WRITE: {
		uint64_t *last = &c->last_pte[((op->addr << 9 | op->count) * 0x9e3779b97f4a7c15ull) >> 52];

		if (!slot_of(c, op->addr))
			fail_op(op, i, "guest table outside every slot");
		if ((op->value & EPTF_GPTE_PRESENT) && !slot_of(c, (op->value & EPTF_GPTE_FRAME_MASK) >> 12))
			fail_op(op, i, "guest PTE frame outside every slot");
		if (op->value & EPTF_GPTE_HUGE) {
			st->gpt_huge++;
			if (((op->value & EPTF_GPTE_FRAME_MASK) >> 12) % 512)
				fail_op(op, i, "a 2 MiB guest page not 2 MiB aligned");
		}
		if (!op->value)
			st->gpt_clear++;
		else if ((*last & EPTF_GPTE_WRITABLE) && !(op->value & EPTF_GPTE_WRITABLE) &&
			 (*last & EPTF_GPTE_FRAME_MASK) == (op->value & EPTF_GPTE_FRAME_MASK))
			st->gpt_wrprot++;
		else if ((*last & EPTF_GPTE_PRESENT) &&
			 (*last & EPTF_GPTE_FRAME_MASK) != (op->value & EPTF_GPTE_FRAME_MASK))
			st->gpt_frame_change++;
		*last = op->value;
		break;
	}
	case EPTF_OP_SYNC:
		if (c->vmode[op->vcpu] != 2)
			fail_op(op, i, "sync on a vCPU without an indirect root");
		break;
	}
}

/* Generate @name with @p, check every op, return the stats. */
static struct stats run(const char *name, const struct eptf_workload_params *p)
{
	struct checker *c = calloc(1, sizeof(*c));
	struct eptf_trace_header hdr;
	struct eptf_workload *w;
	struct eptf_op op;
	struct stats st;
	uint64_t i = 0;

	assert_non_null(c);
	c->p = *p;
	c->st.checksum = 0xcbf29ce484222325ull;
	assert_int_equal(eptf_workload_create(name, p, &w), 0);
	eptf_workload_header(w, &hdr);
	assert_int_equal(hdr.version, EPTF_TRACE_VERSION);
	assert_int_equal(hdr.nr_vcpus, p->nr_vcpus);
	assert_string_equal(hdr.source, "synthetic");
	assert_string_equal(hdr.name, name);
	while (eptf_workload_next(w, &op) == 1)
		check_op(c, &op, i++);
	assert_int_equal(eptf_workload_next(w, &op), 0); /* stays done */
	eptf_workload_destroy(w);
	if (c->pending_prepare)
		fail_msg("%s ends with an open invalid list", name);
	for (unsigned v = 0; v < 64; v++)
		c->st.vcpus_used += (c->used_vcpus >> v) & 1;
	st = c->st;
	st.max_gfn = c->st.max_gfn;
	/* sparse: the direct chunks touched stay bounded whatever the guest size */
	assert_true(c->touched.n <= 32 * 64 + 8 * 512 + 64); /* windows, huge regions, device slot */
	free(c);
	return st;
}

static struct eptf_workload_params params(uint64_t ops, uint64_t seed)
{
	struct eptf_workload_params p;

	eptf_workload_params_default(&p);
	p.ops = ops;
	p.seed = seed;
	return p;
}

static void test_registry_and_params(void **state)
{
	struct eptf_workload_params p = params(100, 1);
	struct eptf_workload *w;
	unsigned n = 0;

	(void)state;
	for (const struct eptf_workload_desc *d = eptf_workloads; d->name; d++, n++) {
		assert_true(strlen(d->summary) > 20);
		assert_int_equal(eptf_workload_create(d->name, &p, &w), 0);
		eptf_workload_destroy(w);
	}
	assert_int_equal(n, 6);
	assert_int_equal(eptf_workload_create("nope", &p, &w), EPTF_ENOENT);
	p.guest_pages = 512; /* below 4 MiB */
	assert_int_equal(eptf_workload_create("boot", &p, &w), EPTF_EINVAL);
	p.guest_pages = 1024 + 1; /* not 2 MiB granular */
	assert_int_equal(eptf_workload_create("boot", &p, &w), EPTF_EINVAL);
	p = params(100, 1);
	p.nr_vcpus = 0;
	assert_int_equal(eptf_workload_create("boot", &p, &w), EPTF_EINVAL);
	p.nr_vcpus = EPTF_MAX_VCPUS + 1;
	assert_int_equal(eptf_workload_create("boot", &p, &w), EPTF_EINVAL);
	p = params(0, 1);
	assert_int_equal(eptf_workload_create("boot", &p, &w), EPTF_EINVAL);
}

static void test_deterministic(void **state)
{
	(void)state;
	for (const struct eptf_workload_desc *d = eptf_workloads; d->name; d++) {
		struct eptf_workload_params p = params(5000, 42);
		struct stats a = run(d->name, &p), b = run(d->name, &p), c;

		assert_true(a.checksum == b.checksum);
		assert_true(a.ops == 5000 && b.ops == 5000);
		p.seed = 43;
		c = run(d->name, &p);
		assert_true(c.checksum != a.checksum);
		assert_true(c.ops == 5000);
	}
}

static void test_exact_length(void **state)
{
	(void)state;
	for (const struct eptf_workload_desc *d = eptf_workloads; d->name; d++)
		for (uint64_t n = 1; n < 40; n += 7) {
			struct eptf_workload_params p = params(n, n);

			assert_true(run(d->name, &p).ops == n);
		}
}

static void test_boot(void **state)
{
	struct eptf_workload_params p = params(20000, 1);
	struct stats s = run("boot", &p);

	(void)state;
	assert_int_equal(s.kinds[EPTF_OP_SLOT_ADD], 4);
	assert_int_equal(s.direct_roots, p.nr_vcpus);
	assert_true(s.map_level[1] > 1000);
	assert_true(s.map_level[2] > 10);
	assert_true(s.map_level[3] > 0);
	assert_true(s.kinds[EPTF_OP_ACCESS] > 5000);
	assert_int_equal(s.vcpus_used, p.nr_vcpus);
	assert_int_equal(s.kinds[EPTF_OP_PREPARE_ZAP] + s.kinds[EPTF_OP_GPT_WRITE], 0);
}

static void test_migrate(void **state)
{
	struct eptf_workload_params p = params(30000, 3);
	struct stats s = run("migrate", &p);

	(void)state;
	assert_true(s.dirty_on >= 4 && s.dirty_off >= 4); /* several migrations over 4 slots */
	assert_true(s.kinds[EPTF_OP_CLEAR_DIRTY_LOG] > 1000); /* first%64 and mask != 0 checked per op */
	assert_true(s.kinds[EPTF_OP_GET_DIRTY_LOG] > 0);
	assert_true(s.writes > 5000);
	assert_int_equal(s.map_level[2] + s.map_level[3], 0);
	/* the working set shrinks: the first round clears more blocks than the last */
	assert_true(s.nbatches >= 5);
	assert_true(s.clear_batches[0] > 4 * s.clear_batches[s.nbatches - 1]);
	for (unsigned i = 1; i < s.nbatches; i++)
		assert_true(s.clear_batches[i] <= s.clear_batches[i - 1] + 8);
}

static void test_overcommit(void **state)
{
	struct eptf_workload_params p = params(20000, 4);
	struct stats s = run("overcommit", &p);

	(void)state;
	assert_true(s.kinds[EPTF_OP_CLEAR_FLUSH_YOUNG] > 100);
	assert_true(s.kinds[EPTF_OP_CLEAR_YOUNG] > 20);
	assert_true(s.kinds[EPTF_OP_UNMAP_HVA] > 50);
	assert_true(s.refaults > 100); /* accesses to ranges unmapped before */
	/* locality: most accesses revisit pages (a hot set), so a needless flush costs misses */
	if (s.repeat_accesses <= s.kinds[EPTF_OP_ACCESS] / 2)
		fail_msg("%llu of %llu accesses revisit a page", (unsigned long long)s.repeat_accesses,
			 (unsigned long long)s.kinds[EPTF_OP_ACCESS]);
	assert_true(s.map_level[1] > 0);
}

static void test_shadow(void **state)
{
	struct eptf_workload_params p = params(20000, 5);
	struct stats s = run("shadow", &p);

	(void)state;
	assert_int_equal(s.direct_roots, 0);
	assert_true(s.indirect_roots > p.nr_vcpus); /* context switches */
	assert_true(s.kinds[EPTF_OP_GPT_WRITE] > 1000);
	assert_true(s.gpt_wrprot > 100);       /* fork / mprotect: W removed, same frame */
	assert_true(s.gpt_frame_change > 100); /* copy-on-write breaks: new frame */
	assert_true(s.gpt_clear > 100);        /* munmap, exit */
	assert_true(s.gpt_huge > 10);          /* guest 2 MiB pages: created, forked, copied on write */
	assert_true(s.indirect_huge_maps > 10);
	assert_true(s.kinds[EPTF_OP_SYNC] > 50);
	assert_true(s.prep_indirect > 10);
	assert_int_equal(s.prep_indirect, s.kinds[EPTF_OP_PREPARE_ZAP]);
	for (int l = 1; l <= 4; l++)
		assert_true(s.prep_level[l] > 0); /* a dead process's whole tree */
	assert_true(s.kinds[EPTF_OP_COMMIT_ZAP] > 0);
	assert_true(s.map_level[1] > 100);
	assert_true(s.kinds[EPTF_OP_ACCESS] > 1000);
}

static void test_hugepage(void **state)
{
	struct eptf_workload_params p = params(20000, 6);
	struct stats s = run("hugepage", &p);

	(void)state;
	assert_true(s.map_level[2] > 100);
	assert_true(s.map_level[3] > 50);
	assert_true(s.splits > 100);
	assert_true(s.collapses > 50);
	assert_true(s.kinds[EPTF_OP_SLOT_MOVE] > 10);
	assert_true(s.kinds[EPTF_OP_SLOT_DELETE] > 10);
	assert_true(s.readds > 10);
	assert_true(s.prep_level[1] > 50);
	assert_true(s.prep_level[2] > 10); /* non-leaf pages: their entries are links */
	assert_true(s.prep_level[3] > 0);
	assert_int_equal(s.prep_indirect, 0);
	assert_true(s.kinds[EPTF_OP_COMMIT_ZAP] > 50);
	assert_true(s.kinds[EPTF_OP_ZAP_RANGE] > 50);
	/* a few write-tracked gfns (each blocks huge maps for good), each inside a huge mapping */
	assert_true(s.kinds[EPTF_OP_WP_GFN] >= 8 && s.kinds[EPTF_OP_WP_GFN] <= 32);
	assert_int_equal(s.wp_in_huge, s.kinds[EPTF_OP_WP_GFN]);
}

static void test_mixed(void **state)
{
	struct eptf_workload_params p = params(30000, 7);
	struct stats s = run("mixed", &p);

	(void)state;
	for (uint32_t k = 1; k < EPTF_OP_KIND_COUNT; k++)
		if (!s.kinds[k])
			fail_msg("mixed has no %s", eptf_op_name(k));
	assert_true(s.direct_roots > p.nr_vcpus && s.indirect_roots > 0);
	assert_int_equal(s.vcpus_used, p.nr_vcpus);
	/* no single kind drowns the others */
	for (uint32_t k = 1; k < EPTF_OP_KIND_COUNT; k++)
		assert_true(s.kinds[k] < s.ops * 3 / 4);
}

/* A 1 TiB guest: same checks, small memory, addresses spread over the terabyte. */
static void test_terabyte(void **state)
{
	(void)state;
	for (const struct eptf_workload_desc *d = eptf_workloads; d->name; d++) {
		struct eptf_workload_params p = params(20000, 8);

		p.guest_pages = 1ull << 28;
		struct stats s = run(d->name, &p);
		assert_true(s.ops == 20000);
		if (strcmp(d->name, "shadow"))
			assert_true(s.max_gfn > (1ull << 26)); /* beyond the first 256 GiB */
	}
}

static void test_small_guest_one_vcpu(void **state)
{
	(void)state;
	for (const struct eptf_workload_desc *d = eptf_workloads; d->name; d++) {
		struct eptf_workload_params p = params(10000, 9);

		p.guest_pages = 1024;
		p.nr_vcpus = 1;
		assert_true(run(d->name, &p).ops == 10000);
		p.nr_vcpus = 64;
		p.guest_pages = 1ull << 21;
		assert_true(run(d->name, &p).ops == 10000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_and_params),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_exact_length),
		cmocka_unit_test(test_boot),
		cmocka_unit_test(test_migrate),
		cmocka_unit_test(test_overcommit),
		cmocka_unit_test(test_shadow),
		cmocka_unit_test(test_hugepage),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_terabyte),
		cmocka_unit_test(test_small_guest_one_vcpu),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
