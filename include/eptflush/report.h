/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Reports: what `eptflush compare` and `replay` print. A struct eptf_report
 * collects the inputs, the parent configuration, the cost model and one
 * result (struct eptf_metrics) per input and strategy; writers render it as
 * a text table, JSON (jansson), CSV and a self-contained HTML page with
 * inline SVG charts. docs/cli.md and docs/report-schema.json describe the
 * formats; the JSON keys are a contract (tests and users rely on them).
 *
 * The library depends only on struct eptf_metrics (a plain struct): it
 * calls nothing in the replay engine, so callers (the CLI, tests) fill the
 * report from whatever produced the numbers.
 */
#ifndef EPTFLUSH_REPORT_H
#define EPTFLUSH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <eptflush/replay.h>

/* Version of the JSON document layout (key "version"). */
#define EPTF_REPORT_VERSION 1
/* Default bound on the points one "flushes over time" series keeps. */
#define EPTF_SERIES_MAX_POINTS 200

/*
 * A bounded sample of a monotone series (op index -> cumulative
 * hypercalls). Points are offered in increasing x; when @cap points are
 * held, every other one is dropped and from then on only every
 * @stride-th offered point is kept (stride doubles each time), so the
 * sample stays evenly spread over the run in O(cap) memory. The last point
 * offered is always kept (eptf_series_finish) so a chart ends at the total.
 */
struct eptf_series {
	uint64_t *x;       /* op index */
	uint64_t *y;       /* cumulative hypercalls */
	size_t n;          /* points held */
	size_t cap;        /* most points held (>= 4) */
	uint64_t stride;   /* keep one offered point in @stride */
	uint64_t offered;  /* points offered so far */
	uint64_t last_x, last_y; /* the last point offered (kept by finish) */
	bool have_last;
};

/* Allocate room for @cap points (0: EPTF_SERIES_MAX_POINTS). 0 or EPTF_ENOMEM. */
int eptf_series_init(struct eptf_series *s, size_t cap);
/* Offer one point; never allocates. */
void eptf_series_add(struct eptf_series *s, uint64_t x, uint64_t y);
/* Make sure the last offered point is held (replacing the newest if full). */
void eptf_series_finish(struct eptf_series *s);
void eptf_series_free(struct eptf_series *s);

/* One input replayed: a trace file or a generated workload. */
struct eptf_report_input {
	char *name;            /* workload name or file name */
	char *source;          /* "synthetic", "import", "capture", "file", ... (trace header source) */
	char *detail;          /* free text (generator options, path), may be NULL */
	uint64_t ops;          /* ops replayed */
	uint64_t flush_points; /* flush points the L1 model produced */
};

/* One (input, strategy) replay. */
struct eptf_report_result {
	size_t input;          /* index into eptf_report.inputs */
	char *strategy;        /* strategy name, or EPTF_IDEAL_NAME for the bound */
	bool correct;          /* expected to show no stale translations (ideal: true) */
	struct eptf_metrics m;
	struct eptf_series series; /* flushes over time; n == 0 when not sampled */
};

/* The parent model the results were measured against. */
struct eptf_report_parent {
	char vendor[8];        /* "intel" or "amd" */
	unsigned tlb_entries;
	char backing[4];       /* "4k", "2m", "1g" */
	bool allow_large;
	unsigned gpa_bits;
	/*
	 * Hypercall fault injection (--inject, --inject-seed): the parent's
	 * rates in parts per million and the seed. The JSON `parent` object
	 * carries an `inject` object only when a rate is non-zero.
	 */
	uint32_t inject_hv_error_ppm, inject_partial_ppm, inject_timeout_ppm;
	uint64_t inject_seed;
};

/* One cost-model parameter, in documentation order. */
struct eptf_report_param {
	char *key;
	uint64_t value;
};

struct eptf_report {
	char *tool;            /* "eptflush 0.1.0" */
	struct eptf_report_input *inputs;
	size_t ninputs;
	struct eptf_report_parent parent;
	struct eptf_report_param *params;
	size_t nparams;
	struct eptf_report_result *results;
	size_t nresults;
	size_t cap_inputs, cap_params, cap_results; /* allocation bookkeeping */
};

/* ---- building --------------------------------------------------------- */

/* An empty report named after @tool (copied; may be NULL). 0 or EPTF_ENOMEM. */
int eptf_report_init(struct eptf_report *rep, const char *tool);
/* Free everything the report owns (strings, series); @rep may be reused after init. */
void eptf_report_free(struct eptf_report *rep);

/* Append an input (strings copied; @detail may be NULL); returns its index or EPTF_ENOMEM. */
int eptf_report_add_input(struct eptf_report *rep, const char *name, const char *source,
			  const char *detail);
/* Append a cost parameter (key copied). 0 or EPTF_ENOMEM. */
int eptf_report_add_param(struct eptf_report *rep, const char *key, uint64_t value);
/*
 * Append a result for input @input (name copied, series left empty);
 * returns its index or a negative EPTF_E* (EPTF_EINVAL for a bad input index).
 * The result's series may then be set up with eptf_series_init() by the
 * caller through rep->results[i].series; the report frees it.
 */
int eptf_report_add_result(struct eptf_report *rep, size_t input, const char *strategy, bool correct,
			   const struct eptf_metrics *m);

/* ---- metric columns ----------------------------------------------------- */

/*
 * The metric columns of a result in report order: JSON `results` keys and
 * CSV columns after `input`, `strategy` and `correct`. Names equal the
 * struct eptf_metrics field names.
 */
struct eptf_report_metric {
	const char *key;
	size_t offset;         /* offsetof(struct eptf_metrics, field) */
};
extern const struct eptf_report_metric eptf_report_metrics[];
extern const size_t eptf_report_nmetrics;
uint64_t eptf_report_metric_value(const struct eptf_metrics *m, size_t i);

/*
 * The result that is @strategy on the same input as result @i, or -1.
 * Used for the x-full / x-ideal ratios.
 */
long eptf_report_find(const struct eptf_report *rep, size_t input, const char *strategy);
/*
 * Cycles of result @i divided by cycles of @baseline on the same input.
 * Returns false when there is no such result or its cycles are 0.
 */
bool eptf_report_ratio(const struct eptf_report *rep, size_t i, const char *baseline, double *out);

/* ---- rendering ---------------------------------------------------------- */

/* "1,234,567": @v with thousands separators into @buf; returns @buf. */
char *eptf_report_fmt_u64(uint64_t v, char *buf, size_t len);

/*
 * The text table: per input a heading and one row per result, numbers
 * right-aligned with thousands separators, ratios as "x1.00"; then a note
 * for every `correct` strategy that shows stale violations or errors.
 * Returns how many such notes were printed (0: all correct strategies clean),
 * or EPTF_EIO.
 */
int eptf_report_write_table(const struct eptf_report *rep, FILE *f);

/* The key/value listing of one result (what `replay` prints). 0 or EPTF_EIO. */
int eptf_report_write_result(const struct eptf_report *rep, size_t i, FILE *f);

/* The JSON document (new reference, caller json_decref()s); NULL on ENOMEM. */
struct json_t;
struct json_t *eptf_report_json(const struct eptf_report *rep);

/* Writers to an open stream; 0, EPTF_ENOMEM or EPTF_EIO. */
int eptf_report_write_json(const struct eptf_report *rep, FILE *f);
int eptf_report_write_csv(const struct eptf_report *rep, FILE *f);
int eptf_report_write_html(const struct eptf_report *rep, FILE *f);

enum eptf_report_format {
	EPTF_REPORT_JSON = 0,
	EPTF_REPORT_CSV = 1,
	EPTF_REPORT_HTML = 2,
};

/*
 * Write @rep as @fmt to @path through a temporary file in the same
 * directory renamed into place, so a failure leaves nothing half-written;
 * "-" writes to stdout; a device or FIFO (/dev/null) is written in place,
 * never renamed over. Returns 0 or a negative EPTF_E* with @err (may be
 * NULL, @errlen bytes) set to "path: reason".
 */
int eptf_report_save(const struct eptf_report *rep, enum eptf_report_format fmt, const char *path,
		     char *err, size_t errlen);

/* @s escaped for HTML text and attributes (&<>"') to @f. */
void eptf_html_escape(FILE *f, const char *s);

#endif
