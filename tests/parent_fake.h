// SPDX-License-Identifier: BSD-2-Clause
/*
 * A fake L1 translation table for the parent-model tests (test_parent_cache,
 * test_parent_checker): a list of leaf mappings the tests add and mutate,
 * later ones winning, so those tests do not depend on the MMU model.
 * fake_xlate is the eptf_xlate_fn handed to eptf_parent_create with the
 * struct fake as its context. Include after <cmocka.h>.
 */
#ifndef EPTF_TESTS_PARENT_FAKE_H
#define EPTF_TESTS_PARENT_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <eptflush/error.h>
#include <eptflush/parent.h>

/* Mappings one fake holds; a test may define a smaller table before the include. */
#ifndef PARENT_FAKE_MAPS
#define PARENT_FAKE_MAPS 4096
#endif

/* One leaf mapping of L1's table. */
struct fmap {
	uint64_t root;  /* the root whose walks see it */
	uint64_t base;  /* first input page it maps, aligned to its level */
	uint64_t frame; /* the page @base maps to */
	uint8_t level;  /* 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB */
	bool w, x;      /* writable, executable */
	bool live;      /* false once the test unmaps it */
};

struct fake {
	struct fmap m[PARENT_FAKE_MAPS];
	size_t n;       /* entries of @m in use */
	uint64_t calls; /* fake_xlate calls: the walks the parent made */
};

/* The newest live mapping of @addr under @root, or EPTF_ENOENT. Counts the call. */
static inline int fake_xlate(void *ctx, uint64_t root, uint64_t addr, struct eptf_xlate *out)
{
	struct fake *f = ctx;

	f->calls++;
	for (size_t i = f->n; i-- > 0;) {
		const struct fmap *m = &f->m[i];
		uint64_t span = EPTF_PAGES_PER_LEVEL(m->level);

		if (m->live && m->root == root && addr >= m->base && addr < m->base + span) {
			*out = (struct eptf_xlate){ .frame = m->frame + (addr - m->base), .level = m->level,
						    .writable = m->w, .executable = m->x,
						    .accessed = true };
			return 0;
		}
	}
	return EPTF_ENOENT;
}

/* Add a live mapping (it hides older ones it overlaps); returns it for the test to change later. */
static inline struct fmap *fake_map(struct fake *f, uint64_t root, uint64_t base, unsigned level,
				    uint64_t frame, bool w, bool x)
{
	assert_true(f->n < sizeof(f->m) / sizeof(f->m[0]));
	f->m[f->n] = (struct fmap){ root, base, frame, (uint8_t)level, w, x, true };
	return &f->m[f->n++];
}

#endif
