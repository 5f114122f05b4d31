/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Golden encodings of the TLFS wire formats: control word, result word and
 * hv_gpa_page_range in both forms. Each golden value is annotated field by
 * field (layout: include/eptflush/hv.h; sources: TLFS "Hypercall Interface",
 * Linux include/hyperv/hvgdk_mini.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <eptflush/hv.h>

static void test_control_build_golden(void **state)
{
	(void)state;
	struct eptf_hv_control c = {.code = EPTF_HVCALL_FLUSH_GPA_LIST, .rep_count = 510};

	/*
	 * 0x000001fe000000b0:
	 *   15:0  code      = 0x00b0 (HvCallFlushGuestPhysicalAddressList)
	 *   16    fast      = 0
	 *   26:17 varhead   = 0
	 *   43:32 rep count = 0x1fe (510)
	 *   59:48 rep start = 0
	 */
	assert_int_equal(eptf_hv_control_build(&c), 0x000001fe000000b0ull);

	/*
	 * 0x010001fe000000b0: as above with 59:48 rep start = 0x100 (256), the
	 * continuation after 256 reps completed.
	 */
	c.rep_start = 0x100;
	assert_int_equal(eptf_hv_control_build(&c), 0x010001fe000000b0ull);

	/*
	 * 0x00000000000000af: 15:0 code = 0x00af (HvCallFlushGuestPhysicalAddressSpace),
	 * every other field 0: a simple, slow call with a 16-byte input.
	 */
	struct eptf_hv_control s = {.code = EPTF_HVCALL_FLUSH_GPA_SPACE};
	assert_int_equal(eptf_hv_control_build(&s), 0xafull);

	/*
	 * 0x0fff0fff07ff0001: code = 0x0001 | fast bit 16 = 1 | varhead 26:17 =
	 * 0x3ff | rep count 43:32 = 0xfff | rep start 59:48 = 0xfff; bits 31:27,
	 * 47:44, 63:60 (RsvdZ) stay 0.
	 */
	struct eptf_hv_control m = {
		.code = 1, .fast = true, .varhead_size = 0x3ff, .rep_count = 0xfff, .rep_start = 0xfff};
	assert_int_equal(eptf_hv_control_build(&m), 0x0fff0fff07ff0001ull);

	/* Too-wide fields are truncated to their bit ranges, never spill into reserved bits. */
	struct eptf_hv_control w = {.code = 0xb0, .varhead_size = 0xffff, .rep_count = 0xffff,
				    .rep_start = 0xffff};
	assert_int_equal(eptf_hv_control_build(&w) & EPTF_HV_CTL_RESERVED_MASK, 0);
	assert_int_equal(eptf_hv_control_build(&w), 0x0fff0fff07fe00b0ull);
}

static void test_control_parse_golden(void **state)
{
	(void)state;
	struct eptf_hv_control c;

	/*
	 * 0x0003000500020000 | 0xb0: code 0xb0, fast 0, varhead 26:17 = 1
	 * (bit 17), rep count 43:32 = 5, rep start 59:48 = 3.
	 */
	eptf_hv_control_parse(0x00030005000200b0ull, &c);
	assert_int_equal(c.code, 0xb0);
	assert_false(c.fast);
	assert_int_equal(c.varhead_size, 1);
	assert_int_equal(c.rep_count, 5);
	assert_int_equal(c.rep_start, 3);
	assert_int_equal(c.reserved, 0);

	/* every reserved bit set (31:27, 47:44, 63:60) and nothing else */
	eptf_hv_control_parse(0xf000f000f8000000ull, &c);
	assert_int_equal(c.code, 0);
	assert_false(c.fast);
	assert_int_equal(c.varhead_size, 0);
	assert_int_equal(c.rep_count, 0);
	assert_int_equal(c.rep_start, 0);
	assert_int_equal(c.reserved, 0xf000f000f8000000ull);

	/* bit 16 alone is the fast bit */
	eptf_hv_control_parse(0x100afull, &c);
	assert_true(c.fast);
	assert_int_equal(c.code, 0xaf);

	/* parse(build(x)) == x for every in-range field combination we try */
	for (unsigned i = 0; i < 4096; i += 7) {
		struct eptf_hv_control in = {.code = (uint16_t)(i * 31),
					     .fast = i & 1,
					     .varhead_size = (uint16_t)(i & 0x3ff),
					     .rep_count = (uint16_t)i,
					     .rep_start = (uint16_t)(4095 - i)},
				       out;
		eptf_hv_control_parse(eptf_hv_control_build(&in), &out);
		assert_int_equal(out.code, in.code);
		assert_int_equal(out.fast, in.fast);
		assert_int_equal(out.varhead_size, in.varhead_size);
		assert_int_equal(out.rep_count, in.rep_count);
		assert_int_equal(out.rep_start, in.rep_start);
		assert_int_equal(out.reserved, 0);
	}
}

static void test_result_golden(void **state)
{
	(void)state;
	/* 0x000001fe00000000: 15:0 status = 0 (SUCCESS), 43:32 reps completed = 510 */
	assert_int_equal(eptf_hv_result_build(EPTF_HV_STATUS_SUCCESS, 510), 0x000001fe00000000ull);
	/* 0x0000000300000005: status = 5 (INVALID_PARAMETER), reps completed = 3 */
	assert_int_equal(eptf_hv_result_build(EPTF_HV_STATUS_INVALID_PARAMETER, 3),
			 0x0000000300000005ull);
	/* reps wider than 12 bits are truncated (0x1001 -> 1) */
	assert_int_equal(eptf_hv_result_build(0, 0x1001), 0x0000000100000000ull);

	/* parse ignores the reserved bits 31:16 and 63:44 */
	uint64_t r = 0xfffff7ffffff0078ull; /* status 0x78 TIME_OUT, reps 0x7ff */
	assert_int_equal(eptf_hv_result_status(r), 0x78);
	assert_int_equal(eptf_hv_result_reps(r), 0x7ff);
}

static void test_status_names(void **state)
{
	(void)state;
	assert_string_equal(eptf_hv_status_name(0), "HV_STATUS_SUCCESS");
	assert_string_equal(eptf_hv_status_name(2), "HV_STATUS_INVALID_HYPERCALL_CODE");
	assert_string_equal(eptf_hv_status_name(3), "HV_STATUS_INVALID_HYPERCALL_INPUT");
	assert_string_equal(eptf_hv_status_name(4), "HV_STATUS_INVALID_ALIGNMENT");
	assert_string_equal(eptf_hv_status_name(5), "HV_STATUS_INVALID_PARAMETER");
	assert_string_equal(eptf_hv_status_name(6), "HV_STATUS_ACCESS_DENIED");
	assert_string_equal(eptf_hv_status_name(7), "HV_STATUS_INVALID_PARTITION_STATE");
	assert_string_equal(eptf_hv_status_name(8), "HV_STATUS_OPERATION_DENIED");
	assert_string_equal(eptf_hv_status_name(0xb), "HV_STATUS_INSUFFICIENT_MEMORY");
	assert_string_equal(eptf_hv_status_name(0x78), "HV_STATUS_TIME_OUT");
	assert_null(eptf_hv_status_name(1));
	assert_null(eptf_hv_status_name(0xffff));
}

struct golden_entry {
	uint64_t gfn;
	uint32_t units;
	enum eptf_hv_unit unit;
	uint64_t raw;
	uint64_t pages;
};

/* Each raw value annotated: additional_pages 10:0, largepage 11, then the base. */
static const struct golden_entry goldens[] = {
	/* 0x0000000000000000: additional 0 (1 page), largepage 0, basepfn 0 */
	{0, 1, EPTF_HV_UNIT_4K, 0x0000000000000000ull, 1},
	/* 0x00000000123457ff: additional 0x7ff (2048 pages), largepage 0, basepfn 0x12345 */
	{0x12345, 2048, EPTF_HV_UNIT_4K, 0x00000000123457ffull, 2048},
	/* 0x0000000000001001: additional 1 (2 pages), largepage 0, basepfn 1 */
	{1, 2, EPTF_HV_UNIT_4K, 0x0000000000001001ull, 2},
	/* 0xfffffffffffff000: additional 0, largepage 0, basepfn 2^52 - 1 (last frame) */
	{0xfffffffffffffull, 1, EPTF_HV_UNIT_4K, 0xfffffffffffff000ull, 1},
	/* 0x0000000000200800: additional 0 (1 unit), largepage 1, page_size 12 = 0
	 * (2 MiB), reserved 20:13 = 0, base_large_pfn 63:21 = 1 (GPA 2 MiB = gfn 0x200) */
	{0x200, 1, EPTF_HV_UNIT_2M, 0x0000000000200800ull, 512},
	/* 0x0000000000400802: additional 2 (3 units), largepage 1, page_size 0 (2 MiB),
	 * base_large_pfn 2 (GPA 4 MiB = gfn 0x400); covers 1536 frames */
	{0x400, 3, EPTF_HV_UNIT_2M, 0x0000000000400802ull, 1536},
	/* 0x0000000040001801: additional 1 (2 units), largepage 1, page_size 1 (1 GiB),
	 * base_large_pfn 0x200 (GPA 1 GiB = gfn 0x40000) */
	{0x40000, 2, EPTF_HV_UNIT_1G, 0x0000000040001801ull, 2ull << 18},
	/* 0x0000000000001fff: additional 0x7ff (2048 units), largepage 1, page_size 1
	 * (1 GiB), base 0: 2 TiB from GPA 0 */
	{0, 2048, EPTF_HV_UNIT_1G, 0x0000000000001fffull, 2048ull << 18},
	/* 0xffffffffffe00800: additional 0, largepage 1, page_size 0 (2 MiB),
	 * base_large_pfn 2^43 - 1: the last 2 MiB of the 52-bit frame space */
	{0xffffffffffe00ull, 1, EPTF_HV_UNIT_2M, 0xffffffffffe00800ull, 512},
};

static void test_entry_golden(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden_entry *g = &goldens[i];
		uint64_t raw = 0;
		struct eptf_hv_entry e;

		assert_int_equal(eptf_hv_entry_encode(g->gfn, g->units, g->unit, &raw), 0);
		assert_int_equal(raw, g->raw);
		assert_int_equal(eptf_hv_entry_decode(g->raw, &e), 0);
		assert_int_equal(e.gfn, g->gfn);
		assert_int_equal(e.pages, g->pages);
		assert_int_equal(e.unit, g->unit);
		assert_int_equal(e.units, g->units);
	}
}

static void test_entry_encode_errors(void **state)
{
	(void)state;
	uint64_t raw = 0x5a5a;

	/* unit counts out of 1..2048 */
	assert_int_equal(eptf_hv_entry_encode(0, 0, EPTF_HV_UNIT_4K, &raw), EPTF_EINVAL);
	assert_int_equal(eptf_hv_entry_encode(0, 2049, EPTF_HV_UNIT_4K, &raw), EPTF_EINVAL);
	assert_int_equal(eptf_hv_entry_encode(0, 2049, EPTF_HV_UNIT_1G, &raw), EPTF_EINVAL);
	/* misaligned large bases */
	assert_int_equal(eptf_hv_entry_encode(1, 1, EPTF_HV_UNIT_2M, &raw), EPTF_EINVAL);
	assert_int_equal(eptf_hv_entry_encode(0x200, 1, EPTF_HV_UNIT_1G, &raw), EPTF_EINVAL);
	assert_int_equal(eptf_hv_entry_encode(0x3fe00, 1, EPTF_HV_UNIT_1G, &raw), EPTF_EINVAL);
	/* unknown unit */
	assert_int_equal(eptf_hv_entry_encode(0, 1, (enum eptf_hv_unit)7, &raw), EPTF_EINVAL);
	/* past 2^52 frames */
	assert_int_equal(eptf_hv_entry_encode(1ull << 52, 1, EPTF_HV_UNIT_4K, &raw), EPTF_EGPARANGE);
	assert_int_equal(eptf_hv_entry_encode((1ull << 52) - 1, 2, EPTF_HV_UNIT_4K, &raw),
			 EPTF_EGPARANGE);
	assert_int_equal(eptf_hv_entry_encode((1ull << 52) - 512, 2, EPTF_HV_UNIT_2M, &raw),
			 EPTF_EGPARANGE);
	assert_int_equal(eptf_hv_entry_encode((1ull << 52) - (1ull << 18), 2, EPTF_HV_UNIT_1G, &raw),
			 EPTF_EGPARANGE);
	assert_int_equal(raw, 0x5a5a); /* untouched on every error */
	/* exactly reaching 2^52 is fine */
	assert_int_equal(eptf_hv_entry_encode((1ull << 52) - 2048, 2048, EPTF_HV_UNIT_4K, &raw), 0);
}

static void test_entry_decode_errors(void **state)
{
	(void)state;
	struct eptf_hv_entry e;

	/* a large entry with any reserved bit 20:13 set */
	for (unsigned bit = 13; bit <= 20; bit++) {
		assert_int_equal(eptf_hv_entry_decode(0x0000000000200800ull | (1ull << bit), &e),
				 EPTF_EINVAL);
	}
	/* 1 GiB entry with base_large_pfn 1 (GPA 2 MiB): not 1 GiB aligned */
	assert_int_equal(eptf_hv_entry_decode(0x0000000000201800ull, &e), EPTF_EINVAL);
	/* the same bits in a small entry are part of basepfn: valid */
	assert_int_equal(eptf_hv_entry_decode(0x00000000001fe000ull, &e), 0);
	assert_int_equal(e.gfn, 0x1fe);
	assert_int_equal(e.pages, 1);
	/* every raw small entry decodes, basepfn = raw >> 12 */
	assert_int_equal(eptf_hv_entry_decode(~0ull & ~(1ull << 11), &e), 0);
	assert_int_equal(e.gfn, 0xfffffffffffffull);
	assert_int_equal(e.pages, 2048);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_build_golden),
		cmocka_unit_test(test_control_parse_golden),
		cmocka_unit_test(test_result_golden),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_entry_golden),
		cmocka_unit_test(test_entry_encode_errors),
		cmocka_unit_test(test_entry_decode_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
