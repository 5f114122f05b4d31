/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The pure parts of the capture: descriptor encodings against golden
 * values (checked field by field against the SDM layouts and with
 * objdump for the instructions), the guest's page tables walked by an
 * independent 4-level walker, the IDT/GDT/TSS it installs, the markers
 * and the tracefs line classifier. No /dev/kvm needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/capture.h>
#include <eptflush/error.h>

#include "capture/guest.h"

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- descriptors ---- */

static void test_desc_segments(void **state)
{
	(void)state;
	/* 64-bit kernel code: limit 0xfffff (0xffff + 0xf<<48), type 0xb
	 * (execute/read, accessed), S=1, DPL 0, P=1 -> byte 5 = 0x9b;
	 * L=1, G=1 -> byte 6 = 0xaf */
	assert_int_equal(eptf_desc_seg(0, 0xfffff, 0xb, true, 0, true, false, true),
			 0x00af9b000000ffffull);
	/* the same at DPL 3: byte 5 = 0x80 | 3 << 5 | 0x10 | 0xb = 0xfb */
	assert_int_equal(eptf_desc_seg(0, 0xfffff, 0xb, true, 3, true, false, true),
			 0x00affb000000ffffull);
	/* data read/write accessed (3), D/B=1, G=1 -> byte 6 = 0xcf */
	assert_int_equal(eptf_desc_seg(0, 0xfffff, 0x3, true, 0, false, true, true),
			 0x00cf93000000ffffull);
	assert_int_equal(eptf_desc_seg(0, 0xfffff, 0x3, true, 3, false, true, true),
			 0x00cff3000000ffffull);
	/* base is split 23:0 -> bits 16-39 and 31:24 -> bits 56-63 */
	assert_int_equal(eptf_desc_seg(0xaabbccdd, 0x12345, 0x3, true, 0, false, false, false),
			 0xaa0193bbccdd2345ull);
}

static void test_desc_tss_and_gate(void **state)
{
	uint64_t d[2];

	(void)state;
	/* TSS at 0x3000, limit 0x67: S=0, type 0xb (busy 64-bit TSS), P=1 */
	eptf_desc_tss64(0x3000, 0x67, d);
	assert_int_equal(d[0], 0x00008b0030000067ull);
	assert_int_equal(d[1], 0);
	/* a base above 4 GiB puts bits 63:32 into the second qword */
	eptf_desc_tss64(0x123456789abcull, 0x67, d);
	assert_int_equal(d[0], 0x56008b789abc0067ull);
	assert_int_equal(d[1], 0x1234);
	/* int3 gate: offset 0x4000, selector 0x10, interrupt gate (0xe),
	 * DPL 3, P -> byte 5 = 0x80 | 0x60 | 0x0e = 0xee */
	eptf_desc_gate64(0x4000, 0x10, 0, 0xe, 3, d);
	assert_int_equal(d[0], 0x0000ee0000104000ull);
	assert_int_equal(d[1], 0);
	/* offset split 15:0 / 31:16 (bits 48-63) / 63:32 (second qword), IST */
	eptf_desc_gate64(0xffffffff81234567ull, 0x10, 2, 0xf, 0, d);
	assert_int_equal(d[0], 0x81238f0200104567ull);
	assert_int_equal(d[1], 0xffffffffull);
}

/* ---- emitter, golden bytes checked with objdump -b binary -mi386:x86-64 ---- */

static void test_asm_encodings(void **state)
{
	static const uint8_t want[] = {
	    0x48, 0xbb, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* movabs $..,%rbx */
	    0x49, 0xbc, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* movabs $0x200000,%r12 */
	    0x48, 0x89, 0x1b,						/* mov %rbx,(%rbx) */
	    0x49, 0x89, 0x04, 0x24,					/* mov %rax,(%r12): SIB */
	    0x49, 0x89, 0x4d, 0x00,		      /* mov %rcx,0x0(%r13): disp8 */
	    0x4c, 0x8b, 0x2b,			      /* mov (%rbx),%r13 */
	    0x48, 0x8b, 0x04, 0x24,		      /* mov (%rsp),%rax */
	    0x48, 0x81, 0xc3, 0x00, 0x10, 0x00, 0x00, /* add $0x1000,%rbx */
	    0x48, 0x81, 0xc3, 0xf8, 0xff, 0xff, 0xff, /* add $-8,%rbx */
	    0x4c, 0x39, 0xe3,			      /* cmp %r12,%rbx */
	    0x4d, 0x31, 0xee,			      /* xor %r13,%r14 */
	    0x85, 0xc0,				      /* test %eax,%eax */
	    0x0f, 0x82, 0xbe, 0xff, 0xff, 0xff,	      /* jb 0x0 */
	    0x0f, 0x85, 0x00, 0x00, 0x00, 0x00,	      /* jne 0x48 (next) */
	};
	uint8_t b[256];
	struct eptf_asm a = {.buf = b, .cap = sizeof(b)};
	size_t p;

	(void)state;
	eptf_asm_mov_imm(&a, R_BX, 0x1122334455667788ull);
	eptf_asm_mov_imm(&a, R_12, 0x200000);
	eptf_asm_store(&a, R_BX, R_BX);
	eptf_asm_store(&a, R_12, R_AX);
	eptf_asm_store(&a, R_13, R_CX);
	eptf_asm_load(&a, R_13, R_BX);
	eptf_asm_load(&a, R_AX, R_SP);
	eptf_asm_add_imm(&a, R_BX, 4096);
	eptf_asm_add_imm(&a, R_BX, -8);
	eptf_asm_cmp(&a, R_BX, R_12);
	eptf_asm_xor(&a, R_14, R_13);
	eptf_asm_test_eax(&a);
	eptf_asm_jcc_back(&a, CC_B, 0);
	p = eptf_asm_jcc_fwd(&a, CC_NE);
	eptf_asm_patch(&a, p);
	assert_false(a.overflow);
	assert_int_equal(a.len, sizeof(want));
	assert_memory_equal(b, want, sizeof(want));

	/* a forward jump over 3 bytes gets rel32 = 3 */
	a = (struct eptf_asm){.buf = b, .cap = sizeof(b)};
	p = eptf_asm_jmp_fwd(&a);
	eptf_asm_bytes(&a, "\x90\x90\x90", 3);
	eptf_asm_patch(&a, p);
	assert_int_equal(b[0], 0xe9);
	assert_int_equal(rd64(b + 1) & 0xffffffffu, 3);

	/* overflow sticks and nothing is written past the end */
	a = (struct eptf_asm){.buf = b, .cap = 12};
	memset(b, 0xaa, sizeof(b));
	eptf_asm_mov_imm(&a, R_AX, 1);
	eptf_asm_mov_imm(&a, R_AX, 2);
	assert_true(a.overflow);
	assert_true(a.len <= 12);
	assert_int_equal(b[12], 0xaa);
}

/* ---- the guest image ---- */

struct walk {
	bool present;
	bool user;  /* U=1 at every level */
	bool write; /* W=1 at every level */
	bool huge;  /* a 2 MiB page */
	uint64_t gpa;
};

/* An independent 4-level walk (SDM vol. 3 §4.5) over the image. */
static struct walk walk(const uint8_t *sys, uint64_t cr3, uint64_t gva)
{
	struct walk w = {.user = true, .write = true};
	uint64_t table = cr3 & EPTF_PTE_FRAME;

	for (int level = 4; level >= 1; level--) {
		unsigned idx = (unsigned)(gva >> (12 + 9 * (level - 1))) & 511u;
		uint64_t e;

		assert_true(table + 8 * idx + 8 <= EPTF_G_SYS_SIZE);
		e = rd64(sys + table + 8 * idx);
		if (!(e & EPTF_PTE_P))
			return (struct walk){0};
		w.user = w.user && (e & EPTF_PTE_U);
		w.write = w.write && (e & EPTF_PTE_W);
		/* only the huge slot uses 2 MiB pages (PS in a PDE) */
		assert_true(!(e & EPTF_PTE_PS) || level == 2);
		if (e & EPTF_PTE_PS) {
			w.present = true;
			w.huge = true;
			w.gpa = (e & EPTF_PTE_FRAME & ~0x1fffffull) | (gva & 0x1fffff);
			return w;
		}
		table = e & EPTF_PTE_FRAME;
	}
	w.present = true;
	w.gpa = table | (gva & 0xfff);
	return w;
}

static uint8_t *build(unsigned workloads, uint64_t data, struct eptf_guest_entry *e)
{
	uint8_t *sys = calloc(1, EPTF_G_SYS_SIZE);
	struct eptf_guest_cfg cfg = {.workloads = workloads, .data_bytes = data};

	assert_non_null(sys);
	assert_int_equal(eptf_guest_build(sys, EPTF_G_SYS_SIZE, &cfg, e), 0);
	return sys;
}

static void test_guest_page_tables(void **state)
{
	const uint64_t data = 8ull << 20;
	struct eptf_guest_entry e;
	uint8_t *sys = build(EPTF_CAPTURE_ALL, data, &e);
	struct walk w;

	(void)state;
	assert_int_equal(e.cr3, EPTF_G_PML4);
	/* page 0 stays unmapped (null guard) */
	assert_false(walk(sys, e.cr3, 0x0).present);
	assert_false(walk(sys, e.cr3, 0xfff).present);
	/* every other page of both slots is mapped 1:1 and writable */
	for (uint64_t gva = 0x1000; gva < EPTF_G_DATA + data; gva += 0x1000) {
		w = walk(sys, e.cr3, gva + 0x123);
		assert_true(w.present);
		assert_int_equal(w.gpa, gva + 0x123);
		assert_true(w.write);
		/* system structures are supervisor-only, the rest user */
		assert_int_equal(w.user, gva >= EPTF_G_KSTACK_TOP);
		/* A preset everywhere, D in the system slot only */
		assert_true(rd64(sys + eptf_guest_pte_gpa(gva)) & EPTF_PTE_A);
		assert_int_equal(!!(rd64(sys + eptf_guest_pte_gpa(gva)) & EPTF_PTE_D),
				 gva < EPTF_G_DATA);
	}
	/* nothing past the data slot */
	assert_false(walk(sys, e.cr3, EPTF_G_DATA + data).present);
	assert_false(walk(sys, e.cr3, 0x3ff00000).present);
	/* the alias GiB maps the data slot's second 2 MiB again, through
	 * the alias PD and a PT of its own; nothing else */
	for (uint64_t off = 0; off < (2ull << 20); off += 0x1000) {
		w = walk(sys, e.cr3, EPTF_G_ALIAS + EPTF_G_DATA + (2ull << 20) + off);
		assert_true(w.present && w.user && w.write);
		assert_int_equal(w.gpa, EPTF_G_DATA + (2ull << 20) + off);
	}
	assert_false(walk(sys, e.cr3, EPTF_G_ALIAS + EPTF_G_DATA + 0x5000).present);
	assert_false(walk(sys, e.cr3, EPTF_G_ALIAS + EPTF_G_DATA + (4ull << 20)).present);
	assert_false(walk(sys, e.cr3, EPTF_G_ALIAS + 0x1000).present);
	assert_int_equal(rd64(sys + EPTF_G_PDPT + 8) & EPTF_PTE_FRAME, EPTF_G_PD_ALIAS);
	assert_int_equal(rd64(sys + EPTF_G_PD_ALIAS + 8 * 2) & EPTF_PTE_FRAME, EPTF_G_PT_ALIAS);
	assert_int_equal(rd64(sys + EPTF_G_PT_ALIAS + 8 * 5) & EPTF_PTE_FRAME,
			 EPTF_G_DATA + (2ull << 20) + 0x5000);
	/* the huge slot: 2 MiB pages, 1:1, user-writable; nothing past it */
	for (uint64_t gva = EPTF_G_HUGE; gva < EPTF_G_HUGE + EPTF_G_HUGE_SIZE; gva += 0x3000) {
		w = walk(sys, e.cr3, gva);
		assert_true(w.present && w.huge && w.user && w.write);
		assert_int_equal(w.gpa, gva);
	}
	assert_false(walk(sys, e.cr3, EPTF_G_HUGE + EPTF_G_HUGE_SIZE).present);
	assert_false(walk(sys, e.cr3, EPTF_G_HUGE - 0x1000).present);
	assert_false(walk(sys, e.cr3, EPTF_G_DATA + 0x1000).huge);
	/* the other vCPUs' roots: own PML4s that map exactly the same */
	for (unsigned i = 1; i < EPTF_MAX_VCPUS; i++) {
		uint64_t cr3 = eptf_guest_vcpu_cr3(i);

		assert_int_not_equal(cr3, e.cr3);
		assert_int_equal(rd64(sys + cr3), rd64(sys + e.cr3));
		for (uint64_t gva = 0x8000; gva < EPTF_G_DATA + data; gva += 0x7000)
			assert_int_equal(walk(sys, cr3, gva).gpa, walk(sys, e.cr3, gva).gpa);
		assert_int_equal(eptf_guest_vcpu_rip(i), EPTF_G_UCODE_COMP);
	}
	assert_int_equal(eptf_guest_vcpu_cr3(0), EPTF_G_PML4);
	assert_int_equal(eptf_guest_vcpu_rip(0), EPTF_G_UCODE);
	/* the page tables themselves are user-writable: the program edits them */
	w = walk(sys, e.cr3, eptf_guest_pte_gpa(EPTF_G_DATA));
	assert_true(w.present && w.user && w.write);
	/* eptf_guest_pte_gpa names the PTE the walk used */
	assert_int_equal(rd64(sys + eptf_guest_pte_gpa(EPTF_G_DATA + 0x7000)) & EPTF_PTE_FRAME,
			 EPTF_G_DATA + 0x7000);
	assert_int_equal(eptf_guest_pte_gpa(EPTF_G_DATA), EPTF_G_PT0 + 0x1000);
	assert_int_equal(eptf_guest_pte_gpa(0x5000), EPTF_G_PT0 + 5 * 8);
	free(sys);
}

static void test_guest_descriptors(void **state)
{
	struct eptf_guest_entry e;
	uint8_t *sys = build(1u << EPTF_CAPTURE_TOUCH, EPTF_G_DATA_MIN, &e);
	uint64_t lo, hi;

	(void)state;
	/* selectors 0x10/0x18/0x2b/0x33 index 2/3/5/6; TSS at index 8 */
	assert_int_equal(rd64(sys + EPTF_G_GDT), 0);
	assert_int_equal(rd64(sys + EPTF_G_GDT + (EPTF_SEL_KCODE & ~7)), 0x00af9b000000ffffull);
	assert_int_equal(rd64(sys + EPTF_G_GDT + (EPTF_SEL_KDATA & ~7)), 0x00cf93000000ffffull);
	assert_int_equal(rd64(sys + EPTF_G_GDT + (EPTF_SEL_UDATA & ~7)), 0x00cff3000000ffffull);
	assert_int_equal(rd64(sys + EPTF_G_GDT + (EPTF_SEL_UCODE & ~7)), 0x00affb000000ffffull);
	assert_int_equal(rd64(sys + EPTF_G_GDT + EPTF_SEL_TSS), 0x00008b0030000067ull);
	assert_int_equal(rd64(sys + EPTF_G_GDT + EPTF_SEL_TSS + 8), 0);
	/* TSS per vCPU: RSP0 (offset 4) is its kernel stack top, 2 KiB
	 * apart; no I/O bitmap */
	for (unsigned i = 0; i < EPTF_MAX_VCPUS; i++) {
		uint64_t t = eptf_guest_vcpu_tss(i);

		assert_int_equal(t, EPTF_G_TSS + 0x80 * i);
		assert_int_equal(rd64(sys + t + 4), EPTF_G_KSTACK_TOP - 0x800 * i);
		assert_int_equal(sys[t + 0x66] | sys[t + 0x67] << 8, 0x68);
	}
	/* IDT[3]: DPL3 interrupt gate to the stub; IDT[14]: DPL0 gate */
	lo = rd64(sys + EPTF_G_IDT + 16 * 3);
	hi = rd64(sys + EPTF_G_IDT + 16 * 3 + 8);
	assert_int_equal((lo & 0xffff) | ((lo >> 48) << 16) | (hi << 32), EPTF_G_KCODE);
	assert_int_equal((lo >> 16) & 0xffff, EPTF_SEL_KCODE);
	assert_int_equal((lo >> 40) & 0xf, 0xe);
	assert_int_equal((lo >> 45) & 3, 3);
	assert_int_equal((lo >> 47) & 1, 1);
	lo = rd64(sys + EPTF_G_IDT + 16 * 14);
	assert_int_equal((lo >> 45) & 3, 0);
	assert_int_equal((lo >> 47) & 1, 1);
	/* its handler reports vector 14: mov eax, 14; mov edx, 0xe3; out */
	{
		uint64_t off = (lo & 0xffff) | ((lo >> 48) << 16);
		static const uint8_t want[] = {0xb8, 14, 0, 0,	  0,   0xba, EPTF_PORT_FAULT,
					       0,    0,	 0, 0xef, 0xf4};

		assert_memory_equal(sys + off, want, sizeof(want));
	}
	/* vectors past 31 are not present */
	assert_int_equal((rd64(sys + EPTF_G_IDT + 16 * 32) >> 47) & 1, 0);
	/* the stub starts by dispatching on rax: cmp $1,%rax */
	{
		static const uint8_t want[] = {0x48, 0x83, 0xf8, 0x01};

		assert_memory_equal(sys + EPTF_G_KCODE, want, sizeof(want));
	}
	free(sys);
}

/* Count occurrences of the request sequence "mov rdi, CMD" in the program. */
static unsigned count_cmd(const uint8_t *p, size_t n, unsigned cmd)
{
	unsigned c = 0;

	for (size_t i = 0; i + 10 <= n; i++)
		if (p[i] == 0x48 && p[i + 1] == 0xbf && rd64(p + i + 2) == cmd)
			c++;
	return c;
}

static void test_guest_program(void **state)
{
	struct eptf_guest_entry e;
	uint8_t *sys;
	const uint8_t *u;

	(void)state;
	sys = build(1u << EPTF_CAPTURE_DIRTYLOG, EPTF_G_DATA_MIN, &e);
	u = sys + EPTF_G_UCODE;
	assert_int_equal(e.rip, EPTF_G_UCODE);
	assert_int_equal(e.rsp, EPTF_G_USTACK_TOP);
	assert_true(e.ucode_len > 0 && e.ucode_len <= EPTF_G_UCODE_SIZE);
	/* one phase, one round report, logging on/off once, three harvests */
	assert_int_equal(count_cmd(u, e.ucode_len, EPTF_CMD_PHASE), 1);
	assert_int_equal(count_cmd(u, e.ucode_len, EPTF_CMD_ROUND), 1);
	assert_int_equal(count_cmd(u, e.ucode_len, EPTF_CMD_DIRTY_ON), 1);
	assert_int_equal(count_cmd(u, e.ucode_len, EPTF_CMD_DIRTY_HARVEST), 3);
	assert_int_equal(count_cmd(u, e.ucode_len, EPTF_CMD_DIRTY_OFF), 1);
	assert_int_equal(count_cmd(u, e.ucode_len, EPTF_CMD_MADVISE), 0);
	/* it ends with the exit request and a jmp $ */
	assert_int_equal(u[e.ucode_len - 2], 0xeb);
	assert_int_equal(u[e.ucode_len - 1], 0xfe);
	assert_int_equal(u[e.ucode_len - 3], 0xcc);
	free(sys);

	sys = build(EPTF_CAPTURE_ALL, EPTF_G_DATA_MAX, &e);
	u = sys + EPTF_G_UCODE;
	assert_int_equal(count_cmd(u, e.ucode_len, EPTF_CMD_PHASE), EPTF_CAPTURE_NR);
	/* madvise and huge madvise; dirtylog and huge toggle logging */
	assert_int_equal(count_cmd(u, e.ucode_len, EPTF_CMD_MADVISE), 2);
	assert_int_equal(count_cmd(u, e.ucode_len, EPTF_CMD_DIRTY_ON), 2);
	assert_int_equal(count_cmd(u, e.ucode_len, EPTF_CMD_DIRTY_HARVEST), 5);
	assert_int_equal(count_cmd(u, e.ucode_len, EPTF_CMD_SLOT_RECREATE), 1);
	assert_int_equal(count_cmd(u, e.ucode_len, EPTF_CMD_SPIN), 0);
	assert_int_equal(count_cmd(u, e.ucode_len, EPTF_CMD_AGE), 2);
	/* the other vCPUs' program only reads and spins */
	u = sys + EPTF_G_UCODE_COMP;
	assert_int_equal(count_cmd(u, 0x1000, EPTF_CMD_SPIN), 1);
	assert_int_equal(count_cmd(u, 0x1000, EPTF_CMD_PHASE), 0);
	assert_int_equal(count_cmd(u, 0x1000, EPTF_CMD_MADVISE), 0);
	free(sys);
}

static void test_guest_bad_config(void **state)
{
	uint8_t *sys = calloc(1, EPTF_G_SYS_SIZE);
	struct eptf_guest_entry e;
	struct eptf_guest_cfg cfg = {.workloads = 1, .data_bytes = EPTF_G_DATA_MIN};

	(void)state;
	assert_non_null(sys);
	assert_int_equal(eptf_guest_build(sys, EPTF_G_SYS_SIZE - 1, &cfg, &e), EPTF_EINVAL);
	cfg.data_bytes = EPTF_G_DATA_MIN - (2ull << 20);
	assert_int_equal(eptf_guest_build(sys, EPTF_G_SYS_SIZE, &cfg, &e), EPTF_EINVAL);
	cfg.data_bytes = EPTF_G_DATA_MAX + (2ull << 20);
	assert_int_equal(eptf_guest_build(sys, EPTF_G_SYS_SIZE, &cfg, &e), EPTF_EINVAL);
	cfg.data_bytes = EPTF_G_DATA_MIN + 4096;
	assert_int_equal(eptf_guest_build(sys, EPTF_G_SYS_SIZE, &cfg, &e), EPTF_EINVAL);
	cfg.data_bytes = EPTF_G_DATA_MIN;
	cfg.workloads = 0;
	assert_int_equal(eptf_guest_build(sys, EPTF_G_SYS_SIZE, &cfg, &e), EPTF_EINVAL);
	cfg.workloads = 1u << EPTF_CAPTURE_NR;
	assert_int_equal(eptf_guest_build(sys, EPTF_G_SYS_SIZE, &cfg, &e), EPTF_EINVAL);
	assert_int_equal(eptf_guest_build(NULL, EPTF_G_SYS_SIZE, &cfg, &e), EPTF_EINVAL);
	free(sys);
}

/* ---- markers and names ---- */

static void test_markers(void **state)
{
	char b[160];

	(void)state;
	assert_int_equal(
	    eptf_capture_marker_memslot(b, sizeof(b), 1, 0x200, 0x400, 0x7f0000200000ull, 0),
	    (int)strlen("eptflush: memslot id=1 gfn=0x200 pages=0x400 hva=0x7f0000200000 flags=0"));
	assert_string_equal(
	    b, "eptflush: memslot id=1 gfn=0x200 pages=0x400 hva=0x7f0000200000 flags=0");
	eptf_capture_marker_memslot_flags(b, sizeof(b), 1, 1);
	assert_string_equal(b, "eptflush: memslot-flags id=1 flags=1");
	eptf_capture_marker_vcpus(b, sizeof(b), 1);
	assert_string_equal(b, "eptflush: vcpus 1");
	eptf_capture_marker_vcpu_tid(b, sizeof(b), 0, 4242);
	assert_string_equal(b, "eptflush: vcpu 0 tid=4242");
	eptf_capture_marker_phase(b, sizeof(b), "dirtylog");
	assert_string_equal(b, "eptflush: phase dirtylog");
	eptf_capture_marker_get_dirty(b, sizeof(b), 1);
	assert_string_equal(b, "eptflush: get-dirty-log id=1");
	eptf_capture_marker_clear_dirty(b, sizeof(b), 1, 0x40, 0xffff0000ffff0000ull);
	assert_string_equal(b, "eptflush: clear-dirty-log id=1 first=0x40 mask=0xffff0000ffff0000");
	assert_int_equal(eptf_capture_marker_end(b, sizeof(b)), 13);
	assert_string_equal(b, "eptflush: end");
	/* errors */
	assert_int_equal(eptf_capture_marker_clear_dirty(b, sizeof(b), 1, 0x41, 1), EPTF_EINVAL);
	assert_int_equal(eptf_capture_marker_phase(b, sizeof(b), "two\nlines"), EPTF_EINVAL);
	assert_int_equal(eptf_capture_marker_end(b, 13), EPTF_ENOSPC);
	assert_int_equal(eptf_capture_marker_vcpus(NULL, 0, 1), EPTF_ENOSPC);
}

static void test_workload_names(void **state)
{
	unsigned m = 0;

	(void)state;
	for (unsigned w = 0; w < EPTF_CAPTURE_NR; w++) {
		assert_int_equal(eptf_capture_workload_parse(eptf_capture_workload_name(w), &m), 0);
		assert_int_equal(m, 1u << w);
	}
	assert_int_equal(eptf_capture_workload_parse("all", &m), 0);
	assert_int_equal(m, EPTF_CAPTURE_ALL);
	assert_int_equal(eptf_capture_workload_parse("Touch", &m), EPTF_EINVAL);
	assert_int_equal(eptf_capture_workload_parse("", &m), EPTF_EINVAL);
	assert_null(eptf_capture_workload_name(EPTF_CAPTURE_NR));
}

static void test_event_kind(void **state)
{
	(void)state;
	assert_int_equal(eptf_capture_event_kind("# tracer: nop"), -1);
	assert_int_equal(eptf_capture_event_kind(""), -1);
	assert_int_equal(
	    eptf_capture_event_kind("             drv-16105   [001] ...1.  1183.031140: "
				    "tracing_mark_write: eptflush: vcpus 1\n"),
	    EPTF_CEV_MARKER);
	assert_int_equal(eptf_capture_event_kind(
			     "  drv-1 [000] ...1.  1.5: kvm_mmu_get_page: sp gen 0 gfn 10 l4 "
			     "8-byte q0 wux nxe ad root 0 sync new"),
			 EPTF_CEV_GET_PAGE);
	assert_int_equal(eptf_capture_event_kind("  drv-1 [000] ...1.  1.5: kvm_mmu_zap_all_fast: "
						 "kvm-mmu-valid-gen 0 used_pages 6"),
			 EPTF_CEV_ZAP);
	assert_int_equal(
	    eptf_capture_event_kind("  drv-1 [000] .....  1.5: kvm_mmu_paging_element: pte 11007 "
				    "level 4"),
	    EPTF_CEV_WALK);
	assert_int_equal(eptf_capture_event_kind(
			     "  kdamond.0-77 [001] .....  1.5: kvm_age_hva: mmu notifier age "
			     "hva: 0x7f00 -- 0x7f10"),
			 EPTF_CEV_NOTIFIER);
	assert_int_equal(
	    eptf_capture_event_kind("  drv-1 [000] .....  1.5: kvm_mmu_set_dirty_bit: gpa 14000"),
	    EPTF_CEV_OTHER);
	/* the event name ends at the second ": " of the line */
	assert_int_equal(
	    eptf_capture_event_kind("  a-1 [000] .....  1.5: kvm_mmu_set_spte: gfn 1 spte 2 (rw-u) "
				    "level 1 at ffff"),
	    EPTF_CEV_SET_SPTE);
}

/* The copy keeps everything up to our end marker and cuts (counts) the rest. */
static void test_copy_trace(void **state)
{
	static const char text[] =
	    "# tracer: nop\n"
	    "#\n"
	    "  x-7 [000] ...1.  1.0: tracing_mark_write: eptflush: vcpus 1\n"
	    "  x-7 [000] ...1.  1.1: kvm_mmu_get_page: sp gen 0 gfn 10 l4 8-byte q0 wux nxe ad "
	    "root 0 sync new\n"
	    "  x-7 [000] ...1.  1.2: tracing_mark_write: eptflush: endless is not the end\n"
	    "  x-7 [000] .....  1.3: kvm_mmu_set_spte: gfn 8 spte 1 (r--u) level 1 at ffff0000\n"
	    "  x-7 [000] ...1.  1.4: tracing_mark_write: eptflush: end\n"
	    "  kworker-9 [001] ...1.  1.5: kvm_mmu_prepare_zap_page: sp gen 0 gfn 10 l4 8-byte q0 "
	    "wux nxe ad root 0 sync\n"
	    "  kworker-9 [001] ...1.  1.6: kvm_mmu_prepare_zap_page: sp gen 0 gfn 11 l3 8-byte q0 "
	    "wux nxe ad root 0 sync\n";
	struct eptf_capture_stats st;
	char out[2048] = {0};
	FILE *in, *o;
	const char *cut;

	(void)state;
	memset(&st, 0, sizeof(st));
	in = fmemopen((void *)(uintptr_t)text, sizeof(text) - 1, "r");
	o = fmemopen(out, sizeof(out) - 1, "w");
	assert_non_null(in);
	assert_non_null(o);
	assert_int_equal(eptf_capture_copy_trace(in, o, &st), 1);
	fclose(in);
	fclose(o);
	cut = strstr(text, "  kworker-9");
	assert_non_null(cut);
	assert_int_equal(strlen(out), (size_t)(cut - text));
	assert_memory_equal(out, text, strlen(out));
	assert_int_equal(st.lines, 5);
	assert_int_equal(st.events[EPTF_CEV_MARKER], 3);
	assert_int_equal(st.events[EPTF_CEV_GET_PAGE], 1);
	assert_int_equal(st.events[EPTF_CEV_SET_SPTE], 1);
	assert_int_equal(st.events[EPTF_CEV_ZAP], 0);
	assert_int_equal(st.cut_lines, 2);

	/* without the end marker: 0, everything copied */
	memset(&st, 0, sizeof(st));
	in = fmemopen((void *)(uintptr_t)text,
		      (size_t)(strstr(text, "  x-7 [000] ...1.  1.4") - text), "r");
	o = fmemopen(out, sizeof(out) - 1, "w");
	assert_int_equal(eptf_capture_copy_trace(in, o, &st), 0);
	fclose(in);
	fclose(o);
	assert_int_equal(st.cut_lines, 0);
	assert_int_equal(st.lines, 4);
}

/* Options are checked before anything touches the system. */
static void test_run_bad_options(void **state)
{
	struct eptf_capture_opts o = {
	    .seconds = 1, .memory = 3ull << 20, .raw_path = "/nonexistent/x"};
	struct eptf_capture_stats st;
	char msg[256] = "";

	(void)state;
	assert_int_equal(eptf_capture_run(&o, &st, msg, sizeof(msg), NULL), EPTF_EINVAL);
	assert_non_null(strstr(msg, "multiple of 2 MiB"));
	o.memory = 4ull << 20;
	o.seconds = 0;
	assert_int_equal(eptf_capture_run(&o, &st, msg, sizeof(msg), NULL), EPTF_EINVAL);
	o.seconds = 1;
	o.raw_path = NULL;
	assert_int_equal(eptf_capture_run(&o, &st, msg, sizeof(msg), NULL), EPTF_EINVAL);
	o.raw_path = "/nonexistent/x";
	o.workloads = 1u << EPTF_CAPTURE_NR;
	assert_int_equal(eptf_capture_run(&o, &st, msg, sizeof(msg), NULL), EPTF_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_desc_segments),     cmocka_unit_test(test_desc_tss_and_gate),
	    cmocka_unit_test(test_asm_encodings),     cmocka_unit_test(test_guest_page_tables),
	    cmocka_unit_test(test_guest_descriptors), cmocka_unit_test(test_guest_program),
	    cmocka_unit_test(test_guest_bad_config),  cmocka_unit_test(test_markers),
	    cmocka_unit_test(test_workload_names),    cmocka_unit_test(test_event_kind),
	    cmocka_unit_test(test_copy_trace),	      cmocka_unit_test(test_run_bad_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
