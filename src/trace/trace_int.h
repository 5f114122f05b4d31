/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Private to src/trace (and tests/test_trace_equiv.c): the reader's fast
 * line parser, which lives in reader.c, inlined into eptf_trace_read().
 */
#ifndef EPTF_TRACE_INT_H
#define EPTF_TRACE_INT_H

#include <stddef.h>

#include <eptflush/op.h>

/*
 * Parse the op line at @line in the writer's canonical spelling (single
 * spaces, lower-case names and hex, no comment, no CR, at most
 * EPTF_TRACE_MAX_LINE bytes) and valid. The caller guarantees a '\n' at
 * or after @line in the buffer (a sentinel at its end will do), followed
 * by at least EPTF__FAST_PAD readable bytes: the parser compares with fixed
 * size loads that may read that far past the first '\n', and looks at no
 * byte beyond.
 *
 * Returns the line's length including its '\n', with @op exactly as
 * eptf_op_parse_detail() would set it; or 0 for any other line (blank,
 * comment, another spelling, an error) and for a line whose '\n' is at or
 * after @end (the sentinel: the line may go on in the next block). On 0,
 * @op is not touched: the caller takes the general path, which accepts or
 * diagnoses the line. So the fast path accepts a subset of what the
 * general parser accepts, with the same result, and never produces a
 * diagnostic of its own. (eptf_trace_read() runs the same parser with
 * vcpu= also below the header's count; this entry point checks vcpu=
 * against EPTF_MAX_VCPUS, as the general parser does.)
 */
#define EPTF__FAST_PAD 32

size_t eptf__op_parse_fast(const char *line, const char *end, struct eptf_op *op);

#endif
