/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The command line. Each subcommand is one cli/cmd-<name>.c defining
 * `const struct eptf_cmd eptf_cmd_<name>`; CMake generates the table.
 * Only the CLI prints or exits. Exit codes: 0 success, 1 the command's
 * negative answer (violations found, page rejected, ...) or a runtime
 * failure, 2 a usage error or bad input.
 */
#ifndef EPTFLUSH_CLI_H
#define EPTFLUSH_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define EPTF_EXIT_OK 0
#define EPTF_EXIT_FAIL 1
#define EPTF_EXIT_USAGE 2

struct eptf_cmd {
	const char *name;
	const char *summary; /* one line for `eptflush --help` */
	/* argv[0] is the subcommand name; returns the exit code */
	int (*run)(int argc, char **argv);
};

/* "eptflush <cmd>: <message>" to stderr; returns EPTF_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "eptflush <cmd>: <message>" to stderr; returns EPTF_EXIT_FAIL. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse decimal or 0x-hex into @out; false if malformed or out of range. */
bool cli_parse_u64(const char *s, uint64_t *out);
/* Parse a size like 4k, 2M, 1G, 1T (binary units) or a plain byte count. */
bool cli_parse_size(const char *s, uint64_t *bytes);

#endif
