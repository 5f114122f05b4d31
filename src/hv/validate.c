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

static uint64_t load_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (unsigned i = 8; i-- > 0;)
		v = (v << 8) | p[i];
	return v;
}

static uint16_t check_entry(uint64_t raw, uint64_t frame_limit, const struct eptf_hv_validate_cfg *cfg,
			    struct eptf_hv_range *out)
{
	struct eptf_hv_entry e;

	if ((raw & EPTF_HV_ENTRY_LARGE_BIT) && !cfg->allow_large)
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

	eptf_hv_control_parse(control, &c);
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

	struct eptf_hv_range scratch;
	for (uint16_t i = c.rep_start; i < c.rep_count; i++) {
		uint64_t raw = load_le64(in + EPTF_HV_LIST_HEADER_SIZE + (size_t)i * 8u);
		struct eptf_hv_range *dst = out ? &out->ranges[i - c.rep_start] : &scratch;
		uint16_t st = check_entry(raw, frame_limit, cfg, dst);

		if (st != EPTF_HV_STATUS_SUCCESS)
			return st;
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
