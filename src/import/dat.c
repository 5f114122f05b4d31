/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The trace.dat front end: records read through libtracecmd in time order
 * (tracecmd_iterate_events_multi over the top buffer and every instance
 * buffer, since `trace-cmd extract -B NAME` stores the instance's events in
 * a buffer of its own), fields read by name through libtraceevent. Field
 * names are the TP_STRUCT__entry names of mmutrace.h / events/kvm.h; the
 * shadow-page role arrives as the raw role word.
 */
#include <stdlib.h>
#include <string.h>

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

int eptf_import_dat(const char *path, const struct eptf_import_options *opts,
		    const struct eptf_import_sink *sink, struct eptf_import_stats *st,
		    struct eptf_diag *diag)
{
	memset(st, 0, sizeof(*st));
	tracecmd_set_loglevel(TEP_LOG_NONE);
	struct tracecmd_input *h = tracecmd_open(path, TRACECMD_FL_LOAD_NO_PLUGINS);
	if (!h) {
		snprintf(diag->msg, sizeof(diag->msg), "%s:1: not a readable trace.dat file", path);
		return EPTF_EPARSE;
	}
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
			     .name = path };
	/* every buffer of one file shares the event formats of the top one */
	tracecmd_iterate_events_multi(hs, nh, on_record, &c);
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
