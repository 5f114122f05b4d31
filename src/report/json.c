/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The JSON document and the CSV table of a report. The JSON keys are a
 * contract (docs/cli.md, docs/report-schema.json); the CSV has one row per
 * result with the same keys as columns, so that the two agree row for row.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <eptflush/error.h>
#include <eptflush/report.h>

/* Ratios are rounded to 4 decimals in both formats so that they agree exactly. */
static double round4(double x)
{
	return round(x * 10000.0) / 10000.0;
}

/* Set @key on @obj, taking the reference; false (and @v released) on failure. */
static bool put(json_t *obj, const char *key, json_t *v)
{
	return v && json_object_set_new(obj, key, v) == 0;
}

/*
 * A JSON string of @s. JSON text is UTF-8 and jansson refuses anything else;
 * a file name is any bytes, so an invalid sequence has its non-ASCII bytes
 * replaced with '?' rather than failing the whole document.
 */
static json_t *jstr(const char *s)
{
	json_t *v = json_string(s);

	if (v || !s)
		return v;
	char *copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

static json_t *u64(uint64_t v)
{
	/* json_int_t is signed 64-bit; counters stay far below 2^63. */
	return json_integer((json_int_t)v);
}

static json_t *ratio_json(const struct eptf_report *rep, size_t i, const char *base)
{
	double r;

	return eptf_report_ratio(rep, i, base, &r) ? json_real(round4(r)) : json_null();
}

static json_t *result_json(const struct eptf_report *rep, size_t i)
{
	const struct eptf_report_result *r = &rep->results[i];
	json_t *o = json_object();
	bool ok = o != NULL;

	ok = ok && put(o, "input", jstr(rep->inputs[r->input].name));
	ok = ok && put(o, "strategy", jstr(r->strategy));
	ok = ok && put(o, "correct", json_boolean(r->correct));
	for (size_t k = 0; ok && k < eptf_report_nmetrics; k++)
		ok = put(o, eptf_report_metrics[k].key, u64(eptf_report_metric_value(&r->m, k)));
	ok = ok && put(o, "cycles_vs_full", ratio_json(rep, i, "full"));
	ok = ok && put(o, "cycles_vs_ideal", ratio_json(rep, i, EPTF_IDEAL_NAME));
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *eptf_report_json(const struct eptf_report *rep)
{
	json_t *doc = json_object();
	json_t *inputs = json_array();
	json_t *parent = json_object();
	json_t *cost = json_object();
	json_t *results = json_array();
	bool ok = doc && inputs && parent && cost && results;

	for (size_t i = 0; ok && i < rep->ninputs; i++) {
		const struct eptf_report_input *in = &rep->inputs[i];
		json_t *o = json_object();

		ok = o != NULL;
		ok = ok && put(o, "name", jstr(in->name));
		ok = ok && put(o, "source", jstr(in->source));
		ok = ok && put(o, "detail", jstr(in->detail ? in->detail : ""));
		ok = ok && put(o, "ops", u64(in->ops));
		ok = ok && put(o, "flush_points", u64(in->flush_points));
		ok = ok && json_array_append_new(inputs, o) == 0;
		if (!ok)
			json_decref(o);
	}
	ok = ok && put(parent, "vendor", jstr(rep->parent.vendor));
	ok = ok && put(parent, "tlb_entries", u64(rep->parent.tlb_entries));
	ok = ok && put(parent, "backing", jstr(rep->parent.backing));
	ok = ok && put(parent, "allow_large", json_boolean(rep->parent.allow_large));
	ok = ok && put(parent, "gpa_bits", u64(rep->parent.gpa_bits));
	if (ok && (rep->parent.inject_hv_error_ppm || rep->parent.inject_partial_ppm ||
		   rep->parent.inject_timeout_ppm)) {
		/* rates as the fractions --inject takes (ppm / 1e6: exact to 6 decimals) */
		json_t *inj = json_object();

		ok = inj != NULL;
		ok = ok && put(inj, "hv_error", json_real(rep->parent.inject_hv_error_ppm / 1e6));
		ok = ok && put(inj, "partial", json_real(rep->parent.inject_partial_ppm / 1e6));
		ok = ok && put(inj, "timeout", json_real(rep->parent.inject_timeout_ppm / 1e6));
		ok = ok && put(inj, "seed", u64(rep->parent.inject_seed));
		if (ok)
			ok = put(parent, "inject", inj);
		else
			json_decref(inj);
	}
	for (size_t i = 0; ok && i < rep->nparams; i++)
		ok = put(cost, rep->params[i].key, u64(rep->params[i].value));
	for (size_t i = 0; ok && i < rep->nresults; i++) {
		json_t *o = result_json(rep, i);
		ok = o && json_array_append_new(results, o) == 0;
	}

	if (ok) {
		ok = put(doc, "tool", jstr(rep->tool ? rep->tool : "eptflush"));
		ok = ok && put(doc, "version", json_integer(EPTF_REPORT_VERSION));
		/* set_new takes the references even on failure; clear them here */
		ok = ok && put(doc, "inputs", inputs);
		inputs = NULL;
		ok = ok && put(doc, "parent", parent);
		parent = NULL;
		ok = ok && put(doc, "cost_model", cost);
		cost = NULL;
		ok = ok && put(doc, "results", results);
		results = NULL;
	}
	json_decref(inputs);
	json_decref(parent);
	json_decref(cost);
	json_decref(results);
	if (!ok) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

int eptf_report_write_json(const struct eptf_report *rep, FILE *f)
{
	json_t *doc = eptf_report_json(rep);

	if (!doc)
		return EPTF_ENOMEM;
	int rc = json_dumpf(doc, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	json_decref(doc);
	if (rc || fputc('\n', f) == EOF || ferror(f))
		return EPTF_EIO;
	return 0;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_ratio(FILE *f, const struct eptf_report *rep, size_t i, const char *base)
{
	double r;

	fputc(',', f);
	if (eptf_report_ratio(rep, i, base, &r))
		fprintf(f, "%.4f", round4(r));
}

int eptf_report_write_csv(const struct eptf_report *rep, FILE *f)
{
	fputs("input,strategy,correct", f);
	for (size_t k = 0; k < eptf_report_nmetrics; k++)
		fprintf(f, ",%s", eptf_report_metrics[k].key);
	fputs(",cycles_vs_full,cycles_vs_ideal\n", f);
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct eptf_report_result *r = &rep->results[i];

		csv_field(f, rep->inputs[r->input].name);
		fputc(',', f);
		csv_field(f, r->strategy);
		fputs(r->correct ? ",true" : ",false", f);
		for (size_t k = 0; k < eptf_report_nmetrics; k++)
			fprintf(f, ",%llu", (unsigned long long)eptf_report_metric_value(&r->m, k));
		csv_ratio(f, rep, i, "full");
		csv_ratio(f, rep, i, EPTF_IDEAL_NAME);
		fputs("\n", f);
	}
	return ferror(f) ? EPTF_EIO : 0;
}
