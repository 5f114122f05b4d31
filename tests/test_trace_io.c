/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The trace reader and writer: the shipped example traces, every
 * malformed-file class as its exact "file:line: reason", streaming a long
 * generated trace back op for op, and the writer's temp-file discipline.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <eptflush/error.h>
#include <eptflush/trace.h>
#include <eptflush/workload.h>

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/eptf-trace-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

/* Remove every file in the scratch directory. */
static void clean_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[384];

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	if (d)
		closedir(d);
}

static int teardown(void **state)
{
	(void)state;
	clean_dir();
	rmdir(dir);
	return 0;
}

static unsigned dir_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static const char *write_file(const char *name, const char *data, size_t len)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	return path;
}

/* Read all of @path; returns ops read (>= 0) or the error, with @diag. */
static int read_all(const char *path, struct eptf_trace_header *hdr, struct eptf_diag *diag,
		    unsigned *kinds)
{
	struct eptf_trace_reader *r;
	struct eptf_op op;
	int ret, n = 0;

	ret = eptf_trace_open(path, hdr, &r, diag);
	if (ret < 0)
		return ret;
	while ((ret = eptf_trace_read(r, &op, diag)) == 1) {
		if (kinds)
			kinds[op.kind]++;
		n++;
	}
	eptf_trace_close(r);
	return ret < 0 ? ret : n;
}

static void test_example_traces(void **state)
{
	static const char *const names[] = {"tiny.trace", "tiny-migrate.trace", "tiny-shadow.trace"};
	struct eptf_trace_header hdr;
	struct eptf_diag diag;
	unsigned kinds[EPTF_OP_KIND_COUNT] = {0};
	char path[512];

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", EPTF_TEST_DATA, names[i]);
		int n = read_all(path, &hdr, &diag, i == 0 ? kinds : NULL);
		if (n < 0)
			fail_msg("%s", diag.msg);
		assert_true(n > 10);
		assert_int_equal(hdr.version, 1);
		assert_string_equal(hdr.source, "hand");
	}
	/* tiny.trace uses every op kind */
	for (uint32_t k = 1; k < EPTF_OP_KIND_COUNT; k++)
		if (!kinds[k])
			fail_msg("tiny.trace lacks %s", eptf_op_name(k));
}

static void test_header_fields(void **state)
{
	const char text[] = "eptflush-trace 1\n"
			    "# comment before the header lines\n"
			    "\n"
			    "vcpus 3\n"
			    "source  import \n"
			    "name a name with spaces\n"
			    "detail x=1 # not a comment in a header value\n"
			    "begin\n"
			    "sync vcpu=2\n";
	struct eptf_trace_header hdr;
	struct eptf_diag diag;

	(void)state;
	assert_int_equal(read_all(write_file("h.trace", text, sizeof(text) - 1), &hdr, &diag, NULL), 1);
	assert_int_equal(hdr.nr_vcpus, 3);
	assert_string_equal(hdr.source, "import");
	assert_string_equal(hdr.name, "a name with spaces");
	assert_string_equal(hdr.detail, "x=1 # not a comment in a header value");
}

#define H "eptflush-trace 1\nvcpus 2\nbegin\n"

static const struct {
	const char *text;
	size_t len; /* 0: strlen */
	const char *reason; /* after "<path>:" */
} bad_files[] = {
	{"", 0, "1: empty file: expected 'eptflush-trace 1'"},
	{"vcpus 2\nbegin\n", 0, "1: not an eptflush trace: the first line must be 'eptflush-trace 1'"},
	{"# eptflush-trace 1\n", 0, "1: not an eptflush trace: the first line must be 'eptflush-trace 1'"},
	{"eptflush-trace 2\nvcpus 1\nbegin\n", 0, "1: unsupported trace version 2 (this reader knows 1)"},
	{"eptflush-trace one\n", 0, "1: bad trace version 'one'"},
	{"eptflush-trace 1\nvcpus 1\n", 0, "3: end of file in the header (no 'begin' line)"},
	{"eptflush-trace 1\nbegin\n", 0, "2: missing 'vcpus' header line before 'begin'"},
	{"eptflush-trace 1\nvcpus 0\nbegin\n", 0, "2: vcpus 0 out of range 1..64"},
	{"eptflush-trace 1\nvcpus 65\nbegin\n", 0, "2: vcpus 65 out of range 1..64"},
	{"eptflush-trace 1\nvcpus x\nbegin\n", 0, "2: bad number 'x' for 'vcpus'"},
	{"eptflush-trace 1\nvcpus 1\nvcpus 2\nbegin\n", 0, "3: duplicate header line 'vcpus'"},
	{"eptflush-trace 1\nvcpus 1\nname a\nname b\nbegin\n", 0, "4: duplicate header line 'name'"},
	{"eptflush-trace 1\nvcpus 1\nsource\nbegin\n", 0, "3: header 'source' needs a value"},
	{"eptflush-trace 1\nvcpus 1\nsync vcpu=0\nbegin\n", 0,
	 "3: unknown header line 'sync' (before 'begin')"},
	{"eptflush-trace 1\nvcpus 1\nbegin now\n", 0, "3: 'begin' takes no value"},
	{H "commit_zap\nfrob\n", 0, "5: unknown op 'frob'"},
	{H "\n# c\nmap vcpu=0 addr=1 level=1 size=2\n", 0, "6: unknown key 'size' for map"},
	{H "map vcpu=0 level=1\n", 0, "4: missing key 'addr' for map"},
	{H "sync vcpu=0 vcpu=0\n", 0, "4: duplicate key 'vcpu'"},
	{H "wp_gfn gfn=12a\n", 0, "4: bad number '12a' for key 'gfn'"},
	{H "map vcpu=0 addr=1 level=9\n", 0, "4: level 9 out of range 1..3"},
	{H "prepare_zap gfn=1 level=0\n", 0, "4: level 0 out of range 1..4"},
	{H "gpt_write table=1 index=600 pte=0\n", 0, "4: index 600 out of range 0..511"},
	{H "sync vcpu=2\n", 0, "4: vcpu 2 out of range (the header says vcpus 2)"},
	{H "root_load vcpu=5 as=0\n", 0, "4: vcpu 5 out of range (the header says vcpus 2)"},
	{H "sync vcpu=0\nsync\0vcpu=1\n", sizeof(H "sync vcpu=0\nsync\0vcpu=1\n") - 1, "5: NUL byte in line"},
	{"eptflush-trace 1\0\n", 18, "1: NUL byte in line"},
};

static void test_malformed_files(void **state)
{
	struct eptf_trace_header hdr;
	struct eptf_diag diag;
	char want[640];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		size_t len = bad_files[i].len ? bad_files[i].len : strlen(bad_files[i].text);
		const char *path = write_file("bad.trace", bad_files[i].text, len);

		memset(&diag, 0, sizeof(diag));
		assert_int_equal(read_all(path, &hdr, &diag, NULL), EPTF_EPARSE);
		snprintf(want, sizeof(want), "%s:%s", path, bad_files[i].reason);
		assert_string_equal(diag.msg, want);
	}
}

static void test_long_line(void **state)
{
	size_t n = strlen(H) + EPTF_TRACE_MAX_LINE + 10;
	char *text = malloc(n + 1), want[512];
	struct eptf_trace_header hdr;
	struct eptf_diag diag;
	const char *path;

	(void)state;
	assert_non_null(text);
	/* exactly EPTF_TRACE_MAX_LINE bytes is fine (a comment padded with spaces) */
	strcpy(text, H);
	memset(text + strlen(H), ' ', EPTF_TRACE_MAX_LINE);
	memcpy(text + strlen(H), "sync vcpu=1 #", 13);
	text[strlen(H) + EPTF_TRACE_MAX_LINE] = '\n';
	path = write_file("long.trace", text, strlen(H) + EPTF_TRACE_MAX_LINE + 1);
	assert_int_equal(read_all(path, &hdr, &diag, NULL), 1);
	/* one more byte is an error */
	text[strlen(H) + EPTF_TRACE_MAX_LINE] = ' ';
	text[strlen(H) + EPTF_TRACE_MAX_LINE + 1] = '\n';
	path = write_file("long.trace", text, strlen(H) + EPTF_TRACE_MAX_LINE + 2);
	assert_int_equal(read_all(path, &hdr, &diag, NULL), EPTF_EPARSE);
	snprintf(want, sizeof(want), "%s:4: line longer than %d bytes", path, EPTF_TRACE_MAX_LINE);
	assert_string_equal(diag.msg, want);
	free(text);
}

static void test_truncated_and_crlf(void **state)
{
	const char text[] = "eptflush-trace 1\r\nvcpus 1\r\nbegin\r\nsync vcpu=0\r\ncommit_zap";
	struct eptf_trace_header hdr;
	struct eptf_trace_reader *r;
	struct eptf_diag diag;
	struct eptf_op op;

	(void)state;
	assert_int_equal(eptf_trace_open(write_file("t.trace", text, sizeof(text) - 1), &hdr, &r, &diag), 0);
	assert_int_equal(eptf_trace_read(r, &op, &diag), 1);
	assert_int_equal(op.kind, EPTF_OP_SYNC);
	assert_int_equal(eptf_trace_line(r), 4);
	assert_int_equal(eptf_trace_read(r, &op, &diag), 1);
	assert_int_equal(op.kind, EPTF_OP_COMMIT_ZAP); /* the last line has no newline */
	assert_int_equal(eptf_trace_line(r), 5);
	assert_int_equal(eptf_trace_read(r, &op, &diag), 0);
	assert_int_equal(eptf_trace_read(r, &op, &diag), 0);
	eptf_trace_close(r);
}

static void test_error_is_sticky(void **state)
{
	const char text[] = H "sync vcpu=0\nbogus\nsync vcpu=1\n";
	struct eptf_trace_header hdr;
	struct eptf_trace_reader *r;
	struct eptf_diag d1, d2;
	struct eptf_op op;

	(void)state;
	assert_int_equal(eptf_trace_open(write_file("s.trace", text, sizeof(text) - 1), &hdr, &r, &d1), 0);
	assert_int_equal(eptf_trace_read(r, &op, &d1), 1);
	assert_int_equal(eptf_trace_read(r, &op, &d1), EPTF_EPARSE);
	assert_int_equal(eptf_trace_read(r, &op, &d2), EPTF_EPARSE);
	assert_string_equal(d1.msg, d2.msg);
	eptf_trace_close(r);
}

static void test_open_missing(void **state)
{
	struct eptf_trace_header hdr;
	struct eptf_trace_reader *r;
	struct eptf_diag diag;
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/no-such.trace", dir);
	assert_int_equal(eptf_trace_open(path, &hdr, &r, &diag), EPTF_ENOENT);
	assert_null(r);
	assert_non_null(strstr(diag.msg, "no-such.trace: "));
}

static void test_open_file_stream(void **state)
{
	char text[] = H "sync vcpu=1\n";
	struct eptf_trace_header hdr;
	struct eptf_trace_reader *r;
	struct eptf_diag diag;
	struct eptf_op op;
	FILE *f = fmemopen(text, sizeof(text) - 1, "r");

	(void)state;
	assert_non_null(f);
	assert_int_equal(eptf_trace_open_file(f, "mem", &hdr, &r, &diag), 0);
	assert_int_equal(eptf_trace_read(r, &op, &diag), 1);
	assert_int_equal(op.vcpu, 1);
	eptf_trace_close(r);
	fclose(f); /* still ours */
	f = fmemopen(text, 10, "r");
	assert_int_equal(eptf_trace_open_file(f, "mem", &hdr, &r, &diag), EPTF_EPARSE);
	assert_string_equal(diag.msg, "mem:1: not an eptflush trace: the first line must be 'eptflush-trace 1'");
	fclose(f);
}

/* ---- writer --------------------------------------------------------------- */

static void header(struct eptf_trace_header *hdr, unsigned vcpus)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->version = 1;
	hdr->nr_vcpus = vcpus;
	snprintf(hdr->source, sizeof(hdr->source), "synthetic");
	snprintf(hdr->name, sizeof(hdr->name), "unit");
}

static void test_writer_exact_bytes(void **state)
{
	struct eptf_trace_header hdr;
	struct eptf_trace_writer *w;
	struct eptf_diag diag;
	struct eptf_op op = {.kind = EPTF_OP_MAP, .vcpu = 1, .level = 2, .addr = 0x200,
			     .flags = EPTF_OPF_WRITE};
	char path[128], buf[512];
	FILE *f;

	(void)state;
	clean_dir();
	header(&hdr, 2);
	snprintf(path, sizeof(path), "%s/w.trace", dir);
	assert_int_equal(eptf_trace_writer_open(path, &hdr, &w, &diag), 0);
	assert_int_equal(access(path, F_OK), -1); /* nothing under the final name yet */
	assert_int_equal(eptf_trace_write(w, &op), 0);
	assert_int_equal(eptf_trace_write_comment(w, "marker"), 0);
	assert_int_equal(eptf_trace_write_comment(w, "two\nlines"), EPTF_EINVAL);
	op.vcpu = 2; /* the header says 2 vCPUs */
	assert_int_equal(eptf_trace_write(w, &op), EPTF_EINVAL);
	op.vcpu = 0;
	op.level = 4;
	assert_int_equal(eptf_trace_write(w, &op), EPTF_EINVAL);
	assert_int_equal(eptf_trace_writer_commit(w, &diag), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf, "eptflush-trace 1\nvcpus 2\nsource synthetic\nname unit\nbegin\n"
				 "map vcpu=1 addr=0x200 level=2 w\n# marker\n");
	assert_int_equal(dir_entries(), 1); /* no temporary left behind */
	unlink(path);
}

static void test_writer_abort_leaves_nothing(void **state)
{
	struct eptf_trace_header hdr;
	struct eptf_trace_writer *w;
	struct eptf_diag diag;
	struct eptf_op op = {.kind = EPTF_OP_COMMIT_ZAP};
	char path[128];

	(void)state;
	clean_dir();
	header(&hdr, 1);
	snprintf(path, sizeof(path), "%s/a.trace", dir);
	assert_int_equal(eptf_trace_writer_open(path, &hdr, &w, &diag), 0);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(eptf_trace_write(w, &op), 0);
	assert_int_equal(dir_entries(), 1); /* the temporary */
	eptf_trace_writer_abort(w);
	assert_int_equal(dir_entries(), 0);
	assert_int_equal(access(path, F_OK), -1);

	/* an existing file survives an aborted rewrite untouched */
	write_file("a.trace", "old", 3);
	assert_int_equal(eptf_trace_writer_open(path, &hdr, &w, &diag), 0);
	assert_int_equal(eptf_trace_write(w, &op), 0);
	eptf_trace_writer_abort(w);
	assert_int_equal(dir_entries(), 1);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 3);
	unlink(path);
}

static void test_writer_bad_target(void **state)
{
	struct eptf_trace_header hdr;
	struct eptf_trace_writer *w;
	struct eptf_diag diag;
	char path[128];

	(void)state;
	clean_dir();
	header(&hdr, 1);
	snprintf(path, sizeof(path), "%s/no/such/dir.trace", dir);
	assert_int_equal(eptf_trace_writer_open(path, &hdr, &w, &diag), EPTF_EIO);
	assert_null(w);
	assert_non_null(strstr(diag.msg, "cannot create a temporary file"));
	hdr.nr_vcpus = 0;
	assert_int_equal(eptf_trace_writer_open(path, &hdr, &w, &diag), EPTF_EINVAL);
	header(&hdr, 1);
	hdr.name[0] = '\n';
	snprintf(path, sizeof(path), "%s/x.trace", dir);
	assert_int_equal(eptf_trace_writer_open(path, &hdr, &w, &diag), EPTF_EINVAL);
	assert_int_equal(dir_entries(), 0);
}

static void test_writer_device_and_stdin(void **state)
{
	struct eptf_trace_header hdr, back;
	struct eptf_trace_writer *w;
	struct eptf_trace_reader *r;
	struct eptf_op op = {.kind = EPTF_OP_SYNC};
	struct eptf_diag diag;
	struct stat st;
	char path[128];

	(void)state;
	clean_dir();
	header(&hdr, 1);
	/* a device is written in place, never replaced by a renamed temporary */
	assert_int_equal(eptf_trace_writer_open("/dev/null", &hdr, &w, &diag), 0);
	assert_int_equal(eptf_trace_write(w, &op), 0);
	assert_int_equal(eptf_trace_writer_commit(w, &diag), 0);
	assert_int_equal(stat("/dev/null", &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(eptf_trace_writer_open(dir, &hdr, &w, &diag), EPTF_EINVAL);
	assert_null(w);

	/* "-" reads stdin */
	snprintf(path, sizeof(path), "%s/in.trace", dir);
	assert_int_equal(eptf_trace_writer_open(path, &hdr, &w, &diag), 0);
	assert_int_equal(eptf_trace_write(w, &op), 0);
	assert_int_equal(eptf_trace_writer_commit(w, &diag), 0);
	assert_non_null(freopen(path, "r", stdin));
	assert_int_equal(eptf_trace_open("-", &back, &r, &diag), 0);
	assert_int_equal(eptf_trace_read(r, &op, &diag), 1);
	assert_int_equal(op.kind, EPTF_OP_SYNC);
	assert_int_equal(eptf_trace_read(r, &op, &diag), 0);
	eptf_trace_close(r);
}

/* A long generated trace streams out and back op for op. */
static void test_stream_long_trace(void **state)
{
	struct eptf_workload_params p;
	struct eptf_trace_header hdr, back;
	struct eptf_trace_writer *tw;
	struct eptf_trace_reader *tr;
	struct eptf_workload *w;
	struct eptf_diag diag;
	struct eptf_op a, b;
	char path[128];
	uint64_t n = 0;

	(void)state;
	eptf_workload_params_default(&p);
	p.ops = 300000;
	p.seed = 99;
	snprintf(path, sizeof(path), "%s/long.trace", dir);
	assert_int_equal(eptf_workload_create("mixed", &p, &w), 0);
	eptf_workload_header(w, &hdr);
	assert_int_equal(eptf_trace_writer_open(path, &hdr, &tw, &diag), 0);
	while (eptf_workload_next(w, &a) == 1)
		assert_int_equal(eptf_trace_write(tw, &a), 0);
	eptf_workload_destroy(w);
	assert_int_equal(eptf_trace_writer_commit(tw, &diag), 0);

	assert_int_equal(eptf_workload_create("mixed", &p, &w), 0);
	if (eptf_trace_open(path, &back, &tr, &diag))
		fail_msg("%s", diag.msg);
	assert_string_equal(back.name, "mixed");
	assert_string_equal(back.detail, hdr.detail);
	while (eptf_workload_next(w, &a) == 1) {
		assert_int_equal(eptf_trace_read(tr, &b, &diag), 1);
		assert_memory_equal(&a, &b, offsetof(struct eptf_op, flags) + 1);
		assert_true(a.addr == b.addr && a.count == b.count && a.value == b.value);
		n++;
	}
	assert_int_equal(eptf_trace_read(tr, &b, &diag), 0);
	assert_true(n == p.ops);
	assert_true(eptf_trace_line(tr) == n + 6); /* 6 header lines, one op per line */
	eptf_trace_close(tr);
	eptf_workload_destroy(w);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_traces),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_malformed_files),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_truncated_and_crlf),
		cmocka_unit_test(test_error_is_sticky),
		cmocka_unit_test(test_open_missing),
		cmocka_unit_test(test_open_file_stream),
		cmocka_unit_test(test_writer_exact_bytes),
		cmocka_unit_test(test_writer_abort_leaves_nothing),
		cmocka_unit_test(test_writer_bad_target),
		cmocka_unit_test(test_writer_device_and_stdin),
		cmocka_unit_test(test_stream_long_trace),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
