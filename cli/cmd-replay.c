/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * eptflush replay TRACE --strategy NAME: the metrics of one strategy (and
 * the ideal bound beside it) as a key/value list, or with --json the same
 * document `compare --json` writes, whose results hold that strategy and
 * `ideal`.
 */
#include <stdio.h>
#include <string.h>

#include <eptflush/error.h>
#include <eptflush/flush.h>
#include <eptflush/report.h>

#include "cli.h"
#include "compare-common.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: eptflush replay TRACE|WORKLOAD --strategy NAME [options]\n\n"
		   "Replay one input under one strategy (and the `ideal` bound) and print its metrics.\n\n"
		   "  --strategy NAME          the strategy (required):");
	for (size_t i = 0; eptf_strategies[i]; i++)
		fprintf(f, " %s", eptf_strategies[i]->name);
	fprintf(f, "\n  --json                   print the compare JSON document to stdout instead\n"
		   "  --json=FILE              write it to FILE (through a temporary file)\n");
	cmp_opts_help(f);
	fprintf(f, "\nExit status: 0, 1 on a runtime failure, 2 on a usage error or malformed input.\n");
}

static int run(int argc, char **argv)
{
	struct cmp_opts o;
	const char *input = NULL, *strategy = NULL, *json = NULL;
	int rc;

	cmp_opts_init(&o, "replay", NULL);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--json")) {
			json = "-";
			continue;
		}
		if (!strncmp(a, "--json=", 7)) {
			json = a + 7;
			if (!*json)
				return cli_usage_error(o.cmd, "--json= needs a file name");
			continue;
		}
		if ((rc = cmp_one_input_arg(&o, argc, argv, &i, usage, &strategy, &input)) != CMP_ARG_NEXT)
			return rc;
	}
	if (!input)
		return cli_usage_error(o.cmd, "missing TRACE (a trace file or a workload name)");
	if (!strategy)
		return cli_usage_error(o.cmd, "missing --strategy NAME");
	const char *names[CMP_MAX_LANES];
	size_t n;
	if (strchr(strategy, ',') || !strcmp(strategy, "all") || !strcmp(strategy, "correct"))
		return cli_usage_error(o.cmd, "--strategy takes one name (compare runs several)");
	if ((rc = cmp_parse_strategies(o.cmd, strategy, names, CMP_MAX_LANES - 1, &n)))
		return rc;
	if ((rc = cmp_opts_finish(&o)))
		return rc;

	struct cmp_input in;
	if ((rc = cmp_input_open(&o, input, &in)))
		return rc;
	struct eptf_report rep;
	if ((rc = cmp_report_setup(&o, &rep))) {
		cmp_input_close(&in);
		eptf_report_free(&rep);
		return rc;
	}
	struct cmp_lane lanes[CMP_MAX_LANES];
	size_t nl = cmp_lanes_for(names, n, lanes, CMP_MAX_LANES);
	rc = cmp_run(&o, &in, lanes, nl, false, &rep);
	cmp_input_close(&in);

	if (!rc && json) {
		char err[512];
		if (eptf_report_save(&rep, EPTF_REPORT_JSON, json, err, sizeof(err)) < 0)
			rc = cli_fail(o.cmd, "%s", err);
	}
	if (!rc && (!json || strcmp(json, "-"))) {
		const struct eptf_report_input *ri = &rep.inputs[0];
		char a[32], b[32];

		printf("input %s (%s): %s ops, %s flush points\n", ri->name, ri->source,
		       eptf_report_fmt_u64(ri->ops, a, sizeof(a)), eptf_report_fmt_u64(ri->flush_points, b, sizeof(b)));
		if (eptf_report_write_result(&rep, 0, stdout) < 0)
			rc = cli_fail(o.cmd, "writing the result failed");
		long id = eptf_report_find(&rep, 0, EPTF_IDEAL_NAME);
		if (!rc && id >= 0)
			printf("%-18s %s hypercalls, %s modeled cycles\n", "ideal bound",
			       eptf_report_fmt_u64(rep.results[id].m.hypercalls, a, sizeof(a)),
			       eptf_report_fmt_u64(rep.results[id].m.modeled_cycles, b, sizeof(b)));
		if (!rc && rep.results[0].m.stale_violations)
			printf("%s shows stale translations: 'eptflush check %s --strategy %s' lists them\n",
			       rep.results[0].strategy, input, rep.results[0].strategy);
	}
	eptf_report_free(&rep);
	return rc;
}

const struct eptf_cmd eptf_cmd_replay = {
	.name = "replay",
	.summary = "replay a trace under one strategy and print its metrics",
	.run = run,
};
