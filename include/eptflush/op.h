/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Operations: one KVM operation or one L2 access. Every source (synthetic
 * workload, kernel-trace import, live capture) produces a stream of these,
 * the op trace format (docs/trace-format.md) stores them one per line, and
 * the replay engine applies them to the L1 model.
 *
 * Address spaces: a direct (TDP) root translates gfns; an indirect (shadow)
 * root translates guest-virtual page numbers (gva >> 12) through L2's own
 * page tables. "input page" below means whichever the root translates.
 */
#ifndef EPTFLUSH_OP_H
#define EPTFLUSH_OP_H

#include <stdint.h>

enum eptf_op_kind {
	EPTF_OP_NONE = 0,
	EPTF_OP_SLOT_ADD,     /* slot, addr = base gfn, count = pages, value = hva (bytes), flags = EPTF_SLOTF_* */
	EPTF_OP_SLOT_DELETE,  /* slot */
	EPTF_OP_SLOT_MOVE,    /* slot, addr = new base gfn */
	EPTF_OP_SLOT_FLAGS,   /* slot, flags = new EPTF_SLOTF_* (DIRTY_LOG on write-protects the slot) */
	EPTF_OP_ROOT_LOAD,    /* vcpu; flags & EPTF_OPF_DIRECT: direct root of address space addr (0 or 1);
			       * else indirect root for guest CR3 table gfn addr */
	EPTF_OP_MAP,          /* vcpu, addr = input page, level 1..3, flags W/X: KVM fault-in */
	EPTF_OP_ACCESS,       /* vcpu, addr = input page, flags W/X: an L2 access through the parent */
	EPTF_OP_ZAP_RANGE,    /* addr = gfn, count = pages: kvm_zap_gfn_range */
	EPTF_OP_PREPARE_ZAP,  /* addr = sp gfn, level = sp level 1..4, flags DIRECT: every matching page
			       * goes on the invalid list (kvm_mmu_prepare_zap_page) */
	EPTF_OP_COMMIT_ZAP,   /* flush for and free the invalid list (kvm_mmu_commit_zap_page) */
	EPTF_OP_GET_DIRTY_LOG,   /* slot: harvest and re-protect (KVM_GET_DIRTY_LOG) */
	EPTF_OP_CLEAR_DIRTY_LOG, /* slot, addr = first page in slot (multiple of 64), value = 64-bit mask
				  * (KVM_CLEAR_DIRTY_LOG, manual protect) */
	EPTF_OP_WP_GFN,       /* addr = gfn: write-track one gfn (kvm_slot_page_track_add_page) */
	EPTF_OP_CLEAR_FLUSH_YOUNG, /* addr = hva start, count = hva end (bytes, exclusive) */
	EPTF_OP_CLEAR_YOUNG,       /* same range; never flushes */
	EPTF_OP_UNMAP_HVA,    /* addr = hva start, count = hva end: MMU-notifier invalidate */
	EPTF_OP_GPT_WRITE,    /* L2 writes its page table: addr = table gfn, count = index 0..511,
			       * value = guest PTE (EPTF_GPTE_*) */
	EPTF_OP_SYNC,         /* vcpu: sync the unsync pages under its root (kvm_mmu_sync_roots) */
	EPTF_OP_KIND_COUNT,
};

/* op flags */
#define EPTF_OPF_WRITE 0x01u
#define EPTF_OPF_EXEC 0x02u
#define EPTF_OPF_DIRECT 0x04u

/* memslot flags (KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY) */
#define EPTF_SLOTF_DIRTY_LOG 0x01u
#define EPTF_SLOTF_READONLY 0x02u

/* Memslot ids are KVM's: (address space << 16) | id. */
#define EPTF_SLOT_AS(slot) ((slot) >> 16)
#define EPTF_SLOT_ID(slot) ((slot) & 0xffffu)

/* Guest (L2) page-table entries written by EPTF_OP_GPT_WRITE: x86-64 layout. */
#define EPTF_GPTE_PRESENT (1ull << 0)
#define EPTF_GPTE_WRITABLE (1ull << 1)
#define EPTF_GPTE_HUGE (1ull << 7) /* PS: maps 2 MiB at level 2, 1 GiB at level 3 */
#define EPTF_GPTE_NX (1ull << 63)
#define EPTF_GPTE_FRAME_MASK 0x000ffffffffff000ull /* gfn << 12 */

struct eptf_op {
	uint32_t kind; /* enum eptf_op_kind */
	uint32_t vcpu;
	uint32_t slot;
	uint8_t level;
	uint8_t flags;
	uint64_t addr;
	uint64_t count;
	uint64_t value;
};

/* Trace-format name of @kind ("map", "commit_zap", ...), or NULL. */
const char *eptf_op_name(uint32_t kind);
/* The kind named @name, or EPTF_OP_NONE. */
uint32_t eptf_op_kind_by_name(const char *name);

#endif
