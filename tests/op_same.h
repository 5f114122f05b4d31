/* SPDX-License-Identifier: BSD-2-Clause */
/* Test helper: two ops are equal field by field (cmocka assertions name the field that differs). */
#ifndef EPTF_TESTS_OP_SAME_H
#define EPTF_TESTS_OP_SAME_H

#include <eptflush/op.h>

static inline void assert_op_same(const struct eptf_op *a, const struct eptf_op *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->vcpu, b->vcpu);
	assert_int_equal(a->slot, b->slot);
	assert_int_equal(a->level, b->level);
	assert_int_equal(a->flags, b->flags);
	assert_true(a->addr == b->addr);
	assert_true(a->count == b->count);
	assert_true(a->value == b->value);
}

#endif
