/* SPDX-License-Identifier: BSD-2-Clause */
/* eptflush: subcommand dispatch. The table comes from cli/cmd-*.c. */
#include <stddef.h>
#include <string.h>

#include "cli.h"
#include "eptf_cmds.h"

static const struct eptf_cmd *const commands[] = {EPTF_CMD_TABLE};

static void usage(FILE *f)
{
	fprintf(f, "usage: eptflush <command> [options]\n\n"
		   "Model and measure Hyper-V range-list EPT flushes for KVM running nested.\n\n"
		   "commands:\n");
	for (size_t i = 0; commands[i]; i++)
		fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\n'eptflush <command> --help' describes one command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EPTF_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EPTF_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("eptflush 0.1.0\n");
		return EPTF_EXIT_OK;
	}
	for (size_t i = 0; commands[i]; i++)
		if (!strcmp(argv[1], commands[i]->name))
			return commands[i]->run(argc - 1, argv + 1);
	fprintf(stderr, "eptflush: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EPTF_EXIT_USAGE;
}
