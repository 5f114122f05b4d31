/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Kernel-trace import: the KVM MMU events the kernel printed (tracefs text,
 * `trace-cmd report` text, or a trace.dat file) turned into the op trace
 * (eptflush/op.h, eptflush/trace.h). docs/import.md documents the accepted
 * input, the trace markers, and which event becomes which op.
 *
 * The importer streams: its memory grows with the live state it mirrors
 * (shadow pages, guest page tables seen in walks, memslots, tasks), not with
 * the length of the input.
 */
#ifndef EPTFLUSH_IMPORT_H
#define EPTFLUSH_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <eptflush/op.h>
#include <eptflush/trace.h>

/* A memslot given on the command line (--memslot id:base_gfn:pages:hva). */
struct eptf_import_slot {
	uint32_t slot;     /* KVM id: (address space << 16) | id */
	uint64_t base_gfn; /* first guest frame */
	uint64_t npages;   /* 4 KiB pages */
	uint64_t hva;      /* host virtual address of the first page, bytes */
	uint32_t flags;    /* EPTF_SLOTF_* */
};

enum eptf_import_format {
	EPTF_IMPORT_AUTO = 0, /* trace.dat if the file starts with its magic, else text */
	EPTF_IMPORT_TEXT,     /* tracefs `trace`/`trace_pipe` or `trace-cmd report` text */
	EPTF_IMPORT_DAT,      /* trace.dat through libtracecmd */
};

struct eptf_import_options {
	enum eptf_import_format format;
	bool lenient;         /* skip and count malformed lines instead of failing */
	unsigned nr_vcpus;    /* 0: from the `vcpus` marker, else 1 */
	const struct eptf_import_slot *slots; /* memslots known before the first event */
	size_t nslots;
};

/* The event kinds the importer recognises (statistics rows). */
enum eptf_import_event {
	EPTF_IEV_GET_PAGE = 0,
	EPTF_IEV_PREPARE_ZAP,
	EPTF_IEV_SYNC_PAGE,
	EPTF_IEV_UNSYNC_PAGE,
	EPTF_IEV_SET_SPTE,
	EPTF_IEV_SPTE_REQUESTED,
	EPTF_IEV_WALK,
	EPTF_IEV_PAGING_ELEMENT,
	EPTF_IEV_TDP_SPTE_CHANGED,
	EPTF_IEV_SPLIT_HUGE_PAGE,
	EPTF_IEV_ZAP_ALL_FAST,
	EPTF_IEV_UNMAP_HVA_RANGE,
	EPTF_IEV_AGE_HVA,
	EPTF_IEV_TEST_AGE_HVA,
	EPTF_IEV_PAGE_FAULT,
	EPTF_IEV_MARKER,
	EPTF_IEV_COUNT,
};

/* The kernel's name of @ev ("kvm_mmu_get_page", ..., "marker"), or NULL. */
const char *eptf_import_event_name(unsigned ev);

/* What the importer did with its input. */
struct eptf_import_stats {
	uint64_t lines;                      /* text lines read (records for trace.dat) */
	uint64_t used[EPTF_IEV_COUNT];       /* events that produced ops or importer state */
	uint64_t ignored[EPTF_IEV_COUNT];    /* recognised, with nothing for the model to do */
	uint64_t unplaced[EPTF_IEV_COUNT];   /* recognised but could not be placed (unknown
					      * table, no root, gfn outside every memslot) */
	uint64_t other_events;               /* events of kinds the importer does not use */
	uint64_t outside_guest;              /* notifier events outside every memslot (DAMON) */
	uint64_t after_end;                  /* events after the `end` marker (VM teardown) */
	uint64_t malformed;                  /* malformed lines skipped (--lenient) */
	uint64_t ops[EPTF_OP_KIND_COUNT];    /* ops emitted per kind */
	unsigned nr_vcpus;                   /* the header's vCPU count */
	char format[96];                     /* what was detected ("tracefs text", ...) */
};

/*
 * Where ops go. begin() is called exactly once, before the first op or
 * comment (or at the end when there is none), with the header filled in;
 * each callback returns 0 or a negative EPTF_E*, which stops the import.
 */
struct eptf_import_sink {
	int (*begin)(void *ctx, const struct eptf_trace_header *hdr);
	int (*op)(void *ctx, const struct eptf_op *op);
	int (*comment)(void *ctx, const char *text);
	void *ctx;
};

/*
 * Import the text trace read from @in (@name is used in diagnostics and the
 * header). Returns 0, or a negative EPTF_E* with @diag set to
 * "name:line: reason". @st is filled in either case.
 */
int eptf_import_text(FILE *in, const char *name, const struct eptf_import_options *opts,
		     const struct eptf_import_sink *sink, struct eptf_import_stats *st,
		     struct eptf_diag *diag);

/* Import a trace.dat file through libtracecmd; same contract. */
int eptf_import_dat(const char *path, const struct eptf_import_options *opts,
		    const struct eptf_import_sink *sink, struct eptf_import_stats *st,
		    struct eptf_diag *diag);

/*
 * Import @in_path into the op trace @out_path through the trace writer
 * (temporary file + rename: nothing is left on error). Header source
 * "import", name the input's basename, detail what was detected.
 */
int eptf_import_file(const char *in_path, const char *out_path, const struct eptf_import_options *opts,
		     struct eptf_import_stats *st, struct eptf_diag *diag);

/*
 * Parse "id:base_gfn:pages:hva" (C numbers); 0 or EPTF_EPARSE (also for an
 * address space (id >> 16) other than 0 or 1, no pages, a range past 2^40
 * pages, or an hva that is not page-aligned or wraps).
 */
int eptf_import_parse_slot(const char *spec, struct eptf_import_slot *out);

/*
 * Check @n memslots as KVM would accept them together: 0, or EPTF_EEXIST
 * when two have the same id, EPTF_EINVAL when two of one address space
 * overlap in gfns; *@a < *@b are then the indices of the pair.
 */
int eptf_import_check_slots(const struct eptf_import_slot *slots, size_t n, size_t *a, size_t *b);

/* Print the per-event statistics table to @f. */
void eptf_import_stats_print(const struct eptf_import_stats *st, FILE *f);

#endif
