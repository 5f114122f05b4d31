/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What `compare`, `replay` and `check` share: the parent, cost-model and
 * workload options, resolving an argument to a trace file or a generated
 * workload, and one streaming pass over an input that feeds every replay
 * in lockstep (each op is read once and applied to every strategy, so a
 * trace is never held in memory).
 */
#ifndef EPTFLUSH_CLI_COMPARE_COMMON_H
#define EPTFLUSH_CLI_COMPARE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <eptflush/checker.h>
#include <eptflush/parent.h>
#include <eptflush/replay.h>
#include <eptflush/report.h>
#include <eptflush/trace.h>
#include <eptflush/workload.h>

/* The prefix that forces an argument to name a workload even if a file has that name. */
#define CMP_WORKLOAD_PREFIX "workload:"
/* Most strategies one run replays (the registry has six, plus ideal). */
#define CMP_MAX_LANES 32

struct cmp_opts {
	const char *cmd;                   /* "compare", "replay", "check": for messages */
	struct eptf_workload_params wp;    /* --guest-size, --vcpus, --ops, --seed */
	struct eptf_parent_config parent;  /* --parent, --tlb-entries, --parent-backing, --allow-large */
	bool checker;                      /* off with --no-check */
	const char *cost_files[8];         /* --cost-model FILE, applied in order before --set */
	size_t ncost_files;
	const char *sets[64];              /* --set key=value, applied in order last */
	size_t nsets;
	bool progress;                     /* stderr is a terminal: a progress line may be drawn */
};

/* Defaults: the parent's, the checker on, @wp as given (may be NULL: the workload defaults). */
void cmp_opts_init(struct cmp_opts *o, const char *cmd, const struct eptf_workload_params *wp);

/*
 * If argv[*i] is --@name VALUE or --@name=VALUE, set *@val, advance *@i past
 * the value and return 1; 0 if it is another argument; -1 (usage error
 * printed) when the value is missing.
 */
int cmp_optarg(const char *cmd, int argc, char **argv, int *i, const char *name, const char **val);

/*
 * Try argv[*i] as one of the shared options. Returns 1 when consumed (and
 * *@i advanced past its value), 0 when not a shared option, -1 after
 * printing a usage error.
 */
int cmp_opt(struct cmp_opts *o, int argc, char **argv, int *i);
/* What cmp_one_input_arg returns when it consumed argv[*i]: go on with the next argument. */
#define CMP_ARG_NEXT (-1)

/*
 * The arguments of the one-input commands (`replay`, `check`), tried on
 * argv[*i] after the command's own options: -h/--help (@usage to stdout),
 * the shared options (cmp_opt), --strategy S (into *@strategy), an unknown
 * option (a usage error) and else the one input (into *@input; a second is a
 * usage error). Returns CMP_ARG_NEXT when consumed (*@i advanced past any
 * value), or the exit status to return at once: EPTF_EXIT_OK after --help,
 * EPTF_EXIT_USAGE after printing a usage error.
 */
int cmp_one_input_arg(struct cmp_opts *o, int argc, char **argv, int *i, void (*usage)(FILE *f),
		      const char **strategy, const char **input);
/* Apply the cost-model files and --set values. 0, or EPTF_EXIT_USAGE after printing "FILE:line: reason". */
int cmp_opts_finish(struct cmp_opts *o);
/* Help text of the shared options. */
void cmp_opts_help(FILE *f);

/*
 * Parse a strategy selection: "all", "correct", or a comma list of names
 * (duplicates and "ideal" ignored: callers add the bound themselves, so a
 * list naming only "ideal" gives *@n == 0). Fills @out (registry order for
 * all and correct, the user's order otherwise). 0 or EPTF_EXIT_USAGE after
 * printing.
 */
int cmp_parse_strategies(const char *cmd, const char *list, const char **out, size_t max, size_t *n);

/* One input: a trace file being read or a workload being generated. */
struct cmp_input {
	char name[256];    /* workload name or the path as given */
	char source[64];   /* trace header source ("synthetic", "import", ...) */
	char detail[512];
	unsigned nr_vcpus;
	uint64_t expected_ops; /* approximate for workloads, 0 when unknown */
	struct eptf_trace_reader *tr;
	struct eptf_workload *wl;
};

/*
 * Resolve @arg: "workload:NAME" is a workload; otherwise an existing file
 * (or "-" for stdin) is a trace; otherwise a workload name. 0, or
 * EPTF_EXIT_USAGE after printing why (unknown workload, unreadable file,
 * malformed header as "file:line: reason").
 */
int cmp_input_open(const struct cmp_opts *o, const char *arg, struct cmp_input *in);
void cmp_input_close(struct cmp_input *in);

/* One replay of a run. Fill strategy/correct and the optional hooks; cmp_run does the rest. */
struct cmp_lane {
	const char *strategy;       /* a strategy name or EPTF_IDEAL_NAME */
	bool correct;
	eptf_violation_fn on_violation;                      /* may be NULL */
	void (*on_error)(void *ctx, uint64_t op, const char *msg); /* may be NULL */
	void *ctx;                                           /* for both hooks */
	/* run state */
	struct eptf_replay *r;
	struct eptf_series series;
	bool sample;
};

/* Lanes for @strategies (registry names) plus the ideal bound last; returns how many. */
size_t cmp_lanes_for(const char *const *strategies, size_t n, struct cmp_lane *lanes, size_t max);

/*
 * Replay @in once through every lane in lockstep; append the input and one
 * result per lane to @rep (with its flushes-over-time series when @sample).
 * Returns EPTF_EXIT_OK, EPTF_EXIT_USAGE after printing a malformed trace's
 * "file:line: reason", or EPTF_EXIT_FAIL after printing an internal failure.
 */
int cmp_run(const struct cmp_opts *o, struct cmp_input *in, struct cmp_lane *lanes, size_t nlanes,
	    bool sample, struct eptf_report *rep);

/* Fill the report's tool, parent and cost model from @o. 0 or EPTF_EXIT_FAIL (out of memory, printed). */
int cmp_report_setup(const struct cmp_opts *o, struct eptf_report *rep);

#endif
