/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One op <-> one trace line: the exact canonical text of every op kind,
 * every malformed-line class with its exact reason, validation of ops the
 * writer must refuse, and a property test over random valid ops.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/error.h>
#include <eptflush/mmu.h>
#include <eptflush/trace.h>

#include "op_same.h"

static struct eptf_op mk(uint32_t kind, uint32_t vcpu, uint32_t slot, uint8_t level, uint8_t flags,
			 uint64_t addr, uint64_t count, uint64_t value)
{
	struct eptf_op op;

	memset(&op, 0, sizeof(op));
	op.kind = kind;
	op.vcpu = vcpu;
	op.slot = slot;
	op.level = level;
	op.flags = flags;
	op.addr = addr;
	op.count = count;
	op.value = value;
	return op;
}

static const struct {
	const char *line;
	struct eptf_op op;
} canon[] = {
	{"slot_add slot=1 gfn=0x100 pages=0x200 hva=0x7f0000000000 dirty_log readonly",
	 {EPTF_OP_SLOT_ADD, 0, 1, 0, EPTF_SLOTF_DIRTY_LOG | EPTF_SLOTF_READONLY, 0x100, 0x200, 0x7f0000000000}},
	{"slot_add slot=0 gfn=0x0 pages=0x40000 hva=0x100000000000",
	 {EPTF_OP_SLOT_ADD, 0, 0, 0, 0, 0, 0x40000, 0x100000000000}},
	{"slot_delete slot=0x10001", {EPTF_OP_SLOT_DELETE, 0, 0x10001, 0, 0, 0, 0, 0}},
	{"slot_move slot=3 gfn=0x40000", {EPTF_OP_SLOT_MOVE, 0, 3, 0, 0, 0x40000, 0, 0}},
	{"slot_flags slot=0 dirty_log", {EPTF_OP_SLOT_FLAGS, 0, 0, 0, EPTF_SLOTF_DIRTY_LOG, 0, 0, 0}},
	{"slot_flags slot=2", {EPTF_OP_SLOT_FLAGS, 0, 2, 0, 0, 0, 0, 0}},
	{"root_load vcpu=2 as=1", {EPTF_OP_ROOT_LOAD, 2, 0, 0, EPTF_OPF_DIRECT, 1, 0, 0}},
	{"root_load vcpu=0 as=0", {EPTF_OP_ROOT_LOAD, 0, 0, 0, EPTF_OPF_DIRECT, 0, 0, 0}},
	{"root_load vcpu=0 cr3=0x1234", {EPTF_OP_ROOT_LOAD, 0, 0, 0, 0, 0x1234, 0, 0}},
	{"map vcpu=1 addr=0x1234 level=2 w x",
	 {EPTF_OP_MAP, 1, 0, 2, EPTF_OPF_WRITE | EPTF_OPF_EXEC, 0x1234, 0, 0}},
	{"map vcpu=63 addr=0xffffffffff level=1", {EPTF_OP_MAP, 63, 0, 1, 0, 0xffffffffff, 0, 0}},
	{"access vcpu=3 addr=0xfff x", {EPTF_OP_ACCESS, 3, 0, 0, EPTF_OPF_EXEC, 0xfff, 0, 0}},
	{"access vcpu=0 addr=0x0 w", {EPTF_OP_ACCESS, 0, 0, 0, EPTF_OPF_WRITE, 0, 0, 0}},
	{"zap_range gfn=0x200 pages=0x400", {EPTF_OP_ZAP_RANGE, 0, 0, 0, 0, 0x200, 0x400, 0}},
	{"prepare_zap gfn=0x40000 level=3 direct",
	 {EPTF_OP_PREPARE_ZAP, 0, 0, 3, EPTF_OPF_DIRECT, 0x40000, 0, 0}},
	{"prepare_zap gfn=0x103 level=4", {EPTF_OP_PREPARE_ZAP, 0, 0, 4, 0, 0x103, 0, 0}},
	{"commit_zap", {EPTF_OP_COMMIT_ZAP, 0, 0, 0, 0, 0, 0, 0}},
	{"get_dirty_log slot=1", {EPTF_OP_GET_DIRTY_LOG, 0, 1, 0, 0, 0, 0, 0}},
	{"clear_dirty_log slot=1 first=0x40 mask=0xff00",
	 {EPTF_OP_CLEAR_DIRTY_LOG, 0, 1, 0, 0, 0x40, 0, 0xff00}},
	{"wp_gfn gfn=0x220", {EPTF_OP_WP_GFN, 0, 0, 0, 0, 0x220, 0, 0}},
	{"clear_flush_young start=0x7f0000000000 end=0x7f0000200000",
	 {EPTF_OP_CLEAR_FLUSH_YOUNG, 0, 0, 0, 0, 0x7f0000000000, 0x7f0000200000, 0}},
	{"clear_young start=0x1000 end=0x2000", {EPTF_OP_CLEAR_YOUNG, 0, 0, 0, 0, 0x1000, 0x2000, 0}},
	{"unmap_hva start=0x7f0000001000 end=0x7f0000003000",
	 {EPTF_OP_UNMAP_HVA, 0, 0, 0, 0, 0x7f0000001000, 0x7f0000003000, 0}},
	{"gpt_write table=0x103 index=511 pte=0x8000000000400003",
	 {EPTF_OP_GPT_WRITE, 0, 0, 0, 0, 0x103, 511, 0x8000000000400003}},
	{"sync vcpu=3", {EPTF_OP_SYNC, 3, 0, 0, 0, 0, 0, 0}},
};

static void test_canonical_lines(void **state)
{
	bool kinds[EPTF_OP_KIND_COUNT] = {false};
	char buf[EPTF_TRACE_MAX_LINE + 1];
	struct eptf_op op;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		int n = eptf_op_format(&canon[i].op, buf, sizeof(buf));

		assert_int_equal(n, (int)strlen(canon[i].line));
		assert_string_equal(buf, canon[i].line);
		assert_int_equal(eptf_op_parse(canon[i].line, &op, &why), 0);
		assert_op_same(&op, &canon[i].op);
		kinds[canon[i].op.kind] = true;
	}
	for (uint32_t k = 1; k < EPTF_OP_KIND_COUNT; k++)
		assert_true(kinds[k]); /* the table covers every kind */
}

static void test_lenient_spelling(void **state)
{
	struct eptf_op op, want = mk(EPTF_OP_MAP, 1, 0, 2, EPTF_OPF_WRITE | EPTF_OPF_EXEC, 0xabcd, 0, 0);
	const char *why;

	(void)state;
	/* any key and flag order, decimal or upper-case hex, tabs, CR, trailing comment */
	assert_int_equal(eptf_op_parse("  map\tx level=2 addr=0xABCD w vcpu=1 # a comment\r", &op, &why), 0);
	assert_op_same(&op, &want);
	assert_int_equal(eptf_op_parse("map vcpu=01 addr=43981 level=2 x w", &op, &why), 0);
	assert_op_same(&op, &want);
}

static const struct {
	const char *line;
	const char *detail;
	const char *why;
} bad[] = {
	{"   # only a comment", "no op on the line", "no op on the line"},
	{"frob x=1", "unknown op 'frob'", "unknown op"},
	{"MAP vcpu=0 addr=1 level=1", "unknown op 'MAP'", "unknown op"},
	{"map vcpu=0 addr=1 level=1 foo=2", "unknown key 'foo' for map", "unknown key"},
	{"access vcpu=0 addr=1 level=1", "unknown key 'level' for access", "unknown key"},
	{"map vcpu=0 addr=1", "missing key 'level' for map", "missing key"},
	{"root_load vcpu=0", "missing key 'as' or 'cr3' for root_load", "missing key"},
	{"map vcpu=0 vcpu=1 addr=1 level=1", "duplicate key 'vcpu'", "duplicate key"},
	{"map vcpu=0 addr=0xzz level=1", "bad number '0xzz' for key 'addr'", "bad number"},
	{"map vcpu=0 addr=0x level=1", "bad number '0x' for key 'addr'", "bad number"},
	{"map vcpu=-1 addr=1 level=1", "bad number '-1' for key 'vcpu'", "bad number"},
	{"gpt_write table=1 index=0 pte=18446744073709551616",
	 "bad number '18446744073709551616' for key 'pte'", "bad number"},
	{"gpt_write table=1 index=0 pte=0x10000000000000000",
	 "bad number '0x10000000000000000' for key 'pte'", "bad number"},
	{"map vcpu=0 addr=1 level=4", "level 4 out of range 1..3", "value out of range"},
	{"map vcpu=0 addr=1 level=0", "level 0 out of range 1..3", "value out of range"},
	{"prepare_zap gfn=0 level=5 direct", "level 5 out of range 1..4", "value out of range"},
	{"map vcpu=64 addr=1 level=1", "vcpu 64 out of range 0..63", "value out of range"},
	{"map vcpu=4294967296 addr=1 level=1", "vcpu 4294967296 out of range 0..63", "value out of range"},
	{"gpt_write table=1 index=512 pte=0", "index 512 out of range 0..511", "value out of range"},
	{"root_load vcpu=0 as=2", "as 2 out of range 0..1", "value out of range"},
	{"slot_delete slot=0x20000", "slot 0x20000 out of range (address space must be 0 or 1)",
	 "value out of range"},
	{"map vcpu=0 addr=0x10000000000 level=1",
	 "addr 0x10000000000 out of range (page numbers are below 2^40)", "value out of range"},
	{"clear_dirty_log slot=0 first=65 mask=1", "first 0x41 not a multiple of 64", "value out of range"},
	{"slot_add slot=0 gfn=0 pages=0 hva=0", "pages 0x0 out of range 1..2^40", "value out of range"},
	{"slot_add slot=0 gfn=0 pages=1 hva=0x123", "hva 0x123 not page-aligned", "value out of range"},
	{"zap_range gfn=0xffffffffff pages=2", "gfn 0xffffffffff + pages 0x2 runs past 2^40 pages",
	 "value out of range"},
	{"unmap_hva start=0x2000 end=0x1000", "end 0x1000 not above start 0x2000", "value out of range"},
	{"clear_young start=0x2000 end=0x2000", "end 0x2000 not above start 0x2000", "value out of range"},
	{"map vcpu=0 addr=1 level=1 r", "unknown flag 'r' for map", "unknown flag"},
	{"commit_zap direct", "unknown flag 'direct' for commit_zap", "unknown flag"},
	{"map vcpu=0 addr=1 level=1 w w", "duplicate flag 'w'", "duplicate flag"},
	{"map vcpu= addr=1 level=1", "malformed field 'vcpu=' (expected key=value)", "malformed field"},
	{"map =1 addr=1 level=1", "malformed field '=1' (expected key=value)", "malformed field"},
	{"root_load vcpu=0 as=0 cr3=0x10", "root_load takes as= (direct) or cr3= (indirect), not both",
	 "conflicting keys"},
};

static void test_malformed_lines(void **state)
{
	char detail[256];
	struct eptf_op op;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(eptf_op_parse_detail(bad[i].line, strlen(bad[i].line), &op, detail,
						      sizeof(detail)),
				 EPTF_EPARSE);
		assert_string_equal(detail, bad[i].detail);
		assert_int_equal(eptf_op_parse(bad[i].line, &op, &why), EPTF_EPARSE);
		assert_string_equal(why, bad[i].why);
	}
}

static void test_parse_detail_needs_no_nul(void **state)
{
	const char text[] = "sync vcpu=3GARBAGE";
	char detail[128];
	struct eptf_op op;

	(void)state;
	assert_int_equal(eptf_op_parse_detail(text, strlen("sync vcpu=3"), &op, detail, sizeof(detail)), 0);
	assert_int_equal(op.kind, EPTF_OP_SYNC);
	assert_int_equal(op.vcpu, 3);
}

static void test_format_refuses_invalid(void **state)
{
	char buf[256], detail[256];
	struct eptf_op op;

	(void)state;
	op = mk(EPTF_OP_NONE, 0, 0, 0, 0, 0, 0, 0);
	assert_int_equal(eptf_op_format(&op, buf, sizeof(buf)), EPTF_EINVAL);
	op = mk(EPTF_OP_KIND_COUNT, 0, 0, 0, 0, 0, 0, 0);
	assert_int_equal(eptf_op_format(&op, buf, sizeof(buf)), EPTF_EINVAL);
	/* a field the kind does not use */
	op = mk(EPTF_OP_SYNC, 1, 0, 0, 0, 5, 0, 0);
	assert_int_equal(eptf_op_validate(&op, detail, sizeof(detail)), EPTF_EINVAL);
	assert_string_equal(detail, "sync: field addr is not used by this op and must be 0");
	assert_int_equal(eptf_op_format(&op, buf, sizeof(buf)), EPTF_EINVAL);
	op = mk(EPTF_OP_COMMIT_ZAP, 0, 0, 0, EPTF_OPF_DIRECT, 0, 0, 0);
	assert_int_equal(eptf_op_validate(&op, detail, sizeof(detail)), EPTF_EINVAL);
	assert_string_equal(detail, "commit_zap: flags 0x4 not used by this op");
	/* the slot flag bits mean nothing on a map */
	op = mk(EPTF_OP_MAP, 0, 0, 1, 0x08, 1, 0, 0);
	assert_int_equal(eptf_op_format(&op, buf, sizeof(buf)), EPTF_EINVAL);
	op = mk(EPTF_OP_MAP, 0, 0, 4, 0, 1, 0, 0);
	assert_int_equal(eptf_op_validate(&op, detail, sizeof(detail)), EPTF_EINVAL);
	assert_string_equal(detail, "level 4 out of range 1..3");
	op = mk(EPTF_OP_GPT_WRITE, 0, 0, 0, 0, 1, 512, 0);
	assert_int_equal(eptf_op_format(&op, buf, sizeof(buf)), EPTF_EINVAL);
	/* too small a buffer */
	op = mk(EPTF_OP_SYNC, 1, 0, 0, 0, 0, 0, 0);
	assert_int_equal(eptf_op_format(&op, buf, 6), EPTF_ENOSPC);
	assert_int_equal(eptf_op_format(&op, buf, 11), EPTF_ENOSPC);
	assert_int_equal(eptf_op_format(&op, buf, 12), 11);
}

/* ---- property: random valid ops round-trip exactly ------------------------ */

static uint64_t rs = 0x1234567;
static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

/* a value of "interesting" size: small, near a limit, or anything */
static uint64_t rval(uint64_t limit)
{
	switch (rnd() % 4) {
	case 0: return rnd() % 16 % limit;
	case 1: return limit - 1 - rnd() % 4 % limit;
	default: return rnd() % limit;
	}
}

static void random_op(struct eptf_op *op)
{
	memset(op, 0, sizeof(*op));
	op->kind = 1 + (uint32_t)(rnd() % (EPTF_OP_KIND_COUNT - 1));
	switch (op->kind) {
	case EPTF_OP_SLOT_ADD:
		op->addr = rval(EPTF_TRACE_PAGE_LIMIT);
		op->count = 1 + rval(EPTF_TRACE_PAGE_LIMIT - op->addr);
		op->value = rnd() & ~0xfffull;
		/* fall through */
	case EPTF_OP_SLOT_FLAGS:
		op->flags = (uint8_t)(rnd() % 4);
		/* fall through */
	case EPTF_OP_SLOT_DELETE:
	case EPTF_OP_GET_DIRTY_LOG:
		op->slot = (uint32_t)rval(0x20000);
		break;
	case EPTF_OP_SLOT_MOVE:
		op->slot = (uint32_t)rval(0x20000);
		op->addr = rval(EPTF_TRACE_PAGE_LIMIT);
		break;
	case EPTF_OP_ROOT_LOAD:
		op->vcpu = (uint32_t)rval(EPTF_MAX_VCPUS);
		if (rnd() % 2) {
			op->flags = EPTF_OPF_DIRECT;
			op->addr = rnd() % 2;
		} else {
			op->addr = rval(EPTF_TRACE_PAGE_LIMIT);
		}
		break;
	case EPTF_OP_MAP:
		op->level = (uint8_t)(1 + rnd() % 3);
		/* fall through */
	case EPTF_OP_ACCESS:
		op->vcpu = (uint32_t)rval(EPTF_MAX_VCPUS);
		op->addr = rval(EPTF_TRACE_PAGE_LIMIT);
		op->flags = (uint8_t)(rnd() % 4);
		break;
	case EPTF_OP_ZAP_RANGE:
		op->addr = rval(EPTF_TRACE_PAGE_LIMIT);
		op->count = 1 + rval(EPTF_TRACE_PAGE_LIMIT - op->addr);
		break;
	case EPTF_OP_PREPARE_ZAP:
		op->addr = rval(EPTF_TRACE_PAGE_LIMIT);
		op->level = (uint8_t)(1 + rnd() % 4);
		op->flags = rnd() % 2 ? EPTF_OPF_DIRECT : 0;
		break;
	case EPTF_OP_COMMIT_ZAP:
		break;
	case EPTF_OP_CLEAR_DIRTY_LOG:
		op->slot = (uint32_t)rval(0x20000);
		op->addr = rval(EPTF_TRACE_PAGE_LIMIT) & ~63ull;
		op->value = rnd();
		break;
	case EPTF_OP_WP_GFN:
		op->addr = rval(EPTF_TRACE_PAGE_LIMIT);
		break;
	case EPTF_OP_CLEAR_FLUSH_YOUNG:
	case EPTF_OP_CLEAR_YOUNG:
	case EPTF_OP_UNMAP_HVA:
		op->addr = rval(UINT64_MAX);
		op->count = op->addr + 1 + rval(UINT64_MAX - op->addr);
		break;
	case EPTF_OP_GPT_WRITE:
		op->addr = rval(EPTF_TRACE_PAGE_LIMIT);
		op->count = rval(512);
		op->value = rnd() % 3 ? rnd() : 0;
		break;
	case EPTF_OP_SYNC:
		op->vcpu = (uint32_t)rval(EPTF_MAX_VCPUS);
		break;
	}
}

static void test_random_roundtrip(void **state)
{
	char buf[EPTF_TRACE_MAX_LINE + 1], detail[256];
	unsigned per_kind[EPTF_OP_KIND_COUNT] = {0};
	struct eptf_op op, back;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		random_op(&op);
		assert_int_equal(eptf_op_validate(&op, detail, sizeof(detail)), 0);
		int n = eptf_op_format(&op, buf, sizeof(buf));
		assert_true(n > 0 && n < 160);
		assert_int_equal(eptf_op_parse_detail(buf, (size_t)n, &back, detail, sizeof(detail)), 0);
		assert_op_same(&op, &back);
		per_kind[op.kind]++;
	}
	for (uint32_t k = 1; k < EPTF_OP_KIND_COUNT; k++)
		assert_true(per_kind[k] > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_lines),
		cmocka_unit_test(test_lenient_spelling),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_parse_detail_needs_no_nul),
		cmocka_unit_test(test_format_refuses_invalid),
		cmocka_unit_test(test_random_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
