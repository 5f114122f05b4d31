/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench_import: kernel events per second through the trace importer
 * (issue 6: >= 1 million events/s from text).
 *
 * Input: each real tracefs excerpt in tests/data/import/real-*.txt is grown
 * to about --mb MB in a temporary directory: its leading comments and
 * markers are kept once, then its event lines are repeated with the
 * timestamps shifted by 10 s per copy (so time keeps increasing); the `end`
 * marker is dropped so that nothing is counted as teardown. The importer
 * sees the same walks, shadow pages and notifier events many times, as in a
 * long recording of the same guest.
 *
 * Per file, in one process, median of --reps repetitions:
 *   fgets     baseline: read the file line by line with fgets, no parsing.
 *   import    eptf_import_text() into a sink that only counts the ops.
 *   to-trace  eptf_import_file() into an op-trace file (what `eptflush
 *             import` does: parse, map, format and write).
 * Events = kernel event lines the importer recognised or skipped as other
 * events (every non-comment line); the ratio is import time / fgets time.
 *
 * trace.dat: the fixture tests/data/import/real-pagetables.dat (the only
 * one) is imported --dat-loops times per repetition through
 * eptf_import_dat(); the baseline reads the file's bytes as many times.
 * The importer parses a trace.dat in a forked child, so that lane's time
 * is the process's CPU time plus its waited-for children's
 * (bench_now_children()).
 * A second baseline opens and closes the file with libtracecmd alone
 * (tracecmd_open + tracecmd_close: parsing the event formats), the fixed
 * cost of every import; events/s net of it is the per-record rate.
 *
 * usage: bench_import [--mb N] [--reps N] [--dat-loops N] [--data DIR]
 *   defaults: --mb 24 --reps 3 --dat-loops 10 --data <source dir>/tests/data/import
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trace-cmd/trace-cmd.h>

#include <eptflush/error.h>
#include <eptflush/import.h>

#include "bench_common.h"

#define MAX_REPS 51
#define MAX_FILES 32
#define LINE_MAX_LEN 8192

static char tmpdir[64];

struct counter {
	uint64_t ops;
};

static int sink_begin(void *ctx, const struct eptf_trace_header *hdr)
{
	(void)ctx;
	(void)hdr;
	return 0;
}

static int sink_op(void *ctx, const struct eptf_op *op)
{
	struct counter *c = ctx;

	c->ops += 1 + (op->kind == EPTF_OP_NONE); /* reads the op: cannot be elided */
	return 0;
}

static int sink_comment(void *ctx, const char *text)
{
	(void)ctx;
	(void)text;
	return 0;
}

/*
 * Shift the tracefs timestamp of @line ("... [cpu] flags 123.456789: event")
 * by @add seconds into @out. Lines without one are copied as they are.
 */
static void shift_ts(const char *line, double add, char *out, size_t len)
{
	const char *br = strchr(line, ']');
	const char *p = br ? br : line;

	for (; *p; p++) {
		if (p[0] != ' ' || p[1] < '0' || p[1] > '9')
			continue;
		char *end;
		double t = strtod(p + 1, &end);
		if (*end == ':' && memchr(p + 1, '.', (size_t)(end - p - 1))) {
			snprintf(out, len, "%.*s %.6f%s", (int)(p - line), line, t + add, end);
			return;
		}
	}
	snprintf(out, len, "%s", line);
}

/* Grow @src to about @bytes into @dst; returns 0 or -1 with errno. */
static int grow(const char *src, const char *dst, uint64_t bytes)
{
	FILE *in = fopen(src, "r"), *out;
	char line[LINE_MAX_LEN], buf[LINE_MAX_LEN + 64];
	char **body = NULL;
	size_t nbody = 0, cap = 0;
	uint64_t body_bytes = 0, written = 0;
	bool started = false;

	if (!in)
		return -1;
	if (!(out = fopen(dst, "w"))) {
		fclose(in);
		return -1;
	}
	while (fgets(line, sizeof(line), in)) {
		if (strstr(line, "eptflush: end"))
			continue;
		/* header: comments and the markers before the first kernel event */
		if (line[0] == '#' || (!started && strstr(line, "eptflush: "))) {
			fputs(line, out);
			written += strlen(line);
			continue;
		}
		started = true;
		if (nbody == cap) {
			cap = cap ? cap * 2 : 1024;
			char **nb = realloc(body, cap * sizeof(*body));
			if (!nb)
				goto fail;
			body = nb;
		}
		if (!(body[nbody] = strdup(line)))
			goto fail;
		body_bytes += strlen(line);
		nbody++;
	}
	for (unsigned k = 0; body_bytes && written < bytes; k++) {
		for (size_t i = 0; i < nbody; i++) {
			shift_ts(body[i], 10.0 * k, buf, sizeof(buf));
			fputs(buf, out);
			written += strlen(buf);
		}
	}
	for (size_t i = 0; i < nbody; i++)
		free(body[i]);
	free(body);
	fclose(in);
	return fclose(out) ? -1 : 0;
fail:
	for (size_t i = 0; i < nbody; i++)
		free(body[i]);
	free(body);
	fclose(in);
	fclose(out);
	return -1;
}

static double time_fgets(const char *path, uint64_t *lines, uint64_t *bytes)
{
	static char line[LINE_MAX_LEN];
	double t0 = bench_now();
	FILE *f = fopen(path, "r");
	uint64_t n = 0, b = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		n++;
		b += (unsigned char)line[0]; /* touch the line */
	}
	fclose(f);
	*lines = n;
	*bytes = b;
	return bench_now() - t0;
}

static uint64_t stat_events(const struct eptf_import_stats *st)
{
	uint64_t e = st->other_events + st->outside_guest + st->after_end + st->malformed;

	for (unsigned k = 0; k < EPTF_IEV_COUNT; k++)
		e += st->used[k] + st->ignored[k] + st->unplaced[k];
	return e;
}

static double time_import(const char *path, bool dat, struct eptf_import_stats *st, uint64_t *ops)
{
	struct eptf_import_options io = {.format = dat ? EPTF_IMPORT_DAT : EPTF_IMPORT_TEXT};
	struct counter c = {0};
	struct eptf_import_sink sink = {sink_begin, sink_op, sink_comment, &c};
	struct eptf_diag diag;
	double t0 = bench_now();
	int err;

	if (dat) {
		err = eptf_import_dat(path, &io, &sink, st, &diag);
	} else {
		FILE *f = fopen(path, "r");
		if (!f)
			return -1;
		err = eptf_import_text(f, path, &io, &sink, st, &diag);
		fclose(f);
	}
	double t = bench_now() - t0;
	if (err < 0) {
		fprintf(stderr, "bench_import: %s\n", diag.msg);
		return -1;
	}
	*ops = c.ops;
	return t;
}

static double time_to_trace(const char *path, const char *out)
{
	struct eptf_import_options io = {.format = EPTF_IMPORT_TEXT};
	struct eptf_import_stats st;
	struct eptf_diag diag;
	double t0 = bench_now();

	if (eptf_import_file(path, out, &io, &st, &diag) < 0) {
		fprintf(stderr, "bench_import: %s\n", diag.msg);
		return -1;
	}
	double t = bench_now() - t0;
	unlink(out);
	return t;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The default data directory: <dir of this source>/../tests/data/import
 * (CMake compiles with the absolute source path in __FILE__).
 */
static void default_data(char *buf, size_t len)
{
	const char *f = __FILE__;
	const char *slash = strrchr(f, '/');

	if (slash)
		snprintf(buf, len, "%.*s/../tests/data/import", (int)(slash - f), f);
	else
		snprintf(buf, len, "tests/data/import");
}

int main(int argc, char **argv)
{
	uint64_t mb = 24;
	int reps = 3, dat_loops = 10;
	char data[1024];
	int rc = 0;

	default_data(data, sizeof(data));
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			goto usage;
		if (!strcmp(argv[i], "--mb"))
			mb = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--reps"))
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--dat-loops"))
			dat_loops = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--data"))
			snprintf(data, sizeof(data), "%s", argv[++i]);
		else
			goto usage;
	}
	if (mb == 0 || reps < 1 || reps > MAX_REPS || dat_loops < 1)
		goto usage;

	DIR *d = opendir(data);
	if (!d) {
		fprintf(stderr, "bench_import: %s: %s (give --data DIR)\n", data, strerror(errno));
		return 1;
	}
	char *names[MAX_FILES];
	size_t nnames = 0;
	bool have_dat = false;
	struct dirent *de;
	while ((de = readdir(d)) && nnames < MAX_FILES) {
		size_t l = strlen(de->d_name);
		if (!strcmp(de->d_name, "real-pagetables.dat"))
			have_dat = true;
		if (strncmp(de->d_name, "real-", 5) || l < 5 || strcmp(de->d_name + l - 4, ".txt"))
			continue;
		names[nnames++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, nnames, sizeof(names[0]), cmp_str);

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/eptf-bench-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("bench_import: mkdtemp");
		return 1;
	}

	printf("bench_import: kernel events/s through the importer; process CPU time, median of %d repetitions\n", reps);
	bench_print_machine();
	printf("input: each %s/real-*.txt grown to ~%llu MB (events repeated, timestamps shifted)\n\n", data,
	       (unsigned long long)mb);
	printf("%-22s %7s %9s %9s %12s %9s %12s %7s %9s %12s %7s\n", "excerpt", "MB", "events", "fgets s",
	       "lines/s", "import s", "events/s", "ratio", "trace s", "events/s", "ratio");

	double sum_ev = 0, sum_imp = 0, sum_fg = 0, sum_tt = 0, sum_lines = 0;
	for (size_t k = 0; k < nnames; k++) {
		char src[2048], big[256], out[256];
		double tf[MAX_REPS], ti[MAX_REPS], tt[MAX_REPS];
		struct eptf_import_stats st;
		uint64_t lines = 0, bsum, ops = 0;

		snprintf(src, sizeof(src), "%s/%s", data, names[k]);
		snprintf(big, sizeof(big), "%s/big.txt", tmpdir);
		snprintf(out, sizeof(out), "%s/big.trace", tmpdir);
		if (grow(src, big, mb << 20) < 0) {
			fprintf(stderr, "bench_import: %s: %s\n", src, strerror(errno));
			rc = 1;
			break;
		}
		for (int r = 0; r < reps && !rc; r++) {
			tf[r] = time_fgets(big, &lines, &bsum);
			ti[r] = time_import(big, false, &st, &ops);
			tt[r] = time_to_trace(big, out);
			if (tf[r] < 0 || ti[r] < 0 || tt[r] < 0)
				rc = 1;
		}
		if (rc) {
			fprintf(stderr, "bench_import: %s failed\n", names[k]);
			unlink(big);
			break;
		}
		FILE *f = fopen(big, "r");
		long bytes = 0;
		if (f && !fseek(f, 0, SEEK_END))
			bytes = ftell(f);
		if (f)
			fclose(f);
		double mf = bench_median(tf, reps), mi = bench_median(ti, reps), mt = bench_median(tt, reps);
		uint64_t ev = stat_events(&st);
		printf("%-22s %7.1f %9llu %9.4f %12.0f %9.4f %12.0f %7.3f %9.4f %12.0f %7.3f\n", names[k], bytes / 1e6,
		       (unsigned long long)ev, mf, lines / mf, mi, ev / mi, mi / mf, mt, ev / mt, mt / mf);
		fflush(stdout);
		sum_ev += (double)ev;
		sum_imp += mi;
		sum_fg += mf;
		sum_tt += mt;
		sum_lines += (double)lines;
		unlink(big);
	}
	if (!rc && nnames)
		printf("%-22s %7s %9.0f %9.4f %12.0f %9.4f %12.0f %7.3f %9.4f %12.0f %7.3f\n", "all (sum of medians)", "",
		       sum_ev, sum_fg, sum_lines / sum_fg, sum_imp, sum_ev / sum_imp, sum_imp / sum_fg, sum_tt,
		       sum_ev / sum_tt, sum_tt / sum_fg);
	printf("(ratio = time / fgets time of the same file: how many times slower than just reading lines)\n");

	if (!rc && have_dat) {
		char dat[2048];
		double tb[MAX_REPS], td[MAX_REPS], to[MAX_REPS];
		struct eptf_import_stats st;
		uint64_t ops = 0, events = 0;
		long bytes = 0;

		snprintf(dat, sizeof(dat), "%s/real-pagetables.dat", data);
		for (int r = 0; r < reps && !rc; r++) {
			static char buf[1 << 16];
			double t0 = bench_now();
			for (int l = 0; l < dat_loops; l++) {
				FILE *f = fopen(dat, "rb");
				size_t n;
				bytes = 0;
				if (!f) {
					rc = 1;
					break;
				}
				while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
					bytes += (long)n;
				fclose(f);
			}
			tb[r] = bench_now() - t0;
			t0 = bench_now();
			tracecmd_set_loglevel(TEP_LOG_NONE);
			for (int l = 0; l < dat_loops; l++) {
				struct tracecmd_input *h = tracecmd_open(dat, TRACECMD_FL_LOAD_NO_PLUGINS);
				if (!h) {
					rc = 1;
					break;
				}
				tracecmd_close(h);
			}
			to[r] = bench_now() - t0;
			/* the importer parses in a forked child: count its CPU time too */
			t0 = bench_now_children();
			for (int l = 0; l < dat_loops && !rc; l++)
				if (time_import(dat, true, &st, &ops) < 0)
					rc = 1;
			td[r] = bench_now_children() - t0;
			events = stat_events(&st);
		}
		if (!rc) {
			double mb_ = bench_median(tb, reps), md = bench_median(td, reps), mo = bench_median(to, reps);
			double ev = (double)events * dat_loops;
			printf("\ntrace.dat: %s (%.1f KB, %llu records, %llu events) imported %d times per repetition\n", dat,
			       bytes / 1e3, (unsigned long long)st.lines, (unsigned long long)events, dat_loops);
			printf("baseline fread:                  %.4f s\n", mb_);
			printf("baseline tracecmd open + close:  %.4f s (%.1f ms per file)\n", mo, mo / dat_loops * 1e3);
			printf("import (eptf_import_dat):        %.4f s, %.0f events/s; ratio to fread %.0f, to open+close %.2f\n",
			       md, ev / md, md / mb_, md / mo);
			if (md > mo)
				printf("net of open + close:             %.4f s, %.0f events/s\n", md - mo, ev / (md - mo));
		}
	} else if (!rc) {
		printf("\ntrace.dat: no fixture real-pagetables.dat in %s: not measured\n", data);
	}
	for (size_t k = 0; k < nnames; k++)
		free(names[k]);
	rmdir(tmpdir);
	return rc;
usage:
	fprintf(stderr, "usage: bench_import [--mb N] [--reps 1..%d] [--dat-loops N] [--data DIR]\n", MAX_REPS);
	return 2;
}
