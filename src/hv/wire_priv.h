/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The control and result words and the Linux filler as inline functions,
 * for the hot paths of src/hv (rep.c, validate.c) and src/flush (common.c).
 * wire.c and linux.c define the public functions with these, so the layout
 * is written once. Freestanding: no libc.
 */
#ifndef EPTF_HV_WIRE_PRIV_H
#define EPTF_HV_WIRE_PRIV_H

#include <eptflush/hv.h>

/*
 * Control word:
 *  15:0 call code | 16 fast | 26:17 varhead (8-byte units) | 31:27 RsvdZ
 *  43:32 rep count | 47:44 RsvdZ | 59:48 rep start | 63:60 RsvdZ
 */
#define EPTF_HV__CTL_CODE_MASK 0xffffull
#define EPTF_HV__CTL_FAST_BIT (1ull << 16)
#define EPTF_HV__CTL_VARHEAD_SHIFT 17
#define EPTF_HV__CTL_VARHEAD_MASK 0x3ffull /* 10 bits */
#define EPTF_HV__CTL_REP_COUNT_SHIFT 32
#define EPTF_HV__CTL_REP_START_SHIFT 48
#define EPTF_HV__CTL_REP_MASK 0xfffull /* 12 bits each */
/* every bit some field holds (the rest is EPTF_HV_CTL_RESERVED_MASK) */
#define EPTF_HV__CTL_FIELDS_MASK                                                                        \
	(EPTF_HV__CTL_CODE_MASK | EPTF_HV__CTL_FAST_BIT |                                               \
	 (EPTF_HV__CTL_VARHEAD_MASK << EPTF_HV__CTL_VARHEAD_SHIFT) |                                    \
	 (EPTF_HV__CTL_REP_MASK << EPTF_HV__CTL_REP_COUNT_SHIFT) |                                      \
	 (EPTF_HV__CTL_REP_MASK << EPTF_HV__CTL_REP_START_SHIFT))

/* Result word: 15:0 HV_STATUS | 31:16 RsvdZ | 43:32 reps completed | 63:44 RsvdZ */
#define EPTF_HV__RES_STATUS_MASK 0xffffull
#define EPTF_HV__RES_REPS_SHIFT 32
#define EPTF_HV__RES_REPS_MASK 0xfffull

static inline uint64_t eptf_hv__control_build(const struct eptf_hv_control *c)
{
	uint64_t w = 0;

	w |= (uint64_t)c->code & EPTF_HV__CTL_CODE_MASK;
	if (c->fast)
		w |= EPTF_HV__CTL_FAST_BIT;
	w |= ((uint64_t)c->varhead_size & EPTF_HV__CTL_VARHEAD_MASK) << EPTF_HV__CTL_VARHEAD_SHIFT;
	w |= ((uint64_t)c->rep_count & EPTF_HV__CTL_REP_MASK) << EPTF_HV__CTL_REP_COUNT_SHIFT;
	w |= ((uint64_t)c->rep_start & EPTF_HV__CTL_REP_MASK) << EPTF_HV__CTL_REP_START_SHIFT;
	return w;
}

static inline void eptf_hv__control_parse(uint64_t word, struct eptf_hv_control *c)
{
	c->code = (uint16_t)(word & EPTF_HV__CTL_CODE_MASK);
	c->fast = (word & EPTF_HV__CTL_FAST_BIT) != 0;
	c->varhead_size = (uint16_t)((word >> EPTF_HV__CTL_VARHEAD_SHIFT) & EPTF_HV__CTL_VARHEAD_MASK);
	c->rep_count = (uint16_t)((word >> EPTF_HV__CTL_REP_COUNT_SHIFT) & EPTF_HV__CTL_REP_MASK);
	c->rep_start = (uint16_t)((word >> EPTF_HV__CTL_REP_START_SHIFT) & EPTF_HV__CTL_REP_MASK);
	c->reserved = word & EPTF_HV_CTL_RESERVED_MASK;
}

static inline uint64_t eptf_hv__result_build(uint16_t status, uint16_t reps_completed)
{
	return ((uint64_t)status & EPTF_HV__RES_STATUS_MASK) |
	       (((uint64_t)reps_completed & EPTF_HV__RES_REPS_MASK) << EPTF_HV__RES_REPS_SHIFT);
}

static inline uint16_t eptf_hv__result_status(uint64_t result)
{
	return (uint16_t)(result & EPTF_HV__RES_STATUS_MASK);
}

static inline uint16_t eptf_hv__result_reps(uint64_t result)
{
	return (uint16_t)((result >> EPTF_HV__RES_REPS_SHIFT) & EPTF_HV__RES_REPS_MASK);
}

/*
 * eptf_hv_fill_linux() (linux.c has the reasoning): the Linux filler with
 * the seed's offset, erroring where Linux would misbehave.
 */
static inline int eptf_hv__fill_linux(struct eptf_hv_flush_list *list, int offset, uint64_t start_gfn,
				      uint64_t pages)
{
	uint64_t cur = start_gfn;
	int gpa_n = offset;

	if (offset < 0 || offset > (int)EPTF_HV_MAX_FLUSH_REP_COUNT)
		return EPTF_EBADOFFSET;
	if (pages == 0)
		return EPTF_EEMPTY;
	if (start_gfn >= EPTF_HV_FRAME_LIMIT || pages > EPTF_HV_FRAME_LIMIT - start_gfn)
		return EPTF_EGPARANGE;
	if (pages <= EPTF_HV_MAX_FLUSH_PAGES) {
		/* one entry (almost every range: an SPTE of 4 KiB or 2 MiB): the loop below, once */
		if (gpa_n >= (int)EPTF_HV_MAX_FLUSH_REP_COUNT)
			return EPTF_ENOSPC;
		list->gpa_list[gpa_n] = (pages - 1) | (cur << 12);
		return gpa_n + 1;
	}

	do {
		if (gpa_n >= (int)EPTF_HV_MAX_FLUSH_REP_COUNT)
			return EPTF_ENOSPC;
		uint64_t n = pages < EPTF_HV_MAX_FLUSH_PAGES ? pages : EPTF_HV_MAX_FLUSH_PAGES;

		/* additional_pages 10:0 = n - 1, largepage 11 = 0, basepfn 63:12 */
		list->gpa_list[gpa_n] = (n - 1) | (cur << 12);
		pages -= n;
		cur += n;
		gpa_n++;
	} while (pages > 0);
	return gpa_n;
}

#endif
