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

int eptf_op_validate(const struct eptf_op *op, char *detail, size_t dlen)
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

int eptf_op_format(const struct eptf_op *op, char *buf, size_t len)
{
	size_t n = 0;
	int r;

	if (eptf_op_validate(op, NULL, 0))
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

bool eptf_trace_parse_u64(const char *s, size_t n, bool upper_x, uint64_t *out)
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
