/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The capture guest, built as bytes by C: descriptors, page tables, the
 * CPL0 stub and the user-mode workload program. Pure: no system calls, so
 * the unit tests check it bit by bit. Layout and protocol: docs/capture.md.
 *
 * Why user mode: under the PVM vendor module guest CPL0 code is emulated
 * one instruction at a time and takes no shadow page faults, so every
 * memory-touching loop runs at CPL3 and enters the stub through int3 (a
 * DPL3 interrupt gate) only for privileged work.
 */
#ifndef EPTF_CAPTURE_GUEST_H
#define EPTF_CAPTURE_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guest-physical layout of the system slot (slot 0, identity mapped). */
#define EPTF_G_SYS_SIZE 0x200000ull /* 2 MiB: one page table maps it */
#define EPTF_G_GDT 0x1000ull
#define EPTF_G_IDT 0x2000ull
#define EPTF_G_TSS 0x3000ull
#define EPTF_G_KCODE 0x4000ull	    /* int3 stub, then the fault stubs */
#define EPTF_G_KSTACK_TOP 0x8000ull /* 0x5000..0x7fff: RSP0 of vCPU i = top - 0x800 * i */
#define EPTF_G_UCODE 0x8000ull	    /* vCPU 0's user program (the workloads) */
#define EPTF_G_UCODE_SIZE 0x3000ull /* vCPU 0's program */
#define EPTF_G_UCODE_COMP 0xb000ull /* the other vCPUs' program, up to 4 KiB */
/*
 * Up to EPTF_MAX_VCPUS vCPUs. vCPU i > 0 has its own PML4 (a copy of
 * vCPU 0's, so a root of its own over the same lower tables), its own TSS
 * (EPTF_G_TSS + 0x80 * i) and kernel stack (RSP0 = KSTACK_TOP - 0x800 * i).
 */
#define EPTF_MAX_VCPUS 4u
#define EPTF_G_PML4_COMP 0x1f0000ull /* + 0x1000 * i for vCPU i > 0 */
#define EPTF_G_USTACK_TOP 0x10000ull /* 0xc000..0xffff: 4 KiB per vCPU (unused by the programs) */
#define EPTF_G_PML4 0x10000ull
#define EPTF_G_PDPT 0x11000ull
#define EPTF_G_PD 0x12000ull
#define EPTF_G_PT0 0x13000ull /* the page table of the system slot; data PTs follow */
/* The data slot (slot 1) starts at 2 MiB; its PTs are at PT0 + 4 KiB * (1 + i). */
#define EPTF_G_DATA 0x200000ull
/*
 * A second PD, PDPT[1], maps the data slot's second 2 MiB (PD index
 * ALIAS_CHUNK) again at GVA 1 GiB + gpa, through a PT of its own.
 */
#define EPTF_G_PD_ALIAS 0x1ff000ull
#define EPTF_G_PT_ALIAS 0x1fe000ull
#define EPTF_G_ALIAS (1ull << 30)
#define EPTF_G_ALIAS_CHUNK 2ull
/*
 * The huge slot (slot 2): 8 MiB at 768 MiB, mapped by the guest with
 * 2 MiB pages (PD entries with PS) and backed by transparent huge pages.
 */
#define EPTF_G_HUGE 0x30000000ull
#define EPTF_G_HUGE_SIZE (8ull << 20)
#define EPTF_G_DATA_MIN (4ull << 20)
#define EPTF_G_DATA_MAX (512ull << 20)

/* Selectors, Linux's x86-64 layout (arch/x86/include/asm/segment.h). */
#define EPTF_SEL_KCODE 0x10
#define EPTF_SEL_KDATA 0x18
#define EPTF_SEL_UDATA 0x2b /* index 5, RPL 3 */
#define EPTF_SEL_UCODE 0x33 /* index 6, RPL 3 */
#define EPTF_SEL_TSS 0x40   /* index 8, 16 bytes */
#define EPTF_GDT_ENTRIES 10

/* I/O ports of the stub protocol (docs/capture.md). */
#define EPTF_PORT_CMD 0xe0   /* out: eax = command, rsi/r8/r9 = arguments */
#define EPTF_PORT_REPLY 0xe1 /* in: 0 = go on, 1 = stop this workload */
#define EPTF_PORT_EXIT 0xe2  /* out: the guest is done, hlt follows */
#define EPTF_PORT_FAULT 0xe3 /* out: eax = exception vector, hlt follows */

/* int3 stub operations: user code puts one in rax before int3. */
enum eptf_stub_op {
	EPTF_STUB_EXIT = 0,    /* out EXIT; hlt */
	EPTF_STUB_INVLPG = 1,  /* invlpg [rdi] */
	EPTF_STUB_CR3 = 2,     /* mov cr3, cr3: flush all non-global translations */
	EPTF_STUB_REQUEST = 3, /* out CMD (eax = edi), in REPLY into eax */
};

/* Commands to the VMM (value written to EPTF_PORT_CMD). */
enum eptf_guest_cmd {
	EPTF_CMD_PHASE = 1,	    /* rsi = workload: begin it */
	EPTF_CMD_ROUND = 2,	    /* rsi = workload: a round ended; reply 1 to stop */
	EPTF_CMD_DIRTY_ON = 3,	    /* rsi = slot (1 or 2): set KVM_MEM_LOG_DIRTY_PAGES */
	EPTF_CMD_DIRTY_HARVEST = 4, /* rsi = slot: KVM_GET_DIRTY_LOG then KVM_CLEAR_DIRTY_LOG */
	EPTF_CMD_DIRTY_OFF = 5,	    /* rsi = slot: clear KVM_MEM_LOG_DIRTY_PAGES */
	EPTF_CMD_MADVISE = 6, /* rsi = offset, r8 = bytes, r9 = slot (1 or 2): MADV_DONTNEED */
	EPTF_CMD_AGE = 7,     /* rsi = milliseconds to idle (DAMON ages meanwhile) */
	EPTF_CMD_SLOT_RECREATE = 8, /* delete slot 1 and create it again at the same place */
	EPTF_CMD_SPIN = 9, /* vCPU > 0: a round ended; VMM waits 20 ms, replies 1 to stop */
};

/* Page-table entry bits (Intel SDM vol. 3 §4.5, table 4-19/4-20). */
#define EPTF_PTE_P (1ull << 0)
#define EPTF_PTE_W (1ull << 1)
#define EPTF_PTE_U (1ull << 2)
#define EPTF_PTE_A (1ull << 5)
#define EPTF_PTE_D (1ull << 6)
#define EPTF_PTE_PS (1ull << 7) /* in a PDE: maps a 2 MiB page */
#define EPTF_PTE_FRAME 0x000ffffffffff000ull

/* Segment descriptor fields (SDM vol. 3 §3.4.5, figure 3-8). */
uint64_t eptf_desc_seg(uint32_t base, uint32_t limit, unsigned type, bool s, unsigned dpl, bool l,
		       bool db, bool g);
/* 64-bit TSS descriptor, 16 bytes (SDM vol. 3 §8.2.3): lo, hi. */
void eptf_desc_tss64(uint64_t base, uint32_t limit, uint64_t out[2]);
/* 64-bit interrupt/trap gate, 16 bytes (SDM vol. 3 §6.14.1): lo, hi. */
void eptf_desc_gate64(uint64_t offset, uint16_t sel, unsigned ist, unsigned type, unsigned dpl,
		      uint64_t out[2]);

/* A byte buffer with an x86-64 emitter; overflow sticks and is checked once. */
struct eptf_asm {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

/* General registers by their encoding number. */
enum {
	R_AX,
	R_CX,
	R_DX,
	R_BX,
	R_SP,
	R_BP,
	R_SI,
	R_DI,
	R_8,
	R_9,
	R_10,
	R_11,
	R_12,
	R_13,
	R_14,
	R_15
};
/* Condition codes for jcc (low nibble of 0F 8x). */
enum { CC_B = 0x2, CC_AE = 0x3, CC_E = 0x4, CC_NE = 0x5 };

void eptf_asm_bytes(struct eptf_asm *a, const void *p, size_t n);
void eptf_asm_mov_imm(struct eptf_asm *a, unsigned reg, uint64_t imm); /* mov r64, imm64 */
void eptf_asm_store(struct eptf_asm *a, unsigned base, unsigned src);  /* mov [base], src */
void eptf_asm_load(struct eptf_asm *a, unsigned dst, unsigned base);   /* mov dst, [base] */
void eptf_asm_add_imm(struct eptf_asm *a, unsigned reg, int32_t imm);  /* add r64, imm32 */
void eptf_asm_xor(struct eptf_asm *a, unsigned dst, unsigned src);     /* xor dst, src */
void eptf_asm_cmp(struct eptf_asm *a, unsigned x, unsigned y);	       /* cmp x, y */
void eptf_asm_test_eax(struct eptf_asm *a);			       /* test eax, eax */
/* jcc rel32 to @target (an offset already emitted: backward jumps). */
void eptf_asm_jcc_back(struct eptf_asm *a, unsigned cc, size_t target);
/* jcc rel32 forward: returns the patch position for eptf_asm_patch(). */
size_t eptf_asm_jcc_fwd(struct eptf_asm *a, unsigned cc);
size_t eptf_asm_jmp_fwd(struct eptf_asm *a);
/* Point the forward jump at @pos to the current position. */
void eptf_asm_patch(struct eptf_asm *a, size_t pos);

/* What the guest program does. */
struct eptf_guest_cfg {
	unsigned workloads;  /* bit mask of enum eptf_capture_workload */
	uint64_t data_bytes; /* data slot size: multiple of 2 MiB, DATA_MIN..DATA_MAX */
};

/* Where vCPU @i (< EPTF_MAX_VCPUS) starts: cr3, TSS base and rip. */
uint64_t eptf_guest_vcpu_cr3(unsigned i);
uint64_t eptf_guest_vcpu_tss(unsigned i);
uint64_t eptf_guest_vcpu_rip(unsigned i);

/* Where the vCPU starts. */
struct eptf_guest_entry {
	uint64_t rip, rsp, cr3;
	size_t ucode_len; /* bytes of user program emitted */
};

/*
 * Build the whole system slot into @sys (EPTF_G_SYS_SIZE bytes, zeroed by
 * the caller): GDT, IDT, TSS, stubs, user program, page tables mapping the
 * system slot and the data slot 1:1. Returns 0, EPTF_EINVAL for a bad cfg,
 * EPTF_ENOSPC if the program does not fit.
 */
int eptf_guest_build(uint8_t *sys, size_t sys_size, const struct eptf_guest_cfg *cfg,
		     struct eptf_guest_entry *entry);

/* Guest-physical address of the leaf PTE that maps @gva (which must be
 * inside the system or data slot). */
uint64_t eptf_guest_pte_gpa(uint64_t gva);

#endif
