/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * eptflush check TRACE [--strategy NAME|all|correct]: the gate. Replays the
 * input under the chosen strategies with the stale-translation checker on
 * and lists every violation (capped): exit 0 when there are none, 1 when
 * any strategy shows one, 2 on a usage error or malformed input. With the
 * default `all`, seed-v2 is included and is expected to fail on inputs that
 * reach its defects; `correct` checks only the strategies meant to be
 * correct.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eptflush/error.h>
#include <eptflush/flush.h>
#include <eptflush/mmu.h>
#include <eptflush/report.h>

#include "cli.h"
#include "compare-common.h"

#define CHECK_DEFAULT_MAX 20
#define CHECK_MAX_ERRORS 5

/* What one strategy's lane collected: the first violations and errors, and counts. */
struct lane_log {
	struct eptf_violation *v;
	uint64_t *vcpus;        /* per listed violation: vCPUs (bits 0-63) on that root then */
	size_t nv, maxv;
	const struct cmp_lane *lane; /* its replay, to ask the L1 model which vCPUs use a root */
	unsigned nr_vcpus;
	char *err[CHECK_MAX_ERRORS];
	size_t nerr;
	bool oom;
};

static void on_violation(void *ctx, const struct eptf_violation *v)
{
	struct lane_log *log = ctx;

	if (log->nv >= log->maxv)
		return;
	/*
	 * The violation names a root, not a vCPU (several may share it): the
	 * vCPUs whose current root it is at this flush point are the ones that
	 * could use the stale entry.
	 */
	uint64_t mask = 0;
	const struct eptf_mmu *mmu = log->lane->r ? eptf_replay_mmu(log->lane->r) : NULL;
	for (unsigned c = 0; mmu && c < log->nr_vcpus && c < 64; c++)
		if (eptf_mmu_vcpu_root(mmu, c) == v->root_hpa)
			mask |= 1ull << c;
	log->vcpus[log->nv] = mask;
	log->v[log->nv++] = *v;
}

static void on_error(void *ctx, uint64_t op, const char *msg)
{
	struct lane_log *log = ctx;
	char buf[400];

	if (log->nerr >= CHECK_MAX_ERRORS)
		return;
	snprintf(buf, sizeof(buf), "op %llu: %s", (unsigned long long)op, msg);
	if (!(log->err[log->nerr] = strdup(buf)))
		log->oom = true;
	else
		log->nerr++;
}

static const char *level_size(unsigned level)
{
	switch (level) {
	case 1: return "4 KiB";
	case 2: return "2 MiB";
	case 3: return "1 GiB";
	default: return "?";
	}
}

static void print_violation(const struct eptf_violation *v, uint64_t vcpus)
{
	const char *site = eptf_site_name(v->site);

	printf("  op %llu (%s): root %#llx", (unsigned long long)v->op_index, site ? site : "?",
	       (unsigned long long)v->root_hpa);
	if (vcpus) {
		const char *sep = " (vCPU ";
		for (unsigned c = 0; c < 64; c++)
			if (vcpus & (1ull << c)) {
				printf("%s%u", sep, c);
				sep = ",";
			}
		putchar(')');
	}
	printf(", input page %#llx: cached %s %s -> frame %#llx %s%s, ", (unsigned long long)v->cached.addr,
	       v->cached.in_tlb ? "TLB" : "EPT02", level_size(v->cached.level),
	       (unsigned long long)v->cached.frame, v->cached.writable ? "w" : "-",
	       v->cached.executable ? "x" : "-");
	if (v->mapped)
		printf("now %s -> frame %#llx %s%s", level_size(v->current.level),
		       (unsigned long long)v->current.frame, v->current.writable ? "w" : "-",
		       v->current.executable ? "x" : "-");
	else
		printf("now unmapped");
	printf(" [%s]\n", v->why ? v->why : "stale");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: eptflush check TRACE|WORKLOAD [--strategy NAME|all|correct] [options]\n\n"
		   "Replay with the stale-translation checker and list every stale EPT02/TLB entry a\n"
		   "strategy leaves behind at a flush point.\n\n"
		   "  --strategy S             a name, a comma list, all (default: includes seed-v2,\n"
		   "                           which reproduces the posted series' defects) or correct\n"
		   "  --max N                  violations listed per strategy (default %d; the rest counted)\n",
		CHECK_DEFAULT_MAX);
	cmp_opts_help(f);
	fprintf(f, "\nExit status: 0 no stale translation in any checked strategy, 1 at least one,\n"
		   "2 a usage error or malformed input. Errors (ops the model refused, seed defects 3\n"
		   "and 8 surfaced cleanly) are listed but do not change the status.\n");
}

static int run(int argc, char **argv)
{
	struct cmp_opts o;
	const char *input = NULL, *sel = "all";
	uint64_t maxv = CHECK_DEFAULT_MAX;
	const char *v;
	int m, rc;

	cmp_opts_init(&o, "check", NULL);
	for (int i = 1; i < argc; i++) {
		if ((m = cmp_optarg(o.cmd, argc, argv, &i, "max", &v)) != 0) {
			if (m < 0)
				return EPTF_EXIT_USAGE;
			if (!cli_parse_u64(v, &maxv) || maxv > 100000)
				return cli_usage_error(o.cmd, "bad value '%s' for --max (0 to 100000)", v);
			continue;
		}
		if ((rc = cmp_one_input_arg(&o, argc, argv, &i, usage, &sel, &input)) != CMP_ARG_NEXT)
			return rc;
	}
	if (!input)
		return cli_usage_error(o.cmd, "missing TRACE (a trace file or a workload name)");
	if (!o.checker)
		return cli_usage_error(o.cmd, "--no-check makes no sense for check");
	const char *names[CMP_MAX_LANES];
	size_t n;
	if ((rc = cmp_parse_strategies(o.cmd, sel, names, CMP_MAX_LANES, &n)))
		return rc;
	if (n == 0)
		return cli_usage_error(o.cmd, "the ideal bound is clean by construction: name a strategy to check");
	if ((rc = cmp_opts_finish(&o)))
		return rc;

	struct cmp_input in;
	if ((rc = cmp_input_open(&o, input, &in)))
		return rc;
	struct eptf_report rep;
	struct cmp_lane lanes[CMP_MAX_LANES];
	struct lane_log logs[CMP_MAX_LANES];
	memset(logs, 0, sizeof(logs));
	/* No ideal lane: check needs only the strategies. */
	for (size_t i = 0; i < n; i++) {
		const struct eptf_strategy *s = eptf_strategy_find(names[i]);
		memset(&lanes[i], 0, sizeof(lanes[i]));
		lanes[i].strategy = names[i];
		lanes[i].correct = s && s->correct;
		lanes[i].on_violation = on_violation;
		lanes[i].on_error = on_error;
		lanes[i].ctx = &logs[i];
		logs[i].maxv = (size_t)maxv;
		logs[i].lane = &lanes[i];
		logs[i].nr_vcpus = in.nr_vcpus;
		if (maxv && (!(logs[i].v = calloc((size_t)maxv, sizeof(*logs[i].v))) ||
			     !(logs[i].vcpus = calloc((size_t)maxv, sizeof(*logs[i].vcpus))))) {
			rc = cli_fail(o.cmd, "out of memory");
			goto out_logs;
		}
	}
	if ((rc = cmp_report_setup(&o, &rep)) == 0)
		rc = cmp_run(&o, &in, lanes, n, false, &rep);

	bool any = false;
	for (size_t i = 0; !rc && i < rep.nresults; i++) {
		const struct eptf_report_result *r = &rep.results[i];
		struct lane_log *log = &logs[i];
		char a[32], b[32];

		printf("%s on %s: ", r->strategy, rep.inputs[r->input].name);
		if (!r->m.stale_violations) {
			printf("clean (%s flush points, %s errors)\n",
			       eptf_report_fmt_u64(rep.inputs[r->input].flush_points, a, sizeof(a)),
			       eptf_report_fmt_u64(r->m.errors, b, sizeof(b)));
		} else {
			any = true;
			printf("%s stale violations, %s errors%s\n", eptf_report_fmt_u64(r->m.stale_violations, a, sizeof(a)),
			       eptf_report_fmt_u64(r->m.errors, b, sizeof(b)),
			       r->correct ? "  ** a correct strategy must show none **" : " (not a correct strategy)");
			for (size_t k = 0; k < log->nv; k++)
				print_violation(&log->v[k], log->vcpus[k]);
			if (r->m.stale_violations > log->nv)
				printf("  ... and %s more\n",
				       eptf_report_fmt_u64(r->m.stale_violations - log->nv, a, sizeof(a)));
		}
		for (size_t k = 0; k < log->nerr; k++)
			printf("  error: %s\n", log->err[k]);
		if (r->m.errors > log->nerr && log->nerr)
			printf("  ... and %s more errors\n", eptf_report_fmt_u64(r->m.errors - log->nerr, a, sizeof(a)));
	}
	if (!rc)
		rc = any ? EPTF_EXIT_FAIL : EPTF_EXIT_OK;
	eptf_report_free(&rep);
out_logs:
	cmp_input_close(&in);
	for (size_t i = 0; i < n; i++) {
		free(logs[i].v);
		free(logs[i].vcpus);
		for (size_t k = 0; k < logs[i].nerr; k++)
			free(logs[i].err[k]);
	}
	return rc;
}

const struct eptf_cmd eptf_cmd_check = {
	.name = "check",
	.summary = "list stale translations a strategy leaves; exit 1 if there are any",
	.run = run,
};
