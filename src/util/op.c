/* SPDX-License-Identifier: BSD-2-Clause */
#include <string.h>

#include <eptflush/op.h>

static const char *const op_names[EPTF_OP_KIND_COUNT] = {
	[EPTF_OP_NONE] = NULL,
	[EPTF_OP_SLOT_ADD] = "slot_add",
	[EPTF_OP_SLOT_DELETE] = "slot_delete",
	[EPTF_OP_SLOT_MOVE] = "slot_move",
	[EPTF_OP_SLOT_FLAGS] = "slot_flags",
	[EPTF_OP_ROOT_LOAD] = "root_load",
	[EPTF_OP_MAP] = "map",
	[EPTF_OP_ACCESS] = "access",
	[EPTF_OP_ZAP_RANGE] = "zap_range",
	[EPTF_OP_PREPARE_ZAP] = "prepare_zap",
	[EPTF_OP_COMMIT_ZAP] = "commit_zap",
	[EPTF_OP_GET_DIRTY_LOG] = "get_dirty_log",
	[EPTF_OP_CLEAR_DIRTY_LOG] = "clear_dirty_log",
	[EPTF_OP_WP_GFN] = "wp_gfn",
	[EPTF_OP_CLEAR_FLUSH_YOUNG] = "clear_flush_young",
	[EPTF_OP_CLEAR_YOUNG] = "clear_young",
	[EPTF_OP_UNMAP_HVA] = "unmap_hva",
	[EPTF_OP_GPT_WRITE] = "gpt_write",
	[EPTF_OP_SYNC] = "sync",
};

const char *eptf_op_name(uint32_t kind)
{
	return kind < EPTF_OP_KIND_COUNT ? op_names[kind] : NULL;
}

uint32_t eptf_op_kind_by_name(const char *name)
{
	for (uint32_t k = 1; k < EPTF_OP_KIND_COUNT; k++)
		if (strcmp(op_names[k], name) == 0)
			return k;
	return EPTF_OP_NONE;
}
