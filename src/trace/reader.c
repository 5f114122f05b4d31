/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The streaming trace reader. One fixed block buffer and one fixed line
 * buffer per reader: memory is constant whatever the trace length, and no
 * op allocates. Every malformed input is a "file:line: reason" diagnostic
 * and a negative return; an error is sticky (later reads repeat it).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <eptflush/error.h>
#include <eptflush/mmu.h>
#include <eptflush/trace.h>

#include "spec.h"
#include "trace_int.h"

#define BLOCK 65536

struct eptf_trace_reader {
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
	/* + a '\n' at block[blen] (the fast path's sentinel) + the pad it may read */
	char block[BLOCK + 1 + EPTF__FAST_PAD];
	char line[EPTF_TRACE_MAX_LINE + 1];
};

static __attribute__((format(printf, 4, 5))) int fail(struct eptf_trace_reader *r, struct eptf_diag *diag,
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
static int next_line(struct eptf_trace_reader *r, size_t *lenp, struct eptf_diag *diag)
{
	size_t len = 0;
	bool any = false;

	if (r->eof)
		return 0;
	r->lineno++;
	for (;;) {
		if (r->bpos == r->blen) {
			r->blen = fread(r->block, 1, BLOCK, r->f);
			r->bpos = 0;
			r->block[r->blen] = '\n';
			if (r->blen == 0) {
				if (ferror(r->f))
					return fail(r, diag, EPTF_EIO, "read error: %s", strerror(errno));
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
			return fail(r, diag, EPTF_EPARSE, "line longer than %d bytes",
				    EPTF_TRACE_MAX_LINE);
		if (memchr(s, '\0', take))
			return fail(r, diag, EPTF_EPARSE, "NUL byte in line");
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

static int set_text(struct eptf_trace_reader *r, struct eptf_diag *diag, const char *key,
		    const char *value, char *dst, size_t size, bool *seen)
{
	if (*seen)
		return fail(r, diag, EPTF_EPARSE, "duplicate header line '%s'", key);
	*seen = true;
	if (strlen(value) >= size)
		return fail(r, diag, EPTF_EPARSE, "header '%s' longer than %zu bytes", key, size - 1);
	strcpy(dst, value);
	return 0;
}

static int read_header(struct eptf_trace_reader *r, struct eptf_trace_header *hdr, struct eptf_diag *diag)
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
		return fail(r, diag, EPTF_EPARSE, "empty file: expected '%s %d'", EPTF_TRACE_MAGIC,
			    EPTF_TRACE_VERSION);
	}
	split_kv(r->line, &key, &value);
	if (strcmp(key, EPTF_TRACE_MAGIC) != 0)
		return fail(r, diag, EPTF_EPARSE, "not an eptflush trace: the first line must be '%s %d'",
			    EPTF_TRACE_MAGIC, EPTF_TRACE_VERSION);
	errno = 0;
	unsigned long ver = strtoul(value, &end, 10);
	if (!*value || *value < '0' || *value > '9' || *end || errno)
		return fail(r, diag, EPTF_EPARSE, "bad trace version '%.40s'", value);
	if (ver != EPTF_TRACE_VERSION)
		return fail(r, diag, EPTF_EPARSE, "unsupported trace version %lu (this reader knows %d)",
			    ver, EPTF_TRACE_VERSION);
	hdr->version = (unsigned)ver;
	for (;;) {
		ret = next_line(r, &len, diag);
		if (ret < 0)
			return ret;
		if (ret == 0) {
			r->lineno++;
			return fail(r, diag, EPTF_EPARSE, "end of file in the header (no 'begin' line)");
		}
		if (is_blank(r->line))
			continue;
		split_kv(r->line, &key, &value);
		if (!strcmp(key, "begin")) {
			if (*value)
				return fail(r, diag, EPTF_EPARSE, "'begin' takes no value");
			if (!seen_vcpus)
				return fail(r, diag, EPTF_EPARSE, "missing 'vcpus' header line before 'begin'");
			break;
		}
		if (!*value)
			return fail(r, diag, EPTF_EPARSE, "header '%.40s' needs a value", key);
		if (!strcmp(key, "vcpus")) {
			if (seen_vcpus)
				return fail(r, diag, EPTF_EPARSE, "duplicate header line 'vcpus'");
			seen_vcpus = true;
			errno = 0;
			unsigned long n = strtoul(value, &end, 10);
			if (*value < '0' || *value > '9' || *end || errno)
				return fail(r, diag, EPTF_EPARSE, "bad number '%.40s' for 'vcpus'", value);
			if (n < 1 || n > EPTF_MAX_VCPUS)
				return fail(r, diag, EPTF_EPARSE, "vcpus %lu out of range 1..%d", n,
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
			return fail(r, diag, EPTF_EPARSE, "unknown header line '%s' (before 'begin')", k);
		}
		if (ret < 0)
			return ret;
	}
	r->nr_vcpus = hdr->nr_vcpus;
	return 0;
}

/*
 * ---- The fast path (trace_int.h): the writer's canonical spelling only ----
 *
 * The op name, then " key=number" for each key of the kind in the order of
 * KINDS() (spec.h), decimal or lower-case 0x hex as the writer spells it,
 * then " flag" for each flag word in enum fword order, then '\n'. Any other
 * line returns 0 and takes the general path (eptf_op_parse_detail()),
 * which accepts it or diagnoses it. The code for one kind is its own
 * inlined copy (fast_<kind>() below) with the keys, patterns and bounds as
 * constants; it is kept small (byte loops for numbers, no tables but the
 * hex digits) so that it does not push the replay out of the caches.
 *
 * A number is not checked for its terminator: whatever follows it is
 * compared next (" key=", " flag" or the '\n'), which only a ' ' or a
 * '\n' passes. Compares read fixed sizes and may go up to 18 bytes past
 * the line's '\n' (a 17-byte name on an empty line), below EPTF__FAST_PAD.
 */

/* The bytes at @p are the literal @lit (fixed-size compares, no loop). */
#define AT(p, lit) (memcmp((p), (lit), sizeof(lit) - 1) == 0)

/*
 * hexdig[c] is the value of a lower-case hex digit, -1 for any other byte:
 * a sign test and no mask per digit.
 */
#define HEXD(c) ((c) >= '0' && (c) <= '9' ? (c) - '0' : (c) >= 'a' && (c) <= 'f' ? (c) - 'a' + 10 : -1)
#define HEXD4(c) HEXD(c), HEXD((c) + 1), HEXD((c) + 2), HEXD((c) + 3)
#define HEXD16(c) HEXD4(c), HEXD4((c) + 4), HEXD4((c) + 8), HEXD4((c) + 12)
#define HEXD64(c) HEXD16(c), HEXD16((c) + 16), HEXD16((c) + 32), HEXD16((c) + 48)
static const int8_t hexdig[256] = {HEXD64(0), HEXD64(64), HEXD64(128), HEXD64(192)};

/* 1..16 hex digits: the position after them (NULL for none) and their value. */
struct hexnum {
	const char *end;
	uint64_t v;
};

/*
 * Out of line: one copy of the digit loop for every hex key of every kind,
 * rather than one unrolled copy each (the code stays small in the I-cache).
 * The result comes back in two registers.
 */
static __attribute__((noinline)) struct hexnum hex_at(const char *p)
{
	struct hexnum r = {NULL, 0};
	int64_t h;
	int i;

	for (i = 0; i < 16; i++) {
		h = hexdig[(unsigned char)p[i]];
		if (h < 0)
			break;
		r.v = r.v << 4 | (uint64_t)h;
	}
	if (i)
		r.end = p + i;
	return r;
}

/*
 * 1..@maxd decimal digits at @p into *@out (@maxd is the most the key's
 * range needs: a longer number is left with a digit next, which fails the
 * next compare). The position after them, or NULL.
 */
static inline __attribute__((always_inline)) const char *dec_at(const char *p, int maxd, uint64_t *out)
{
	unsigned h = (unsigned)((unsigned char)p[0] - '0');
	uint64_t v = h;

	if (h > 9)
		return NULL;
	for (int i = 1; i < maxd; i++) {
		h = (unsigned)((unsigned char)p[i] - '0');
		if (h > 9) {
			*out = v;
			return p + i;
		}
		v = v * 10 + h;
	}
	*out = v;
	return p + maxd;
}

/* " key=" at @p, with the "0x" of a hex key: its length, or 0. */
static inline __attribute__((always_inline)) size_t key_at(const char *p, unsigned k)
{
#define KEY_LIT(key, lit) \
	case key:         \
		return AT(p, lit) ? sizeof(lit) - 1 : 0
	switch (k) {
	KEY_LIT(K_SLOT, " slot=");
	KEY_LIT(K_GFN, " gfn=0x");
	KEY_LIT(K_PAGES, " pages=0x");
	KEY_LIT(K_HVA, " hva=0x");
	KEY_LIT(K_VCPU, " vcpu=");
	KEY_LIT(K_AS, " as=");
	KEY_LIT(K_CR3, " cr3=0x");
	KEY_LIT(K_ADDR, " addr=0x");
	KEY_LIT(K_LEVEL, " level=");
	KEY_LIT(K_FIRST, " first=0x");
	KEY_LIT(K_MASK, " mask=0x");
	KEY_LIT(K_START, " start=0x");
	KEY_LIT(K_END, " end=0x");
	KEY_LIT(K_TABLE, " table=0x");
	KEY_LIT(K_INDEX, " index=");
	KEY_LIT(K_PTE, " pte=0x");
	}
#undef KEY_LIT
	return 0;
}

/* The most decimal digits the writer uses for a decimal key (slot: below 0x10000). */
#define DEC_DIGITS(k) ((k) == K_SLOT ? 5 : (k) == K_INDEX ? 3 : (k) == K_VCPU ? 2 : 1)

/*
 * One " key=number" at @p into @val[its field]; NO_KEY: nothing. The new
 * position, or NULL. @k and @lmax are constants after inlining.
 */
static inline __attribute__((always_inline)) const char *fast_key(const char *p, unsigned k, unsigned lmax,
								  unsigned nr_vcpus, uint64_t *val)
{
	size_t n;
	uint64_t v;

	if (k == NO_KEY)
		return p;
	n = key_at(p, k);
	if (!n)
		return NULL;
	p += n;
	if (KEY_STYLE(k) == S_HEX || (KEY_STYLE(k) == S_SLOT && p[1] == 'x')) {
		if (KEY_STYLE(k) == S_SLOT) {
			if (p[0] != '0')
				return NULL;
			p += 2;
		}
		struct hexnum h = hex_at(p);

		p = h.end;
		v = h.v;
	} else {
		p = dec_at(p, DEC_DIGITS(k), &v);
	}
	if (!p || !key_ok(k, v, lmax, nr_vcpus))
		return NULL;
	val[KEY_FIELD(k)] = v;
	return p;
}

/*
 * The rest of a line of @kind after its name, at @p: the kind, its keys
 * @k0-@k3, flag words @w and highest level @lmax are constants (one copy
 * per kind, fast_<kind>()).
 */
static inline __attribute__((always_inline)) size_t fast_line(const char *line, const char *p, const char *end,
							      struct eptf_op *op, unsigned nr_vcpus,
							      uint32_t kind, unsigned k0, unsigned k1,
							      unsigned k2, unsigned k3, unsigned w,
							      unsigned lmax)
{
	uint64_t val[F_VALUE + 1] = {0};
	unsigned flags = 0;

	if (kind == EPTF_OP_ROOT_LOAD) {
		/* vcpu, then exactly one of as= (direct) and cr3= */
		p = fast_key(p, K_VCPU, lmax, nr_vcpus, val);
		if (p && AT(p, " as=")) {
			flags = EPTF_OPF_DIRECT;
			p = fast_key(p, K_AS, lmax, nr_vcpus, val);
		} else if (p) {
			p = fast_key(p, K_CR3, lmax, nr_vcpus, val);
		}
	} else {
		p = fast_key(p, k0, lmax, nr_vcpus, val);
		p = p ? fast_key(p, k1, lmax, nr_vcpus, val) : NULL;
		p = p ? fast_key(p, k2, lmax, nr_vcpus, val) : NULL;
		p = p ? fast_key(p, k3, lmax, nr_vcpus, val) : NULL;
	}
	if (!p)
		return 0;
	/* the kind's flags, each optional, in enum fword order: so none twice */
#define OPT_WORD(wd, lit)                                                                  \
	if ((w & KB(wd)) && p[0] == ' ' && AT(p + 1, lit) && (p[sizeof(lit)] == ' ' ||      \
							      p[sizeof(lit)] == '\n')) { \
		flags |= WORD_BITS(KB(wd));                                                \
		p += sizeof(lit);                                                          \
	}
	OPT_WORD(W_W, "w")
	OPT_WORD(W_X, "x")
	OPT_WORD(W_DIRECT, "direct")
	OPT_WORD(W_DIRTY_LOG, "dirty_log")
	OPT_WORD(W_READONLY, "readonly")
#undef OPT_WORD
	/*
	 * The line ends here, before the block's sentinel. (It is at most
	 * about 130 bytes: the longest name, four keys of 16 digits and two
	 * words; far below EPTF_TRACE_MAX_LINE.)
	 */
	if (*p != '\n' || p >= end)
		return 0;
	/* eptf_op_validate()'s cross-field rules; the rest holds by construction */
	if ((KB(kind) & SUM_KINDS) && val[F_ADDR] + val[F_COUNT] > EPTF_TRACE_PAGE_LIMIT)
		return 0;
	if ((KB(kind) & RANGE_KINDS) && val[F_COUNT] <= val[F_ADDR])
		return 0;
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->slot = (uint32_t)val[F_SLOT];
	op->vcpu = (uint32_t)val[F_VCPU];
	op->level = (uint8_t)val[F_LEVEL];
	op->flags = (uint8_t)flags;
	op->addr = val[F_ADDR];
	op->count = val[F_COUNT];
	op->value = val[F_VALUE];
	return (size_t)(p - line) + 1;
}

/* fast_<kind>(): fast_line() for one kind, with the name's length @nlen. */
#define FAST_FN(kind, k0, k1, k2, k3, w, lmax, extra)                                              \
	static inline __attribute__((always_inline)) size_t fast_##kind(                             \
		const char *line, size_t nlen, const char *end, struct eptf_op *op, unsigned nr_vcpus) \
	{                                                                                           \
		return fast_line(line, line + nlen, end, op, nr_vcpus, kind, k0, k1, k2, k3, w, lmax); \
	}
KINDS(FAST_FN)
#undef FAST_FN

/*
 * The fast path with vcpu= below @nr_vcpus: the line's length with its
 * '\n', and @op set; or 0 with @op untouched. The name is told by its first
 * byte and one compare, hot kinds first.
 */
static inline __attribute__((always_inline)) size_t parse_fast(const char *line, const char *end,
							       struct eptf_op *op, unsigned nr_vcpus)
{
#define TRY(lit, kind)                                                          \
	do {                                                                    \
		if (AT(line, lit))                                              \
			return fast_##kind(line, sizeof(lit) - 1, end, op, nr_vcpus); \
	} while (0)
	switch (line[0]) {
	case 'a': TRY("access", EPTF_OP_ACCESS); break;
	case 'c':
		TRY("clear_dirty_log", EPTF_OP_CLEAR_DIRTY_LOG);
		TRY("clear_flush_young", EPTF_OP_CLEAR_FLUSH_YOUNG);
		TRY("clear_young", EPTF_OP_CLEAR_YOUNG);
		TRY("commit_zap", EPTF_OP_COMMIT_ZAP);
		break;
	case 'g':
		TRY("gpt_write", EPTF_OP_GPT_WRITE);
		TRY("get_dirty_log", EPTF_OP_GET_DIRTY_LOG);
		break;
	case 'm': TRY("map", EPTF_OP_MAP); break;
	case 'p': TRY("prepare_zap", EPTF_OP_PREPARE_ZAP); break;
	case 'r': TRY("root_load", EPTF_OP_ROOT_LOAD); break;
	case 's':
		TRY("sync", EPTF_OP_SYNC);
		TRY("slot_add", EPTF_OP_SLOT_ADD);
		TRY("slot_delete", EPTF_OP_SLOT_DELETE);
		TRY("slot_move", EPTF_OP_SLOT_MOVE);
		TRY("slot_flags", EPTF_OP_SLOT_FLAGS);
		break;
	case 'u': TRY("unmap_hva", EPTF_OP_UNMAP_HVA); break;
	case 'w': TRY("wp_gfn", EPTF_OP_WP_GFN); break;
	case 'z': TRY("zap_range", EPTF_OP_ZAP_RANGE); break;
	}
#undef TRY
	return 0;
}

size_t eptf__op_parse_fast(const char *line, const char *end, struct eptf_op *op)
{
	return parse_fast(line, end, op, EPTF_MAX_VCPUS);
}

static int open_common(FILE *f, bool own, const char *name, struct eptf_trace_header *hdr,
		       struct eptf_trace_reader **out, struct eptf_diag *diag)
{
	struct eptf_trace_reader *r = calloc(1, sizeof(*r));
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
	r->block[0] = '\n'; /* the sentinel of the (empty) block */
	snprintf(r->name, sizeof(r->name), "%s", name);
	ret = read_header(r, hdr, diag);
	if (ret < 0) {
		eptf_trace_close(r);
		return ret;
	}
	*out = r;
	return 0;
}

int eptf_trace_open_file(FILE *f, const char *name, struct eptf_trace_header *hdr,
			 struct eptf_trace_reader **out, struct eptf_diag *diag)
{
	return open_common(f, false, name, hdr, out, diag);
}

int eptf_trace_open(const char *path, struct eptf_trace_header *hdr, struct eptf_trace_reader **out,
		    struct eptf_diag *diag)
{
	FILE *f;

	*out = NULL;
	if (!strcmp(path, "-"))
		return open_common(stdin, false, "<stdin>", hdr, out, diag);
	f = fopen(path, "r");
	if (!f) {
		snprintf(diag->msg, sizeof(diag->msg), "%s: %s", path, strerror(errno));
		return errno == ENOENT ? EPTF_ENOENT : EPTF_EIO;
	}
	return open_common(f, true, path, hdr, out, diag);
}

/*
 * The general path of eptf_trace_read(): the next op line through
 * next_line() (which refills the block) and eptf_op_parse_detail(),
 * skipping blank and comment lines. 1, 0 at the end, or < 0.
 */
static int read_general(struct eptf_trace_reader *r, struct eptf_op *op, struct eptf_diag *diag)
{
	char detail[sizeof(diag->msg) - 64];
	size_t len;
	int ret;

	ret = next_line(r, &len, diag);
	if (ret <= 0)
		return ret;
	if (is_blank(r->line))
		return 2;
	if (eptf_op_parse_detail(r->line, len, op, detail, sizeof(detail)))
		return fail(r, diag, EPTF_EPARSE, "%s", detail);
	return 1;
}

/*
 * Every read the fast path does not take: a sticky error, a line the fast
 * path declines (blank, comment, another spelling, an error, a vcpu not
 * below the header's count) or one that may go on in the next block. The
 * lines after a blank or comment line take the general path too, until
 * the next call: the same result, only slower. Out of line and cold, so
 * that eptf_trace_read() stays small.
 */
static __attribute__((noinline, cold)) int read_slow(struct eptf_trace_reader *r, struct eptf_op *op,
						     struct eptf_diag *diag)
{
	int ret;

	if (r->err) {
		if (diag)
			*diag = r->last;
		return r->err;
	}
	do {
		ret = read_general(r, op, diag);
		if (ret <= 0)
			return ret;
	} while (ret == 2); /* a blank or comment line */
	if ((op->kind == EPTF_OP_ROOT_LOAD || op->kind == EPTF_OP_MAP || op->kind == EPTF_OP_ACCESS ||
	     op->kind == EPTF_OP_SYNC) &&
	    op->vcpu >= r->nr_vcpus)
		return fail(r, diag, EPTF_EPARSE, "vcpu %u out of range (the header says vcpus %u)",
			    op->vcpu, r->nr_vcpus);
	r->op_line = r->lineno;
	return 1;
}

int eptf_trace_read(struct eptf_trace_reader *r, struct eptf_op *op, struct eptf_diag *diag)
{
	/*
	 * Fast path: a canonical op line that ends inside the block, with its
	 * vcpu below the header's count, is parsed in place (no copy, no
	 * second scan for the newline). A line ending at the sentinel may go
	 * on in the next block; that one, and every line the fast path
	 * declines, takes read_slow(), which accepts or diagnoses it as it
	 * always did. The fast path leaves @op alone unless it takes the
	 * line, so @op after an error or the end is what it was before, too.
	 */
	if (!r->err) {
		size_t n = parse_fast(r->block + r->bpos, r->block + r->blen, op, r->nr_vcpus);

		if (n) {
			r->bpos += n;
			r->op_line = ++r->lineno;
			return 1;
		}
	}
	return read_slow(r, op, diag);
}

uint64_t eptf_trace_line(const struct eptf_trace_reader *r)
{
	return r->op_line;
}

void eptf_trace_close(struct eptf_trace_reader *r)
{
	if (!r)
		return;
	if (r->own)
		fclose(r->f);
	free(r);
}
