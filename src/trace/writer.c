/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The trace writer: a temporary file in the target's directory (so that
 * rename() is atomic), written through stdio, flushed, fsync'ed and
 * renamed into place on commit. Abort removes the temporary: a reader
 * never sees a half-written trace under the final name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <eptflush/error.h>
#include <eptflush/mmu.h>
#include <eptflush/trace.h>

struct eptf_trace_writer {
	FILE *f;
	bool is_stdout;   /* "-": no temporary, nothing to rename */
	bool is_direct;   /* not a regular file (/dev/null, a FIFO): written in place, closed on commit */
	char *path;       /* final name */
	char *tmp;        /* temporary name (NULL for stdout) */
	unsigned nr_vcpus;
	int err;          /* first write error (sticky) */
	int saved_errno;
	char buf[EPTF_TRACE_MAX_LINE + 2];
};

static bool bad_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int put(struct eptf_trace_writer *w, const char *s)
{
	if (w->err)
		return w->err;
	if (fputs(s, w->f) == EOF) {
		w->saved_errno = errno;
		w->err = EPTF_EIO;
	}
	return w->err;
}

static int write_header(struct eptf_trace_writer *w, const struct eptf_trace_header *hdr)
{
	static const char *const names[] = {"source", "name", "detail"};
	const char *vals[] = {hdr->source, hdr->name, hdr->detail};
	char line[512];

	snprintf(line, sizeof(line), "%s %d\nvcpus %u\n", EPTF_TRACE_MAGIC, EPTF_TRACE_VERSION,
		 hdr->nr_vcpus);
	put(w, line);
	for (int i = 0; i < 3; i++) {
		/* the header arrays are NUL-terminated by contract; bound anyway */
		size_t n = strnlen(vals[i], 256);

		if (!n)
			continue;
		snprintf(line, sizeof(line), "%s %.*s\n", names[i], (int)n, vals[i]);
		put(w, line);
	}
	return put(w, "begin\n");
}

int eptf_trace_writer_open(const char *path, const struct eptf_trace_header *hdr,
			   struct eptf_trace_writer **out, struct eptf_diag *diag)
{
	struct eptf_trace_writer *w;
	int fd;

	*out = NULL;
	if (hdr->nr_vcpus < 1 || hdr->nr_vcpus > EPTF_MAX_VCPUS) {
		snprintf(diag->msg, sizeof(diag->msg), "%s: vcpus %u out of range 1..%d", path,
			 hdr->nr_vcpus, EPTF_MAX_VCPUS);
		return EPTF_EINVAL;
	}
	if (memchr(hdr->source, '\0', sizeof(hdr->source)) == NULL ||
	    memchr(hdr->name, '\0', sizeof(hdr->name)) == NULL ||
	    memchr(hdr->detail, '\0', sizeof(hdr->detail)) == NULL || bad_text(hdr->source) ||
	    bad_text(hdr->name) || bad_text(hdr->detail)) {
		snprintf(diag->msg, sizeof(diag->msg), "%s: header text with control characters", path);
		return EPTF_EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(diag->msg, sizeof(diag->msg), "%s: out of memory", path);
		return EPTF_ENOMEM;
	}
	w->nr_vcpus = hdr->nr_vcpus;
	struct stat st;

	if (!strcmp(path, "-")) {
		w->is_stdout = true;
		w->f = stdout;
	} else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		/*
		 * A device or a FIFO: renaming a temporary over it would replace
		 * /dev/null with a regular file. Write to it in place.
		 */
		if (S_ISDIR(st.st_mode)) {
			snprintf(diag->msg, sizeof(diag->msg), "%s: is a directory", path);
			free(w);
			return EPTF_EINVAL;
		}
		w->is_direct = true;
		w->path = strdup(path);
		w->f = w->path ? fopen(path, "w") : NULL;
		if (!w->f) {
			snprintf(diag->msg, sizeof(diag->msg), "%s: %s", path, strerror(errno));
			free(w->path);
			free(w);
			return EPTF_EIO;
		}
	} else {
		const char *slash = strrchr(path, '/');
		size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
		size_t n = strlen(path) + 16;

		w->path = strdup(path);
		w->tmp = malloc(n);
		if (!w->path || !w->tmp) {
			free(w->path);
			free(w->tmp);
			free(w);
			snprintf(diag->msg, sizeof(diag->msg), "%s: out of memory", path);
			return EPTF_ENOMEM;
		}
		/* dir/.name.XXXXXX: same directory, so rename() stays on one filesystem */
		snprintf(w->tmp, n, "%.*s.%s.XXXXXX", (int)dirlen, path, path + dirlen);
		fd = mkstemp(w->tmp);
		if (fd < 0) {
			snprintf(diag->msg, sizeof(diag->msg), "%s: cannot create a temporary file: %s",
				 path, strerror(errno));
			free(w->path);
			free(w->tmp);
			free(w);
			return EPTF_EIO;
		}
		/* mkstemp makes 0600; a trace is an ordinary file: 0666 minus the umask */
		mode_t um = umask(0);
		umask(um);
		(void)fchmod(fd, 0666 & ~um);
		w->f = fdopen(fd, "w");
		if (!w->f) {
			snprintf(diag->msg, sizeof(diag->msg), "%s: %s", path, strerror(errno));
			close(fd);
			unlink(w->tmp);
			free(w->path);
			free(w->tmp);
			free(w);
			return EPTF_EIO;
		}
	}
	write_header(w, hdr);
	*out = w;
	return 0;
}

int eptf_trace_write(struct eptf_trace_writer *w, const struct eptf_op *op)
{
	int n;

	if (w->err)
		return w->err;
	if ((op->kind == EPTF_OP_ROOT_LOAD || op->kind == EPTF_OP_MAP || op->kind == EPTF_OP_ACCESS ||
	     op->kind == EPTF_OP_SYNC) &&
	    op->vcpu >= w->nr_vcpus)
		return EPTF_EINVAL;
	n = eptf_op_format(op, w->buf, sizeof(w->buf) - 1);
	if (n < 0)
		return n;
	w->buf[n] = '\n';
	w->buf[n + 1] = '\0';
	return put(w, w->buf);
}

int eptf_trace_write_comment(struct eptf_trace_writer *w, const char *text)
{
	if (w->err)
		return w->err;
	if (bad_text(text) || strlen(text) > EPTF_TRACE_MAX_LINE - 2)
		return EPTF_EINVAL;
	put(w, "# ");
	put(w, text);
	return put(w, "\n");
}

static void writer_free(struct eptf_trace_writer *w)
{
	free(w->path);
	free(w->tmp);
	free(w);
}

int eptf_trace_writer_commit(struct eptf_trace_writer *w, struct eptf_diag *diag)
{
	const char *name = w->is_stdout ? "<stdout>" : w->path;
	int err = w->err;

	if (!err && fflush(w->f) == EOF) {
		err = EPTF_EIO;
		w->saved_errno = errno;
	}
	if (!err && ferror(w->f)) {
		err = EPTF_EIO;
		w->saved_errno = EIO;
	}
	if (w->is_direct && fclose(w->f) == EOF && !err) {
		err = EPTF_EIO;
		w->saved_errno = errno;
	}
	if (w->is_stdout || w->is_direct) {
		if (err)
			snprintf(diag->msg, sizeof(diag->msg), "%s: write error: %s", name,
				 strerror(w->saved_errno));
		writer_free(w);
		return err;
	}
	/* the data must be on disk before the name points at it */
	if (!err && fsync(fileno(w->f)) < 0 && errno != EINVAL && errno != EROFS) {
		err = EPTF_EIO;
		w->saved_errno = errno;
	}
	if (fclose(w->f) == EOF && !err) {
		err = EPTF_EIO;
		w->saved_errno = errno;
	}
	w->f = NULL;
	if (!err && rename(w->tmp, w->path) < 0) {
		err = EPTF_EIO;
		w->saved_errno = errno;
	}
	if (err) {
		snprintf(diag->msg, sizeof(diag->msg), "%s: write error: %s", name,
			 strerror(w->saved_errno));
		unlink(w->tmp);
	}
	writer_free(w);
	return err;
}

void eptf_trace_writer_abort(struct eptf_trace_writer *w)
{
	if (!w)
		return;
	if (w->is_stdout) {
		fflush(w->f);
	} else if (w->is_direct) {
		fclose(w->f);
	} else {
		if (w->f)
			fclose(w->f);
		unlink(w->tmp);
	}
	writer_free(w);
}
