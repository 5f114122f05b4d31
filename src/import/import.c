/* SPDX-License-Identifier: BSD-2-Clause */
/* eptf_import_file(): either front end into the op-trace writer; option parsing; statistics. */
#include <stdlib.h>
#include <string.h>

#include <eptflush/error.h>

#include "imp.h"

/*
 * The op-trace writer as a sink. Its failures are the output's, not the
 * input's: the front ends would report them as "INPUT:LINE: EPTF_EIO", so
 * the sink keeps its own message naming the output, which
 * eptf_import_file() puts back in place of the front end's.
 */
struct wsink {
	const char *out_path;
	struct eptf_trace_writer *w;
	const char *in_name;
	bool failed;           /* the writer failed; msg says why */
	char msg[sizeof(((struct eptf_diag *)0)->msg)];
};

static int w_fail(struct wsink *ws, int err)
{
	if (err == EPTF_EIO && !ws->failed) {
		snprintf(ws->msg, sizeof(ws->msg), "%s: write error", ws->out_path);
		ws->failed = true;
	}
	return err;
}

static int w_begin(void *ctx, const struct eptf_trace_header *hdr)
{
	struct wsink *ws = ctx;
	struct eptf_trace_header h = *hdr;
	struct eptf_diag d = {{0}};
	snprintf(h.name, sizeof(h.name), "%s", ws->in_name);
	int err = eptf_trace_writer_open(ws->out_path, &h, &ws->w, &d);
	if (err) {
		/* the writer's message names the output path and the reason */
		snprintf(ws->msg, sizeof(ws->msg), "%s", d.msg);
		ws->failed = true;
	}
	return err;
}

static int w_op(void *ctx, const struct eptf_op *op)
{
	struct wsink *ws = ctx;
	return w_fail(ws, eptf_trace_write(ws->w, op));
}

static int w_comment(void *ctx, const char *text)
{
	struct wsink *ws = ctx;
	return w_fail(ws, eptf_trace_write_comment(ws->w, text));
}

static bool is_dat(const char *path)
{
	/* trace.dat magic: 0x17 0x08 0x44 "tracing" (man trace-cmd.dat.v7) */
	unsigned char m[10];
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	size_t n = fread(m, 1, sizeof(m), f);
	fclose(f);
	return n == sizeof(m) && m[0] == 0x17 && m[1] == 0x08 && m[2] == 0x44 && memcmp(m + 3, "tracing", 7) == 0;
}

int eptf_import_file(const char *in_path, const char *out_path, const struct eptf_import_options *opts,
		     struct eptf_import_stats *st, struct eptf_diag *diag)
{
	const char *base = strrchr(in_path, '/');
	base = base ? base + 1 : in_path;
	struct wsink ws = { .out_path = out_path, .in_name = base };
	struct eptf_import_sink sink = { .begin = w_begin, .op = w_op, .comment = w_comment, .ctx = &ws };
	int err;
	enum eptf_import_format fmt = opts->format;
	if (fmt == EPTF_IMPORT_AUTO)
		fmt = strcmp(in_path, "-") != 0 && is_dat(in_path) ? EPTF_IMPORT_DAT : EPTF_IMPORT_TEXT;
	if (fmt == EPTF_IMPORT_DAT) {
		err = eptf_import_dat(in_path, opts, &sink, st, diag);
	} else {
		FILE *in = strcmp(in_path, "-") == 0 ? stdin : fopen(in_path, "r");
		if (!in) {
			snprintf(diag->msg, sizeof(diag->msg), "%s: cannot open", in_path);
			memset(st, 0, sizeof(*st));
			return EPTF_EIO;
		}
		err = eptf_import_text(in, in_path, opts, &sink, st, diag);
		if (in != stdin)
			fclose(in);
	}
	if (err) {
		if (ws.w)
			eptf_trace_writer_abort(ws.w);
		if (ws.failed)
			snprintf(diag->msg, sizeof(diag->msg), "%s", ws.msg);
		return err;
	}
	if (!ws.w) {
		snprintf(diag->msg, sizeof(diag->msg), "%s: internal error: no output opened", in_path);
		return EPTF_EIO;
	}
	return eptf_trace_writer_commit(ws.w, diag);
}

int eptf_import_parse_slot(const char *spec, struct eptf_import_slot *out)
{
	uint64_t v[4];
	const char *p = spec;
	for (int i = 0; i < 4; i++) {
		size_t n = strcspn(p, ":");
		if (!imp_parse_u64(p, n, &v[i]))
			return EPTF_EPARSE;
		p += n;
		if (i < 3) {
			if (*p != ':')
				return EPTF_EPARSE;
			p++;
		}
	}
	/* id = (address space << 16) | slot; x86 KVM has two address spaces (normal, SMM) */
	if (*p || v[0] > UINT32_MAX || (v[0] >> 16) > 1 || v[2] == 0 || v[2] > EPTF_TRACE_PAGE_LIMIT ||
	    v[1] + v[2] > EPTF_TRACE_PAGE_LIMIT || (v[3] & 0xfff) || v[3] + v[2] * 4096 < v[3])
		return EPTF_EPARSE;
	memset(out, 0, sizeof(*out));
	out->slot = (uint32_t)v[0];
	out->base_gfn = v[1];
	out->npages = v[2];
	out->hva = v[3];
	return 0;
}

int eptf_import_check_slots(const struct eptf_import_slot *slots, size_t n, size_t *a, size_t *b)
{
	for (size_t j = 1; j < n; j++)
		for (size_t i = 0; i < j; i++) {
			const struct eptf_import_slot *x = &slots[i], *y = &slots[j];
			*a = i;
			*b = j;
			if (x->slot == y->slot)
				return EPTF_EEXIST;
			/* KVM refuses a memslot whose gfns overlap another's in its address space */
			if ((x->slot >> 16) == (y->slot >> 16) && x->base_gfn < y->base_gfn + y->npages &&
			    y->base_gfn < x->base_gfn + x->npages)
				return EPTF_EINVAL;
		}
	return 0;
}

void eptf_import_stats_print(const struct eptf_import_stats *st, FILE *f)
{
	fprintf(f, "input: %s, %llu %s, %u vCPU%s\n", st->format, (unsigned long long)st->lines,
		strncmp(st->format, "trace.dat", 9) == 0 ? "records" : "lines", st->nr_vcpus,
		st->nr_vcpus == 1 ? "" : "s");
	fprintf(f, "%-28s %10s %10s %10s\n", "event", "used", "ignored", "unplaced");
	for (unsigned k = 0; k < EPTF_IEV_COUNT; k++) {
		if (!st->used[k] && !st->ignored[k] && !st->unplaced[k])
			continue;
		fprintf(f, "%-28s %10llu %10llu %10llu\n", eptf_import_event_name(k),
			(unsigned long long)st->used[k], (unsigned long long)st->ignored[k],
			(unsigned long long)st->unplaced[k]);
	}
	fprintf(f, "other events skipped: %llu; notifier events outside the guest: %llu; after end marker: %llu; "
		   "malformed lines skipped: %llu\n",
		(unsigned long long)st->other_events, (unsigned long long)st->outside_guest,
		(unsigned long long)st->after_end, (unsigned long long)st->malformed);
	fprintf(f, "ops:");
	for (unsigned k = 1; k < EPTF_OP_KIND_COUNT; k++)
		if (st->ops[k])
			fprintf(f, " %s %llu", eptf_op_name(k), (unsigned long long)st->ops[k]);
	fprintf(f, "\n");
}
