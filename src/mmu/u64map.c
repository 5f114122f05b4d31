/* SPDX-License-Identifier: BSD-2-Clause */
#include <stdlib.h>

#include <eptflush/error.h>

#include "mmu_int.h"

static size_t slot_of(const struct eptf_u64map *m, uint64_t key)
{
	return eptf_u64map_slot(m, key);
}

static int grow(struct eptf_u64map *m, uint64_t *bytes)
{
	size_t ncap = m->cap ? m->cap * 2 : 16;
	uint64_t *nk = malloc(ncap * sizeof(*nk));
	uint64_t *nv = malloc(ncap * sizeof(*nv));

	if (!nk || !nv) {
		free(nk);
		free(nv);
		return EPTF_ENOMEM;
	}
	for (size_t i = 0; i < ncap; i++)
		nk[i] = EPTF_U64MAP_EMPTY;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->keys[i] == EPTF_U64MAP_EMPTY)
			continue;
		size_t j = (size_t)eptf_mix64(m->keys[i]) & (ncap - 1);
		while (nk[j] != EPTF_U64MAP_EMPTY)
			j = (j + 1) & (ncap - 1);
		nk[j] = m->keys[i];
		nv[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	*bytes += (ncap - m->cap) * 2 * sizeof(uint64_t);
	m->keys = nk;
	m->vals = nv;
	m->cap = ncap;
	return 0;
}

int eptf_u64map_put(struct eptf_u64map *m, uint64_t key, uint64_t val, uint64_t *bytes)
{
	/* keep the load at or below 1/2 so probes stay short */
	if ((m->n + 1) * 2 > m->cap) {
		int err = grow(m, bytes);
		if (err)
			return err;
	}
	size_t i = slot_of(m, key);
	while (m->keys[i] != EPTF_U64MAP_EMPTY && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	if (m->keys[i] == EPTF_U64MAP_EMPTY) {
		m->keys[i] = key;
		m->n++;
	}
	m->vals[i] = val;
	return 0;
}

bool eptf_u64map_del(struct eptf_u64map *m, uint64_t key)
{
	if (!m->cap)
		return false;
	size_t mask = m->cap - 1;
	size_t i = slot_of(m, key);
	while (m->keys[i] != key) {
		if (m->keys[i] == EPTF_U64MAP_EMPTY)
			return false;
		i = (i + 1) & mask;
	}
	/* backward shift: move later members of the probe run into the hole */
	size_t hole = i;
	for (size_t j = (i + 1) & mask; m->keys[j] != EPTF_U64MAP_EMPTY; j = (j + 1) & mask) {
		size_t home = slot_of(m, m->keys[j]);
		/* j may fill the hole iff its home is not cyclically within (hole, j] */
		bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
		if (stays)
			continue;
		m->keys[hole] = m->keys[j];
		m->vals[hole] = m->vals[j];
		hole = j;
	}
	m->keys[hole] = EPTF_U64MAP_EMPTY;
	m->n--;
	return true;
}

void eptf_u64map_free(struct eptf_u64map *m, uint64_t *bytes)
{
	*bytes -= m->cap * 2 * sizeof(uint64_t);
	free(m->keys);
	free(m->vals);
	m->keys = m->vals = NULL;
	m->cap = m->n = 0;
}
