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
 * distinct error instead and leave the list untouched. The body is
 * eptf_hv__fill_linux() in wire_priv.h, which src/flush inlines.
 */
#include <eptflush/hv.h>

#include "hv/wire_priv.h"

int eptf_hv_fill_linux(struct eptf_hv_flush_list *list, int offset, uint64_t start_gfn,
		       uint64_t pages)
{
	return eptf_hv__fill_linux(list, offset, start_gfn, pages);
}
