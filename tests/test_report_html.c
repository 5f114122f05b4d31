/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The HTML report: self-contained (no scripts, no external references),
 * well-formed enough (every element closed in order), the SVG charts with
 * one bar per result and one polyline per strategy per input, and every
 * name escaped.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/report.h>

static const char *const strategies[] = {"full", "mainline", "list", "we<i>rd&\"'", EPTF_IDEAL_NAME};
#define NSTRAT (sizeof(strategies) / sizeof(strategies[0]))

static char *render(size_t ninputs, bool series)
{
	struct eptf_report rep;
	char *buf = NULL;
	size_t len = 0;

	assert_int_equal(eptf_report_init(&rep, "eptflush <test>"), 0);
	for (size_t in = 0; in < ninputs; in++) {
		char name[64];
		snprintf(name, sizeof(name), in ? "input-%zu" : "<script>alert(1)</script>", in);
		assert_int_equal(eptf_report_add_input(&rep, name, "synthetic", "a&b"), (int)in);
		rep.inputs[in].ops = 1000 + in;
		for (size_t s = 0; s < NSTRAT; s++) {
			struct eptf_metrics m;
			memset(&m, 0, sizeof(m));
			m.hypercalls = 100 * (NSTRAT - s);
			m.modeled_cycles = 12345 * (NSTRAT - s);
			m.ept02_dropped = 10 * s;
			m.tlb_dropped = 7;
			m.stale_violations = s == 3 ? 2 : 0;
			int i = eptf_report_add_result(&rep, in, strategies[s], s != 3, &m);
			assert_true(i >= 0);
			if (!series)
				continue;
			struct eptf_series *sr = &rep.results[i].series;
			assert_int_equal(eptf_series_init(sr, 50), 0);
			for (uint64_t op = 0; op < 1000; op += 3)
				eptf_series_add(sr, op, op / 10 * (s + 1));
			eptf_series_finish(sr);
		}
	}
	assert_int_equal(eptf_report_add_param(&rep, "hypercall", 1500), 0);
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(eptf_report_write_html(&rep, f), 0);
	fclose(f);
	eptf_report_free(&rep);
	return buf;
}

/* The text of the element that starts at the svg with @id, up to its </svg>. */
static char *svg_block(const char *doc, const char *id)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "<svg class=\"chart");
	const char *p = doc;
	char idattr[64];
	snprintf(idattr, sizeof(idattr), "id=\"%s\"", id);
	while ((p = strstr(p, needle))) {
		const char *gt = strchr(p, '>');
		const char *hit = strstr(p, idattr);
		if (hit && hit < gt) {
			const char *end = strstr(p, "</svg>");
			assert_non_null(end);
			return strndup(p, (size_t)(end - p));
		}
		p++;
	}
	return NULL;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/*
 * A small tag-balance check: every start tag is closed by the matching end
 * tag in order (void elements and self-closed tags excepted), and no stray
 * '<' or '>' appears in text (escaping).
 */
static void assert_balanced(const char *doc)
{
	static const char *const voids[] = {"meta", "br", "hr", "img", "input", "link", NULL};
	char stack[64][16];
	int depth = 0;
	const char *p = doc;

	while (*p) {
		if (*p == '>')
			fail_msg("stray '>' in text at offset %td", p - doc);
		if (*p != '<') {
			p++;
			continue;
		}
		if (!strncmp(p, "<!DOCTYPE", 9)) {
			p = strchr(p, '>') + 1;
			continue;
		}
		const char *gt = strchr(p, '>');
		assert_non_null(gt);
		/* no '<' inside a tag: attribute values are escaped */
		const char *lt2 = strchr(p + 1, '<');
		assert_true(!lt2 || lt2 > gt);
		bool end = p[1] == '/';
		const char *n = p + 1 + end;
		char name[16];
		size_t k = 0;
		while (k < sizeof(name) - 1 && (isalnum((unsigned char)n[k])))
			name[k] = n[k], k++;
		name[k] = '\0';
		assert_true(k > 0);
		if (end) {
			assert_true(depth > 0);
			if (strcmp(stack[depth - 1], name))
				fail_msg("</%s> closes <%s>", name, stack[depth - 1]);
			depth--;
		} else if (gt[-1] != '/') {
			bool isvoid = false;
			for (size_t v = 0; voids[v]; v++)
				isvoid |= !strcmp(voids[v], name);
			if (!isvoid) {
				assert_true(depth < 64);
				strcpy(stack[depth++], name);
			}
		}
		p = gt + 1;
	}
	assert_int_equal(depth, 0);
}

static void test_charts(void **state)
{
	(void)state;
	char *doc = render(2, true);

	assert_balanced(doc);
	char *cycles = svg_block(doc, "chart-cycles");
	char *inv = svg_block(doc, "chart-invalidations");
	assert_non_null(cycles);
	assert_non_null(inv);
	/* one bar per (input, strategy) */
	assert_int_equal(count(cycles, "<rect class=\"bar\""), 2 * NSTRAT);
	assert_int_equal(count(inv, "<rect class=\"bar\""), 2 * NSTRAT);
	/* bars scale with their value: the largest cycles bar is the widest */
	assert_non_null(strstr(cycles, "data-value=\"61725\""));
	assert_non_null(strstr(cycles, "axis-label"));
	/* each bar says how far it is from the bound: full has 5x ideal's cycles */
	assert_non_null(strstr(cycles, "61,725 (x5.00)</text>"));
	/* the bound is always drawn in the same dark grey, strategies in palette colours */
	assert_non_null(strstr(cycles, "data-strategy=\"ideal\" data-value=\"12345\" x=\"200\""));
	assert_int_equal(count(cycles, "fill=\"#444444\""), 2);
	/* a strategy keeps its colour across inputs and charts: list is the third strategy */
	assert_int_equal(count(cycles, "fill=\"#009E73\""), 2);
	assert_int_equal(count(inv, "fill=\"#009E73\""), 2);
	for (size_t in = 0; in < 2; in++) {
		char id[32];
		snprintf(id, sizeof(id), "chart-flushes-%zu", in);
		char *lines = svg_block(doc, id);
		assert_non_null(lines);
		assert_int_equal(count(lines, "<polyline class=\"series\""), NSTRAT);
		assert_int_equal(count(lines, "class=\"legend-item\""), NSTRAT);
		assert_non_null(strstr(lines, "data-strategy=\"list\" fill=\"none\" stroke=\"#009E73\""));
		/* bounded: at most 50 sampled points + the origin per series */
		const char *pts = strstr(lines, "points=\"");
		assert_non_null(pts);
		const char *pend = strchr(pts + 8, '"');
		size_t npts = 1;
		for (const char *c = pts + 8; c < pend; c++)
			npts += *c == ' ';
		assert_true(npts >= 25 && npts <= 51);
		free(lines);
	}
	assert_null(svg_block(doc, "chart-flushes-2"));
	/* the results table: a header row and one row per result */
	assert_int_equal(count(doc, "<tr"), 1 + 2 * NSTRAT /* results */ + 1 + 2 /* inputs */ +
						    5 /* parent */ + 1 + 1 /* cost model */);
	free(cycles);
	free(inv);
	free(doc);
}

static void test_escaping_and_self_contained(void **state)
{
	(void)state;
	char *doc = render(1, false);

	assert_balanced(doc);
	assert_null(strstr(doc, "<script"));
	assert_non_null(strstr(doc, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_null(strstr(doc, "we<i>"));
	assert_non_null(strstr(doc, "we&lt;i&gt;rd&amp;&quot;&#39;"));
	assert_non_null(strstr(doc, "eptflush &lt;test&gt;"));
	assert_non_null(strstr(doc, "a&amp;b"));
	/* nothing to fetch: no src/href attributes, no CSS imports or urls */
	assert_null(strstr(doc, "src="));
	assert_null(strstr(doc, "href="));
	assert_null(strstr(doc, "@import"));
	assert_null(strstr(doc, "url("));
	/* the only URL is the SVG namespace name, which is never fetched */
	assert_int_equal(count(doc, "http"), count(doc, "http://www.w3.org/2000/svg"));
	/* the weird strategy is not correct: a note, not a warning */
	assert_non_null(strstr(doc, "<p class=\"note\">we&lt;i&gt;"));
	/* without sampled series the flush chart still draws (origin only) */
	char *lines = svg_block(doc, "chart-flushes-0");
	assert_non_null(lines);
	assert_int_equal(count(lines, "<polyline class=\"series\""), NSTRAT);
	free(lines);
	free(doc);
}

static void test_empty_report(void **state)
{
	struct eptf_report rep;
	char *buf = NULL;
	size_t len = 0;
	(void)state;

	assert_int_equal(eptf_report_init(&rep, NULL), 0);
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(eptf_report_write_html(&rep, f), 0);
	fclose(f);
	assert_balanced(buf);
	char *cycles = svg_block(buf, "chart-cycles");
	assert_non_null(cycles);
	assert_int_equal(count(cycles, "class=\"bar\""), 0);
	free(cycles);
	free(buf);
	eptf_report_free(&rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_charts),
		cmocka_unit_test(test_escaping_and_self_contained),
		cmocka_unit_test(test_empty_report),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
