/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The trace reader's fast path and table-driven validation against the
 * code they replaced: a verbatim copy of src/trace/format.c and reader.c
 * as of commit ef6ee7e (before the speed-up), renamed ref_*, is the
 * reference. Every accepted op, every refused input and every diagnostic
 * must be the same:
 *   - eptf_op_validate() on random ops, valid and not (return and message);
 *   - eptf_op_parse_detail() / eptf_op_parse() on canonical lines and on
 *     random mutations of them (return, message, op);
 *   - eptf__op_parse_fast() accepts only lines the reference accepts, with
 *     the same op, and accepts every canonical line (the writer's output);
 *   - eptf_trace_read() on random trace files (blank and comment lines, CR,
 *     long lines, block boundaries, errors, vcpus at and past the header's
 *     count, which the reader's fast path checks itself) and on every trace
 *     in tests/data, data/ and the fuzz corpus: the same sequence of
 *     results, ops, line numbers and diagnostics.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/error.h>
#include <eptflush/mmu.h>
#include <eptflush/trace.h>

#include "op_same.h"

#include "../src/trace/trace_int.h"

/*
 * ---- The reference: src/trace/format.c and reader.c as they were before
 * the fast path (commit ef6ee7e), renamed ref_*, kept verbatim otherwise (fail() is ref_fail():
 * cmocka has a fail macro).
 * Do not "fix" or speed up this copy: it defines the behaviour the real
 * reader must keep, byte for byte.
 */


enum field { F_SLOT, F_VCPU, F_LEVEL, F_ADDR, F_COUNT, F_VALUE };
enum style { S_DEC, S_HEX, S_SLOT };

enum fkey {
	K_SLOT, K_GFN, K_PAGES, K_HVA, K_VCPU, K_AS, K_CR3, K_ADDR,
	K_LEVEL, K_FIRST, K_MASK, K_START, K_END, K_TABLE, K_INDEX, K_PTE,
	K_COUNT
};

static const struct {
	const char *name;
	enum field field;
	enum style style;
} keys[K_COUNT] = {
	[K_SLOT] = {"slot", F_SLOT, S_SLOT},    [K_GFN] = {"gfn", F_ADDR, S_HEX},
	[K_PAGES] = {"pages", F_COUNT, S_HEX},  [K_HVA] = {"hva", F_VALUE, S_HEX},
	[K_VCPU] = {"vcpu", F_VCPU, S_DEC},     [K_AS] = {"as", F_ADDR, S_DEC},
	[K_CR3] = {"cr3", F_ADDR, S_HEX},       [K_ADDR] = {"addr", F_ADDR, S_HEX},
	[K_LEVEL] = {"level", F_LEVEL, S_DEC},  [K_FIRST] = {"first", F_ADDR, S_HEX},
	[K_MASK] = {"mask", F_VALUE, S_HEX},    [K_START] = {"start", F_ADDR, S_HEX},
	[K_END] = {"end", F_COUNT, S_HEX},      [K_TABLE] = {"table", F_ADDR, S_HEX},
	[K_INDEX] = {"index", F_COUNT, S_DEC},  [K_PTE] = {"pte", F_VALUE, S_HEX},
};

enum fword { W_W, W_X, W_DIRECT, W_DIRTY_LOG, W_READONLY, W_COUNT };

static const struct {
	const char *name;
	uint8_t bit;
} words[W_COUNT] = {
	[W_W] = {"w", EPTF_OPF_WRITE},
	[W_X] = {"x", EPTF_OPF_EXEC},
	[W_DIRECT] = {"direct", EPTF_OPF_DIRECT},
	[W_DIRTY_LOG] = {"dirty_log", EPTF_SLOTF_DIRTY_LOG},
	[W_READONLY] = {"readonly", EPTF_SLOTF_READONLY},
};

#define KB(k) (1u << (k))
#define NO_KEY 0xff

/*
 * What one kind uses. order[] is the canonical key order on output (and the
 * set of keys the kind accepts); level_max is the highest legal level.
 */
struct kind_spec {
	uint8_t order[4];
	uint8_t words; /* bit per enum fword */
	uint8_t level_max;
};

static const struct kind_spec specs[EPTF_OP_KIND_COUNT] = {
	[EPTF_OP_SLOT_ADD] = {{K_SLOT, K_GFN, K_PAGES, K_HVA}, KB(W_DIRTY_LOG) | KB(W_READONLY), 0},
	[EPTF_OP_SLOT_DELETE] = {{K_SLOT, NO_KEY, NO_KEY, NO_KEY}, 0, 0},
	[EPTF_OP_SLOT_MOVE] = {{K_SLOT, K_GFN, NO_KEY, NO_KEY}, 0, 0},
	[EPTF_OP_SLOT_FLAGS] = {{K_SLOT, NO_KEY, NO_KEY, NO_KEY}, KB(W_DIRTY_LOG) | KB(W_READONLY), 0},
	/* as= or cr3=: handled by name in the parser and formatter */
	[EPTF_OP_ROOT_LOAD] = {{K_VCPU, K_AS, K_CR3, NO_KEY}, 0, 0},
	[EPTF_OP_MAP] = {{K_VCPU, K_ADDR, K_LEVEL, NO_KEY}, KB(W_W) | KB(W_X), 3},
	[EPTF_OP_ACCESS] = {{K_VCPU, K_ADDR, NO_KEY, NO_KEY}, KB(W_W) | KB(W_X), 0},
	[EPTF_OP_ZAP_RANGE] = {{K_GFN, K_PAGES, NO_KEY, NO_KEY}, 0, 0},
	[EPTF_OP_PREPARE_ZAP] = {{K_GFN, K_LEVEL, NO_KEY, NO_KEY}, KB(W_DIRECT), 4},
	[EPTF_OP_COMMIT_ZAP] = {{NO_KEY, NO_KEY, NO_KEY, NO_KEY}, 0, 0},
	[EPTF_OP_GET_DIRTY_LOG] = {{K_SLOT, NO_KEY, NO_KEY, NO_KEY}, 0, 0},
	[EPTF_OP_CLEAR_DIRTY_LOG] = {{K_SLOT, K_FIRST, K_MASK, NO_KEY}, 0, 0},
	[EPTF_OP_WP_GFN] = {{K_GFN, NO_KEY, NO_KEY, NO_KEY}, 0, 0},
	[EPTF_OP_CLEAR_FLUSH_YOUNG] = {{K_START, K_END, NO_KEY, NO_KEY}, 0, 0},
	[EPTF_OP_CLEAR_YOUNG] = {{K_START, K_END, NO_KEY, NO_KEY}, 0, 0},
	[EPTF_OP_UNMAP_HVA] = {{K_START, K_END, NO_KEY, NO_KEY}, 0, 0},
	[EPTF_OP_GPT_WRITE] = {{K_TABLE, K_INDEX, K_PTE, NO_KEY}, 0, 0},
	[EPTF_OP_SYNC] = {{K_VCPU, NO_KEY, NO_KEY, NO_KEY}, 0, 0},
};

static __attribute__((format(printf, 3, 4))) void say(char *detail, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!detail || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, len, fmt, ap);
	va_end(ap);
}

/* A token for a message: at most 40 bytes, non-printable bytes as '?'. */
static void tokcopy(char *dst, size_t dlen, const char *s, size_t n)
{
	size_t i, max = dlen - 1 < 40 ? dlen - 1 : 40;

	for (i = 0; i < n && i < max; i++)
		dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
}

static uint64_t get_field(const struct eptf_op *op, enum field f)
{
	switch (f) {
	case F_SLOT: return op->slot;
	case F_VCPU: return op->vcpu;
	case F_LEVEL: return op->level;
	case F_ADDR: return op->addr;
	case F_COUNT: return op->count;
	case F_VALUE: return op->value;
	}
	return 0;
}

static void set_field(struct eptf_op *op, enum field f, uint64_t v)
{
	switch (f) {
	case F_SLOT: op->slot = (uint32_t)v; break;
	case F_VCPU: op->vcpu = (uint32_t)v; break;
	case F_LEVEL: op->level = (uint8_t)v; break;
	case F_ADDR: op->addr = v; break;
	case F_COUNT: op->count = v; break;
	case F_VALUE: op->value = v; break;
	}
}

/* Keys @kind accepts, as a bit mask of enum fkey. */
static uint32_t kind_keys(uint32_t kind)
{
	uint32_t m = 0;

	for (int i = 0; i < 4; i++)
		if (specs[kind].order[i] != NO_KEY)
			m |= KB(specs[kind].order[i]);
	return m;
}

static uint8_t kind_flag_bits(uint32_t kind)
{
	uint8_t m = 0;

	for (int i = 0; i < W_COUNT; i++)
		if (specs[kind].words & KB(i))
			m |= words[i].bit;
	if (kind == EPTF_OP_ROOT_LOAD)
		m |= EPTF_OPF_DIRECT;
	return m;
}

/* Range checks of one key's value: 0 or EPTF_EINVAL with @detail. */
static int check_key(uint32_t kind, enum fkey k, uint64_t v, char *detail, size_t dlen)
{
	switch (k) {
	case K_SLOT:
		/* KVM's id is (address space << 16) | id; x86 has two address spaces */
		if (v > 0x1ffff) {
			say(detail, dlen, "slot 0x%llx out of range (address space must be 0 or 1)",
			    (unsigned long long)v);
			return EPTF_EINVAL;
		}
		return 0;
	case K_VCPU:
		if (v >= EPTF_MAX_VCPUS) {
			say(detail, dlen, "vcpu %llu out of range 0..%d", (unsigned long long)v,
			    EPTF_MAX_VCPUS - 1);
			return EPTF_EINVAL;
		}
		return 0;
	case K_AS:
		if (v > 1) {
			say(detail, dlen, "as %llu out of range 0..1", (unsigned long long)v);
			return EPTF_EINVAL;
		}
		return 0;
	case K_LEVEL:
		if (v < 1 || v > specs[kind].level_max) {
			say(detail, dlen, "level %llu out of range 1..%u", (unsigned long long)v,
			    specs[kind].level_max);
			return EPTF_EINVAL;
		}
		return 0;
	case K_INDEX:
		if (v > 511) {
			say(detail, dlen, "index %llu out of range 0..511", (unsigned long long)v);
			return EPTF_EINVAL;
		}
		return 0;
	case K_GFN:
	case K_CR3:
	case K_ADDR:
	case K_TABLE:
	case K_FIRST:
		if (v >= EPTF_TRACE_PAGE_LIMIT) {
			say(detail, dlen, "%s 0x%llx out of range (page numbers are below 2^40)",
			    keys[k].name, (unsigned long long)v);
			return EPTF_EINVAL;
		}
		if (k == K_FIRST && (v & 63)) {
			say(detail, dlen, "first 0x%llx not a multiple of 64", (unsigned long long)v);
			return EPTF_EINVAL;
		}
		return 0;
	case K_PAGES:
		if (v == 0 || v > EPTF_TRACE_PAGE_LIMIT) {
			say(detail, dlen, "pages 0x%llx out of range 1..2^40", (unsigned long long)v);
			return EPTF_EINVAL;
		}
		return 0;
	case K_HVA:
		if (v & 0xfff) {
			say(detail, dlen, "hva 0x%llx not page-aligned", (unsigned long long)v);
			return EPTF_EINVAL;
		}
		return 0;
	case K_MASK:
	case K_START:
	case K_END:
	case K_PTE:
	case K_COUNT:
		return 0;
	}
	return 0;
}

static int ref_op_validate(const struct eptf_op *op, char *detail, size_t dlen)
{
	uint32_t kind = op->kind, mask;
	int r;

	if (kind == EPTF_OP_NONE || kind >= EPTF_OP_KIND_COUNT) {
		say(detail, dlen, "unknown op kind %u", kind);
		return EPTF_EINVAL;
	}
	mask = kind_keys(kind);
	if (kind == EPTF_OP_ROOT_LOAD)
		mask &= ~(op->flags & EPTF_OPF_DIRECT ? KB(K_CR3) : KB(K_AS));
	/* every field the kind does not use must be zero */
	for (int f = F_SLOT; f <= F_VALUE; f++) {
		bool used = false;

		for (int k = 0; k < K_COUNT; k++)
			if ((mask & KB(k)) && keys[k].field == (enum field)f)
				used = true;
		if (!used && get_field(op, (enum field)f)) {
			static const char *const fname[] = {"slot", "vcpu", "level", "addr", "count", "value"};
			say(detail, dlen, "%s: field %s is not used by this op and must be 0",
			    eptf_op_name(kind), fname[f]);
			return EPTF_EINVAL;
		}
	}
	if (op->flags & ~kind_flag_bits(kind)) {
		say(detail, dlen, "%s: flags 0x%x not used by this op", eptf_op_name(kind),
		    op->flags & ~kind_flag_bits(kind));
		return EPTF_EINVAL;
	}
	for (int k = 0; k < K_COUNT; k++) {
		if (!(mask & KB(k)))
			continue;
		r = check_key(kind, (enum fkey)k, get_field(op, keys[k].field), detail, dlen);
		if (r)
			return r;
	}
	/* cross-field rules */
	if ((kind == EPTF_OP_SLOT_ADD || kind == EPTF_OP_ZAP_RANGE) &&
	    op->addr + op->count > EPTF_TRACE_PAGE_LIMIT) {
		say(detail, dlen, "gfn 0x%llx + pages 0x%llx runs past 2^40 pages",
		    (unsigned long long)op->addr, (unsigned long long)op->count);
		return EPTF_EINVAL;
	}
	if ((kind == EPTF_OP_CLEAR_FLUSH_YOUNG || kind == EPTF_OP_CLEAR_YOUNG ||
	     kind == EPTF_OP_UNMAP_HVA) && op->count <= op->addr) {
		say(detail, dlen, "end 0x%llx not above start 0x%llx", (unsigned long long)op->count,
		    (unsigned long long)op->addr);
		return EPTF_EINVAL;
	}
	return 0;
}

static int ref_op_format(const struct eptf_op *op, char *buf, size_t len)
{
	size_t n = 0;
	int r;

	if (ref_op_validate(op, NULL, 0))
		return EPTF_EINVAL;
	r = snprintf(buf, len, "%s", eptf_op_name(op->kind));
	if (r < 0 || (size_t)r >= len)
		return EPTF_ENOSPC;
	n = (size_t)r;
	for (int i = 0; i < 4; i++) {
		enum fkey k = specs[op->kind].order[i];
		uint64_t v;

		if (k == (enum fkey)NO_KEY)
			continue;
		if (op->kind == EPTF_OP_ROOT_LOAD &&
		    ((k == K_AS && !(op->flags & EPTF_OPF_DIRECT)) ||
		     (k == K_CR3 && (op->flags & EPTF_OPF_DIRECT))))
			continue;
		v = get_field(op, keys[k].field);
		if (keys[k].style == S_DEC || (keys[k].style == S_SLOT && v < 0x10000))
			r = snprintf(buf + n, len - n, " %s=%llu", keys[k].name, (unsigned long long)v);
		else
			r = snprintf(buf + n, len - n, " %s=0x%llx", keys[k].name, (unsigned long long)v);
		if (r < 0 || (size_t)r >= len - n)
			return EPTF_ENOSPC;
		n += (size_t)r;
	}
	for (int w = 0; w < W_COUNT; w++) {
		if (!(specs[op->kind].words & KB(w)) || !(op->flags & words[w].bit))
			continue;
		r = snprintf(buf + n, len - n, " %s", words[w].name);
		if (r < 0 || (size_t)r >= len - n)
			return EPTF_ENOSPC;
		n += (size_t)r;
	}
	return (int)n;
}

static bool ref_trace_parse_u64(const char *s, size_t n, bool upper_x, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return false;
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || (upper_x && s[1] == 'X'))) {
		for (size_t i = 2; i < n; i++) {
			unsigned d;
			char c = s[i];

			if (c >= '0' && c <= '9')
				d = (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				d = (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				d = (unsigned)(c - 'A' + 10);
			else
				return false;
			if (v >> 60)
				return false;
			v = v << 4 | d;
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			char c = s[i];

			if (c < '0' || c > '9')
				return false;
			if (v > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
				return false;
			v = v * 10 + (uint64_t)(c - '0');
		}
	}
	*out = v;
	return true;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool tok_is(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(s, name, n) == 0;
}

/* Static reasons for ref_op_parse(), indexed by enum perr. */
enum perr { P_OK, P_EMPTY, P_OP, P_KEY, P_MISSING, P_DUPKEY, P_NUM, P_RANGE, P_WORD, P_DUPWORD,
	    P_FIELD, P_CONFLICT };
static const char *const perr_text[] = {
	[P_OK] = "ok",
	[P_EMPTY] = "no op on the line",
	[P_OP] = "unknown op",
	[P_KEY] = "unknown key",
	[P_MISSING] = "missing key",
	[P_DUPKEY] = "duplicate key",
	[P_NUM] = "bad number",
	[P_RANGE] = "value out of range",
	[P_WORD] = "unknown flag",
	[P_DUPWORD] = "duplicate flag",
	[P_FIELD] = "malformed field",
	[P_CONFLICT] = "conflicting keys",
};

static enum perr parse_line(const char *line, size_t len, struct eptf_op *op, char *detail, size_t dlen)
{
	const char *p = line, *end = line + len, *hash;
	uint32_t kind, allowed, seen = 0;
	uint8_t wseen = 0;
	char tok[48];

	memset(op, 0, sizeof(*op));
	hash = memchr(line, '#', len);
	if (hash)
		end = hash;
	while (p < end && is_space(*p))
		p++;
	if (p == end) {
		say(detail, dlen, "%s", perr_text[P_EMPTY]);
		return P_EMPTY;
	}
	const char *name = p;
	while (p < end && !is_space(*p))
		p++;
	size_t nlen = (size_t)(p - name);
	char nbuf[24];
	kind = EPTF_OP_NONE;
	if (nlen < sizeof(nbuf) && !memchr(name, '\0', nlen)) {
		memcpy(nbuf, name, nlen);
		nbuf[nlen] = '\0';
		kind = eptf_op_kind_by_name(nbuf);
	}
	if (kind == EPTF_OP_NONE) {
		tokcopy(tok, sizeof(tok), name, nlen);
		say(detail, dlen, "unknown op '%s'", tok);
		return P_OP;
	}
	op->kind = kind;
	allowed = kind_keys(kind);
	for (;;) {
		while (p < end && is_space(*p))
			p++;
		if (p == end)
			break;
		const char *t = p;
		while (p < end && !is_space(*p))
			p++;
		size_t tlen = (size_t)(p - t);
		const char *eq = memchr(t, '=', tlen);

		if (!eq) {
			int w;

			for (w = 0; w < W_COUNT; w++)
				if ((specs[kind].words & KB(w)) && tok_is(t, tlen, words[w].name))
					break;
			if (w == W_COUNT) {
				tokcopy(tok, sizeof(tok), t, tlen);
				say(detail, dlen, "unknown flag '%s' for %s", tok, eptf_op_name(kind));
				return P_WORD;
			}
			if (wseen & KB(w)) {
				say(detail, dlen, "duplicate flag '%s'", words[w].name);
				return P_DUPWORD;
			}
			wseen |= (uint8_t)KB(w);
			op->flags |= words[w].bit;
			continue;
		}
		size_t klen = (size_t)(eq - t), vlen = tlen - klen - 1;
		int k;
		uint64_t v;

		if (klen == 0 || vlen == 0) {
			tokcopy(tok, sizeof(tok), t, tlen);
			say(detail, dlen, "malformed field '%s' (expected key=value)", tok);
			return P_FIELD;
		}
		for (k = 0; k < K_COUNT; k++)
			if ((allowed & KB(k)) && tok_is(t, klen, keys[k].name))
				break;
		if (k == K_COUNT) {
			tokcopy(tok, sizeof(tok), t, klen);
			say(detail, dlen, "unknown key '%s' for %s", tok, eptf_op_name(kind));
			return P_KEY;
		}
		if (seen & KB(k)) {
			say(detail, dlen, "duplicate key '%s'", keys[k].name);
			return P_DUPKEY;
		}
		seen |= KB(k);
		if (!ref_trace_parse_u64(eq + 1, vlen, false, &v)) {
			tokcopy(tok, sizeof(tok), eq + 1, vlen);
			say(detail, dlen, "bad number '%s' for key '%s'", tok, keys[k].name);
			return P_NUM;
		}
		/* narrow fields: range-check before storing so nothing truncates */
		if (check_key(kind, (enum fkey)k, v, detail, dlen))
			return P_RANGE;
		set_field(op, keys[k].field, v);
	}
	if (kind == EPTF_OP_ROOT_LOAD) {
		if ((seen & KB(K_AS)) && (seen & KB(K_CR3))) {
			say(detail, dlen, "root_load takes as= (direct) or cr3= (indirect), not both");
			return P_CONFLICT;
		}
		if (!(seen & (KB(K_AS) | KB(K_CR3)))) {
			say(detail, dlen, "missing key 'as' or 'cr3' for root_load");
			return P_MISSING;
		}
		if (seen & KB(K_AS))
			op->flags |= EPTF_OPF_DIRECT;
		allowed &= ~(KB(K_AS) | KB(K_CR3));
		seen &= ~(KB(K_AS) | KB(K_CR3));
	}
	for (int i = 0; i < 4; i++) {
		enum fkey k = specs[kind].order[i];

		if (k != (enum fkey)NO_KEY && (allowed & KB(k)) && !(seen & KB(k))) {
			say(detail, dlen, "missing key '%s' for %s", keys[k].name, eptf_op_name(kind));
			return P_MISSING;
		}
	}
	if (ref_op_validate(op, detail, dlen))
		return P_RANGE;
	return P_OK;
}

static int ref_op_parse_detail(const char *line, size_t len, struct eptf_op *op, char *detail, size_t dlen)
{
	return parse_line(line, len, op, detail, dlen) == P_OK ? 0 : EPTF_EPARSE;
}

static int ref_op_parse(const char *line, struct eptf_op *op, const char **why)
{
	enum perr e = parse_line(line, strlen(line), op, NULL, 0);

	if (why)
		*why = e == P_OK ? NULL : perr_text[e];
	return e == P_OK ? 0 : EPTF_EPARSE;
}



#define BLOCK 65536

struct ref_reader {
	FILE *f;
	bool own;               /* we opened @f and close it */
	char name[256];         /* the path as given, for diagnostics */
	uint64_t lineno;        /* lines consumed so far */
	uint64_t op_line;       /* line of the last op returned */
	unsigned nr_vcpus;      /* from the header: vcpu= must be below it */
	int err;                /* sticky error, 0 while healthy */
	bool eof;               /* the stream is exhausted */
	struct eptf_diag last;  /* the diagnostic of @err */
	size_t bpos, blen;      /* unread bytes are block[bpos, blen) */
	char block[BLOCK];
	char line[EPTF_TRACE_MAX_LINE + 1];
};

static __attribute__((format(printf, 4, 5))) int ref_fail(struct ref_reader *r, struct eptf_diag *diag,
						      int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(r->last.msg, sizeof(r->last.msg), "%s:%llu: ", r->name,
		     (unsigned long long)r->lineno);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(r->last.msg)) {
		va_start(ap, fmt);
		vsnprintf(r->last.msg + n, sizeof(r->last.msg) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	r->err = err;
	if (diag)
		*diag = r->last;
	return err;
}

/*
 * Next line into r->line (NUL-terminated, without the newline and a final
 * CR): 1 = a line, 0 = end of input, < 0 = error. A last line without a
 * newline is accepted.
 */
static int next_line(struct ref_reader *r, size_t *lenp, struct eptf_diag *diag)
{
	size_t len = 0;
	bool any = false;

	if (r->eof)
		return 0;
	r->lineno++;
	for (;;) {
		if (r->bpos == r->blen) {
			r->blen = fread(r->block, 1, sizeof(r->block), r->f);
			r->bpos = 0;
			if (r->blen == 0) {
				if (ferror(r->f))
					return ref_fail(r, diag, EPTF_EIO, "read error: %s", strerror(errno));
				r->eof = true;
				if (!any) {
					r->lineno--;
					return 0;
				}
				break;
			}
		}
		/* scan the block for the end of the line */
		const char *s = r->block + r->bpos;
		size_t avail = r->blen - r->bpos;
		const char *nl = memchr(s, '\n', avail);
		size_t take = nl ? (size_t)(nl - s) : avail;

		any = true;
		if (len + take > EPTF_TRACE_MAX_LINE)
			return ref_fail(r, diag, EPTF_EPARSE, "line longer than %d bytes",
				    EPTF_TRACE_MAX_LINE);
		if (memchr(s, '\0', take))
			return ref_fail(r, diag, EPTF_EPARSE, "NUL byte in line");
		memcpy(r->line + len, s, take);
		len += take;
		r->bpos += take;
		if (nl) {
			r->bpos++;
			break;
		}
	}
	if (len && r->line[len - 1] == '\r')
		len--;
	r->line[len] = '\0';
	*lenp = len;
	return 1;
}

static void ref_trace_close(struct ref_reader *r);

/* Blank or comment-only: nothing to read on the line. */
static bool is_blank(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '\0' || *s == '#';
}

/* Split "key value" into key (NUL-terminated in place) and trimmed value. */
static void split_kv(char *s, char **key, char **value)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	*key = s;
	while (*s && *s != ' ' && *s != '\t')
		s++;
	if (*s)
		*s++ = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	*value = s;
}

static int set_text(struct ref_reader *r, struct eptf_diag *diag, const char *key,
		    const char *value, char *dst, size_t size, bool *seen)
{
	if (*seen)
		return ref_fail(r, diag, EPTF_EPARSE, "duplicate header line '%s'", key);
	*seen = true;
	if (strlen(value) >= size)
		return ref_fail(r, diag, EPTF_EPARSE, "header '%s' longer than %zu bytes", key, size - 1);
	strcpy(dst, value);
	return 0;
}

static int read_header(struct ref_reader *r, struct eptf_trace_header *hdr, struct eptf_diag *diag)
{
	bool seen_vcpus = false, seen_source = false, seen_name = false, seen_detail = false;
	char *key, *value, *end;
	size_t len;
	int ret;

	memset(hdr, 0, sizeof(*hdr));
	ret = next_line(r, &len, diag);
	if (ret < 0)
		return ret;
	if (ret == 0) {
		r->lineno = 1;
		return ref_fail(r, diag, EPTF_EPARSE, "empty file: expected '%s %d'", EPTF_TRACE_MAGIC,
			    EPTF_TRACE_VERSION);
	}
	split_kv(r->line, &key, &value);
	if (strcmp(key, EPTF_TRACE_MAGIC) != 0)
		return ref_fail(r, diag, EPTF_EPARSE, "not an eptflush trace: the first line must be '%s %d'",
			    EPTF_TRACE_MAGIC, EPTF_TRACE_VERSION);
	errno = 0;
	unsigned long ver = strtoul(value, &end, 10);
	if (!*value || *value < '0' || *value > '9' || *end || errno)
		return ref_fail(r, diag, EPTF_EPARSE, "bad trace version '%.40s'", value);
	if (ver != EPTF_TRACE_VERSION)
		return ref_fail(r, diag, EPTF_EPARSE, "unsupported trace version %lu (this reader knows %d)",
			    ver, EPTF_TRACE_VERSION);
	hdr->version = (unsigned)ver;
	for (;;) {
		ret = next_line(r, &len, diag);
		if (ret < 0)
			return ret;
		if (ret == 0) {
			r->lineno++;
			return ref_fail(r, diag, EPTF_EPARSE, "end of file in the header (no 'begin' line)");
		}
		if (is_blank(r->line))
			continue;
		split_kv(r->line, &key, &value);
		if (!strcmp(key, "begin")) {
			if (*value)
				return ref_fail(r, diag, EPTF_EPARSE, "'begin' takes no value");
			if (!seen_vcpus)
				return ref_fail(r, diag, EPTF_EPARSE, "missing 'vcpus' header line before 'begin'");
			break;
		}
		if (!*value)
			return ref_fail(r, diag, EPTF_EPARSE, "header '%.40s' needs a value", key);
		if (!strcmp(key, "vcpus")) {
			if (seen_vcpus)
				return ref_fail(r, diag, EPTF_EPARSE, "duplicate header line 'vcpus'");
			seen_vcpus = true;
			errno = 0;
			unsigned long n = strtoul(value, &end, 10);
			if (*value < '0' || *value > '9' || *end || errno)
				return ref_fail(r, diag, EPTF_EPARSE, "bad number '%.40s' for 'vcpus'", value);
			if (n < 1 || n > EPTF_MAX_VCPUS)
				return ref_fail(r, diag, EPTF_EPARSE, "vcpus %lu out of range 1..%d", n,
					    EPTF_MAX_VCPUS);
			hdr->nr_vcpus = (unsigned)n;
		} else if (!strcmp(key, "source")) {
			ret = set_text(r, diag, key, value, hdr->source, sizeof(hdr->source), &seen_source);
		} else if (!strcmp(key, "name")) {
			ret = set_text(r, diag, key, value, hdr->name, sizeof(hdr->name), &seen_name);
		} else if (!strcmp(key, "detail")) {
			ret = set_text(r, diag, key, value, hdr->detail, sizeof(hdr->detail), &seen_detail);
		} else {
			char k[48];
			size_t i;

			for (i = 0; key[i] && i < sizeof(k) - 1; i++)
				k[i] = (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?';
			k[i] = '\0';
			return ref_fail(r, diag, EPTF_EPARSE, "unknown header line '%s' (before 'begin')", k);
		}
		if (ret < 0)
			return ret;
	}
	r->nr_vcpus = hdr->nr_vcpus;
	return 0;
}

static int open_common(FILE *f, bool own, const char *name, struct eptf_trace_header *hdr,
		       struct ref_reader **out, struct eptf_diag *diag)
{
	struct ref_reader *r = calloc(1, sizeof(*r));
	int ret;

	*out = NULL;
	if (!r) {
		if (own)
			fclose(f);
		snprintf(diag->msg, sizeof(diag->msg), "%s: out of memory", name);
		return EPTF_ENOMEM;
	}
	r->f = f;
	r->own = own;
	snprintf(r->name, sizeof(r->name), "%s", name);
	ret = read_header(r, hdr, diag);
	if (ret < 0) {
		ref_trace_close(r);
		return ret;
	}
	*out = r;
	return 0;
}

static int ref_trace_open_file(FILE *f, const char *name, struct eptf_trace_header *hdr,
			 struct ref_reader **out, struct eptf_diag *diag)
{
	return open_common(f, false, name, hdr, out, diag);
}

static int ref_trace_read(struct ref_reader *r, struct eptf_op *op, struct eptf_diag *diag)
{
	char detail[sizeof(diag->msg) - 64];
	size_t len;
	int ret;

	if (r->err) {
		if (diag)
			*diag = r->last;
		return r->err;
	}
	for (;;) {
		ret = next_line(r, &len, diag);
		if (ret <= 0)
			return ret;
		if (!is_blank(r->line))
			break;
	}
	if (ref_op_parse_detail(r->line, len, op, detail, sizeof(detail)))
		return ref_fail(r, diag, EPTF_EPARSE, "%s", detail);
	if ((op->kind == EPTF_OP_ROOT_LOAD || op->kind == EPTF_OP_MAP || op->kind == EPTF_OP_ACCESS ||
	     op->kind == EPTF_OP_SYNC) &&
	    op->vcpu >= r->nr_vcpus)
		return ref_fail(r, diag, EPTF_EPARSE, "vcpu %u out of range (the header says vcpus %u)",
			    op->vcpu, r->nr_vcpus);
	r->op_line = r->lineno;
	return 1;
}

static uint64_t ref_trace_line(const struct ref_reader *r)
{
	return r->op_line;
}

static void ref_trace_close(struct ref_reader *r)
{
	if (!r)
		return;
	if (r->own)
		fclose(r->f);
	free(r);
}

/* ---- The tests */

static uint64_t rs = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static const uint64_t edge[] = {
	0, 1, 2, 3, 4, 5, 9, 10, 63, 64, 65, 511, 512, 0xfff, 0x1000, 0x1001, 0x2000, 0xffff, 0x10000,
	0x1ffff, 0x20000, 0xffffffff, 0x100000000ull, (1ull << 40) - 64, (1ull << 40) - 1, 1ull << 40,
	(1ull << 40) + 1, 0x7f0000000000ull, 1ull << 63, UINT64_MAX - 1, UINT64_MAX,
};

static uint64_t rvalue(void)
{
	switch (rnd() % 5) {
	case 0: return edge[rnd() % (sizeof(edge) / sizeof(edge[0]))];
	case 1: return rnd() % 100;
	case 2: return rnd() >> (rnd() % 64);
	case 3: return (rnd() % (1ull << 40)) & ~(rnd() % 2 ? 0xfffull : 63ull);
	default: return rnd();
	}
}

static void random_op(struct eptf_op *op, bool valid_ish)
{
	memset(op, 0, sizeof(*op));
	op->kind = (uint32_t)(rnd() % (EPTF_OP_KIND_COUNT + 2));
	if (valid_ish && (op->kind == 0 || op->kind >= EPTF_OP_KIND_COUNT))
		op->kind = 1 + (uint32_t)(rnd() % (EPTF_OP_KIND_COUNT - 1));
	if (rnd() % 2)
		op->slot = (uint32_t)rvalue();
	if (rnd() % 2)
		op->vcpu = (uint32_t)(rnd() % 3 ? rnd() % 70 : rvalue());
	if (rnd() % 2)
		op->level = (uint8_t)(rnd() % 3 ? rnd() % 6 : rvalue());
	if (rnd() % 2)
		op->addr = rvalue();
	if (rnd() % 2)
		op->count = rvalue();
	if (rnd() % 2)
		op->value = rvalue();
	op->flags = (uint8_t)(rnd() % 4 ? rnd() % 8 : rnd());
}

static void test_validate_same(void **state)
{
	static const size_t dlens[] = {0, 1, 7, 40, 256, 448};
	char d1[448], d2[448];
	struct eptf_op op;
	unsigned ok = 0;

	(void)state;
	for (int i = 0; i < 2000000; i++) {
		size_t dl = dlens[rnd() % 6];

		random_op(&op, i % 2);
		memset(d1, 'x', sizeof(d1));
		memset(d2, 'x', sizeof(d2));
		int r1 = eptf_op_validate(&op, dl ? d1 : NULL, dl);
		int r2 = ref_op_validate(&op, dl ? d2 : NULL, dl);

		assert_int_equal(r1, r2);
		assert_memory_equal(d1, d2, sizeof(d1));
		ok += r1 == 0;
	}
	/* the random ops reach both answers */
	assert_true(ok > 10000);
}

static void test_format_same(void **state)
{
	char b1[256], b2[256];
	struct eptf_op op;
	unsigned ok = 0, nospc = 0;

	(void)state;
	for (int i = 0; i < 1000000; i++) {
		size_t len = rnd() % 3 ? sizeof(b1) : rnd() % 100;

		random_op(&op, true);
		if (rnd() % 2) {
			/* mostly valid ops: clear the fields and flags the kind does not use */
			for (int f = 0; f < 8 && ref_op_validate(&op, NULL, 0); f++) {
				switch (rnd() % 6) {
				case 0: op.slot = (uint32_t)(rnd() % 0x20000); break;
				case 1: op.vcpu = 0; break;
				case 2: op.level = (uint8_t)(1 + rnd() % 3); break;
				case 3: op.count = rnd() % 2 ? 0 : op.addr + 1 + rnd() % 1000; break;
				case 4: op.value = rnd() % 2 ? 0 : rnd() & ~0xfffull; break;
				default: op.flags &= (uint8_t)rnd(); op.addr %= 1ull << 40; break;
				}
			}
		}
		memset(b1, 'y', sizeof(b1));
		memset(b2, 'y', sizeof(b2));
		int r1 = eptf_op_format(&op, b1, len);
		int r2 = ref_op_format(&op, b2, len);

		assert_int_equal(r1, r2);
		assert_memory_equal(b1, b2, sizeof(b1));
		ok += r1 > 0;
		nospc += r1 == EPTF_ENOSPC;
	}
	assert_true(ok > 10000 && nospc > 1000);
}

static void test_parse_u64_same(void **state)
{
	static const char *const fixed[] = {
		"", "0", "0x", "0X", "0x0", "0X0", "x1", "18446744073709551615", "18446744073709551616",
		"99999999999999999999", "1844674407370955161", "18446744073709551605",
		"0xffffffffffffffff", "0x10000000000000000", "0xFFFFFFFFFFFFFFFF", "0x0000000000000000000001",
		"00000000000000000000000000018446744073709551615", "-1", "+1", "1 ", " 1", "0x-1", "1e3",
	};
	static const char chars[] = "0123456789abcdefABCDEFxX -+g\xff";
	char buf[64];
	unsigned ok = 0;

	(void)state;
	for (int i = 0; i < 2000000; i++) {
		size_t n;

		if (i < (int)(sizeof(fixed) / sizeof(fixed[0]))) {
			n = strlen(fixed[i]);
			memcpy(buf, fixed[i], n);
		} else if (rnd() % 2) {
			/* digits only, around the 64-bit limit */
			bool hex = rnd() % 2;
			size_t digits = rnd() % (hex ? 20 : 24), j = 0;

			if (hex) {
				buf[j++] = '0';
				buf[j++] = rnd() % 4 ? 'x' : 'X';
			}
			while (digits--)
				buf[j++] = hex ? "0123456789abcdefABCDEF"[rnd() % 22] :
						 (char)(rnd() % 3 ? '0' + rnd() % 10 : '1' + rnd() % 2 * 8);
			if (rnd() % 8 == 0 && j)
				buf[rnd() % j] = chars[rnd() % (sizeof(chars) - 1)];
			n = j;
		} else {
			n = rnd() % 24;
			for (size_t j = 0; j < n; j++)
				buf[j] = chars[rnd() % (sizeof(chars) - 1)];
		}
		for (int ux = 0; ux < 2; ux++) {
			uint64_t v1 = 0x5a5a5a5a5a5a5a5aull, v2 = v1;
			bool a = eptf_trace_parse_u64(buf, n, ux, &v1);
			bool b = ref_trace_parse_u64(buf, n, ux, &v2);

			assert_int_equal(a, b);
			assert_true(v1 == v2);
			ok += a;
		}
	}
	assert_true(ok > 100000);
}

/* A canonical line of a random valid op (the reference formatter). */
static int canonical_line(char *buf, size_t len, struct eptf_op *op)
{
	int n;

	do {
		random_op(op, true);
		/* nudge towards valid: clear what the kind does not use */
		if (ref_op_validate(op, NULL, 0)) {
			struct eptf_op t = *op;

			for (int f = 0; f < 7 && ref_op_validate(&t, NULL, 0); f++) {
				switch (rnd() % 7) {
				case 0: t.slot = 0; break;
				case 1: t.vcpu = 0; break;
				case 2: t.level = (uint8_t)(rnd() % 5); break;
				case 3: t.addr = rnd() % 2 ? 0 : rnd() % (1ull << 40); break;
				case 4: t.count = rnd() % 2 ? 0 : t.addr + 1 + rnd() % 1000; break;
				case 5: t.value = rnd() % 2 ? 0 : rnd() & ~0xfffull; break;
				case 6: t.flags &= (uint8_t)rnd(); break;
				}
			}
			*op = t;
		}
		n = ref_op_format(op, buf, len);
	} while (n <= 0);
	return n;
}

static const char *const tokens[] = {
	"slot", "gfn", "pages", "hva", "vcpu", "as", "cr3", "addr", "level", "first", "mask",
	"start", "end", "table", "index", "pte", "w", "x", "direct", "dirty_log", "readonly",
	"map", "access", "sync", "root_load", "W", "slotx", "", "=", "#", "vcpu=", "=1", "commit_zap",
};

static const char alphabet[] = " \t\r#=0123456789abcdefxXABCDEF_gimpsvwz\x01\x7f\x80\xff";

/* A random number spelling for a key's value. */
static int number(char *out, size_t len)
{
	uint64_t v = rvalue();

	switch (rnd() % 10) {
	case 0: return snprintf(out, len, "0X%llx", (unsigned long long)v);
	case 1: return snprintf(out, len, "0x%llX", (unsigned long long)v);
	case 2: return snprintf(out, len, "000%llu", (unsigned long long)v);
	case 3: return snprintf(out, len, "0x00000000000000000%llx", (unsigned long long)v);
	case 4: return snprintf(out, len, "%s", rnd() % 2 ? "0x" : "99999999999999999999");
	case 5: return snprintf(out, len, "%s", rnd() % 2 ? "-1" : "+1");
	case 6: return snprintf(out, len, "0x1%016llx", (unsigned long long)v);
	case 7: return snprintf(out, len, "%llu", (unsigned long long)v);
	default: return snprintf(out, len, "0x%llx", (unsigned long long)v);
	}
}

/* Mutate the line in @buf (length *@n, at most @cap - 1), keeping it free of '\n'. */
static void mutate(char *buf, size_t *n, size_t cap)
{
	char tmp[EPTF_TRACE_MAX_LINE + 64], num[64];
	size_t len = *n, pos = len ? rnd() % (len + 1) : 0;
	int k;

	switch (rnd() % 12) {
	case 0: /* replace a byte */
		if (len)
			buf[rnd() % len] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		break;
	case 1: /* insert a byte */
		if (len + 1 < cap) {
			memmove(buf + pos + 1, buf + pos, len - pos);
			buf[pos] = alphabet[rnd() % (sizeof(alphabet) - 1)];
			len++;
		}
		break;
	case 2: /* delete a run */
		if (len) {
			size_t m = 1 + rnd() % 6;

			if (pos + m > len)
				m = len - pos;
			memmove(buf + pos, buf + pos + m, len - pos - m);
			len -= m;
		}
		break;
	case 3: /* truncate */
		len = pos;
		break;
	case 4: /* append a key=number or a token */
	case 5:
		number(num, sizeof(num));
		k = snprintf(tmp, sizeof(tmp), " %s=%s", tokens[rnd() % (sizeof(tokens) / sizeof(tokens[0]))],
			     num);
		if (rnd() % 3 == 0)
			k = snprintf(tmp, sizeof(tmp), " %s", tokens[rnd() % (sizeof(tokens) / sizeof(tokens[0]))]);
		if (len + (size_t)k < cap) {
			memcpy(buf + len, tmp, (size_t)k);
			len += (size_t)k;
		}
		break;
	case 6: { /* respell the number after an '=' */
		char *eq = memchr(buf + pos, '=', len - pos);

		if (!eq)
			eq = memchr(buf, '=', len);
		if (eq) {
			size_t s = (size_t)(eq + 1 - buf), e = s;

			while (e < len && buf[e] != ' ')
				e++;
			k = number(num, sizeof(num));
			if (len - (e - s) + (size_t)k < cap) {
				memmove(buf + s + k, buf + e, len - e);
				memcpy(buf + s, num, (size_t)k);
				len = len - (e - s) + (size_t)k;
			}
		}
		break;
	}
	case 7: { /* swap two space-separated tokens: rotate the tail after a space */
		char *sp = memchr(buf, ' ', len);

		if (sp) {
			size_t s = (size_t)(sp + 1 - buf), e = s;

			while (e < len && buf[e] != ' ')
				e++;
			if (e < len) {
				memcpy(tmp, buf + s, e - s);
				memmove(buf + s, buf + e + 1, len - e - 1);
				buf[s + len - e - 1] = ' ';
				memcpy(buf + s + len - e, tmp, e - s);
			}
		}
		break;
	}
	case 8: /* a comment, CR or blanks at the end */
		k = snprintf(tmp, sizeof(tmp), "%s", (const char *[]){" # c", "#", "\r", " ", "\t", " \r"}[rnd() % 6]);
		if (len + (size_t)k < cap) {
			memcpy(buf + len, tmp, (size_t)k);
			len += (size_t)k;
		}
		break;
	case 9: /* blanks at the start */
		if (len + 2 < cap) {
			memmove(buf + 2, buf, len);
			buf[0] = rnd() % 2 ? ' ' : '\t';
			buf[1] = ' ';
			len += 2;
		}
		break;
	case 10: /* a separator doubled or changed */
		if (len) {
			char *sp = memchr(buf + pos, ' ', len - pos);

			if (sp)
				*sp = rnd() % 2 ? '\t' : '\r';
		}
		break;
	default: /* duplicate a token */
		if (len) {
			char *sp = memchr(buf, ' ', len);

			if (sp) {
				size_t e = (size_t)(sp - buf) + 1;

				while (e < len && buf[e] != ' ')
					e++;
				size_t m = e - (size_t)(sp - buf);

				if (len + m < cap) {
					memcpy(buf + len, sp, m);
					len += m;
				}
			}
		}
		break;
	}
	*n = len;
}

/* Parse @line (@n bytes) with both parsers and the fast path; all must agree. */
static bool check_line(const char *line, size_t n, bool canonical)
{
	char fbuf[EPTF_TRACE_MAX_LINE + 128], d1[448], d2[448], nul[EPTF_TRACE_MAX_LINE + 64];
	struct eptf_op o1, o2, of;
	const char *w1, *w2;
	size_t fl;

	memset(d1, 'x', sizeof(d1));
	memset(d2, 'x', sizeof(d2));
	memset(&o1, 0xa5, sizeof(o1));
	memset(&o2, 0xa5, sizeof(o2));
	int r1 = eptf_op_parse_detail(line, n, &o1, d1, sizeof(d1));
	int r2 = ref_op_parse_detail(line, n, &o2, d2, sizeof(d2));

	assert_int_equal(r1, r2);
	assert_memory_equal(d1, d2, sizeof(d1));
	assert_memory_equal(&o1, &o2, sizeof(o1));
	/* the NUL-terminated entry point and its static reasons */
	if (!memchr(line, '\0', n)) {
		memcpy(nul, line, n);
		nul[n] = '\0';
		r1 = eptf_op_parse(nul, &o1, &w1);
		r2 = ref_op_parse(nul, &o2, &w2);
		assert_int_equal(r1, r2);
		assert_true(w1 == w2 || (w1 && w2 && !strcmp(w1, w2)));
		assert_memory_equal(&o1, &o2, sizeof(o1));
	}
	/* the fast path: line, '\n', then arbitrary bytes */
	memcpy(fbuf, line, n);
	fbuf[n] = '\n';
	for (size_t i = n + 1; i < n + 1 + EPTF__FAST_PAD; i++)
		fbuf[i] = (char)(rnd() % 2 ? alphabet[rnd() % (sizeof(alphabet) - 1)] : (char)rnd());
	memset(&of, 0x5a, sizeof(of));
	memcpy(&o1, &of, sizeof(of));
	/* with the line's '\n' as the block's sentinel: declined, @op untouched */
	assert_int_equal(eptf__op_parse_fast(fbuf, fbuf + n, &of), 0);
	assert_memory_equal(&of, &o1, sizeof(of));
	fl = eptf__op_parse_fast(fbuf, fbuf + n + 1, &of);
	if (fl) {
		assert_int_equal(fl, n + 1);
		assert_int_equal(r2, 0);
		assert_memory_equal(&of, &o2, sizeof(of));
	} else if (canonical) {
		fail_msg("fast path declined a canonical line: %.*s", (int)n, line);
	}
	return fl != 0;
}

static void test_parse_same(void **state)
{
	char buf[EPTF_TRACE_MAX_LINE + 64];
	unsigned accepted = 0, fast = 0;
	struct eptf_op op;

	(void)state;
	for (int i = 0; i < 400000; i++) {
		int n = canonical_line(buf, sizeof(buf), &op);
		size_t len = (size_t)n;

		fast += check_line(buf, len, true);
		for (int m = 1 + (int)(rnd() % 3); m > 0; m--)
			mutate(buf, &len, EPTF_TRACE_MAX_LINE + 8);
		if (check_line(buf, len, false))
			accepted++;
	}
	assert_int_equal(fast, 400000);
	/* the mutations keep some lines acceptable (respelt numbers, swapped keys) */
	assert_true(accepted > 1000);
}

/* Lines at and around the length limit, padded with blanks or a comment. */
static void test_parse_long_lines(void **state)
{
	char buf[EPTF_TRACE_MAX_LINE + 64];
	struct eptf_op op;

	(void)state;
	for (int i = 0; i < 3000; i++) {
		size_t n = (size_t)canonical_line(buf, sizeof(buf), &op);
		size_t want = EPTF_TRACE_MAX_LINE - 3 + rnd() % 6;

		if (rnd() % 2) {
			/* leading zeros in the last number */
			char *eq = strrchr(buf, '=');

			if (eq && n < want) {
				size_t s = (size_t)(eq + 1 - buf), add = want - n;

				if (buf[s] != '0' || buf[s + 1] != 'x') {
					memmove(buf + s + add, buf + s, n - s);
					memset(buf + s, '0', add);
					n = want;
				}
			}
		}
		while (n < want)
			buf[n++] = rnd() % 4 ? ' ' : '#';
		check_line(buf, n, false);
	}
}

/* ---- Whole traces through both readers */

static void same_reads(const char *data, size_t size, const char *what)
{
	struct eptf_trace_header h1, h2;
	struct eptf_trace_reader *r1;
	struct ref_reader *r2;
	struct eptf_diag g1, g2;
	struct eptf_op o1, o2;
	FILE *f1, *f2;
	int a, b;

	if (!size)
		return;
	f1 = fmemopen((void *)(uintptr_t)data, size, "r");
	f2 = fmemopen((void *)(uintptr_t)data, size, "r");
	assert_non_null(f1);
	assert_non_null(f2);
	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	a = eptf_trace_open_file(f1, "t", &h1, &r1, &g1);
	b = ref_trace_open_file(f2, "t", &h2, &r2, &g2);
	assert_int_equal(a, b);
	if (a < 0) {
		assert_string_equal(g1.msg, g2.msg);
		goto out;
	}
	assert_memory_equal(&h1, &h2, sizeof(h1));
	for (unsigned long ops = 0;; ops++) {
		memset(&g1, 0, sizeof(g1));
		memset(&g2, 0, sizeof(g2));
		/* the op as left by every call, not only by a successful one */
		memset(&o1, (int)ops, sizeof(o1));
		memset(&o2, (int)ops, sizeof(o2));
		a = eptf_trace_read(r1, &o1, &g1);
		b = ref_trace_read(r2, &o2, &g2);
		if (a != b)
			fail_msg("%s: op %lu: %d vs %d (%s | %s)", what, ops, a, b, g1.msg, g2.msg);
		assert_memory_equal(&o1, &o2, sizeof(o1));
		if (a < 0) {
			assert_string_equal(g1.msg, g2.msg);
			/* sticky */
			assert_int_equal(eptf_trace_read(r1, &o1, &g1), a);
			assert_string_equal(g1.msg, g2.msg);
			break;
		}
		if (a == 0)
			break;
		assert_op_same(&o1, &o2);
		assert_true(eptf_trace_line(r1) == ref_trace_line(r2));
	}
	eptf_trace_close(r1);
	ref_trace_close(r2);
out:
	fclose(f1);
	fclose(f2);
}

struct text {
	char *s;
	size_t n, cap;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->n + n + 1 > t->cap) {
		t->cap = (t->n + n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		assert_non_null(t->s);
	}
	memcpy(t->s + t->n, s, n);
	t->n += n;
	t->s[t->n] = '\0';
}

static void puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

static void test_read_random_traces(void **state)
{
	char buf[EPTF_TRACE_MAX_LINE + 64];
	struct text t = {0};
	struct eptf_op op;

	(void)state;
	for (int file = 0; file < 120; file++) {
		/* mostly clean files that cross several 64 KiB blocks, some with one defect */
		unsigned lines = file % 4 == 0 ? 200 : 2000 + (unsigned)(rnd() % 4000);
		unsigned bad_every = file % 3 == 0 ? 0 : 50 + (unsigned)(rnd() % 3000);

		t.n = 0;
		snprintf(buf, sizeof(buf), "eptflush-trace 1\nvcpus %u\n%sbegin\n", 1 + (unsigned)(rnd() % 64),
			 rnd() % 2 ? "source test\n# c\n\n" : "");
		puts_(&t, buf);
		for (unsigned i = 0; i < lines; i++) {
			size_t n = (size_t)canonical_line(buf, sizeof(buf), &op);

			switch (rnd() % 40) {
			case 0: puts_(&t, "\n"); break;
			case 1: puts_(&t, "# a comment line\n"); break;
			case 2: puts_(&t, "   \t\n"); break;
			case 3: buf[n++] = '\r'; break;
			case 4: memcpy(buf + n, " # end", 6); n += 6; break;
			case 5: /* a long, still valid line */
				while (n < EPTF_TRACE_MAX_LINE - (rnd() % 2))
					buf[n++] = ' ';
				break;
			}
			if (bad_every && rnd() % bad_every == 0)
				mutate(buf, &n, EPTF_TRACE_MAX_LINE + 8);
			put(&t, buf, n);
			if (i + 1 < lines || rnd() % 2)
				put(&t, "\n", 1);
		}
		same_reads(t.s, t.n, "random trace");
	}
	free(t.s);
}

/*
 * The fast path checks vcpu= against the header's count itself (and
 * declines the line for the general path to diagnose): traces whose ops
 * use vcpus up to the count, the last one sometimes at or past it; runs of
 * blank and comment lines (after which the general path reads on).
 */
static void test_read_vcpu_bound(void **state)
{
	char buf[EPTF_TRACE_MAX_LINE + 64];
	struct text t = {0};
	struct eptf_op op;

	(void)state;
	for (int file = 0; file < 200; file++) {
		unsigned nr = file < 64 ? (unsigned)file + 1 : 1 + (unsigned)(rnd() % 64);
		unsigned lines = 50 + (unsigned)(rnd() % 3000);

		t.n = 0;
		snprintf(buf, sizeof(buf), "eptflush-trace 1\nvcpus %u\nbegin\n", nr);
		puts_(&t, buf);
		for (unsigned i = 0; i < lines; i++) {
			bool last = i + 1 == lines;
			int n;

			do {
				n = canonical_line(buf, sizeof(buf), &op);
			} while (rnd() % 2 && op.kind != EPTF_OP_ROOT_LOAD && op.kind != EPTF_OP_MAP &&
				 op.kind != EPTF_OP_ACCESS && op.kind != EPTF_OP_SYNC);
			if (op.kind == EPTF_OP_ROOT_LOAD || op.kind == EPTF_OP_MAP ||
			    op.kind == EPTF_OP_ACCESS || op.kind == EPTF_OP_SYNC) {
				op.vcpu = rnd() % 4 ? (uint32_t)(rnd() % nr) : nr - 1;
				/* past the count, still a valid line (vcpu below EPTF_MAX_VCPUS) */
				if (last && rnd() % 2 && nr < EPTF_MAX_VCPUS)
					op.vcpu = nr + (uint32_t)(rnd() % (EPTF_MAX_VCPUS - nr));
				n = ref_op_format(&op, buf, sizeof(buf));
				assert_true(n > 0);
			}
			if (rnd() % 8 == 0)
				puts_(&t, rnd() % 2 ? "# comment\n\n" : "\n");
			put(&t, buf, (size_t)n);
			put(&t, "\n", 1);
		}
		same_reads(t.s, t.n, "vcpu bound");
	}
	free(t.s);
}

static void read_file(const char *path, struct text *t)
{
	char chunk[65536];
	FILE *f = fopen(path, "rb");
	size_t n;

	t->n = 0;
	if (!f)
		return;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		put(t, chunk, n);
	fclose(f);
}

/* Every file in @dir (not recursive) whose name ends in @suffix ("" for all). */
static unsigned corpus_dir(const char *dir, const char *suffix)
{
	struct text t = {0};
	struct dirent *e;
	unsigned count = 0;
	char path[4096];
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		size_t nl = strlen(e->d_name), sl = strlen(suffix);

		if (e->d_name[0] == '.' || nl < sl || strcmp(e->d_name + nl - sl, suffix))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		read_file(path, &t);
		same_reads(t.s, t.n, path);
		count++;
	}
	closedir(d);
	free(t.s);
	return count;
}

static void test_read_corpus(void **state)
{
	unsigned n = 0;

	(void)state;
	n += corpus_dir(EPTF_SOURCE_DIR "/tests/data", ".trace");
	n += corpus_dir(EPTF_SOURCE_DIR "/tests/data/bad/trace", "");
	n += corpus_dir(EPTF_SOURCE_DIR "/fuzz/corpus/fuzz_trace_read", "");
	n += corpus_dir(EPTF_SOURCE_DIR "/data", ".trace");
	assert_true(n > 70);
	/* more, e.g. a corpus a fuzzer grew: EPTF_EQUIV_CORPUS=DIR */
	if (getenv("EPTF_EQUIV_CORPUS"))
		printf("%u files in %s\n", corpus_dir(getenv("EPTF_EQUIV_CORPUS"), ""),
		       getenv("EPTF_EQUIV_CORPUS"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_same),
		cmocka_unit_test(test_format_same),
		cmocka_unit_test(test_parse_u64_same),
		cmocka_unit_test(test_parse_same),
		cmocka_unit_test(test_parse_long_lines),
		cmocka_unit_test(test_read_random_traces),
		cmocka_unit_test(test_read_vcpu_bound),
		cmocka_unit_test(test_read_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
