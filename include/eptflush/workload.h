/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Synthetic workloads, deterministic by seed, produced as an op stream.
 * boot, migrate, overcommit, shadow, hugepage, mixed (docs/workloads.md).
 */
#ifndef EPTFLUSH_WORKLOAD_H
#define EPTFLUSH_WORKLOAD_H

#include <stdint.h>

#include <eptflush/op.h>
#include <eptflush/trace.h>

struct eptf_workload_params {
	uint64_t guest_pages; /* guest-physical size in 4 KiB pages (--guest-size) */
	unsigned nr_vcpus;    /* --vcpus */
	uint64_t ops;         /* --ops: approximate length */
	uint64_t seed;        /* --seed */
};

void eptf_workload_params_default(struct eptf_workload_params *p);

struct eptf_workload_desc {
	const char *name;
	const char *summary;
};
/* Every workload, NULL-name-terminated. */
extern const struct eptf_workload_desc eptf_workloads[];

struct eptf_workload;

/*
 * Limits (EPTF_EINVAL outside them): guest_pages a multiple of 512 (2 MiB)
 * from 1024 (4 MiB) to 2^32 (16 TiB); nr_vcpus 1..EPTF_MAX_VCPUS; ops >= 1.
 * The stream has exactly @ops ops and is a function of the name and the
 * params alone (same params, same ops). Memory is fixed (a few hundred KiB)
 * whatever @ops and @guest_pages.
 */
/* EPTF_ENOENT for an unknown name, EPTF_EINVAL for bad params. */
int eptf_workload_create(const char *name, const struct eptf_workload_params *p,
			 struct eptf_workload **out);
/* The header a trace of this workload carries. */
void eptf_workload_header(const struct eptf_workload *w, struct eptf_trace_header *hdr);
/* Next op: 1 = got one, 0 = done. */
int eptf_workload_next(struct eptf_workload *w, struct eptf_op *op);
void eptf_workload_destroy(struct eptf_workload *w);

#endif
