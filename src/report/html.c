/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The HTML report: one self-contained page (no network, no scripts, no
 * external fonts) with the results table, the parent and cost model, and
 * inline SVG charts: modeled cycles and invalidations per strategy (bar
 * charts) and, per input, cumulative hypercalls over the op index (line
 * chart). Elements carry stable ids and classes (svg.chart#chart-cycles,
 * rect.bar, polyline.series) so tests and users' scripts can find them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <eptflush/error.h>
#include <eptflush/report.h>

void eptf_html_escape(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

/*
 * Colour-blind-friendly palette (Okabe and Ito, "Color Universal Design",
 * 2008), without its yellow, which is unreadable as a thin line on white.
 * The ideal bound is always dark grey (and dashed in line charts).
 */
static const char *const palette[] = {
	"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8B4513",
};
#define IDEAL_COLOR "#444444"
#define NPALETTE (sizeof(palette) / sizeof(palette[0]))

/*
 * A strategy's colour: by the rank of its first appearance among the
 * strategies (ideal excluded), so every chart agrees. Strategies repeat per
 * input, so the distinct names are few: a short array, one pass.
 */
static const char *color_of(const struct eptf_report *rep, const char *strategy)
{
	const char *seen[NPALETTE];
	size_t nseen = 0;

	if (!strcmp(strategy, EPTF_IDEAL_NAME))
		return IDEAL_COLOR;
	for (size_t i = 0; i < rep->nresults; i++) {
		const char *name = rep->results[i].strategy;
		size_t k = 0;

		if (!strcmp(name, EPTF_IDEAL_NAME))
			continue;
		while (k < nseen && strcmp(seen[k], name))
			k++;
		if (k == nseen) {
			if (!strcmp(name, strategy))
				return palette[nseen % NPALETTE];
			if (nseen == NPALETTE)
				break; /* more strategies than colours: colours repeat */
			seen[nseen++] = name;
		}
	}
	return palette[0];
}

/* A compact axis label: 1.5k, 20M, 3G. */
static void si(uint64_t v, char *buf, size_t len)
{
	static const char *const sfx[] = {"", "k", "M", "G", "T", "P", "E"};
	double d = (double)v;
	size_t s = 0;

	while (d >= 1000.0 && s + 1 < sizeof(sfx) / sizeof(sfx[0])) {
		d /= 1000.0;
		s++;
	}
	if (s == 0)
		snprintf(buf, len, "%" PRIu64, v);
	else if (d < 10.0 && d != (double)(uint64_t)d)
		snprintf(buf, len, "%.1f%s", d, sfx[s]);
	else
		snprintf(buf, len, "%.0f%s", d, sfx[s]);
}

/* A "nice" axis step (1, 2 or 5 times a power of ten) giving about @ticks ticks up to @max. */
static uint64_t nice_step(uint64_t max, unsigned ticks)
{
	uint64_t raw = max / ticks + (max % ticks != 0);
	uint64_t p = 1;

	if (raw <= 1)
		return 1;
	while (p <= raw / 10)
		p *= 10;
	if (p >= raw)
		return p;
	if (2 * p >= raw)
		return 2 * p;
	if (5 * p >= raw)
		return 5 * p;
	return 10 * p;
}

/* The axis maximum: @max rounded up to a multiple of its step (at least one step). */
static uint64_t axis_max(uint64_t max, uint64_t *step)
{
	*step = nice_step(max ? max : 1, 5);
	uint64_t m = (max + *step - 1) / *step * *step;
	return m ? m : *step;
}

typedef uint64_t (*value_fn)(const struct eptf_metrics *m);

static uint64_t cycles_of(const struct eptf_metrics *m)
{
	return m->modeled_cycles;
}

static uint64_t invalidations_of(const struct eptf_metrics *m)
{
	return m->ept02_dropped + m->tlb_dropped;
}

/*
 * A horizontal bar chart, one rect.bar per result, grouped by input. A
 * linear scale from 0: ratios between strategies are the point, and a log
 * scale would hide them.
 */
static void bar_chart(FILE *f, const struct eptf_report *rep, const char *id, const char *title,
		      const char *xlabel, value_fn value)
{
	const int left = 200, width = 460, right = 170, row = 22, top = 34;
	bool group = rep->ninputs > 1;
	uint64_t max = 0, step;
	char buf[32];
	int rows = 0;

	for (size_t i = 0; i < rep->nresults; i++)
		if (value(&rep->results[i].m) > max)
			max = value(&rep->results[i].m);
	uint64_t amax = axis_max(max, &step);
	rows = (int)rep->nresults + (group ? (int)rep->ninputs : 0);
	int plot_h = rows * row;
	int total_w = left + width + right, total_h = top + plot_h + 50;

	fprintf(f, "<svg class=\"chart bar-chart\" id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" "
		   "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
		id, total_w, total_h, total_w, total_h);
	fprintf(f, "<title>");
	eptf_html_escape(f, title);
	fprintf(f, "</title>\n<text class=\"chart-title\" x=\"%d\" y=\"20\">", left);
	eptf_html_escape(f, title);
	fputs("</text>\n", f);

	/* grid and x axis ticks */
	for (uint64_t t = 0; t <= amax; t += step) {
		double x = left + (double)width * (double)t / (double)amax;
		si(t, buf, sizeof(buf));
		fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
			   "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
			x, top, x, top + plot_h, x, top + plot_h + 14, buf);
	}
	fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", left, top, left,
		top + plot_h);
	fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", left, top + plot_h,
		left + width, top + plot_h);
	fprintf(f, "<text class=\"axis-label\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", left + width / 2,
		top + plot_h + 34);
	eptf_html_escape(f, xlabel);
	fputs("</text>\n", f);

	int y = top;
	for (size_t in = 0; in < rep->ninputs; in++) {
		if (group) {
			fprintf(f, "<text class=\"group-label\" x=\"8\" y=\"%d\">", y + 15);
			eptf_html_escape(f, rep->inputs[in].name);
			fputs("</text>\n", f);
			y += row;
		}
		for (size_t i = 0; i < rep->nresults; i++) {
			const struct eptf_report_result *r = &rep->results[i];
			if (r->input != in)
				continue;
			uint64_t v = value(&r->m);
			double w = (double)width * (double)v / (double)amax;
			fprintf(f, "<text class=\"bar-label\" x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 6,
				y + 15);
			eptf_html_escape(f, r->strategy);
			fprintf(f, "</text>\n<rect class=\"bar\" data-strategy=\"");
			eptf_html_escape(f, r->strategy);
			fprintf(f, "\" data-value=\"%" PRIu64 "\" x=\"%d\" y=\"%d\" width=\"%.2f\" height=\"%d\" "
				   "fill=\"%s\"><title>",
				v, left, y + 3, w, row - 6, color_of(rep, r->strategy));
			eptf_html_escape(f, r->strategy);
			fputs(" on ", f);
			eptf_html_escape(f, rep->inputs[in].name);
			fprintf(f, ": %s</title></rect>\n", eptf_report_fmt_u64(v, buf, sizeof(buf)));
			fprintf(f, "<text class=\"bar-value\" x=\"%.1f\" y=\"%d\">%s", left + w + 4, y + 15, buf);
			/* the bars of close values look alike: say how far from the bound */
			long b = eptf_report_find(rep, in, EPTF_IDEAL_NAME);
			if (b >= 0 && value(&rep->results[b].m) && (size_t)b != i)
				fprintf(f, " (x%.2f)", (double)v / (double)value(&rep->results[b].m));
			fputs("</text>\n", f);
			y += row;
		}
	}
	fputs("</svg>\n", f);
}

/* Cumulative hypercalls against the op index, one polyline.series per strategy. */
static void line_chart(FILE *f, const struct eptf_report *rep, size_t in)
{
	const int left = 70, width = 520, right = 170, top = 34, height = 260;
	const int total_w = left + width + right, total_h = top + height + 50;
	uint64_t xmax = rep->inputs[in].ops, ymax = 0, xstep, ystep;
	char buf[32];
	int legend = 0;

	for (size_t i = 0; i < rep->nresults; i++) {
		const struct eptf_report_result *r = &rep->results[i];
		if (r->input != in)
			continue;
		for (size_t k = 0; k < r->series.n; k++) {
			if (r->series.x[k] > xmax)
				xmax = r->series.x[k];
			if (r->series.y[k] > ymax)
				ymax = r->series.y[k];
		}
	}
	uint64_t ax = axis_max(xmax, &xstep), ay = axis_max(ymax, &ystep);

	fprintf(f, "<svg class=\"chart line-chart\" id=\"chart-flushes-%zu\" xmlns=\"http://www.w3.org/2000/svg\" "
		   "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
		in, total_w, total_h, total_w, total_h);
	fputs("<title>Hypercalls over time: ", f);
	eptf_html_escape(f, rep->inputs[in].name);
	fprintf(f, "</title>\n<text class=\"chart-title\" x=\"%d\" y=\"20\">Cumulative hypercalls: ", left);
	eptf_html_escape(f, rep->inputs[in].name);
	fputs("</text>\n", f);
	for (uint64_t t = 0; t <= ax; t += xstep) {
		double x = left + (double)width * (double)t / (double)ax;
		si(t, buf, sizeof(buf));
		fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
			   "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
			x, top, x, top + height, x, top + height + 14, buf);
	}
	for (uint64_t t = 0; t <= ay; t += ystep) {
		double y = top + height - (double)height * (double)t / (double)ay;
		si(t, buf, sizeof(buf));
		fprintf(f, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
			   "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
			left, y, left + width, y, left - 6, y + 4, buf);
	}
	fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", left, top, left,
		top + height);
	fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", left, top + height,
		left + width, top + height);
	fprintf(f, "<text class=\"axis-label\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">op index</text>\n",
		left + width / 2, top + height + 34);
	fprintf(f, "<text class=\"axis-label\" transform=\"translate(16 %d) rotate(-90)\" "
		   "text-anchor=\"middle\">hypercalls (cumulative)</text>\n",
		top + height / 2);

	for (size_t i = 0; i < rep->nresults; i++) {
		const struct eptf_report_result *r = &rep->results[i];
		if (r->input != in)
			continue;
		const char *color = color_of(rep, r->strategy);
		bool ideal = !strcmp(r->strategy, EPTF_IDEAL_NAME);

		fputs("<polyline class=\"series\" data-strategy=\"", f);
		eptf_html_escape(f, r->strategy);
		fprintf(f, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color,
			ideal ? " stroke-dasharray=\"6 3\"" : "");
		/* every series starts at the origin: nothing is flushed before op 0 */
		fprintf(f, "%d,%d", left, top + height);
		for (size_t k = 0; k < r->series.n; k++)
			fprintf(f, " %.1f,%.1f", left + (double)width * (double)r->series.x[k] / (double)ax,
				top + height - (double)height * (double)r->series.y[k] / (double)ay);
		fputs("\"><title>", f);
		eptf_html_escape(f, r->strategy);
		fprintf(f, ": %s hypercalls</title></polyline>\n",
			eptf_report_fmt_u64(r->m.hypercalls, buf, sizeof(buf)));

		int ly = top + 10 + legend * 18;
		fprintf(f, "<g class=\"legend-item\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
			   "stroke-width=\"3\"%s/><text x=\"%d\" y=\"%d\">",
			left + width + 14, ly, left + width + 38, ly, color, ideal ? " stroke-dasharray=\"6 3\"" : "",
			left + width + 44, ly + 4);
		eptf_html_escape(f, r->strategy);
		fputs("</text></g>\n", f);
		legend++;
	}
	fputs("</svg>\n", f);
}

static void results_table(FILE *f, const struct eptf_report *rep)
{
	char buf[32];
	double x;

	fputs("<div class=\"scroll\">\n<table id=\"results\" class=\"data\">\n<thead><tr><th>input</th><th>strategy</th>", f);
	for (size_t k = 0; k < eptf_report_nmetrics; k++) {
		fputs("<th>", f);
		eptf_html_escape(f, eptf_report_metrics[k].key);
		fputs("</th>", f);
	}
	fputs("<th>vs full</th><th>vs ideal</th></tr></thead>\n<tbody>\n", f);
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct eptf_report_result *r = &rep->results[i];
		bool bad = r->correct && (r->m.stale_violations || r->m.errors);

		fprintf(f, "<tr%s><td>", bad ? " class=\"bad\"" : "");
		eptf_html_escape(f, rep->inputs[r->input].name);
		fputs("</td><td>", f);
		eptf_html_escape(f, r->strategy);
		fputs("</td>", f);
		for (size_t k = 0; k < eptf_report_nmetrics; k++)
			fprintf(f, "<td class=\"num\">%s</td>",
				eptf_report_fmt_u64(eptf_report_metric_value(&r->m, k), buf, sizeof(buf)));
		if (eptf_report_ratio(rep, i, "full", &x))
			fprintf(f, "<td class=\"num\">x%.2f</td>", x);
		else
			fputs("<td class=\"num\">-</td>", f);
		if (eptf_report_ratio(rep, i, EPTF_IDEAL_NAME, &x))
			fprintf(f, "<td class=\"num\">x%.2f</td>", x);
		else
			fputs("<td class=\"num\">-</td>", f);
		fputs("</tr>\n", f);
	}
	fputs("</tbody>\n</table>\n</div>\n", f);
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct eptf_report_result *r = &rep->results[i];
		if (!r->m.stale_violations && !r->m.errors)
			continue;
		fprintf(f, "<p class=\"%s\">", r->correct ? "warning" : "note");
		eptf_html_escape(f, r->strategy);
		fputs(" on ", f);
		eptf_html_escape(f, rep->inputs[r->input].name);
		fprintf(f, ": %s stale violations, ", eptf_report_fmt_u64(r->m.stale_violations, buf, sizeof(buf)));
		fprintf(f, "%s errors%s</p>\n", eptf_report_fmt_u64(r->m.errors, buf, sizeof(buf)),
			r->correct ? " (a correct strategy must show none)" : " (expected: not a correct strategy)");
	}
}

static const char style[] =
	"body{font-family:sans-serif;margin:1.5em;color:#222}div.scroll{overflow-x:auto}"
	"table.data{border-collapse:collapse;margin:.5em 0;font-size:.9em}"
	"table.data th,table.data td{border:1px solid #ccc;padding:.2em .5em;white-space:nowrap}"
	"table.data th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}"
	"tr.bad td{background:#fdd}p.warning{color:#a00;font-weight:bold}p.note{color:#555}"
	"svg.chart{display:block;margin:.5em 0 1.5em;font-size:12px}"
	".grid{stroke:#e4e4e4}.axis{stroke:#333}.chart-title{font-weight:bold;font-size:14px}"
	".tick,.bar-value{fill:#444}.axis-label{fill:#222}.group-label{font-weight:bold}";

int eptf_report_write_html(const struct eptf_report *rep, FILE *f)
{
	char buf[32];

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<title>eptflush report</title>\n<style>", f);
	fputs(style, f);
	fputs("</style>\n</head>\n<body>\n<h1>eptflush: flush strategies compared</h1>\n<p class=\"meta\">", f);
	eptf_html_escape(f, rep->tool ? rep->tool : "eptflush");
	fputs("; parent ", f);
	eptf_html_escape(f, rep->parent.vendor);
	fprintf(f, ", %u TLB entries, ", rep->parent.tlb_entries);
	eptf_html_escape(f, rep->parent.backing);
	fprintf(f, " backing, large entries %s</p>\n", rep->parent.allow_large ? "accepted" : "rejected");

	fputs("<h2>Inputs</h2>\n<table id=\"inputs\" class=\"data\">\n<thead><tr><th>name</th><th>source</th>"
	      "<th>ops</th><th>flush points</th><th>detail</th></tr></thead>\n<tbody>\n", f);
	for (size_t i = 0; i < rep->ninputs; i++) {
		fputs("<tr><td>", f);
		eptf_html_escape(f, rep->inputs[i].name);
		fputs("</td><td>", f);
		eptf_html_escape(f, rep->inputs[i].source);
		fprintf(f, "</td><td class=\"num\">%s</td>", eptf_report_fmt_u64(rep->inputs[i].ops, buf, sizeof(buf)));
		fprintf(f, "<td class=\"num\">%s</td><td>",
			eptf_report_fmt_u64(rep->inputs[i].flush_points, buf, sizeof(buf)));
		eptf_html_escape(f, rep->inputs[i].detail ? rep->inputs[i].detail : "");
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody>\n</table>\n<h2>Results</h2>\n", f);
	results_table(f, rep);

	fputs("<h2>Charts</h2>\n", f);
	bar_chart(f, rep, "chart-cycles", "Modeled cycles per strategy", "modeled cycles", cycles_of);
	bar_chart(f, rep, "chart-invalidations", "Invalidations per strategy (EPT02 + TLB entries dropped)",
		  "entries dropped", invalidations_of);
	for (size_t in = 0; in < rep->ninputs; in++)
		line_chart(f, rep, in);

	fputs("<h2>Parent model</h2>\n<table id=\"parent\" class=\"data\">\n<tbody>\n", f);
	fputs("<tr><th>vendor</th><td>", f);
	eptf_html_escape(f, rep->parent.vendor);
	fprintf(f, "</td></tr>\n<tr><th>tlb_entries</th><td class=\"num\">%u</td></tr>\n<tr><th>backing</th><td>",
		rep->parent.tlb_entries);
	eptf_html_escape(f, rep->parent.backing);
	fprintf(f, "</td></tr>\n<tr><th>allow_large</th><td>%s</td></tr>\n"
		   "<tr><th>gpa_bits</th><td class=\"num\">%u</td></tr>\n",
		rep->parent.allow_large ? "true" : "false", rep->parent.gpa_bits);
	if (rep->parent.inject_hv_error_ppm || rep->parent.inject_partial_ppm || rep->parent.inject_timeout_ppm)
		fprintf(f, "<tr><th>inject</th><td>hv-error=%g, partial=%g, timeout=%g, seed %llu</td></tr>\n",
			rep->parent.inject_hv_error_ppm / 1e6, rep->parent.inject_partial_ppm / 1e6,
			rep->parent.inject_timeout_ppm / 1e6, (unsigned long long)rep->parent.inject_seed);
	fputs("</tbody>\n</table>\n<h2>Cost model (cycles)</h2>\n<table id=\"cost-model\" class=\"data\">\n"
	      "<thead><tr><th>parameter</th><th>cycles</th></tr></thead>\n<tbody>\n", f);
	for (size_t i = 0; i < rep->nparams; i++) {
		fputs("<tr><td>", f);
		eptf_html_escape(f, rep->params[i].key);
		fprintf(f, "</td><td class=\"num\">%s</td></tr>\n",
			eptf_report_fmt_u64(rep->params[i].value, buf, sizeof(buf)));
	}
	fputs("</tbody>\n</table>\n</body>\n</html>\n", f);
	return ferror(f) ? EPTF_EIO : 0;
}
