/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Live capture: a tiny VMM on /dev/kvm runs a guest of ours while KVM's
 * own trace events (kvmmmu:*, kvm:kvm_unmap_hva_range, kvm_age_hva,
 * kvm_test_age_hva) are recorded in a private tracefs instance. The text
 * the kernel printed is saved (RAW) and imported into an op trace.
 * docs/capture.md describes the guest, the port protocol and the markers.
 *
 * Only eptf_capture_run() and eptf_capture_check() touch the system; the
 * rest (guest image, descriptors, markers) is pure and unit-tested.
 */
#ifndef EPTFLUSH_CAPTURE_H
#define EPTFLUSH_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The workloads the guest can run; a capture runs a set of them in this order. */
enum eptf_capture_workload {
	EPTF_CAPTURE_TOUCH = 0,	 /* write then read every page of the data region */
	EPTF_CAPTURE_PAGETABLES, /* rewrite leaf PTEs (+invlpg) and a PDE (+mov cr3), touch again */
	EPTF_CAPTURE_DIRTYLOG,	 /* dirty logging on, write, get/clear dirty log, logging off */
	EPTF_CAPTURE_MADVISE, /* touch, VMM madvise(MADV_DONTNEED)s half the region, touch again */
	EPTF_CAPTURE_AGE,     /* touch a working set, VMM idles so that DAMON ages it */
	EPTF_CAPTURE_HUGE,    /* 2 MiB guest pages on THP: touch, dirty log, madvise part */
	EPTF_CAPTURE_NR,
};

/* Bit mask of all workloads. */
#define EPTF_CAPTURE_ALL ((1u << EPTF_CAPTURE_NR) - 1)

/* "touch", "pagetables", ...; NULL for an out-of-range value. */
const char *eptf_capture_workload_name(unsigned w);
/*
 * Parse a workload name or "all" into a bit mask (1u << workload).
 * Returns 0, or EPTF_EINVAL for an unknown name.
 */
int eptf_capture_workload_parse(const char *name, unsigned *mask);

/* What eptf_capture_run() does. */
struct eptf_capture_opts {
	unsigned workloads;   /* bit mask of enum eptf_capture_workload; 0 means all */
	double seconds;	      /* wall-clock limit for the whole guest run (> 0) */
	unsigned rounds;      /* per-workload round limit; 0 = only the time limit */
	uint64_t memory;      /* data region bytes: multiple of 2 MiB, 4 MiB .. 512 MiB */
	size_t buffer_kb;     /* per-CPU ring buffer size in KiB (0 = 65536) */
	const char *raw_path; /* where the kernel's trace text goes (required) */
	bool pid_filter;      /* record kvmmmu events only from this process (default on) */
	bool verbose;	      /* progress lines on the log stream */
	unsigned nr_vcpus;    /* 1..4 (0 = 1): vCPUs > 0 read the data slot through own roots */
};

/* What happened, for the CLI to print. */
struct eptf_capture_stats {
	uint64_t exits_io;		  /* KVM_EXIT_IO exits handled */
	uint64_t rounds[EPTF_CAPTURE_NR]; /* guest rounds completed per workload */
	uint64_t harvests;		  /* KVM_GET_DIRTY_LOG calls */
	uint64_t dirty_pages;		  /* pages reported dirty in total */
	uint64_t madvised_pages;	  /* pages given back with MADV_DONTNEED */
	uint64_t lines;			  /* trace text lines kept in RAW */
	uint64_t cut_lines;		  /* lines after the end marker (teardown), dropped */
	uint64_t overruns;		  /* ring-buffer overruns summed over CPUs (must be 0) */
	uint64_t events[8]; /* kept lines per event kind, see eptf_capture_event_kind() */
	bool timed_out;	    /* the time limit ended the run */
	char kernel[128];   /* uname -r */
};

/* Event kinds counted in eptf_capture_stats.events. */
enum {
	EPTF_CEV_MARKER = 0,
	EPTF_CEV_GET_PAGE,
	EPTF_CEV_ZAP,
	EPTF_CEV_SYNC, /* sync_page and unsync_page */
	EPTF_CEV_SET_SPTE,
	EPTF_CEV_WALK,	   /* pagetable_walk and paging_element */
	EPTF_CEV_NOTIFIER, /* unmap_hva_range, age_hva, test_age_hva */
	EPTF_CEV_OTHER,
};
/* Classify one tracefs text line into EPTF_CEV_*; -1 for a non-event line (header). */
int eptf_capture_event_kind(const char *line);

/*
 * Check the prerequisites: root, /dev/kvm usable, tracefs mounted (tries
 * to mount it at /sys/kernel/tracing), the kvmmmu and kvm events present.
 * Returns 0, or a negative EPTF_E* with a precise sentence in @msg.
 */
int eptf_capture_check(char *msg, size_t len);

/*
 * Run the capture: record while the guest runs, write the trace text up to
 * the end marker into opts->raw_path (temporary file + rename), and fill
 * @st. Log lines go to @log (may be NULL). Returns 0 or a negative EPTF_E*
 * with @msg set. The tracefs instance is destroyed on every path.
 */
int eptf_capture_run(const struct eptf_capture_opts *opts, struct eptf_capture_stats *st, char *msg,
		     size_t len, FILE *log);

/*
 * Copy tracefs text from @in to @out up to and including our end marker
 * (`tracing_mark_write: eptflush: end`); count what follows (VM teardown)
 * in st->cut_lines and the kept events in st->lines / st->events.
 * Returns 1 if the end marker was found, 0 if not, EPTF_EIO on an I/O error.
 */
int eptf_capture_copy_trace(FILE *in, FILE *out, struct eptf_capture_stats *st);

/* Markers (docs/import.md §1). Each formats one line without newline into
 * @buf and returns its length, or EPTF_ENOSPC if @len is too small. */
int eptf_capture_marker_memslot(char *buf, size_t len, unsigned id, uint64_t gfn, uint64_t pages,
				uint64_t hva, uint32_t flags);
int eptf_capture_marker_memslot_flags(char *buf, size_t len, unsigned id, uint32_t flags);
int eptf_capture_marker_vcpus(char *buf, size_t len, unsigned n);
int eptf_capture_marker_vcpu_tid(char *buf, size_t len, unsigned vcpu, long tid);
int eptf_capture_marker_phase(char *buf, size_t len, const char *name);
int eptf_capture_marker_get_dirty(char *buf, size_t len, unsigned id);
int eptf_capture_marker_clear_dirty(char *buf, size_t len, unsigned id, uint64_t first,
				    uint64_t mask);
int eptf_capture_marker_end(char *buf, size_t len);

#endif
