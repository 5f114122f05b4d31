/* SPDX-License-Identifier: BSD-2-Clause */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void __attribute__((format(printf, 2, 0))) vmsg(const char *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "eptflush %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(cmd, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'eptflush %s --help'.\n", cmd);
	return EPTF_EXIT_USAGE;
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(cmd, fmt, ap);
	va_end(ap);
	return EPTF_EXIT_FAIL;
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	int base = 10;

	if (!s || !*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
		return false;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!isxdigit((unsigned char)*s))
			return false;
	}
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool cli_parse_size(const char *s, uint64_t *bytes)
{
	static const struct {
		char suffix;
		unsigned shift;
	} units[] = {{'k', 10}, {'m', 20}, {'g', 30}, {'t', 40}};
	size_t n = s ? strlen(s) : 0;
	uint64_t v;

	if (n == 0)
		return false;
	char last = (char)tolower((unsigned char)s[n - 1]);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (last != units[i].suffix)
			continue;
		char num[32];
		if (n - 1 >= sizeof(num))
			return false;
		memcpy(num, s, n - 1);
		num[n - 1] = '\0';
		if (!cli_parse_u64(num, &v) || v > (UINT64_MAX >> units[i].shift))
			return false;
		*bytes = v << units[i].shift;
		return true;
	}
	if (!cli_parse_u64(s, &v))
		return false;
	*bytes = v;
	return true;
}
