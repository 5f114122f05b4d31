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
 * skipping blank and comment lines. 1, 0 at the end, or < 0. Out of line,
 * so that the fast path does not pay for its frame.
 */
static __attribute__((noinline)) int read_general(struct eptf_trace_reader *r, struct eptf_op *op,
						  struct eptf_diag *diag)
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

int eptf_trace_read(struct eptf_trace_reader *r, struct eptf_op *op, struct eptf_diag *diag)
{
	int ret;

	if (r->err) {
		if (diag)
			*diag = r->last;
		return r->err;
	}
	for (;;) {
		/*
		 * Fast path: a canonical op line that ends inside the block is
		 * parsed in place (no copy, no second scan for the newline). A
		 * line ending at the sentinel may go on in the next block; that
		 * one, and every line the fast path declines, takes the general
		 * path, which accepts or diagnoses it as it always did. The fast
		 * path leaves @op alone unless it takes the line, so @op after
		 * an error or the end is what it was before, too.
		 */
		size_t n = eptf__op_parse_fast(r->block + r->bpos, r->block + r->blen, op);

		if (n) {
			r->bpos += n;
			r->lineno++;
			break;
		}
		ret = read_general(r, op, diag);
		if (ret <= 0)
			return ret;
		if (ret == 1)
			break;
		/* 2: a blank or comment line */
	}
	if ((op->kind == EPTF_OP_ROOT_LOAD || op->kind == EPTF_OP_MAP || op->kind == EPTF_OP_ACCESS ||
	     op->kind == EPTF_OP_SYNC) &&
	    op->vcpu >= r->nr_vcpus)
		return fail(r, diag, EPTF_EPARSE, "vcpu %u out of range (the header says vcpus %u)",
			    op->vcpu, r->nr_vcpus);
	r->op_line = r->lineno;
	return 1;
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
