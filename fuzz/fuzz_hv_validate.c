/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for the parent-side validator (security-relevant: it
 * reads an untrusted guest page). Input layout:
 *   bytes 0-7   control word, little-endian
 *   byte 8      cfg: bits 5:0 gpa_bits (0 = default), bit 6 allow_large
 *   bytes 9-    the input page as the guest wrote it (any length)
 * ASan catches any read outside the input; the invariants below catch a
 * SUCCESS that should not have been one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <eptflush/hv.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "fuzz_hv_validate: invariant failed: %s\n", #cond); \
			abort();                                                      \
		}                                                                     \
	} while (0)

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static struct eptf_hv_request req;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eptf_hv_validate_cfg cfg;
	struct eptf_hv_control c;
	const uint8_t *in;
	size_t len;
	uint64_t control;

	if (size < 9)
		return 0;
	control = le64(data);
	cfg.gpa_bits = data[8] & 0x3f;
	cfg.allow_large = (data[8] >> 6) & 1;
	in = size > 9 ? data + 9 : NULL;
	len = size - 9;

	uint16_t st = eptf_hv_validate(control, in, len, &cfg, &req);

	/* only the statuses the contract lists */
	CHECK(st == EPTF_HV_STATUS_SUCCESS || st == EPTF_HV_STATUS_INVALID_HYPERCALL_CODE ||
	      st == EPTF_HV_STATUS_INVALID_HYPERCALL_INPUT || st == EPTF_HV_STATUS_INVALID_ALIGNMENT ||
	      st == EPTF_HV_STATUS_INVALID_PARAMETER);
	/* deterministic, and the same without an output */
	CHECK(eptf_hv_validate(control, in, len, &cfg, NULL) == st);
	if (st != EPTF_HV_STATUS_SUCCESS)
		return 0;

	eptf_hv_control_parse(control, &c);
	CHECK(c.reserved == 0 && c.varhead_size == 0);
	CHECK(req.code == c.code);
	CHECK(len >= EPTF_HV_LIST_HEADER_SIZE);
	CHECK(req.address_space == le64(in));
	CHECK(le64(in + 8) == 0); /* flags */
	if (req.code == EPTF_HVCALL_FLUSH_GPA_SPACE) {
		CHECK(c.rep_count == 0 && c.rep_start == 0 && req.nranges == 0);
		return 0;
	}
	CHECK(req.code == EPTF_HVCALL_FLUSH_GPA_LIST);
	CHECK(!c.fast);
	CHECK(req.rep_count == c.rep_count && req.rep_start == c.rep_start);
	CHECK(req.rep_count >= 1 && req.rep_count <= EPTF_HV_MAX_FLUSH_REP_COUNT);
	CHECK(req.rep_start < req.rep_count);
	CHECK(req.nranges == req.rep_count - req.rep_start);
	CHECK(len >= EPTF_HV_LIST_HEADER_SIZE + 8u * req.rep_count);

	unsigned bits = cfg.gpa_bits == 0 ? 64 : cfg.gpa_bits;
	uint64_t limit = bits <= 12 ? 0 : 1ull << (bits - 12);

	for (unsigned i = 0; i < req.nranges; i++) {
		const struct eptf_hv_range *r = &req.ranges[i];
		uint64_t raw = le64(in + EPTF_HV_LIST_HEADER_SIZE + 8u * (req.rep_start + i));
		struct eptf_hv_entry e;

		/* within the guest-physical width, never empty */
		CHECK(r->pages >= 1);
		CHECK(r->gfn < limit && r->pages <= limit - r->gfn);
		/* exactly what the entry says */
		CHECK(eptf_hv_entry_decode(raw, &e) == 0);
		CHECK(e.gfn == r->gfn && e.pages == r->pages);
		if (!cfg.allow_large) {
			CHECK(!(raw & EPTF_HV_ENTRY_LARGE_BIT));
			CHECK(r->pages <= EPTF_HV_MAX_FLUSH_PAGES);
		} else if (e.unit != EPTF_HV_UNIT_4K) {
			CHECK((raw & EPTF_HV_ENTRY_LARGE_RESERVED) == 0);
			CHECK(r->gfn % eptf_hv_unit_pages(e.unit) == 0);
		}
		/* re-encoding gives the same entry */
		uint64_t again = 0;
		CHECK(eptf_hv_entry_encode(e.gfn, e.units, e.unit, &again) == 0);
		CHECK(again == raw);
	}
	return 0;
}
