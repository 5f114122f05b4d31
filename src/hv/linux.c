/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The Linux-compatible list filler: the semantics of
 * hyperv_fill_flush_guest_mapping_list() (arch/x86/hyperv/nested.c) with the
 * seed's offset parameter (patch 1 of the series), written from its
 * documented behaviour (seed-series.md sections 4 and 7.8):
 *
 *   gpa_n = offset
 *   do {
 *       if (gpa_n >= HV_MAX_FLUSH_REP_COUNT) return -ENOSPC;
 *       additional_pages = min(pages, HV_MAX_FLUSH_PAGES) - 1;
 *       gpa_list[gpa_n] = { additional_pages, largepage = 0, basepfn = cur };
 *       pages -= additional_pages + 1; cur += additional_pages + 1; gpa_n++;
 *   } while (pages > 0);
 *   return gpa_n;
 *
 * Where Linux would misbehave (negative offset: writes before the array,
 * defect 3 of the series; pages == 0: the do/while underflows to 2^64 - 1;
 * basepfn past 52 bits: silently truncated by the bit field) we return a
 * distinct error instead and leave the list untouched.
 */
#include <eptflush/hv.h>

int eptf_hv_fill_linux(struct eptf_hv_flush_list *list, int offset, uint64_t start_gfn,
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
