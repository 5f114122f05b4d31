/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * full: HvCallFlushGuestPhysicalAddressSpace (0x00AF) for every root at
 * every flush point -- KVM on Hyper-V without any range support
 * (hv_flush_remote_tlbs() in arch/x86/kvm/kvm_onhyperv.c).
 */
#include "internal.h"

static int full_flush(struct eptf_flush_ctx *ctx, const struct eptf_flush_point *fp)
{
	ctx->stats.flush_points++;
	return eptf_flush_full(ctx, fp);
}

const struct eptf_strategy eptf_strategy_full = {
	.name = "full",
	.summary = "a full flush (0x00AF) of every root at every flush point",
	.correct = true,
	.flush = full_flush,
};
