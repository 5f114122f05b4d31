/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench_memory: peak memory per mapped 4 KiB guest page, model and parent
 * together (issue 6: <= 32 bytes per mapped page; flat in trace length; a
 * 1 TiB guest with 64 GiB touched completes on a 24 GiB machine).
 *
 * Every case runs in a fork()ed child so that its ru_maxrss is its own; the
 * child reports through a pipe. Figures per case:
 *   model     eptf_mmu_get_stats().bytes + eptf_parent_get_stats().bytes,
 *             the maximum sampled every 65536 ops and at the end (what the
 *             two models say they hold; the checker's state is not in it)
 *   maxrss    getrusage(RUSAGE_SELF).ru_maxrss of the child minus its
 *             ru_maxrss before the replay was created (the baseline: the
 *             process with nothing loaded), i.e. what the replay added
 *   mapped    eptf_mmu_get_stats().mapped_4k at the end
 * Bytes per mapped page = figure / mapped.
 *
 * Part 1, scaling ("boot"): a boot op stream built here, because the
 * synthetic `boot` workload touches a bounded working set (at most 4 GiB,
 * src/workload/wl.h) whatever the guest size: one memslot over the whole
 * guest, each vCPU loads a direct root, then every 4 KiB page of the touched
 * set is faulted in (map) and accessed once by L2 (access, so the parent
 * caches it: an EPT violation rebuilds its EPT02 entry). The touched set is
 * 1 GiB windows spread evenly over the guest. Two mapping sizes: level 1
 * (4 KiB SPTEs, the worst case for L1) and level 2 (2 MiB SPTEs; the
 * parent still caches 4 KiB pieces with its default 4 KiB backing).
 *
 * Part 2, trace length: the boot stream (256 MiB touched, 4 KiB maps) then
 * a run phase over the same pages (per 2 MiB block: zap_range, fault back
 * in and touch, clear_flush_young) up to N and 10 N ops in total: the
 * mapped set is the same, the trace ten times longer; the peaks must agree
 * within 10%. For information, the synthetic `boot` and `mixed` workloads
 * (16 GiB guest, 4 vCPUs, streamed from the generator into the replay) at
 * N and 10 N ops: their generators keep filling a working set of up to
 * 4 GiB as they run, so their mapped set (printed) grows with N too.
 *
 * Part 3: the boot stream for a 1 TiB guest with 64 GiB touched, 4 KiB
 * maps: 33.5 million ops, about 0.4 GB and 5-10 s on this machine, so it
 * runs by default (--no-big skips it).
 *
 * usage: bench_memory [--no-big] [--max-touched GIB] [--length-ops N] [--strategy NAME]
 *   defaults: touched 1/4, 1, 4 GiB of a 64 GiB guest; --length-ops 500000; list
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <eptflush/error.h>
#include <eptflush/replay.h>
#include <eptflush/workload.h>

#include "bench_common.h"

#define GIB_PAGES (1ull << 18)
#define SAMPLE_EVERY 65536

struct result {
	int err;
	uint64_t ops;
	uint64_t mapped;
	uint64_t mmu_bytes, parent_bytes; /* at the peak of their sum */
	uint64_t peak_model;
	uint64_t rss_base, rss_peak;
	uint64_t stale;
	double secs;
};

struct boot_stream {
	uint64_t guest_pages, touched_pages;
	unsigned vcpus, level;
	uint64_t step, nsteps; /* pages per step: 1 (4 KiB maps) or 512 */
	uint64_t win_stride;    /* pages between touched 1 GiB windows */
	uint64_t pos;           /* page index into the touched set */
	unsigned phase, sub;    /* 0 slot, 1 roots, 2 map/access, 3 run */
	uint64_t total_ops;     /* run phase until this many ops (0: none) */
	uint64_t emitted;
	uint64_t blk, blk_pos;  /* run phase: current 2 MiB block of the touched set, page in it */
	unsigned blk_step;      /* 0 zap, 1 map, 2 access, 3 age */
};

static const char *strategy = "list";

static void sample(struct eptf_replay *r, struct result *res)
{
	struct eptf_mmu_stats ms;
	struct eptf_parent_stats ps;

	eptf_mmu_get_stats(eptf_replay_mmu(r), &ms);
	eptf_parent_get_stats(eptf_replay_parent(r), &ps);
	if (ms.bytes + ps.bytes > res->peak_model) {
		res->peak_model = ms.bytes + ps.bytes;
		res->mmu_bytes = ms.bytes;
		res->parent_bytes = ps.bytes;
	}
	res->mapped = ms.mapped_4k;
}

/* Guest page of the @k-th touched page: 1 GiB windows spread over the guest. */
static uint64_t touched_gfn(const struct boot_stream *b, uint64_t k)
{
	return (k / GIB_PAGES) * b->win_stride + k % GIB_PAGES;
}

#define BOOT_HVA 0x100000000000ull /* hva of gfn 0: 16 TiB, 1 GiB aligned like the gfns */

/*
 * The run phase after the boot: block by block (2 MiB) over the touched
 * set, cyclically: zap the block (kvm_zap_gfn_range: a flush point), fault
 * it back in and touch every page, then clear_flush_young over its host
 * range (another flush point). The mapped set stays exactly the booted one,
 * so memory must stay flat however long this runs.
 */
static int run_next(struct boot_stream *b, struct eptf_op *op)
{
	uint64_t nblk = b->touched_pages / 512;
	uint64_t gfn = touched_gfn(b, b->blk * 512);
	unsigned vcpu = (unsigned)(b->blk % b->vcpus);

	switch (b->blk_step) {
	case 0:
		op->kind = EPTF_OP_ZAP_RANGE;
		op->addr = gfn;
		op->count = 512;
		b->blk_step = 1;
		b->blk_pos = 0;
		return 1;
	case 1:
		op->kind = EPTF_OP_MAP;
		op->vcpu = vcpu;
		op->addr = gfn + b->blk_pos;
		op->level = (uint8_t)b->level;
		op->flags = EPTF_OPF_WRITE;
		b->blk_step = 2;
		return 1;
	case 2:
		op->kind = EPTF_OP_ACCESS;
		op->vcpu = vcpu;
		op->addr = gfn + b->blk_pos;
		op->flags = EPTF_OPF_WRITE;
		b->blk_pos++;
		if (b->blk_pos == 512)
			b->blk_step = 3;
		else if (b->blk_pos % b->step == 0)
			b->blk_step = 1;
		return 1;
	default:
		op->kind = EPTF_OP_CLEAR_FLUSH_YOUNG;
		op->addr = BOOT_HVA + gfn * 4096;
		op->count = BOOT_HVA + (gfn + 512) * 4096;
		b->blk_step = 0;
		b->blk = nblk ? (b->blk + 1) % nblk : 0;
		return 1;
	}
}

static int boot_next(struct boot_stream *b, struct eptf_op *op)
{
	memset(op, 0, sizeof(*op));
	switch (b->phase) {
	case 0:
		op->kind = EPTF_OP_SLOT_ADD;
		op->slot = 0;
		op->addr = 0;
		op->count = b->guest_pages;
		op->value = BOOT_HVA;
		b->phase = 1;
		break;
	case 1:
		op->kind = EPTF_OP_ROOT_LOAD;
		op->vcpu = b->sub;
		op->flags = EPTF_OPF_DIRECT;
		if (++b->sub == b->vcpus) {
			b->phase = 2;
			b->sub = 0;
		}
		break;
	case 2:
		if (b->pos >= b->touched_pages) {
			b->phase = 3;
			return boot_next(b, op);
		}
		if (b->sub == 0) {
			/* fault in: one 4 KiB page, or the 2 MiB page holding the next 512 */
			op->kind = EPTF_OP_MAP;
			op->vcpu = (unsigned)((b->pos / b->step) % b->vcpus);
			op->addr = touched_gfn(b, b->pos);
			op->level = (uint8_t)b->level;
			op->flags = EPTF_OPF_WRITE;
			b->sub = 1;
			break;
		}
		/* L2 touches every 4 KiB page of what was mapped */
		op->kind = EPTF_OP_ACCESS;
		op->vcpu = (unsigned)((b->pos / b->step) % b->vcpus);
		op->addr = touched_gfn(b, b->pos);
		op->flags = EPTF_OPF_WRITE;
		b->pos++;
		if (b->pos % b->step == 0)
			b->sub = 0;
		break;
	default:
		if (b->emitted >= b->total_ops || b->touched_pages < 512)
			return 0;
		run_next(b, op);
		break;
	}
	b->emitted++;
	return 1;
}

static struct eptf_replay *make_replay(unsigned vcpus, struct result *res)
{
	struct eptf_replay_config cfg;
	struct eptf_replay *r;

	eptf_replay_config_default(&cfg);
	cfg.strategy = strategy;
	cfg.nr_vcpus = vcpus;
	res->rss_base = bench_maxrss();
	if ((res->err = eptf_replay_create(&cfg, &r)) < 0)
		return NULL;
	return r;
}

static void finish(struct eptf_replay *r, struct result *res, double t0)
{
	struct eptf_metrics m;

	sample(r, res);
	res->secs = bench_now() - t0;
	eptf_replay_metrics(r, &m);
	res->stale = m.stale_violations;
	res->rss_peak = bench_maxrss();
	eptf_replay_destroy(r);
}

static void child_boot(uint64_t guest_gib, uint64_t touched_mib, unsigned level, uint64_t total_ops,
		       struct result *res)
{
	struct boot_stream b = {
		.guest_pages = guest_gib * GIB_PAGES,
		.touched_pages = touched_mib << 8,
		.vcpus = 4,
		.level = level,
		.step = level == 2 ? 512 : 1,
		.total_ops = total_ops,
	};
	uint64_t windows = (b.touched_pages + GIB_PAGES - 1) / GIB_PAGES;
	struct eptf_op op;
	double t0 = bench_now();

	b.win_stride = windows ? (b.guest_pages / windows) & ~(GIB_PAGES - 1) : GIB_PAGES;
	if (b.win_stride < GIB_PAGES)
		b.win_stride = GIB_PAGES;
	struct eptf_replay *r = make_replay(b.vcpus, res);
	if (!r)
		return;
	while (boot_next(&b, &op) == 1) {
		if ((res->err = eptf_replay_op(r, &op)) < 0)
			break;
		if (++res->ops % SAMPLE_EVERY == 0)
			sample(r, res);
	}
	finish(r, res, t0);
}

static void child_workload(const char *name, uint64_t guest_gib, uint64_t ops, struct result *res)
{
	struct eptf_workload_params p;
	struct eptf_workload *w;
	struct eptf_op op;
	double t0 = bench_now();

	eptf_workload_params_default(&p);
	p.guest_pages = guest_gib * GIB_PAGES;
	p.nr_vcpus = 4;
	p.ops = ops;
	if ((res->err = eptf_workload_create(name, &p, &w)) < 0)
		return;
	struct eptf_replay *r = make_replay(p.nr_vcpus, res);
	if (!r) {
		eptf_workload_destroy(w);
		return;
	}
	while (eptf_workload_next(w, &op) == 1) {
		if ((res->err = eptf_replay_op(r, &op)) < 0)
			break;
		if (++res->ops % SAMPLE_EVERY == 0)
			sample(r, res);
	}
	finish(r, res, t0);
	eptf_workload_destroy(w);
}

struct job {
	const char *kind; /* "boot" (our stream) or a workload name */
	uint64_t guest_gib, touched_mib, ops;
	unsigned level;
};

/* Run @j in a child process; its result comes back through a pipe. */
static int run_job(const struct job *j, struct result *res)
{
	int fd[2];
	pid_t pid;

	memset(res, 0, sizeof(*res));
	fflush(stdout);
	if (pipe(fd) < 0 || (pid = fork()) < 0) {
		perror("bench_memory");
		return -1;
	}
	if (pid == 0) {
		struct result r;

		memset(&r, 0, sizeof(r));
		close(fd[0]);
		if (!strcmp(j->kind, "boot*"))
			child_boot(j->guest_gib, j->touched_mib, j->level, j->ops, &r);
		else
			child_workload(j->kind, j->guest_gib, j->ops, &r);
		ssize_t n = write(fd[1], &r, sizeof(r));
		_exit(n == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(fd[1]);
	ssize_t n = read(fd[0], res, sizeof(*res));
	close(fd[0]);
	int status;
	waitpid(pid, &status, 0);
	if (n != (ssize_t)sizeof(*res) || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "bench_memory: case %s failed (child status %d)\n", j->kind, status);
		return -1;
	}
	if (res->err < 0) {
		fprintf(stderr, "bench_memory: case %s: %s\n", j->kind, eptf_strerror(res->err));
		return -1;
	}
	return 0;
}

static void print_head(void)
{
	printf("%-8s %7s %9s %5s %10s %10s %9s %9s %8s %9s %8s %8s %6s %8s\n", "case", "guest", "touched", "map",
	       "ops", "mapped", "mmu MB", "parent MB", "model", "B/page", "rss MB", "B/page", "stale", "secs");
}

static void print_row(const struct job *j, const struct result *r)
{
	double mapped = r->mapped ? (double)r->mapped : 1;
	uint64_t rss = r->rss_peak > r->rss_base ? r->rss_peak - r->rss_base : 0;
	char touched[32];

	if (!strcmp(j->kind, "boot*"))
		snprintf(touched, sizeof(touched), "%lluM", (unsigned long long)j->touched_mib);
	else
		snprintf(touched, sizeof(touched), "-");
	printf("%-8s %6lluG %9s %5s %10llu %10llu %9.1f %9.1f %8.1f %9.2f %8.1f %8.2f %6llu %8.2f\n", j->kind,
	       (unsigned long long)j->guest_gib, touched, !strcmp(j->kind, "boot*") ? (j->level == 2 ? "2M" : "4K") : "-",
	       (unsigned long long)r->ops, (unsigned long long)r->mapped, r->mmu_bytes / 1e6, r->parent_bytes / 1e6,
	       r->peak_model / 1e6, r->peak_model / mapped, rss / 1e6, rss / mapped, (unsigned long long)r->stale,
	       r->secs);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	bool big = true;
	uint64_t max_touched_gib = 4, length_ops = 500000;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-big"))
			big = false;
		else if (!strcmp(argv[i], "--max-touched") && i + 1 < argc)
			max_touched_gib = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--length-ops") && i + 1 < argc)
			length_ops = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--strategy") && i + 1 < argc)
			strategy = argv[++i];
		else {
			fprintf(stderr, "usage: bench_memory [--no-big] [--max-touched GIB] [--length-ops N] [--strategy NAME]\n");
			return 2;
		}
	}
	if (max_touched_gib == 0 || length_ops == 0) {
		fprintf(stderr, "bench_memory: --max-touched and --length-ops must be positive\n");
		return 2;
	}

	printf("bench_memory: peak memory per mapped 4 KiB page (model = mmu + parent stats bytes; rss = ru_maxrss\n"
	       "growth of a fork()ed child over its start); strategy %s, checker on, parent defaults\n",
	       strategy);
	bench_print_machine();

	printf("\n1. scaling: boot* (this program's boot stream: map + access every page of the touched set,\n"
	       "   1 GiB windows spread over a 64 GiB guest, 4 vCPUs)\n");
	print_head();
	for (unsigned level = 1; level <= 2 && !rc; level++) {
		for (uint64_t mib = 256; mib <= max_touched_gib * 1024 && !rc; mib *= 4) {
			struct job j = {.kind = "boot*", .guest_gib = 64, .touched_mib = mib, .level = level};
			struct result r;
			if (run_job(&j, &r) < 0)
				rc = 1;
			else
				print_row(&j, &r);
		}
	}

	printf("\n2. trace length: boot* 256 MiB touched (4K maps) + run phase over the same pages,\n"
	       "   %llu and %llu ops in total\n",
	       (unsigned long long)length_ops, (unsigned long long)(10 * length_ops));
	print_head();
	if (!rc) {
		struct result r1, r10;
		struct job j1 = {.kind = "boot*", .guest_gib = 64, .touched_mib = 256, .level = 1, .ops = length_ops};
		struct job j10 = j1;

		j10.ops = 10 * length_ops;
		if (run_job(&j1, &r1) < 0 || run_job(&j10, &r10) < 0) {
			rc = 1;
		} else {
			print_row(&j1, &r1);
			print_row(&j10, &r10);
			double gm = (double)r10.peak_model / (double)(r1.peak_model ? r1.peak_model : 1);
			double gr = (double)r10.rss_peak / (double)(r1.rss_peak ? r1.rss_peak : 1);
			printf("   10x / 1x peak: model %.3f, process maxrss %.3f -> %s (target <= 1.10)\n", gm, gr,
			       gm <= 1.10 && gr <= 1.10 ? "met" : "NOT met");
		}
	}

	printf("\n   for information: synthetic workloads, 16 GiB guest, 4 vCPUs, N and 10 N ops (their mapped\n"
	       "   set grows with N while the generator fills its working set)\n");
	print_head();
	const char *wls[] = {"boot", "mixed"};
	for (size_t k = 0; k < 2 && !rc; k++) {
		struct result r1, r10;
		struct job j1 = {.kind = wls[k], .guest_gib = 16, .ops = length_ops};
		struct job j10 = {.kind = wls[k], .guest_gib = 16, .ops = 10 * length_ops};

		if (run_job(&j1, &r1) < 0 || run_job(&j10, &r10) < 0) {
			rc = 1;
			break;
		}
		print_row(&j1, &r1);
		print_row(&j10, &r10);
		printf("   %s: 10x / 1x: model peak %.3f, maxrss %.3f, mapped pages %.3f\n", wls[k],
		       (double)r10.peak_model / (double)(r1.peak_model ? r1.peak_model : 1),
		       (double)r10.rss_peak / (double)(r1.rss_peak ? r1.rss_peak : 1),
		       (double)r10.mapped / (double)(r1.mapped ? r1.mapped : 1));
	}

	if (big && !rc) {
		printf("\n3. 1 TiB guest, 64 GiB touched, 4 KiB maps (boot*)\n");
		print_head();
		struct job j = {.kind = "boot*", .guest_gib = 1024, .touched_mib = 64 * 1024, .level = 1};
		struct result r;
		if (run_job(&j, &r) < 0)
			rc = 1;
		else
			print_row(&j, &r);
	} else if (!rc) {
		printf("\n3. 1 TiB guest / 64 GiB touched: skipped (--no-big)\n");
	}
	return rc;
}
