/* SPDX-License-Identifier: BSD-2-Clause */
/* The text renderings: the compare table and the replay key/value list. */
#include <stdio.h>
#include <string.h>

#include <eptflush/error.h>
#include <eptflush/report.h>

enum { NCOLS = 11, CELL = 32 };

static const char *const headings[NCOLS] = {
	"strategy",       "hypercalls",  "list entries", "full flushes", "EPT02 dropped", "TLB dropped",
	"EPT violations", "stale",       "cycles",       "vs full",      "vs ideal",
};

static void ratio_cell(const struct eptf_report *rep, size_t i, const char *base, char *cell)
{
	double r;

	if (eptf_report_ratio(rep, i, base, &r))
		snprintf(cell, CELL, "x%.2f", r);
	else
		strcpy(cell, "-");
}

static void row_cells(const struct eptf_report *rep, size_t i, char cells[NCOLS][CELL])
{
	const struct eptf_report_result *r = &rep->results[i];
	const uint64_t v[] = {r->m.hypercalls,     r->m.list_entries,   r->m.full_flushes,
			      r->m.ept02_dropped,  r->m.tlb_dropped,    r->m.ept_violations,
			      r->m.stale_violations, r->m.modeled_cycles};

	snprintf(cells[0], CELL, "%s", r->strategy);
	for (size_t c = 0; c < sizeof(v) / sizeof(v[0]); c++)
		eptf_report_fmt_u64(v[c], cells[c + 1], CELL);
	ratio_cell(rep, i, "full", cells[9]);
	ratio_cell(rep, i, EPTF_IDEAL_NAME, cells[10]);
}

static void print_row(FILE *f, char cells[NCOLS][CELL], const size_t *w)
{
	for (size_t c = 0; c < NCOLS; c++) {
		if (c == 0)
			fprintf(f, "%-*s", (int)w[c], cells[c]);
		else
			fprintf(f, "  %*s", (int)w[c], cells[c]);
	}
	fputc('\n', f);
}

static bool injecting(const struct eptf_report *rep)
{
	return rep->parent.inject_hv_error_ppm || rep->parent.inject_partial_ppm || rep->parent.inject_timeout_ppm;
}

/* Under an input's rows when faults are injected: what each strategy drew and how often it fell back. */
static void fault_line(const struct eptf_report *rep, size_t in, FILE *f)
{
	char a[CELL], b[CELL];
	bool first = true;

	fputs("faults injected / fallbacks taken:", f);
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct eptf_report_result *r = &rep->results[i];

		if (r->input != in)
			continue;
		fprintf(f, "%s %s %s/%s", first ? "" : ",", r->strategy,
			eptf_report_fmt_u64(r->m.faults_injected, a, sizeof(a)),
			eptf_report_fmt_u64(r->m.fallbacks, b, sizeof(b)));
		first = false;
	}
	fputc('\n', f);
}

int eptf_report_write_table(const struct eptf_report *rep, FILE *f)
{
	char cells[NCOLS][CELL];
	size_t w[NCOLS];
	int bad = 0;
	char a[CELL], b[CELL];

	/* One set of widths for all inputs so that the blocks line up. */
	for (size_t c = 0; c < NCOLS; c++)
		w[c] = strlen(headings[c]);
	for (size_t i = 0; i < rep->nresults; i++) {
		row_cells(rep, i, cells);
		for (size_t c = 0; c < NCOLS; c++)
			if (strlen(cells[c]) > w[c])
				w[c] = strlen(cells[c]);
	}

	for (size_t in = 0; in < rep->ninputs; in++) {
		const struct eptf_report_input *inp = &rep->inputs[in];

		if (in)
			fputc('\n', f);
		fprintf(f, "input %s (%s): %s ops, %s flush points\n", inp->name, inp->source,
			eptf_report_fmt_u64(inp->ops, a, sizeof(a)),
			eptf_report_fmt_u64(inp->flush_points, b, sizeof(b)));
		for (size_t c = 0; c < NCOLS; c++)
			snprintf(cells[c], CELL, "%s", headings[c]);
		print_row(f, cells, w);
		for (size_t i = 0; i < rep->nresults; i++) {
			if (rep->results[i].input != in)
				continue;
			row_cells(rep, i, cells);
			print_row(f, cells, w);
		}
		if (injecting(rep))
			fault_line(rep, in, f);
	}

	/* Correctness under the table: a correct strategy that is not clean is news. */
	bool any_note = false;
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct eptf_report_result *r = &rep->results[i];
		const char *inname = rep->inputs[r->input].name;

		if (!r->m.stale_violations && !r->m.errors)
			continue;
		if (!any_note)
			fputc('\n', f);
		any_note = true;
		if (r->correct) {
			bad++;
			fprintf(f, "WARNING: %s on %s: %s stale violations, %s errors (a correct strategy must show none)\n",
				r->strategy, inname, eptf_report_fmt_u64(r->m.stale_violations, a, sizeof(a)),
				eptf_report_fmt_u64(r->m.errors, b, sizeof(b)));
		} else {
			fprintf(f, "note: %s on %s: %s stale violations, %s errors (expected: not a correct strategy)\n",
				r->strategy, inname, eptf_report_fmt_u64(r->m.stale_violations, a, sizeof(a)),
				eptf_report_fmt_u64(r->m.errors, b, sizeof(b)));
		}
	}
	if (rep->nresults)
		fprintf(f, "\ncycles: modeled by the cost model; vs full / vs ideal: cycles relative to "
			   "`full` and to the `ideal` lower bound on the same input.\n");
	if (rep->nresults && injecting(rep))
		fprintf(f, "faults: hypercalls the parent failed (hv-error %g, time-out %g) or cut short (partial %g),\n"
			   "seed %llu; fallbacks: list -> full flush -> INVEPT of the root (and overflows, as without\n"
			   "faults); `ideal` issues no hypercalls, so it draws none.\n",
			rep->parent.inject_hv_error_ppm / 1e6, rep->parent.inject_timeout_ppm / 1e6,
			rep->parent.inject_partial_ppm / 1e6, (unsigned long long)rep->parent.inject_seed);
	if (ferror(f))
		return EPTF_EIO;
	return bad;
}

int eptf_report_write_result(const struct eptf_report *rep, size_t i, FILE *f)
{
	const struct eptf_report_result *r;
	char a[CELL];
	double x;

	if (i >= rep->nresults)
		return EPTF_EINVAL;
	r = &rep->results[i];
	fprintf(f, "%-18s %s\n", "input", rep->inputs[r->input].name);
	fprintf(f, "%-18s %s%s\n", "strategy", r->strategy, r->correct ? "" : " (not a correct strategy)");
	for (size_t k = 0; k < eptf_report_nmetrics; k++)
		fprintf(f, "%-18s %20s\n", eptf_report_metrics[k].key,
			eptf_report_fmt_u64(eptf_report_metric_value(&r->m, k), a, sizeof(a)));
	if (eptf_report_ratio(rep, i, "full", &x))
		fprintf(f, "%-18s %20s\n", "cycles vs full", (snprintf(a, sizeof(a), "x%.2f", x), a));
	if (eptf_report_ratio(rep, i, EPTF_IDEAL_NAME, &x))
		fprintf(f, "%-18s %20s\n", "cycles vs ideal", (snprintf(a, sizeof(a), "x%.2f", x), a));
	return ferror(f) ? EPTF_EIO : 0;
}
