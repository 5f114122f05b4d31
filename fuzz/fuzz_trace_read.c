/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for the op trace reader: the input is a whole trace
 * file, read through eptf_trace_open_file() on an fmemopen() stream. ASan
 * catches any bad access; the invariants below catch an accepted op that
 * is not valid, or that does not survive format -> parse unchanged, and an
 * error without a "file:line: " diagnostic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eptflush/error.h>
#include <eptflush/trace.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "fuzz_trace_read: invariant failed: %s\n", #cond); \
			abort();                                                       \
		}                                                                      \
	} while (0)

static void check_op(const struct eptf_op *op, unsigned nr_vcpus)
{
	char line[EPTF_TRACE_MAX_LINE + 1];
	struct eptf_op back;
	int n;

	CHECK(eptf_op_validate(op, NULL, 0) == 0);
	if (op->kind == EPTF_OP_MAP || op->kind == EPTF_OP_ACCESS || op->kind == EPTF_OP_ROOT_LOAD ||
	    op->kind == EPTF_OP_SYNC)
		CHECK(op->vcpu < nr_vcpus);
	n = eptf_op_format(op, line, sizeof(line));
	CHECK(n > 0);
	CHECK(eptf_op_parse_detail(line, (size_t)n, &back, NULL, 0) == 0);
	CHECK(back.kind == op->kind && back.vcpu == op->vcpu && back.slot == op->slot &&
	      back.level == op->level && back.flags == op->flags && back.addr == op->addr &&
	      back.count == op->count && back.value == op->value);
}

static bool is_diag(const struct eptf_diag *d)
{
	return !strncmp(d->msg, "fuzz:", 5) && strlen(d->msg) > 7;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eptf_trace_header hdr;
	struct eptf_trace_reader *r;
	struct eptf_diag diag;
	struct eptf_op op;
	FILE *f;
	int ret;

	/* the line parser alone, on the first line (any bytes) */
	{
		const uint8_t *nl = memchr(data, '\n', size);
		size_t len = nl ? (size_t)(nl - data) : size;
		char detail[256];

		if (len < EPTF_TRACE_MAX_LINE && !memchr(data, '\0', len) &&
		    eptf_op_parse_detail((const char *)data, len, &op, detail, sizeof(detail)) == 0)
			check_op(&op, 64);
	}
	if (size == 0)
		return 0; /* fmemopen() refuses an empty buffer */
	f = fmemopen((void *)(uintptr_t)data, size, "r");
	if (!f)
		return 0;
	ret = eptf_trace_open_file(f, "fuzz", &hdr, &r, &diag);
	if (ret < 0) {
		CHECK(ret == EPTF_EPARSE || ret == EPTF_EIO);
		CHECK(is_diag(&diag));
		fclose(f);
		return 0;
	}
	CHECK(hdr.version == EPTF_TRACE_VERSION && hdr.nr_vcpus >= 1 && hdr.nr_vcpus <= 64);
	CHECK(memchr(hdr.source, '\0', sizeof(hdr.source)) && memchr(hdr.detail, '\0', sizeof(hdr.detail)));
	while ((ret = eptf_trace_read(r, &op, &diag)) == 1)
		check_op(&op, hdr.nr_vcpus);
	if (ret < 0) {
		CHECK(ret == EPTF_EPARSE || ret == EPTF_EIO);
		CHECK(is_diag(&diag));
	}
	eptf_trace_close(r);
	fclose(f);
	return 0;
}
