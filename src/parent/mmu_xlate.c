// SPDX-License-Identifier: BSD-2-Clause
/*
 * The parent's view of L1's tables through the real MMU model. Kept in its
 * own object so that programs using the parent with another translator (the
 * unit tests' fake tables) do not pull in the MMU.
 */
#include <eptflush/mmu.h>
#include <eptflush/parent.h>

int eptf_parent_xlate_mmu(void *mmu, uint64_t root_hpa, uint64_t addr, struct eptf_xlate *out)
{
	return eptf_mmu_translate(mmu, root_hpa, addr, out);
}
