/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * eptflush hv: inspect the Hyper-V flush wire formats (docs/hv-interface.md).
 *
 *   hv encode --start GFN --pages N [--offset K] [--builder linux|merge] [--large]
 *   hv decode HEX...
 *   hv validate --control HEX --input FILE [--gpa-bits N] [--allow-large]
 *   hv demo
 *
 * Output formats are a contract (tests/cli/hv.sh): entries as 0x%016llx,
 * decoded ranges as "start=0x<gfn> pages=<n> unit=4k|2m|1g", statuses as
 * "HV_STATUS_<NAME> (0x<code>)". Exit: 0 ok, 1 the answer is "no" (ENOSPC,
 * malformed entry, rejected page), 2 usage error or unreadable input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <eptflush/hv.h>

#include "cli.h"

#define CMD "hv"
/* merge-builder output this command is willing to print (8 MiB of entries) */
#define MAX_PRINT_ENTRIES (1u << 20)
/* the validator never needs more than one page; refuse absurd files */
#define MAX_INPUT_BYTES (1u << 20)

static const char hv_usage[] =
	"usage: eptflush hv <verb> [options]\n"
	"\n"
	"Inspect the Hyper-V guest-physical flush interface that eptflush models:\n"
	"HvCallFlushGuestPhysicalAddressList (0x00B0) input pages, their\n"
	"hv_gpa_page_range entries, and what a careful parent does with them.\n"
	"\n"
	"verbs:\n"
	"  encode    encode a gfn range as entries (Linux's filler or our merging builder)\n"
	"  decode    decode hv_gpa_page_range entries given in hex\n"
	"  validate  check a control word and a raw input page as the parent would\n"
	"  demo      a short annotated walk-through (start here)\n"
	"\n"
	"'eptflush hv <verb> --help' describes one verb. Numbers (GFN, counts) are\n"
	"decimal or 0x-hex. Exit status: 0 success, 1 the answer is no (list full,\n"
	"malformed entry, rejected page), 2 usage error or unreadable input.\n";

static const char encode_usage[] =
	"usage: eptflush hv encode --start GFN --pages N [--offset K]\n"
	"                          [--builder linux|merge] [--large]\n"
	"\n"
	"Encode the 4 KiB-frame range [GFN, GFN + N) and print one hv_gpa_page_range\n"
	"entry per line as 0x%016llx.\n"
	"\n"
	"  --builder linux  (default) Linux's hyperv_fill_flush_guest_mapping_list():\n"
	"                   entries of min(remaining, 2048) pages appended from index K\n"
	"                   (--offset, default 0); prints the entries from index K on.\n"
	"                   If the 510-entry input page runs out, prints an error naming\n"
	"                   ENOSPC and exits 1 (nothing on stdout).\n"
	"  --builder merge  our builder: the fewest entries that cover exactly the range,\n"
	"                   spread over as many input pages as needed (all printed, in\n"
	"                   order; 510 per page). Never more entries than linux.\n"
	"                   Refuses (exit 1) a range needing over 1048576 entries.\n"
	"  --large          (merge only) allow 2 MiB and 1 GiB entries, used only where\n"
	"                   they save entries.\n"
	"  --offset K       (linux only) 0..510.\n"
	"\n"
	"Exit 2 for a bad number, an offset outside 0..510, zero pages or a range past\n"
	"2^52 frames.\n";

static const char decode_usage[] =
	"usage: eptflush hv decode HEX...\n"
	"\n"
	"Decode each hv_gpa_page_range entry (hex, with or without 0x) and print\n"
	"  start=0x<gfn> pages=<n> unit=4k|2m|1g\n"
	"where start is the first 4 KiB frame and pages the 4 KiB frames covered.\n"
	"A large entry with reserved bits 20:13 set, or a 1 GiB entry whose base is not\n"
	"1 GiB aligned, is malformed: error naming the argument, exit 1. A non-hex\n"
	"argument exits 2. Nothing is printed on stdout unless every entry decodes.\n";

static const char validate_usage[] =
	"usage: eptflush hv validate --control HEX --input FILE [--gpa-bits N]\n"
	"                            [--allow-large]\n"
	"\n"
	"Check a hypercall control word (hex, with or without 0x) and the raw\n"
	"little-endian input bytes in FILE as a careful parent would, and print\n"
	"  HV_STATUS_<NAME> (0x<code>)\n"
	"then, on success, one line per range to flush, as 'hv decode' prints them.\n"
	"Calls: 0x00AF (space flush: 16-byte input) and 0x00B0 (list flush: 16-byte\n"
	"header + 8 bytes per rep; entries from rep start on are checked).\n"
	"\n"
	"  --gpa-bits N    guest-physical address width, 13..64 (default 64: the\n"
	"                  whole 52-bit frame space); ranges past it are rejected\n"
	"  --allow-large   accept 2 MiB / 1 GiB entries (rejected by default)\n"
	"\n"
	"Exit 0 on success, 1 when the parent rejects the call, 2 on a usage error\n"
	"(missing or bad option, unreadable FILE).\n";

static const char demo_usage[] =
	"usage: eptflush hv demo\n"
	"\n"
	"Walk through the interface: encode ranges with both builders, build a\n"
	"control word, validate an input page. Takes no options.\n";

static bool is_help(const char *s)
{
	return !strcmp(s, "--help") || !strcmp(s, "-h");
}

/* Hex with or without 0x; false unless the whole string is 1..16 hex digits. */
static bool parse_hex(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; *s; s++, n++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return false;
		if (n >= 16)
			return false;
		v = (v << 4) | d;
	}
	if (n == 0)
		return false;
	*out = v;
	return true;
}

/*
 * Option scanner: "--name VALUE" or "--name=VALUE". Returns the value for
 * @name at argv[*i] (advancing *i past it), NULL if argv[*i] is not @name.
 * Sets *missing when @name is there without a value.
 */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	(*i)++;
	return argv[*i];
}

static const char *unit_name(enum eptf_hv_unit u)
{
	return u == EPTF_HV_UNIT_1G ? "1g" : u == EPTF_HV_UNIT_2M ? "2m" : "4k";
}

static void print_entry_range(const struct eptf_hv_entry *e)
{
	printf("start=0x%llx pages=%llu unit=%s\n", (unsigned long long)e->gfn,
	       (unsigned long long)e->pages, unit_name(e->unit));
}

/* ---- encode ---------------------------------------------------------- */

static int encode_merge(uint64_t start, uint64_t pages, unsigned flags)
{
	struct eptf_hv_range r = {start, pages};
	size_t total = eptf_hv_count_entries(&r, 1, flags);
	size_t np = (total + EPTF_HV_MAX_FLUSH_REP_COUNT - 1) / EPTF_HV_MAX_FLUSH_REP_COUNT;
	struct eptf_hv_flush_list *lists;
	uint16_t *counts;
	int used;

	if (total > MAX_PRINT_ENTRIES)
		return cli_fail(CMD, "encode: the range needs %zu entries; this command prints at most %u",
				total, MAX_PRINT_ENTRIES);
	lists = malloc(np * sizeof(*lists));
	counts = malloc(np * sizeof(*counts));
	if (!lists || !counts) {
		free(lists);
		free(counts);
		return cli_fail(CMD, "encode: out of memory");
	}
	used = eptf_hv_build_pages(&r, 1, flags, 0, lists, np, counts);
	if (used < 0) {
		free(lists);
		free(counts);
		return cli_fail(CMD, "encode: %s", eptf_strerror(used));
	}
	for (int p = 0; p < used; p++)
		for (unsigned i = 0; i < counts[p]; i++)
			printf("0x%016llx\n", (unsigned long long)lists[p].gpa_list[i]);
	free(lists);
	free(counts);
	return EPTF_EXIT_OK;
}

static int cmd_encode(int argc, char **argv)
{
	const char *start_s = NULL, *pages_s = NULL, *offset_s = NULL, *builder = "linux";
	bool large = false;
	uint64_t start, pages, offset = 0;

	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;

		if (is_help(argv[i])) {
			fputs(encode_usage, stdout);
			return EPTF_EXIT_OK;
		}
		if ((v = opt_value(argc, argv, &i, "--start", &missing)))
			start_s = v;
		else if ((v = opt_value(argc, argv, &i, "--pages", &missing)))
			pages_s = v;
		else if ((v = opt_value(argc, argv, &i, "--offset", &missing)))
			offset_s = v;
		else if ((v = opt_value(argc, argv, &i, "--builder", &missing)))
			builder = v;
		else if (!strcmp(argv[i], "--large"))
			large = true;
		else if (missing)
			return cli_usage_error(CMD, "encode: %s needs a value", argv[i]);
		else
			return cli_usage_error(CMD, "encode: unknown argument '%s'", argv[i]);
	}
	if (!start_s || !pages_s)
		return cli_usage_error(CMD, "encode: --start and --pages are required");
	if (!cli_parse_u64(start_s, &start))
		return cli_usage_error(CMD, "encode: --start '%s' is not a number", start_s);
	if (!cli_parse_u64(pages_s, &pages))
		return cli_usage_error(CMD, "encode: --pages '%s' is not a number", pages_s);
	if (offset_s && !cli_parse_u64(offset_s, &offset))
		return cli_usage_error(CMD, "encode: --offset '%s' is not a number", offset_s);
	if (strcmp(builder, "linux") && strcmp(builder, "merge"))
		return cli_usage_error(CMD, "encode: --builder must be linux or merge, not '%s'",
				       builder);
	if (pages == 0)
		return cli_usage_error(CMD, "encode: --pages 0: %s", eptf_strerror(EPTF_EEMPTY));
	if (start >= EPTF_HV_FRAME_LIMIT || pages > EPTF_HV_FRAME_LIMIT - start)
		return cli_usage_error(CMD, "encode: [%s, +%s): %s", start_s, pages_s,
				       eptf_strerror(EPTF_EGPARANGE));

	if (!strcmp(builder, "merge")) {
		if (offset_s)
			return cli_usage_error(CMD, "encode: --offset applies to --builder linux only");
		return encode_merge(start, pages,
				    large ? EPTF_HV_MERGE_LARGE_2M | EPTF_HV_MERGE_LARGE_1G : 0);
	}
	if (large)
		return cli_usage_error(CMD, "encode: --large applies to --builder merge only "
					    "(Linux never sets largepage)");
	if (offset > EPTF_HV_MAX_FLUSH_REP_COUNT)
		return cli_usage_error(CMD, "encode: --offset %s: %s", offset_s,
				       eptf_strerror(EPTF_EBADOFFSET));

	static struct eptf_hv_flush_list list;
	int n = eptf_hv_fill_linux(&list, (int)offset, start, pages);

	if (n == EPTF_ENOSPC)
		return cli_fail(CMD, "encode: %s (%llu pages need %llu entries; %llu free from offset %llu)",
				eptf_strerror(n), (unsigned long long)pages,
				(unsigned long long)((pages + 2047) / 2048),
				(unsigned long long)(EPTF_HV_MAX_FLUSH_REP_COUNT - offset),
				(unsigned long long)offset);
	if (n < 0)
		return cli_usage_error(CMD, "encode: %s", eptf_strerror(n));
	for (int i = (int)offset; i < n; i++)
		printf("0x%016llx\n", (unsigned long long)list.gpa_list[i]);
	return EPTF_EXIT_OK;
}

/* ---- decode ---------------------------------------------------------- */

static int cmd_decode(int argc, char **argv)
{
	struct eptf_hv_entry *out;
	uint64_t raw;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(decode_usage, stdout);
			return EPTF_EXIT_OK;
		}
	}
	if (argc < 2)
		return cli_usage_error(CMD, "decode: give at least one entry in hex");
	for (int i = 1; i < argc; i++)
		if (!parse_hex(argv[i], &raw))
			return cli_usage_error(CMD, "decode: '%s' is not a 64-bit hex entry", argv[i]);
	out = malloc((size_t)argc * sizeof(*out));
	if (!out)
		return cli_fail(CMD, "decode: out of memory");
	for (int i = 1; i < argc; i++) {
		parse_hex(argv[i], &raw);
		if (eptf_hv_entry_decode(raw, &out[i]) < 0) {
			int rc = cli_fail(CMD,
					  "decode: '%s' is malformed: %s", argv[i],
					  (raw & EPTF_HV_ENTRY_LARGE_RESERVED)
						  ? "large entry with reserved bits 20:13 set"
						  : "1 GiB entry whose base is not 1 GiB aligned");
			free(out);
			return rc;
		}
	}
	for (int i = 1; i < argc; i++)
		print_entry_range(&out[i]);
	free(out);
	return EPTF_EXIT_OK;
}

/* ---- validate -------------------------------------------------------- */

/* Read all of @path (at most MAX_INPUT_BYTES) into a malloc'd buffer. */
static int read_file(const char *path, unsigned char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	size_t n;

	if (!f)
		return cli_usage_error(CMD, "validate: %s: %s", path, strerror(errno));
	b = malloc(MAX_INPUT_BYTES + 1);
	if (!b) {
		fclose(f);
		return cli_fail(CMD, "validate: out of memory");
	}
	n = fread(b, 1, MAX_INPUT_BYTES + 1, f);
	if (ferror(f)) {
		int e = errno;
		fclose(f);
		free(b);
		return cli_usage_error(CMD, "validate: %s: %s", path, strerror(e));
	}
	fclose(f);
	if (n > MAX_INPUT_BYTES) {
		free(b);
		return cli_usage_error(CMD, "validate: %s: larger than %u bytes (an input page is 4096)",
				       path, MAX_INPUT_BYTES);
	}
	*buf = b;
	*len = n;
	return EPTF_EXIT_OK;
}

static uint64_t le64_at(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static int cmd_validate(int argc, char **argv)
{
	const char *control_s = NULL, *input_s = NULL, *bits_s = NULL;
	struct eptf_hv_validate_cfg cfg = {0, false};
	static struct eptf_hv_request req;
	unsigned char *buf = NULL;
	uint64_t control, bits = 0;
	size_t len = 0;
	int rc;

	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;

		if (is_help(argv[i])) {
			fputs(validate_usage, stdout);
			return EPTF_EXIT_OK;
		}
		if ((v = opt_value(argc, argv, &i, "--control", &missing)))
			control_s = v;
		else if ((v = opt_value(argc, argv, &i, "--input", &missing)))
			input_s = v;
		else if ((v = opt_value(argc, argv, &i, "--gpa-bits", &missing)))
			bits_s = v;
		else if (!strcmp(argv[i], "--allow-large"))
			cfg.allow_large = true;
		else if (missing)
			return cli_usage_error(CMD, "validate: %s needs a value", argv[i]);
		else
			return cli_usage_error(CMD, "validate: unknown argument '%s'", argv[i]);
	}
	if (!control_s || !input_s)
		return cli_usage_error(CMD, "validate: --control and --input are required");
	if (!parse_hex(control_s, &control))
		return cli_usage_error(CMD, "validate: --control '%s' is not a 64-bit hex word",
				       control_s);
	if (bits_s && (!cli_parse_u64(bits_s, &bits) || bits < 13 || bits > 64))
		return cli_usage_error(CMD, "validate: --gpa-bits '%s' is not in 13..64", bits_s);
	cfg.gpa_bits = (unsigned)bits;
	rc = read_file(input_s, &buf, &len);
	if (rc != EPTF_EXIT_OK)
		return rc;

	uint16_t st = eptf_hv_validate(control, buf, len, &cfg, &req);
	const char *name = eptf_hv_status_name(st);

	printf("%s (0x%x)\n", name ? name : "HV_STATUS_UNKNOWN", st);
	if (st == EPTF_HV_STATUS_SUCCESS) {
		for (unsigned i = 0; i < req.nranges; i++) {
			struct eptf_hv_entry e;
			size_t off = EPTF_HV_LIST_HEADER_SIZE + 8u * (req.rep_start + i);

			/* re-decode the raw entry for its unit; the validator accepted it */
			if (eptf_hv_entry_decode(le64_at(buf + off), &e) < 0) {
				free(buf);
				return cli_fail(CMD, "validate: internal error decoding entry %u",
						req.rep_start + i);
			}
			print_entry_range(&e);
		}
	}
	free(buf);
	return st == EPTF_HV_STATUS_SUCCESS ? EPTF_EXIT_OK : EPTF_EXIT_FAIL;
}

/* ---- demo ------------------------------------------------------------ */

static void demo_entries(const uint64_t *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct eptf_hv_entry d;

		if (eptf_hv_entry_decode(e[i], &d) < 0)
			continue;
		printf("    0x%016llx  start=0x%llx pages=%llu unit=%s\n", (unsigned long long)e[i],
		       (unsigned long long)d.gfn, (unsigned long long)d.pages, unit_name(d.unit));
	}
}

static int cmd_demo(int argc, char **argv)
{
	static struct eptf_hv_flush_list list, pages[2];
	static struct eptf_hv_request req;
	struct eptf_hv_range ranges[] = {
		{0x40000, 0x40000}, /* 1 GiB at 1 GiB: a level-2 shadow page */
		{0x1200, 0x200},    /* 2 MiB at 18 MiB: a level-1 shadow page */
		{0x1300, 0x10},     /* inside the previous one: merged away */
		{0x1400, 0x200},    /* adjacent: joins it */
		{0x7, 0x1},         /* one 4 KiB page */
	};
	const size_t nr = sizeof(ranges) / sizeof(ranges[0]);
	struct eptf_hv_validate_cfg cfg = {0, true};
	uint16_t counts[2];
	int n = 0;

	if (argc > 1) {
		if (is_help(argv[1])) {
			fputs(demo_usage, stdout);
			return EPTF_EXIT_OK;
		}
		return cli_usage_error(CMD, "demo: takes no arguments");
	}

	printf("Hyper-V flushes L1's cached L2 translations with HvCallFlushGuestPhysicalAddressList\n"
	       "(0x00B0): a 4 KiB input page holding address_space (the EPT root), flags = 0 and up to\n"
	       "510 hv_gpa_page_range entries. A 4 KiB entry is additional_pages (bits 0-10),\n"
	       "largepage (bit 11) = 0, basepfn (bits 12-63): at most 2048 pages = 8 MiB.\n\n");

	printf("1. Linux's filler, one call per range (what KVM does today), for these ranges:\n");
	for (size_t i = 0; i < nr; i++)
		printf("     [0x%llx, +0x%llx)\n", (unsigned long long)ranges[i].gfn,
		       (unsigned long long)ranges[i].pages);
	for (size_t i = 0; i < nr && n >= 0; i++)
		n = eptf_hv_fill_linux(&list, n, ranges[i].gfn, ranges[i].pages);
	if (n < 0)
		return cli_fail(CMD, "demo: %s", eptf_strerror(n));
	printf("   appended with the seed's offset parameter: %d entries (the 1 GiB range alone\n"
	       "   takes 128 = 2^18 / 2048); the first three and the last:\n",
	       n);
	demo_entries(list.gpa_list, 3);
	printf("    ...\n");
	demo_entries(&list.gpa_list[n - 1], 1);
	printf("   Five level-2 (1 GiB) shadow pages need 640 entries > 510: -ENOSPC, and KVM falls\n"
	       "   back to flushing the whole address space (0x00AF).\n\n");

	size_t nm = eptf_hv_ranges_merge(ranges, nr);
	int np = eptf_hv_build_pages(ranges, nm, 0, 0x1a2b000, pages, 2, counts);
	if (np < 0)
		return cli_fail(CMD, "demo: %s", eptf_strerror(np));
	printf("2. The merging builder sorts and merges them into %zu ranges and covers them\n"
	       "   exactly with the fewest entries: %u with 4 KiB entries only;\n",
	       nm, counts[0]);
	np = eptf_hv_build_pages(ranges, nm, EPTF_HV_MERGE_LARGE_2M | EPTF_HV_MERGE_LARGE_1G,
				 0x1a2b000, pages, 2, counts);
	if (np < 0)
		return cli_fail(CMD, "demo: %s", eptf_strerror(np));
	printf("   with large entries allowed (largepage = 1, page_size bit 12: 0 = 2 MiB, 1 = 1 GiB,\n"
	       "   base_large_pfn bits 21-63) only %u:\n",
	       counts[0]);
	demo_entries(pages[0].gpa_list, counts[0]);
	printf("   (the 2 MiB-aligned 4 MiB run fits one 4 KiB entry, so it stays small:\n"
	       "   large entries are used only where they save entries)\n\n");

	struct eptf_hv_control c = {.code = EPTF_HVCALL_FLUSH_GPA_LIST, .rep_count = counts[0]};
	uint64_t word = eptf_hv_control_build(&c);
	printf("3. The control word for that call: code 0x00B0 (bits 15:0), rep count %u (43:32),\n"
	       "   rep start 0 (59:48) = 0x%016llx. If the parent stops early it reports the\n"
	       "   reps completed and the caller re-issues with rep start = that count.\n\n",
	       counts[0], (unsigned long long)word);

	uint16_t st = eptf_hv_validate(word, &pages[0], 16 + 8u * counts[0], &cfg, &req);
	printf("4. The parent validates the page: %s (0x%x), %u ranges to flush:\n",
	       eptf_hv_status_name(st), st, req.nranges);
	for (unsigned i = 0; i < req.nranges && st == EPTF_HV_STATUS_SUCCESS; i++)
		printf("     [0x%llx, +0x%llx)\n", (unsigned long long)req.ranges[i].gfn,
		       (unsigned long long)req.ranges[i].pages);
	pages[0].flags = 1;
	st = eptf_hv_validate(word, &pages[0], 16 + 8u * counts[0], &cfg, &req);
	printf("   and with flags = 1 (RsvdZ) it refuses: %s (0x%x).\n\n", eptf_hv_status_name(st), st);

	printf("Try: eptflush hv encode --start 0x40000 --pages 0x40000 --builder merge --large\n"
	       "     eptflush hv decode 0x0000000040001800\n"
	       "     eptflush hv validate --help\n");
	return EPTF_EXIT_OK;
}

static int hv_run(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error(CMD, "a verb is required (encode, decode, validate, demo)");
	if (is_help(argv[1]) || !strcmp(argv[1], "help")) {
		fputs(hv_usage, stdout);
		return EPTF_EXIT_OK;
	}
	if (!strcmp(argv[1], "encode"))
		return cmd_encode(argc - 1, argv + 1);
	if (!strcmp(argv[1], "decode"))
		return cmd_decode(argc - 1, argv + 1);
	if (!strcmp(argv[1], "validate"))
		return cmd_validate(argc - 1, argv + 1);
	if (!strcmp(argv[1], "demo"))
		return cmd_demo(argc - 1, argv + 1);
	return cli_usage_error(CMD, "unknown verb '%s' (encode, decode, validate, demo)", argv[1]);
}

const struct eptf_cmd eptf_cmd_hv = {
	.name = "hv",
	.summary = "encode, decode and validate Hyper-V flush hypercall inputs",
	.run = hv_run,
};
