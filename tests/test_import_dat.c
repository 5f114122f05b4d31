/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The trace.dat importer. tests/data/import/real-pagetables.dat is a real
 * recording (kernel 6.18, PVM shadow paging) of `eptflush capture
 * --workload pagetables --rounds 1 --memory 4M`, taken by arming a tracefs
 * instance (kvmmmu + kvm notifier events) and `trace-cmd extract -B`, with
 * /proc/kallsyms bind-mounted to a two-line file in a private mount
 * namespace so the file stays small. The capture's markers went to its own
 * instance, so the memslots are given as options (values from its markers).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <errno.h>
#include <sys/wait.h>
#include <cmocka.h>

#include <eptflush/error.h>
#include <eptflush/import.h>

#define DATA EPTF_TEST_DATA "/import/"

static const struct eptf_import_slot slots[] = {
	{ .slot = 0, .base_gfn = 0, .npages = 0x200, .hva = 0x7fed4d000000ull },
	{ .slot = 1, .base_gfn = 0x200, .npages = 0x400, .hva = 0x7fed4cc00000ull },
};

static void tmpname(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/eptf-imp-dat-XXXXXX");
	int fd = mkstemp(buf);
	assert_true(fd >= 0);
	close(fd);
}

static void assert_same_file(const char *got, const char *want)
{
	FILE *g = fopen(got, "r"), *w = fopen(want, "r");
	assert_non_null(g);
	assert_non_null(w);
	char a[512], b[512];
	unsigned line = 0;
	for (;;) {
		char *ga = fgets(a, sizeof(a), g), *wb = fgets(b, sizeof(b), w);
		line++;
		if (!ga && !wb)
			break;
		if (!ga || !wb)
			fail_msg("%s:%u: %s ends early", want, line, ga ? "expected output" : "import output");
		if (strcmp(a, b) != 0)
			fail_msg("%s:%u: expected '%s', import wrote '%s'", want, line, b, a);
	}
	fclose(g);
	fclose(w);
}

/* Auto-detected by its magic; every op line as expected. */
static void test_dat_real(void **state)
{
	(void)state;
	char out[64];
	tmpname(out, sizeof(out));
	struct eptf_import_options o = { .slots = slots, .nslots = 2 };
	struct eptf_import_stats st;
	struct eptf_diag d = {{0}};
	int err = eptf_import_file(DATA "real-pagetables.dat", out, &o, &st, &d);
	if (err)
		fail_msg("%s", d.msg);
	assert_string_equal(st.format, "trace.dat (2 buffers)");
	assert_same_file(out, DATA "real-pagetables-dat.expected");
	unlink(out);
	/* what the text of the same run gives (checked when the fixtures were made) */
	assert_int_equal(st.used[EPTF_IEV_SET_SPTE], 2567);
	assert_int_equal(st.ops[EPTF_OP_MAP], 2567);
	assert_int_equal(st.used[EPTF_IEV_PAGING_ELEMENT], 10428);
	assert_int_equal(st.used[EPTF_IEV_SYNC_PAGE], 1);
	assert_int_equal(st.used[EPTF_IEV_UNSYNC_PAGE], 1);
	assert_true(st.ops[EPTF_OP_COMMIT_ZAP] >= 1);
	uint64_t unplaced = 0;
	for (unsigned k = 0; k < EPTF_IEV_COUNT; k++)
		unplaced += st.unplaced[k];
	assert_int_equal(unplaced, 0);
}

/*
 * Markers in a trace.dat (ftrace:print events, whose buf is a flexible array):
 * markers.dat holds seven markers written to an instance's trace_marker,
 * the last after `end`.
 */
static void test_dat_markers(void **state)
{
	(void)state;
	char out[64];
	tmpname(out, sizeof(out));
	struct eptf_import_options o = { 0 };
	struct eptf_import_stats st;
	struct eptf_diag d = {{0}};
	int err = eptf_import_file(DATA "markers.dat", out, &o, &st, &d);
	if (err)
		fail_msg("%s", d.msg);
	assert_same_file(out, DATA "markers-dat.expected");
	unlink(out);
	assert_int_equal(st.nr_vcpus, 2);
	assert_int_equal(st.used[EPTF_IEV_MARKER], 6);
	assert_int_equal(st.after_end, 1);
	assert_int_equal(st.ops[EPTF_OP_SLOT_ADD], 1);
	assert_int_equal(st.ops[EPTF_OP_GET_DIRTY_LOG], 1);
}

/* A sink that records op kinds only, to compare the two front ends. */
struct kinds {
	uint64_t n[EPTF_OP_KIND_COUNT];
};

static int count_op(void *ctx, const struct eptf_op *op)
{
	((struct kinds *)ctx)->n[op->kind]++;
	return 0;
}

/* The dat front end through its own entry point (no writer). */
static void test_dat_direct(void **state)
{
	(void)state;
	struct kinds k;
	memset(&k, 0, sizeof(k));
	struct eptf_import_sink sink = { .op = count_op, .ctx = &k };
	struct eptf_import_options o = { .slots = slots, .nslots = 2 };
	struct eptf_import_stats st;
	struct eptf_diag d = {{0}};
	assert_int_equal(eptf_import_dat(DATA "real-pagetables.dat", &o, &sink, &st, &d), 0);
	for (unsigned i = 1; i < EPTF_OP_KIND_COUNT; i++)
		assert_int_equal(k.n[i], st.ops[i]);
	assert_int_equal(k.n[EPTF_OP_SLOT_ADD], 2);
}

/* A truncated or garbage trace.dat: a clean error, no output file. */
static void test_dat_truncated(void **state)
{
	(void)state;
	char bad[64], out[80];
	tmpname(bad, sizeof(bad));
	FILE *in = fopen(DATA "real-pagetables.dat", "rb");
	FILE *f = fopen(bad, "wb");
	assert_non_null(in);
	assert_non_null(f);
	char buf[3000];
	size_t n = fread(buf, 1, sizeof(buf), in);
	assert_int_equal(n, sizeof(buf));
	assert_int_equal(fwrite(buf, 1, n, f), n);
	fclose(f);
	fclose(in);
	snprintf(out, sizeof(out), "%s.trace", bad);
	struct eptf_import_options o = { .slots = slots, .nslots = 2 };
	struct eptf_import_stats st;
	struct eptf_diag d = {{0}};
	int err = eptf_import_file(bad, out, &o, &st, &d);
	assert_int_equal(err, EPTF_EPARSE);
	assert_non_null(strstr(d.msg, ":1: not a readable trace.dat file"));
	assert_int_equal(access(out, F_OK), -1);
	/* --format dat on a text file */
	o.format = EPTF_IMPORT_DAT;
	assert_int_equal(eptf_import_file(DATA "real-touch.txt", out, &o, &st, &d), EPTF_EPARSE);
	assert_int_equal(access(out, F_OK), -1);
	unlink(bad);
}

/*
 * A trace.dat that crashes libtraceevent (a segfault in its event-format
 * parser, found by mutating real-pagetables.dat) is a clean parse error: the
 * libraries run in a child process. Nothing is left in the output's
 * directory, and no child is left behind.
 */
static void test_dat_library_crash(void **state)
{
	(void)state;
	char dir[] = "/tmp/eptf-imp-crash-XXXXXX", out[64];
	assert_non_null(mkdtemp(dir));
	snprintf(out, sizeof(out), "%s/x.trace", dir);
	struct eptf_import_options o = { 0 };
	struct eptf_import_stats st;
	struct eptf_diag d = {{0}};
	int err = eptf_import_file(EPTF_TEST_DATA "/bad/import/dat-corrupt-segv.dat", out, &o, &st, &d);
	assert_int_equal(err, EPTF_EPARSE);
	const char *want = "dat-corrupt-segv.dat:1: corrupt trace.dat (the trace-cmd library crashed reading it)";
	size_t ml = strlen(d.msg), wl = strlen(want);
	if (ml < wl || strcmp(d.msg + ml - wl, want) != 0)
		fail_msg("got '%s'", d.msg);
	DIR *dd = opendir(dir);
	assert_non_null(dd);
	struct dirent *e;
	while ((e = readdir(dd)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			fail_msg("left behind: %s", e->d_name);
	closedir(dd);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* A sink that fails at its 10th op. */
static int fail_10th(void *ctx, const struct eptf_op *op)
{
	(void)op;
	return ++*(unsigned *)ctx == 10 ? EPTF_EIO : 0;
}

/* The parent's sink refusing an op stops the import (and its child) with that error. */
static void test_dat_sink_error(void **state)
{
	(void)state;
	unsigned calls = 0;
	struct eptf_import_sink sink = { .op = fail_10th, .ctx = &calls };
	struct eptf_import_options o = { .slots = slots, .nslots = 2 };
	struct eptf_import_stats st;
	struct eptf_diag d = {{0}};
	assert_int_equal(eptf_import_dat(DATA "real-pagetables.dat", &o, &sink, &st, &d), EPTF_EIO);
	assert_int_equal(calls, 10);
	assert_non_null(strstr(d.msg, "real-pagetables.dat:record "));
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dat_real),
		cmocka_unit_test(test_dat_direct),
		cmocka_unit_test(test_dat_markers),
		cmocka_unit_test(test_dat_truncated),
		cmocka_unit_test(test_dat_library_crash),
		cmocka_unit_test(test_dat_sink_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
