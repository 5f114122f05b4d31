/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench_replay: replay speed, ops per second, per strategy, checker on and
 * off, on the synthetic `mixed` and `migrate` workloads (issue 6).
 *
 * For each workload the trace is generated once (eptf_workload_next into
 * eptf_trace_write, a temporary file) and then, in one process:
 *
 *   read      baseline: eptf_trace_read of the whole file, no replay
 *             (parse cost only; the file is in the page cache after the
 *             first repetition).
 *   file      eptf_trace_read + eptf_replay_op for every op: what
 *             `eptflush replay TRACE --strategy S` does for one lane.
 *             The reader runs one op ahead, and that op is passed to
 *             eptf_replay_prefetch before the current one is replayed.
 *   mem       eptf_replay_op over the ops already parsed into an array
 *             (with eptf_replay_prefetch of the next one): the replay
 *             engine alone (model + strategy + parent + checker), no I/O
 *             or parsing.
 *
 * A timed run includes eptf_replay_create and excludes eptf_replay_destroy.
 * Each figure is the median of the repetitions; ratios are against the
 * read baseline of the same run (ops/s of replay divided by ops/s of the
 * plain read), so 0.25 means "replay is 4 times slower than just reading".
 *
 *   lanes     (with the ops in memory, unless --no-lanes) every strategy
 *             of the list plus `ideal`, checker on, as `eptflush compare`
 *             runs them: `separate` gives each lane its own replay (its own
 *             L1 model; each op goes to every replay in turn, the next lane
 *             hinted, as compare did before round 4), `group` one
 *             eptf_replay_group (one L1 model, applied once per op, the
 *             next op hinted). Rates count ops through all lanes once (ops
 *             of the trace per second); the ratio is group over separate.
 *
 * usage: bench_replay [--ops N] [--reps N] [--guest-size GIB] [--vcpus N]
 *                     [--workloads LIST] [--strategies LIST] [--no-mem] [--by-kind]
 *                     [--no-lanes]
 *   defaults: --ops 200000 --reps 3 --guest-size 16 --vcpus 4
 *             --workloads mixed,migrate --strategies every registered one
 *   (the guest and vCPU defaults are `eptflush compare`'s).
 *   --by-kind adds, per workload, the time per op kind of the first
 *   strategy with the checker on (a profile, not a rate).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <eptflush/error.h>
#include <eptflush/flush.h>
#include <eptflush/replay.h>
#include <eptflush/trace.h>
#include <eptflush/workload.h>

#include "bench_common.h"

#define MAX_REPS 51
#define MAX_LIST 16

struct opts {
	uint64_t ops;
	int reps;
	uint64_t guest_gib;
	unsigned vcpus;
	const char *workloads[MAX_LIST];
	size_t nworkloads;
	const char *strategies[MAX_LIST];
	size_t nstrategies;
	bool mem;
	bool by_kind;
	bool lanes;
};

static char tmpdir[64];
static char tracepath[128];

static void cleanup(void)
{
	if (tracepath[0])
		unlink(tracepath);
	if (tmpdir[0])
		rmdir(tmpdir);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_replay: %s: %s\n", what, err < 0 ? eptf_strerror(err) : strerror(errno));
	cleanup();
	exit(1);
}

/* Split a comma list in place into @out; returns the count. */
static size_t split(char *s, const char **out, size_t max)
{
	size_t n = 0;

	for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
		out[n++] = tok;
	return n;
}

static int generate(const struct opts *o, const char *workload, struct eptf_trace_header *hdr)
{
	struct eptf_workload_params p;
	struct eptf_workload *w;
	struct eptf_trace_writer *tw;
	struct eptf_diag diag;
	struct eptf_op op;
	int err;

	eptf_workload_params_default(&p);
	p.guest_pages = o->guest_gib << 18;
	p.nr_vcpus = o->vcpus;
	p.ops = o->ops;
	if ((err = eptf_workload_create(workload, &p, &w)) < 0)
		return err;
	eptf_workload_header(w, hdr);
	if ((err = eptf_trace_writer_open(tracepath, hdr, &tw, &diag)) < 0) {
		fprintf(stderr, "%s\n", diag.msg);
		eptf_workload_destroy(w);
		return err;
	}
	while (eptf_workload_next(w, &op) == 1) {
		if ((err = eptf_trace_write(tw, &op)) < 0) {
			eptf_trace_writer_abort(tw);
			eptf_workload_destroy(w);
			return err;
		}
	}
	eptf_workload_destroy(w);
	if ((err = eptf_trace_writer_commit(tw, &diag)) < 0)
		fprintf(stderr, "%s\n", diag.msg);
	return err;
}

/* The next op of @tr into @op: true, or false at the end (exits on a malformed trace). */
static bool read_op(struct eptf_trace_reader *tr, struct eptf_op *op)
{
	struct eptf_diag diag;
	int err;

	memset(op, 0, sizeof(*op));
	err = eptf_trace_read(tr, op, &diag);
	if (err < 0) {
		fprintf(stderr, "%s\n", diag.msg);
		die("read", err);
	}
	return err > 0;
}

/*
 * One pass over the trace file. With @rcfg NULL: read only. With @rcfg
 * non-NULL: replay each op. With @keep non-NULL (read pass): store the ops.
 * Returns the number of ops, or exits on error.
 */
static uint64_t pass_file(const struct eptf_replay_config *rcfg, struct eptf_op *keep, uint64_t cap,
			  double *secs, struct eptf_metrics *m)
{
	struct eptf_trace_header hdr;
	struct eptf_trace_reader *tr;
	struct eptf_replay *r = NULL;
	struct eptf_diag diag;
	struct eptf_op op;
	uint64_t n = 0, sum = 0;
	int err;
	double t0 = bench_now();

	if ((err = eptf_trace_open(tracepath, &hdr, &tr, &diag)) < 0) {
		fprintf(stderr, "%s\n", diag.msg);
		die("open", err);
	}
	if (rcfg) {
		struct eptf_replay_config c = *rcfg;

		c.nr_vcpus = hdr.nr_vcpus;
		if ((err = eptf_replay_create(&c, &r)) < 0)
			die(c.strategy, err);
	}
	/* one op ahead: @next is read (and hinted) before @op is replayed */
	struct eptf_op next;
	bool have = read_op(tr, &next);
	while (have) {
		op = next;
		have = read_op(tr, &next);
		if (r && have)
			eptf_replay_prefetch(r, &next);
		if (r && (err = eptf_replay_op(r, &op)) < 0)
			die("replay", err);
		if (keep && n < cap)
			keep[n] = op;
		sum += op.addr; /* the baseline must not be optimised away */
		n++;
	}
	*secs = bench_now() - t0;
	if (r) {
		eptf_replay_metrics(r, m);
		eptf_replay_destroy(r);
	}
	eptf_trace_close(tr);
	if (sum == 1) /* never true in practice; keeps @sum live */
		fputc('\n', stderr);
	return n;
}

/* Replay the ops already in memory. */
static void pass_mem(const struct eptf_replay_config *rcfg, const struct eptf_op *ops, uint64_t n,
		     double *secs, struct eptf_metrics *m)
{
	struct eptf_replay *r;
	int err;
	double t0 = bench_now();

	if ((err = eptf_replay_create(rcfg, &r)) < 0)
		die(rcfg->strategy, err);
	for (uint64_t i = 0; i < n; i++) {
		if (i + 1 < n)
			eptf_replay_prefetch(r, &ops[i + 1]);
		if ((err = eptf_replay_op(r, &ops[i])) < 0)
			die("replay", err);
	}
	*secs = bench_now() - t0;
	eptf_replay_metrics(r, m);
	eptf_replay_destroy(r);
}

/* The lanes of the lanes figure: every strategy of the list, then `ideal`; checker on. */
static size_t lane_cfgs(const struct opts *o, unsigned nr_vcpus, struct eptf_replay_config *cfgs)
{
	size_t n = 0;

	for (size_t s = 0; s <= o->nstrategies; s++, n++) {
		eptf_replay_config_default(&cfgs[n]);
		cfgs[n].strategy = s < o->nstrategies ? o->strategies[s] : EPTF_IDEAL_NAME;
		cfgs[n].nr_vcpus = nr_vcpus;
		cfgs[n].checker = true;
	}
	return n;
}

/* All lanes, each its own replay (its own L1 model): the op goes to each in turn, the next lane hinted. */
static void lanes_separate(const struct opts *o, unsigned nr_vcpus, const struct eptf_op *ops, uint64_t n,
			   double *secs)
{
	struct eptf_replay_config cfgs[MAX_LIST + 1];
	struct eptf_replay *r[MAX_LIST + 1];
	size_t nl = lane_cfgs(o, nr_vcpus, cfgs);
	int err;
	double t0 = bench_now();

	for (size_t l = 0; l < nl; l++)
		if ((err = eptf_replay_create(&cfgs[l], &r[l])) < 0)
			die(cfgs[l].strategy, err);
	for (uint64_t i = 0; i < n; i++) {
		for (size_t l = 0; l < nl; l++) {
			if (l + 1 < nl)
				eptf_replay_prefetch(r[l + 1], &ops[i]);
			if ((err = eptf_replay_op(r[l], &ops[i])) < 0)
				die("replay", err);
		}
	}
	*secs = bench_now() - t0;
	for (size_t l = 0; l < nl; l++)
		eptf_replay_destroy(r[l]);
}

/* All lanes in one group (one L1 model), the next op hinted. */
static void lanes_group(const struct opts *o, unsigned nr_vcpus, const struct eptf_op *ops, uint64_t n,
			double *secs)
{
	struct eptf_replay_config cfgs[MAX_LIST + 1];
	struct eptf_replay_group *g;
	size_t nl = lane_cfgs(o, nr_vcpus, cfgs), bad = 0;
	int err;
	double t0 = bench_now();

	if ((err = eptf_replay_group_create(cfgs, nl, &g, &bad)) < 0)
		die(bad < nl ? cfgs[bad].strategy : "group", err);
	for (uint64_t i = 0; i < n; i++) {
		if (i + 1 < n)
			eptf_replay_group_prefetch(g, &ops[i + 1]);
		if ((err = eptf_replay_group_op(g, &ops[i])) < 0)
			die("replay", err);
	}
	*secs = bench_now() - t0;
	eptf_replay_group_destroy(g);
}

/*
 * Where the replay's time goes, per op kind: one replay of the in-memory
 * ops with a clock read around each op (CLOCK_MONOTONIC: per-op CPU-time
 * clocks cost a system call). Flush points are charged to the op that
 * produced them. The clock reads add a few tens of ns per op, so the total
 * is above the `mem` figure; the shares are what matters.
 */
static void by_kind(const struct eptf_replay_config *rcfg, const struct eptf_op *ops, uint64_t n)
{
	double t[EPTF_OP_KIND_COUNT] = {0}, total = 0;
	uint64_t cnt[EPTF_OP_KIND_COUNT] = {0};
	struct eptf_replay *r;
	int err;

	if ((err = eptf_replay_create(rcfg, &r)) < 0)
		die(rcfg->strategy, err);
	for (uint64_t i = 0; i < n; i++) {
		double t0 = bench_wall();
		if ((err = eptf_replay_op(r, &ops[i])) < 0)
			die("replay", err);
		double d = bench_wall() - t0;
		uint32_t k = ops[i].kind < EPTF_OP_KIND_COUNT ? ops[i].kind : 0;
		t[k] += d;
		cnt[k]++;
		total += d;
	}
	eptf_replay_destroy(r);
	printf("\n  %s, checker %s: time per op kind (one run, wall clock around each op)\n", rcfg->strategy,
	       rcfg->checker ? "on" : "off");
	printf("  %-18s %9s %9s %7s %10s\n", "op", "count", "seconds", "share", "us/op");
	for (unsigned k = 1; k < EPTF_OP_KIND_COUNT; k++)
		if (cnt[k])
			printf("  %-18s %9llu %9.4f %6.1f%% %10.3f\n", eptf_op_name(k), (unsigned long long)cnt[k], t[k],
			       100 * t[k] / total, 1e6 * t[k] / (double)cnt[k]);
}

static void run_workload(const struct opts *o, const char *workload)
{
	struct eptf_trace_header hdr;
	double t[MAX_REPS], t2[MAX_REPS];
	struct eptf_metrics m;
	int err;

	double g0 = bench_now();
	if ((err = generate(o, workload, &hdr)) < 0)
		die(workload, err);
	double gen = bench_now() - g0;

	struct eptf_op *ops = NULL;
	uint64_t n = 0;
	if (o->mem) {
		ops = calloc(o->ops, sizeof(*ops));
		if (!ops)
			die("out of memory", EPTF_ENOMEM);
	}
	for (int k = 0; k < o->reps; k++)
		n = pass_file(NULL, k == 0 ? ops : NULL, o->ops, &t[k], &m);
	double read_s = bench_median(t, o->reps);
	double read_rate = (double)n / read_s;
	FILE *f = fopen(tracepath, "r");
	long bytes = 0;
	if (f && fseek(f, 0, SEEK_END) == 0)
		bytes = ftell(f);
	if (f)
		fclose(f);

	printf("\nworkload %s: %llu ops, %u vCPUs, guest %llu GiB, trace %.1f MB (generated and written in %.2f s)\n",
	       workload, (unsigned long long)n, hdr.nr_vcpus, (unsigned long long)o->guest_gib, bytes / 1e6, gen);
	printf("baseline read (eptf_trace_read, no replay): %.4f s, %.0f ops/s, %.0f MB/s\n\n", read_s, read_rate,
	       bytes / read_s / 1e6);
	printf("%-11s %-7s %9s %12s %7s", "strategy", "checker", "file s", "file ops/s", "ratio");
	if (o->mem)
		printf(" %9s %12s %7s", "mem s", "mem ops/s", "ratio");
	printf(" %10s %10s %6s\n", "flushpts", "hypercalls", "stale");

	for (size_t s = 0; s < o->nstrategies; s++) {
		for (int chk = 1; chk >= 0; chk--) {
			struct eptf_replay_config cfg;

			eptf_replay_config_default(&cfg);
			cfg.strategy = o->strategies[s];
			cfg.nr_vcpus = hdr.nr_vcpus;
			cfg.checker = chk;
			for (int k = 0; k < o->reps; k++)
				pass_file(&cfg, NULL, 0, &t[k], &m);
			double fs = bench_median(t, o->reps);
			printf("%-11s %-7s %9.4f %12.0f %7.3f", cfg.strategy, chk ? "on" : "off", fs, (double)n / fs,
			       (double)n / fs / read_rate);
			if (o->mem) {
				for (int k = 0; k < o->reps; k++)
					pass_mem(&cfg, ops, n, &t2[k], &m);
				double ms = bench_median(t2, o->reps);
				printf(" %9.4f %12.0f %7.3f", ms, (double)n / ms, (double)n / ms / read_rate);
			}
			printf(" %10llu %10llu %6llu\n", (unsigned long long)m.flush_points,
			       (unsigned long long)m.hypercalls, (unsigned long long)m.stale_violations);
			fflush(stdout);
		}
	}
	if (o->mem && o->lanes) {
		double ts[MAX_REPS], tg[MAX_REPS];

		/* alternating, so that both see the same machine */
		for (int k = 0; k < o->reps; k++) {
			lanes_separate(o, hdr.nr_vcpus, ops, n, &ts[k]);
			lanes_group(o, hdr.nr_vcpus, ops, n, &tg[k]);
		}
		double s_sep = bench_median(ts, o->reps), s_grp = bench_median(tg, o->reps);
		printf("\n  lanes: %zu strategies + ideal, checker on, ops in memory (ops of the trace per second)\n",
		       o->nstrategies);
		printf("  %-10s %9s %12s %7s\n", "lanes", "s", "ops/s", "ratio");
		printf("  %-10s %9.4f %12.0f %7.3f\n", "separate", s_sep, (double)n / s_sep, 1.0);
		printf("  %-10s %9.4f %12.0f %7.3f\n", "group", s_grp, (double)n / s_grp, s_sep / s_grp);
		fflush(stdout);
	}
	if (o->mem && o->by_kind) {
		struct eptf_replay_config cfg;

		eptf_replay_config_default(&cfg);
		cfg.strategy = o->strategies[0];
		cfg.nr_vcpus = hdr.nr_vcpus;
		by_kind(&cfg, ops, n);
	}
	free(ops);
	unlink(tracepath);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_replay [--ops N] [--reps 1..%d] [--guest-size GIB] [--vcpus N]\n"
			"                    [--workloads LIST] [--strategies LIST] [--no-mem] [--by-kind]\n"
			"                    [--no-lanes]\n",
		MAX_REPS);
}

int main(int argc, char **argv)
{
	struct opts o = {.ops = 200000, .reps = 3, .guest_gib = 16, .vcpus = 4, .mem = true, .lanes = true};
	static char wl_default[] = "mixed,migrate";
	char *wl_list = wl_default, *st_list = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--no-mem")) {
			o.mem = false;
			continue;
		}
		if (!strcmp(a, "--by-kind")) {
			o.by_kind = true;
			continue;
		}
		if (!strcmp(a, "--no-lanes")) {
			o.lanes = false;
			continue;
		}
		if (!v) {
			usage();
			return 2;
		}
		i++;
		if (!strcmp(a, "--ops"))
			o.ops = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--reps"))
			o.reps = atoi(v);
		else if (!strcmp(a, "--guest-size"))
			o.guest_gib = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--vcpus"))
			o.vcpus = (unsigned)atoi(v);
		else if (!strcmp(a, "--workloads"))
			wl_list = v;
		else if (!strcmp(a, "--strategies"))
			st_list = v;
		else {
			usage();
			return 2;
		}
	}
	if (o.ops == 0 || o.reps < 1 || o.reps > MAX_REPS || o.guest_gib == 0 || o.vcpus == 0) {
		usage();
		return 2;
	}
	o.nworkloads = split(wl_list, o.workloads, MAX_LIST);
	if (st_list) {
		o.nstrategies = split(st_list, o.strategies, MAX_LIST);
	} else {
		for (size_t k = 0; eptf_strategies[k] && o.nstrategies < MAX_LIST; k++)
			o.strategies[o.nstrategies++] = eptf_strategies[k]->name;
	}

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/eptf-bench-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		tmpdir[0] = '\0';
		die("mkdtemp", 0);
	}
	snprintf(tracepath, sizeof(tracepath), "%s/trace.eptf", tmpdir);

	printf("bench_replay: ops/s of replay per strategy, checker on/off; process CPU time, median of %d repetitions\n", o.reps);
	bench_print_machine();
	for (size_t w = 0; w < o.nworkloads; w++)
		run_workload(&o, o.workloads[w]);
	cleanup();
	return 0;
}
