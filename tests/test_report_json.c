/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The report's JSON, CSV and text renderings from hand-made metrics: the
 * documented keys are all there and nothing else, values round-trip, CSV
 * agrees with JSON row for row, ratios and the warning count are right,
 * and saving goes through a temporary file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include <eptflush/error.h>
#include <eptflush/report.h>

static struct eptf_metrics metrics(uint64_t seed)
{
	struct eptf_metrics m;
	uint64_t *p = (uint64_t *)&m;

	/* distinct values per field so a swapped column cannot go unnoticed */
	for (size_t i = 0; i < sizeof(m) / sizeof(uint64_t); i++)
		p[i] = seed * 1000 + i + 1;
	return m;
}

/* Two inputs; full, list, seed-v2 (not correct, violations) and ideal on each. */
static void build(struct eptf_report *rep)
{
	assert_int_equal(eptf_report_init(rep, "eptflush test"), 0);
	assert_int_equal(eptf_report_add_input(rep, "mixed", "synthetic", "seed=1"), 0);
	assert_int_equal(eptf_report_add_input(rep, "odd, \"name\"", "file", NULL), 1);
	rep->inputs[0].ops = 200000;
	rep->inputs[0].flush_points = 1234;
	rep->inputs[1].ops = 7;
	rep->inputs[1].flush_points = 3;
	strcpy(rep->parent.vendor, "amd");
	rep->parent.tlb_entries = 2048;
	strcpy(rep->parent.backing, "2m");
	rep->parent.allow_large = true;
	rep->parent.gpa_bits = 52;
	assert_int_equal(eptf_report_add_param(rep, "hypercall", 1500), 0);
	assert_int_equal(eptf_report_add_param(rep, "list_entry", 40), 0);

	for (size_t in = 0; in < 2; in++) {
		struct eptf_metrics m = metrics(in * 10 + 1);
		m.modeled_cycles = 4000;
		m.stale_violations = 0;
		m.errors = 0;
		assert_true(eptf_report_add_result(rep, in, "full", true, &m) >= 0);
		m = metrics(in * 10 + 2);
		m.modeled_cycles = 1000;
		m.stale_violations = 0;
		m.errors = 0;
		assert_true(eptf_report_add_result(rep, in, "list", true, &m) >= 0);
		m = metrics(in * 10 + 3);
		m.modeled_cycles = 900;
		m.stale_violations = 5;
		assert_true(eptf_report_add_result(rep, in, "seed-v2", false, &m) >= 0);
		m = metrics(in * 10 + 4);
		m.modeled_cycles = 800;
		m.stale_violations = 0;
		m.errors = 0;
		assert_true(eptf_report_add_result(rep, in, EPTF_IDEAL_NAME, true, &m) >= 0);
	}
}

static const char *const result_keys_required[] = {
	"input", "strategy", "hypercalls", "list_hypercalls", "full_flushes", "list_entries",
	"pages_flushed", "ept02_dropped", "tlb_dropped", "ept_violations", "tlb_misses",
	"stale_violations", "errors", "modeled_cycles", NULL,
};

static void test_json_keys_and_values(void **state)
{
	struct eptf_report rep;
	(void)state;

	build(&rep);
	json_t *doc = eptf_report_json(&rep);
	assert_non_null(doc);

	/* exactly the documented top-level keys */
	const char *top[] = {"tool", "version", "inputs", "parent", "cost_model", "results"};
	assert_int_equal(json_object_size(doc), 6);
	for (size_t i = 0; i < 6; i++)
		assert_non_null(json_object_get(doc, top[i]));
	assert_int_equal(json_integer_value(json_object_get(doc, "version")), EPTF_REPORT_VERSION);

	json_t *inputs = json_object_get(doc, "inputs");
	assert_int_equal(json_array_size(inputs), 2);
	json_t *in0 = json_array_get(inputs, 0);
	assert_string_equal(json_string_value(json_object_get(in0, "name")), "mixed");
	assert_string_equal(json_string_value(json_object_get(in0, "source")), "synthetic");
	assert_int_equal(json_integer_value(json_object_get(in0, "ops")), 200000);
	assert_int_equal(json_integer_value(json_object_get(in0, "flush_points")), 1234);

	json_t *parent = json_object_get(doc, "parent");
	assert_string_equal(json_string_value(json_object_get(parent, "vendor")), "amd");
	assert_int_equal(json_integer_value(json_object_get(parent, "tlb_entries")), 2048);
	assert_string_equal(json_string_value(json_object_get(parent, "backing")), "2m");
	assert_true(json_is_true(json_object_get(parent, "allow_large")));
	assert_int_equal(json_integer_value(json_object_get(parent, "gpa_bits")), 52);

	json_t *cost = json_object_get(doc, "cost_model");
	assert_int_equal(json_object_size(cost), 2);
	assert_int_equal(json_integer_value(json_object_get(cost, "hypercall")), 1500);
	assert_int_equal(json_integer_value(json_object_get(cost, "list_entry")), 40);

	json_t *results = json_object_get(doc, "results");
	assert_int_equal(json_array_size(results), rep.nresults);
	for (size_t i = 0; i < rep.nresults; i++) {
		json_t *r = json_array_get(results, i);
		for (size_t k = 0; result_keys_required[k]; k++)
			assert_non_null(json_object_get(r, result_keys_required[k]));
		/* every key is a documented one: required, the extra metrics, correct, ratios */
		assert_int_equal(json_object_size(r), 3 + eptf_report_nmetrics + 2);
		assert_string_equal(json_string_value(json_object_get(r, "strategy")), rep.results[i].strategy);
		assert_string_equal(json_string_value(json_object_get(r, "input")),
				    rep.inputs[rep.results[i].input].name);
		for (size_t k = 0; k < eptf_report_nmetrics; k++)
			assert_int_equal(json_integer_value(json_object_get(r, eptf_report_metrics[k].key)),
					 eptf_report_metric_value(&rep.results[i].m, k));
	}
	/* hand-checked values: list on input 0 */
	json_t *list0 = json_array_get(results, 1);
	assert_string_equal(json_string_value(json_object_get(list0, "strategy")), "list");
	assert_int_equal(json_integer_value(json_object_get(list0, "hypercalls")), 2003);
	assert_int_equal(json_integer_value(json_object_get(list0, "ops")), 2001);
	assert_true(json_is_true(json_object_get(list0, "correct")));
	assert_true(json_is_false(json_object_get(json_array_get(results, 2), "correct")));
	assert_float_equal(json_real_value(json_object_get(list0, "cycles_vs_full")), 0.25, 1e-9);
	assert_float_equal(json_real_value(json_object_get(list0, "cycles_vs_ideal")), 1.25, 1e-9);

	json_decref(doc);
	eptf_report_free(&rep);
}

static void test_json_ratio_null_without_baseline(void **state)
{
	struct eptf_report rep;
	struct eptf_metrics m = metrics(1);
	(void)state;

	assert_int_equal(eptf_report_init(&rep, NULL), 0);
	assert_int_equal(eptf_report_add_input(&rep, "t", "file", NULL), 0);
	assert_int_equal(eptf_report_add_result(&rep, 0, "list", true, &m), 0);
	assert_int_equal(eptf_report_add_result(&rep, 1, "list", true, &m), EPTF_EINVAL);
	json_t *doc = eptf_report_json(&rep);
	json_t *r = json_array_get(json_object_get(doc, "results"), 0);
	assert_true(json_is_null(json_object_get(r, "cycles_vs_full")));
	assert_true(json_is_null(json_object_get(r, "cycles_vs_ideal")));
	/* a zero-cycle baseline gives no ratio either */
	m.modeled_cycles = 0;
	assert_int_equal(eptf_report_add_result(&rep, 0, "full", true, &m), 1);
	double x;
	assert_false(eptf_report_ratio(&rep, 0, "full", &x));
	json_decref(doc);
	eptf_report_free(&rep);
}

/* A file name that is not UTF-8 still gives a valid document (bytes >= 0x80 as '?'). */
static void test_json_non_utf8_name(void **state)
{
	struct eptf_report rep;
	struct eptf_metrics m = metrics(1);
	(void)state;

	assert_int_equal(eptf_report_init(&rep, NULL), 0);
	assert_int_equal(eptf_report_add_input(&rep, "trace-\xff\xfe.txt", "file", "d\xc3"), 0);
	assert_int_equal(eptf_report_add_input(&rep, "caf\xc3\xa9", "file", NULL), 1);
	assert_int_equal(eptf_report_add_result(&rep, 0, "list", true, &m), 0);
	json_t *doc = eptf_report_json(&rep);
	assert_non_null(doc);
	json_t *in = json_object_get(doc, "inputs");
	assert_string_equal(json_string_value(json_object_get(json_array_get(in, 0), "name")), "trace-??.txt");
	assert_string_equal(json_string_value(json_object_get(json_array_get(in, 0), "detail")), "d?");
	/* valid UTF-8 is kept as it is */
	assert_string_equal(json_string_value(json_object_get(json_array_get(in, 1), "name")), "caf\xc3\xa9");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(doc, "results"), 0),
							      "input")),
			    "trace-??.txt");
	json_decref(doc);
	eptf_report_free(&rep);
}

/* Split one CSV line (RFC 4180 quoting) into fields; returns the count. */
static size_t csv_split(const char *line, char fields[][64], size_t max)
{
	size_t n = 0, len = 0;
	bool quoted = false;

	fields[0][0] = '\0';
	for (const char *p = line; *p && *p != '\n'; p++) {
		if (quoted) {
			if (*p == '"' && p[1] == '"') {
				fields[n][len++] = '"';
				p++;
			} else if (*p == '"') {
				quoted = false;
			} else {
				fields[n][len++] = *p;
			}
		} else if (*p == '"') {
			quoted = true;
		} else if (*p == ',') {
			fields[n][len] = '\0';
			assert_true(++n < max);
			len = 0;
		} else {
			fields[n][len++] = *p;
		}
		assert_true(len < 63);
	}
	fields[n][len] = '\0';
	return n + 1;
}

static void test_csv_agrees_with_json(void **state)
{
	struct eptf_report rep;
	char *buf = NULL;
	size_t len = 0;
	static char fields[64][64];
	(void)state;

	build(&rep);
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(eptf_report_write_csv(&rep, f), 0);
	fclose(f);

	/* the input name with a comma and quotes is quoted (before strtok cuts buf) */
	assert_non_null(strstr(buf, "\"odd, \"\"name\"\"\""));
	json_t *doc = eptf_report_json(&rep);
	json_t *results = json_object_get(doc, "results");

	char *save = NULL;
	char *line = strtok_r(buf, "\n", &save);
	assert_non_null(line);
	size_t ncols = csv_split(line, fields, 64);
	assert_int_equal(ncols, 3 + eptf_report_nmetrics + 2);
	static char header[64][64];
	memcpy(header, fields, sizeof(header));
	assert_string_equal(header[0], "input");
	assert_string_equal(header[1], "strategy");

	size_t row = 0;
	while ((line = strtok_r(NULL, "\n", &save))) {
		assert_true(row < json_array_size(results));
		json_t *r = json_array_get(results, row);
		assert_int_equal(csv_split(line, fields, 64), ncols);
		/* every column is a key of the JSON row with the same value */
		for (size_t c = 0; c < ncols; c++) {
			json_t *v = json_object_get(r, header[c]);
			assert_non_null(v);
			char want[64];
			if (json_is_string(v))
				snprintf(want, sizeof(want), "%s", json_string_value(v));
			else if (json_is_integer(v))
				snprintf(want, sizeof(want), "%lld", (long long)json_integer_value(v));
			else if (json_is_boolean(v))
				snprintf(want, sizeof(want), "%s", json_is_true(v) ? "true" : "false");
			else if (json_is_real(v))
				snprintf(want, sizeof(want), "%.4f", json_real_value(v));
			else
				want[0] = '\0'; /* null: empty field */
			assert_string_equal(fields[c], want);
		}
		row++;
	}
	assert_int_equal(row, rep.nresults);
	json_decref(doc);
	free(buf);
	eptf_report_free(&rep);
}

static void test_fmt_u64(void **state)
{
	char b[32];
	(void)state;

	assert_string_equal(eptf_report_fmt_u64(0, b, sizeof(b)), "0");
	assert_string_equal(eptf_report_fmt_u64(999, b, sizeof(b)), "999");
	assert_string_equal(eptf_report_fmt_u64(1000, b, sizeof(b)), "1,000");
	assert_string_equal(eptf_report_fmt_u64(1234567, b, sizeof(b)), "1,234,567");
	assert_string_equal(eptf_report_fmt_u64(UINT64_MAX, b, sizeof(b)), "18,446,744,073,709,551,615");
	/* truncates, never overflows */
	assert_string_equal(eptf_report_fmt_u64(1234567, b, 4), "1,2");
}

static void test_table(void **state)
{
	struct eptf_report rep;
	char *buf = NULL;
	size_t len = 0;
	(void)state;

	build(&rep);
	FILE *f = open_memstream(&buf, &len);
	/* seed-v2 is not a correct strategy: its violations are a note, not a warning */
	assert_int_equal(eptf_report_write_table(&rep, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "hypercalls"));
	assert_non_null(strstr(buf, "vs ideal"));
	assert_non_null(strstr(buf, "x0.25"));  /* list vs full */
	assert_non_null(strstr(buf, "x1.25"));  /* list vs ideal */
	assert_non_null(strstr(buf, "x5.00"));  /* full vs ideal */
	assert_non_null(strstr(buf, "4,000")); /* thousands separators */
	assert_non_null(strstr(buf, "note: seed-v2 on mixed: 5 stale violations"));
	assert_null(strstr(buf, "WARNING"));
	free(buf);

	/* a correct strategy with violations is a warning, and counted */
	rep.results[1].m.stale_violations = 3;
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(eptf_report_write_table(&rep, f), 1);
	fclose(f);
	assert_non_null(strstr(buf, "WARNING: list on mixed: 3 stale violations"));
	/* the rows line up: every line of the first block has the same length */
	char *l1 = strchr(buf, '\n') + 1;           /* heading row */
	char *l2 = strchr(l1, '\n') + 1;            /* first result */
	char *l3 = strchr(l2, '\n') + 1;
	assert_int_equal(strchr(l1, '\n') - l1, strchr(l2, '\n') - l2);
	assert_int_equal(strchr(l2, '\n') - l2, strchr(l3, '\n') - l3);
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(eptf_report_write_result(&rep, 1, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "strategy"));
	assert_non_null(strstr(buf, "list"));
	assert_non_null(strstr(buf, "modeled_cycles"));
	assert_non_null(strstr(buf, "cycles vs full"));
	free(buf);
	eptf_report_free(&rep);
}

static void test_series_bounded(void **state)
{
	struct eptf_series s;
	(void)state;

	assert_int_equal(eptf_series_init(&s, 200), 0);
	for (uint64_t i = 0; i < 100000; i++)
		eptf_series_add(&s, i * 3, i);
	eptf_series_finish(&s);
	assert_true(s.n <= 200);
	assert_true(s.n >= 100); /* halving never leaves fewer than half */
	assert_int_equal(s.x[0], 0);
	assert_int_equal(s.x[s.n - 1], 99999 * 3);
	assert_int_equal(s.y[s.n - 1], 99999);
	/* increasing and evenly spread: no gap wider than two strides */
	for (size_t i = 1; i + 1 < s.n; i++) {
		assert_true(s.x[i] > s.x[i - 1]);
		assert_true(s.x[i] - s.x[i - 1] <= 3 * s.stride);
	}
	eptf_series_free(&s);

	/* a short series keeps every point, and finish adds nothing new */
	assert_int_equal(eptf_series_init(&s, 0), 0);
	for (uint64_t i = 0; i < 10; i++)
		eptf_series_add(&s, i, i * i);
	eptf_series_finish(&s);
	assert_int_equal(s.n, 10);
	assert_int_equal(s.y[9], 81);
	eptf_series_free(&s);
}

/* The report's columns are the engine's metric keys, in the same order, reading the same fields. */
static void test_metric_keys_match_engine(void **state)
{
	struct eptf_metrics m = metrics(7);
	size_t n = 0;
	(void)state;

	for (; eptf_metrics_keys[n]; n++) {
		assert_true(n < eptf_report_nmetrics);
		assert_string_equal(eptf_report_metrics[n].key, eptf_metrics_keys[n]);
		assert_int_equal(eptf_report_metric_value(&m, n), eptf_metrics_get(&m, n));
	}
	assert_int_equal(n, eptf_report_nmetrics);
	assert_int_equal(eptf_report_metric_value(&m, n), 0); /* past the end */
}

static void test_save(void **state)
{
	struct eptf_report rep;
	char dir[] = "/tmp/eptf-report-XXXXXX";
	char path[256], err[256];
	struct stat st;
	(void)state;

	build(&rep);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out.json", dir);
	assert_int_equal(eptf_report_save(&rep, EPTF_REPORT_JSON, path, err, sizeof(err)), 0);
	json_error_t jerr;
	json_t *doc = json_load_file(path, 0, &jerr);
	assert_non_null(doc);
	assert_int_equal(json_array_size(json_object_get(doc, "results")), rep.nresults);
	json_decref(doc);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_mode & 0044); /* not left at mkstemp's 0600 (umask permitting) */
	unlink(path);

	/* an unwritable target: an error naming the path, and nothing left behind */
	snprintf(path, sizeof(path), "%s/no/such/dir/out.csv", dir);
	assert_int_equal(eptf_report_save(&rep, EPTF_REPORT_CSV, path, err, sizeof(err)), EPTF_EIO);
	assert_non_null(strstr(err, path));
	assert_int_equal(rmdir(dir), 0); /* empty: no temporary file left */
	eptf_report_free(&rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_keys_and_values),
		cmocka_unit_test(test_json_ratio_null_without_baseline),
		cmocka_unit_test(test_json_non_utf8_name),
		cmocka_unit_test(test_csv_agrees_with_json),
		cmocka_unit_test(test_fmt_u64),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_series_bounded),
		cmocka_unit_test(test_metric_keys_match_engine),
		cmocka_unit_test(test_save),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
