/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The text importer: real and synthetic excerpts give the expected op trace
 * line by line (tests/data/import/NAME.txt -> NAME.expected), every class of
 * malformed input gives "file:line: reason" (or is skipped and counted with
 * lenient), and the statistics say what was used, ignored and unplaced.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <eptflush/error.h>
#include <eptflush/import.h>

#define DATA EPTF_TEST_DATA "/import/"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Compare two files line by line; fail naming the first differing line. */
static void assert_same_lines(const char *got_path, const char *want_path)
{
	size_t gl, wl;
	char *got = slurp(got_path, &gl), *want = slurp(want_path, &wl);
	assert_non_null(got);
	assert_non_null(want);
	char *gs = got, *ws = want;
	unsigned line = 1;
	for (;;) {
		char *ge = strchr(gs, '\n'), *we = strchr(ws, '\n');
		if (!ge && !we)
			break;
		if (!ge || !we)
			fail_msg("%s:%u: %s ends early", want_path, line, ge ? "expected output" : "import output");
		*ge = *we = 0;
		if (strcmp(gs, ws) != 0)
			fail_msg("%s:%u: expected '%s', import wrote '%s'", want_path, line, ws, gs);
		gs = ge + 1;
		ws = we + 1;
		line++;
	}
	free(got);
	free(want);
}

static void import_and_compare(const char *name, const struct eptf_import_options *o,
			       struct eptf_import_stats *st)
{
	char in[512], want[512], out[] = "/tmp/eptf-imp-XXXXXX";
	int fd = mkstemp(out);
	assert_true(fd >= 0);
	close(fd);
	snprintf(in, sizeof(in), DATA "%s.txt", name);
	snprintf(want, sizeof(want), DATA "%s.expected", name);
	struct eptf_diag d = {{0}};
	int err = eptf_import_file(in, out, o, st, &d);
	if (err)
		fail_msg("%s: %s", name, d.msg);
	assert_same_lines(out, want);
	unlink(out);
}

static uint64_t total_unplaced(const struct eptf_import_stats *st)
{
	uint64_t n = 0;
	for (unsigned k = 0; k < EPTF_IEV_COUNT; k++)
		n += st->unplaced[k];
	return n;
}

/* Real tracefs excerpts of `eptflush capture` on a shadow-paging (PVM) host. */
static void test_real_excerpts(void **state)
{
	(void)state;
	static const char *const names[] = { "real-touch", "real-pagetables", "real-dirtylog", "real-madvise",
					     "real-age", "real-age-damon", "real-floodzap", "real-huge", "real-2vcpu" };
	struct eptf_import_options o = { .format = EPTF_IMPORT_TEXT };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct eptf_import_stats st;
		import_and_compare(names[i], &o, &st);
		assert_int_equal(total_unplaced(&st), 0);
		assert_int_equal(st.malformed, 0);
		assert_string_equal(st.format, "tracefs text");
		assert_true(st.used[EPTF_IEV_SET_SPTE] > 0);
		assert_int_equal(st.ops[EPTF_OP_MAP], st.used[EPTF_IEV_SET_SPTE]);
	}
}

/* The pagetables excerpt: a zap batch becomes prepare_zap x N + one commit, sync/unsync are mapped. */
static void test_real_pagetables_stats(void **state)
{
	(void)state;
	struct eptf_import_options o = { 0 };
	struct eptf_import_stats st;
	import_and_compare("real-pagetables", &o, &st);
	assert_int_equal(st.used[EPTF_IEV_PREPARE_ZAP], st.ops[EPTF_OP_PREPARE_ZAP]);
	assert_true(st.ops[EPTF_OP_COMMIT_ZAP] >= 1 && st.ops[EPTF_OP_COMMIT_ZAP] <= st.ops[EPTF_OP_PREPARE_ZAP]);
	assert_int_equal(st.ops[EPTF_OP_SYNC], 1);
	assert_int_equal(st.used[EPTF_IEV_UNSYNC_PAGE], 1);
	assert_int_equal(st.ops[EPTF_OP_SLOT_DELETE], 1);
	/* the invalid root freed after zap_all_fast is not zapped twice */
	assert_true(st.ignored[EPTF_IEV_PREPARE_ZAP] >= 1);
}

/* Two vCPU threads (named by markers), each with its own root. */
static void test_real_2vcpu(void **state)
{
	(void)state;
	struct eptf_import_options o = { 0 };
	struct eptf_import_stats st;
	import_and_compare("real-2vcpu", &o, &st);
	assert_int_equal(st.nr_vcpus, 2);
	assert_int_equal(st.ops[EPTF_OP_ROOT_LOAD], 2);
	assert_int_equal(total_unplaced(&st), 0);
}

/* trace-cmd report text (kvm plugin role format, instance prefix): a synthetic shadow excerpt. */
static void test_tracecmd_shadow(void **state)
{
	(void)state;
	struct eptf_import_options o = { 0 };
	struct eptf_import_stats st;
	import_and_compare("synth-shadow-tracecmd", &o, &st);
	assert_string_equal(st.format, "trace-cmd report text");
	assert_int_equal(st.unplaced[EPTF_IEV_SET_SPTE], 1);    /* prefetch into an unknown table */
	assert_int_equal(st.unplaced[EPTF_IEV_PREPARE_ZAP], 1); /* a page from before the trace */
	assert_int_equal(st.ignored[EPTF_IEV_PREPARE_ZAP], 1);  /* the invalid root */
	assert_int_equal(st.outside_guest, 1);                  /* DAMON aging the host */
	assert_int_equal(st.after_end, 1);
	assert_int_equal(st.other_events, 1);
	assert_int_equal(st.ops[EPTF_OP_COMMIT_ZAP], 1);
	assert_int_equal(st.ops[EPTF_OP_SYNC], 1);
}

/* TDP MMU fixture (the TDP MMU is off on this host): spte_changed -> map / wp_gfn / zap_range. */
static void test_tdp_fixture(void **state)
{
	(void)state;
	struct eptf_import_options o = { 0 };
	struct eptf_import_stats st;
	import_and_compare("synth-tdp", &o, &st);
	assert_int_equal(st.nr_vcpus, 2);
	assert_int_equal(st.ops[EPTF_OP_ZAP_RANGE], 2);          /* table + leaves coalesced, then a lone leaf */
	assert_int_equal(st.ops[EPTF_OP_WP_GFN], 1);
	assert_int_equal(st.ignored[EPTF_IEV_SET_SPTE], 1);      /* the same leaf as spte_changed */
	assert_int_equal(total_unplaced(&st), 0);
}

/* ---- malformed input ------------------------------------------------ */

static int null_op(void *ctx, const struct eptf_op *op)
{
	(void)op;
	(*(unsigned *)ctx)++;
	return 0;
}

static int run_text(const char *text, size_t len, bool lenient, struct eptf_import_stats *st, struct eptf_diag *d,
		    unsigned *nops)
{
	FILE *f = fmemopen((void *)(uintptr_t)text, len, "r");
	assert_non_null(f);
	static const struct eptf_import_slot slot = { .slot = 0, .base_gfn = 0, .npages = 0x1000,
						      .hva = 0x7f0000000000ull };
	struct eptf_import_options o = { .lenient = lenient, .slots = &slot, .nslots = 1 };
	*nops = 0;
	struct eptf_import_sink sink = { .op = null_op, .ctx = nops };
	int err = eptf_import_text(f, "in.txt", &o, &sink, st, d);
	fclose(f);
	return err;
}

#define L1 "  vmm-7 [000] ...1. 1.000001: kvm_mmu_get_page: sp gen 0 gfn 10 l4 8-byte q0 wux nxe ad root 0 sync new\n"
#define L2 "  vmm-7 [000] ...1. 1.000002: kvm_unmap_hva_range: mmu notifier unmap range: 0x007f0000001000 -- 0x007f0000002000\n"

struct bad_case {
	const char *what;
	const char *line; /* the third line of the input */
	const char *reason;
};

static void test_malformed_classes(void **state)
{
	(void)state;
	/* one byte over the 64 KiB limit (a line of exactly 65536 bytes passes: test_line_limit) */
	static char longline[65536 + 3];
	memset(longline, 'a', sizeof(longline) - 2);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = 0;
	const struct bad_case cases[] = {
		{ "truncated fields", "  vmm-7 [000] ...1. 1.000003: kvm_mmu_set_spte: gfn 20 spte 12\n",
		  "malformed fields" },
		{ "truncated after timestamp", "  vmm-7 [000] ...1. 1.000003:\n", "truncated line (no event name)" },
		{ "truncated at end of file", "  vmm-7 [000] ...1. 1.000003: kvm_mmu_pagetable_walk: addr 1000",
		  "truncated line (no newline at end of file)" },
		{ "unknown kvmmmu event", "  vmm-7 [000] ...1. 1.000003: kvm_mmu_frobnicate: x=1 y=2\n",
		  "unknown kvmmmu event" },
		{ "bad hex number", "  vmm-7 [000] ...1. 1.000003: kvm_mmu_paging_element: pte 12g07 level 4\n",
		  "malformed fields" },
		{ "number too big", "  vmm-7 [000] ...1. 1.000003: kvm_mmu_paging_element: pte 11112222333344445 level 4\n",
		  "malformed fields" },
		{ "bad timestamp", "  vmm-7 [000] ...1. 1.00x003: kvm_mmu_paging_element: pte 1 level 4\n", "bad timestamp" },
		{ "out of order", "  vmm-7 [000] ...1. 0.900000: kvm_mmu_paging_element: pte 1 level 4\n",
		  "event out of timestamp order on its CPU" },
		{ "over-long line", longline, "line longer than 65536 bytes" },
		{ "not a trace line", "hello world\n", "not a trace line (no task-pid [cpu] prefix)" },
		{ "lost events", "CPU:0 [LOST 12 EVENTS]\n", "the kernel lost events here (buffer overrun)" },
		{ "bad marker number",
		  "  vmm-7 [000] ...1. 1.000003: tracing_mark_write: eptflush: memslot id=1 gfn=zz pages=1 hva=0\n",
		  "bad number in eptflush marker" },
		{ "marker without key", "  vmm-7 [000] ...1. 1.000003: tracing_mark_write: eptflush: get-dirty-log\n",
		  "eptflush marker lacks a required key" },
		{ "range backwards",
		  "  vmm-7 [000] ...1. 1.000003: kvm_age_hva: mmu notifier age hva: 0x007f0000002000 -- 0x007f0000001000\n",
		  "host range ends before it starts" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static char buf[70000];
		int n = snprintf(buf, sizeof(buf), "%s%s%s", L1, L2, cases[i].line);
		assert_true(n > 0 && (size_t)n < sizeof(buf));
		struct eptf_import_stats st;
		struct eptf_diag d = {{0}};
		unsigned nops;
		int err = run_text(buf, (size_t)n, false, &st, &d, &nops);
		char want[600];
		snprintf(want, sizeof(want), "in.txt:3: %s", cases[i].reason);
		if (err != EPTF_EPARSE || strcmp(d.msg, want) != 0)
			fail_msg("%s: got %d '%s', want '%s'", cases[i].what, err, d.msg, want);
		/* lenient: skipped and counted, the good lines still imported */
		memset(&d, 0, sizeof(d));
		err = run_text(buf, (size_t)n, true, &st, &d, &nops);
		if (err != 0)
			fail_msg("%s (lenient): %d %s", cases[i].what, err, d.msg);
		assert_int_equal(st.malformed, 1);
		assert_int_equal(st.used[EPTF_IEV_GET_PAGE], 1);
		assert_int_equal(st.used[EPTF_IEV_UNMAP_HVA_RANGE], 1);
		assert_int_equal(st.ops[EPTF_OP_ROOT_LOAD], 1);
		assert_int_equal(st.ops[EPTF_OP_UNMAP_HVA], 1);
	}
}

/*
 * Lines are read in bounded memory: a line of exactly 64 KiB is accepted, a
 * longer one is refused (lenient: skipped to its newline, across several
 * buffer refills, and the next line still imported), and an input without
 * line ends (/dev/zero) fails at its first 64 KiB instead of growing a buffer.
 */
static void test_line_limit(void **state)
{
	(void)state;
	static const char pre[] = "  vmm-7 [000] ...1. 1.000001: tracing_mark_write: eptflush: phase ";
	size_t big = 3 * 65536 + 17;
	char *text = malloc(sizeof(L1) + 65536 + big + sizeof(L2) + 8);
	assert_non_null(text);
	size_t n = 0;
	memcpy(text + n, L1, sizeof(L1) - 1);
	n += sizeof(L1) - 1;
	/* line 2: exactly 65536 bytes before its newline */
	memcpy(text + n, pre, sizeof(pre) - 1);
	memset(text + n + sizeof(pre) - 1, 'p', 65536 - (sizeof(pre) - 1));
	n += 65536;
	text[n++] = '\n';
	size_t at3 = n;
	/* line 3: far longer than the buffer */
	memset(text + n, 'x', big);
	n += big;
	text[n++] = '\n';
	memcpy(text + n, L2, sizeof(L2) - 1);
	n += sizeof(L2) - 1;

	struct eptf_import_stats st;
	struct eptf_diag d = {{0}};
	unsigned nops;
	/* lines 1-2 alone import: the 64 KiB marker is a phase comment */
	assert_int_equal(run_text(text, at3, false, &st, &d, &nops), 0);
	assert_int_equal(st.lines, 2);
	assert_int_equal(st.used[EPTF_IEV_MARKER], 1);
	assert_int_equal(run_text(text, n, false, &st, &d, &nops), EPTF_EPARSE);
	assert_string_equal(d.msg, "in.txt:3: line longer than 65536 bytes");
	memset(&d, 0, sizeof(d));
	assert_int_equal(run_text(text, n, true, &st, &d, &nops), 0);
	assert_int_equal(st.lines, 4);
	assert_int_equal(st.malformed, 1);
	assert_int_equal(st.used[EPTF_IEV_UNMAP_HVA_RANGE], 1);
	free(text);

	FILE *z = fopen("/dev/zero", "r");
	assert_non_null(z);
	struct eptf_import_options o = { 0 };
	struct eptf_import_sink sink = { .op = null_op, .ctx = &nops };
	assert_int_equal(eptf_import_text(z, "/dev/zero", &o, &sink, &st, &d), EPTF_EPARSE);
	assert_string_equal(d.msg, "/dev/zero:1: line longer than 65536 bytes");
	fclose(z);
}

static void test_nul_byte(void **state)
{
	(void)state;
	static const char text[] = L1 "  vmm-7 [000] ...1. 1.000003: kvm_mmu_paging_element: pte \0 level 4\n";
	struct eptf_import_stats st;
	struct eptf_diag d = {{0}};
	unsigned nops;
	assert_int_equal(run_text(text, sizeof(text) - 1, false, &st, &d, &nops), EPTF_EPARSE);
	assert_string_equal(d.msg, "in.txt:2: NUL byte in line");
	assert_int_equal(run_text(text, sizeof(text) - 1, true, &st, &d, &nops), 0);
	assert_int_equal(st.malformed, 1);
}

/* Other CPUs keep their own clocks; events of other kinds are counted, not errors. */
static void test_order_per_cpu_and_other_events(void **state)
{
	(void)state;
	static const char text[] = L1
		"  vmm-8 [001] ...1. 0.500000: sched_switch: prev_comm=a prev_pid=1 ==> next_comm=b\n"
		"  vmm-8 [001] ...1. 0.600000: kvm_mmu_set_accessed_bit: gpa 1000\n"
		"  vmm-8 [002] ...1. 123456789: kvm_mmu_set_dirty_bit: gpa 1000\n" L2; /* a counter clock */
	struct eptf_import_stats st;
	struct eptf_diag d = {{0}};
	unsigned nops;
	assert_int_equal(run_text(text, sizeof(text) - 1, false, &st, &d, &nops), 0);
	assert_int_equal(st.other_events, 3);
	assert_int_equal(st.lines, 5);
	assert_int_equal(nops, 3); /* slot_add, root_load, unmap_hva */
}

/* Notifier ranges are clipped to the guest's memslots, one op per slot touched. */
static void test_hva_clipping(void **state)
{
	(void)state;
	static const char text[] =
		"  v-1 [000] ...1. 1.000001: tracing_mark_write: eptflush: memslot id=1 gfn=0x1000 pages=0x10 hva=0x7f0000010000\n"
		"  v-1 [000] ...1. 1.000002: kvm_age_hva: mmu notifier age hva: 0000000000000000 -- 0x007f0000020000\n"
		"  v-1 [000] ...1. 1.000003: kvm_age_hva: mmu notifier age hva: 0x00100000000000 -- 0x00100000001000\n"
		"  kdamond.0-99 [001] ..... 1.000004: kvm_age_hva: mmu notifier age hva: 0x007f0000011000 -- 0x007f0000012000\n";
	struct eptf_import_stats st;
	struct eptf_diag d = {{0}};
	unsigned nops;
	assert_int_equal(run_text(text, sizeof(text) - 1, false, &st, &d, &nops), 0);
	assert_int_equal(st.ops[EPTF_OP_CLEAR_FLUSH_YOUNG], 2); /* slot 0 (option) and slot 1 */
	assert_int_equal(st.outside_guest, 1);
	assert_int_equal(st.ops[EPTF_OP_CLEAR_YOUNG], 2); /* DAMON never flushes; both slots alias that hva */
	assert_int_equal(st.ops[EPTF_OP_SLOT_ADD], 2);
}

/* A recording sink: op lines as the trace format prints them. */
struct rec {
	char lines[64][128];
	unsigned n;
};

static int rec_op(void *ctx, const struct eptf_op *op)
{
	struct rec *r = ctx;
	if (r->n < 64 && eptf_op_format(op, r->lines[r->n], sizeof(r->lines[0])) > 0)
		r->n++;
	return 0;
}

static int run_rec(const char *text, struct rec *r, struct eptf_import_stats *st)
{
	FILE *f = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
	assert_non_null(f);
	static const struct eptf_import_slot slot = { .slot = 0, .base_gfn = 0, .npages = 0x10000,
						      .hva = 0x7f0000000000ull };
	struct eptf_import_options o = { .slots = &slot, .nslots = 1 };
	struct eptf_import_sink sink = { .op = rec_op, .ctx = r };
	struct eptf_diag d = {{0}};
	memset(r, 0, sizeof(*r));
	int err = eptf_import_text(f, "in.txt", &o, &sink, st, &d);
	fclose(f);
	if (err)
		fail_msg("%s", d.msg);
	return err;
}

static int line_of(const struct rec *r, const char *prefix)
{
	for (unsigned i = 0; i < r->n; i++)
		if (strncmp(r->lines[i], prefix, strlen(prefix)) == 0)
			return (int)i;
	return -1;
}

#define W(ts, ev) "  v-9 [000] ..... 2." ts ": " ev "\n"
#define ROOT W("000001", "kvm_mmu_get_page: sp gen 0 gfn 10 l4 8-byte q0 wux nxe ad root 0 sync new")
#define WALK(ts, l1)                                                                          \
	W(ts "0", "kvm_mmu_pagetable_walk: addr 1000 pferr 4 U")                               \
	W(ts "1", "kvm_mmu_paging_element: pte 11027 level 4")                                \
	W(ts "2", "kvm_mmu_paging_element: pte 12027 level 3")                                \
	W(ts "3", "kvm_mmu_paging_element: pte 13027 level 2") W(ts "4", "kvm_mmu_paging_element: pte " l1 " level 1")
#define SYNC13 W("000300", "kvm_mmu_sync_page: sp gen 0 gfn 13 l1 8-byte q0 wux nxe ad root 0 unsync")
#define UNSYNC13 W("000400", "kvm_mmu_unsync_page: sp gen 0 gfn 13 l1 8-byte q0 wux nxe ad root 0 sync")

/* A synced table's entry learned later is written before the sync, unless the table was written since. */
static void test_sync_window(void **state)
{
	(void)state;
	struct rec r;
	struct eptf_import_stats st;
	/* walk, sync, walk that shows entry 1 of table 0x13 changed */
	run_rec(ROOT WALK("00010", "5027") SYNC13 WALK("00050", "6027"), &r, &st);
	int sync = line_of(&r, "sync"), gw = line_of(&r, "gpt_write table=0x13 index=1 pte=0x6027");
	assert_true(sync > 0 && gw > 0);
	assert_true(gw < sync);
	/* the same, but the guest wrote the table after the sync (unsync): the change stays after */
	run_rec(ROOT WALK("00010", "5027") SYNC13 UNSYNC13 WALK("00050", "6027"), &r, &st);
	sync = line_of(&r, "sync");
	gw = line_of(&r, "gpt_write table=0x13 index=1 pte=0x6027");
	assert_true(sync > 0 && gw > sync);
}

/* A walk retried after an A/D race repeats its elements from the top: the last pass counts. */
static void test_walk_retry(void **state)
{
	(void)state;
	struct rec r;
	struct eptf_import_stats st;
	run_rec(ROOT WALK("00010", "5007")
		W("000105", "kvm_mmu_paging_element: pte 11027 level 4")
		W("000106", "kvm_mmu_paging_element: pte 12027 level 3")
		W("000107", "kvm_mmu_paging_element: pte 13027 level 2")
		W("000108", "kvm_mmu_paging_element: pte 6027 level 1"), &r, &st);
	assert_int_equal(st.unplaced[EPTF_IEV_PAGING_ELEMENT], 0);
	assert_int_equal(st.used[EPTF_IEV_PAGING_ELEMENT], 8);
	assert_true(line_of(&r, "gpt_write table=0x13 index=1 pte=0x6027") > 0);
	assert_true(line_of(&r, "gpt_write table=0x13 index=1 pte=0x5007") < 0);
}

/* vCPU numbers: from the marker, else in order of appearance; the vcpus marker sets the header. */
static void test_vcpu_numbering(void **state)
{
	(void)state;
	static const char text[] =
		"  vmm-1 [000] ..... 1.000001: tracing_mark_write: eptflush: vcpus 2\n"
		"  vmm-1 [000] ..... 1.000002: tracing_mark_write: eptflush: vcpu 1 tid=20\n"
		"  vc-20 [001] ..... 1.000003: kvm_mmu_get_page: sp gen 0 gfn 10 l4 8-byte q0 wux nxe ad root 0 sync new\n"
		"  vc-30 [000] ..... 1.000004: kvm_mmu_get_page: sp gen 0 gfn 40 l4 8-byte q0 wux nxe ad root 0 sync new\n"
		"  vc-40 [000] ..... 1.000005: kvm_mmu_get_page: sp gen 0 gfn 50 l4 8-byte q0 wux nxe ad root 0 sync new\n";
	struct rec r;
	struct eptf_import_stats st;
	run_rec(text, &r, &st);
	assert_int_equal(st.nr_vcpus, 2);
	assert_true(line_of(&r, "root_load vcpu=1 cr3=0x10") > 0);
	assert_true(line_of(&r, "root_load vcpu=0 cr3=0x40") > 0);
	assert_true(line_of(&r, "root_load vcpu=1 cr3=0x50") > 0); /* a third thread wraps around */
}

static void test_parse_slot(void **state)
{
	(void)state;
	struct eptf_import_slot s;
	assert_int_equal(eptf_import_parse_slot("1:0x200:0x400:0x7f0000000000", &s), 0);
	assert_int_equal(s.slot, 1);
	assert_int_equal(s.base_gfn, 0x200);
	assert_int_equal(s.npages, 0x400);
	assert_int_equal(s.hva, 0x7f0000000000ull);
	assert_int_equal(eptf_import_parse_slot("1:0x200:0x400", &s), EPTF_EPARSE);
	assert_int_equal(eptf_import_parse_slot("1:0x200:0:0", &s), EPTF_EPARSE);
	assert_int_equal(eptf_import_parse_slot("1:2:3:4:5", &s), EPTF_EPARSE);
	assert_int_equal(eptf_import_parse_slot("x:2:3:4", &s), EPTF_EPARSE);
	assert_int_equal(eptf_import_parse_slot("1:2:3:0xffffffffffffffff", &s), EPTF_EPARSE);
	/* address spaces 0 and 1 only (x86: normal and SMM) */
	assert_int_equal(eptf_import_parse_slot("0x10005:0:0x10:0x7f0000000000", &s), 0);
	assert_int_equal(s.slot, 0x10005);
	assert_int_equal(eptf_import_parse_slot("0x20000:0:0x10:0x7f0000000000", &s), EPTF_EPARSE);
	assert_int_equal(eptf_import_parse_slot("0x30000:0:0x10:0x7f0000000000", &s), EPTF_EPARSE);
}

/* Memslots given together: distinct ids, no gfn overlap within an address space. */
static void test_check_slots(void **state)
{
	(void)state;
	struct eptf_import_slot s[4] = {
		{ .slot = 0, .base_gfn = 0, .npages = 0x10 },
		{ .slot = 1, .base_gfn = 0x10, .npages = 0x10 },       /* adjacent: fine */
		{ .slot = 0x10000, .base_gfn = 0x8, .npages = 0x10 },  /* other address space: fine */
		{ .slot = 2, .base_gfn = 0x100, .npages = 1 },
	};
	size_t a = 99, b = 99;
	assert_int_equal(eptf_import_check_slots(s, 4, &a, &b), 0);
	assert_int_equal(eptf_import_check_slots(s, 0, &a, &b), 0);
	s[3].slot = 1;
	assert_int_equal(eptf_import_check_slots(s, 4, &a, &b), EPTF_EEXIST);
	assert_int_equal(a, 1);
	assert_int_equal(b, 3);
	s[3].slot = 3;
	s[3].base_gfn = 0x1f; /* the last page of slot 1 */
	assert_int_equal(eptf_import_check_slots(s, 4, &a, &b), EPTF_EINVAL);
	assert_int_equal(a, 1);
	assert_int_equal(b, 3);
}

/* A write failure names the output, not a line of the input. */
static void test_output_error_named(void **state)
{
	(void)state;
	struct eptf_import_options o = { 0 };
	struct eptf_import_stats st;
	struct eptf_diag d = {{0}};
	int err = eptf_import_file(EPTF_TEST_DATA "/import/real-touch.txt", "/nonexistent/dir/x.trace", &o, &st,
				   &d);
	assert_int_equal(err, EPTF_EIO);
	if (strncmp(d.msg, "/nonexistent/dir/x.trace: ", 26) != 0)
		fail_msg("message does not name the output: '%s'", d.msg);
	memset(&d, 0, sizeof(d));
	err = eptf_import_file(EPTF_TEST_DATA "/import/real-touch.txt", "/tmp", &o, &st, &d);
	assert_true(err < 0);
	assert_string_equal(d.msg, "/tmp: is a directory");
}

/* Nothing is left behind when the input is malformed. */
static void test_no_partial_output(void **state)
{
	(void)state;
	char in[] = "/tmp/eptf-imp-in-XXXXXX";
	int fd = mkstemp(in);
	assert_true(fd >= 0);
	static const char text[] = L1 "garbage\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	char out[600];
	snprintf(out, sizeof(out), "%s.trace", in);
	struct eptf_import_options o = { 0 };
	struct eptf_import_stats st;
	struct eptf_diag d = {{0}};
	assert_int_equal(eptf_import_file(in, out, &o, &st, &d), EPTF_EPARSE);
	assert_non_null(strstr(d.msg, ":2: not a trace line"));
	assert_int_equal(access(out, F_OK), -1);
	unlink(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_excerpts),
		cmocka_unit_test(test_real_pagetables_stats),
		cmocka_unit_test(test_real_2vcpu),
		cmocka_unit_test(test_tracecmd_shadow),
		cmocka_unit_test(test_tdp_fixture),
		cmocka_unit_test(test_malformed_classes),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_order_per_cpu_and_other_events),
		cmocka_unit_test(test_hva_clipping),
		cmocka_unit_test(test_sync_window),
		cmocka_unit_test(test_vcpu_numbering),
		cmocka_unit_test(test_walk_retry),
		cmocka_unit_test(test_parse_slot),
		cmocka_unit_test(test_check_slots),
		cmocka_unit_test(test_output_error_named),
		cmocka_unit_test(test_no_partial_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
