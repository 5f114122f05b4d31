/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The op trace: a documented, versioned, line-oriented text format
 * (docs/trace-format.md). A header names the format version, the vCPU
 * count and the source; then one op per line. Reader and writer stream:
 * memory does not grow with the trace length.
 */
#ifndef EPTFLUSH_TRACE_H
#define EPTFLUSH_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <eptflush/op.h>

#define EPTF_TRACE_VERSION 1
/* The first line of every trace: "eptflush-trace <version>". */
#define EPTF_TRACE_MAGIC "eptflush-trace"
/* Longest line the reader accepts, in bytes without the newline; longer is an error. */
#define EPTF_TRACE_MAX_LINE 4096
/* Page numbers (gfn, input page, table gfn) are below 2^40: 52-bit physical addresses. */
#define EPTF_TRACE_PAGE_LIMIT (1ull << 40)

/* A diagnostic: "file:line: what is wrong". */
struct eptf_diag {
	char msg[512];
};

struct eptf_trace_header {
	unsigned version;
	unsigned nr_vcpus;
	char source[64];  /* "synthetic", "import", "capture", ... */
	char name[128];   /* workload or file name */
	char detail[256]; /* free text (generator options, kernel, ...) */
};

struct eptf_trace_reader;

/*
 * Open @path ("-" is stdin) and read its header. Returns 0, or a negative
 * EPTF_E* with @diag set ("file:line: reason").
 */
int eptf_trace_open(const char *path, struct eptf_trace_header *hdr, struct eptf_trace_reader **out,
		    struct eptf_diag *diag);
/*
 * Like eptf_trace_open() on an already open stream @f, named @name in
 * diagnostics. The reader does not close @f; the caller does, after
 * eptf_trace_close().
 */
int eptf_trace_open_file(FILE *f, const char *name, struct eptf_trace_header *hdr,
			 struct eptf_trace_reader **out, struct eptf_diag *diag);
/* Read the next op: 1 = got one, 0 = end of trace, < 0 = error with @diag. */
int eptf_trace_read(struct eptf_trace_reader *r, struct eptf_op *op, struct eptf_diag *diag);
/* Line number of the last op read. */
uint64_t eptf_trace_line(const struct eptf_trace_reader *r);
void eptf_trace_close(struct eptf_trace_reader *r);

struct eptf_trace_writer;

/*
 * Create @path through a temporary file in the same directory, renamed into
 * place by eptf_trace_writer_commit(); "-" writes to stdout directly.
 */
int eptf_trace_writer_open(const char *path, const struct eptf_trace_header *hdr,
			   struct eptf_trace_writer **out, struct eptf_diag *diag);
int eptf_trace_write(struct eptf_trace_writer *w, const struct eptf_op *op);
/* A comment line (# text) for markers; no effect on replay. */
int eptf_trace_write_comment(struct eptf_trace_writer *w, const char *text);
/* Flush, close and rename into place. Returns 0 or a negative EPTF_E*. */
int eptf_trace_writer_commit(struct eptf_trace_writer *w, struct eptf_diag *diag);
/* Close and remove the temporary file: nothing half-written is left. */
void eptf_trace_writer_abort(struct eptf_trace_writer *w);

/*
 * Format one op as its trace line (no newline) into @buf; returns the
 * length, EPTF_EINVAL for an op eptf_op_validate() refuses, EPTF_ENOSPC if
 * @len is too small. EPTF_TRACE_MAX_LINE + 1 bytes always suffice.
 */
int eptf_op_format(const struct eptf_op *op, char *buf, size_t len);
/* Parse one op line; returns 0 or EPTF_EPARSE with @why set to a static reason. */
int eptf_op_parse(const char *line, struct eptf_op *op, const char **why);
/*
 * Like eptf_op_parse() on @len bytes at @line (no NUL needed), with the
 * full reason ("unknown key 'foo' for map") written to @detail.
 */
int eptf_op_parse_detail(const char *line, size_t len, struct eptf_op *op, char *detail,
			 size_t detail_len);
/*
 * Check that @op is representable in a trace: a known kind, every field in
 * its range, fields the kind does not use zero. 0 or EPTF_EINVAL with the
 * reason in @detail (may be NULL).
 */
int eptf_op_validate(const struct eptf_op *op, char *detail, size_t detail_len);
/*
 * Parse the unsigned number in the @n bytes at @s (no NUL needed): decimal,
 * or hexadecimal after "0x" (also after "0X" when @upper_x: the importer
 * takes C numbers; trace text is lower case). No sign, no space. False on
 * anything else, on n == 0 and on overflow. The trace reader and
 * src/import both parse with it.
 */
bool eptf_trace_parse_u64(const char *s, size_t n, bool upper_x, uint64_t *out);

#endif
