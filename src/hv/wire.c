/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * TLFS wire formats: the hypercall control word (RCX), the result word (RAX)
 * and the hv_gpa_page_range entry in its 4 KiB and large forms.
 *
 * Sources: Hyper-V TLFS "Hypercall Interface" (control/result layout),
 * Linux include/hyperv/hvgdk_mini.h (HV_HYPERCALL_*_OFFSET, union
 * hv_gpa_page_range, HV_MAX_FLUSH_PAGES, HV_MAX_FLUSH_REP_COUNT); see
 * /work/shared/reference/seed-series.md section 4 and docs/hv-interface.md.
 * Freestanding: no libc.
 */
#include <eptflush/hv.h>

#include "hv/wire_priv.h"

/* The builders store host-order u64 and call that the wire format. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "libeptflush writes input pages in host order: little-endian hosts only");

/*
 * Input page: 16-byte header then 510 8-byte entries = exactly one 4 KiB page
 * (HV_MAX_FLUSH_REP_COUNT = (HV_HYP_PAGE_SIZE - 2 * sizeof(u64)) / 8).
 */
_Static_assert(sizeof(struct eptf_hv_flush_list) == EPTF_HV_PAGE_SIZE,
	       "the flush list is one 4 KiB input page");
_Static_assert(offsetof(struct eptf_hv_flush_list, flags) == 8, "flags at offset 8");
_Static_assert(offsetof(struct eptf_hv_flush_list, gpa_list) == EPTF_HV_LIST_HEADER_SIZE,
	       "gpa_list follows the 16-byte header");
_Static_assert(EPTF_HV_MAX_FLUSH_REP_COUNT ==
		       (EPTF_HV_PAGE_SIZE - EPTF_HV_LIST_HEADER_SIZE) / sizeof(uint64_t),
	       "510 = (4096 - 16) / 8");
_Static_assert(EPTF_HV_MAX_FLUSH_PAGES == (1u << 11), "additional_pages is 11 bits");

/* The control and result word layouts are in wire_priv.h (inline for the hot paths). */

_Static_assert(EPTF_HV_CTL_RESERVED_MASK == ((0x1full << 27) | (0xfull << 44) | (0xfull << 60)),
	       "reserved control bits are 31:27, 47:44, 63:60");
_Static_assert((EPTF_HV_CTL_RESERVED_MASK & EPTF_HV__CTL_FIELDS_MASK) == 0,
	       "control fields and reserved bits do not overlap");
_Static_assert((EPTF_HV_CTL_RESERVED_MASK | EPTF_HV__CTL_FIELDS_MASK) == ~0ull,
	       "control fields and reserved bits cover all 64 bits");

uint64_t eptf_hv_control_build(const struct eptf_hv_control *c)
{
	return eptf_hv__control_build(c);
}

void eptf_hv_control_parse(uint64_t word, struct eptf_hv_control *c)
{
	eptf_hv__control_parse(word, c);
}

_Static_assert(((EPTF_HV__RES_REPS_MASK << EPTF_HV__RES_REPS_SHIFT) & EPTF_HV__RES_STATUS_MASK) == 0,
	       "result fields do not overlap");

uint64_t eptf_hv_result_build(uint16_t status, uint16_t reps_completed)
{
	return eptf_hv__result_build(status, reps_completed);
}

uint16_t eptf_hv_result_status(uint64_t result)
{
	return eptf_hv__result_status(result);
}

uint16_t eptf_hv_result_reps(uint64_t result)
{
	return eptf_hv__result_reps(result);
}

const char *eptf_hv_status_name(uint16_t status)
{
	switch (status) {
	case EPTF_HV_STATUS_SUCCESS:
		return "HV_STATUS_SUCCESS";
	case EPTF_HV_STATUS_INVALID_HYPERCALL_CODE:
		return "HV_STATUS_INVALID_HYPERCALL_CODE";
	case EPTF_HV_STATUS_INVALID_HYPERCALL_INPUT:
		return "HV_STATUS_INVALID_HYPERCALL_INPUT";
	case EPTF_HV_STATUS_INVALID_ALIGNMENT:
		return "HV_STATUS_INVALID_ALIGNMENT";
	case EPTF_HV_STATUS_INVALID_PARAMETER:
		return "HV_STATUS_INVALID_PARAMETER";
	case EPTF_HV_STATUS_ACCESS_DENIED:
		return "HV_STATUS_ACCESS_DENIED";
	case EPTF_HV_STATUS_INVALID_PARTITION_STATE:
		return "HV_STATUS_INVALID_PARTITION_STATE";
	case EPTF_HV_STATUS_OPERATION_DENIED:
		return "HV_STATUS_OPERATION_DENIED";
	case EPTF_HV_STATUS_INSUFFICIENT_MEMORY:
		return "HV_STATUS_INSUFFICIENT_MEMORY";
	case EPTF_HV_STATUS_TIME_OUT:
		return "HV_STATUS_TIME_OUT";
	default:
		return NULL;
	}
}

/*
 * hv_gpa_page_range.
 * Small: 10:0 additional_pages | 11 largepage = 0 | 63:12 basepfn (GPA >> 12)
 * Large: 10:0 additional_pages | 11 largepage = 1 | 12 page_size (0 = 2 MiB,
 *        1 = 1 GiB) | 20:13 reserved | 63:21 base_large_pfn (GPA >> 21)
 */
#define ENT_ADD_MASK 0x7ffull
#define ENT_LARGE_BIT (1ull << 11)
#define ENT_PFN_SHIFT 12
#define ENT_PAGE_SIZE_BIT (1ull << 12)
#define ENT_LARGE_RSVD_MASK (0xffull << 13)
#define ENT_LARGE_PFN_SHIFT 21
_Static_assert(ENT_ADD_MASK + 1 == EPTF_HV_MAX_FLUSH_PAGES, "11-bit additional_pages");
_Static_assert(64 - ENT_PFN_SHIFT == EPTF_HV_FRAME_BITS, "basepfn is 52 bits");
_Static_assert(EPTF_HV_ENTRY_LARGE_RESERVED == ENT_LARGE_RSVD_MASK, "large reserved bits 20:13");
_Static_assert((ENT_ADD_MASK | ENT_LARGE_BIT | ENT_PAGE_SIZE_BIT | ENT_LARGE_RSVD_MASK |
		(~0ull << ENT_LARGE_PFN_SHIFT)) == ~0ull,
	       "large form covers all 64 bits");
_Static_assert(((~0ull << ENT_LARGE_PFN_SHIFT) & ENT_LARGE_RSVD_MASK) == 0,
	       "base_large_pfn starts above the reserved bits");

/* 4 KiB frames per unit: 1, 2 MiB / 4 KiB = 512, 1 GiB / 4 KiB = 262144. */
uint64_t eptf_hv_unit_pages(enum eptf_hv_unit unit)
{
	switch (unit) {
	case EPTF_HV_UNIT_2M:
		return EPTF_HV_PAGES_2M;
	case EPTF_HV_UNIT_1G:
		return EPTF_HV_PAGES_1G;
	default:
		return 1;
	}
}

int eptf_hv_entry_encode(uint64_t gfn, uint32_t units, enum eptf_hv_unit unit, uint64_t *entry)
{
	uint64_t upages, pages;

	if (units < 1 || units > EPTF_HV_MAX_FLUSH_PAGES)
		return EPTF_EINVAL;
	if (unit != EPTF_HV_UNIT_4K && unit != EPTF_HV_UNIT_2M && unit != EPTF_HV_UNIT_1G)
		return EPTF_EINVAL;
	upages = eptf_hv_unit_pages(unit);
	if (gfn & (upages - 1))
		return EPTF_EINVAL;
	pages = (uint64_t)units * upages;
	if (gfn >= EPTF_HV_FRAME_LIMIT || pages > EPTF_HV_FRAME_LIMIT - gfn)
		return EPTF_EGPARANGE;
	if (unit == EPTF_HV_UNIT_4K) {
		*entry = ((uint64_t)(units - 1) & ENT_ADD_MASK) | (gfn << ENT_PFN_SHIFT);
		return 0;
	}
	/* GPA >> 21 == gfn >> 9 */
	*entry = ((uint64_t)(units - 1) & ENT_ADD_MASK) | ENT_LARGE_BIT |
		 (unit == EPTF_HV_UNIT_1G ? ENT_PAGE_SIZE_BIT : 0) |
		 ((gfn >> 9) << ENT_LARGE_PFN_SHIFT);
	return 0;
}

int eptf_hv_entry_decode(uint64_t entry, struct eptf_hv_entry *out)
{
	uint32_t units = (uint32_t)(entry & ENT_ADD_MASK) + 1;

	if (!(entry & ENT_LARGE_BIT)) {
		out->gfn = entry >> ENT_PFN_SHIFT;
		out->pages = units;
		out->unit = EPTF_HV_UNIT_4K;
		out->units = units;
		return 0;
	}
	if (entry & ENT_LARGE_RSVD_MASK)
		return EPTF_EINVAL;
	uint64_t gfn = (entry >> ENT_LARGE_PFN_SHIFT) << 9;
	enum eptf_hv_unit unit = (entry & ENT_PAGE_SIZE_BIT) ? EPTF_HV_UNIT_1G : EPTF_HV_UNIT_2M;
	uint64_t upages = eptf_hv_unit_pages(unit);

	/* A 1 GiB unit must start on a 1 GiB boundary (seed-series.md section 4). */
	if (gfn & (upages - 1))
		return EPTF_EINVAL;
	out->gfn = gfn;
	out->pages = (uint64_t)units * upages;
	out->unit = unit;
	out->units = units;
	return 0;
}
