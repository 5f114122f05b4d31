/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The capture guest as bytes: descriptors, page tables, the CPL0 stub and
 * the user-mode workload program. Encodings follow the Intel SDM vol. 2
 * (instruction formats) and vol. 3 (descriptors, paging); each emitter
 * names the form it encodes.
 */
#include <assert.h>
#include <string.h>

#include <eptflush/capture.h>
#include <eptflush/error.h>

#include "capture/guest.h"

/* ---- descriptors ---- */

/*
 * Code/data segment descriptor (SDM vol. 3 figure 3-8):
 *   limit 15:0 -> bits 0-15, base 23:0 -> bits 16-39, type -> bits 40-43,
 *   S -> 44, DPL -> 45-46, P -> 47, limit 19:16 -> 48-51, AVL 52, L 53,
 *   D/B 54, G 55, base 31:24 -> bits 56-63. P is always set here.
 */
uint64_t eptf_desc_seg(uint32_t base, uint32_t limit, unsigned type, bool s, unsigned dpl, bool l,
		       bool db, bool g)
{
	uint64_t d = 0;

	d |= (uint64_t)(limit & 0xffffu);
	d |= (uint64_t)(base & 0xffffffu) << 16;
	d |= (uint64_t)(type & 0xfu) << 40;
	d |= (uint64_t)(s ? 1 : 0) << 44;
	d |= (uint64_t)(dpl & 3u) << 45;
	d |= 1ull << 47;
	d |= (uint64_t)((limit >> 16) & 0xfu) << 48;
	d |= (uint64_t)(l ? 1 : 0) << 53;
	d |= (uint64_t)(db ? 1 : 0) << 54;
	d |= (uint64_t)(g ? 1 : 0) << 55;
	d |= (uint64_t)((base >> 24) & 0xffu) << 56;
	return d;
}

/*
 * 64-bit TSS descriptor (SDM vol. 3 figure 8-4): the low 8 bytes are a
 * system-segment descriptor (S = 0, type 9 available / 11 busy, DPL 0),
 * the high 8 bytes hold base 63:32 in bits 0-31, the rest reserved zero.
 */
void eptf_desc_tss64(uint64_t base, uint32_t limit, uint64_t out[2])
{
	out[0] = eptf_desc_seg((uint32_t)base, limit, 0xb, false, 0, false, false, false);
	out[1] = base >> 32;
}

/*
 * 64-bit IDT gate (SDM vol. 3 figure 6-8): offset 15:0 -> bits 0-15,
 * selector -> 16-31, IST -> 32-34, type -> 40-43 (0xe interrupt, 0xf trap),
 * DPL -> 45-46, P -> 47, offset 31:16 -> 48-63; high qword: offset 63:32.
 */
void eptf_desc_gate64(uint64_t offset, uint16_t sel, unsigned ist, unsigned type, unsigned dpl,
		      uint64_t out[2])
{
	uint64_t lo = 0;

	lo |= offset & 0xffffull;
	lo |= (uint64_t)sel << 16;
	lo |= (uint64_t)(ist & 7u) << 32;
	lo |= (uint64_t)(type & 0xfu) << 40;
	lo |= (uint64_t)(dpl & 3u) << 45;
	lo |= 1ull << 47;
	lo |= ((offset >> 16) & 0xffffull) << 48;
	out[0] = lo;
	out[1] = offset >> 32;
}

/* ---- emitter ---- */

void eptf_asm_bytes(struct eptf_asm *a, const void *p, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void put8(struct eptf_asm *a, unsigned b)
{
	uint8_t v = (uint8_t)b;

	eptf_asm_bytes(a, &v, 1);
}

static void put32(struct eptf_asm *a, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	eptf_asm_bytes(a, b, 4);
}

/* REX prefix: 0100 W R X B (SDM vol. 2 §2.2.1). */
static void rex(struct eptf_asm *a, bool w, unsigned reg, unsigned rm)
{
	put8(a, 0x40 | (w ? 8u : 0u) | ((reg >> 3) & 1u) << 2 | ((rm >> 3) & 1u));
}

/* ModRM for [base] with no displacement: mod 00, except that rm = 100
 * needs a SIB byte (0x24: base only) and rm = 101 means RIP-relative, so
 * rbp/r13 take mod 01 with a zero disp8. */
static void modrm_mem(struct eptf_asm *a, unsigned reg, unsigned base)
{
	unsigned rm = base & 7u;

	if (rm == 5) {
		put8(a, 0x40 | (reg & 7u) << 3 | rm);
		put8(a, 0);
	} else if (rm == 4) {
		put8(a, (reg & 7u) << 3 | rm);
		put8(a, 0x24);
	} else {
		put8(a, (reg & 7u) << 3 | rm);
	}
}

/* REX.W B8+rd io: mov r64, imm64. */
void eptf_asm_mov_imm(struct eptf_asm *a, unsigned reg, uint64_t imm)
{
	rex(a, true, 0, reg);
	put8(a, 0xb8 + (reg & 7u));
	put32(a, (uint32_t)imm);
	put32(a, (uint32_t)(imm >> 32));
}

/* REX.W 89 /r: mov r/m64, r64. */
void eptf_asm_store(struct eptf_asm *a, unsigned base, unsigned src)
{
	rex(a, true, src, base);
	put8(a, 0x89);
	modrm_mem(a, src, base);
}

/* REX.W 8B /r: mov r64, r/m64. */
void eptf_asm_load(struct eptf_asm *a, unsigned dst, unsigned base)
{
	rex(a, true, dst, base);
	put8(a, 0x8b);
	modrm_mem(a, dst, base);
}

/* REX.W 81 /0 id: add r/m64, imm32 (mod 11). */
void eptf_asm_add_imm(struct eptf_asm *a, unsigned reg, int32_t imm)
{
	rex(a, true, 0, reg);
	put8(a, 0x81);
	put8(a, 0xc0 | (reg & 7u));
	put32(a, (uint32_t)imm);
}

/* REX.W 31 /r: xor r/m64, r64 (mod 11, rm = dst). */
void eptf_asm_xor(struct eptf_asm *a, unsigned dst, unsigned src)
{
	rex(a, true, src, dst);
	put8(a, 0x31);
	put8(a, 0xc0 | (src & 7u) << 3 | (dst & 7u));
}

/* REX.W 39 /r: cmp r/m64, r64 computes x - y with rm = x, reg = y. */
void eptf_asm_cmp(struct eptf_asm *a, unsigned x, unsigned y)
{
	rex(a, true, y, x);
	put8(a, 0x39);
	put8(a, 0xc0 | (y & 7u) << 3 | (x & 7u));
}

/* 85 /r: test r/m32, r32 with eax, eax. */
void eptf_asm_test_eax(struct eptf_asm *a)
{
	put8(a, 0x85);
	put8(a, 0xc0);
}

/* 0F 8x cd: jcc rel32, relative to the end of the 6-byte instruction. */
void eptf_asm_jcc_back(struct eptf_asm *a, unsigned cc, size_t target)
{
	put8(a, 0x0f);
	put8(a, 0x80 | (cc & 0xfu));
	put32(a, (uint32_t)(int32_t)((int64_t)target - (int64_t)(a->len + 4)));
}

size_t eptf_asm_jcc_fwd(struct eptf_asm *a, unsigned cc)
{
	put8(a, 0x0f);
	put8(a, 0x80 | (cc & 0xfu));
	put32(a, 0);
	return a->len - 4;
}

/* E9 cd: jmp rel32. */
size_t eptf_asm_jmp_fwd(struct eptf_asm *a)
{
	put8(a, 0xe9);
	put32(a, 0);
	return a->len - 4;
}

void eptf_asm_patch(struct eptf_asm *a, size_t pos)
{
	uint32_t rel;

	if (a->overflow || pos + 4 > a->len)
		return;
	rel = (uint32_t)(int32_t)((int64_t)a->len - (int64_t)(pos + 4));
	a->buf[pos] = (uint8_t)rel;
	a->buf[pos + 1] = (uint8_t)(rel >> 8);
	a->buf[pos + 2] = (uint8_t)(rel >> 16);
	a->buf[pos + 3] = (uint8_t)(rel >> 24);
}

/* ---- the CPL0 stub ---- */

/* 48 CF: iretq. */
static const uint8_t op_iretq[] = {0x48, 0xcf};

static void stub_cmp_rax(struct eptf_asm *a, uint8_t v)
{
	const uint8_t b[] = {0x48, 0x83, 0xf8, v}; /* REX.W 83 /7 ib: cmp rax, imm8 */

	eptf_asm_bytes(a, b, sizeof(b));
}

static void stub_mov_edx(struct eptf_asm *a, uint32_t port)
{
	put8(a, 0xba); /* BA+rd id: mov edx, imm32 */
	put32(a, port);
}

/*
 * The int3 handler. Clobbers rax, rcx, rdx (the user program's contract);
 * returns with iretq. Only instructions KVM's emulator handles at CPL0.
 */
static void emit_stub(struct eptf_asm *a)
{
	static const uint8_t invlpg_rdi[] = {0x0f, 0x01, 0x3f};	    /* 0F 01 /7: invlpg [rdi] */
	static const uint8_t cr3_reload[] = {0x0f, 0x20, 0xd9,	    /* 0F 20 /r: mov rcx, cr3 */
					     0x0f, 0x22, 0xd9};	    /* 0F 22 /r: mov cr3, rcx */
	static const uint8_t out_cmd[] = {0x89, 0xf8, 0xef};	    /* mov eax, edi; out dx, eax */
	static const uint8_t in_reply[] = {0xed};		    /* ED: in eax, dx */
	static const uint8_t exit_hlt[] = {0xef, 0xf4, 0xeb, 0xfd}; /* out dx, eax; hlt; jmp hlt */
	size_t j;

	stub_cmp_rax(a, EPTF_STUB_INVLPG);
	j = eptf_asm_jcc_fwd(a, CC_NE);
	eptf_asm_bytes(a, invlpg_rdi, sizeof(invlpg_rdi));
	eptf_asm_bytes(a, op_iretq, sizeof(op_iretq));
	eptf_asm_patch(a, j);

	stub_cmp_rax(a, EPTF_STUB_CR3);
	j = eptf_asm_jcc_fwd(a, CC_NE);
	eptf_asm_bytes(a, cr3_reload, sizeof(cr3_reload));
	eptf_asm_bytes(a, op_iretq, sizeof(op_iretq));
	eptf_asm_patch(a, j);

	stub_cmp_rax(a, EPTF_STUB_REQUEST);
	j = eptf_asm_jcc_fwd(a, CC_NE);
	stub_mov_edx(a, EPTF_PORT_CMD);
	eptf_asm_bytes(a, out_cmd, sizeof(out_cmd));
	stub_mov_edx(a, EPTF_PORT_REPLY);
	eptf_asm_bytes(a, in_reply, sizeof(in_reply));
	eptf_asm_bytes(a, op_iretq, sizeof(op_iretq));
	eptf_asm_patch(a, j);

	/* EPTF_STUB_EXIT and anything unknown */
	stub_mov_edx(a, EPTF_PORT_EXIT);
	eptf_asm_bytes(a, exit_hlt, sizeof(exit_hlt));
}

/* Offset of the fault stubs within KCODE, and the size of each. */
#define FAULT_STUBS 0x200u
#define FAULT_STUB_SIZE 16u

/* Vector @v: mov eax, v; mov edx, PORT_FAULT; out dx, eax; hlt; jmp hlt. */
static void emit_fault_stub(struct eptf_asm *a, unsigned v)
{
	static const uint8_t tail[] = {0xef, 0xf4, 0xeb, 0xfd};

	put8(a, 0xb8);
	put32(a, v);
	stub_mov_edx(a, EPTF_PORT_FAULT);
	eptf_asm_bytes(a, tail, sizeof(tail));
}

/* ---- the user program ---- */

static void u_request3(struct eptf_asm *a, unsigned cmd, uint64_t a0, uint64_t a1, uint64_t a2)
{
	eptf_asm_mov_imm(a, R_AX, EPTF_STUB_REQUEST);
	eptf_asm_mov_imm(a, R_DI, cmd);
	eptf_asm_mov_imm(a, R_SI, a0);
	eptf_asm_mov_imm(a, R_8, a1);
	eptf_asm_mov_imm(a, R_9, a2);
	put8(a, 0xcc); /* int3 */
}

static void u_request(struct eptf_asm *a, unsigned cmd, uint64_t a0, uint64_t a1)
{
	u_request3(a, cmd, a0, a1, 0);
}

static void u_stub(struct eptf_asm *a, unsigned op)
{
	eptf_asm_mov_imm(a, R_AX, op);
	put8(a, 0xcc);
}

/* for (rbx = start; rbx < end; rbx += stride) write ? [rbx] = rbx : r13 = [rbx] */
static void u_touch(struct eptf_asm *a, uint64_t start, uint64_t end, uint32_t stride, bool write)
{
	size_t top;

	eptf_asm_mov_imm(a, R_BX, start);
	eptf_asm_mov_imm(a, R_12, end);
	top = a->len;
	if (write)
		eptf_asm_store(a, R_BX, R_BX);
	else
		eptf_asm_load(a, R_13, R_BX);
	eptf_asm_add_imm(a, R_BX, (int32_t)stride);
	eptf_asm_cmp(a, R_BX, R_12);
	eptf_asm_jcc_back(a, CC_B, top);
}

/* Flip bit @mask of every leaf PTE mapping [start, end). */
static void u_pte_xor(struct eptf_asm *a, uint64_t start, uint64_t end, uint64_t mask)
{
	size_t top;

	eptf_asm_mov_imm(a, R_BX, eptf_guest_pte_gpa(start));
	eptf_asm_mov_imm(a, R_12, eptf_guest_pte_gpa(end - 4096) + 8);
	eptf_asm_mov_imm(a, R_13, mask);
	top = a->len;
	eptf_asm_load(a, R_14, R_BX);
	eptf_asm_xor(a, R_14, R_13);
	eptf_asm_store(a, R_BX, R_14);
	eptf_asm_add_imm(a, R_BX, 8);
	eptf_asm_cmp(a, R_BX, R_12);
	eptf_asm_jcc_back(a, CC_B, top);
}

/* invlpg every page of [start, end) through the stub. */
static void u_invlpg(struct eptf_asm *a, uint64_t start, uint64_t end)
{
	size_t top;

	eptf_asm_mov_imm(a, R_BX, start);
	eptf_asm_mov_imm(a, R_12, end);
	top = a->len;
	eptf_asm_mov_imm(a, R_AX, EPTF_STUB_INVLPG);
	{
		const uint8_t mov_rdi_rbx[] = {0x48, 0x89, 0xdf}; /* REX.W 89 /r: mov rdi, rbx */

		eptf_asm_bytes(a, mov_rdi_rbx, sizeof(mov_rdi_rbx));
	}
	put8(a, 0xcc);
	eptf_asm_add_imm(a, R_BX, 4096);
	eptf_asm_cmp(a, R_BX, R_12);
	eptf_asm_jcc_back(a, CC_B, top);
}

/*
 * Write the PDE at guest address @pde four times in a row (clear, restore,
 * clear, restore; what KVM's write-flooding detection counts), then reload
 * cr3. Uses rbx, r13, r14.
 */
static void u_pde_flood(struct eptf_asm *a, uint64_t pde)
{
	eptf_asm_mov_imm(a, R_BX, pde);
	eptf_asm_load(a, R_14, R_BX);
	eptf_asm_mov_imm(a, R_13, 0);
	for (int i = 0; i < 2; i++) {
		eptf_asm_store(a, R_BX, R_13);
		eptf_asm_store(a, R_BX, R_14);
	}
	u_stub(a, EPTF_STUB_CR3);
}

static void u_body(struct eptf_asm *a, unsigned w, uint64_t d, uint64_t m)
{
	const uint64_t two_m = 2ull << 20;
	uint64_t pde;

	switch (w) {
	case EPTF_CAPTURE_TOUCH:
		u_touch(a, d, d + m, 4096, true);
		u_touch(a, d, d + m, 4096, false);
		break;
	case EPTF_CAPTURE_PAGETABLES:
		/* leaf rewrite: swap the frames of neighbouring pages in the
		 * first 2 MiB (PTE bit 12); invlpg the first 16 pages one by
		 * one, then reload cr3 for the rest; touch them */
		u_touch(a, d, d + two_m, 4096, false); /* shadow the PT first */
		u_pte_xor(a, d, d + two_m, 1ull << 12);
		u_invlpg(a, d, d + 16 * 4096);
		u_stub(a, EPTF_STUB_CR3);
		u_touch(a, d, d + two_m, 4096, true);
		/* non-leaf rewrite: write the PDE of the second 2 MiB four
		 * times in a row (clear, restore, clear, restore); a PD page
		 * cannot go unsync, so KVM emulates each write, and repeated
		 * writes trip its write-flooding detection, which zaps the
		 * shadow page; reload cr3 and touch the range again */
		pde = EPTF_G_PD + ((d + two_m) >> 21) * 8;
		u_pde_flood(a, pde);
		u_touch(a, d + two_m, d + 2 * two_m, 4096, true);
		/* the same through the alias PD, which no walk to its own
		 * address passes through: touching a page resets the flood
		 * counter of every shadow page on its walk, so only here do
		 * the writes reach the threshold and zap the page. The alias
		 * has its own PT, so its shadow PT holds leaves of its own:
		 * the zap is a commit of one non-leaf page whose child maps
		 * what the guest just touched (the seed's defect 2) */
		pde = EPTF_G_PD_ALIAS + ((d + two_m) >> 21) * 8;
		u_touch(a, EPTF_G_ALIAS + d + two_m, EPTF_G_ALIAS + d + 2 * two_m, 4096, true);
		u_pde_flood(a, pde);
		u_touch(a, EPTF_G_ALIAS + d + two_m, EPTF_G_ALIAS + d + 2 * two_m, 4096, false);
		/* the VMM deletes and re-creates the data slot: under shadow
		 * paging KVM zaps everything (kvm_mmu_zap_all_fast) */
		u_request(a, EPTF_CMD_SLOT_RECREATE, 0, 0);
		u_touch(a, d, d + m, 4096, false);
		break;
	case EPTF_CAPTURE_DIRTYLOG:
		u_request(a, EPTF_CMD_DIRTY_ON, 1, 0);
		u_touch(a, d, d + m, 8192, true);
		u_request(a, EPTF_CMD_DIRTY_HARVEST, 1, 0);
		u_touch(a, d + 4096, d + m, 8192, true);
		u_request(a, EPTF_CMD_DIRTY_HARVEST, 1, 0);
		u_touch(a, d, d + m, 4096, true);
		u_request(a, EPTF_CMD_DIRTY_HARVEST, 1, 0);
		u_request(a, EPTF_CMD_DIRTY_OFF, 1, 0);
		u_touch(a, d, d + m, 4096, true);
		break;
	case EPTF_CAPTURE_HUGE:
		/* 2 MiB guest pages over transparent huge pages: KVM can map
		 * them with 2 MiB SPTEs. Dirty logging write-protects them and
		 * maps 4 KiB pieces on write faults; turning it off lets them
		 * be collapsed again; madvise of 1 MiB inside one splits the
		 * host huge page and unmaps that part */
		u_touch(a, EPTF_G_HUGE, EPTF_G_HUGE + EPTF_G_HUGE_SIZE, 4096, true);
		u_request(a, EPTF_CMD_DIRTY_ON, 2, 0);
		u_touch(a, EPTF_G_HUGE, EPTF_G_HUGE + EPTF_G_HUGE_SIZE, 65536, true);
		u_request(a, EPTF_CMD_DIRTY_HARVEST, 2, 0);
		u_touch(a, EPTF_G_HUGE + 4096, EPTF_G_HUGE + EPTF_G_HUGE_SIZE, 65536, true);
		u_request(a, EPTF_CMD_DIRTY_HARVEST, 2, 0);
		u_request(a, EPTF_CMD_DIRTY_OFF, 2, 0);
		u_touch(a, EPTF_G_HUGE, EPTF_G_HUGE + EPTF_G_HUGE_SIZE, 4096, false);
		u_request3(a, EPTF_CMD_MADVISE, (2ull << 20) + (512ull << 10), 1ull << 20, 2);
		u_touch(a, EPTF_G_HUGE, EPTF_G_HUGE + EPTF_G_HUGE_SIZE, 4096, true);
		break;
	case EPTF_CAPTURE_MADVISE:
		u_touch(a, d, d + m, 4096, true);
		u_request3(a, EPTF_CMD_MADVISE, 0, m / 2, 1);
		u_touch(a, d, d + m, 4096, false);
		u_touch(a, d, d + m, 4096, true);
		break;
	case EPTF_CAPTURE_AGE:
		u_touch(a, d, d + m / 2, 4096, true);
		u_request(a, EPTF_CMD_AGE, 1000, 0);
		u_touch(a, d, d + m / 4, 4096, false);
		u_request(a, EPTF_CMD_AGE, 1000, 0);
		break;
	default:
		break;
	}
}

static void emit_user(struct eptf_asm *a, const struct eptf_guest_cfg *cfg)
{
	for (unsigned w = 0; w < EPTF_CAPTURE_NR; w++) {
		size_t top;

		if (!(cfg->workloads & (1u << w)))
			continue;
		u_request(a, EPTF_CMD_PHASE, w, 0);
		top = a->len;
		u_body(a, w, EPTF_G_DATA, cfg->data_bytes);
		u_request(a, EPTF_CMD_ROUND, w, 0);
		eptf_asm_test_eax(a);
		eptf_asm_jcc_back(a, CC_E, top);
	}
	u_stub(a, EPTF_STUB_EXIT);
	put8(a, 0xeb); /* EB FE: jmp $ (never reached: the stub halts) */
	put8(a, 0xfe);
}

/*
 * The other vCPUs' program: read the data slot through their own root,
 * then SPIN (the VMM paces them and says when to stop). After vCPU 0's
 * zaps they fault the pages in again under their own root.
 */
static void emit_companion(struct eptf_asm *a, uint64_t d, uint64_t m)
{
	size_t top = a->len;

	u_touch(a, d, d + m, 4096, false);
	u_request(a, EPTF_CMD_SPIN, 0, 0);
	eptf_asm_test_eax(a);
	eptf_asm_jcc_back(a, CC_E, top);
	u_stub(a, EPTF_STUB_EXIT);
	put8(a, 0xeb);
	put8(a, 0xfe);
}

uint64_t eptf_guest_vcpu_cr3(unsigned i)
{
	return i ? EPTF_G_PML4_COMP + 0x1000ull * i : EPTF_G_PML4;
}

uint64_t eptf_guest_vcpu_tss(unsigned i)
{
	return EPTF_G_TSS + 0x80ull * i;
}

uint64_t eptf_guest_vcpu_rip(unsigned i)
{
	return i ? EPTF_G_UCODE_COMP : EPTF_G_UCODE;
}

/* ---- memory image ---- */

uint64_t eptf_guest_pte_gpa(uint64_t gva)
{
	return EPTF_G_PT0 + (gva >> 21) * 0x1000 + ((gva >> 12) & 511) * 8;
}

static void put64le(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static_assert(EPTF_G_PT0 + (1 + (EPTF_G_DATA_MAX >> 21)) * 0x1000 <= EPTF_G_SYS_SIZE,
	      "the page tables for the largest data slot fit in the system slot");
static_assert(EPTF_G_DATA + EPTF_G_DATA_MAX <= (1ull << 30), "one PD (1 GiB) maps everything");
static_assert(EPTF_G_PT0 + (1 + (EPTF_G_DATA_MAX >> 21)) * 0x1000 <= EPTF_G_PML4_COMP + 0x1000 &&
		  EPTF_G_PML4_COMP + 0x1000 * EPTF_MAX_VCPUS <= EPTF_G_PT_ALIAS,
	      "the other vCPUs' PML4s lie between the page tables and the alias PT");
static_assert(EPTF_G_UCODE + EPTF_G_UCODE_SIZE == EPTF_G_UCODE_COMP &&
		  EPTF_G_UCODE_COMP + 0x1000 <= EPTF_G_USTACK_TOP - 0x4000,
	      "the two user programs fit below the user stack");
static_assert(EPTF_G_KSTACK_TOP - 0x800 * EPTF_MAX_VCPUS >= EPTF_G_KCODE + 0x1000,
	      "the kernel stacks stay above the stubs");
static_assert(0x80 * EPTF_MAX_VCPUS <= 0x1000, "the TSSs share one page");
static_assert(EPTF_G_PT0 + (1 + (EPTF_G_DATA_MAX >> 21)) * 0x1000 <= EPTF_G_PT_ALIAS,
	      "the alias PT and PD lie above the page tables");
static_assert(EPTF_G_DATA + EPTF_G_DATA_MAX <= EPTF_G_HUGE &&
		  EPTF_G_HUGE + EPTF_G_HUGE_SIZE <= (1ull << 30),
	      "the huge slot lies between the data slot's end and 1 GiB");
static_assert((EPTF_G_ALIAS_CHUNK << 21) == EPTF_G_DATA + (2ull << 20),
	      "the alias maps the data slot's second 2 MiB, which DATA_MIN covers");

int eptf_guest_build(uint8_t *sys, size_t sys_size, const struct eptf_guest_cfg *cfg,
		     struct eptf_guest_entry *entry)
{
	/*
	 * Non-leaf entries: U=1 at every level. Accessed is set in advance in
	 * every entry (and Dirty in the system slot's leaves) because KVM
	 * sets them with a compare-exchange and walks again when another vCPU
	 * changed the entry meanwhile; that retried walk prints paging
	 * elements without a new kvm_mmu_pagetable_walk line, which the
	 * importer cannot attribute. The data slots keep Dirty clear: only
	 * vCPU 0 writes them, and KVM's setting of D stays in the trace.
	 */
	const uint64_t tbl = EPTF_PTE_P | EPTF_PTE_W | EPTF_PTE_U | EPTF_PTE_A;
	uint64_t nr_pt, g[2];
	struct eptf_asm a;

	if (!sys || !cfg || !entry || sys_size < EPTF_G_SYS_SIZE)
		return EPTF_EINVAL;
	if (cfg->data_bytes < EPTF_G_DATA_MIN || cfg->data_bytes > EPTF_G_DATA_MAX ||
	    cfg->data_bytes % (2ull << 20) || !(cfg->workloads & EPTF_CAPTURE_ALL) ||
	    (cfg->workloads & ~(unsigned)EPTF_CAPTURE_ALL))
		return EPTF_EINVAL;

	/* GDT, Linux's selector layout */
	put64le(sys + EPTF_G_GDT + 8 * 2,
		eptf_desc_seg(0, 0xfffff, 0xb, true, 0, true, false, true));
	put64le(sys + EPTF_G_GDT + 8 * 3,
		eptf_desc_seg(0, 0xfffff, 0x3, true, 0, false, true, true));
	put64le(sys + EPTF_G_GDT + 8 * 5,
		eptf_desc_seg(0, 0xfffff, 0x3, true, 3, false, true, true));
	put64le(sys + EPTF_G_GDT + 8 * 6,
		eptf_desc_seg(0, 0xfffff, 0xb, true, 3, true, false, true));
	eptf_desc_tss64(EPTF_G_TSS, 0x67, g);
	put64le(sys + EPTF_G_GDT + 8 * 8, g[0]);
	put64le(sys + EPTF_G_GDT + 8 * 9, g[1]);

	/* TSS per vCPU: RSP0 at offset 4, I/O map base at 0x66 past the
	 * limit (no bitmap); each vCPU has its own kernel stack */
	for (unsigned i = 0; i < EPTF_MAX_VCPUS; i++) {
		put64le(sys + eptf_guest_vcpu_tss(i) + 4, EPTF_G_KSTACK_TOP - 0x800ull * i);
		put16le(sys + eptf_guest_vcpu_tss(i) + 0x66, 0x68);
	}

	/* stubs */
	a = (struct eptf_asm){.buf = sys + EPTF_G_KCODE, .cap = FAULT_STUBS};
	emit_stub(&a);
	if (a.overflow)
		return EPTF_ENOSPC;
	for (unsigned v = 0; v < 32; v++) {
		a = (struct eptf_asm){.buf = sys + EPTF_G_KCODE + FAULT_STUBS + v * FAULT_STUB_SIZE,
				      .cap = FAULT_STUB_SIZE};
		emit_fault_stub(&a, v);
		if (a.overflow)
			return EPTF_ENOSPC;
	}

	/* IDT: int3 is a DPL3 interrupt gate so that CPL3 may raise it; the
	 * other exceptions are DPL0 gates to the fault stubs */
	for (unsigned v = 0; v < 32; v++) {
		if (v == 3)
			eptf_desc_gate64(EPTF_G_KCODE, EPTF_SEL_KCODE, 0, 0xe, 3, g);
		else
			eptf_desc_gate64(EPTF_G_KCODE + FAULT_STUBS + v * FAULT_STUB_SIZE,
					 EPTF_SEL_KCODE, 0, 0xe, 0, g);
		put64le(sys + EPTF_G_IDT + 16 * v, g[0]);
		put64le(sys + EPTF_G_IDT + 16 * v + 8, g[1]);
	}

	/* user program */
	a = (struct eptf_asm){.buf = sys + EPTF_G_UCODE, .cap = EPTF_G_UCODE_SIZE};
	emit_user(&a, cfg);
	if (a.overflow)
		return EPTF_ENOSPC;
	entry->ucode_len = a.len;
	a = (struct eptf_asm){.buf = sys + EPTF_G_UCODE_COMP, .cap = 0x1000};
	emit_companion(&a, EPTF_G_DATA, cfg->data_bytes);
	if (a.overflow)
		return EPTF_ENOSPC;

	/* page tables: 1:1, 4 KiB leaves; PML4[0] -> PDPT[0] -> PD[k] -> PT k */
	put64le(sys + EPTF_G_PML4, EPTF_G_PDPT | tbl);
	for (unsigned i = 1; i < EPTF_MAX_VCPUS; i++)
		put64le(sys + eptf_guest_vcpu_cr3(i), EPTF_G_PDPT | tbl);
	put64le(sys + EPTF_G_PDPT, EPTF_G_PD | tbl);
	put64le(sys + EPTF_G_PDPT + 8, EPTF_G_PD_ALIAS | tbl);
	nr_pt = 1 + cfg->data_bytes / (2ull << 20);
	for (uint64_t k = 0; k < nr_pt; k++)
		put64le(sys + EPTF_G_PD + 8 * k, (EPTF_G_PT0 + 0x1000 * k) | tbl);
	/* the alias GiB maps the data slot's second 2 MiB again, through a
	 * PT of its own */
	put64le(sys + EPTF_G_PD_ALIAS + 8 * EPTF_G_ALIAS_CHUNK, EPTF_G_PT_ALIAS | tbl);
	for (uint64_t i = 0; i < 512; i++)
		put64le(sys + EPTF_G_PT_ALIAS + 8 * i, ((EPTF_G_ALIAS_CHUNK << 21) + (i << 12)) |
							   EPTF_PTE_P | EPTF_PTE_W | EPTF_PTE_U |
							   EPTF_PTE_A);
	/* the huge slot: 2 MiB pages straight from the PD */
	for (uint64_t gpa = EPTF_G_HUGE; gpa < EPTF_G_HUGE + EPTF_G_HUGE_SIZE; gpa += 2ull << 20)
		put64le(sys + EPTF_G_PD + 8 * (gpa >> 21),
			gpa | EPTF_PTE_P | EPTF_PTE_W | EPTF_PTE_U | EPTF_PTE_PS | EPTF_PTE_A);
	for (uint64_t gpa = 0x1000; gpa < EPTF_G_DATA + cfg->data_bytes; gpa += 0x1000) {
		uint64_t pte = gpa | EPTF_PTE_P | EPTF_PTE_W | EPTF_PTE_A;

		if (gpa < EPTF_G_DATA)
			pte |= EPTF_PTE_D;

		/* GDT, IDT, TSS, stub and kernel stack are supervisor pages;
		 * the rest, page tables included, user-writable so that the
		 * user program can rewrite its own page tables */
		if (gpa >= EPTF_G_KSTACK_TOP)
			pte |= EPTF_PTE_U;
		put64le(sys + eptf_guest_pte_gpa(gpa), pte);
	}

	entry->rip = EPTF_G_UCODE;
	entry->rsp = EPTF_G_USTACK_TOP;
	entry->cr3 = EPTF_G_PML4;
	return 0;
}
