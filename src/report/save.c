/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Writing a report to a file: through a temporary file in the target's
 * directory, renamed into place only when everything was written, so an
 * interrupted or failed write never leaves a half-written report behind.
 * Devices and FIFOs are written in place (a rename would replace them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <eptflush/error.h>
#include <eptflush/report.h>

static int render(const struct eptf_report *rep, enum eptf_report_format fmt, FILE *f)
{
	switch (fmt) {
	case EPTF_REPORT_JSON:
		return eptf_report_write_json(rep, f);
	case EPTF_REPORT_CSV:
		return eptf_report_write_csv(rep, f);
	case EPTF_REPORT_HTML:
		return eptf_report_write_html(rep, f);
	}
	return EPTF_EINVAL;
}

static int fail(char *err, size_t errlen, const char *path, const char *why, int rc)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", path, why);
	return rc;
}

int eptf_report_save(const struct eptf_report *rep, enum eptf_report_format fmt, const char *path,
		     char *err, size_t errlen)
{
	int rc;

	if (!strcmp(path, "-")) {
		rc = render(rep, fmt, stdout);
		if (!rc && fflush(stdout))
			rc = EPTF_EIO;
		return rc ? fail(err, errlen, "<stdout>", eptf_strerror(rc), rc) : 0;
	}

	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			return fail(err, errlen, path, strerror(EISDIR), EPTF_EIO);
		/*
		 * A device or a FIFO (/dev/null, a pipe to another program):
		 * renaming a temporary over it would replace the device node with
		 * a regular file (as root, /dev/null for everyone). There is
		 * nothing to keep whole there; write in place.
		 */
		FILE *df = fopen(path, "w");
		if (!df)
			return fail(err, errlen, path, strerror(errno), EPTF_EIO);
		rc = render(rep, fmt, df);
		if (fflush(df) && !rc)
			rc = EPTF_EIO;
		if (fclose(df) && !rc)
			rc = EPTF_EIO;
		return rc ? fail(err, errlen, path, rc == EPTF_EIO ? "write failed" : eptf_strerror(rc), rc) : 0;
	}

	size_t n = strlen(path);
	char *tmp = malloc(n + sizeof(".tmp.XXXXXX"));
	if (!tmp)
		return fail(err, errlen, path, "out of memory", EPTF_ENOMEM);
	memcpy(tmp, path, n);
	memcpy(tmp + n, ".tmp.XXXXXX", sizeof(".tmp.XXXXXX"));
	int fd = mkstemp(tmp);
	if (fd < 0) {
		rc = fail(err, errlen, path, strerror(errno), EPTF_EIO);
		free(tmp);
		return rc;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		rc = fail(err, errlen, path, strerror(errno), EPTF_EIO);
		close(fd);
		unlink(tmp);
		free(tmp);
		return rc;
	}
	rc = render(rep, fmt, f);
	if (fflush(f) && !rc)
		rc = EPTF_EIO;
	if (fclose(f) && !rc)
		rc = EPTF_EIO;
	if (rc) {
		unlink(tmp);
		free(tmp);
		return fail(err, errlen, path, rc == EPTF_EIO ? "write failed" : eptf_strerror(rc), rc);
	}
	/* mkstemp makes the file 0600; a report is meant to be shared like any other file. */
	mode_t mask = umask(0);
	umask(mask);
	(void)chmod(tmp, 0666 & ~mask);
	if (rename(tmp, path)) {
		rc = fail(err, errlen, path, strerror(errno), EPTF_EIO);
		unlink(tmp);
		free(tmp);
		return rc;
	}
	free(tmp);
	return 0;
}
