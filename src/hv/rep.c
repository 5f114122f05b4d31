/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The rep-hypercall driver, after Linux's hv_do_rep_hypercall()
 * (include/asm-generic/mshyperv.h; seed-series.md section 4): the hypervisor
 * may return early (the TLFS bounds one invocation to about 50 us) with
 * SUCCESS and the total number of reps completed in result bits 43:32; the
 * caller re-issues the same call with rep start (control bits 59:48) set to
 * that count until all reps are done, and stops at the first non-success
 * status. Unlike Linux we also stop when a parent reports no progress or an
 * inconsistent count, so a broken transport cannot make us loop forever.
 */
#include <eptflush/hv.h>

#include "hv/wire_priv.h"

static inline void info_set(struct eptf_hv_call_info *info, uint16_t status, uint16_t reps,
			    uint32_t issues)
{
	if (!info)
		return;
	info->status = status;
	info->reps_done = reps;
	info->issues = issues;
}

/*
 * The rest of a rep call whose first issue (rep start 0, control word
 * @base) returned @result without completing every rep in one go: check
 * the result, re-issue from the reps done, and so on.
 */
static __attribute__((noinline)) int rep_more(const struct eptf_hv_transport *t, uint64_t base,
					      uint16_t rep_count, const void *input, size_t input_len,
					      struct eptf_hv_call_info *info, uint64_t result)
{
	uint16_t start = 0;
	uint32_t issues = 1;

	for (;;) {
		uint16_t status = eptf_hv__result_status(result);
		uint16_t done = eptf_hv__result_reps(result);

		if (status != EPTF_HV_STATUS_SUCCESS) {
			/* a failing call's count is the parent's word on what was done */
			info_set(info, status, done, issues);
			return EPTF_EHV;
		}
		if (done == rep_count) {
			info_set(info, status, done, issues);
			return 0;
		}
		if (done <= start || done > rep_count) {
			/* no progress, backwards, or past the end: do not trust it */
			info_set(info, status, start, issues);
			return EPTF_EHV;
		}
		start = done;
		/* only the rep start (bits 59:48) changes between issues */
		result = t->hypercall(t->ctx, base | ((uint64_t)start << EPTF_HV__CTL_REP_START_SHIFT), input,
				      input_len);
		issues++;
	}
}

/*
 * The driver, with @t, @t->hypercall and 1 <= @rep_count <= 4095 already
 * checked. The first issue completing every rep (every call unless the
 * parent cuts it short) returns here; the rest is rep_more().
 */
static inline int rep_loop(const struct eptf_hv_transport *t, uint16_t code, uint16_t rep_count,
			   const void *input, size_t input_len, struct eptf_hv_call_info *info)
{
	struct eptf_hv_control c = {.code = code, .rep_count = rep_count};
	uint64_t base = eptf_hv__control_build(&c); /* rep start 0 */
	uint64_t result = t->hypercall(t->ctx, base, input, input_len);

	if (eptf_hv__result_status(result) == EPTF_HV_STATUS_SUCCESS && eptf_hv__result_reps(result) == rep_count) {
		info_set(info, EPTF_HV_STATUS_SUCCESS, rep_count, 1);
		return 0;
	}
	return rep_more(t, base, rep_count, input, input_len, info, result);
}

int eptf_hv_rep_call(const struct eptf_hv_transport *t, uint16_t code, uint16_t rep_count,
		     const void *input, size_t input_len, struct eptf_hv_call_info *info)
{
	if (!t || !t->hypercall || rep_count == 0 || rep_count > EPTF_HV_MAX_REP_COUNT)
		return EPTF_EINVAL;
	return rep_loop(t, code, rep_count, input, input_len, info);
}

int eptf_hv_flush_list_call(const struct eptf_hv_transport *t, const struct eptf_hv_flush_list *list,
			    uint16_t count, struct eptf_hv_call_info *info)
{
	if (!list || count == 0 || count > EPTF_HV_MAX_FLUSH_REP_COUNT)
		return EPTF_EINVAL;
	/* eptf_hv_rep_call(t, 0x00B0, count, ...): count <= 510 is a valid rep count */
	if (!t || !t->hypercall)
		return EPTF_EINVAL;
	return rep_loop(t, EPTF_HVCALL_FLUSH_GPA_LIST, count, list,
			EPTF_HV_LIST_HEADER_SIZE + (size_t)count * sizeof(uint64_t), info);
}

int eptf_hv_flush_space_call(const struct eptf_hv_transport *t, uint64_t address_space,
			     struct eptf_hv_call_info *info)
{
	/* struct hv_guest_mapping_flush { u64 address_space; u64 flags; } */
	uint64_t input[2];
	struct eptf_hv_control c = {.code = EPTF_HVCALL_FLUSH_GPA_SPACE};

	if (!t || !t->hypercall)
		return EPTF_EINVAL;
	input[0] = address_space;
	input[1] = 0;
	uint64_t result = t->hypercall(t->ctx, eptf_hv__control_build(&c), input, sizeof(input));
	uint16_t status = eptf_hv__result_status(result);

	info_set(info, status, 0, 1);
	return status == EPTF_HV_STATUS_SUCCESS ? 0 : EPTF_EHV;
}
