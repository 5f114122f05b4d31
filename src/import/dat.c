/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The trace.dat front end: records read through libtracecmd in time order
 * (tracecmd_iterate_events_multi over the top buffer and every instance
 * buffer, since `trace-cmd extract -B NAME` stores the instance's events in
 * a buffer of its own), fields read by name through libtraceevent. Field
 * names are the TP_STRUCT__entry names of mmutrace.h / events/kvm.h; the
 * shadow-page role arrives as the raw role word.
 *
 * libtracecmd and libtraceevent trust the file: a corrupted trace.dat can
 * make them read out of bounds and crash (tests/data/bad/import/
 * dat-corrupt-segv.dat segfaults inside tep_parse_event() while
 * tracecmd_open() parses the stored event formats). So the libraries run in
 * a forked child process. The child parses and turns records into ops, and
 * sends each sink call (begin, op, comment) down a pipe; the parent, which
 * owns the caller's sink (the op-trace writer and its temporary file),
 * replays them. Statistics, the final status and the child's progress (the
 * record it was reading) live in a shared anonymous mapping, so they
 * survive the child's death: a child killed by a signal becomes
 * "FILE:record N: corrupt trace.dat (...)" and never a crash of eptflush.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <trace-cmd/trace-cmd.h>

#include <eptflush/error.h>

#include "imp.h"

struct dat_ctx {
	struct imp *imp;
	struct tep_handle *tep;
	const struct eptf_import_options *opts;
	struct eptf_import_stats *st;
	struct eptf_diag *diag;
	const char *name;
	uint64_t recno;
	volatile uint64_t *progress; /* recno, shared with the parent */
	volatile int *in_record;     /* on_record() is running (shared) */
	int err;
	char text[512];
};

static bool field(struct tep_event *event, struct tep_record *rec, const char *name, uint64_t *out)
{
	struct tep_format_field *f = tep_find_field(event, name);
	unsigned long long v;
	if (!f || tep_read_number_field(f, rec->data, &v))
		return false;
	*out = v;
	return true;
}

static bool fill(struct tep_event *event, struct tep_record *rec, struct imp_ev *ev)
{
	uint64_t a = 0, b = 0, d = 0;
	switch (ev->kind) {
	case EPTF_IEV_GET_PAGE:
	case EPTF_IEV_PREPARE_ZAP:
	case EPTF_IEV_SYNC_PAGE:
	case EPTF_IEV_UNSYNC_PAGE:
		if (!field(event, rec, "gfn", &ev->gfn) || !field(event, rec, "role", &a) ||
		    !field(event, rec, "mmu_valid_gen", &b) || !field(event, rec, "root_count", &d))
			return false;
		ev->role = (uint32_t)a;
		ev->gen = (uint8_t)b;
		ev->root_count = (uint32_t)d;
		if (field(event, rec, "unsync", &a))
			ev->unsync = a != 0;
		if (field(event, rec, "created", &a))
			ev->created = a != 0;
		return IMP_ROLE_LEVEL(ev->role) >= 1 && IMP_ROLE_LEVEL(ev->role) <= 5;
	case EPTF_IEV_SET_SPTE:
		if (!field(event, rec, "gfn", &ev->gfn) || !field(event, rec, "spte", &ev->spte) ||
		    !field(event, rec, "sptep", &ev->sptep) || !field(event, rec, "level", &a) ||
		    !field(event, rec, "x", &b))
			return false;
		ev->level = (unsigned)a;
		ev->exec = b != 0;
		ev->writable = ev->spte & 2; /* PT_WRITABLE_MASK, as the print format tests it */
		return true;
	case EPTF_IEV_SPTE_REQUESTED:
		if (!field(event, rec, "gfn", &ev->gfn) || !field(event, rec, "pfn", &ev->pfn) ||
		    !field(event, rec, "level", &a))
			return false;
		ev->level = (unsigned)a;
		return true;
	case EPTF_IEV_WALK:
		if (!field(event, rec, "addr", &ev->addr) || !field(event, rec, "pferr", &a))
			return false;
		ev->pferr = (uint32_t)a;
		return true;
	case EPTF_IEV_PAGING_ELEMENT:
		if (!field(event, rec, "pte", &ev->pte) || !field(event, rec, "level", &a))
			return false;
		ev->level = (unsigned)a;
		return true;
	case EPTF_IEV_TDP_SPTE_CHANGED:
		if (!field(event, rec, "gfn", &ev->gfn) || !field(event, rec, "old_spte", &ev->old_spte) ||
		    !field(event, rec, "new_spte", &ev->new_spte) || !field(event, rec, "level", &a) ||
		    !field(event, rec, "as_id", &b))
			return false;
		ev->level = (unsigned)a;
		ev->as_id = (unsigned)b;
		return true;
	case EPTF_IEV_SPLIT_HUGE_PAGE:
		if (!field(event, rec, "gfn", &ev->gfn) || !field(event, rec, "spte", &ev->spte) ||
		    !field(event, rec, "level", &a))
			return false;
		ev->level = (unsigned)a;
		return true;
	case EPTF_IEV_ZAP_ALL_FAST:
		if (!field(event, rec, "mmu_valid_gen", &a) || !field(event, rec, "mmu_used_pages", &b))
			return false;
		ev->gen = (uint8_t)a;
		ev->used_pages = (unsigned)b;
		return true;
	case EPTF_IEV_UNMAP_HVA_RANGE:
	case EPTF_IEV_AGE_HVA:
		return field(event, rec, "start", &ev->start) && field(event, rec, "end", &ev->end);
	case EPTF_IEV_TEST_AGE_HVA:
		return field(event, rec, "hva", &ev->addr);
	case EPTF_IEV_PAGE_FAULT:
		if (!field(event, rec, "vcpu_id", &a) || !field(event, rec, "fault_address", &ev->addr) ||
		    !field(event, rec, "error_code", &b))
			return false;
		ev->vcpu_id = (unsigned)a;
		ev->pferr = (uint32_t)b;
		return true;
	default:
		return false;
	}
}

static int on_record(struct tracecmd_input *handle, struct tep_record *rec, int cpu, void *data)
{
	struct dat_ctx *c = data;
	(void)cpu;
	c->recno++;
	*c->progress = c->recno;
	c->st->lines++;
	c->tep = tracecmd_get_tep(handle);
	struct tep_event *event = c->tep ? tep_find_event_by_record(c->tep, rec) : NULL;
	const char *why = NULL;
	struct imp_ev ev;
	memset(&ev, 0, sizeof(ev));
	if (!event) {
		why = "record of an unknown event id";
		goto bad;
	}
	int k = imp_event_kind(event->name, strlen(event->name));
	if (k == EPTF_IEV_MARKER && strcmp(event->system, "ftrace") != 0)
		k = -1;
	if (k < 0 || (k != EPTF_IEV_MARKER && strcmp(event->system, "kvm") != 0 &&
		      strcmp(event->system, "kvmmmu") != 0)) {
		imp_other(c->imp);
		return 0;
	}
	ev.kind = (unsigned)k;
	ev.cpu = rec->cpu;
	ev.pid = tep_data_pid(c->tep, rec);
	ev.ts_ns = rec->ts;
	const char *comm = tep_data_comm_from_pid(c->tep, ev.pid);
	ev.damon = comm && strncmp(comm, "kdamond", 7) == 0;
	if (k == EPTF_IEV_MARKER) {
		/* ftrace:print's buf is `char buf[]`: size 0 in the format, the rest of the record */
		struct tep_format_field *bf = tep_find_field(event, "buf");
		if (!bf || bf->offset < 0 || bf->offset >= rec->size) {
			why = "print event without a buffer";
			goto bad;
		}
		const char *buf = (const char *)rec->data + bf->offset;
		int len = bf->size > 0 && bf->offset + bf->size <= rec->size ? bf->size : rec->size - bf->offset;
		size_t n = strnlen(buf, (size_t)len);
		const char *m = NULL;
		for (size_t i = 0; i + 10 <= n; i++)
			if (memcmp(buf + i, "eptflush: ", 10) == 0) {
				m = buf + i + 10;
				break;
			}
		if (!m) {
			imp_other(c->imp);
			return 0;
		}
		size_t ml = n - (size_t)(m - buf);
		if (ml >= sizeof(c->text))
			ml = sizeof(c->text) - 1;
		memcpy(c->text, m, ml);
		while (ml && (c->text[ml - 1] == '\n' || c->text[ml - 1] == ' '))
			ml--;
		c->text[ml] = 0;
		ev.text = c->text;
	} else if (!fill(event, rec, &ev)) {
		why = "missing or unreadable field";
		goto bad;
	}
	int err = imp_feed(c->imp, &ev, &why);
	if (err == 0)
		return 0;
	if (err != EPTF_EPARSE) {
		snprintf(c->diag->msg, sizeof(c->diag->msg), "%s:record %llu: %s", c->name,
			 (unsigned long long)c->recno, eptf_strerror(err));
		c->err = err;
		return -1;
	}
bad:
	if (c->opts->lenient) {
		c->st->malformed++;
		return 0;
	}
	snprintf(c->diag->msg, sizeof(c->diag->msg), "%s:record %llu: %s", c->name, (unsigned long long)c->recno,
		 why);
	c->err = EPTF_EPARSE;
	return -1;
}

/* What the child leaves for the parent (a MAP_SHARED page). */
struct dat_shared {
	struct eptf_import_stats st;
	struct eptf_diag diag;
	int err;                 /* the child's result, valid when done */
	volatile int opened;     /* tracecmd_open() returned a handle */
	volatile int done;       /* the child finished and flushed the pipe */
	volatile uint64_t recno; /* records handed to on_record() so far */
	volatile int in_record;  /* on_record() is running: a crash is in record recno, else after it */
};

/* The import proper, in the child: the sink here is the pipe to the parent. */
/* on_record(), with the record marked as in progress for the parent's report of a crash */
static int on_record_marked(struct tracecmd_input *handle, struct tep_record *rec, int cpu, void *data)
{
	struct dat_ctx *c = data;
	*c->in_record = 1;
	int r = on_record(handle, rec, cpu, data);
	*c->in_record = 0;
	return r;
}

static int dat_import(const char *path, const struct eptf_import_options *opts,
		      const struct eptf_import_sink *sink, struct dat_shared *sh)
{
	struct eptf_import_stats *st = &sh->st;
	struct eptf_diag *diag = &sh->diag;
	memset(st, 0, sizeof(*st));
	tracecmd_set_loglevel(TEP_LOG_NONE);
	struct tracecmd_input *h = tracecmd_open(path, TRACECMD_FL_LOAD_NO_PLUGINS);
	if (!h) {
		snprintf(diag->msg, sizeof(diag->msg), "%s:1: not a readable trace.dat file", path);
		return EPTF_EPARSE;
	}
	sh->opened = 1;
	int nbuf = tracecmd_buffer_instances(h);
	if (nbuf < 0)
		nbuf = 0;
	struct tracecmd_input **hs = calloc((size_t)nbuf + 1, sizeof(*hs));
	if (!hs) {
		tracecmd_close(h);
		return EPTF_ENOMEM;
	}
	int nh = 0;
	hs[nh++] = h;
	for (int i = 0; i < nbuf; i++) {
		struct tracecmd_input *bh = tracecmd_buffer_instance_handle(h, i);
		if (bh)
			hs[nh++] = bh;
	}
	snprintf(st->format, sizeof(st->format), "trace.dat (%d buffer%s)", nh, nh == 1 ? "" : "s");
	struct imp *imp;
	int err = imp_create(opts, sink, st, &imp);
	if (err) {
		snprintf(diag->msg, sizeof(diag->msg), "%s: %s", path, eptf_strerror(err));
		goto out;
	}
	struct dat_ctx c = { .imp = imp, .tep = tracecmd_get_tep(h), .opts = opts, .st = st, .diag = diag,
			     .name = path, .progress = &sh->recno, .in_record = &sh->in_record };
	/* every buffer of one file shares the event formats of the top one */
	tracecmd_iterate_events_multi(hs, nh, on_record_marked, &c);
	err = c.err;
	if (!err) {
		err = imp_finish(imp);
		if (err)
			snprintf(diag->msg, sizeof(diag->msg), "%s: %s", path, eptf_strerror(err));
	}
	imp_destroy(imp);
out:
	for (int i = nh - 1; i >= 0; i--)
		tracecmd_close(hs[i]);
	free(hs);
	return err;
}

/* ---- the pipe between the child and the parent ---------------------- */

/*
 * One message per sink call: a tag byte, then the call's argument as the
 * bytes of its struct (both ends are the same program, so the layout is
 * shared) or, for a comment, its length (uint32_t) and text.
 */
enum { MSG_BEGIN = 'B', MSG_OP = 'O', MSG_COMMENT = 'C' };
#define MSG_COMMENT_MAX 4096 /* longer than any comment the importer makes */

static int pipe_put(FILE *f, int tag, const void *p, size_t n)
{
	if (putc(tag, f) == EOF || fwrite(p, 1, n, f) != n)
		return EPTF_EIO;
	return 0;
}

/* Field by field into zeroed structs: no uninitialised padding or string tails go down the pipe. */
static int c_begin(void *ctx, const struct eptf_trace_header *hdr)
{
	struct eptf_trace_header h;
	memset(&h, 0, sizeof(h));
	h.version = hdr->version;
	h.nr_vcpus = hdr->nr_vcpus;
	memcpy(h.source, hdr->source, strnlen(hdr->source, sizeof(h.source) - 1));
	memcpy(h.name, hdr->name, strnlen(hdr->name, sizeof(h.name) - 1));
	memcpy(h.detail, hdr->detail, strnlen(hdr->detail, sizeof(h.detail) - 1));
	return pipe_put(ctx, MSG_BEGIN, &h, sizeof(h));
}

static int c_op(void *ctx, const struct eptf_op *op)
{
	struct eptf_op o;
	memset(&o, 0, sizeof(o));
	o.kind = op->kind;
	o.vcpu = op->vcpu;
	o.slot = op->slot;
	o.level = op->level;
	o.flags = op->flags;
	o.addr = op->addr;
	o.count = op->count;
	o.value = op->value;
	return pipe_put(ctx, MSG_OP, &o, sizeof(o));
}

static int c_comment(void *ctx, const char *text)
{
	size_t n = strnlen(text, MSG_COMMENT_MAX);
	uint32_t len = (uint32_t)n;
	int err = pipe_put(ctx, MSG_COMMENT, &len, sizeof(len));
	if (!err && fwrite(text, 1, n, ctx) != n)
		err = EPTF_EIO;
	return err;
}

/* The child: never returns. */
static void dat_child(const char *path, const struct eptf_import_options *opts, struct dat_shared *sh, int fd)
{
	/*
	 * A crash inside the libraries must end this process by its signal,
	 * quietly: no core file in the user's directory, and no sanitizer
	 * report for a fault in a library that is not instrumented (the
	 * parent reports it as a corrupt file).
	 */
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL };
	struct rlimit nocore = { 0, 0 };
	(void)setrlimit(RLIMIT_CORE, &nocore);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigemptyset(&sa.sa_mask);
		(void)sigaction(fatal[i], &sa, NULL);
	}
	FILE *w = fdopen(fd, "w");
	if (!w) {
		sh->err = EPTF_ENOMEM;
		snprintf(sh->diag.msg, sizeof(sh->diag.msg), "%s: %s", path, eptf_strerror(EPTF_ENOMEM));
		sh->done = 1;
		_exit(1);
	}
	struct eptf_import_sink ps = { .begin = c_begin, .op = c_op, .comment = c_comment, .ctx = w };
	int err = dat_import(path, opts, &ps, sh);
	/* a failed write means the parent stopped reading: it has its own error */
	if (fflush(w) == EOF && !err)
		err = EPTF_EIO;
	sh->err = err;
	sh->done = 1;
	/* _exit: the parent's stdio buffers and atexit handlers are the parent's */
	_exit(err ? 1 : 0);
}

/* Read one message from the child into the parent's sink; 1 at a clean end, 0, or an EPTF_E*. */
static int pipe_get(FILE *f, const struct eptf_import_sink *sink, bool *proto)
{
	union {
		struct eptf_trace_header hdr;
		struct eptf_op op;
		uint32_t len;
	} m;
	static char text[MSG_COMMENT_MAX + 1];
	int tag = getc(f);
	switch (tag) {
	case EOF:
		return 1;
	case MSG_BEGIN:
		if (fread(&m.hdr, sizeof(m.hdr), 1, f) != 1)
			break;
		return sink->begin ? sink->begin(sink->ctx, &m.hdr) : 0;
	case MSG_OP:
		if (fread(&m.op, sizeof(m.op), 1, f) != 1)
			break;
		return sink->op ? sink->op(sink->ctx, &m.op) : 0;
	case MSG_COMMENT:
		if (fread(&m.len, sizeof(m.len), 1, f) != 1 || m.len > MSG_COMMENT_MAX ||
		    fread(text, 1, m.len, f) != m.len)
			break;
		text[m.len] = 0;
		return sink->comment ? sink->comment(sink->ctx, text) : 0;
	default:
		break;
	}
	*proto = true; /* a message cut short: the child died while writing it */
	return 1;
}

int eptf_import_dat(const char *path, const struct eptf_import_options *opts,
		    const struct eptf_import_sink *sink, struct eptf_import_stats *st,
		    struct eptf_diag *diag)
{
	memset(st, 0, sizeof(*st));
	struct dat_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		snprintf(diag->msg, sizeof(diag->msg), "%s: %s", path, eptf_strerror(EPTF_ENOMEM));
		return EPTF_ENOMEM;
	}
	memset(sh, 0, sizeof(*sh));
	int fds[2];
	if (pipe(fds)) {
		snprintf(diag->msg, sizeof(diag->msg), "%s: cannot create a pipe: %s", path, strerror(errno));
		munmap(sh, sizeof(*sh));
		return EPTF_EIO;
	}
	/* nothing buffered may be written twice (the child _exits, but be safe) */
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(diag->msg, sizeof(diag->msg), "%s: cannot fork: %s", path, strerror(errno));
		close(fds[0]);
		close(fds[1]);
		munmap(sh, sizeof(*sh));
		return EPTF_EIO;
	}
	if (pid == 0) {
		close(fds[0]);
		dat_child(path, opts, sh, fds[1]);
	}
	close(fds[1]);
	FILE *r = fdopen(fds[0], "r");
	int serr = 0;
	bool proto = false;
	if (!r) {
		close(fds[0]);
		serr = EPTF_ENOMEM;
		snprintf(diag->msg, sizeof(diag->msg), "%s: %s", path, eptf_strerror(serr));
	} else {
		while ((serr = pipe_get(r, sink, &proto)) == 0)
			;
		if (serr == 1) {
			serr = 0;
		} else {
			/* the sink refused: stop the child, report as a record error */
			kill(pid, SIGKILL);
			snprintf(diag->msg, sizeof(diag->msg), "%s:record %llu: %s", path,
				 (unsigned long long)sh->recno, eptf_strerror(serr));
		}
		fclose(r);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*st = sh->st;
	int err;
	if (serr) {
		err = serr;
	} else if (!sh->done || proto || WIFSIGNALED(status)) {
		/* the child died (a library crash); what it sent is incomplete */
		if (sh->opened)
			snprintf(diag->msg, sizeof(diag->msg),
				 "%s:record %llu: corrupt trace.dat (the trace-cmd library crashed reading it)",
				 path, (unsigned long long)sh->recno + (sh->in_record ? 0 : 1));
		else
			snprintf(diag->msg, sizeof(diag->msg),
				 "%s:1: corrupt trace.dat (the trace-cmd library crashed reading it)", path);
		err = EPTF_EPARSE;
	} else {
		err = sh->err;
		if (err)
			snprintf(diag->msg, sizeof(diag->msg), "%s", sh->diag.msg);
	}
	munmap(sh, sizeof(*sh));
	return err;
}

/*
 * libtraceevent 1.7.1 (Debian 12) leaks a few bytes of every event format it
 * parses in tep_parse_event(), which tracecmd_open() calls for each format
 * stored in a trace.dat. Not ours to fix; keep LeakSanitizer (sanitizer
 * builds only read this hook) quiet about those two libraries alone.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libtraceevent.so\nleak:libtracecmd.so\n";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}
