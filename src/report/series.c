/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Bounded sampling of a "flushes over time" series. A run may have millions
 * of flush points; a chart needs a few hundred. Decimation by halving keeps
 * the points evenly spread without knowing the run length in advance, and
 * keeps memory at @cap points whatever the trace length.
 */
#include <stdlib.h>
#include <string.h>

#include <eptflush/error.h>
#include <eptflush/report.h>

int eptf_series_init(struct eptf_series *s, size_t cap)
{
	memset(s, 0, sizeof(*s));
	if (cap == 0)
		cap = EPTF_SERIES_MAX_POINTS;
	if (cap < 4)
		cap = 4;
	s->x = calloc(cap, sizeof(*s->x));
	s->y = calloc(cap, sizeof(*s->y));
	if (!s->x || !s->y) {
		eptf_series_free(s);
		return EPTF_ENOMEM;
	}
	s->cap = cap;
	s->stride = 1;
	return 0;
}

/* Keep every other point (the even ones), so the first point survives. */
static void halve(struct eptf_series *s)
{
	size_t j = 0;

	for (size_t i = 0; i < s->n; i += 2, j++) {
		s->x[j] = s->x[i];
		s->y[j] = s->y[i];
	}
	s->n = j;
	s->stride *= 2;
}

void eptf_series_add(struct eptf_series *s, uint64_t x, uint64_t y)
{
	if (!s->cap)
		return;
	s->last_x = x;
	s->last_y = y;
	s->have_last = true;
	/* Keep the offered points whose ordinal is a multiple of the stride. */
	if (s->offered++ % s->stride)
		return;
	if (s->n == s->cap)
		halve(s);
	/* After halving, this ordinal may no longer be on the (doubled) grid. */
	if ((s->offered - 1) % s->stride)
		return;
	s->x[s->n] = x;
	s->y[s->n] = y;
	s->n++;
}

void eptf_series_finish(struct eptf_series *s)
{
	if (!s->cap || !s->have_last)
		return;
	if (s->n && s->x[s->n - 1] == s->last_x && s->y[s->n - 1] == s->last_y)
		return;
	if (s->n == s->cap)
		s->n--; /* replace the newest: the end of the run matters more */
	s->x[s->n] = s->last_x;
	s->y[s->n] = s->last_y;
	s->n++;
}

void eptf_series_free(struct eptf_series *s)
{
	free(s->x);
	free(s->y);
	memset(s, 0, sizeof(*s));
}
