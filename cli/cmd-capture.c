/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * eptflush capture: run our guest on /dev/kvm while KVM's trace events are
 * recorded, keep the kernel's text (--raw) and import it into an op trace.
 * docs/capture.md.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <eptflush/capture.h>
#include <eptflush/error.h>
#include <eptflush/import.h>

#include "cli.h"

static const char *const NAME = "capture";

static void help(FILE *f)
{
	fprintf(
	    f,
	    "usage: eptflush capture [--workload NAME] [--seconds N] [--rounds N] [--memory SIZE]\n"
	    "                        [--buffer-kb KB] [--raw RAW.txt] [--no-import] [--vcpus N] "
	    "[--all-tasks] "
	    "[-v]\n"
	    "                        -o OUT.trace\n\n"
	    "Run a tiny guest of ours on /dev/kvm while KVM's own trace events (kvmmmu:*,\n"
	    "kvm:kvm_unmap_hva_range, kvm_age_hva, kvm_test_age_hva) are recorded in a private\n"
	    "tracefs instance, then import the kernel's text into the op trace OUT.trace\n"
	    "(the same as 'eptflush import RAW.txt -o OUT.trace'). Needs root, /dev/kvm and\n"
	    "tracefs; says which is missing (exit 2).\n\n"
	    "  --workload NAME  touch | pagetables | dirtylog | madvise | age | huge | all "
	    "(default all);\n"
	    "                   repeatable, the workloads run in the order listed above\n"
	    "  --seconds N      wall-clock budget, shared by the workloads (default 10)\n"
	    "  --rounds N       at most N rounds per workload, 0 = only the time limit (default "
	    "3)\n"
	    "  --memory SIZE    guest data slot, multiple of 2M in 4M..512M (default 16M)\n"
	    "  --buffer-kb KB   ring buffer per CPU in KiB (default 65536)\n"
	    "  --raw RAW.txt    keep the kernel's trace text here (cut at our end marker)\n"
	    "  --no-import      do not import: write only RAW.txt (then -o is not needed)\n"
	    "  --vcpus N        1..4 vCPUs (default 1); vCPUs 1.. read the data slot through "
	    "roots\n"
	    "                   of their own while vCPU 0 runs the workloads\n"
	    "  --all-tasks      record kvmmmu events of every task, not just this VMM\n"
	    "  -o OUT.trace     the op trace\n"
	    "  -v               progress on stderr\n");
}

static int parse_workload(const char *s, unsigned *mask)
{
	unsigned m;

	if (eptf_capture_workload_parse(s, &m) < 0)
		return -1;
	*mask |= m;
	return 0;
}

static void print_stats(const struct eptf_capture_stats *st, const char *raw)
{
	static const char *const kinds[8] = {"markers",	 "get_page", "zaps",	 "sync/unsync",
					     "set_spte", "walks",    "notifier", "other"};

	printf("capture: kernel %s, %llu I/O exits%s\n", st->kernel,
	       (unsigned long long)st->exits_io,
	       st->timed_out ? " (stopped by the time limit)" : "");
	for (unsigned w = 0; w < EPTF_CAPTURE_NR; w++)
		if (st->rounds[w])
			printf("capture: workload %-10s %llu rounds\n",
			       eptf_capture_workload_name(w), (unsigned long long)st->rounds[w]);
	if (st->harvests)
		printf("capture: %llu dirty-log harvests, %llu dirty pages\n",
		       (unsigned long long)st->harvests, (unsigned long long)st->dirty_pages);
	if (st->madvised_pages)
		printf("capture: %llu pages given back with MADV_DONTNEED\n",
		       (unsigned long long)st->madvised_pages);
	printf("capture: %s: %llu events kept, %llu teardown lines cut, %llu overruns\n", raw,
	       (unsigned long long)st->lines, (unsigned long long)st->cut_lines,
	       (unsigned long long)st->overruns);
	for (unsigned k = 0; k < 8; k++)
		printf("capture:   %-12s %llu\n", kinds[k], (unsigned long long)st->events[k]);
}

static int run(int argc, char **argv)
{
	enum {
		OPT_SECONDS = 256,
		OPT_ROUNDS,
		OPT_MEMORY,
		OPT_BUFFER,
		OPT_RAW,
		OPT_NOIMPORT,
		OPT_ALLTASKS,
		OPT_VCPUS
	};
	static const struct option lo[] = {
	    {"workload", required_argument, NULL, 'w'},
	    {"seconds", required_argument, NULL, OPT_SECONDS},
	    {"rounds", required_argument, NULL, OPT_ROUNDS},
	    {"memory", required_argument, NULL, OPT_MEMORY},
	    {"buffer-kb", required_argument, NULL, OPT_BUFFER},
	    {"raw", required_argument, NULL, OPT_RAW},
	    {"no-import", no_argument, NULL, OPT_NOIMPORT},
	    {"all-tasks", no_argument, NULL, OPT_ALLTASKS},
	    {"vcpus", required_argument, NULL, OPT_VCPUS},
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct eptf_capture_opts o = {
	    .seconds = 10, .rounds = 3, .memory = 16ull << 20, .pid_filter = true};
	struct eptf_capture_stats st;
	const char *out = NULL, *raw = NULL;
	char tmpraw[4096], msg[1024];
	bool do_import = true;
	uint64_t v;
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "w:o:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'w':
			if (parse_workload(optarg, &o.workloads))
				return cli_usage_error(NAME, "unknown workload '%s'", optarg);
			break;
		case OPT_SECONDS: {
			char *end;

			o.seconds = strtod(optarg, &end);
			if (*end || !(o.seconds > 0) || o.seconds > 3600)
				return cli_usage_error(
				    NAME, "--seconds wants a number in (0, 3600], not '%s'",
				    optarg);
			break;
		}
		case OPT_ROUNDS:
			if (!cli_parse_u64(optarg, &v) || v > 1000000)
				return cli_usage_error(NAME, "--rounds wants 0..1000000, not '%s'",
						       optarg);
			o.rounds = (unsigned)v;
			break;
		case OPT_MEMORY:
			if (!cli_parse_size(optarg, &o.memory) || o.memory < (4ull << 20) ||
			    o.memory > (512ull << 20) || o.memory % (2ull << 20))
				return cli_usage_error(
				    NAME, "--memory wants a multiple of 2M in 4M..512M, not '%s'",
				    optarg);
			break;
		case OPT_BUFFER:
			if (!cli_parse_u64(optarg, &v) || v < 64 || v > (4u << 20))
				return cli_usage_error(
				    NAME, "--buffer-kb wants 64..4194304, not '%s'", optarg);
			o.buffer_kb = (size_t)v;
			break;
		case OPT_RAW:
			raw = optarg;
			break;
		case OPT_NOIMPORT:
			do_import = false;
			break;
		case OPT_VCPUS:
			if (!cli_parse_u64(optarg, &v) || v < 1 || v > 4)
				return cli_usage_error(NAME, "--vcpus wants 1..4, not '%s'",
						       optarg);
			o.nr_vcpus = (unsigned)v;
			break;
		case OPT_ALLTASKS:
			o.pid_filter = false;
			break;
		case 'o':
			out = optarg;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			help(stdout);
			return EPTF_EXIT_OK;
		default:
			return cli_usage_error(NAME, "unknown or incomplete option '%s'",
					       argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error(NAME, "unexpected argument '%s'", argv[optind]);
	if (do_import && !out)
		return cli_usage_error(NAME,
				       "-o OUT.trace is required (or --no-import with --raw)");
	if ((out && !*out) || (raw && !*raw))
		return cli_usage_error(NAME, "an output file name (-o or --raw) is empty");
	if ((out && !strcmp(out, "-")) || (raw && !strcmp(raw, "-")))
		return cli_usage_error(
		    NAME, "-o and --raw want file names (the statistics go to stdout)");
	if (!do_import && !raw)
		return cli_usage_error(NAME, "--no-import needs --raw RAW.txt");

	r = eptf_capture_check(msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "eptflush capture: prerequisite missing: %s\n", msg);
		return EPTF_EXIT_USAGE;
	}
	if (!raw) {
		/* a name of our own beside OUT, removed after the import */
		snprintf(tmpraw, sizeof(tmpraw), "%s.raw-%ld.txt", out, (long)getpid());
		o.raw_path = tmpraw;
	} else {
		o.raw_path = raw;
	}
	r = eptf_capture_run(&o, &st, msg, sizeof(msg), stderr);
	if (r < 0)
		return cli_fail(NAME, "%s (%s)", msg, eptf_strerror(r));
	print_stats(&st, o.raw_path);
	if (st.overruns) {
		if (!raw)
			unlink(o.raw_path);
		return cli_fail(
		    NAME,
		    "the ring buffer overran (%llu events lost): raise --buffer-kb or lower "
		    "--rounds/--memory",
		    (unsigned long long)st.overruns);
	}
	if (do_import) {
		struct eptf_import_options io = {.format = EPTF_IMPORT_TEXT};
		struct eptf_import_stats ist;
		struct eptf_diag diag = {{0}};
		uint64_t unplaced = 0;

		memset(&ist, 0, sizeof(ist));
		r = eptf_import_file(o.raw_path, out, &io, &ist, &diag);
		if (!raw)
			unlink(o.raw_path);
		if (r < 0)
			return cli_fail(NAME, "import failed: %s",
					diag.msg[0] ? diag.msg : eptf_strerror(r));
		eptf_import_stats_print(&ist, stdout);
		for (unsigned k = 0; k < EPTF_IEV_COUNT; k++)
			unplaced += ist.unplaced[k];
		printf("capture: wrote %s (%llu events could not be placed)\n", out,
		       (unsigned long long)unplaced);
	}
	return EPTF_EXIT_OK;
}

const struct eptf_cmd eptf_cmd_capture = {
    .name = "capture",
    .summary = "record KVM's MMU trace events around a built-in guest and import them",
    .run = run,
};
