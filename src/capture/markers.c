/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Pure helpers of the capture: workload names, the trace markers in the
 * syntax docs/import.md §1 defines, and a classifier for tracefs lines.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <eptflush/capture.h>
#include <eptflush/error.h>

static const char *const workload_names[EPTF_CAPTURE_NR] = {
    [EPTF_CAPTURE_TOUCH] = "touch",	  [EPTF_CAPTURE_PAGETABLES] = "pagetables",
    [EPTF_CAPTURE_DIRTYLOG] = "dirtylog", [EPTF_CAPTURE_MADVISE] = "madvise",
    [EPTF_CAPTURE_AGE] = "age",		  [EPTF_CAPTURE_HUGE] = "huge",
};

const char *eptf_capture_workload_name(unsigned w)
{
	return w < EPTF_CAPTURE_NR ? workload_names[w] : NULL;
}

int eptf_capture_workload_parse(const char *name, unsigned *mask)
{
	if (!name || !mask)
		return EPTF_EINVAL;
	if (!strcmp(name, "all")) {
		*mask = EPTF_CAPTURE_ALL;
		return 0;
	}
	for (unsigned w = 0; w < EPTF_CAPTURE_NR; w++) {
		if (!strcmp(name, workload_names[w])) {
			*mask = 1u << w;
			return 0;
		}
	}
	return EPTF_EINVAL;
}

__attribute__((format(printf, 3, 4))) static int fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	int n;

	if (!buf || !len)
		return EPTF_ENOSPC;
	va_start(ap, f);
	n = vsnprintf(buf, len, f, ap);
	va_end(ap);
	if (n < 0)
		return EPTF_EINVAL;
	if ((size_t)n >= len)
		return EPTF_ENOSPC;
	return n;
}

int eptf_capture_marker_memslot(char *buf, size_t len, unsigned id, uint64_t gfn, uint64_t pages,
				uint64_t hva, uint32_t flags)
{
	return fmt(buf, len, "eptflush: memslot id=%u gfn=0x%llx pages=0x%llx hva=0x%llx flags=%u",
		   id, (unsigned long long)gfn, (unsigned long long)pages, (unsigned long long)hva,
		   flags);
}

int eptf_capture_marker_memslot_flags(char *buf, size_t len, unsigned id, uint32_t flags)
{
	return fmt(buf, len, "eptflush: memslot-flags id=%u flags=%u", id, flags);
}

int eptf_capture_marker_vcpus(char *buf, size_t len, unsigned n)
{
	return fmt(buf, len, "eptflush: vcpus %u", n);
}

int eptf_capture_marker_vcpu_tid(char *buf, size_t len, unsigned vcpu, long tid)
{
	return fmt(buf, len, "eptflush: vcpu %u tid=%ld", vcpu, tid);
}

int eptf_capture_marker_phase(char *buf, size_t len, const char *name)
{
	if (!name || strpbrk(name, "\n\r"))
		return EPTF_EINVAL;
	return fmt(buf, len, "eptflush: phase %s", name);
}

int eptf_capture_marker_get_dirty(char *buf, size_t len, unsigned id)
{
	return fmt(buf, len, "eptflush: get-dirty-log id=%u", id);
}

int eptf_capture_marker_clear_dirty(char *buf, size_t len, unsigned id, uint64_t first,
				    uint64_t mask)
{
	if (first % 64)
		return EPTF_EINVAL;
	return fmt(buf, len, "eptflush: clear-dirty-log id=%u first=0x%llx mask=0x%llx", id,
		   (unsigned long long)first, (unsigned long long)mask);
}

int eptf_capture_marker_end(char *buf, size_t len)
{
	return fmt(buf, len, "eptflush: end");
}

/*
 * A tracefs text event line is "  TASK-PID  [CPU] FLAGS  TS: EVENT: text";
 * header lines start with '#'. The event name is the word before the
 * second ": " after the timestamp.
 */
int eptf_capture_event_kind(const char *line)
{
	static const struct {
		const char *name;
		int kind;
	} kinds[] = {
	    {"tracing_mark_write", EPTF_CEV_MARKER},	{"kvm_mmu_get_page", EPTF_CEV_GET_PAGE},
	    {"kvm_mmu_prepare_zap_page", EPTF_CEV_ZAP}, {"kvm_mmu_zap_all_fast", EPTF_CEV_ZAP},
	    {"kvm_mmu_sync_page", EPTF_CEV_SYNC},	{"kvm_mmu_unsync_page", EPTF_CEV_SYNC},
	    {"kvm_mmu_set_spte", EPTF_CEV_SET_SPTE},	{"kvm_mmu_pagetable_walk", EPTF_CEV_WALK},
	    {"kvm_mmu_paging_element", EPTF_CEV_WALK},	{"kvm_unmap_hva_range", EPTF_CEV_NOTIFIER},
	    {"kvm_age_hva", EPTF_CEV_NOTIFIER},		{"kvm_test_age_hva", EPTF_CEV_NOTIFIER},
	};
	const char *p, *e;
	size_t n;

	if (!line || line[0] == '#')
		return -1;
	/* the timestamp ends with ": " after "] " */
	p = strstr(line, "] ");
	if (!p)
		return -1;
	p = strstr(p, ": ");
	if (!p)
		return -1;
	p += 2;
	e = strstr(p, ": ");
	if (!e)
		e = p + strcspn(p, "\n");
	n = (size_t)(e - p);
	if (!n)
		return -1;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i].name) == n && !strncmp(p, kinds[i].name, n))
			return kinds[i].kind;
	return EPTF_CEV_OTHER;
}

/* Is @line our end marker: "... tracing_mark_write: eptflush: end" + spaces? */
static bool is_end_marker(const char *line)
{
	static const char tag[] = "tracing_mark_write: eptflush: end";
	const char *p = strstr(line, tag);

	if (!p)
		return false;
	p += sizeof(tag) - 1;
	while (*p == ' ' || *p == '\n' || *p == '\r')
		p++;
	return *p == '\0';
}

int eptf_capture_copy_trace(FILE *in, FILE *out, struct eptf_capture_stats *st)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool ended = false;

	while ((n = getline(&line, &cap, in)) > 0) {
		int kind;

		if (ended) {
			st->cut_lines++;
			continue;
		}
		if (fwrite(line, 1, (size_t)n, out) != (size_t)n)
			break;
		kind = eptf_capture_event_kind(line);
		if (kind >= 0) {
			st->lines++;
			st->events[kind]++;
		}
		if (kind == EPTF_CEV_MARKER && is_end_marker(line))
			ended = true;
	}
	free(line);
	if (ferror(out) || ferror(in))
		return EPTF_EIO;
	return ended ? 1 : 0;
}
