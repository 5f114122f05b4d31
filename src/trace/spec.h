/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Private to src/trace: the trace line's vocabulary (keys, flag words, what
 * each op kind uses), shared by the general parser, the writer and
 * validation in format.c and by the reader's fast path in reader.c, so that
 * the two parsers are built from one list.
 */
#ifndef EPTF_TRACE_SPEC_H
#define EPTF_TRACE_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include <eptflush/op.h>
#include <eptflush/trace.h>

/* The struct eptf_op field a key lands in. */
enum field { F_SLOT, F_VCPU, F_LEVEL, F_ADDR, F_COUNT, F_VALUE };
/* How the writer spells a key's value: decimal, 0x hex, or slot (decimal below 0x10000). */
enum style { S_DEC, S_HEX, S_SLOT };

enum fkey {
	K_SLOT, K_GFN, K_PAGES, K_HVA, K_VCPU, K_AS, K_CR3, K_ADDR,
	K_LEVEL, K_FIRST, K_MASK, K_START, K_END, K_TABLE, K_INDEX, K_PTE,
	K_COUNT
};

/*
 * The field each key lands in and its style, as macros so that tables
 * derived from them (specs[] in format.c, the fast path's per-kind code)
 * are compile-time constants.
 */
#define KEY_FIELD(k)                                                                         \
	((k) == K_SLOT ? F_SLOT :                                                             \
	 (k) == K_VCPU ? F_VCPU :                                                             \
	 (k) == K_LEVEL ? F_LEVEL :                                                           \
	 ((k) == K_PAGES || (k) == K_END || (k) == K_INDEX) ? F_COUNT :                       \
	 ((k) == K_HVA || (k) == K_MASK || (k) == K_PTE) ? F_VALUE : F_ADDR)
#define KEY_STYLE(k)                                                                         \
	((k) == K_SLOT ? S_SLOT :                                                             \
	 ((k) == K_VCPU || (k) == K_AS || (k) == K_LEVEL || (k) == K_INDEX) ? S_DEC : S_HEX)

enum fword { W_W, W_X, W_DIRECT, W_DIRTY_LOG, W_READONLY, W_COUNT };

#define KB(k) (1u << (k))
#define NO_KEY 0xff

/* The op flag bits of a set of enum fword bits (same mapping as words[] in format.c). */
#define WORD_BITS(w)                                                                          \
	((((w) & KB(W_W)) ? EPTF_OPF_WRITE : 0u) | (((w) & KB(W_X)) ? EPTF_OPF_EXEC : 0u) |    \
	 (((w) & KB(W_DIRECT)) ? EPTF_OPF_DIRECT : 0u) |                                       \
	 (((w) & KB(W_DIRTY_LOG)) ? EPTF_SLOTF_DIRTY_LOG : 0u) |                               \
	 (((w) & KB(W_READONLY)) ? EPTF_SLOTF_READONLY : 0u))

/*
 * Every kind: its keys in canonical order, its flag words, its highest
 * level and extra flag bits. One list, so that specs[] in format.c and
 * the fast parser's per-kind code in reader.c cannot disagree.
 */
#define KINDS(X)                                                                                      \
	X(EPTF_OP_SLOT_ADD, K_SLOT, K_GFN, K_PAGES, K_HVA, KB(W_DIRTY_LOG) | KB(W_READONLY), 0, 0)     \
	X(EPTF_OP_SLOT_DELETE, K_SLOT, NO_KEY, NO_KEY, NO_KEY, 0, 0, 0)                               \
	X(EPTF_OP_SLOT_MOVE, K_SLOT, K_GFN, NO_KEY, NO_KEY, 0, 0, 0)                                  \
	X(EPTF_OP_SLOT_FLAGS, K_SLOT, NO_KEY, NO_KEY, NO_KEY, KB(W_DIRTY_LOG) | KB(W_READONLY), 0, 0) \
	/* as= or cr3=: handled by name in the parsers and formatter; as= sets DIRECT */              \
	X(EPTF_OP_ROOT_LOAD, K_VCPU, K_AS, K_CR3, NO_KEY, 0, 0, EPTF_OPF_DIRECT)                       \
	X(EPTF_OP_MAP, K_VCPU, K_ADDR, K_LEVEL, NO_KEY, KB(W_W) | KB(W_X), 3, 0)                       \
	X(EPTF_OP_ACCESS, K_VCPU, K_ADDR, NO_KEY, NO_KEY, KB(W_W) | KB(W_X), 0, 0)                     \
	X(EPTF_OP_ZAP_RANGE, K_GFN, K_PAGES, NO_KEY, NO_KEY, 0, 0, 0)                                  \
	X(EPTF_OP_PREPARE_ZAP, K_GFN, K_LEVEL, NO_KEY, NO_KEY, KB(W_DIRECT), 4, 0)                     \
	X(EPTF_OP_COMMIT_ZAP, NO_KEY, NO_KEY, NO_KEY, NO_KEY, 0, 0, 0)                                 \
	X(EPTF_OP_GET_DIRTY_LOG, K_SLOT, NO_KEY, NO_KEY, NO_KEY, 0, 0, 0)                              \
	X(EPTF_OP_CLEAR_DIRTY_LOG, K_SLOT, K_FIRST, K_MASK, NO_KEY, 0, 0, 0)                           \
	X(EPTF_OP_WP_GFN, K_GFN, NO_KEY, NO_KEY, NO_KEY, 0, 0, 0)                                      \
	X(EPTF_OP_CLEAR_FLUSH_YOUNG, K_START, K_END, NO_KEY, NO_KEY, 0, 0, 0)                          \
	X(EPTF_OP_CLEAR_YOUNG, K_START, K_END, NO_KEY, NO_KEY, 0, 0, 0)                                \
	X(EPTF_OP_UNMAP_HVA, K_START, K_END, NO_KEY, NO_KEY, 0, 0, 0)                                  \
	X(EPTF_OP_GPT_WRITE, K_TABLE, K_INDEX, K_PTE, NO_KEY, 0, 0, 0)                                 \
	X(EPTF_OP_SYNC, K_VCPU, NO_KEY, NO_KEY, NO_KEY, 0, 0, 0)

/*
 * The bounds of key @k's value, for a kind whose highest level is @lmax and
 * with vcpus below @nr_vcpus: the one copy of them, used by the general
 * parser and validation (check_key() in format.c, which then says why a
 * value fails; nr_vcpus EPTF_MAX_VCPUS) and by the reader's fast path (the
 * header's count, which eptf_trace_read() otherwise checks after the
 * parser).
 */
static inline __attribute__((always_inline)) bool key_ok(unsigned k, uint64_t v, unsigned lmax,
							 unsigned nr_vcpus)
{
	switch (k) {
	case K_SLOT: return v <= 0x1ffff; /* (address space << 16) | id; x86 has two address spaces */
	case K_VCPU: return v < nr_vcpus;
	case K_AS: return v <= 1;
	case K_LEVEL: return v - 1 < lmax;
	case K_INDEX: return v <= 511;
	case K_GFN:
	case K_CR3:
	case K_ADDR:
	case K_TABLE: return v < EPTF_TRACE_PAGE_LIMIT;
	case K_FIRST: return v < EPTF_TRACE_PAGE_LIMIT && !(v & 63);
	case K_PAGES: return v - 1 < EPTF_TRACE_PAGE_LIMIT;
	case K_HVA: return !(v & 0xfff);
	}
	return true; /* mask, start, end, pte: any value */
}

/* Kinds with the cross-field rules of eptf_op_validate(). */
#define SUM_KINDS (KB(EPTF_OP_SLOT_ADD) | KB(EPTF_OP_ZAP_RANGE))
#define RANGE_KINDS (KB(EPTF_OP_CLEAR_FLUSH_YOUNG) | KB(EPTF_OP_CLEAR_YOUNG) | KB(EPTF_OP_UNMAP_HVA))

#endif
