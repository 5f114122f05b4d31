/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * eptflush import FILE -o OUT.trace: the kernel's own KVM MMU trace events
 * (tracefs or trace-cmd report text, or trace.dat) into an op trace.
 * docs/import.md describes the input, the markers and the mapping.
 * Exit codes: 0 imported, 1 malformed input or a failure (with
 * "file:line: reason"), 2 a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <eptflush/error.h>
#include <eptflush/import.h>

#include "cli.h"

#define NAME "import"
#define MAX_SLOTS 64

static void usage(FILE *f)
{
	fprintf(f,
		"usage: eptflush import FILE -o OUT.trace [--memslot id:base_gfn:pages:hva ...]\n"
		"                       [--vcpus N] [--lenient] [--format auto|text|dat] [-q]\n"
		"Turn the kernel's kvmmmu/kvm trace events into an op trace. FILE is the text of\n"
		"/sys/kernel/tracing/trace (or trace_pipe), the output of `trace-cmd report`, or a\n"
		"trace.dat file; \"-\" reads text from stdin.\n"
		"  -o, --output OUT       the op trace to write (temporary file + rename)\n"
		"  --memslot SPEC         a memslot id:base_gfn:pages:hva (C numbers), repeatable;\n"
		"                         needed when the trace has no `eptflush: memslot` markers\n"
		"  --vcpus N              vCPU count of the header (default: the `vcpus` marker, else 1)\n"
		"  --lenient              skip and count malformed lines instead of failing\n"
		"  --format F             auto (default), text or dat\n"
		"  -q, --quiet            do not print the per-event statistics\n");
}

/*
 * Refuse an output that cannot be written before reading the input, so the
 * error names the output (and not, much later, a line of the input). As
 * compare's output_check: an empty name is a usage error; a directory, or a
 * parent directory that is missing or not writable, is a failure.
 */
static int output_check(const char *path)
{
	struct stat st;
	const char *slash;
	char *dir;
	int rc = 0;

	if (!*path)
		return cli_usage_error(NAME, "the output file name (-o) is empty");
	if (!strcmp(path, "-"))
		return 0;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return cli_fail(NAME, "%s: %s", path, strerror(EISDIR));
	slash = strrchr(path, '/');
	if (!slash)
		return access(".", W_OK | X_OK) ? cli_fail(NAME, "%s: %s", path, strerror(errno)) : 0;
	dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (!dir)
		return cli_fail(NAME, "out of memory");
	if (access(dir, W_OK | X_OK))
		rc = cli_fail(NAME, "%s: %s", path, strerror(errno));
	free(dir);
	return rc;
}

static int run(int argc, char **argv)
{
	enum { OPT_MEMSLOT = 256, OPT_LENIENT, OPT_FORMAT, OPT_VCPUS };
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'}, {"memslot", required_argument, NULL, OPT_MEMSLOT},
		{"lenient", no_argument, NULL, OPT_LENIENT}, {"format", required_argument, NULL, OPT_FORMAT},
		{"vcpus", required_argument, NULL, OPT_VCPUS}, {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	struct eptf_import_slot slots[MAX_SLOTS];
	const char *slot_arg[MAX_SLOTS];
	struct eptf_import_options o = {.format = EPTF_IMPORT_AUTO};
	const char *out = NULL;
	bool quiet = false;
	uint64_t v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return EPTF_EXIT_OK;
		case OPT_MEMSLOT:
			if (o.nslots == MAX_SLOTS)
				return cli_usage_error(NAME, "at most %d --memslot options", MAX_SLOTS);
			if (eptf_import_parse_slot(optarg, &slots[o.nslots]))
				return cli_usage_error(NAME,
						       "bad --memslot '%s' (want id:base_gfn:pages:hva; id is "
						       "address space << 16 | slot, address space 0 or 1)",
						       optarg);
			slot_arg[o.nslots++] = optarg;
			break;
		case OPT_LENIENT:
			o.lenient = true;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "auto") == 0)
				o.format = EPTF_IMPORT_AUTO;
			else if (strcmp(optarg, "text") == 0)
				o.format = EPTF_IMPORT_TEXT;
			else if (strcmp(optarg, "dat") == 0)
				o.format = EPTF_IMPORT_DAT;
			else
				return cli_usage_error(NAME, "bad --format '%s' (auto, text or dat)", optarg);
			break;
		case OPT_VCPUS:
			if (!cli_parse_u64(optarg, &v) || v < 1 || v > 64)
				return cli_usage_error(NAME, "bad --vcpus '%s' (1..64)", optarg);
			o.nr_vcpus = (unsigned)v;
			break;
		default:
			return cli_usage_error(NAME, "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(NAME, "need exactly one input FILE");
	if (!out)
		return cli_usage_error(NAME, "-o OUT.trace is required");
	size_t sa, sb;
	int rc = eptf_import_check_slots(slots, o.nslots, &sa, &sb);
	if (rc == EPTF_EEXIST)
		return cli_usage_error(NAME, "--memslot '%s' and '%s': slot id 0x%x given twice", slot_arg[sa],
				       slot_arg[sb], (unsigned)slots[sa].slot);
	if (rc)
		return cli_usage_error(NAME, "--memslot '%s' and '%s': guest frame ranges overlap", slot_arg[sa],
				       slot_arg[sb]);
	if ((rc = output_check(out)))
		return rc;
	o.slots = slots;

	struct eptf_import_stats st;
	struct eptf_diag diag = {{0}};
	int err = eptf_import_file(argv[optind], out, &o, &st, &diag);
	if (!quiet || err)
		eptf_import_stats_print(&st, stderr);
	if (err)
		return cli_fail(NAME, "%s", diag.msg[0] ? diag.msg : eptf_strerror(err));
	uint64_t unplaced = 0;
	for (unsigned k = 0; k < EPTF_IEV_COUNT; k++)
		unplaced += st.unplaced[k];
	if (unplaced && !quiet)
		fprintf(stderr, "eptflush import: %llu events could not be placed (see docs/import.md)\n",
			(unsigned long long)unplaced);
	return EPTF_EXIT_OK;
}

const struct eptf_cmd eptf_cmd_import = {
	.name = NAME,
	.summary = "import kernel kvmmmu/kvm trace events (text or trace.dat) into an op trace",
	.run = run,
};
