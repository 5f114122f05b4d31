/* SPDX-License-Identifier: BSD-2-Clause */
/* The strategy table, in report order. */
#include <string.h>

#include "internal.h"

const struct eptf_strategy *const eptf_strategies[] = {
	&eptf_strategy_full, &eptf_strategy_mainline,   &eptf_strategy_seed_v2,
	&eptf_strategy_list, &eptf_strategy_list_merge, &eptf_strategy_adaptive,
	NULL,
};

const struct eptf_strategy *eptf_strategy_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; eptf_strategies[i]; i++)
		if (strcmp(eptf_strategies[i]->name, name) == 0)
			return eptf_strategies[i];
	return NULL;
}
