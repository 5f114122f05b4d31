/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One op <-> one trace line (docs/trace-format.md):
 *
 *   <op-name> key=value ... flag ...
 *
 * Each kind has a fixed set of keys (all required, except root_load which
 * takes exactly one of as= and cr3=) and of flag words. Keys map onto the
 * fields of struct eptf_op as include/eptflush/op.h documents them; a kind
 * leaves its other fields zero, which is what makes format/parse a
 * bijection between valid ops and canonical lines.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <eptflush/error.h>
#include <eptflush/mmu.h>
#include <eptflush/trace.h>

#include "spec.h"

#define KEY(k, name) [k] = {name, KEY_FIELD(k), KEY_STYLE(k)}

static const struct {
	const char *name;
	enum field field;
	enum style style;
} keys[K_COUNT] = {
	KEY(K_SLOT, "slot"),   KEY(K_GFN, "gfn"),     KEY(K_PAGES, "pages"), KEY(K_HVA, "hva"),
	KEY(K_VCPU, "vcpu"),   KEY(K_AS, "as"),       KEY(K_CR3, "cr3"),     KEY(K_ADDR, "addr"),
	KEY(K_LEVEL, "level"), KEY(K_FIRST, "first"), KEY(K_MASK, "mask"),   KEY(K_START, "start"),
	KEY(K_END, "end"),     KEY(K_TABLE, "table"), KEY(K_INDEX, "index"), KEY(K_PTE, "pte"),
};

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

/* Compile-time helpers for specs[]: NO_KEY contributes nothing. */
#define KM(k) ((k) == NO_KEY ? 0u : 1u << ((k) & 31))
#define FM(k) ((k) == NO_KEY ? 0u : 1u << KEY_FIELD(k))

/*
 * What one kind uses. order[] is the canonical key order on output (and the
 * set of keys the kind accepts); level_max is the highest legal level. The
 * rest is derived from those at compile time, so that neither the parser
 * nor eptf_op_validate() loops over the key table per op: key_mask is the
 * keys accepted (bit per enum fkey), field_mask the struct eptf_op fields
 * they land in (bit per enum field; every other field must be zero),
 * flag_mask the op flag bits the kind allows.
 */
struct kind_spec {
	uint8_t order[4];
	uint8_t words; /* bit per enum fword */
	uint8_t level_max;
	uint8_t field_mask;
	uint8_t flag_mask;
	uint32_t key_mask;
};

#define SPEC(kind, k0, k1, k2, k3, w, lmax, extra_flags)                                      \
	[kind] = {                                                                             \
		.order = {k0, k1, k2, k3}, .words = (w), .level_max = (lmax),                  \
		.field_mask = (uint8_t)(FM(k0) | FM(k1) | FM(k2) | FM(k3)),                    \
		.flag_mask = (uint8_t)(WORD_BITS(w) | (extra_flags)),                          \
		.key_mask = KM(k0) | KM(k1) | KM(k2) | KM(k3),                                 \
	},

static const struct kind_spec specs[EPTF_OP_KIND_COUNT] = {KINDS(SPEC)};

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

/* Range checks of one key's value: 0 or EPTF_EINVAL with @detail. */
static int check_key(uint32_t kind, enum fkey k, uint64_t v, char *detail, size_t dlen)
{
	if (key_ok(k, v, specs[kind].level_max, EPTF_MAX_VCPUS))
		return 0;
	/* out of key_ok()'s bounds (spec.h): say which and why */
	switch (k) {
	case K_SLOT:
		say(detail, dlen, "slot 0x%llx out of range (address space must be 0 or 1)", (unsigned long long)v);
		break;
	case K_VCPU:
		say(detail, dlen, "vcpu %llu out of range 0..%d", (unsigned long long)v, EPTF_MAX_VCPUS - 1);
		break;
	case K_AS:
		say(detail, dlen, "as %llu out of range 0..1", (unsigned long long)v);
		break;
	case K_LEVEL:
		say(detail, dlen, "level %llu out of range 1..%u", (unsigned long long)v, specs[kind].level_max);
		break;
	case K_INDEX:
		say(detail, dlen, "index %llu out of range 0..511", (unsigned long long)v);
		break;
	case K_FIRST:
		if (v < EPTF_TRACE_PAGE_LIMIT) {
			say(detail, dlen, "first 0x%llx not a multiple of 64", (unsigned long long)v);
			break;
		}
		/* fall through */
	case K_GFN:
	case K_CR3:
	case K_ADDR:
	case K_TABLE:
		say(detail, dlen, "%s 0x%llx out of range (page numbers are below 2^40)", keys[k].name,
		    (unsigned long long)v);
		break;
	case K_PAGES:
		say(detail, dlen, "pages 0x%llx out of range 1..2^40", (unsigned long long)v);
		break;
	case K_HVA:
		say(detail, dlen, "hva 0x%llx not page-aligned", (unsigned long long)v);
		break;
	case K_MASK:
	case K_START:
	case K_END:
	case K_PTE:
	case K_COUNT:
		return 0; /* any value (key_ok() said so) */
	}
	return EPTF_EINVAL;
}

/* Bit per enum field: which fields of @op are not zero. */
static unsigned nonzero_fields(const struct eptf_op *op)
{
	return (op->slot ? KB(F_SLOT) : 0u) | (op->vcpu ? KB(F_VCPU) : 0u) |
	       (op->level ? KB(F_LEVEL) : 0u) | (op->addr ? KB(F_ADDR) : 0u) |
	       (op->count ? KB(F_COUNT) : 0u) | (op->value ? KB(F_VALUE) : 0u);
}

int eptf_op_validate(const struct eptf_op *op, char *detail, size_t dlen)
{
	uint32_t kind = op->kind, mask;
	const struct kind_spec *spec;
	unsigned unused;
	int r;

	if (kind == EPTF_OP_NONE || kind >= EPTF_OP_KIND_COUNT) {
		say(detail, dlen, "unknown op kind %u", kind);
		return EPTF_EINVAL;
	}
	spec = &specs[kind];
	mask = spec->key_mask;
	if (kind == EPTF_OP_ROOT_LOAD)
		mask &= ~(op->flags & EPTF_OPF_DIRECT ? KB(K_CR3) : KB(K_AS));
	/*
	 * Every field the kind does not use must be zero; the lowest such field
	 * is the one reported. (root_load's as= and cr3= both land in addr, so
	 * its field mask does not depend on DIRECT.)
	 */
	unused = nonzero_fields(op) & ~(unsigned)spec->field_mask;
	if (unused) {
		static const char *const fname[] = {"slot", "vcpu", "level", "addr", "count", "value"};

		say(detail, dlen, "%s: field %s is not used by this op and must be 0",
		    eptf_op_name(kind), fname[__builtin_ctz(unused)]);
		return EPTF_EINVAL;
	}
	if (op->flags & ~spec->flag_mask) {
		say(detail, dlen, "%s: flags 0x%x not used by this op", eptf_op_name(kind),
		    op->flags & ~spec->flag_mask);
		return EPTF_EINVAL;
	}
	/* keys in enum fkey order: the first failing one is reported */
	for (; mask; mask &= mask - 1) {
		enum fkey k = (enum fkey)__builtin_ctz(mask);

		r = check_key(kind, k, get_field(op, keys[k].field), detail, dlen);
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

static char *put_text(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

/* @v in decimal, as "%llu". */
static char *put_dec(char *p, uint64_t v)
{
	char t[20];
	int i = 0;

	do {
		t[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		*p++ = t[--i];
	return p;
}

/* @v in hex after "0x", as "0x%llx". */
static char *put_hex(char *p, uint64_t v)
{
	int i = v ? (67 - __builtin_clzll(v)) / 4 : 1; /* digits */

	*p++ = '0';
	*p++ = 'x';
	p += i;
	for (char *q = p; i--; v >>= 4)
		*--q = "0123456789abcdef"[v & 15];
	return p;
}

/*
 * The line is built in a local buffer (at most ~160 bytes: a name, four keys
 * with 20-digit numbers, the flags) with no printf, then copied. When @len
 * is too small, @buf gets what the snprintf() pieces of the former version
 * left there: the line cut to @len - 1 bytes.
 */
int eptf_op_format(const struct eptf_op *op, char *buf, size_t len)
{
	const struct kind_spec *spec;
	char line[256], *p = line;
	size_t n;

	if (eptf_op_validate(op, NULL, 0))
		return EPTF_EINVAL;
	spec = &specs[op->kind];
	p = put_text(p, eptf_op_name(op->kind));
	for (int i = 0; i < 4; i++) {
		enum fkey k = spec->order[i];
		uint64_t v;

		if (k == (enum fkey)NO_KEY)
			continue;
		if (op->kind == EPTF_OP_ROOT_LOAD &&
		    ((k == K_AS && !(op->flags & EPTF_OPF_DIRECT)) ||
		     (k == K_CR3 && (op->flags & EPTF_OPF_DIRECT))))
			continue;
		v = get_field(op, keys[k].field);
		*p++ = ' ';
		p = put_text(p, keys[k].name);
		*p++ = '=';
		if (keys[k].style == S_DEC || (keys[k].style == S_SLOT && v < 0x10000))
			p = put_dec(p, v);
		else
			p = put_hex(p, v);
	}
	for (int w = 0; w < W_COUNT; w++) {
		if (!(spec->words & KB(w)) || !(op->flags & words[w].bit))
			continue;
		*p++ = ' ';
		p = put_text(p, words[w].name);
	}
	n = (size_t)(p - line);
	if (n >= len) {
		if (len) {
			memcpy(buf, line, len - 1);
			buf[len - 1] = '\0';
		}
		return EPTF_ENOSPC;
	}
	memcpy(buf, line, n);
	buf[n] = '\0';
	return (int)n;
}

/* hexval[c] is 0x10 | digit for a hex digit (either case), else 0. */
#define HEXCH(c, d) [c] = 0x10 | (d)
static const uint8_t hexval[256] = {
	HEXCH('0', 0), HEXCH('1', 1), HEXCH('2', 2), HEXCH('3', 3), HEXCH('4', 4), HEXCH('5', 5),
	HEXCH('6', 6), HEXCH('7', 7), HEXCH('8', 8), HEXCH('9', 9), HEXCH('a', 10), HEXCH('b', 11),
	HEXCH('c', 12), HEXCH('d', 13), HEXCH('e', 14), HEXCH('f', 15), HEXCH('A', 10), HEXCH('B', 11),
	HEXCH('C', 12), HEXCH('D', 13), HEXCH('E', 14), HEXCH('F', 15),
};

bool eptf_trace_parse_u64(const char *s, size_t n, bool upper_x, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return false;
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || (upper_x && s[1] == 'X'))) {
		for (size_t i = 2; i < n; i++) {
			unsigned h = hexval[(unsigned char)s[i]];

			if (!h || (v >> 60))
				return false;
			v = v << 4 | (h & 15);
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			unsigned d = (unsigned)((unsigned char)s[i] - '0');

			if (d > 9)
				return false;
			/* below 19 digits no overflow is possible: spare the division */
			if (i >= 19 && v > (UINT64_MAX - d) / 10)
				return false;
			v = v * 10 + d;
		}
	}
	*out = v;
	return true;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * Token lookups: within one length, the first byte tells the names apart,
 * so each is one switch and one compare instead of a loop over the table.
 * Each returns exactly what a loop comparing the token with every name
 * would (names are unique), tests/test_trace_equiv.c checks it.
 */

/* The op kind named by the @n bytes at @s, or EPTF_OP_NONE (as eptf_op_kind_by_name()). */
static uint32_t kind_by_token(const char *s, size_t n)
{
	uint32_t k;
	const char *name;

	switch (n) {
	case 3: k = EPTF_OP_MAP; break;
	case 4: k = EPTF_OP_SYNC; break;
	case 6: k = s[0] == 'a' ? EPTF_OP_ACCESS : EPTF_OP_WP_GFN; break;
	case 8: k = EPTF_OP_SLOT_ADD; break;
	case 9:
		switch (s[0]) {
		case 's': k = EPTF_OP_SLOT_MOVE; break;
		case 'r': k = EPTF_OP_ROOT_LOAD; break;
		case 'z': k = EPTF_OP_ZAP_RANGE; break;
		case 'u': k = EPTF_OP_UNMAP_HVA; break;
		case 'g': k = EPTF_OP_GPT_WRITE; break;
		default: return EPTF_OP_NONE;
		}
		break;
	case 10: k = s[0] == 's' ? EPTF_OP_SLOT_FLAGS : EPTF_OP_COMMIT_ZAP; break;
	case 11:
		switch (s[0]) {
		case 's': k = EPTF_OP_SLOT_DELETE; break;
		case 'p': k = EPTF_OP_PREPARE_ZAP; break;
		case 'c': k = EPTF_OP_CLEAR_YOUNG; break;
		default: return EPTF_OP_NONE;
		}
		break;
	case 13: k = EPTF_OP_GET_DIRTY_LOG; break;
	case 15: k = EPTF_OP_CLEAR_DIRTY_LOG; break;
	case 17: k = EPTF_OP_CLEAR_FLUSH_YOUNG; break;
	default: return EPTF_OP_NONE;
	}
	name = eptf_op_name(k);
	return memcmp(s, name, n) == 0 && name[n] == '\0' ? k : EPTF_OP_NONE;
}

/* The key named by the @n bytes at @s, or K_COUNT. */
static enum fkey key_by_token(const char *s, size_t n)
{
	enum fkey k;

	switch (n) {
	case 2: k = K_AS; break;
	case 3:
		switch (s[0]) {
		case 'g': k = K_GFN; break;
		case 'h': k = K_HVA; break;
		case 'c': k = K_CR3; break;
		case 'e': k = K_END; break;
		case 'p': k = K_PTE; break;
		default: return K_COUNT;
		}
		break;
	case 4:
		switch (s[0]) {
		case 's': k = K_SLOT; break;
		case 'v': k = K_VCPU; break;
		case 'a': k = K_ADDR; break;
		case 'm': k = K_MASK; break;
		default: return K_COUNT;
		}
		break;
	case 5:
		switch (s[0]) {
		case 'p': k = K_PAGES; break;
		case 'l': k = K_LEVEL; break;
		case 'f': k = K_FIRST; break;
		case 's': k = K_START; break;
		case 't': k = K_TABLE; break;
		case 'i': k = K_INDEX; break;
		default: return K_COUNT;
		}
		break;
	default: return K_COUNT;
	}
	return memcmp(s, keys[k].name, n) == 0 && keys[k].name[n] == '\0' ? k : K_COUNT;
}

/* The flag word named by the @n bytes at @s, or W_COUNT. */
static enum fword word_by_token(const char *s, size_t n)
{
	enum fword w;

	switch (n) {
	case 1: w = s[0] == 'w' ? W_W : W_X; break;
	case 6: w = W_DIRECT; break;
	case 8: w = W_READONLY; break;
	case 9: w = W_DIRTY_LOG; break;
	default: return W_COUNT;
	}
	return memcmp(s, words[w].name, n) == 0 && words[w].name[n] == '\0' ? w : W_COUNT;
}

/* Static reasons for eptf_op_parse(), indexed by enum perr. */
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
	kind = kind_by_token(name, nlen);
	if (kind == EPTF_OP_NONE) {
		tokcopy(tok, sizeof(tok), name, nlen);
		say(detail, dlen, "unknown op '%s'", tok);
		return P_OP;
	}
	op->kind = kind;
	allowed = specs[kind].key_mask;
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
			enum fword w = word_by_token(t, tlen);

			if (w == W_COUNT || !(specs[kind].words & KB(w))) {
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
		enum fkey k;
		uint64_t v;

		if (klen == 0 || vlen == 0) {
			tokcopy(tok, sizeof(tok), t, tlen);
			say(detail, dlen, "malformed field '%s' (expected key=value)", tok);
			return P_FIELD;
		}
		k = key_by_token(t, klen);
		if (k == K_COUNT || !(allowed & KB(k))) {
			tokcopy(tok, sizeof(tok), t, klen);
			say(detail, dlen, "unknown key '%s' for %s", tok, eptf_op_name(kind));
			return P_KEY;
		}
		if (seen & KB(k)) {
			say(detail, dlen, "duplicate key '%s'", keys[k].name);
			return P_DUPKEY;
		}
		seen |= KB(k);
		if (!eptf_trace_parse_u64(eq + 1, vlen, false, &v)) {
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
	if (eptf_op_validate(op, detail, dlen))
		return P_RANGE;
	return P_OK;
}

int eptf_op_parse_detail(const char *line, size_t len, struct eptf_op *op, char *detail, size_t dlen)
{
	return parse_line(line, len, op, detail, dlen) == P_OK ? 0 : EPTF_EPARSE;
}

int eptf_op_parse(const char *line, struct eptf_op *op, const char **why)
{
	enum perr e = parse_line(line, strlen(line), op, NULL, 0);

	if (why)
		*why = e == P_OK ? NULL : perr_text[e];
	return e == P_OK ? 0 : EPTF_EPARSE;
}
