/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * eptflush compare [TRACE|WORKLOAD ...]: replay every input under every
 * strategy and the ideal bound, in one streaming pass per input, and report
 * (table on stdout; --json, --csv, --html files). compare reports; `check`
 * is the gate, so violations do not change the exit status here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <eptflush/error.h>
#include <eptflush/flush.h>
#include <eptflush/report.h>

#include "cli.h"
#include "compare-common.h"

/*
 * What `eptflush compare` runs with no argument (`make demo`): the real KVM
 * trace shipped in data/ (captured on /dev/kvm, see data/README.md), found
 * through $EPTF_DATA_DIR or the source tree this binary was built from. If
 * it is not there (an installed binary without the data), the synthetic
 * `mixed` workload stands in, and compare says so.
 */
#define COMPARE_DEFAULT_TRACE "capture-all.trace"
#define COMPARE_DEFAULT_FALLBACK CMP_WORKLOAD_PREFIX "mixed"
#ifndef EPTF_DATA_DIR
#define EPTF_DATA_DIR "data"
#endif

static const char *default_input(bool announce)
{
	static char path[4096];
	const char *dir = getenv("EPTF_DATA_DIR");

	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : EPTF_DATA_DIR,
		 COMPARE_DEFAULT_TRACE);
	if (access(path, R_OK) == 0)
		return path;
	if (announce)
		fprintf(stderr, "eptflush compare: %s not found; running the synthetic %s workload instead\n",
			path, &COMPARE_DEFAULT_FALLBACK[strlen(CMP_WORKLOAD_PREFIX)]);
	return COMPARE_DEFAULT_FALLBACK;
}
/*
 * Can a report be written to @path (a file or "-")? Checked before the
 * replays so that a typo in an output path fails at once rather than after a
 * long run, and so that one bad path does not leave the other reports
 * written and the command failed. A write can still fail later (disk full);
 * eptf_report_save() then leaves nothing half-written.
 */
static int output_check(const char *cmd, const char *path)
{
	struct stat st;
	char *dir;
	const char *slash;
	int rc = 0;

	if (!path || !strcmp(path, "-"))
		return 0;
	if (!*path)
		return cli_usage_error(cmd, "an output file name is empty");
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return cli_fail(cmd, "%s: %s", path, strerror(EISDIR));
	slash = strrchr(path, '/');
	if (!slash)
		return access(".", W_OK | X_OK) ? cli_fail(cmd, "%s: %s", path, strerror(errno)) : 0;
	dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (!dir)
		return cli_fail(cmd, "out of memory");
	if (access(dir, W_OK | X_OK))
		rc = cli_fail(cmd, "%s: %s", path, strerror(errno));
	free(dir);
	return rc;
}

/* Workload options for generated inputs unless given: a modest run of a few seconds. */
#define COMPARE_DEFAULT_GUEST_BYTES (16ull << 30)
#define COMPARE_DEFAULT_VCPUS 4
#define COMPARE_DEFAULT_OPS 200000

static void usage(FILE *f)
{
	fprintf(f, "usage: eptflush compare [options] [TRACE|WORKLOAD ...]\n\n"
		   "Replay each input under every flush strategy and the `ideal` lower bound with the\n"
		   "stale-translation checker on, and print what each costs. With no input: the real\n"
		   "KVM trace %s (else the mixed workload, --guest-size 16G --vcpus 4\n"
		   "--ops 200000 unless given).\n\n"
		   "  --strategies LIST        comma-separated names, or all (default) or correct\n"
		   "  --json FILE  --csv FILE  write the results ('-' for stdout: no table then)\n"
		   "  --html FILE              a self-contained HTML report with SVG charts\n"
		   "  -q, --quiet              no table on stdout\n",
		default_input(false));
	cmp_opts_help(f);
	fprintf(f, "\nExit status: 0 (violations are reported, not failed: see `eptflush check`),\n"
		   "1 on a runtime failure, 2 on a usage error or malformed input.\n");
}

static int run(int argc, char **argv)
{
	struct eptf_workload_params wp;
	struct cmp_opts o;
	const char *inputs[64];
	size_t ninputs = 0;
	const char *strategies[CMP_MAX_LANES];
	size_t nstrat = 0;
	const char *strat_list = "all";
	const char *json = NULL, *csv = NULL, *html = NULL;
	bool quiet = false;
	const char *v;
	int m, rc;

	eptf_workload_params_default(&wp);
	wp.guest_pages = COMPARE_DEFAULT_GUEST_BYTES >> 12;
	wp.nr_vcpus = COMPARE_DEFAULT_VCPUS;
	wp.ops = COMPARE_DEFAULT_OPS;
	cmp_opts_init(&o, "compare", &wp);

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return EPTF_EXIT_OK;
		}
		if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			quiet = true;
			continue;
		}
		if ((m = cmp_opt(&o, argc, argv, &i)) != 0) {
			if (m < 0)
				return EPTF_EXIT_USAGE;
			continue;
		}
		if ((m = cmp_optarg(o.cmd, argc, argv, &i, "strategies", &v)) != 0) {
			if (m < 0)
				return EPTF_EXIT_USAGE;
			strat_list = v;
			continue;
		}
		if ((m = cmp_optarg(o.cmd, argc, argv, &i, "json", &v)) != 0) {
			if (m < 0)
				return EPTF_EXIT_USAGE;
			json = v;
			continue;
		}
		if ((m = cmp_optarg(o.cmd, argc, argv, &i, "csv", &v)) != 0) {
			if (m < 0)
				return EPTF_EXIT_USAGE;
			csv = v;
			continue;
		}
		if ((m = cmp_optarg(o.cmd, argc, argv, &i, "html", &v)) != 0) {
			if (m < 0)
				return EPTF_EXIT_USAGE;
			html = v;
			continue;
		}
		if (a[0] == '-' && a[1])
			return cli_usage_error(o.cmd, "unknown option '%s'", a);
		if (ninputs == sizeof(inputs) / sizeof(inputs[0]))
			return cli_usage_error(o.cmd, "too many inputs");
		inputs[ninputs++] = a;
	}
	if (json && csv && !strcmp(json, "-") && !strcmp(csv, "-"))
		return cli_usage_error(o.cmd, "--json - and --csv - cannot both write to stdout");
	if (html && !strcmp(html, "-"))
		return cli_usage_error(o.cmd, "--html needs a file name");
	if ((json && !strcmp(json, "-")) || (csv && !strcmp(csv, "-")))
		quiet = true; /* stdout carries the document */
	if ((rc = cmp_parse_strategies(o.cmd, strat_list, strategies, CMP_MAX_LANES - 1, &nstrat)))
		return rc;
	if ((rc = cmp_opts_finish(&o)))
		return rc;
	if ((rc = output_check(o.cmd, json)) || (rc = output_check(o.cmd, csv)) ||
	    (rc = output_check(o.cmd, html)))
		return rc;
	if (ninputs == 0)
		inputs[ninputs++] = default_input(true);

	/*
	 * Open every input before the first long replay: a typo in the last one
	 * fails at once, and stdin ("-") is read only once. Each stays open
	 * (a trace reader holds one fixed block) until its replay is done.
	 */
	size_t nstdin = 0;
	for (size_t k = 0; k < ninputs; k++)
		nstdin += !strcmp(inputs[k], "-");
	if (nstdin > 1)
		return cli_usage_error(o.cmd, "stdin ('-') can be read only once");
	struct cmp_input *ins = calloc(ninputs, sizeof(*ins));
	if (!ins)
		return cli_fail(o.cmd, "out of memory");
	size_t opened = 0;
	for (; opened < ninputs; opened++)
		if ((rc = cmp_input_open(&o, inputs[opened], &ins[opened])))
			break;

	struct eptf_report rep;
	memset(&rep, 0, sizeof(rep));
	if (!rc)
		rc = cmp_report_setup(&o, &rep);
	for (size_t k = 0; k < ninputs && !rc; k++) {
		struct cmp_lane lanes[CMP_MAX_LANES];
		size_t nl = cmp_lanes_for(strategies, nstrat, lanes, CMP_MAX_LANES);

		rc = cmp_run(&o, &ins[k], lanes, nl, html != NULL, &rep);
		cmp_input_close(&ins[k]);
	}
	for (size_t k = 0; k < opened; k++)
		cmp_input_close(&ins[k]);
	free(ins);
	if (!rc && !quiet && eptf_report_write_table(&rep, stdout) < 0)
		rc = cli_fail(o.cmd, "writing the table failed");

	char err[512];
	const struct {
		const char *path;
		enum eptf_report_format fmt;
	} outs[] = {{json, EPTF_REPORT_JSON}, {csv, EPTF_REPORT_CSV}, {html, EPTF_REPORT_HTML}};
	for (size_t k = 0; !rc && k < sizeof(outs) / sizeof(outs[0]); k++) {
		if (!outs[k].path)
			continue;
		if (eptf_report_save(&rep, outs[k].fmt, outs[k].path, err, sizeof(err)) < 0)
			rc = cli_fail(o.cmd, "%s", err);
	}
	eptf_report_free(&rep);
	return rc;
}

const struct eptf_cmd eptf_cmd_compare = {
	.name = "compare",
	.summary = "replay inputs under every flush strategy and report costs and correctness",
	.run = run,
};
