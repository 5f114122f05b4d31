/* SPDX-License-Identifier: BSD-2-Clause */
/* Shared plumbing of compare, replay and check (compare-common.h). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <eptflush/error.h>
#include <eptflush/flush.h>

#include "cli.h"
#include "compare-common.h"

void cmp_opts_init(struct cmp_opts *o, const char *cmd, const struct eptf_workload_params *wp)
{
	memset(o, 0, sizeof(*o));
	o->cmd = cmd;
	if (wp)
		o->wp = *wp;
	else
		eptf_workload_params_default(&o->wp);
	eptf_parent_config_default(&o->parent);
	o->checker = true;
	o->progress = isatty(STDERR_FILENO);
}

int cmp_optarg(const char *cmd, int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, "--", 2) || strncmp(a + 2, name, n))
		return 0;
	if (a[2 + n] == '=') {
		*val = a + 3 + n;
		return 1;
	}
	if (a[2 + n])
		return 0;
	if (*i + 1 >= argc) {
		cli_usage_error(cmd, "option --%s needs a value", name);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

static int bad_value(const char *cmd, const char *opt, const char *v, const char *want)
{
	cli_usage_error(cmd, "bad value '%s' for --%s (%s)", v, opt, want);
	return -1;
}

/*
 * A fault rate: a decimal fraction from 0 to 1 with at most six digits
 * after the point ("0.01", "1", ".5"), i.e. a whole number of parts per
 * million, the parent's unit. Nothing else: no '%', no exponent, no sign.
 */
static bool parse_rate(const char *v, uint32_t *ppm)
{
	uint64_t whole = 0, frac = 0;
	unsigned digits = 0, fdigits = 0;
	const char *p = v;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits >= 2)
			return false; /* 0..1 has at most one integer digit (and a leading 0) */
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, fdigits++) {
			if (fdigits == 6)
				return false; /* finer than 1 ppm */
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
		if (!fdigits)
			return false;
	}
	if (*p || (!digits && !fdigits))
		return false;
	for (; fdigits < 6; fdigits++)
		frac *= 10;
	if (whole * 1000000u + frac > 1000000u)
		return false;
	*ppm = (uint32_t)(whole * 1000000u + frac);
	return true;
}

/* --inject KIND=RATE[,KIND=RATE...]: set the named kinds, leave the others. */
static int parse_inject(struct cmp_opts *o, const char *spec)
{
	static const char *const kinds[] = {"hv-error", "partial", "timeout"};
	uint32_t *dst[] = {&o->parent.inject.hv_error_ppm, &o->parent.inject.partial_ppm,
			   &o->parent.inject.timeout_ppm};
	bool seen[3] = {false, false, false};
	char buf[256];
	char *save = NULL;

	/* strtok_r would skip empty items: refuse them here so that "a=0.1," is not half a spec */
	if (!*spec || spec[0] == ',' || spec[strlen(spec) - 1] == ',' || strstr(spec, ",,"))
		return bad_value(o->cmd, "inject", spec, "KIND=RATE[,KIND=RATE...]");
	if (strlen(spec) >= sizeof(buf)) {
		cli_usage_error(o->cmd, "--inject value too long");
		return -1;
	}
	strcpy(buf, spec);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		size_t k;
		uint32_t ppm;

		if (!eq) {
			cli_usage_error(o->cmd, "--inject %s: expected KIND=RATE, got '%s' (kinds: hv-error, partial, timeout)",
					spec, tok);
			return -1;
		}
		*eq = '\0';
		for (k = 0; k < 3 && strcmp(tok, kinds[k]); k++)
			;
		if (k == 3) {
			cli_usage_error(o->cmd, "--inject %s: unknown fault kind '%s' (kinds: hv-error, partial, timeout)",
					spec, tok);
			return -1;
		}
		if (seen[k]) {
			cli_usage_error(o->cmd, "--inject %s: '%s' given twice", spec, tok);
			return -1;
		}
		seen[k] = true;
		if (!parse_rate(eq + 1, &ppm)) {
			cli_usage_error(o->cmd,
					"--inject %s: bad rate '%s' for %s (a fraction from 0 to 1 with at most 6 decimals, like 0.01)",
					spec, eq + 1, tok);
			return -1;
		}
		*dst[k] = ppm;
	}
	if (!seen[0] && !seen[1] && !seen[2])
		return bad_value(o->cmd, "inject", spec, "KIND=RATE[,KIND=RATE...]");
	return 0;
}

int cmp_opt(struct cmp_opts *o, int argc, char **argv, int *i)
{
	const char *v;
	uint64_t u;
	int m;

	if (!strcmp(argv[*i], "--allow-large")) {
		o->parent.allow_large = true;
		return 1;
	}
	if (!strcmp(argv[*i], "--no-check")) {
		o->checker = false;
		return 1;
	}
	if ((m = cmp_optarg(o->cmd, argc, argv, i, "parent", &v)) != 0) {
		if (m < 0)
			return -1;
		if (!strcmp(v, "intel"))
			o->parent.vendor = EPTF_PARENT_INTEL;
		else if (!strcmp(v, "amd"))
			o->parent.vendor = EPTF_PARENT_AMD;
		else
			return bad_value(o->cmd, "parent", v, "intel or amd");
		return 1;
	}
	if ((m = cmp_optarg(o->cmd, argc, argv, i, "tlb-entries", &v)) != 0) {
		if (m < 0)
			return -1;
		if (!cli_parse_u64(v, &u) || u == 0 || u > (1u << 24))
			return bad_value(o->cmd, "tlb-entries", v, "1 to 16777216");
		o->parent.tlb_entries = (unsigned)u;
		return 1;
	}
	if ((m = cmp_optarg(o->cmd, argc, argv, i, "parent-backing", &v)) != 0) {
		if (m < 0)
			return -1;
		if (!strcasecmp(v, "4k"))
			o->parent.backing_level = 1;
		else if (!strcasecmp(v, "2m"))
			o->parent.backing_level = 2;
		else if (!strcasecmp(v, "1g"))
			o->parent.backing_level = 3;
		else
			return bad_value(o->cmd, "parent-backing", v, "4k, 2m or 1g");
		return 1;
	}
	if ((m = cmp_optarg(o->cmd, argc, argv, i, "cost-model", &v)) != 0) {
		if (m < 0)
			return -1;
		if (o->ncost_files == sizeof(o->cost_files) / sizeof(o->cost_files[0])) {
			cli_usage_error(o->cmd, "too many --cost-model files");
			return -1;
		}
		o->cost_files[o->ncost_files++] = v;
		return 1;
	}
	if ((m = cmp_optarg(o->cmd, argc, argv, i, "set", &v)) != 0) {
		if (m < 0)
			return -1;
		if (o->nsets == sizeof(o->sets) / sizeof(o->sets[0])) {
			cli_usage_error(o->cmd, "too many --set options");
			return -1;
		}
		o->sets[o->nsets++] = v;
		return 1;
	}
	if ((m = cmp_optarg(o->cmd, argc, argv, i, "guest-size", &v)) != 0) {
		if (m < 0)
			return -1;
		if (!cli_parse_size(v, &u) || u < 4096 || u % 4096)
			return bad_value(o->cmd, "guest-size", v, "a size like 16G or 1T, a multiple of 4 KiB");
		o->wp.guest_pages = u >> 12;
		return 1;
	}
	if ((m = cmp_optarg(o->cmd, argc, argv, i, "vcpus", &v)) != 0) {
		if (m < 0)
			return -1;
		if (!cli_parse_u64(v, &u) || u == 0 || u > 1024)
			return bad_value(o->cmd, "vcpus", v, "1 to 1024");
		o->wp.nr_vcpus = (unsigned)u;
		return 1;
	}
	if ((m = cmp_optarg(o->cmd, argc, argv, i, "ops", &v)) != 0) {
		if (m < 0)
			return -1;
		if (!cli_parse_u64(v, &u) || u == 0)
			return bad_value(o->cmd, "ops", v, "a positive count");
		o->wp.ops = u;
		return 1;
	}
	if ((m = cmp_optarg(o->cmd, argc, argv, i, "inject", &v)) != 0) {
		if (m < 0)
			return -1;
		return parse_inject(o, v) < 0 ? -1 : 1;
	}
	if ((m = cmp_optarg(o->cmd, argc, argv, i, "inject-seed", &v)) != 0) {
		if (m < 0)
			return -1;
		/* JSON integers are signed 64-bit: keep the recorded seed exact */
		if (!cli_parse_u64(v, &u) || u > INT64_MAX)
			return bad_value(o->cmd, "inject-seed", v, "an integer from 0 to 2^63-1");
		o->parent.inject.seed = u;
		return 1;
	}
	if ((m = cmp_optarg(o->cmd, argc, argv, i, "seed", &v)) != 0) {
		if (m < 0)
			return -1;
		if (!cli_parse_u64(v, &u))
			return bad_value(o->cmd, "seed", v, "a non-negative integer");
		o->wp.seed = u;
		return 1;
	}
	return 0;
}

static void known_cost_keys(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t k = 0; eptf_cost_model_keys[k] && n < len; k++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", k ? ", " : "", eptf_cost_model_keys[k]);
}

/* Set @key = @value (both trimmed) or explain why not in @why. */
static bool cost_set(struct eptf_cost_model *cm, const char *key, const char *value, char *why, size_t len)
{
	uint64_t u;
	char keys[256];

	if (!*key) {
		snprintf(why, len, "expected 'key = value'");
		return false;
	}
	if (!cli_parse_u64(value, &u)) {
		snprintf(why, len, "bad value '%s' for '%s' (a non-negative integer of cycles)", value, key);
		return false;
	}
	if (eptf_cost_model_set(cm, key, u) < 0) {
		known_cost_keys(keys, sizeof(keys));
		snprintf(why, len, "unknown cost-model parameter '%s' (known: %s)", key, keys);
		return false;
	}
	return true;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * One line of at most COST_LINE_MAX bytes (line end included) into @buf
 * (COST_LINE_MAX + 1 bytes, NUL-terminated); *@len is its length, NULs kept.
 * Returns 1 for a line, 0 at the end of the file, -1 for a longer line: the
 * read is bounded so that a file without line ends (/dev/zero, a binary blob)
 * cannot grow memory the way getline() would.
 */
#define COST_LINE_MAX 4098 /* 4096 bytes, as the op-trace format, plus CR LF */
static int cost_getline(FILE *f, char *buf, size_t *len)
{
	size_t n = 0;
	int c;

	while ((c = getc(f)) != EOF) {
		if (n == COST_LINE_MAX) {
			*len = n;
			return -1;
		}
		buf[n++] = (char)c;
		if (c == '\n')
			break;
	}
	buf[n] = '\0';
	*len = n;
	return n ? 1 : 0;
}

static int load_cost_file(const struct cmp_opts *o, struct eptf_cost_model *cm, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[COST_LINE_MAX + 1];
	size_t got = 0;
	unsigned long lineno = 0;
	char why[512];
	int rc = 0, r;

	if (!f)
		return cli_usage_error(o->cmd, "%s: %s", path, strerror(errno));
	while ((r = cost_getline(f, line, &got)) != 0) {
		lineno++;
		size_t body = got;
		if (body && line[body - 1] == '\n')
			body--;
		if (body && line[body - 1] == '\r')
			body--;
		if (r < 0 || body > 4096) {
			fprintf(stderr, "%s:%lu: line longer than 4096 bytes\n", path, lineno);
			rc = EPTF_EXIT_USAGE;
			break;
		}
		/* A NUL would silently cut the line short (and binary bytes would
		 * be echoed to the terminal): refuse any control byte but tab/CR/LF. */
		size_t bad = 0;
		while (bad < got && (line[bad] == '\t' || line[bad] == '\r' || line[bad] == '\n' ||
				     !iscntrl((unsigned char)line[bad])))
			bad++;
		if (bad < got) {
			fprintf(stderr, "%s:%lu: control byte 0x%02x in line (not a cost-model text file)\n",
				path, lineno, (unsigned char)line[bad]);
			rc = EPTF_EXIT_USAGE;
			break;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			fprintf(stderr, "%s:%lu: expected 'key = value', got '%s'\n", path, lineno, s);
			rc = EPTF_EXIT_USAGE;
			break;
		}
		*eq = '\0';
		if (!cost_set(cm, trim(s), trim(eq + 1), why, sizeof(why))) {
			fprintf(stderr, "%s:%lu: %s\n", path, lineno, why);
			rc = EPTF_EXIT_USAGE;
			break;
		}
	}
	if (!rc && ferror(f))
		rc = cli_usage_error(o->cmd, "%s: read error", path);
	fclose(f);
	return rc;
}

int cmp_one_input_arg(struct cmp_opts *o, int argc, char **argv, int *i, void (*usage)(FILE *f),
		      const char **strategy, const char **input)
{
	const char *a = argv[*i];
	const char *v;
	int m;

	if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
		usage(stdout);
		return EPTF_EXIT_OK;
	}
	if ((m = cmp_opt(o, argc, argv, i)) != 0)
		return m < 0 ? EPTF_EXIT_USAGE : CMP_ARG_NEXT;
	if ((m = cmp_optarg(o->cmd, argc, argv, i, "strategy", &v)) != 0) {
		if (m < 0)
			return EPTF_EXIT_USAGE;
		*strategy = v;
		return CMP_ARG_NEXT;
	}
	if (a[0] == '-' && a[1])
		return cli_usage_error(o->cmd, "unknown option '%s'", a);
	if (*input)
		return cli_usage_error(o->cmd, "one input only ('%s' and '%s')", *input, a);
	*input = a;
	return CMP_ARG_NEXT;
}

int cmp_opts_finish(struct cmp_opts *o)
{
	char why[512];
	char buf[256];

	const struct eptf_parent_inject *in = &o->parent.inject;
	/* one draw per call picks at most one fault: the rates share one unit interval */
	if ((uint64_t)in->hv_error_ppm + in->partial_ppm + in->timeout_ppm > 1000000u)
		return cli_usage_error(o->cmd, "--inject: the rates add up to more than 1 (%g)",
				       ((double)in->hv_error_ppm + in->partial_ppm + in->timeout_ppm) / 1e6);
	for (size_t i = 0; i < o->ncost_files; i++) {
		int rc = load_cost_file(o, &o->parent.cost, o->cost_files[i]);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < o->nsets; i++) {
		const char *eq = strchr(o->sets[i], '=');
		if (!eq)
			return cli_usage_error(o->cmd, "--set %s: expected key=value", o->sets[i]);
		size_t klen = (size_t)(eq - o->sets[i]);
		if (klen >= sizeof(buf))
			klen = sizeof(buf) - 1;
		memcpy(buf, o->sets[i], klen);
		buf[klen] = '\0';
		if (!cost_set(&o->parent.cost, trim(buf), eq + 1, why, sizeof(why)))
			return cli_usage_error(o->cmd, "--set %s: %s", o->sets[i], why);
	}
	return 0;
}

void cmp_opts_help(FILE *f)
{
	fprintf(f, "parent model:\n"
		   "  --parent intel|amd       list flushes drop all of a root's TLB entries (intel,\n"
		   "                           default) or only the overlapping ones (amd)\n"
		   "  --tlb-entries N          parent TLB size (default 2048)\n"
		   "  --parent-backing 4k|2m|1g  the parent's own page size (default 4k)\n"
		   "  --allow-large            the parent accepts large list entries\n"
		   "  --cost-model FILE        cost parameters, 'key = value' per line, '#' comments\n"
		   "  --set key=value          one cost parameter (after any --cost-model file)\n"
		   "  --no-check               turn the stale-translation checker off\n"
		   "  --inject KIND=RATE[,...] fault injection into the parent's hypercalls; KIND is\n"
		   "                           hv-error, partial or timeout, RATE a fraction of calls\n"
		   "                           from 0 to 1 (like 0.01, at most 6 decimals, sum <= 1)\n"
		   "  --inject-seed N          seed of the fault sequence (default 0)\n"
		   "generated workloads:\n"
		   "  --guest-size SIZE        guest-physical size (4k..1T, binary units)\n"
		   "  --vcpus N  --ops N  --seed N\n"
		   "inputs: a trace file, '-' for stdin, or a workload name (");
	for (size_t i = 0; eptf_workloads[i].name; i++)
		fprintf(f, "%s%s", i ? ", " : "", eptf_workloads[i].name);
	fprintf(f, ");\n"
		   "  an existing file wins over a workload of the same name; '" CMP_WORKLOAD_PREFIX
		   "NAME' always means the workload.\n");
}

int cmp_parse_strategies(const char *cmd, const char *list, const char **out, size_t max, size_t *n)
{
	char buf[512];
	char *save = NULL;
	bool named_ideal = false;

	*n = 0;
	if (!strcmp(list, "all") || !strcmp(list, "correct")) {
		bool only_correct = !strcmp(list, "correct");
		for (size_t i = 0; eptf_strategies[i] && *n < max; i++)
			if (!only_correct || eptf_strategies[i]->correct)
				out[(*n)++] = eptf_strategies[i]->name;
		return 0;
	}
	if (strlen(list) >= sizeof(buf))
		return cli_usage_error(cmd, "strategy list too long");
	strcpy(buf, list);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *name = trim(tok);
		const struct eptf_strategy *s;
		bool dup = false;

		if (!*name)
			continue;
		if (!strcmp(name, EPTF_IDEAL_NAME)) {
			named_ideal = true; /* always there: the caller adds it */
			continue;
		}
		s = eptf_strategy_find(name);
		if (!s) {
			char known[256];
			size_t k = 0;
			known[0] = '\0';
			for (size_t i = 0; eptf_strategies[i] && k < sizeof(known); i++)
				k += (size_t)snprintf(known + k, sizeof(known) - k, "%s%s", i ? ", " : "",
						      eptf_strategies[i]->name);
			return cli_usage_error(cmd, "unknown strategy '%s' (known: %s, or all, correct)", name, known);
		}
		for (size_t i = 0; i < *n; i++)
			dup |= !strcmp(out[i], s->name);
		if (dup)
			continue;
		if (*n == max)
			return cli_usage_error(cmd, "too many strategies");
		out[(*n)++] = s->name; /* the registry's string: outlives buf */
	}
	if (*n == 0 && !named_ideal)
		return cli_usage_error(cmd, "no strategy named in '%s'", list);
	return 0;
}

/* ---- inputs ----------------------------------------------------------------- */

static bool is_workload(const char *name)
{
	for (size_t i = 0; eptf_workloads[i].name; i++)
		if (!strcmp(eptf_workloads[i].name, name))
			return true;
	return false;
}

static int open_workload(const struct cmp_opts *o, const char *name, struct cmp_input *in)
{
	struct eptf_trace_header hdr;
	int err;

	if (!is_workload(name)) {
		char known[256];
		size_t k = 0;
		known[0] = '\0';
		for (size_t i = 0; eptf_workloads[i].name && k < sizeof(known); i++)
			k += (size_t)snprintf(known + k, sizeof(known) - k, "%s%s", i ? ", " : "",
					      eptf_workloads[i].name);
		return cli_usage_error(o->cmd, "'%s' is neither a readable file nor a workload (workloads: %s)",
				       name, known);
	}
	err = eptf_workload_create(name, &o->wp, &in->wl);
	if (err < 0)
		return cli_usage_error(o->cmd, "workload %s: %s", name, eptf_strerror(err));
	memset(&hdr, 0, sizeof(hdr));
	eptf_workload_header(in->wl, &hdr);
	snprintf(in->name, sizeof(in->name), "%s", name);
	snprintf(in->source, sizeof(in->source), "%s", hdr.source[0] ? hdr.source : "synthetic");
	if (hdr.detail[0])
		snprintf(in->detail, sizeof(in->detail), "%s", hdr.detail);
	else
		snprintf(in->detail, sizeof(in->detail), "guest %llu MiB, %u vCPUs, %llu ops, seed %llu",
			 (unsigned long long)(o->wp.guest_pages >> 8), o->wp.nr_vcpus,
			 (unsigned long long)o->wp.ops, (unsigned long long)o->wp.seed);
	in->nr_vcpus = hdr.nr_vcpus ? hdr.nr_vcpus : o->wp.nr_vcpus;
	in->expected_ops = o->wp.ops;
	return 0;
}

int cmp_input_open(const struct cmp_opts *o, const char *arg, struct cmp_input *in)
{
	struct eptf_trace_header hdr;
	struct eptf_diag diag;
	struct stat st;
	int err;

	memset(in, 0, sizeof(*in));
	if (!strncmp(arg, CMP_WORKLOAD_PREFIX, strlen(CMP_WORKLOAD_PREFIX)))
		return open_workload(o, arg + strlen(CMP_WORKLOAD_PREFIX), in);
	if (strcmp(arg, "-") && stat(arg, &st) != 0) {
		if (is_workload(arg))
			return open_workload(o, arg, in);
		if (errno != ENOENT || strchr(arg, '/'))
			return cli_usage_error(o->cmd, "%s: %s", arg, strerror(errno));
		return open_workload(o, arg, in); /* explains: neither file nor workload */
	}
	if (strcmp(arg, "-") && S_ISDIR(st.st_mode))
		return cli_usage_error(o->cmd, "%s: is a directory", arg);
	memset(&hdr, 0, sizeof(hdr));
	err = eptf_trace_open(arg, &hdr, &in->tr, &diag);
	if (err < 0) {
		fprintf(stderr, "%s\n", diag.msg);
		in->tr = NULL;
		return EPTF_EXIT_USAGE;
	}
	snprintf(in->name, sizeof(in->name), "%s", arg);
	snprintf(in->source, sizeof(in->source), "%s", hdr.source[0] ? hdr.source : "trace");
	snprintf(in->detail, sizeof(in->detail), "%s%s%s", hdr.name, hdr.name[0] && hdr.detail[0] ? ": " : "",
		 hdr.detail);
	in->nr_vcpus = hdr.nr_vcpus ? hdr.nr_vcpus : 1;
	return 0;
}

void cmp_input_close(struct cmp_input *in)
{
	if (in->tr)
		eptf_trace_close(in->tr);
	if (in->wl)
		eptf_workload_destroy(in->wl);
	in->tr = NULL;
	in->wl = NULL;
}

/* 1 = an op, 0 = the end, < 0 = a malformed trace (@diag set). */
static int input_next(struct cmp_input *in, struct eptf_op *op, struct eptf_diag *diag)
{
	if (in->wl)
		return eptf_workload_next(in->wl, op);
	return eptf_trace_read(in->tr, op, diag);
}

/* ---- the lockstep run ------------------------------------------------------ */

size_t cmp_lanes_for(const char *const *strategies, size_t n, struct cmp_lane *lanes, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < max; i++) {
		const struct eptf_strategy *s = eptf_strategy_find(strategies[i]);
		memset(&lanes[k], 0, sizeof(lanes[k]));
		lanes[k].strategy = strategies[i];
		lanes[k].correct = s ? s->correct : false;
		k++;
	}
	memset(&lanes[k], 0, sizeof(lanes[k]));
	lanes[k].strategy = EPTF_IDEAL_NAME;
	lanes[k].correct = true;
	return k + 1;
}

static void lane_violation(void *ctx, const struct eptf_violation *v)
{
	struct cmp_lane *l = ctx;

	if (l->on_violation)
		l->on_violation(l->ctx, v);
}

static void lane_error(void *ctx, uint64_t op, const char *msg)
{
	struct cmp_lane *l = ctx;

	if (l->on_error)
		l->on_error(l->ctx, op, msg);
}

static void lane_flush(void *ctx, uint64_t op, const struct eptf_metrics *m)
{
	struct cmp_lane *l = ctx;

	eptf_series_add(&l->series, op, m->hypercalls);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The progress line: only on a terminal, only once the run has lasted a
 * second, at most four times a second; erased at the end so that the
 * table is not interleaved with it.
 */
struct progress {
	bool enabled, drawn;
	double start, last;
};

static void progress_tick(struct progress *p, const struct cmp_input *in, uint64_t ops)
{
	char a[32], b[32];
	double t = now();

	if (t - p->start < 1.0 || t - p->last < 0.25)
		return;
	p->last = t;
	p->drawn = true;
	char c[32];
	eptf_report_fmt_u64((uint64_t)((double)ops / (t - p->start)), c, sizeof(c));
	if (in->expected_ops)
		fprintf(stderr, "\r%s: %s / ~%s ops, %s ops/s   ", in->name, eptf_report_fmt_u64(ops, a, sizeof(a)),
			eptf_report_fmt_u64(in->expected_ops, b, sizeof(b)), c);
	else
		fprintf(stderr, "\r%s: %s ops, %s ops/s   ", in->name, eptf_report_fmt_u64(ops, a, sizeof(a)), c);
	fflush(stderr);
}

static void progress_end(struct progress *p)
{
	if (p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->drawn = false;
	}
}

int cmp_run(const struct cmp_opts *o, struct cmp_input *in, struct cmp_lane *lanes, size_t nlanes,
	    bool sample, struct eptf_report *rep)
{
	struct progress prog = {.enabled = o->progress};
	struct eptf_replay_config cfgs[CMP_MAX_LANES] = {{0}};
	struct eptf_replay_group *g = NULL;
	struct eptf_diag diag;
	struct eptf_op op, next;
	uint64_t ops = 0;
	int rc = EPTF_EXIT_OK, err;
	size_t made = 0, bad = 0;

	if (nlanes > CMP_MAX_LANES)
		return cli_fail(o->cmd, "too many lanes (%zu, at most %d)", nlanes, CMP_MAX_LANES);
	for (; made < nlanes; made++) {
		struct cmp_lane *l = &lanes[made];
		struct eptf_replay_config *cfg = &cfgs[made];

		eptf_replay_config_default(cfg);
		cfg->strategy = l->strategy;
		cfg->nr_vcpus = in->nr_vcpus;
		cfg->parent = o->parent;
		cfg->checker = o->checker;
		cfg->on_violation = lane_violation;
		cfg->on_error = lane_error;
		cfg->ctx = l;
		l->sample = sample;
		l->r = NULL;
		if (sample) {
			if (eptf_series_init(&l->series, EPTF_SERIES_MAX_POINTS) < 0) {
				rc = cli_fail(o->cmd, "out of memory");
				goto out;
			}
			cfg->on_flush = lane_flush;
		}
	}
	/* the lanes share one L1 model: each op is applied once (replay.h) */
	err = eptf_replay_group_create(cfgs, nlanes, &g, &bad);
	if (err < 0) {
		rc = err == EPTF_ENOENT && bad < nlanes
			     ? cli_usage_error(o->cmd, "unknown strategy '%s'", lanes[bad].strategy)
			     : cli_fail(o->cmd, "%s", eptf_strerror(err));
		goto out;
	}
	for (size_t i = 0; i < nlanes; i++)
		lanes[i].r = eptf_replay_group_lane(g, i);

	/*
	 * One op ahead: @next is read, and its L1 walk hinted, before @op is
	 * replayed. A malformed @next is reported after @op has been replayed,
	 * as when reading one op at a time.
	 */
	prog.start = prog.last = now();
	memset(&next, 0, sizeof(next));
	err = input_next(in, &next, &diag);
	while (err > 0) {
		op = next;
		memset(&next, 0, sizeof(next));
		err = input_next(in, &next, &diag);
		if (err > 0)
			eptf_replay_group_prefetch(g, &next);
		int e = eptf_replay_group_op(g, &op);
		if (e < 0) {
			progress_end(&prog);
			rc = cli_fail(o->cmd, "at op %llu: %s", (unsigned long long)ops, eptf_strerror(e));
			goto out;
		}
		ops++;
		if (prog.enabled && !(ops & 1023))
			progress_tick(&prog, in, ops);
	}
	if (err < 0) {
		progress_end(&prog);
		if (in->tr)
			fprintf(stderr, "%s\n", diag.msg);
		else
			cli_fail(o->cmd, "%s: %s", in->name, eptf_strerror(err));
		rc = EPTF_EXIT_USAGE;
		goto out;
	}
	progress_end(&prog);

	int idx = eptf_report_add_input(rep, in->name, in->source, in->detail);
	if (idx < 0) {
		rc = cli_fail(o->cmd, "out of memory");
		goto out;
	}
	rep->inputs[idx].ops = ops;
	for (size_t i = 0; i < nlanes; i++) {
		struct eptf_metrics m;

		eptf_replay_metrics(lanes[i].r, &m);
		/* the ideal lane counts every flush point the model produced */
		if (!strcmp(lanes[i].strategy, EPTF_IDEAL_NAME) || rep->inputs[idx].flush_points < m.flush_points)
			rep->inputs[idx].flush_points = m.flush_points;
		int ri = eptf_report_add_result(rep, (size_t)idx, lanes[i].strategy, lanes[i].correct, &m);
		if (ri < 0) {
			rc = cli_fail(o->cmd, "out of memory");
			goto out;
		}
		if (sample) {
			/* the last point is the total even if no flush point ended the run */
			eptf_series_add(&lanes[i].series, ops ? ops - 1 : 0, m.hypercalls);
			eptf_series_finish(&lanes[i].series);
			rep->results[ri].series = lanes[i].series;
			memset(&lanes[i].series, 0, sizeof(lanes[i].series));
		}
	}
out:
	progress_end(&prog); /* also on the error paths, before their message stays on screen */
	eptf_replay_group_destroy(g);
	for (size_t i = 0; i < made && i < nlanes; i++) {
		lanes[i].r = NULL;
		eptf_series_free(&lanes[i].series);
	}
	return rc;
}

int cmp_report_setup(const struct cmp_opts *o, struct eptf_report *rep)
{
	static const char *const backing[] = {"4k", "4k", "2m", "1g"};
	const struct eptf_parent_config *p = &o->parent;

	if (eptf_report_init(rep, "eptflush 0.1.0") < 0)
		return cli_fail(o->cmd, "out of memory");
	snprintf(rep->parent.vendor, sizeof(rep->parent.vendor), "%s",
		 p->vendor == EPTF_PARENT_AMD ? "amd" : "intel");
	snprintf(rep->parent.backing, sizeof(rep->parent.backing), "%s",
		 backing[p->backing_level <= 3 ? p->backing_level : 0]);
	rep->parent.tlb_entries = p->tlb_entries;
	rep->parent.allow_large = p->allow_large;
	rep->parent.gpa_bits = p->gpa_bits;
	rep->parent.inject_hv_error_ppm = p->inject.hv_error_ppm;
	rep->parent.inject_partial_ppm = p->inject.partial_ppm;
	rep->parent.inject_timeout_ppm = p->inject.timeout_ppm;
	rep->parent.inject_seed = p->inject.seed;
	for (size_t k = 0; eptf_cost_model_keys[k]; k++)
		if (eptf_report_add_param(rep, eptf_cost_model_keys[k], eptf_cost_model_get(&p->cost, k)) < 0)
			return cli_fail(o->cmd, "out of memory");
	return 0;
}
