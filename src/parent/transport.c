// SPDX-License-Identifier: BSD-2-Clause
/*
 * The parent as hypercall target: validate the untrusted control word and
 * input page with libeptflush (eptf_hv_validate, the same decoder a careful
 * hypervisor would use), inject faults if asked, and apply the flush.
 *
 * TLFS: both calls are synchronous ("by the time control returns to the
 * caller, the observable effects of all flushes have occurred"), so the
 * cache changes before the result word is returned. A rep call reports in
 * bits 43:32 of the result the total reps completed (not relative to
 * rep_start); on success with fewer reps than asked the caller re-issues
 * from there (TLFS "Hypercall Continuation"), which eptf_hv_rep_call does.
 */
#include <eptflush/error.h>

#include "parent/parent_priv.h"

/* splitmix64 (Steele, Lea, Flood 2014): small, seedable with any value. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

enum fault { FAULT_NONE, FAULT_HV_ERROR, FAULT_PARTIAL, FAULT_TIMEOUT };

/* One draw per hypercall, so the fault sequence depends only on the seed and the call sequence. */
static enum fault draw_fault(struct eptf_parent *p)
{
	const struct eptf_parent_inject *in = &p->cfg.inject;
	uint64_t r, e = in->hv_error_ppm, pa = in->partial_ppm, t = in->timeout_ppm;

	if (!e && !pa && !t)
		return FAULT_NONE;
	r = rng_next(&p->rng) % 1000000u;
	if (r < e)
		return FAULT_HV_ERROR;
	if (r < e + pa)
		return FAULT_PARTIAL;
	if (r < e + pa + t)
		return FAULT_TIMEOUT;
	return FAULT_NONE;
}

/*
 * Apply the first @k ranges of the validated list request. Entries that
 * continue one another (the Linux filler cuts a range into 2048-page
 * entries) are dropped with one eptf__parent_drop_range() call: removing
 * [a, b) and then [b, c) removes the same leaves, in the same (address)
 * order, as removing [a, c) once, so every count and the TLB free list
 * come out the same. The entry and page counts stay per entry.
 */
static void apply_list(struct eptf_parent *p, const struct eptf_hv_request *rq, uint16_t k)
{
	struct proot *r = eptf__parent_root(p, rq->address_space);
	const struct eptf_hv_range *rg = rq->ranges;
	bool amd = p->cfg.vendor == EPTF_PARENT_AMD;
	uint64_t pages = 0;

	p->st.list_entries += k;
	for (uint16_t i = 0; i < k;) {
		/* validated: gfn + pages <= 2^52, so the sums cannot wrap */
		uint64_t gfn = rg[i].gfn, end = gfn + rg[i].pages;

		for (i++; i < k && rg[i].gfn == end; i++)
			end += rg[i].pages;
		pages += end - gfn;
		if (r)
			eptf__parent_drop_range(p, r, gfn, end - gfn, amd);
	}
	p->st.pages_flushed += pages;
	/* INVEPT has no per-address form: Intel drops the root's whole TLB context. */
	if (!amd && k && r)
		eptf__parent_tlb_clear(p, r);
}

static uint64_t parent_hypercall(void *ctx, uint64_t control, const void *input, size_t input_len)
{
	struct eptf_parent *p = ctx;
	struct eptf_hv_request *rq = &p->req;
	struct eptf_hv_validate_cfg vc = { .gpa_bits = p->cfg.gpa_bits,
					   .allow_large = p->cfg.allow_large };
	struct eptf_hv_control c;
	enum fault f;
	uint16_t status, k;

	p->st.hypercalls++;
	eptf_hv_control_parse(control, &c); /* the call code is counted before validation, like hypercalls */
	if (c.code == EPTF_HVCALL_FLUSH_GPA_LIST)
		p->st.list_hypercalls++;
	status = eptf_hv_validate(control, input, input_len, &vc, rq);
	if (status != EPTF_HV_STATUS_SUCCESS) {
		p->st.rejected++;
		return eptf_hv_result_build(status, 0);
	}
	f = draw_fault(p);
	if (f == FAULT_HV_ERROR) {
		p->st.injected++;
		return eptf_hv_result_build(EPTF_HV_STATUS_INSUFFICIENT_MEMORY, rq->rep_start);
	}
	if (rq->code == EPTF_HVCALL_FLUSH_GPA_SPACE) {
		/* a simple call has no reps to cut short: partial/timeout do not apply */
		struct proot *r = eptf__parent_root(p, rq->address_space);

		p->st.full_flushes++;
		if (r)
			eptf__parent_root_clear(p, r);
		return eptf_hv_result_build(EPTF_HV_STATUS_SUCCESS, 0);
	}
	k = rq->nranges;
	status = EPTF_HV_STATUS_SUCCESS;
	if (f == FAULT_PARTIAL && rq->nranges >= 2) {
		/* at least one rep, fewer than all: the caller must continue */
		k = (uint16_t)(1 + rng_next(&p->rng) % (uint64_t)(rq->nranges - 1));
		p->st.injected++;
	} else if (f == FAULT_TIMEOUT) {
		k = (uint16_t)(rng_next(&p->rng) % rq->nranges);
		status = EPTF_HV_STATUS_TIME_OUT;
		p->st.injected++;
	}
	apply_list(p, rq, k);
	return eptf_hv_result_build(status, (uint16_t)(rq->rep_start + k));
}

struct eptf_hv_transport eptf_parent_transport(struct eptf_parent *p)
{
	struct eptf_hv_transport t = { .hypercall = parent_hypercall, .ctx = p };

	return t;
}
