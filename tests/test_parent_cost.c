// SPDX-License-Identifier: BSD-2-Clause
/* The cost model: documented defaults, keys in documentation order, set/get, unknown keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/error.h>
#include <eptflush/parent.h>

static void test_defaults(void **state)
{
	struct eptf_cost_model cm;

	(void)state;
	memset(&cm, 0xff, sizeof(cm));
	eptf_cost_model_default(&cm);
	assert_int_equal(cm.hypercall, 8304);      /* eVMCS nested exit (Kuznetsov 2018) */
	assert_int_equal(cm.list_entry, 260);      /* one INVLPG (Molnar 2015), assumption */
	assert_int_equal(cm.full_flush, 2283);     /* full TLB flush (Hansen 2014), assumption */
	assert_int_equal(cm.ept_violation, 8834);  /* 8,304 + 24 x 20 + 50 */
	assert_int_equal(cm.tlb_miss_walk, 480);   /* 24 refs (Bhargava 2008) x 20 cycles */
	assert_int_equal(cm.entry_drop, 50);       /* assumption */
	assert_int_equal(cm.ept_violation, cm.hypercall + cm.tlb_miss_walk + cm.entry_drop);
}

static void test_keys_order_and_get(void **state)
{
	const char *want[] = { "hypercall", "list_entry", "full_flush", "ept_violation",
			       "tlb_miss_walk", "entry_drop" };
	struct eptf_cost_model cm = { 1, 2, 3, 4, 5, 6 };
	size_t n = 0;

	(void)state;
	while (eptf_cost_model_keys[n])
		n++;
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(eptf_cost_model_keys[i], want[i]);
		assert_int_equal(eptf_cost_model_get(&cm, i), i + 1);
	}
	assert_int_equal(eptf_cost_model_get(&cm, 6), 0);
	assert_int_equal(eptf_cost_model_get(&cm, 1000), 0);
}

static void test_set(void **state)
{
	struct eptf_cost_model cm, before;

	(void)state;
	eptf_cost_model_default(&cm);
	for (size_t i = 0; eptf_cost_model_keys[i]; i++) {
		assert_int_equal(eptf_cost_model_set(&cm, eptf_cost_model_keys[i], 1000 + i), 0);
		assert_int_equal(eptf_cost_model_get(&cm, i), 1000 + i);
	}
	assert_int_equal(cm.hypercall, 1000);
	assert_int_equal(cm.entry_drop, 1005);
	assert_int_equal(eptf_cost_model_set(&cm, "tlb_miss_walk", UINT64_MAX), 0);
	assert_true(cm.tlb_miss_walk == UINT64_MAX);
	before = cm;
	assert_int_equal(eptf_cost_model_set(&cm, "hypercalls", 1), EPTF_ENOENT);
	assert_int_equal(eptf_cost_model_set(&cm, "", 1), EPTF_ENOENT);
	assert_int_equal(eptf_cost_model_set(&cm, "Hypercall", 1), EPTF_ENOENT);
	assert_int_equal(eptf_cost_model_set(&cm, NULL, 1), EPTF_EINVAL);
	assert_memory_equal(&cm, &before, sizeof(cm));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_keys_order_and_get),
		cmocka_unit_test(test_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
