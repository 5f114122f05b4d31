/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Private to src/import: the normalised kernel event both front ends (text
 * and trace.dat) produce, the core that turns events into ops, and a small
 * u64-keyed hash map.
 */
#ifndef EPTF_IMPORT_IMP_H
#define EPTF_IMPORT_IMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <eptflush/import.h>
#include <eptflush/trace.h>

/*
 * Shadow-page role bits as this kernel lays out union kvm_mmu_page_role
 * (KVM-TRACING-NOTES.md; arch/x86/include/asm/kvm_host.h): level 0-3,
 * has_4_byte_gpte 4, quadrant 5-6, direct 7, access 8-10, invalid 11,
 * efer_nx 12, cr0_wp 13, ..., ad_disabled 16, guest_mode 17. The text
 * format prints only some of them; the importer identifies a page by the
 * subset both front ends can see (IMP_ROLE_KEY_MASK).
 */
#define IMP_ROLE_LEVEL(r) ((r) & 0xfu)
#define IMP_ROLE_4BYTE (1u << 4)
#define IMP_ROLE_QUADRANT_SHIFT 5
#define IMP_ROLE_DIRECT (1u << 7)
#define IMP_ROLE_ACCESS_SHIFT 8
#define IMP_ROLE_INVALID (1u << 11)
#define IMP_ROLE_EFER_NX (1u << 12)
#define IMP_ROLE_AD_DISABLED (1u << 16)
#define IMP_ROLE_KEY_MASK 0x117ffu /* everything printed except `invalid` */

/* One kernel event, normalised. Fields not carried by the event are 0. */
struct imp_ev {
	unsigned kind;    /* enum eptf_import_event */
	int cpu;
	int pid;
	uint64_t ts_ns;
	/* shadow-page events (get_page, prepare_zap, sync, unsync) */
	uint8_t gen;
	uint32_t role;    /* role word (text: rebuilt from the printed fields) */
	uint32_t root_count;
	bool unsync;
	bool created;
	/* the rest, by event */
	uint64_t gfn;     /* sp gfn, set_spte gfn, spte_requested gfn, tdp gfn, split gfn */
	uint64_t spte;    /* set_spte, split */
	uint64_t sptep;   /* set_spte `at` */
	bool exec;        /* set_spte: the kernel's is_executable_pte() (the `x` of rwxu) */
	bool writable;    /* set_spte: the `w` of rwxu */
	unsigned level;   /* set_spte, paging_element, spte_requested, tdp, split */
	uint64_t addr;    /* walk gva, page_fault address, test_age hva */
	uint32_t pferr;   /* walk, page_fault error code */
	uint64_t pte;     /* paging_element */
	uint64_t pfn;     /* spte_requested */
	uint64_t start, end; /* unmap/age hva range (end exclusive) */
	uint64_t old_spte, new_spte; /* tdp */
	unsigned as_id;   /* tdp */
	unsigned vcpu_id; /* page_fault */
	unsigned used_pages; /* zap_all_fast */
	bool damon;       /* the task is DAMON's kdamond (its aging never flushes) */
	const char *text; /* marker: the text after "eptflush: " (NUL-terminated) */
};

struct imp;

/*
 * A core writing to @sink and counting into @st (which the caller zeroed and
 * whose `format` it fills before the first event: the header's detail).
 * 0, EPTF_EINVAL (more than 64 vCPUs) or EPTF_ENOMEM.
 */
int imp_create(const struct eptf_import_options *opts, const struct eptf_import_sink *sink,
	       struct eptf_import_stats *st, struct imp **out);
void imp_destroy(struct imp *imp);
/*
 * Feed one event. Returns 0, or EPTF_EPARSE with @why set (a malformed
 * marker, out-of-order timestamp) — the front end decides between failing
 * and skipping — or another negative EPTF_E* from the sink (fatal).
 */
int imp_feed(struct imp *imp, const struct imp_ev *ev, const char **why);
/* Count an event of a kind the importer does not use. */
void imp_other(struct imp *imp);
/* End of input: close open runs, call begin() if nothing was emitted. */
int imp_finish(struct imp *imp);

/* ---- u64 -> pointer map (open addressing, tombstones) ---------------- */
struct imp_map {
	uint64_t *keys;
	void **vals;   /* NULL: empty slot; IMP_MAP_TOMB: deleted */
	size_t cap;    /* power of two, or 0 */
	size_t used;   /* live + tombstones */
	size_t live;
};
extern char imp_map_tomb_;
#define IMP_MAP_TOMB ((void *)&imp_map_tomb_)

void *imp_map_get(const struct imp_map *m, uint64_t key);
/* Insert or replace; 0 or EPTF_ENOMEM. */
int imp_map_put(struct imp_map *m, uint64_t key, void *val);
/* Remove and return the value (NULL if absent). */
void *imp_map_del(struct imp_map *m, uint64_t key);
/* Free every value with free() and the table. */
void imp_map_free_all(struct imp_map *m);

/* The kind of the event named @s (tracefs name; "tracing_mark_write"/"print" are markers), or -1. */
int imp_event_kind(const char *s, size_t n);
/* @s is in the kvmmmu namespace but no event this kernel has: garbage. */
bool imp_kvmmmu_unknown(const char *s, size_t n);

/* Parse a C number (0x or 0X hex, or decimal) spanning [s, s+len); false on garbage or overflow. */
static inline bool imp_parse_u64(const char *s, size_t len, uint64_t *out)
{
	return eptf_trace_parse_u64(s, len, true, out);
}

#endif
