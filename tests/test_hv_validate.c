/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The parent-side validator: one test per malformed-input class listed in
 * hv.h (eptf_hv_validate), plus truncated input, NULL input, rep-start
 * continuation, unaligned buffers, and round trips of pages built by both
 * fillers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eptflush/hv.h>

#define CODE EPTF_HV_STATUS_INVALID_HYPERCALL_CODE
#define INPUT EPTF_HV_STATUS_INVALID_HYPERCALL_INPUT
#define ALIGN EPTF_HV_STATUS_INVALID_ALIGNMENT
#define PARAM EPTF_HV_STATUS_INVALID_PARAMETER
#define OK EPTF_HV_STATUS_SUCCESS

static struct eptf_hv_request req;
static const struct eptf_hv_validate_cfg deflt = {0, false};
static const struct eptf_hv_validate_cfg large = {0, true};

static uint64_t ctl(uint16_t code, uint16_t count, uint16_t start)
{
	struct eptf_hv_control c = {.code = code, .rep_count = count, .rep_start = start};

	return eptf_hv_control_build(&c);
}

static uint64_t list_ctl(uint16_t count)
{
	return ctl(EPTF_HVCALL_FLUSH_GPA_LIST, count, 0);
}

/* A valid list page: address space 0xabc000, entries i -> gfn 0x1000 * i, 1 + i pages. */
static struct eptf_hv_flush_list page;

static void make_page(unsigned n)
{
	page.address_space = 0xabc000;
	page.flags = 0;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(eptf_hv_entry_encode(0x1000ull * i, 1 + i, EPTF_HV_UNIT_4K,
						      &page.gpa_list[i]),
				 0);
}

static size_t len_for(unsigned n)
{
	return 16 + 8 * (size_t)n;
}

static void test_valid_list_and_space(void **state)
{
	(void)state;
	make_page(5);
	assert_int_equal(eptf_hv_validate(list_ctl(5), &page, len_for(5), &deflt, &req), OK);
	assert_int_equal(req.code, 0xb0);
	assert_int_equal(req.address_space, 0xabc000);
	assert_int_equal(req.rep_start, 0);
	assert_int_equal(req.rep_count, 5);
	assert_int_equal(req.nranges, 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(req.ranges[i].gfn, 0x1000ull * i);
		assert_int_equal(req.ranges[i].pages, 1 + i);
	}
	/* a full page: 510 reps, 4096 bytes */
	make_page(510);
	assert_int_equal(eptf_hv_validate(list_ctl(510), &page, sizeof(page), &deflt, &req), OK);
	assert_int_equal(req.nranges, 510);
	/* longer input than needed is fine (the rest of the page) */
	assert_int_equal(eptf_hv_validate(list_ctl(3), &page, sizeof(page), &deflt, &req), OK);
	/* out may be NULL, cfg may be NULL */
	assert_int_equal(eptf_hv_validate(list_ctl(3), &page, sizeof(page), NULL, NULL), OK);

	uint64_t space[2] = {0x777000, 0};
	assert_int_equal(eptf_hv_validate(ctl(0xaf, 0, 0), space, 16, &deflt, &req), OK);
	assert_int_equal(req.code, 0xaf);
	assert_int_equal(req.address_space, 0x777000);
	assert_int_equal(req.nranges, 0);
	/* the fast form of the simple call (16 bytes fit in two registers) */
	assert_int_equal(eptf_hv_validate(ctl(0xaf, 0, 0) | (1ull << 16), space, 16, &deflt, &req), OK);
}

/* INVALID_HYPERCALL_CODE: call code neither 0x00AF nor 0x00B0 */
static void test_bad_code(void **state)
{
	(void)state;
	const uint16_t codes[] = {0x0000, 0x0001, 0x0003, 0x0014, 0x00ae, 0x00b1, 0x01b0, 0xffff};

	make_page(4);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		assert_int_equal(eptf_hv_validate(ctl(codes[i], 4, 0), &page, sizeof(page), &deflt, &req),
				 CODE);
	/* the code is judged first, before reserved bits */
	assert_int_equal(eptf_hv_validate(ctl(0x00b1, 4, 0) | (1ull << 63), &page, sizeof(page), &deflt,
					  &req),
			 CODE);
}

/* INVALID_HYPERCALL_INPUT: reserved control bits 31:27, 47:44, 63:60 */
static void test_reserved_control_bits(void **state)
{
	(void)state;
	make_page(4);
	for (unsigned bit = 0; bit < 64; bit++) {
		uint64_t b = 1ull << bit;

		if (!(b & EPTF_HV_CTL_RESERVED_MASK))
			continue;
		assert_int_equal(eptf_hv_validate(list_ctl(4) | b, &page, sizeof(page), &deflt, &req),
				 INPUT);
		assert_int_equal(eptf_hv_validate(ctl(0xaf, 0, 0) | b, &page, sizeof(page), &deflt, &req),
				 INPUT);
	}
	/* bit 31 is Linux's HV_HYPERCALL_NESTED; reserved for this L0 */
	assert_int_equal(eptf_hv_validate(list_ctl(4) | (1ull << 31), &page, sizeof(page), &deflt, &req),
			 INPUT);
}

/* INVALID_HYPERCALL_INPUT: non-zero variable header size */
static void test_varhead(void **state)
{
	(void)state;
	make_page(4);
	for (unsigned v = 1; v < 1024; v <<= 1) {
		uint64_t w = list_ctl(4) | ((uint64_t)v << 17);
		assert_int_equal(eptf_hv_validate(w, &page, sizeof(page), &deflt, &req), INPUT);
		w = ctl(0xaf, 0, 0) | ((uint64_t)v << 17);
		assert_int_equal(eptf_hv_validate(w, &page, sizeof(page), &deflt, &req), INPUT);
	}
}

/* INVALID_HYPERCALL_INPUT: fast bit on the rep call */
static void test_fast_rep(void **state)
{
	(void)state;
	make_page(1);
	assert_int_equal(eptf_hv_validate(list_ctl(1) | (1ull << 16), &page, sizeof(page), &deflt, &req),
			 INPUT);
}

/* INVALID_HYPERCALL_INPUT: rep fields on the simple call */
static void test_rep_fields_on_simple(void **state)
{
	(void)state;
	uint64_t space[2] = {0x1000, 0};

	assert_int_equal(eptf_hv_validate(ctl(0xaf, 1, 0), space, 16, &deflt, &req), INPUT);
	assert_int_equal(eptf_hv_validate(ctl(0xaf, 0, 1), space, 16, &deflt, &req), INPUT);
	assert_int_equal(eptf_hv_validate(ctl(0xaf, 4095, 4095), space, 16, &deflt, &req), INPUT);
}

/* INVALID_HYPERCALL_INPUT: rep count 0 or over 510 */
static void test_rep_count(void **state)
{
	(void)state;
	static unsigned char big[4096 * 8];

	make_page(510);
	assert_int_equal(eptf_hv_validate(list_ctl(0), &page, sizeof(page), &deflt, &req), INPUT);
	assert_int_equal(eptf_hv_validate(list_ctl(511), &page, sizeof(page), &deflt, &req), INPUT);
	/* even with enough bytes behind it, more than a page's worth is refused */
	assert_int_equal(eptf_hv_validate(list_ctl(4095), big, sizeof(big), &deflt, &req), INPUT);
	assert_int_equal(eptf_hv_validate(list_ctl(510), &page, sizeof(page), &deflt, &req), OK);
}

/* INVALID_HYPERCALL_INPUT: rep start >= rep count */
static void test_rep_start(void **state)
{
	(void)state;
	make_page(8);
	assert_int_equal(eptf_hv_validate(ctl(0xb0, 8, 8), &page, sizeof(page), &deflt, &req), INPUT);
	assert_int_equal(eptf_hv_validate(ctl(0xb0, 8, 9), &page, sizeof(page), &deflt, &req), INPUT);
	assert_int_equal(eptf_hv_validate(ctl(0xb0, 8, 4095), &page, sizeof(page), &deflt, &req), INPUT);
	assert_int_equal(eptf_hv_validate(ctl(0xb0, 8, 7), &page, sizeof(page), &deflt, &req), OK);
	assert_int_equal(req.nranges, 1);
}

/* Continuation: rep start > 0 decodes only entries from rep start on. */
static void test_rep_start_continuation(void **state)
{
	(void)state;
	make_page(5);
	/* entries 0 and 1 are garbage (large entry with reserved bits): already
	 * done by the earlier call, so not read */
	page.gpa_list[0] = 0x0000000000200800ull | (1ull << 15);
	page.gpa_list[1] = 0x0000000000200800ull | (1ull << 20);
	assert_int_equal(eptf_hv_validate(ctl(0xb0, 5, 2), &page, len_for(5), &large, &req), OK);
	assert_int_equal(req.rep_start, 2);
	assert_int_equal(req.rep_count, 5);
	assert_int_equal(req.nranges, 3);
	assert_int_equal(req.ranges[0].gfn, 0x2000);
	assert_int_equal(req.ranges[0].pages, 3);
	assert_int_equal(req.ranges[2].gfn, 0x4000);
	/* from 0 the same page is rejected */
	assert_int_equal(eptf_hv_validate(ctl(0xb0, 5, 0), &page, len_for(5), &large, &req), PARAM);
	/* the input must still hold all rep_count entries */
	assert_int_equal(eptf_hv_validate(ctl(0xb0, 5, 2), &page, len_for(5) - 1, &large, &req), ALIGN);
}

/* INVALID_ALIGNMENT: input shorter than the header plus the reps claimed */
static void test_truncated(void **state)
{
	(void)state;
	uint64_t space[2] = {0x1000, 0};

	make_page(10);
	for (size_t len = 0; len < len_for(10); len++) {
		/* a heap copy of exactly len bytes, so ASan sees any over-read */
		unsigned char *copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, &page, len);
		assert_int_equal(eptf_hv_validate(list_ctl(10), copy, len, &deflt, &req), ALIGN);
		free(copy);
	}
	assert_int_equal(eptf_hv_validate(list_ctl(10), &page, len_for(10), &deflt, &req), OK);
	assert_int_equal(eptf_hv_validate(ctl(0xaf, 0, 0), space, 15, &deflt, &req), ALIGN);
	assert_int_equal(eptf_hv_validate(ctl(0xaf, 0, 0), space, 0, &deflt, &req), ALIGN);
}

/* NULL input with length 0 (and NULL with a length: treated as 0) */
static void test_null_input(void **state)
{
	(void)state;
	assert_int_equal(eptf_hv_validate(list_ctl(1), NULL, 0, &deflt, &req), ALIGN);
	assert_int_equal(eptf_hv_validate(ctl(0xaf, 0, 0), NULL, 0, &deflt, &req), ALIGN);
	assert_int_equal(eptf_hv_validate(list_ctl(1), NULL, 4096, &deflt, &req), ALIGN);
	/* control-word classes are still reported without input */
	assert_int_equal(eptf_hv_validate(ctl(0x1234, 0, 0), NULL, 0, &deflt, &req), CODE);
	assert_int_equal(eptf_hv_validate(list_ctl(0), NULL, 0, &deflt, &req), INPUT);
}

/* INVALID_PARAMETER: flags != 0 */
static void test_flags(void **state)
{
	(void)state;
	uint64_t space[2] = {0x1000, 1};

	make_page(3);
	for (unsigned bit = 0; bit < 64; bit += 9) {
		page.flags = 1ull << bit;
		assert_int_equal(eptf_hv_validate(list_ctl(3), &page, len_for(3), &deflt, &req), PARAM);
	}
	page.flags = 1ull << 63;
	assert_int_equal(eptf_hv_validate(list_ctl(3), &page, len_for(3), &deflt, &req), PARAM);
	assert_int_equal(eptf_hv_validate(ctl(0xaf, 0, 0), space, 16, &deflt, &req), PARAM);
}

/* INVALID_PARAMETER: reserved bits 20:13 in a large entry */
static void test_large_reserved(void **state)
{
	(void)state;
	make_page(3);
	for (unsigned bit = 13; bit <= 20; bit++) {
		for (unsigned idx = 0; idx < 3; idx++) {
			make_page(3);
			page.gpa_list[idx] = 0x0000000000400802ull | (1ull << bit); /* 2M x3 at 4 MiB */
			assert_int_equal(eptf_hv_validate(list_ctl(3), &page, len_for(3), &large, &req),
					 PARAM);
		}
	}
	make_page(3);
	page.gpa_list[1] = 0x0000000000400802ull;
	assert_int_equal(eptf_hv_validate(list_ctl(3), &page, len_for(3), &large, &req), OK);
	assert_int_equal(req.ranges[1].gfn, 0x400);
	assert_int_equal(req.ranges[1].pages, 1536);
}

/* INVALID_PARAMETER: a 1 GiB entry whose base is not 1 GiB aligned */
static void test_large_1g_misaligned(void **state)
{
	(void)state;
	make_page(2);
	/* page_size 1 (bit 12), largepage 1, base_large_pfn 1 (2 MiB) */
	page.gpa_list[1] = 0x0000000000201800ull;
	assert_int_equal(eptf_hv_validate(list_ctl(2), &page, len_for(2), &large, &req), PARAM);
	/* base_large_pfn 0x200 = 1 GiB: fine */
	page.gpa_list[1] = 0x0000000040001800ull;
	assert_int_equal(eptf_hv_validate(list_ctl(2), &page, len_for(2), &large, &req), OK);
	assert_int_equal(req.ranges[1].gfn, 0x40000);
	assert_int_equal(req.ranges[1].pages, 1ull << 18);
}

/* INVALID_PARAMETER: a large entry when the parent does not accept them */
static void test_large_not_allowed(void **state)
{
	(void)state;
	make_page(2);
	page.gpa_list[0] = 0x0000000000200800ull; /* 2M x1 at 2 MiB */
	assert_int_equal(eptf_hv_validate(list_ctl(2), &page, len_for(2), &deflt, &req), PARAM);
	assert_int_equal(eptf_hv_validate(list_ctl(2), &page, len_for(2), &large, &req), OK);
	page.gpa_list[0] = 0x0000000040001800ull; /* 1G x1 at 1 GiB */
	assert_int_equal(eptf_hv_validate(list_ctl(2), &page, len_for(2), &deflt, &req), PARAM);
}

/* INVALID_PARAMETER: a range past the guest-physical width */
static void test_gpa_width(void **state)
{
	(void)state;
	struct eptf_hv_validate_cfg c40 = {40, true}; /* 2^28 frames */

	make_page(1);
	/* last frame under 2^40 bytes: fine; two frames from there: past the width */
	page.gpa_list[0] = ((1ull << 28) - 1) << 12;
	assert_int_equal(eptf_hv_validate(list_ctl(1), &page, len_for(1), &c40, &req), OK);
	page.gpa_list[0] = (((1ull << 28) - 1) << 12) | 1;
	assert_int_equal(eptf_hv_validate(list_ctl(1), &page, len_for(1), &c40, &req), PARAM);
	page.gpa_list[0] = (1ull << 28) << 12;
	assert_int_equal(eptf_hv_validate(list_ctl(1), &page, len_for(1), &c40, &req), PARAM);
	/* a 2M entry covering the last 2 MiB below 2^40, then one reaching past it */
	assert_int_equal(eptf_hv_entry_encode((1ull << 28) - 512, 1, EPTF_HV_UNIT_2M, &page.gpa_list[0]),
			 0);
	assert_int_equal(eptf_hv_validate(list_ctl(1), &page, len_for(1), &c40, &req), OK);
	assert_int_equal(eptf_hv_entry_encode((1ull << 28) - 512, 2, EPTF_HV_UNIT_2M, &page.gpa_list[0]),
			 0);
	assert_int_equal(eptf_hv_validate(list_ctl(1), &page, len_for(1), &c40, &req), PARAM);
	/* default width (52 frame bits): the top frame is fine, running past 2^52 is not */
	page.gpa_list[0] = 0xfffffffffffff000ull;
	assert_int_equal(eptf_hv_validate(list_ctl(1), &page, len_for(1), &deflt, &req), OK);
	page.gpa_list[0] = 0xfffffffffffff001ull;
	assert_int_equal(eptf_hv_validate(list_ctl(1), &page, len_for(1), &deflt, &req), PARAM);
	/* a 1G entry at the top that runs past 2^52 (base_large_pfn all ones but aligned) */
	page.gpa_list[0] = 0xffffffffc0001801ull; /* base 2^52 - 2^18 frames, 2 units */
	assert_int_equal(eptf_hv_validate(list_ctl(1), &page, len_for(1), &large, &req), PARAM);
	/* gpa_bits <= 12: no frame at all is valid; > 64 means 64 */
	struct eptf_hv_validate_cfg tiny = {12, false}, huge = {200, false};
	page.gpa_list[0] = 0;
	assert_int_equal(eptf_hv_validate(list_ctl(1), &page, len_for(1), &tiny, &req), PARAM);
	assert_int_equal(eptf_hv_validate(list_ctl(1), &page, len_for(1), &huge, &req), OK);
}

/* The first failing entry decides; later entries are not needed. */
static void test_order(void **state)
{
	(void)state;
	make_page(4);
	page.flags = 1;
	page.gpa_list[2] = 0x0000000000200800ull | (1ull << 13);
	/* flags checked before entries, both INVALID_PARAMETER */
	assert_int_equal(eptf_hv_validate(list_ctl(4), &page, len_for(4), &large, &req), PARAM);
	/* truncated input beats bad contents */
	assert_int_equal(eptf_hv_validate(list_ctl(4), &page, len_for(4) - 8, &large, &req), ALIGN);
	/* bad control beats truncated input */
	assert_int_equal(eptf_hv_validate(list_ctl(4) | (1ull << 45), &page, 0, &large, &req), INPUT);
}

/* Unaligned and byte-order independent: the same bytes at an odd address. */
static void test_unaligned_bytes(void **state)
{
	(void)state;
	unsigned char buf[1 + 16 + 16];
	/* address_space 0x1122334455667788, flags 0, entries 0x00000000123457ff,
	 * 0x0000000000200800 as little-endian bytes */
	const unsigned char bytes[32] = {
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0x57, 0x34, 0x12, 0,    0,    0,    0,    0, 0x08, 0x20, 0, 0, 0, 0, 0,
	};
	memcpy(buf + 1, bytes, sizeof(bytes));
	assert_int_equal(eptf_hv_validate(list_ctl(2), buf + 1, 32, &large, &req), OK);
	assert_int_equal(req.address_space, 0x1122334455667788ull);
	assert_int_equal(req.ranges[0].gfn, 0x12345);
	assert_int_equal(req.ranges[0].pages, 2048);
	assert_int_equal(req.ranges[1].gfn, 0x200);
	assert_int_equal(req.ranges[1].pages, 512);
}

static uint64_t rng_state = 99;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Round trip: pages the Linux filler builds validate to the ranges it was given. */
static void test_roundtrip_linux(void **state)
{
	(void)state;
	static struct eptf_hv_flush_list l;

	for (int iter = 0; iter < 2000; iter++) {
		uint64_t start = rnd() % ((1ull << 52) - 2000000);
		uint64_t pages = 1 + rnd() % (iter % 2 ? 3000 : 1044480);
		int n;

		l.address_space = rnd() & ~0xfffull;
		l.flags = 0;
		n = eptf_hv_fill_linux(&l, 0, start, pages);
		assert_true(n > 0);
		assert_int_equal(eptf_hv_validate(list_ctl((uint16_t)n), &l, len_for((unsigned)n), &deflt,
						  &req),
				 OK);
		assert_int_equal(req.address_space, l.address_space);
		assert_int_equal(req.nranges, n);
		uint64_t cur = start;
		for (int i = 0; i < n; i++) {
			assert_int_equal(req.ranges[i].gfn, cur);
			cur += req.ranges[i].pages;
		}
		assert_int_equal(cur, start + pages);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_list_and_space),
		cmocka_unit_test(test_bad_code),
		cmocka_unit_test(test_reserved_control_bits),
		cmocka_unit_test(test_varhead),
		cmocka_unit_test(test_fast_rep),
		cmocka_unit_test(test_rep_fields_on_simple),
		cmocka_unit_test(test_rep_count),
		cmocka_unit_test(test_rep_start),
		cmocka_unit_test(test_rep_start_continuation),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_null_input),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_large_reserved),
		cmocka_unit_test(test_large_1g_misaligned),
		cmocka_unit_test(test_large_not_allowed),
		cmocka_unit_test(test_gpa_width),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_unaligned_bytes),
		cmocka_unit_test(test_roundtrip_linux),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
