/* SPDX-License-Identifier: BSD-2-Clause */
/* The report document: building it, its metric columns, ratios. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <eptflush/error.h>
#include <eptflush/report.h>

#define METRIC(f) {#f, offsetof(struct eptf_metrics, f)}

/*
 * Report order: what was sent, what it dropped, what it cost afterwards,
 * correctness, then the bookkeeping counters. Names are the struct field
 * names, which eptf_metrics_keys[] also uses.
 */
const struct eptf_report_metric eptf_report_metrics[] = {
	METRIC(ops),
	METRIC(flush_points),
	METRIC(hypercalls),
	METRIC(list_hypercalls),
	METRIC(full_flushes),
	METRIC(list_entries),
	METRIC(pages_flushed),
	METRIC(ept02_dropped),
	METRIC(tlb_dropped),
	METRIC(ept_violations),
	METRIC(tlb_misses),
	METRIC(tlb_hits),
	METRIC(stale_violations),
	METRIC(errors),
	METRIC(fallbacks),
	METRIC(root_flushes),
	METRIC(faults_injected),
	METRIC(modeled_cycles),
};
const size_t eptf_report_nmetrics = sizeof(eptf_report_metrics) / sizeof(eptf_report_metrics[0]);

/* Every field of struct eptf_metrics is a column: a new field must be added above. */
_Static_assert(sizeof(eptf_report_metrics) / sizeof(eptf_report_metrics[0]) ==
		       sizeof(struct eptf_metrics) / sizeof(uint64_t),
	       "eptf_report_metrics must list every struct eptf_metrics field");

uint64_t eptf_report_metric_value(const struct eptf_metrics *m, size_t i)
{
	uint64_t v;

	if (i >= eptf_report_nmetrics)
		return 0;
	memcpy(&v, (const char *)m + eptf_report_metrics[i].offset, sizeof(v));
	return v;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int eptf_report_init(struct eptf_report *rep, const char *tool)
{
	memset(rep, 0, sizeof(*rep));
	if (tool && !(rep->tool = strdup(tool)))
		return EPTF_ENOMEM;
	strcpy(rep->parent.vendor, "intel");
	strcpy(rep->parent.backing, "4k");
	return 0;
}

void eptf_report_free(struct eptf_report *rep)
{
	for (size_t i = 0; i < rep->ninputs; i++) {
		free(rep->inputs[i].name);
		free(rep->inputs[i].source);
		free(rep->inputs[i].detail);
	}
	for (size_t i = 0; i < rep->nparams; i++)
		free(rep->params[i].key);
	for (size_t i = 0; i < rep->nresults; i++) {
		free(rep->results[i].strategy);
		eptf_series_free(&rep->results[i].series);
	}
	free(rep->inputs);
	free(rep->params);
	free(rep->results);
	free(rep->tool);
	memset(rep, 0, sizeof(*rep));
}

/* Make room for one more element of @size in *@arr; 0 or EPTF_ENOMEM. */
static int grow(void **arr, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 8;
	void *p = realloc(*arr, ncap * size);
	if (!p)
		return EPTF_ENOMEM;
	memset((char *)p + *cap * size, 0, (ncap - *cap) * size);
	*arr = p;
	*cap = ncap;
	return 0;
}

int eptf_report_add_input(struct eptf_report *rep, const char *name, const char *source,
			  const char *detail)
{
	if (grow((void **)&rep->inputs, rep->ninputs, &rep->cap_inputs, sizeof(*rep->inputs)))
		return EPTF_ENOMEM;
	struct eptf_report_input *in = &rep->inputs[rep->ninputs];
	memset(in, 0, sizeof(*in));
	in->name = strdup(name ? name : "");
	in->source = strdup(source ? source : "");
	in->detail = dup_or_null(detail);
	if (!in->name || !in->source || (detail && !in->detail)) {
		free(in->name);
		free(in->source);
		free(in->detail);
		memset(in, 0, sizeof(*in));
		return EPTF_ENOMEM;
	}
	return (int)rep->ninputs++;
}

int eptf_report_add_param(struct eptf_report *rep, const char *key, uint64_t value)
{
	if (grow((void **)&rep->params, rep->nparams, &rep->cap_params, sizeof(*rep->params)))
		return EPTF_ENOMEM;
	char *k = strdup(key);
	if (!k)
		return EPTF_ENOMEM;
	rep->params[rep->nparams].key = k;
	rep->params[rep->nparams].value = value;
	rep->nparams++;
	return 0;
}

int eptf_report_add_result(struct eptf_report *rep, size_t input, const char *strategy, bool correct,
			   const struct eptf_metrics *m)
{
	if (input >= rep->ninputs || !strategy)
		return EPTF_EINVAL;
	if (grow((void **)&rep->results, rep->nresults, &rep->cap_results, sizeof(*rep->results)))
		return EPTF_ENOMEM;
	struct eptf_report_result *r = &rep->results[rep->nresults];
	memset(r, 0, sizeof(*r));
	if (!(r->strategy = strdup(strategy)))
		return EPTF_ENOMEM;
	r->input = input;
	r->correct = correct;
	if (m)
		r->m = *m;
	return (int)rep->nresults++;
}

long eptf_report_find(const struct eptf_report *rep, size_t input, const char *strategy)
{
	for (size_t i = 0; i < rep->nresults; i++)
		if (rep->results[i].input == input && !strcmp(rep->results[i].strategy, strategy))
			return (long)i;
	return -1;
}

bool eptf_report_ratio(const struct eptf_report *rep, size_t i, const char *baseline, double *out)
{
	if (i >= rep->nresults)
		return false;
	long b = eptf_report_find(rep, rep->results[i].input, baseline);
	if (b < 0 || rep->results[b].m.modeled_cycles == 0)
		return false;
	*out = (double)rep->results[i].m.modeled_cycles / (double)rep->results[b].m.modeled_cycles;
	return true;
}

char *eptf_report_fmt_u64(uint64_t v, char *buf, size_t len)
{
	char digits[24];
	char out[32];
	int nd = 0, no = 0;

	do {
		digits[nd++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	/* digits are reversed; emit with a comma before every group of three */
	for (int i = nd - 1; i >= 0; i--) {
		out[no++] = digits[i];
		if (i && i % 3 == 0)
			out[no++] = ',';
	}
	out[no] = '\0';
	if (len) {
		strncpy(buf, out, len - 1);
		buf[len - 1] = '\0';
	}
	return buf;
}
