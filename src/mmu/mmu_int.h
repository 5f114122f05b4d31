/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Private helpers of the L1 model (src/mmu only).
 */
#ifndef EPTF_MMU_INT_H
#define EPTF_MMU_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * An open-addressing hash map from u64 keys to u64 values (linear probing,
 * backward-shift deletion, so no tombstones accumulate). UINT64_MAX is the
 * empty marker and may not be used as a key. Memory is charged to *bytes so
 * that eptf_mmu_get_stats() can report the model's footprint.
 */
#define EPTF_U64MAP_EMPTY UINT64_MAX

struct eptf_u64map {
	uint64_t *keys;
	uint64_t *vals;
	size_t cap; /* power of two, or 0 before the first insert */
	size_t n;   /* keys in use */
};

/* Insert or replace; 0 or EPTF_ENOMEM. */
int eptf_u64map_put(struct eptf_u64map *m, uint64_t key, uint64_t val, uint64_t *bytes);
/* Remove @key; true if it was present. */
bool eptf_u64map_del(struct eptf_u64map *m, uint64_t key);
void eptf_u64map_free(struct eptf_u64map *m, uint64_t *bytes);

/* The mixing step shared by every hash in the model (splitmix64's finaliser). */
static inline uint64_t eptf_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static inline size_t eptf_u64map_slot(const struct eptf_u64map *m, uint64_t key)
{
	return (size_t)eptf_mix64(key) & (m->cap - 1);
}

/*
 * true and *val (may be NULL) when @key is present. Inline: the fault
 * path asks the write-track and guest-table maps several times per fault.
 */
static inline bool eptf_u64map_get(const struct eptf_u64map *m, uint64_t key, uint64_t *val)
{
	if (!m->cap)
		return false;
	for (size_t i = eptf_u64map_slot(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key) {
			if (val)
				*val = m->vals[i];
			return true;
		}
		if (m->keys[i] == EPTF_U64MAP_EMPTY)
			return false;
	}
}

#endif
