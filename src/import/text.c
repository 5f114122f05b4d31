/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The text front end: lines as tracefs (`trace`, `trace_pipe`) and
 * `trace-cmd report` print them, parsed by hand (no sscanf) because the
 * importer must keep up with millions of lines.
 *
 *   tracefs:   "  task-pid   [cpu] flags  secs.usecs: event: fields"
 *   trace-cmd: "  task-pid   [cpu]  secs.usecs: event:   fields"
 *
 * The task name may itself contain spaces and dashes ("CPU 0/KVM-1234"); the
 * pid is the number after the last dash before " [cpu]". Field formats are
 * the TP_printk strings of arch/x86/kvm/mmu/mmutrace.h and
 * include/trace/events/kvm.h.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <eptflush/error.h>

#include "imp.h"

/*
 * The longest line accepted, newline excluded. Kernel trace lines are short
 * (an MMU event is under 200 bytes), but a trace_marker write may carry up to
 * a page of text plus the line prefix, and `trace-cmd report` may print long
 * field lists; 64 KiB leaves room for both while bounding the reader's memory
 * (a file without line ends, such as /dev/zero, fails after 64 KiB instead of
 * growing a buffer until memory runs out).
 */
#define LINE_MAX_LEN 65536
#define LINE_STR_(x) #x
#define LINE_STR(x) LINE_STR_(x)
/* read-ahead block; the buffer holds one maximal line plus one block */
#define LINE_CHUNK 65536

/*
 * A bounded line reader over a FILE: fread() in blocks, lines found with
 * memchr(), so embedded NUL bytes are seen (and refused) and no line costs
 * more than LINE_MAX_LEN + LINE_CHUNK bytes of buffer.
 */
struct line_reader {
	FILE *in;
	char *buf;      /* LINE_MAX_LEN + LINE_CHUNK + 2 bytes */
	size_t start;   /* first byte of the unread data */
	size_t end;     /* one past the last byte read */
	bool eof;       /* fread() returned short: no more data (or an error, see ferror) */
	bool skipping;  /* inside an over-long line: drop bytes up to its newline */
};

#define LR_CAP (LINE_MAX_LEN + LINE_CHUNK + 2)

/* Read more data after the unread bytes; false at end of input. */
static bool lr_fill(struct line_reader *r)
{
	if (r->eof)
		return false;
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	size_t room = LR_CAP - 1 - r->end;
	if (room == 0)
		return true;
	size_t got = fread(r->buf + r->end, 1, room, r->in);
	r->end += got;
	if (got < room)
		r->eof = true;
	return got > 0;
}

/*
 * The next line, with its newline if it has one, NUL-terminated at *len (the
 * buffer is ours). Returns 1 for a line, 0 at the end of input, -1 for a
 * line longer than LINE_MAX_LEN (its bytes are then skipped up to and
 * including its newline, in bounded memory).
 */
static int lr_next(struct line_reader *r, char **line, size_t *len)
{
	for (;;) {
		char *p = r->buf + r->start;
		size_t have = r->end - r->start;
		char *nl = have ? memchr(p, '\n', have) : NULL;
		if (r->skipping) {
			if (nl) {
				r->start += (size_t)(nl - p) + 1;
				r->skipping = false;
				continue;
			}
			r->start = r->end = 0;
			if (!lr_fill(r))
				return 0;
			continue;
		}
		size_t n = nl ? (size_t)(nl - p) + 1 : have;
		if ((nl ? n - 1 : n) > LINE_MAX_LEN) {
			if (nl) {
				r->start += n;
			} else {
				r->start = r->end = 0;
				r->skipping = true;
			}
			return -1;
		}
		if (nl || (r->eof && have)) {
			/* keep one byte past the line for the terminator: the byte there is the next line's */
			*line = p;
			*len = n;
			r->start += n;
			return 1;
		}
		if (!lr_fill(r) && r->end == r->start)
			return 0;
	}
}

/* memmem() is a GNU extension; the build is plain POSIX. */
static const char *find_sub(const char *h, size_t hn, const char *needle, size_t nn)
{
	for (size_t i = 0; i + nn <= hn; i++)
		if (h[i] == needle[0] && memcmp(h + i, needle, nn) == 0)
			return h + i;
	return NULL;
}

static const char *const ev_names[EPTF_IEV_COUNT] = {
	[EPTF_IEV_GET_PAGE] = "kvm_mmu_get_page",
	[EPTF_IEV_PREPARE_ZAP] = "kvm_mmu_prepare_zap_page",
	[EPTF_IEV_SYNC_PAGE] = "kvm_mmu_sync_page",
	[EPTF_IEV_UNSYNC_PAGE] = "kvm_mmu_unsync_page",
	[EPTF_IEV_SET_SPTE] = "kvm_mmu_set_spte",
	[EPTF_IEV_SPTE_REQUESTED] = "kvm_mmu_spte_requested",
	[EPTF_IEV_WALK] = "kvm_mmu_pagetable_walk",
	[EPTF_IEV_PAGING_ELEMENT] = "kvm_mmu_paging_element",
	[EPTF_IEV_TDP_SPTE_CHANGED] = "kvm_tdp_mmu_spte_changed",
	[EPTF_IEV_SPLIT_HUGE_PAGE] = "kvm_mmu_split_huge_page",
	[EPTF_IEV_ZAP_ALL_FAST] = "kvm_mmu_zap_all_fast",
	[EPTF_IEV_UNMAP_HVA_RANGE] = "kvm_unmap_hva_range",
	[EPTF_IEV_AGE_HVA] = "kvm_age_hva",
	[EPTF_IEV_TEST_AGE_HVA] = "kvm_test_age_hva",
	[EPTF_IEV_PAGE_FAULT] = "kvm_page_fault",
	[EPTF_IEV_MARKER] = "marker",
};

/* kvmmmu events the kernel has that the importer does not use (not an error). */
static const char *const kvmmmu_other[] = {
	"kvm_mmu_set_accessed_bit", "kvm_mmu_set_dirty_bit", "kvm_mmu_walker_error",
	"mark_mmio_spte", "handle_mmio_page_fault", "fast_page_fault", "check_mmio_spte",
};

const char *eptf_import_event_name(unsigned ev)
{
	return ev < EPTF_IEV_COUNT ? ev_names[ev] : NULL;
}

/* ---- a token cursor over one line's fields ------------------------- */

struct cur {
	const char *p, *e;
};

static void skip_sp(struct cur *c)
{
	while (c->p < c->e && *c->p == ' ')
		c->p++;
}

/* The next space-delimited token. */
static bool tok(struct cur *c, const char **s, size_t *n)
{
	skip_sp(c);
	const char *b = c->p;
	while (c->p < c->e && *c->p != ' ')
		c->p++;
	*s = b;
	*n = (size_t)(c->p - b);
	return *n > 0;
}

static bool lit(struct cur *c, const char *w)
{
	const char *s;
	size_t n;
	struct cur save = *c;
	if (tok(c, &s, &n) && n == strlen(w) && memcmp(s, w, n) == 0)
		return true;
	*c = save;
	return false;
}

static bool hexdig(char ch, unsigned *d)
{
	if (ch >= '0' && ch <= '9')
		*d = (unsigned)(ch - '0');
	else if (ch >= 'a' && ch <= 'f')
		*d = (unsigned)(ch - 'a' + 10);
	else if (ch >= 'A' && ch <= 'F')
		*d = (unsigned)(ch - 'A' + 10);
	else
		return false;
	return true;
}

/* A hex number token, with or without 0x (%llx, %#016lx). */
static bool hexnum(struct cur *c, uint64_t *v)
{
	const char *s;
	size_t n;
	if (!tok(c, &s, &n))
		return false;
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		n -= 2;
	}
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d;
		if (!hexdig(s[i], &d) || (x >> 60))
			return false;
		x = x << 4 | d;
	}
	*v = x;
	return true;
}

static bool decnum(struct cur *c, uint64_t *v)
{
	const char *s;
	size_t n;
	return tok(c, &s, &n) && imp_parse_u64(s, n, v) && !(n > 1 && s[1] == 'x');
}

static bool at_end(struct cur *c)
{
	skip_sp(c);
	return c->p == c->e;
}

/* ---- per-event field parsers --------------------------------------- */

/*
 * "sp gen %u gfn %llx l%u %u-byte q%u[ direct] ACC[ invalid] [!]nxe [!]ad
 * root %u sync|unsync[ new|existing]" (tracefs). trace-cmd's kvm plugin
 * prints the same page in an older order ("new sp gfn %llx %u q%u ..."):
 * tokens are taken by shape, so both parse; gfn and level are required.
 */
static bool parse_sp(struct cur *c, struct imp_ev *ev)
{
	static const char *const acc[8] = { "---", "--x", "w--", "w-x", "-u-", "-ux", "wu-", "wux" };
	bool have_gfn = false, have_level = false, nxe = false, ad = true;
	uint32_t role = 0;
	const char *s;
	size_t n;
	uint64_t v;
	while (tok(c, &s, &n)) {
		if (n == 3 && memcmp(s, "gen", 3) == 0) {
			if (!decnum(c, &v) || v > 255)
				return false;
			ev->gen = (uint8_t)v;
		} else if (n == 3 && memcmp(s, "gfn", 3) == 0) {
			if (!hexnum(c, &ev->gfn))
				return false;
			have_gfn = true;
		} else if (n == 4 && memcmp(s, "root", 4) == 0) {
			if (!decnum(c, &v) || v > UINT32_MAX)
				return false;
			ev->root_count = (uint32_t)v;
		} else if (n == 2 && s[0] == 'l' && s[1] >= '1' && s[1] <= '5') {
			role |= (uint32_t)(s[1] - '0');
			have_level = true;
		} else if (n == 1 && s[0] >= '1' && s[0] <= '5' && !have_level) {
			role |= (uint32_t)(s[0] - '0');
			have_level = true;
		} else if (n == 6 && memcmp(s + 1, "-byte", 5) == 0) {
			if (s[0] == '4')
				role |= IMP_ROLE_4BYTE;
			else if (s[0] != '8')
				return false;
		} else if (n == 2 && s[0] == 'q' && s[1] >= '0' && s[1] <= '3') {
			role |= (uint32_t)(s[1] - '0') << IMP_ROLE_QUADRANT_SHIFT;
		} else if (n == 6 && memcmp(s, "direct", 6) == 0) {
			role |= IMP_ROLE_DIRECT;
		} else if (n == 7 && memcmp(s, "invalid", 7) == 0) {
			role |= IMP_ROLE_INVALID;
		} else if (n == 3 && (s[0] == '-' || s[0] == 'w') && (s[1] == '-' || s[1] == 'u') &&
			   (s[2] == '-' || s[2] == 'x')) {
			for (uint32_t a = 0; a < 8; a++)
				if (memcmp(s, acc[a], 3) == 0)
					role |= a << IMP_ROLE_ACCESS_SHIFT;
		} else if (n == 3 && memcmp(s, "nxe", 3) == 0) {
			nxe = true;
		} else if (n == 4 && memcmp(s, "!nxe", 4) == 0) {
			nxe = false;
		} else if (n == 2 && memcmp(s, "ad", 2) == 0) {
			ad = true;
		} else if (n == 3 && memcmp(s, "!ad", 3) == 0) {
			ad = false;
		} else if (n == 4 && memcmp(s, "sync", 4) == 0) {
			ev->unsync = false;
		} else if (n == 6 && memcmp(s, "unsync", 6) == 0) {
			ev->unsync = true;
		} else if (n == 3 && memcmp(s, "new", 3) == 0) {
			ev->created = true;
		} else if (n == 8 && memcmp(s, "existing", 8) == 0) {
			ev->created = false;
		} else if (n == 2 && memcmp(s, "sp", 2) == 0) {
			/* the prefix */
		} else {
			/* other role flags an older printer adds (pae, wp, smep, ...): letters and '!' only */
			for (size_t i = 0; i < n; i++)
				if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '!' || s[i] == '_'))
					return false;
		}
	}
	if (nxe)
		role |= IMP_ROLE_EFER_NX;
	if (!ad)
		role |= IMP_ROLE_AD_DISABLED;
	ev->role = role;
	return have_gfn && have_level;
}

static bool parse_set_spte(struct cur *c, struct imp_ev *ev)
{
	uint64_t lv;
	const char *s;
	size_t n;
	if (!lit(c, "gfn") || !hexnum(c, &ev->gfn) || !lit(c, "spte") || !hexnum(c, &ev->spte))
		return false;
	/* "(rwxu)" or "(rwx)": u is absent when the MMU has no user bit (EPT) */
	if (!tok(c, &s, &n) || n < 5 || n > 6 || s[0] != '(' || s[n - 1] != ')')
		return false;
	if ((s[1] != 'r' && s[1] != '-') || (s[2] != 'w' && s[2] != '-') || (s[3] != 'x' && s[3] != '-') ||
	    (n == 6 && s[4] != 'u' && s[4] != '-'))
		return false;
	ev->writable = s[2] == 'w';
	ev->exec = s[3] == 'x';
	if (!lit(c, "level") || !decnum(c, &lv) || lv > 5 || !lit(c, "at") || !hexnum(c, &ev->sptep))
		return false;
	ev->level = (unsigned)lv;
	return at_end(c);
}

static bool parse_walk(struct cur *c, struct imp_ev *ev)
{
	uint64_t e;
	const char *s;
	size_t n;
	if (!lit(c, "addr") || !hexnum(c, &ev->addr) || !lit(c, "pferr") || !hexnum(c, &e) || e > UINT32_MAX)
		return false;
	ev->pferr = (uint32_t)e;
	/* the decoded flags "P|W|U|RSVD|F", possibly empty */
	if (tok(c, &s, &n)) {
		for (size_t i = 0; i < n; i++)
			if (!((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '|'))
				return false;
	}
	return at_end(c);
}

static bool parse_level_tail(struct cur *c, struct imp_ev *ev)
{
	uint64_t lv;
	if (!lit(c, "level") || !decnum(c, &lv) || lv > 5)
		return false;
	ev->level = (unsigned)lv;
	return true;
}

static bool parse_element(struct cur *c, struct imp_ev *ev)
{
	return lit(c, "pte") && hexnum(c, &ev->pte) && parse_level_tail(c, ev) && at_end(c);
}

static bool parse_requested(struct cur *c, struct imp_ev *ev)
{
	return lit(c, "gfn") && hexnum(c, &ev->gfn) && lit(c, "pfn") && hexnum(c, &ev->pfn) &&
	       parse_level_tail(c, ev) && at_end(c);
}

static bool parse_tdp(struct cur *c, struct imp_ev *ev)
{
	uint64_t as;
	if (!lit(c, "as") || !lit(c, "id") || !decnum(c, &as) || as > 255 || !lit(c, "gfn") ||
	    !hexnum(c, &ev->gfn) || !parse_level_tail(c, ev) || !lit(c, "old_spte") ||
	    !hexnum(c, &ev->old_spte) || !lit(c, "new_spte") || !hexnum(c, &ev->new_spte))
		return false;
	ev->as_id = (unsigned)as;
	return at_end(c);
}

static bool parse_split(struct cur *c, struct imp_ev *ev)
{
	const char *s;
	size_t n;
	uint64_t e;
	if (!lit(c, "gfn") || !hexnum(c, &ev->gfn) || !lit(c, "spte") || !hexnum(c, &ev->spte) ||
	    !parse_level_tail(c, ev) || !lit(c, "errno") || !tok(c, &s, &n))
		return false;
	if (n > 1 && s[0] == '-') {
		s++;
		n--;
	}
	return imp_parse_u64(s, n, &e) && at_end(c);
}

static bool parse_zap_all_fast(struct cur *c, struct imp_ev *ev)
{
	uint64_t g, u;
	if (!lit(c, "kvm-mmu-valid-gen") || !decnum(c, &g) || g > 255 || !lit(c, "used_pages") ||
	    !hexnum(c, &u) || u > UINT32_MAX)
		return false;
	ev->gen = (uint8_t)g;
	ev->used_pages = (unsigned)u;
	return at_end(c);
}

static bool parse_hva_range(struct cur *c, struct imp_ev *ev, const char *what)
{
	if (!lit(c, "mmu") || !lit(c, "notifier"))
		return false;
	for (const char *w = what; *w;) {
		size_t l = strcspn(w, " ");
		char word[16];
		if (l >= sizeof(word))
			return false;
		memcpy(word, w, l);
		word[l] = 0;
		if (!lit(c, word))
			return false;
		w += l;
		while (*w == ' ')
			w++;
	}
	return hexnum(c, &ev->start) && lit(c, "--") && hexnum(c, &ev->end) && at_end(c);
}

static bool parse_test_age(struct cur *c, struct imp_ev *ev)
{
	return lit(c, "mmu") && lit(c, "notifier") && lit(c, "test") && lit(c, "age") && lit(c, "hva:") &&
	       hexnum(c, &ev->addr) && at_end(c);
}

static bool parse_page_fault(struct cur *c, struct imp_ev *ev)
{
	uint64_t v, rip, e;
	if (!lit(c, "vcpu") || !decnum(c, &v) || v > UINT32_MAX || !lit(c, "rip") || !hexnum(c, &rip) ||
	    !lit(c, "address") || !hexnum(c, &ev->addr) || !lit(c, "error_code") || !hexnum(c, &e))
		return false;
	ev->vcpu_id = (unsigned)v;
	ev->pferr = (uint32_t)e;
	return at_end(c);
}

static bool parse_fields(unsigned kind, struct cur *c, struct imp_ev *ev)
{
	switch (kind) {
	case EPTF_IEV_GET_PAGE:
	case EPTF_IEV_PREPARE_ZAP:
	case EPTF_IEV_SYNC_PAGE:
	case EPTF_IEV_UNSYNC_PAGE:
		return parse_sp(c, ev);
	case EPTF_IEV_SET_SPTE:
		return parse_set_spte(c, ev);
	case EPTF_IEV_SPTE_REQUESTED:
		return parse_requested(c, ev);
	case EPTF_IEV_WALK:
		return parse_walk(c, ev);
	case EPTF_IEV_PAGING_ELEMENT:
		return parse_element(c, ev);
	case EPTF_IEV_TDP_SPTE_CHANGED:
		return parse_tdp(c, ev);
	case EPTF_IEV_SPLIT_HUGE_PAGE:
		return parse_split(c, ev);
	case EPTF_IEV_ZAP_ALL_FAST:
		return parse_zap_all_fast(c, ev);
	case EPTF_IEV_UNMAP_HVA_RANGE:
		return parse_hva_range(c, ev, "unmap range:");
	case EPTF_IEV_AGE_HVA:
		return parse_hva_range(c, ev, "age hva:");
	case EPTF_IEV_TEST_AGE_HVA:
		return parse_test_age(c, ev);
	case EPTF_IEV_PAGE_FAULT:
		return parse_page_fault(c, ev);
	default:
		return false;
	}
}

/* ---- the line prefix ----------------------------------------------- */

enum line_kind {
	LINE_SKIP,   /* blank, comment, report header */
	LINE_EVENT,
	LINE_OTHER,  /* an event the importer does not use */
	LINE_BAD,
};

/* "secs.frac:" -> ns; false if not a timestamp. */
static bool parse_ts(const char *s, size_t n, uint64_t *ns)
{
	if (n < 2 || s[n - 1] != ':')
		return false;
	n--;
	const char *dot = memchr(s, '.', n);
	if (!dot) /* a counter clock (trace_clock x86-tsc, counter): ticks, kept as they are */
		return imp_parse_u64(s, n, ns) && !(n > 1 && s[1] == 'x');
	if (dot == s)
		return false;
	uint64_t secs, frac;
	size_t fl = n - (size_t)(dot + 1 - s);
	if (fl == 0 || fl > 9 || !imp_parse_u64(s, (size_t)(dot - s), &secs) ||
	    !imp_parse_u64(dot + 1, fl, &frac) || secs > 18000000000ull)
		return false;
	for (size_t i = fl; i < 9; i++)
		frac *= 10;
	*ns = secs * 1000000000ull + frac;
	return true;
}

int imp_event_kind(const char *s, size_t n)
{
	for (unsigned k = 0; k < EPTF_IEV_MARKER; k++)
		if (strlen(ev_names[k]) == n && memcmp(ev_names[k], s, n) == 0)
			return (int)k;
	if ((n == 18 && memcmp(s, "tracing_mark_write", 18) == 0) || (n == 5 && memcmp(s, "print", 5) == 0))
		return EPTF_IEV_MARKER;
	return -1;
}

bool imp_kvmmmu_unknown(const char *s, size_t n)
{
	if (!((n > 8 && memcmp(s, "kvm_mmu_", 8) == 0) || (n > 12 && memcmp(s, "kvm_tdp_mmu_", 12) == 0)))
		return false;
	for (size_t i = 0; i < sizeof(kvmmmu_other) / sizeof(kvmmmu_other[0]); i++)
		if (strlen(kvmmmu_other[i]) == n && memcmp(kvmmmu_other[i], s, n) == 0)
			return false;
	return true;
}

/*
 * Split one line. On LINE_BAD, @why says what is wrong. @tracecmd says
 * which prefix form it had.
 */
static enum line_kind parse_line(char *line, size_t len, struct imp_ev *ev, const char **why, int *form)
{
	const char *p = line, *e = line + len;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	if (p == e || *p == '#')
		return LINE_SKIP;
	if ((size_t)(e - p) >= 5 && memcmp(p, "cpus=", 5) == 0)
		return LINE_SKIP; /* trace-cmd report's first line */
	if ((size_t)(e - p) >= 10 && memcmp(p, "version = ", 10) == 0)
		return LINE_SKIP;
	/* " [cpu]" after the task-pid */
	const char *br = NULL;
	for (const char *q = p; q + 3 < e; q++) {
		if (q[0] == ' ' && q[1] == '[' && q[2] >= '0' && q[2] <= '9') {
			const char *r = q + 2;
			while (r < e && *r >= '0' && *r <= '9')
				r++;
			if (r < e && *r == ']') {
				br = q;
				break;
			}
		}
	}
	if (!br) {
		if (find_sub(p, (size_t)(e - p), "LOST", 4) && find_sub(p, (size_t)(e - p), "EVENTS", 6)) {
			*why = "the kernel lost events here (buffer overrun)";
			return LINE_BAD;
		}
		*why = "not a trace line (no task-pid [cpu] prefix)";
		return LINE_BAD;
	}
	/* pid: digits after the last '-' of the task-pid field */
	const char *te = br;
	while (te > p && te[-1] == ' ')
		te--;
	const char *dash = te;
	while (dash > p && dash[-1] != '-')
		dash--;
	uint64_t pid, cpu;
	if (dash == p || !imp_parse_u64(dash, (size_t)(te - dash), &pid) || pid > 0x7fffffff) {
		*why = "bad task-pid field";
		return LINE_BAD;
	}
	/* the comm: DAMON's kthreads are "kdamond.N" */
	ev->damon = (size_t)(dash - p) > 7 && find_sub(p, (size_t)(dash - p), "kdamond", 7) != NULL;
	const char *cs = br + 2, *ce = memchr(cs, ']', (size_t)(e - cs));
	if (!imp_parse_u64(cs, (size_t)(ce - cs), &cpu) || cpu > 0x7fffffff) {
		*why = "bad CPU number";
		return LINE_BAD;
	}
	struct cur c = { ce + 1, e };
	const char *s;
	size_t n;
	if (!tok(&c, &s, &n)) {
		*why = "truncated line";
		return LINE_BAD;
	}
	if (!parse_ts(s, n, &ev->ts_ns)) {
		/* tracefs: an irqs/preempt flags field first */
		*form = 1;
		if (!tok(&c, &s, &n) || !parse_ts(s, n, &ev->ts_ns)) {
			*why = n ? "bad timestamp" : "truncated line";
			return LINE_BAD;
		}
	} else {
		*form = 2;
	}
	if (!tok(&c, &s, &n) || s[n - 1] != ':') {
		*why = "truncated line (no event name)";
		return LINE_BAD;
	}
	n--;
	ev->cpu = (int)cpu;
	ev->pid = (int)pid;
	int k = imp_event_kind(s, n);
	if (k < 0) {
		if (imp_kvmmmu_unknown(s, n)) {
			*why = "unknown kvmmmu event";
			return LINE_BAD;
		}
		return LINE_OTHER;
	}
	ev->kind = (unsigned)k;
	skip_sp(&c);
	if (k == EPTF_IEV_MARKER) {
		const char *m = find_sub(c.p, (size_t)(c.e - c.p), "eptflush: ", 10);
		if (!m)
			return LINE_OTHER;
		ev->text = m + 10;
		/* trim trailing spaces; the line buffer is ours and NUL-terminated at e */
		char *end = line + len;
		while (end > ev->text && end[-1] == ' ')
			*--end = 0;
		return LINE_EVENT;
	}
	if (c.p == c.e) {
		*why = "truncated line (no fields)";
		return LINE_BAD;
	}
	if (!parse_fields((unsigned)k, &c, ev)) {
		*why = "malformed fields";
		return LINE_BAD;
	}
	return LINE_EVENT;
}

int eptf_import_text(FILE *in, const char *name, const struct eptf_import_options *opts,
		     const struct eptf_import_sink *sink, struct eptf_import_stats *st,
		     struct eptf_diag *diag)
{
	struct imp *imp;
	memset(st, 0, sizeof(*st));
	snprintf(st->format, sizeof(st->format), "text");
	int err = imp_create(opts, sink, st, &imp);
	if (err) {
		snprintf(diag->msg, sizeof(diag->msg), "%s: %s", name, eptf_strerror(err));
		return err;
	}
	struct line_reader lr = { .in = in, .buf = malloc(LR_CAP) };
	if (!lr.buf) {
		snprintf(diag->msg, sizeof(diag->msg), "%s: %s", name, eptf_strerror(EPTF_ENOMEM));
		imp_destroy(imp);
		return EPTF_ENOMEM;
	}
	uint64_t lineno = 0;
	int form_seen = 0;
	for (;;) {
		char *line = NULL;
		size_t len = 0;
		int got = lr_next(&lr, &line, &len);
		if (got == 0)
			break;
		lineno++;
		st->lines++;
		const char *why = NULL;
		struct imp_ev ev;
		memset(&ev, 0, sizeof(ev));
		enum line_kind lk;
		int form = 0;
		if (got < 0) {
			why = "line longer than " LINE_STR(LINE_MAX_LEN) " bytes";
			lk = LINE_BAD;
		} else if (memchr(line, 0, len)) {
			why = "NUL byte in line";
			lk = LINE_BAD;
		} else if (line[len - 1] != '\n') {
			why = "truncated line (no newline at end of file)";
			lk = LINE_BAD;
		} else {
			line[--len] = 0;
			if (len && line[len - 1] == '\r')
				line[--len] = 0;
			lk = parse_line(line, len, &ev, &why, &form);
		}
		if (lk == LINE_EVENT || lk == LINE_OTHER) {
			if (!form_seen && form) {
				form_seen = form;
				snprintf(st->format, sizeof(st->format), "%s",
					 form == 1 ? "tracefs text" : "trace-cmd report text");
			}
		}
		if (lk == LINE_EVENT) {
			err = imp_feed(imp, &ev, &why);
			if (err == EPTF_EPARSE)
				lk = LINE_BAD;
			else if (err) {
				snprintf(diag->msg, sizeof(diag->msg), "%s:%llu: %s", name,
					 (unsigned long long)lineno, eptf_strerror(err));
				goto out;
			}
		} else if (lk == LINE_OTHER) {
			imp_other(imp);
		}
		if (lk == LINE_BAD) {
			if (!opts->lenient) {
				snprintf(diag->msg, sizeof(diag->msg), "%s:%llu: %s", name,
					 (unsigned long long)lineno, why);
				err = EPTF_EPARSE;
				goto out;
			}
			st->malformed++;
		}
	}
	if (ferror(in)) {
		snprintf(diag->msg, sizeof(diag->msg), "%s:%llu: read error", name, (unsigned long long)lineno);
		err = EPTF_EIO;
		goto out;
	}
	err = imp_finish(imp);
	if (err)
		snprintf(diag->msg, sizeof(diag->msg), "%s: %s", name, eptf_strerror(err));
out:
	free(lr.buf);
	imp_destroy(imp);
	return err;
}
