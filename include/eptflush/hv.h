/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libeptflush: the Hyper-V guest-physical flush interface, freestanding.
 *
 * Sources: Hyper-V TLFS, HvCallFlushGuestPhysicalAddressSpace (0x00AF) and
 * HvCallFlushGuestPhysicalAddressList (0x00B0), "Hypercall Interface"
 * (control and result words); Linux include/hyperv/hvgdk_mini.h for the
 * hv_gpa_page_range layout and the 2048-page / 510-entry limits. See
 * docs/hv-interface.md. Nothing here allocates or calls libc; only
 * <stdint.h>, <stddef.h>, <stdbool.h> are used.
 *
 * Wire format is little-endian. The builders write host-order uint64_t
 * into struct eptf_hv_flush_list, which equals the wire format on the
 * little-endian hosts this library supports (checked at compile time); the
 * validator reads its untrusted input byte by byte and so is independent of
 * host order and alignment.
 */
#ifndef EPTFLUSH_HV_H
#define EPTFLUSH_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <eptflush/error.h>

/* ---- TLFS constants -------------------------------------------------- */

#define EPTF_HVCALL_FLUSH_GPA_SPACE 0x00AFu /* simple call, 16-byte input */
#define EPTF_HVCALL_FLUSH_GPA_LIST 0x00B0u  /* rep call, one entry per rep */

enum eptf_hv_status {
	EPTF_HV_STATUS_SUCCESS = 0x0000,
	EPTF_HV_STATUS_INVALID_HYPERCALL_CODE = 0x0002,
	EPTF_HV_STATUS_INVALID_HYPERCALL_INPUT = 0x0003,
	EPTF_HV_STATUS_INVALID_ALIGNMENT = 0x0004,
	EPTF_HV_STATUS_INVALID_PARAMETER = 0x0005,
	EPTF_HV_STATUS_ACCESS_DENIED = 0x0006,
	EPTF_HV_STATUS_INVALID_PARTITION_STATE = 0x0007,
	EPTF_HV_STATUS_OPERATION_DENIED = 0x0008,
	EPTF_HV_STATUS_INSUFFICIENT_MEMORY = 0x000B,
	EPTF_HV_STATUS_TIME_OUT = 0x0078,
};

/* "HV_STATUS_SUCCESS" etc., or NULL for a code this library does not know. */
const char *eptf_hv_status_name(uint16_t status);

#define EPTF_HV_PAGE_SIZE 4096u
#define EPTF_HV_LIST_HEADER_SIZE 16u   /* address_space (8) + flags (8) */
#define EPTF_HV_MAX_FLUSH_PAGES 2048u  /* 4 KiB pages per small entry (11 bits) */
#define EPTF_HV_MAX_FLUSH_REP_COUNT 510u /* (4096 - 16) / 8 */
#define EPTF_HV_FRAME_BITS 52u         /* basepfn width: the 4 KiB frame space */

/*
 * The input page of HvCallFlushGuestPhysicalAddressList:
 *   offset 0   u64 address_space   root of the second-level tables (EPT PML4 / NPT root)
 *   offset 8   u64 flags           RsvdZ, must be 0
 *   offset 16  u64 gpa_list[510]   hv_gpa_page_range entries
 */
struct eptf_hv_flush_list {
	uint64_t address_space;
	uint64_t flags;
	uint64_t gpa_list[EPTF_HV_MAX_FLUSH_REP_COUNT];
};

/* ---- control word (RCX) ---------------------------------------------- */
/*
 *  15:0  call code        16 fast          26:17 variable header size (8-byte units)
 *  31:27 RsvdZ            43:32 rep count  47:44 RsvdZ
 *  59:48 rep start index  63:60 RsvdZ
 */
struct eptf_hv_control {
	uint16_t code;
	bool fast;
	uint16_t varhead_size; /* 10 bits */
	uint16_t rep_count;    /* 12 bits */
	uint16_t rep_start;    /* 12 bits */
	uint64_t reserved;     /* the RsvdZ bits as they were in the word (parse only) */
};

/* Bits 31:27, 47:44 and 63:60: RsvdZ in the TLFS control word. */
#define EPTF_HV_CTL_RESERVED_MASK 0xf000f000f8000000ull
#define EPTF_HV_MAX_REP_COUNT 4095u /* 12-bit rep count field */

/* Build a control word; fields wider than their bit ranges are truncated. */
uint64_t eptf_hv_control_build(const struct eptf_hv_control *c);
/* Split a control word into its fields; never fails. */
void eptf_hv_control_parse(uint64_t word, struct eptf_hv_control *c);

/* ---- result word (RAX) ----------------------------------------------- */
/*  15:0 HV_STATUS   31:16 RsvdZ   43:32 reps completed (total, not relative)   63:44 RsvdZ */
uint64_t eptf_hv_result_build(uint16_t status, uint16_t reps_completed);
uint16_t eptf_hv_result_status(uint64_t result);
uint16_t eptf_hv_result_reps(uint64_t result);

/* ---- hv_gpa_page_range ----------------------------------------------- */
/*
 * Small (4 KiB) form:  0-10 additional_pages   11 largepage = 0   12-63 basepfn
 *   covers [basepfn, basepfn + additional_pages] (1..2048 pages)
 * Large form:          0-10 additional_pages   11 largepage = 1   12 page_size (0 = 2 MiB, 1 = 1 GiB)
 *                      13-20 reserved (0)     21-63 base_large_pfn (GPA >> 21)
 *   covers (additional_pages + 1) units of 2 MiB or 1 GiB from base_large_pfn << 21;
 *   a 1 GiB base must be 1 GiB aligned.
 */
enum eptf_hv_unit {
	EPTF_HV_UNIT_4K = 0,
	EPTF_HV_UNIT_2M = 1,
	EPTF_HV_UNIT_1G = 2,
};

#define EPTF_HV_PAGES_2M 512ull                   /* 4 KiB frames per 2 MiB unit */
#define EPTF_HV_PAGES_1G (512ull * 512ull)        /* 4 KiB frames per 1 GiB unit */
#define EPTF_HV_FRAME_LIMIT (1ull << EPTF_HV_FRAME_BITS) /* first frame past the space */
#define EPTF_HV_ENTRY_LARGE_BIT (1ull << 11)      /* largepage */
#define EPTF_HV_ENTRY_LARGE_RESERVED (0xffull << 13) /* bits 20:13 of a large entry */

/* 4 KiB frames in one @unit (1, 512 or 262144). */
uint64_t eptf_hv_unit_pages(enum eptf_hv_unit unit);

/* A guest-physical range in 4 KiB frames: [gfn, gfn + pages). */
struct eptf_hv_range {
	uint64_t gfn;
	uint64_t pages;
};

/* A decoded entry: the 4 KiB-frame range it covers and its unit. */
struct eptf_hv_entry {
	uint64_t gfn;   /* first 4 KiB frame */
	uint64_t pages; /* 4 KiB frames covered */
	enum eptf_hv_unit unit;
	uint32_t units; /* additional_pages + 1 */
};

/*
 * Encode one entry covering @units units (1..2048) of @unit starting at 4 KiB
 * frame @gfn. Returns 0 and stores the entry, or EPTF_EINVAL for a unit
 * count out of range or a @gfn not aligned to @unit, EPTF_EGPARANGE when
 * the range runs past 2^52 frames.
 */
int eptf_hv_entry_encode(uint64_t gfn, uint32_t units, enum eptf_hv_unit unit, uint64_t *entry);
/*
 * Decode an entry. Returns 0, or EPTF_EINVAL when a large entry has a
 * reserved bit (13-20) set or is a 1 GiB entry whose base is not 1 GiB
 * aligned (base_large_pfn bits 8:0 set). A decoded range may run past 2^52
 * frames; the validator checks widths.
 */
int eptf_hv_entry_decode(uint64_t entry, struct eptf_hv_entry *out);

/* ---- Linux-compatible filler ----------------------------------------- */
/*
 * Append [start_gfn, start_gfn + pages) to @list from entry @offset on, in
 * entries of min(remaining, 2048) small pages, exactly as Linux's
 * hyperv_fill_flush_guest_mapping_list() (with the seed's offset
 * parameter). Returns the new entry count, or:
 *   EPTF_ENOSPC      the 510 entries ran out (entries up to 510 are written, as Linux does)
 *   EPTF_EBADOFFSET  @offset < 0 or > 510 (Linux would write out of bounds; defect 3)
 *   EPTF_EEMPTY      @pages == 0
 *   EPTF_EGPARANGE   the range runs past 2^52 frames
 * The last three leave @list untouched.
 */
int eptf_hv_fill_linux(struct eptf_hv_flush_list *list, int offset, uint64_t start_gfn,
		       uint64_t pages);

/* ---- merging builder (ours) ------------------------------------------ */

#define EPTF_HV_MERGE_LARGE_2M 0x1u /* the parent accepts 2 MiB entries */
#define EPTF_HV_MERGE_LARGE_1G 0x2u /* the parent accepts 1 GiB entries */

/*
 * Sort @ranges in place by gfn and merge overlapping and adjacent ones.
 * Zero-length ranges are dropped. Returns the new count (<= @n). O(n log n),
 * no allocation. A range whose end would pass 2^64 is treated as ending at
 * 2^64 - 1 (eptf_hv_build_pages rejects it anyway).
 */
size_t eptf_hv_ranges_merge(struct eptf_hv_range *ranges, size_t n);

/*
 * Encode already merged ranges (as eptf_hv_ranges_merge leaves them) into
 * @pages[0..@max_pages), each an input page for @address_space, using large
 * entries for aligned runs where @flags allow. Exact: the entries cover the
 * union of the ranges and nothing else. @counts[i] receives the number of
 * entries in page i. Returns the number of pages used (hypercalls needed),
 * or EPTF_ENOSPC if @max_pages are not enough, EPTF_EGPARANGE for a range
 * past 2^52 frames, EPTF_EINVAL for NULL @pages / @counts when entries are
 * needed; on any error nothing is written. Each range is covered with the
 * fewest entries possible (never more than the Linux filler's
 * ceil(pages / 2048)); large entries are used only where they save entries,
 * 1 GiB ones rather than 2 MiB ones on a tie. Entries are in range order,
 * 510 per page; each used page gets @address_space and flags 0, and entries
 * past counts[i] are left as they were. Unmerged input is still covered
 * exactly, but two entries may then be mergeable.
 */
int eptf_hv_build_pages(const struct eptf_hv_range *ranges, size_t n, unsigned flags,
			uint64_t address_space, struct eptf_hv_flush_list *pages,
			size_t max_pages, uint16_t *counts);

/*
 * Entries eptf_hv_build_pages would use for the merged @ranges (no output).
 * A range past 2^52 frames is counted as the Linux filler would split it.
 */
size_t eptf_hv_count_entries(const struct eptf_hv_range *ranges, size_t n, unsigned flags);

/* ---- rep-hypercall driver -------------------------------------------- */

/*
 * How a hypercall reaches the parent: in a kernel, the hypercall
 * instruction; in eptflush, the parent model. @input is the input page as
 * laid out in memory, @input_len its length in bytes. Returns the result
 * word.
 */
struct eptf_hv_transport {
	uint64_t (*hypercall)(void *ctx, uint64_t control, const void *input, size_t input_len);
	void *ctx;
};

/* What one rep call did. */
struct eptf_hv_call_info {
	uint16_t status;   /* final HV_STATUS */
	uint16_t reps_done; /* reps completed when it stopped */
	uint32_t issues;   /* hypercall instructions issued (1 + continuations) */
};

/*
 * Issue rep call @code with @rep_count reps over @input through @t: control
 * = code | rep_count << 32 | rep_start << 48; on success with fewer reps
 * completed than asked, re-issue from the completed count; stop at the first
 * non-success status. Returns 0 when all reps completed, EPTF_EHV when a
 * status was not success (see @info), EPTF_EINVAL for a rep count of 0 or
 * over 4095. Also stops with EPTF_EHV (status kept) if the parent reports
 * success without progress or a count that goes backwards or past @rep_count.
 */
int eptf_hv_rep_call(const struct eptf_hv_transport *t, uint16_t code, uint16_t rep_count,
		     const void *input, size_t input_len, struct eptf_hv_call_info *info);

/* Flush @list's first @count entries with 0x00B0 (input length 16 + 8 * @count). */
int eptf_hv_flush_list_call(const struct eptf_hv_transport *t, const struct eptf_hv_flush_list *list,
			    uint16_t count, struct eptf_hv_call_info *info);

/* Flush the whole space @address_space with 0x00AF (simple call, 16-byte input). */
int eptf_hv_flush_space_call(const struct eptf_hv_transport *t, uint64_t address_space,
			     struct eptf_hv_call_info *info);

/* ---- parent-side validator ------------------------------------------- */

struct eptf_hv_validate_cfg {
	unsigned gpa_bits;  /* guest-physical address width; 0 means 52 frame bits + 12 = 64 */
	bool allow_large;   /* accept large (2 MiB / 1 GiB) entries */
};

/* A validated request. */
struct eptf_hv_request {
	uint16_t code;           /* 0x00AF or 0x00B0 */
	uint64_t address_space;
	uint16_t rep_start, rep_count;
	uint16_t nranges;        /* rep_count - rep_start for a list; 0 for a space flush */
	struct eptf_hv_range ranges[EPTF_HV_MAX_FLUSH_REP_COUNT]; /* 4 KiB frames */
};

/*
 * Decode an untrusted control word and input (@input_len bytes at @input,
 * may be NULL when 0) as a careful hypervisor would. Returns the HV_STATUS:
 *   INVALID_HYPERCALL_CODE   call code is neither 0x00AF nor 0x00B0
 *   INVALID_HYPERCALL_INPUT  reserved control bits set; non-zero variable header;
 *                            fast bit on a rep call; rep fields on the simple call;
 *                            rep count 0 or over 510; rep start >= rep count
 *   INVALID_ALIGNMENT        input shorter than the header plus the reps claimed
 *                            (it would cross the input page)
 *   INVALID_PARAMETER        flags != 0; reserved bits in a large entry; a 1 GiB
 *                            entry whose base is not 1 GiB aligned; a large
 *                            entry when !allow_large; a range past gpa_bits
 * Checks run in the order listed (code, control word, length, contents) and
 * the first failure is returned; entries are checked in index order from
 * rep_start (entries below rep_start were done by an earlier call and are not
 * read). The simple call 0x00AF accepts the fast bit (its 16-byte input fits
 * in two registers) and needs input_len >= 16. The "nested" bit 31 that Linux
 * defines is reserved here: this validator is the L0 of a nested guest.
 * A NULL @input is treated as input_len 0; @cfg NULL means the defaults;
 * gpa_bits over 64 means 64; 12 or less admits no frame at all. On SUCCESS @out (may be NULL) holds the request;
 * on failure @out is unspecified. Total: reads only [input, input + input_len).
 */
uint16_t eptf_hv_validate(uint64_t control, const void *input, size_t input_len,
			  const struct eptf_hv_validate_cfg *cfg, struct eptf_hv_request *out);

#endif
