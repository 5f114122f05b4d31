/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The parent-side validator: what a careful L0 does with an untrusted
 * HvCallFlushGuestPhysicalAddressSpace / ...List request before acting on it.
 * Status choices follow the TLFS "Hypercall Interface" section (reserved
 * control bits and bad rep fields -> HV_STATUS_INVALID_HYPERCALL_INPUT; input
 * that is not where/as large as the call says -> HV_STATUS_INVALID_ALIGNMENT;
 * bad field values in the input -> HV_STATUS_INVALID_PARAMETER); see
 * docs/hv-interface.md for the reasoning per class.
 *
 * Security-relevant: the input is read byte by byte, only inside
 * [input, input + input_len), in little-endian order whatever the host, and
 * every length computation is done before any read.
 */
#include <eptflush/hv.h>

#include "hv/wire_priv.h"

/*
 * Little-endian load, byte by byte (any alignment, any host order). Written
 * as one expression so that the compiler merges it into a single 8-byte load
 * on little-endian hosts (a loop of shifts it does not always merge).
 */
static inline uint64_t load_le64(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	       (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	       (uint64_t)p[7] << 56;
}

/* A large entry (bit 11 set), checked and decoded: out of line, it is rare. */
static __attribute__((noinline)) uint16_t check_large(uint64_t raw, uint64_t frame_limit, bool allow_large,
						      struct eptf_hv_range *out)
{
	struct eptf_hv_entry e;

	if (!allow_large)
		return EPTF_HV_STATUS_INVALID_PARAMETER;
	if (eptf_hv_entry_decode(raw, &e) < 0)
		return EPTF_HV_STATUS_INVALID_PARAMETER;
	/* e.gfn < 2^55 and e.pages <= 2^29: no overflow */
	if (e.gfn >= frame_limit || e.pages > frame_limit - e.gfn)
		return EPTF_HV_STATUS_INVALID_PARAMETER;
	out->gfn = e.gfn;
	out->pages = e.pages;
	return EPTF_HV_STATUS_SUCCESS;
}

/*
 * One entry, checked and decoded in place. The small form (bit 11 clear;
 * almost every entry in practice) is decoded here as eptf_hv_entry_decode
 * does, without the call; the large form goes through the decoder.
 */
static inline uint16_t check_entry(uint64_t raw, uint64_t frame_limit, bool allow_large,
				   struct eptf_hv_range *out)
{
	if (!(raw & EPTF_HV_ENTRY_LARGE_BIT)) {
		uint64_t gfn = raw >> 12, pages = (raw & (EPTF_HV_MAX_FLUSH_PAGES - 1)) + 1;

		/*
		 * gfn < 2^52 and 1 <= pages <= 2048: the sum cannot wrap, and
		 * it passes the limit exactly when gfn >= frame_limit or
		 * pages > frame_limit - gfn (the large form's test).
		 */
		if (gfn + pages > frame_limit)
			return EPTF_HV_STATUS_INVALID_PARAMETER;
		out->gfn = gfn;
		out->pages = pages;
		return EPTF_HV_STATUS_SUCCESS;
	}
	return check_large(raw, frame_limit, allow_large, out);
}

uint16_t eptf_hv_validate(uint64_t control, const void *input, size_t input_len,
			  const struct eptf_hv_validate_cfg *cfg, struct eptf_hv_request *out)
{
	static const struct eptf_hv_validate_cfg defaults = {0, false};
	const unsigned char *in = input;
	struct eptf_hv_control c;
	uint64_t frame_limit, address_space, flags;
	unsigned gpa_bits;

	if (!cfg)
		cfg = &defaults;
	if (!in)
		input_len = 0;
	gpa_bits = cfg->gpa_bits == 0 || cfg->gpa_bits > 64 ? 64 : cfg->gpa_bits;
	/* frames below 2^(gpa_bits - 12); 64 bits of GPA is the whole 52-bit frame space */
	frame_limit = gpa_bits <= 12 ? 0 : 1ull << (gpa_bits - 12);

	eptf_hv__control_parse(control, &c);
	if (c.code != EPTF_HVCALL_FLUSH_GPA_SPACE && c.code != EPTF_HVCALL_FLUSH_GPA_LIST)
		return EPTF_HV_STATUS_INVALID_HYPERCALL_CODE;
	if (c.reserved != 0 || c.varhead_size != 0)
		return EPTF_HV_STATUS_INVALID_HYPERCALL_INPUT;

	if (c.code == EPTF_HVCALL_FLUSH_GPA_SPACE) {
		/* a simple call: rep fields must be zero */
		if (c.rep_count != 0 || c.rep_start != 0)
			return EPTF_HV_STATUS_INVALID_HYPERCALL_INPUT;
		if (input_len < EPTF_HV_LIST_HEADER_SIZE)
			return EPTF_HV_STATUS_INVALID_ALIGNMENT;
		address_space = load_le64(in);
		flags = load_le64(in + 8);
		if (flags != 0)
			return EPTF_HV_STATUS_INVALID_PARAMETER;
		if (out) {
			out->code = c.code;
			out->address_space = address_space;
			out->rep_start = 0;
			out->rep_count = 0;
			out->nranges = 0;
		}
		return EPTF_HV_STATUS_SUCCESS;
	}

	/* the list call: a rep call with its input in memory */
	if (c.fast)
		return EPTF_HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (c.rep_count == 0 || c.rep_count > EPTF_HV_MAX_FLUSH_REP_COUNT)
		return EPTF_HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (c.rep_start >= c.rep_count)
		return EPTF_HV_STATUS_INVALID_HYPERCALL_INPUT;
	/* rep_count <= 510, so this is at most 4096 and cannot overflow */
	if (input_len < EPTF_HV_LIST_HEADER_SIZE + (size_t)c.rep_count * 8u)
		return EPTF_HV_STATUS_INVALID_ALIGNMENT;
	address_space = load_le64(in);
	flags = load_le64(in + 8);
	if (flags != 0)
		return EPTF_HV_STATUS_INVALID_PARAMETER;

	/*
	 * One pass: each entry is loaded, checked and (with @out) decoded
	 * straight into out->ranges; without @out into one scratch range,
	 * which @dst does not move from (a step of 0, not a test per entry).
	 */
	{
		struct eptf_hv_range scratch, *dst = out ? out->ranges : &scratch;
		size_t step = out ? 1 : 0;
		const unsigned char *ent = in + EPTF_HV_LIST_HEADER_SIZE + (size_t)c.rep_start * 8u;
		const unsigned char *end = in + EPTF_HV_LIST_HEADER_SIZE + (size_t)c.rep_count * 8u;
		bool allow_large = cfg->allow_large;

		for (; ent < end; ent += 8, dst += step) {
			uint16_t st = check_entry(load_le64(ent), frame_limit, allow_large, dst);

			if (st != EPTF_HV_STATUS_SUCCESS)
				return st;
		}
	}
	if (out) {
		out->code = c.code;
		out->address_space = address_space;
		out->rep_start = c.rep_start;
		out->rep_count = c.rep_count;
		out->nranges = (uint16_t)(c.rep_count - c.rep_start);
	}
	return EPTF_HV_STATUS_SUCCESS;
}
