/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for the kernel-trace text importer: the input is a
 * trace file (tracefs or trace-cmd report text). It is imported twice,
 * strictly and with --lenient, into a sink that formats every op (the
 * output path without the file). Invariants: a strict import either
 * succeeds or fails with EPTF_EPARSE and a "name:line: reason" message; a
 * lenient import never fails on malformed lines; every op emitted is one
 * the op-trace format can print and parse back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eptflush/error.h>
#include <eptflush/import.h>
#include <eptflush/trace.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "fuzz_import_text: invariant failed: %s\n", #cond); \
			abort();                                                        \
		}                                                                       \
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

static void run(const uint8_t *data, size_t size, bool lenient)
{
	static const struct eptf_import_slot slot = { .slot = 0, .base_gfn = 0, .npages = 0x10000,
						      .hva = 0x7f0000000000ull };
	struct eptf_import_options o = { .lenient = lenient, .slots = &slot, .nslots = 1 };
	struct sink_state st = { 0 };
	struct eptf_import_sink sink = { .begin = s_begin, .op = s_op, .comment = s_comment, .ctx = &st };
	struct eptf_import_stats stats;
	struct eptf_diag d = {{0}};
	FILE *f = fmemopen((void *)(uintptr_t)data, size, "r");
	if (!f)
		return;
	int err = eptf_import_text(f, "fuzz.txt", &o, &sink, &stats, &d);
	fclose(f);
	if (err) {
		CHECK(!lenient || err != EPTF_EPARSE);
		CHECK(err == EPTF_EPARSE);
		CHECK(strncmp(d.msg, "fuzz.txt:", 9) == 0);
	} else {
		CHECK(st.begun);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > (1u << 20))
		return 0;
	run(data, size, false);
	run(data, size, true);
	return 0;
}
