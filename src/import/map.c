/* SPDX-License-Identifier: BSD-2-Clause */
/* A u64-keyed open-addressing hash map for src/import. */
#include <stdlib.h>
#include <string.h>

#include <eptflush/error.h>

#include "imp.h"

char imp_map_tomb_;

/* Fibonacci hashing spreads keys that differ only in low page bits. */
static size_t slot_of(uint64_t key, size_t cap)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

/* The slot holding @key, or (size_t)-1 when it is absent. */
static size_t find(const struct imp_map *m, uint64_t key)
{
	if (!m->cap)
		return (size_t)-1;
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		void *v = m->vals[i];
		if (!v)
			return (size_t)-1;
		if (v != IMP_MAP_TOMB && m->keys[i] == key)
			return i;
	}
}

void *imp_map_get(const struct imp_map *m, uint64_t key)
{
	size_t i = find(m, key);

	return i == (size_t)-1 ? NULL : m->vals[i];
}

static int grow(struct imp_map *m)
{
	/* Rehash into a table at most half full of live entries. */
	size_t ncap = m->cap ? m->cap : 64;
	while (ncap < (m->live + 1) * 4)
		ncap *= 2;
	uint64_t *nk = calloc(ncap, sizeof(*nk));
	void **nv = calloc(ncap, sizeof(*nv));
	if (!nk || !nv) {
		free(nk);
		free(nv);
		return EPTF_ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		void *v = m->vals[i];
		if (!v || v == IMP_MAP_TOMB)
			continue;
		size_t j = slot_of(m->keys[i], ncap);
		while (nv[j])
			j = (j + 1) & (ncap - 1);
		nk[j] = m->keys[i];
		nv[j] = v;
	}
	free(m->keys);
	free(m->vals);
	m->keys = nk;
	m->vals = nv;
	m->cap = ncap;
	m->used = m->live;
	return 0;
}

int imp_map_put(struct imp_map *m, uint64_t key, void *val)
{
	if ((m->used + 1) * 4 > m->cap * 3) {
		int err = grow(m);
		if (err)
			return err;
	}
	size_t tomb = (size_t)-1;
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		void *v = m->vals[i];
		if (!v) {
			if (tomb != (size_t)-1)
				i = tomb;
			else
				m->used++;
			m->keys[i] = key;
			m->vals[i] = val;
			m->live++;
			return 0;
		}
		if (v == IMP_MAP_TOMB) {
			if (tomb == (size_t)-1)
				tomb = i;
		} else if (m->keys[i] == key) {
			m->vals[i] = val;
			return 0;
		}
	}
}

void *imp_map_del(struct imp_map *m, uint64_t key)
{
	size_t i = find(m, key);
	void *v;

	if (i == (size_t)-1)
		return NULL;
	v = m->vals[i];
	m->vals[i] = IMP_MAP_TOMB;
	m->live--;
	return v;
}

void imp_map_free_all(struct imp_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->vals[i] && m->vals[i] != IMP_MAP_TOMB)
			free(m->vals[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}
