// SPDX-License-Identifier: BSD-2-Clause
/*
 * The cost model's defaults, in cycles. Each cites its source or says
 * plainly that it is an assumption; docs/cost-model.md has the same table
 * with the reasoning. References are to /work/shared/reference/
 * anchors-and-costs.md (§2 "Cost figures" and its "Gaps").
 */
#include <stddef.h>
#include <string.h>

#include <eptflush/error.h>
#include <eptflush/parent.h>

/*
 * hypercall: one nested exit round trip. KVM on Hyper-V measured an L2
 * CPUID loop at 18,890 cycles per exit, 8,304 with the enlightened VMCS
 * (V. Kuznetsov, "x86/kvm: use Enlightened VMCS when running on Hyper-V",
 * 2018; anchors §2). A hypercall from L1 is a single-level L1->L0 exit and
 * may well be cheaper; we take the measured nested figure as the
 * conservative anchor the brief asks for.
 */
#define COST_HYPERCALL 8304u

/*
 * list_entry: L0's work per list entry: decode it and walk the shadow
 * tables over the range. No published figure (anchors §2 Gaps: latency of
 * HvCallFlushGuestPhysicalAddressList is unknown). ASSUMPTION: one
 * INVLPG-class operation, 260 cycles (Ingo Molnar 2015, anchors §1).
 */
#define COST_LIST_ENTRY 260u

/*
 * full_flush: the fixed part of dropping a root's shadow EPT (the per-entry
 * part is entry_drop, the rebuild is paid by later EPT violations).
 * INVEPT latency is a Gap. ASSUMPTION: the measured average of a full host
 * TLB flush, 2,283 cycles (Dave Hansen 2014, anchors §1), stands for the
 * INVEPT single-context Hyper-V issues.
 */
#define COST_FULL_FLUSH 2283u

/*
 * ept_violation: the L2 exit to L0 plus the resync of one EPT02 entry.
 * exit: 8,304 cycles as for hypercall (same source). resync: L0 walks L1's
 * 4-level EPT in software through its own 4-level tables, a 2D walk of 24
 * references (Bhargava et al., ASPLOS'08) at the assumed 20 cycles each
 * (see tlb_miss_walk) = 480, plus the install of the shadow entry,
 * ASSUMED equal to entry_drop (50). 8,304 + 480 + 50 = 8,834.
 */
#define COST_EPT_VIOLATION 8834u

/*
 * tlb_miss_walk: a hardware 2D walk of EPT02 after a TLB miss: up to 24
 * memory references (Bhargava et al., ASPLOS'08; anchors §2) times an
 * ASSUMED 20 cycles per reference (walks mostly hit the paging-structure
 * caches and L1/L2 data caches; no figure in our references).
 * 24 x 20 = 480.
 */
#define COST_TLB_MISS_WALK 480u

/*
 * entry_drop: clearing one shadow EPT entry and freeing its bookkeeping.
 * No published figure. ASSUMPTION: 50 cycles, a few stores and a cache
 * miss's worth of bookkeeping; small next to a violation by design, so
 * that the rebuild (ept_violation) and not the drop dominates a full flush,
 * as the seed's cover letter argues (anchors §0 "Why it pays off").
 */
#define COST_ENTRY_DROP 50u

const char *const eptf_cost_model_keys[] = {
	"hypercall", "list_entry", "full_flush", "ept_violation", "tlb_miss_walk", "entry_drop", NULL,
};

void eptf_cost_model_default(struct eptf_cost_model *cm)
{
	cm->hypercall = COST_HYPERCALL;
	cm->list_entry = COST_LIST_ENTRY;
	cm->full_flush = COST_FULL_FLUSH;
	cm->ept_violation = COST_EPT_VIOLATION;
	cm->tlb_miss_walk = COST_TLB_MISS_WALK;
	cm->entry_drop = COST_ENTRY_DROP;
}

/* The field of key @i, in eptf_cost_model_keys order; NULL past the end. */
static uint64_t *field(struct eptf_cost_model *cm, size_t i)
{
	switch (i) {
	case 0: return &cm->hypercall;
	case 1: return &cm->list_entry;
	case 2: return &cm->full_flush;
	case 3: return &cm->ept_violation;
	case 4: return &cm->tlb_miss_walk;
	case 5: return &cm->entry_drop;
	default: return NULL;
	}
}

int eptf_cost_model_set(struct eptf_cost_model *cm, const char *key, uint64_t value)
{
	if (!key)
		return EPTF_EINVAL;
	for (size_t i = 0; eptf_cost_model_keys[i]; i++) {
		uint64_t *f = field(cm, i);

		if (f && strcmp(key, eptf_cost_model_keys[i]) == 0) {
			*f = value;
			return 0;
		}
	}
	return EPTF_ENOENT;
}

uint64_t eptf_cost_model_get(const struct eptf_cost_model *cm, size_t key_index)
{
	struct eptf_cost_model tmp = *cm;
	uint64_t *f = field(&tmp, key_index);

	return f ? *f : 0;
}
