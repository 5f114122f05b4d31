/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The checking sink both importer fuzz targets import into: a header comes
 * exactly once and first, every op is a known kind that the op-trace format
 * prints and parses back to the same kind, comments are single lines.
 * Violations abort, which libFuzzer files as a crash.
 */
#ifndef EPTF_FUZZ_IMPORT_SINK_H
#define EPTF_FUZZ_IMPORT_SINK_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eptflush/import.h>
#include <eptflush/trace.h>

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s: invariant failed: %s\n", __FILE__, #cond); \
			abort();                                                         \
		}                                                                        \
	} while (0)

struct sink_state {
	bool begun;
	uint64_t ops;
};

static int s_begin(void *ctx, const struct eptf_trace_header *hdr)
{
	struct sink_state *s = ctx;

	CHECK(!s->begun);
	CHECK(hdr->nr_vcpus >= 1 && hdr->nr_vcpus <= 64);
	s->begun = true;
	return 0;
}

static int s_op(void *ctx, const struct eptf_op *op)
{
	struct sink_state *s = ctx;
	char line[256];
	struct eptf_op back;
	const char *why = NULL;

	CHECK(s->begun);
	CHECK(op->kind > EPTF_OP_NONE && op->kind < EPTF_OP_KIND_COUNT);
	int n = eptf_op_format(op, line, sizeof(line));
	CHECK(n > 0 && (size_t)n < sizeof(line));
	CHECK(eptf_op_parse(line, &back, &why) == 0);
	CHECK(back.kind == op->kind);
	s->ops++;
	return 0;
}

static int s_comment(void *ctx, const char *text)
{
	struct sink_state *s = ctx;

	CHECK(s->begun);
	CHECK(strchr(text, '\n') == NULL);
	return 0;
}

/* A sink whose callbacks check @st. */
static inline struct eptf_import_sink checking_sink(struct sink_state *st)
{
	return (struct eptf_import_sink){.begin = s_begin, .op = s_op, .comment = s_comment, .ctx = st};
}

#endif
