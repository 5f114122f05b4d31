/* SPDX-License-Identifier: BSD-2-Clause */
/* eptflush gen: write a synthetic workload as an op trace. */
#include <string.h>

#include <eptflush/error.h>
#include <eptflush/trace.h>
#include <eptflush/workload.h>

#include "cli.h"

static void help(FILE *f)
{
	struct eptf_workload_params d;

	eptf_workload_params_default(&d);
	fprintf(f,
		"usage: eptflush gen NAME [--guest-size SIZE] [--vcpus N] [--ops N] [--seed N] -o FILE\n"
		"       eptflush gen --list\n\n"
		"Write the synthetic workload NAME as an op trace (docs/trace-format.md) to FILE\n"
		"('-' is standard output). The trace is written to a temporary file and renamed\n"
		"into place, so FILE is never left half-written. Same options, same bytes.\n\n"
		"options:\n"
		"  --guest-size SIZE  guest-physical memory, a multiple of 2M from 4M to 16T\n"
		"                     (suffixes k, M, G, T; default %lluG); only a bounded\n"
		"                     working set is touched, so 1T costs no more than 4G\n"
		"  --vcpus N          vCPUs, 1..64 (default %u)\n"
		"  --ops N            number of ops written, exactly (default %llu)\n"
		"  --seed N           PRNG seed (default %llu)\n"
		"  -o, --output FILE  where to write the trace (required)\n"
		"  --list             list the workloads with a summary\n"
		"  -h, --help         this text\n\n"
		"workloads (docs/workloads.md):\n",
		(unsigned long long)(d.guest_pages >> 18), d.nr_vcpus, (unsigned long long)d.ops,
		(unsigned long long)d.seed);
	for (const struct eptf_workload_desc *w = eptf_workloads; w->name; w++)
		fprintf(f, "  %-11s %s\n", w->name, w->summary);
}

static int run(int argc, char **argv)
{
	struct eptf_workload_params p;
	const char *name = NULL, *out = NULL;
	struct eptf_trace_writer *tw;
	struct eptf_trace_header hdr;
	struct eptf_workload *w;
	struct eptf_diag diag;
	struct eptf_op op;
	uint64_t v;
	int r;

	eptf_workload_params_default(&p);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			help(stdout);
			return EPTF_EXIT_OK;
		}
		if (!strcmp(a, "--list")) {
			for (const struct eptf_workload_desc *d = eptf_workloads; d->name; d++)
				printf("%-11s %s\n", d->name, d->summary);
			return EPTF_EXIT_OK;
		}
		if (a[0] == '-' && a[1] != '\0') {
			bool takes = !strcmp(a, "--guest-size") || !strcmp(a, "--vcpus") || !strcmp(a, "--ops") ||
				     !strcmp(a, "--seed") || !strcmp(a, "-o") || !strcmp(a, "--output");

			if (!takes)
				return cli_usage_error("gen", "unknown option '%s'", a);
			if (!val)
				return cli_usage_error("gen", "option '%s' needs a value", a);
			i++;
			if (!strcmp(a, "--guest-size")) {
				if (!cli_parse_size(val, &v))
					return cli_usage_error("gen", "bad size '%s' for --guest-size", val);
				if (v % (2u << 20) || v < (4u << 20) || v > (16ull << 40))
					return cli_usage_error("gen",
							       "--guest-size %s: must be a multiple of 2M from 4M to 16T",
							       val);
				p.guest_pages = v >> 12;
			} else if (!strcmp(a, "--vcpus")) {
				if (!cli_parse_u64(val, &v) || v < 1 || v > 64)
					return cli_usage_error("gen", "--vcpus %s: must be a number from 1 to 64", val);
				p.nr_vcpus = (unsigned)v;
			} else if (!strcmp(a, "--ops")) {
				if (!cli_parse_u64(val, &v) || v < 1)
					return cli_usage_error("gen", "--ops %s: must be a positive number", val);
				p.ops = v;
			} else if (!strcmp(a, "--seed")) {
				if (!cli_parse_u64(val, &v))
					return cli_usage_error("gen", "--seed %s: must be a number", val);
				p.seed = v;
			} else {
				out = val;
			}
			continue;
		}
		if (name)
			return cli_usage_error("gen", "unexpected argument '%s' (one workload at a time)", a);
		name = a;
	}
	if (!name)
		return cli_usage_error("gen", "no workload named (see 'eptflush gen --list')");
	if (!out)
		return cli_usage_error("gen", "no output file: use -o FILE (or -o - for standard output)");
	if (!*out)
		return cli_usage_error("gen", "the output file name (-o) is empty");
	r = eptf_workload_create(name, &p, &w);
	if (r == EPTF_ENOENT)
		return cli_usage_error("gen", "unknown workload '%s' (see 'eptflush gen --list')", name);
	if (r < 0)
		return cli_fail("gen", "cannot create workload '%s': %s", name, eptf_strerror(r));
	eptf_workload_header(w, &hdr);
	r = eptf_trace_writer_open(out, &hdr, &tw, &diag);
	if (r < 0) {
		eptf_workload_destroy(w);
		return cli_fail("gen", "%s", diag.msg);
	}
	while ((r = eptf_workload_next(w, &op)) == 1) {
		r = eptf_trace_write(tw, &op);
		if (r < 0)
			break;
	}
	eptf_workload_destroy(w);
	if (r < 0) {
		eptf_trace_writer_abort(tw);
		return cli_fail("gen", "%s: cannot write op: %s", out, eptf_strerror(r));
	}
	r = eptf_trace_writer_commit(tw, &diag);
	if (r < 0)
		return cli_fail("gen", "%s", diag.msg);
	return EPTF_EXIT_OK;
}

const struct eptf_cmd eptf_cmd_gen = {
	.name = "gen",
	.summary = "write a synthetic workload (boot, migrate, ...) as an op trace",
	.run = run,
};
