// SPDX-License-Identifier: BSD-2-Clause
/*
 * Checks shared by the parent-model tests (test_parent_cache,
 * test_parent_checker, test_parent_transport): a group of eptf_parent_stats
 * counters checked in one call from a table, and a run of accesses with the
 * outcome each must have. Both name the failing row, which a bare
 * assert_int_equal in a loop would not. Include after <cmocka.h>.
 */
#ifndef EPTF_TESTS_PARENT_TEST_UTIL_H
#define EPTF_TESTS_PARENT_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <eptflush/parent.h>

static inline struct eptf_parent_stats stats(const struct eptf_parent *p)
{
	struct eptf_parent_stats st;

	eptf_parent_get_stats(p, &st);
	return st;
}

/* One expected counter: where it sits in eptf_parent_stats, its name, its value. */
struct stat_want {
	size_t off;
	const char *name;
	uint64_t want;
};

#define STAT(field, value) { offsetof(struct eptf_parent_stats, field), #field, (value) }

/* Every row of @w, up to the one with no name, must equal that counter of @st. */
static inline void expect_stats_of(const struct eptf_parent_stats *st, const struct stat_want *w)
{
	for (; w->name; w++) {
		uint64_t got;

		memcpy(&got, (const char *)st + w->off, sizeof(got));
		if (got != w->want)
			fail_msg("stats.%s is %llu, want %llu", w->name, (unsigned long long)got,
				 (unsigned long long)w->want);
	}
}

/* expect_stats(p, STAT(hypercalls, 1), STAT(rejected, 0), ...): one snapshot, all rows. */
#define expect_stats(p, ...)                                                                     \
	do {                                                                                     \
		const struct eptf_parent_stats st_ = stats(p);                                   \
		expect_stats_of(&st_, (const struct stat_want[]){ __VA_ARGS__, { 0, NULL, 0 } }); \
	} while (0)

/* One access and the outcome it must have. */
struct access_want {
	uint64_t root, addr;
	bool write, exec;
	enum eptf_access_outcome want;
};

/* A read access (no write, no execute) of @addr under @root that must have outcome @want. */
#define ACC(root, addr, want) { (root), (addr), false, false, (want) }

/* Make the accesses of @a[0..n) in order; each must have its outcome. */
static inline void expect_accesses(struct eptf_parent *p, const struct access_want *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum eptf_access_outcome got =
			eptf_parent_access(p, a[i].root, a[i].addr, a[i].write, a[i].exec);

		if (got != a[i].want)
			fail_msg("access %zu (root %#llx, page %llu): got %d, want %d", i,
				 (unsigned long long)a[i].root, (unsigned long long)a[i].addr, (int)got,
				 (int)a[i].want);
	}
}

/* expect_access_list(p, ACC(R1, 4, EPTF_ACCESS_TLB_HIT), ...): the rows in order. */
#define expect_access_list(p, ...)                                                \
	do {                                                                      \
		const struct access_want a_[] = { __VA_ARGS__ };                  \
		expect_accesses((p), a_, sizeof(a_) / sizeof(a_[0]));             \
	} while (0)

#endif
