/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The rep-hypercall driver against fake transports: partial completion
 * continues from the completed count with rep_start in control bits 59:48;
 * the first non-success status stops; a transport reporting no progress,
 * a count going backwards or past the end stops without looping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/hv.h>

#define MAX_CALLS 64

/* A scripted parent: call i returns results[i] (or does "step" progress). */
struct fake {
	uint64_t controls[MAX_CALLS];
	const void *inputs[MAX_CALLS];
	size_t lens[MAX_CALLS];
	unsigned calls;
	/* mode 1: complete at most @step reps per call, fail with @fail_status at call @fail_at */
	unsigned step;
	unsigned fail_at;
	uint16_t fail_status;
	/* mode 2: scripted results */
	const uint64_t *script;
	unsigned script_len;
};

static uint64_t fake_call(void *ctx, uint64_t control, const void *input, size_t len)
{
	struct fake *f = ctx;
	unsigned i = f->calls++;

	/* a driver that loops forever would run off the end of this */
	assert_true(i < MAX_CALLS);
	f->controls[i] = control;
	f->inputs[i] = input;
	f->lens[i] = len;
	if (f->script)
		return i < f->script_len ? f->script[i] : f->script[f->script_len - 1];

	struct eptf_hv_control c;
	eptf_hv_control_parse(control, &c);
	if (f->fail_at && i + 1 == f->fail_at)
		return eptf_hv_result_build(f->fail_status, c.rep_start);
	unsigned done = c.rep_start + f->step;
	if (done > c.rep_count)
		done = c.rep_count;
	return eptf_hv_result_build(EPTF_HV_STATUS_SUCCESS, (uint16_t)done);
}

static void test_all_at_once(void **state)
{
	(void)state;
	struct fake f = {.step = 4095};
	struct eptf_hv_transport t = {fake_call, &f};
	struct eptf_hv_call_info info;
	char input[64] = {0};

	assert_int_equal(eptf_hv_rep_call(&t, 0xb0, 5, input, sizeof(input), &info), 0);
	assert_int_equal(info.status, 0);
	assert_int_equal(info.reps_done, 5);
	assert_int_equal(info.issues, 1);
	assert_int_equal(f.calls, 1);
	/* 0x00000005000000b0: code 0xb0, rep count 5, rep start 0 */
	assert_int_equal(f.controls[0], 0x00000005000000b0ull);
	assert_ptr_equal(f.inputs[0], input);
	assert_int_equal(f.lens[0], sizeof(input));
}

static void test_partial_continues(void **state)
{
	(void)state;
	struct fake f = {.step = 3};
	struct eptf_hv_transport t = {fake_call, &f};
	struct eptf_hv_call_info info;

	assert_int_equal(eptf_hv_rep_call(&t, 0xb0, 10, NULL, 0, &info), 0);
	assert_int_equal(info.reps_done, 10);
	assert_int_equal(info.issues, 4);
	assert_int_equal(f.calls, 4);
	/* rep start 59:48 = 0, 3, 6, 9; rep count 43:32 = 10 throughout */
	assert_int_equal(f.controls[0], 0x0000000a000000b0ull);
	assert_int_equal(f.controls[1], 0x0003000a000000b0ull);
	assert_int_equal(f.controls[2], 0x0006000a000000b0ull);
	assert_int_equal(f.controls[3], 0x0009000a000000b0ull);

	/* one rep per call up to the 12-bit maximum */
	struct fake g = {.step = 1};
	t.ctx = &g;
	assert_int_equal(eptf_hv_rep_call(&t, 0xb0, 40, NULL, 0, &info), 0);
	assert_int_equal(info.issues, 40);
	assert_int_equal(g.controls[39] >> 48, 39);
}

static void test_first_failure_stops(void **state)
{
	(void)state;
	struct fake f = {.step = 3, .fail_at = 2, .fail_status = EPTF_HV_STATUS_INVALID_PARAMETER};
	struct eptf_hv_transport t = {fake_call, &f};
	struct eptf_hv_call_info info;

	assert_int_equal(eptf_hv_rep_call(&t, 0xb0, 10, NULL, 0, &info), EPTF_EHV);
	assert_int_equal(info.status, EPTF_HV_STATUS_INVALID_PARAMETER);
	assert_int_equal(info.reps_done, 3);
	assert_int_equal(info.issues, 2);
	assert_int_equal(f.calls, 2);

	/* failure on the first call */
	struct fake g = {.step = 3, .fail_at = 1, .fail_status = EPTF_HV_STATUS_ACCESS_DENIED};
	t.ctx = &g;
	assert_int_equal(eptf_hv_rep_call(&t, 0xb0, 10, NULL, 0, &info), EPTF_EHV);
	assert_int_equal(info.status, EPTF_HV_STATUS_ACCESS_DENIED);
	assert_int_equal(info.reps_done, 0);
	assert_int_equal(g.calls, 1);
}

static void test_no_progress_stops(void **state)
{
	(void)state;
	/* success, 0 of 10 done: would loop forever in a naive driver */
	static const uint64_t stuck[] = {0x0000000000000000ull};
	struct fake f = {.script = stuck, .script_len = 1};
	struct eptf_hv_transport t = {fake_call, &f};
	struct eptf_hv_call_info info;

	assert_int_equal(eptf_hv_rep_call(&t, 0xb0, 10, NULL, 0, &info), EPTF_EHV);
	assert_int_equal(info.status, EPTF_HV_STATUS_SUCCESS);
	assert_int_equal(info.reps_done, 0);
	assert_int_equal(info.issues, 1);

	/* progress to 4, then stuck at 4 */
	static const uint64_t stall[] = {0x0000000400000000ull, 0x0000000400000000ull};
	struct fake g = {.script = stall, .script_len = 2};
	t.ctx = &g;
	assert_int_equal(eptf_hv_rep_call(&t, 0xb0, 10, NULL, 0, &info), EPTF_EHV);
	assert_int_equal(info.reps_done, 4);
	assert_int_equal(info.issues, 2);
	assert_int_equal(g.calls, 2);
}

static void test_backwards_and_past_end_stop(void **state)
{
	(void)state;
	static const uint64_t back[] = {0x0000000500000000ull, 0x0000000300000000ull};
	struct fake f = {.script = back, .script_len = 2};
	struct eptf_hv_transport t = {fake_call, &f};
	struct eptf_hv_call_info info;

	assert_int_equal(eptf_hv_rep_call(&t, 0xb0, 10, NULL, 0, &info), EPTF_EHV);
	assert_int_equal(info.reps_done, 5); /* the last consistent count */
	assert_int_equal(info.issues, 2);
	assert_int_equal(f.controls[1] >> 48, 5);

	static const uint64_t past[] = {0x0000000b00000000ull};
	struct fake g = {.script = past, .script_len = 1};
	t.ctx = &g;
	assert_int_equal(eptf_hv_rep_call(&t, 0xb0, 10, NULL, 0, &info), EPTF_EHV);
	assert_int_equal(info.reps_done, 0);
	assert_int_equal(info.issues, 1);
}

static void test_bad_args(void **state)
{
	(void)state;
	struct fake f = {.step = 1};
	struct eptf_hv_transport t = {fake_call, &f}, none = {NULL, NULL};

	assert_int_equal(eptf_hv_rep_call(&t, 0xb0, 0, NULL, 0, NULL), EPTF_EINVAL);
	assert_int_equal(eptf_hv_rep_call(&t, 0xb0, 4096, NULL, 0, NULL), EPTF_EINVAL);
	assert_int_equal(eptf_hv_rep_call(NULL, 0xb0, 1, NULL, 0, NULL), EPTF_EINVAL);
	assert_int_equal(eptf_hv_rep_call(&none, 0xb0, 1, NULL, 0, NULL), EPTF_EINVAL);
	assert_int_equal(f.calls, 0);
	/* info may be NULL */
	assert_int_equal(eptf_hv_rep_call(&t, 0xb0, 3, NULL, 0, NULL), 0);
	assert_int_equal(f.calls, 3);
}

static uint64_t validating_parent(void *ctx, uint64_t control, const void *input, size_t len)
{
	struct fake *f = ctx;
	static struct eptf_hv_request req;
	struct eptf_hv_validate_cfg cfg = {0, true};
	struct eptf_hv_control c;
	uint16_t st;

	f->controls[f->calls++] = control;
	st = eptf_hv_validate(control, input, len, &cfg, &req);
	eptf_hv_control_parse(control, &c);
	if (st != EPTF_HV_STATUS_SUCCESS)
		return eptf_hv_result_build(st, c.rep_start);
	/* do at most 100 reps per call, like a hypervisor bounding its time */
	if (c.code == EPTF_HVCALL_FLUSH_GPA_SPACE)
		return eptf_hv_result_build(EPTF_HV_STATUS_SUCCESS, 0);
	unsigned done = c.rep_start + 100u;
	return eptf_hv_result_build(EPTF_HV_STATUS_SUCCESS,
				    (uint16_t)(done > c.rep_count ? c.rep_count : done));
}

static void test_list_and_space_calls(void **state)
{
	(void)state;
	static struct eptf_hv_flush_list l;
	struct fake f = {0};
	struct eptf_hv_transport t = {validating_parent, &f};
	struct eptf_hv_call_info info;
	int n;

	l.address_space = 0x5000;
	l.flags = 0;
	n = eptf_hv_fill_linux(&l, 0, 0x100, 510ull * 2048);
	assert_int_equal(n, 510);
	assert_int_equal(eptf_hv_flush_list_call(&t, &l, (uint16_t)n, &info), 0);
	assert_int_equal(info.reps_done, 510);
	assert_int_equal(info.issues, 6); /* 100 per call */
	assert_int_equal(f.controls[5], 0x01f401fe000000b0ull); /* start 500, count 510 */

	/* the parent rejects a bad page and the driver stops at once */
	f.calls = 0;
	l.flags = 1;
	assert_int_equal(eptf_hv_flush_list_call(&t, &l, 3, &info), EPTF_EHV);
	assert_int_equal(info.status, EPTF_HV_STATUS_INVALID_PARAMETER);
	assert_int_equal(info.issues, 1);

	assert_int_equal(eptf_hv_flush_list_call(&t, &l, 0, &info), EPTF_EINVAL);
	assert_int_equal(eptf_hv_flush_list_call(&t, &l, 511, &info), EPTF_EINVAL);
	assert_int_equal(eptf_hv_flush_list_call(&t, NULL, 1, &info), EPTF_EINVAL);

	/* the space flush: one simple call, 16-byte input {address_space, 0} */
	struct fake g = {.step = 0};
	t.hypercall = fake_call;
	t.ctx = &g;
	g.script = (const uint64_t[]){0};
	g.script_len = 1;
	assert_int_equal(eptf_hv_flush_space_call(&t, 0xfeed000, &info), 0);
	assert_int_equal(g.controls[0], 0xafull);
	assert_int_equal(g.lens[0], 16);
	assert_int_equal(info.issues, 1);
	g.calls = 0;
	g.script = (const uint64_t[]){EPTF_HV_STATUS_INVALID_PARTITION_STATE};
	assert_int_equal(eptf_hv_flush_space_call(&t, 0xfeed000, &info), EPTF_EHV);
	assert_int_equal(info.status, EPTF_HV_STATUS_INVALID_PARTITION_STATE);
	assert_int_equal(eptf_hv_flush_space_call(NULL, 0, &info), EPTF_EINVAL);

	/* through the validating parent: the input is what the TLFS expects */
	struct fake h = {0};
	t.hypercall = validating_parent;
	t.ctx = &h;
	assert_int_equal(eptf_hv_flush_space_call(&t, 0xfeed000, &info), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_at_once),
		cmocka_unit_test(test_partial_continues),
		cmocka_unit_test(test_first_failure_stops),
		cmocka_unit_test(test_no_progress_stops),
		cmocka_unit_test(test_backwards_and_past_end_stop),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_list_and_space_calls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
