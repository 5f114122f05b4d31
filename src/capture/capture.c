/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The live capture: prerequisites, a private tracefs instance, a small
 * VMM on the KVM API (Documentation/virt/kvm/api.rst) with up to four vCPUs
 * running the guest of guest.c, and the copy of the kernel's trace text up
 * to our end marker.
 */
#define _GNU_SOURCE /* madvise, MADV_*, mount, gettid */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <tracefs.h>

#include <eptflush/capture.h>
#include <eptflush/error.h>

#include "capture/guest.h"

#define TRACEFS_MOUNT "/sys/kernel/tracing"
#define SLOT_SYS 0u
#define SLOT_DATA 1u
#define SLOT_HUGE 2u
#define NR_SLOTS 3u

__attribute__((format(printf, 3, 4))) static int fail(char *msg, size_t len, const char *f, ...)
{
	va_list ap;

	if (msg && len) {
		va_start(ap, f);
		vsnprintf(msg, len, f, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- prerequisites ---- */

static int file_exists(const char *dir, const char *rel)
{
	char p[512];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return stat(p, &sb) == 0;
}

int eptf_capture_check(char *msg, size_t len)
{
	static const char *const events[] = {
	    "events/kvmmmu/kvm_mmu_get_page",
	    "events/kvmmmu/kvm_mmu_set_spte",
	    "events/kvmmmu/kvm_mmu_prepare_zap_page",
	    "events/kvm/kvm_unmap_hva_range",
	    "events/kvm/kvm_age_hva",
	    "events/kvm/kvm_test_age_hva",
	};
	const char *dir;
	int fd, api;

	if (geteuid() != 0) {
		fail(msg, len,
		     "not root: capture needs root to use /dev/kvm and tracefs (run it as root)");
		return EPTF_ENOTSUP;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fail(msg, len,
		     "no usable /dev/kvm: open: %s (is KVM built in or its module loaded?)",
		     strerror(errno));
		return EPTF_ENOTSUP;
	}
	api = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	if (api != KVM_API_VERSION) {
		fail(msg, len, "/dev/kvm speaks API %d, capture needs %d", api, KVM_API_VERSION);
		return EPTF_ENOTSUP;
	}
	if (!file_exists(TRACEFS_MOUNT, "trace")) {
		/* not mounted: mount it where libtracefs looks first */
		if (mount("nodev", TRACEFS_MOUNT, "tracefs", 0, NULL) && errno != EBUSY) {
			fail(msg, len, "tracefs is not mounted and mounting it at %s failed: %s",
			     TRACEFS_MOUNT, strerror(errno));
			return EPTF_ENOTSUP;
		}
	}
	dir = tracefs_tracing_dir();
	if (!dir || !file_exists(dir, "instances")) {
		fail(msg, len, "tracefs not found (looked at %s; mount -t tracefs nodev %s)",
		     TRACEFS_MOUNT, TRACEFS_MOUNT);
		return EPTF_ENOTSUP;
	}
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		if (!file_exists(dir, events[i])) {
			fail(msg, len,
			     "trace event %s missing in %s (kernel without KVM tracepoints?)",
			     events[i] + 7, dir);
			return EPTF_ENOTSUP;
		}
	}
	return 0;
}

/* ---- the VM ---- */

/* A vCPU other than vCPU 0: its own thread, run loop and error. */
struct comp {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t th;
	bool started;
	atomic_long tid;      /* its thread id, once running */
	atomic_bool finished; /* its run loop has returned */
	char msg[256];	      /* why it failed, empty if it did not */
	uint64_t exits_io;
	uint64_t mmio_exits; /* reads of slot 1 while vCPU 0 re-created it */
};

/* One guest memslot and the host mapping behind it. */
struct gslot {
	uint64_t gpa, size; /* guest-physical base and bytes */
	uint8_t *hva;	    /* host address of gpa (aligned inside map) */
	void *map;	    /* what mmap returned, map_len bytes */
	size_t map_len;
};

struct vm {
	int kvm, fd, vcpu;
	struct kvm_run *run;
	size_t run_size;
	struct gslot slot[NR_SLOTS]; /* SLOT_SYS, SLOT_DATA, SLOT_HUGE */
	unsigned nr_vcpus;	     /* vCPU 0 runs in the calling thread */
	struct comp *comp;	     /* vCPUs 1.., each in a thread of its own */
	atomic_bool stop;	     /* vCPU 0 is done: the others stop */
	atomic_bool go;		     /* the others may enter the guest */
	uint64_t *bitmap;	     /* dirty bitmap, big enough for any slot */
	bool manual_protect;
	struct tracefs_instance *inst;
	FILE *log;
	bool verbose;
};

__attribute__((format(printf, 2, 3))) static void marker(struct vm *vm, const char *f, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, f);
	vsnprintf(buf, sizeof(buf), f, ap);
	va_end(ap);
	if (vm->inst)
		tracefs_printf(vm->inst, "%s\n", buf);
}

static int set_slot(struct vm *vm, unsigned id, uint64_t gpa, uint64_t size, void *hva,
		    uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
	    .slot = id,
	    .flags = flags,
	    .guest_phys_addr = gpa,
	    .memory_size = size,
	    .userspace_addr = (uint64_t)(uintptr_t)hva,
	};

	return ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r);
}

static void seg(struct kvm_segment *s, uint16_t sel, unsigned type, unsigned dpl, bool code)
{
	*s = (struct kvm_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = sel,
	    .type = (uint8_t)type,
	    .present = 1,
	    .dpl = (uint8_t)dpl,
	    .db = code ? 0 : 1,
	    .s = 1,
	    .l = code ? 1 : 0,
	    .g = 1,
	};
}

static int vm_setup_cpu(struct vm *vm, int fd, unsigned id, char *msg, size_t len)
{
	struct kvm_cpuid2 *cpuid;
	struct kvm_sregs sr;
	struct kvm_regs regs;
	const unsigned nent = 256;
	int r;

	cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return fail(msg, len, "out of memory");
	cpuid->nent = nent;
	r = ioctl(vm->kvm, KVM_GET_SUPPORTED_CPUID, cpuid);
	if (!r)
		r = ioctl(fd, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	if (r)
		return fail(msg, len, "KVM_GET_SUPPORTED_CPUID/KVM_SET_CPUID2: %s",
			    strerror(errno));

	if (ioctl(fd, KVM_GET_SREGS, &sr))
		return fail(msg, len, "KVM_GET_SREGS: %s", strerror(errno));
	/* long mode straight away (SDM vol. 3 §10.8.5): CR0.PE|ET|NE|WP|PG,
	 * CR4.PAE, EFER.LME|LMA; the vCPU starts at CPL3 in the user program */
	sr.cr0 = 0x1u | 0x10u | 0x20u | 0x10000u | 0x80000000u;
	sr.cr4 = 0x20u;
	sr.efer = 0x100u | 0x400u;
	sr.cr3 = eptf_guest_vcpu_cr3(id);
	sr.gdt.base = EPTF_G_GDT;
	sr.gdt.limit = EPTF_GDT_ENTRIES * 8 - 1;
	sr.idt.base = EPTF_G_IDT;
	sr.idt.limit = 256 * 16 - 1;
	seg(&sr.cs, EPTF_SEL_UCODE, 0xb, 3, true);
	seg(&sr.ss, EPTF_SEL_UDATA, 0x3, 3, false);
	sr.ds = sr.es = sr.fs = sr.gs = sr.ss;
	sr.tr = (struct kvm_segment){.base = eptf_guest_vcpu_tss(id),
				     .limit = 0x67,
				     .selector = EPTF_SEL_TSS,
				     .type = 0xb,
				     .present = 1};
	sr.ldt = (struct kvm_segment){.type = 0x2, .present = 0, .unusable = 1};
	if (ioctl(fd, KVM_SET_SREGS, &sr))
		return fail(msg, len, "KVM_SET_SREGS (64-bit long mode): %s", strerror(errno));
	memset(&regs, 0, sizeof(regs));
	regs.rip = eptf_guest_vcpu_rip(id);
	regs.rsp = EPTF_G_USTACK_TOP - 0x1000ull * id;
	regs.rflags = 0x2;
	if (ioctl(fd, KVM_SET_REGS, &regs))
		return fail(msg, len, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

/*
 * Map @size bytes for slot @s at guest-physical @gpa. A huge slot is
 * aligned to 2 MiB in the host too (KVM maps a 2 MiB SPTE only where gfn
 * and hva agree modulo 2 MiB) and asks for transparent huge pages; the
 * others ask for 4 KiB pages, so that KVM maps page by page.
 */
static int map_slot(struct gslot *s, uint64_t gpa, uint64_t size, bool huge)
{
	const size_t align = huge ? (2u << 20) : 4096u;
	uintptr_t p;

	s->gpa = gpa;
	s->size = size;
	s->map_len = (size_t)size + align - 4096u;
	s->map = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		return -1;
	}
	p = ((uintptr_t)s->map + align - 1) & ~(uintptr_t)(align - 1);
	s->hva = (uint8_t *)p;
	madvise(s->hva, (size_t)size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return 0;
}

/* Map guest memory and build the guest image in it. */
static int vm_alloc(struct vm *vm, const struct eptf_capture_opts *o, struct eptf_guest_entry *e,
		    char *msg, size_t len)
{
	struct eptf_guest_cfg cfg = {.workloads = o->workloads, .data_bytes = o->memory};
	uint64_t most = o->memory > EPTF_G_HUGE_SIZE ? o->memory : EPTF_G_HUGE_SIZE;
	int r;

	if (map_slot(&vm->slot[SLOT_SYS], 0, EPTF_G_SYS_SIZE, false) ||
	    map_slot(&vm->slot[SLOT_DATA], EPTF_G_DATA, o->memory, false) ||
	    map_slot(&vm->slot[SLOT_HUGE], EPTF_G_HUGE, EPTF_G_HUGE_SIZE, true))
		return fail(msg, len, "mmap guest memory: %s", strerror(errno));
	r = eptf_guest_build(vm->slot[SLOT_SYS].hva, EPTF_G_SYS_SIZE, &cfg, e);
	if (r < 0)
		return fail(msg, len, "building the guest image: %s", eptf_strerror(r));
	vm->bitmap = calloc(most / 4096 / 64 + 1, sizeof(uint64_t));
	if (!vm->bitmap)
		return fail(msg, len, "out of memory");
	return 0;
}

static int vm_create(struct vm *vm, char *msg, size_t len)
{
	int sz;

	vm->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm < 0)
		return fail(msg, len, "open /dev/kvm: %s", strerror(errno));
	vm->fd = ioctl(vm->kvm, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		return fail(msg, len, "KVM_CREATE_VM: %s", strerror(errno));
	/* with manual protect, GET_DIRTY_LOG only reports and CLEAR_DIRTY_LOG
	 * re-protects: the two harvest steps the seed's patch 8 flushes in */
	if (ioctl(vm->kvm, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) > 0) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
					     .args = {KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE}};

		vm->manual_protect = ioctl(vm->fd, KVM_ENABLE_CAP, &cap) == 0;
	}

	marker(vm, "eptflush: vcpus %u", vm->nr_vcpus);
	marker(vm, "eptflush: vcpu 0 tid=%ld", (long)gettid());
	for (unsigned i = 0; i < NR_SLOTS; i++) {
		const struct gslot *g = &vm->slot[i];

		marker(vm, "eptflush: memslot id=%u gfn=0x%llx pages=0x%llx hva=0x%llx flags=0", i,
		       (unsigned long long)(g->gpa >> 12), (unsigned long long)(g->size >> 12),
		       (unsigned long long)(uintptr_t)g->hva);
		if (set_slot(vm, i, g->gpa, g->size, g->hva, 0))
			return fail(msg, len, "KVM_SET_USER_MEMORY_REGION slot %u: %s", i,
				    strerror(errno));
	}

	vm->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu < 0)
		return fail(msg, len, "KVM_CREATE_VCPU: %s", strerror(errno));
	sz = ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0)
		return fail(msg, len, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	vm->run_size = (size_t)sz;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		return fail(msg, len, "mmap kvm_run: %s", strerror(errno));
	}
	if (vm_setup_cpu(vm, vm->vcpu, 0, msg, len))
		return -1;
	for (unsigned i = 1; i < vm->nr_vcpus; i++) {
		struct comp *c = &vm->comp[i - 1];

		c->vm = vm;
		c->id = i;
		c->fd = ioctl(vm->fd, KVM_CREATE_VCPU, i);
		if (c->fd < 0)
			return fail(msg, len, "KVM_CREATE_VCPU %u: %s", i, strerror(errno));
		c->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
		if (c->run == MAP_FAILED) {
			c->run = NULL;
			return fail(msg, len, "mmap kvm_run of vCPU %u: %s", i, strerror(errno));
		}
		if (vm_setup_cpu(vm, c->fd, i, msg, len))
			return -1;
	}
	return 0;
}

static void vm_destroy(struct vm *vm)
{
	for (unsigned i = 1; vm->comp && i < vm->nr_vcpus; i++) {
		struct comp *c = &vm->comp[i - 1];

		if (c->run)
			munmap(c->run, vm->run_size);
		if (c->fd >= 0)
			close(c->fd);
	}
	free(vm->comp);
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu >= 0)
		close(vm->vcpu);
	if (vm->fd >= 0)
		close(vm->fd);
	if (vm->kvm >= 0)
		close(vm->kvm);
	for (unsigned i = 0; i < NR_SLOTS; i++)
		if (vm->slot[i].map)
			munmap(vm->slot[i].map, vm->slot[i].map_len);
	free(vm->bitmap);
}

/* ---- commands from the guest ---- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct runstate {
	const struct eptf_capture_opts *o;
	struct eptf_capture_stats *st;
	unsigned nr_workloads;
	unsigned cur;	  /* workload in progress */
	double phase_end; /* when the current workload must stop */
	double hard_end;  /* when the VMM gives up on the guest */
	uint32_t reply;	  /* next value for an `in` from PORT_REPLY */
	bool done;
};

/* The guest names slot 1 or 2 for dirty logging and madvise. */
static struct gslot *guest_slot(struct vm *vm, uint64_t id)
{
	return id == SLOT_DATA || id == SLOT_HUGE ? &vm->slot[id] : NULL;
}

static int dirty_flags(struct vm *vm, unsigned id, uint32_t flags, char *msg, size_t len)
{
	const struct gslot *g = &vm->slot[id];

	marker(vm, "eptflush: memslot-flags id=%u flags=%u", id, flags);
	if (set_slot(vm, id, g->gpa, g->size, g->hva, flags))
		return fail(msg, len, "KVM_SET_USER_MEMORY_REGION (slot %u dirty logging %s): %s",
			    id, flags ? "on" : "off", strerror(errno));
	return 0;
}

static int harvest(struct vm *vm, struct runstate *rs, unsigned id, char *msg, size_t len)
{
	uint64_t pages = vm->slot[id].size >> 12, words = (pages + 63) / 64;
	struct kvm_dirty_log dl = {.slot = id, .dirty_bitmap = vm->bitmap};

	memset(vm->bitmap, 0, words * 8);
	if (ioctl(vm->fd, KVM_GET_DIRTY_LOG, &dl))
		return fail(msg, len, "KVM_GET_DIRTY_LOG slot %u: %s", id, strerror(errno));
	marker(vm, "eptflush: get-dirty-log id=%u", id);
	rs->st->harvests++;
	for (uint64_t i = 0; i < words; i++)
		rs->st->dirty_pages += (uint64_t)__builtin_popcountll(vm->bitmap[i]);
	if (!vm->manual_protect)
		return 0;
	{
		struct kvm_clear_dirty_log cl = {.slot = id,
						 .num_pages = (uint32_t)pages,
						 .first_page = 0,
						 .dirty_bitmap = vm->bitmap};

		if (ioctl(vm->fd, KVM_CLEAR_DIRTY_LOG, &cl))
			return fail(msg, len, "KVM_CLEAR_DIRTY_LOG slot %u: %s", id,
				    strerror(errno));
	}
	for (uint64_t i = 0; i < words; i++)
		if (vm->bitmap[i])
			marker(vm, "eptflush: clear-dirty-log id=%u first=0x%llx mask=0x%llx", id,
			       (unsigned long long)(i * 64), (unsigned long long)vm->bitmap[i]);
	return 0;
}

static int command(struct vm *vm, struct runstate *rs, uint32_t cmd, char *msg, size_t len)
{
	struct kvm_regs regs;
	uint64_t a0, a1, a2;
	struct gslot *g;

	if (ioctl(vm->vcpu, KVM_GET_REGS, &regs))
		return fail(msg, len, "KVM_GET_REGS: %s", strerror(errno));
	a0 = regs.rsi;
	a1 = regs.r8;
	a2 = regs.r9;
	rs->reply = 0;
	switch (cmd) {
	case EPTF_CMD_PHASE:
		if (a0 >= EPTF_CAPTURE_NR)
			return fail(msg, len, "guest named workload %llu", (unsigned long long)a0);
		rs->cur = (unsigned)a0;
		rs->phase_end = now() + rs->o->seconds / rs->nr_workloads;
		marker(vm, "eptflush: phase %s", eptf_capture_workload_name(rs->cur));
		if (vm->verbose && vm->log)
			fprintf(vm->log, "capture: phase %s\n",
				eptf_capture_workload_name(rs->cur));
		return 0;
	case EPTF_CMD_ROUND:
		rs->st->rounds[rs->cur]++;
		if (now() >= rs->phase_end ||
		    (rs->o->rounds && rs->st->rounds[rs->cur] >= rs->o->rounds))
			rs->reply = 1;
		return 0;
	case EPTF_CMD_DIRTY_ON:
	case EPTF_CMD_DIRTY_OFF:
	case EPTF_CMD_DIRTY_HARVEST:
		if (!guest_slot(vm, a0))
			return fail(msg, len, "guest asked for dirty logging on slot %llu",
				    (unsigned long long)a0);
		if (cmd == EPTF_CMD_DIRTY_HARVEST)
			return harvest(vm, rs, (unsigned)a0, msg, len);
		return dirty_flags(vm, (unsigned)a0,
				   cmd == EPTF_CMD_DIRTY_ON ? KVM_MEM_LOG_DIRTY_PAGES : 0, msg,
				   len);
	case EPTF_CMD_MADVISE:
		g = guest_slot(vm, a2);
		if (!g || a0 > g->size || a1 > g->size - a0 || a0 % 4096 || a1 % 4096)
			return fail(
			    msg, len,
			    "guest asked to madvise [0x%llx, +0x%llx) of slot %llu: outside it",
			    (unsigned long long)a0, (unsigned long long)a1, (unsigned long long)a2);
		if (madvise(g->hva + a0, a1, MADV_DONTNEED))
			return fail(msg, len, "madvise(MADV_DONTNEED): %s", strerror(errno));
		rs->st->madvised_pages += a1 >> 12;
		return 0;
	case EPTF_CMD_AGE: {
		uint64_t ms = a0 > 1000 ? 1000 : a0;
		struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
				      .tv_nsec = (long)(ms % 1000) * 1000000};

		/* the 100 ms SIGALRM tick interrupts the sleep: sleep on */
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		return 0;
	}
	case EPTF_CMD_SLOT_RECREATE:
		g = &vm->slot[SLOT_DATA];
		marker(vm, "eptflush: memslot-delete id=%u", SLOT_DATA);
		if (set_slot(vm, SLOT_DATA, g->gpa, 0, g->hva, 0))
			return fail(msg, len, "KVM_SET_USER_MEMORY_REGION (delete slot 1): %s",
				    strerror(errno));
		marker(vm, "eptflush: memslot id=%u gfn=0x%llx pages=0x%llx hva=0x%llx flags=0",
		       SLOT_DATA, (unsigned long long)(g->gpa >> 12),
		       (unsigned long long)(g->size >> 12), (unsigned long long)(uintptr_t)g->hva);
		if (set_slot(vm, SLOT_DATA, g->gpa, g->size, g->hva, 0))
			return fail(msg, len, "KVM_SET_USER_MEMORY_REGION (re-create slot 1): %s",
				    strerror(errno));
		return 0;
	default:
		return fail(msg, len, "guest sent unknown command %u", cmd);
	}
}

static int guest_fault(struct vm *vm, uint32_t vector, char *msg, size_t len)
{
	struct kvm_regs regs;
	uint64_t frame[6] = {0};

	if (ioctl(vm->vcpu, KVM_GET_REGS, &regs))
		return fail(msg, len, "guest exception vector %u (KVM_GET_REGS failed)", vector);
	if (regs.rsp >= 0x1000 && regs.rsp + sizeof(frame) <= EPTF_G_SYS_SIZE)
		memcpy(frame, vm->slot[SLOT_SYS].hva + regs.rsp, sizeof(frame));
	return fail(msg, len,
		    "guest exception vector %u; stack frame %llx %llx %llx %llx (error code if "
		    "any, then rip, cs, "
		    "rflags)",
		    vector, (unsigned long long)frame[0], (unsigned long long)frame[1],
		    (unsigned long long)frame[2], (unsigned long long)frame[3]);
}

static void on_alarm(int sig)
{
	(void)sig;
}

static int vm_run(struct vm *vm, struct runstate *rs, char *msg, size_t len)
{
	struct kvm_run *run = vm->run;

	while (!rs->done) {
		if (ioctl(vm->vcpu, KVM_RUN, 0)) {
			if (errno == EINTR || errno == EAGAIN) {
				if (now() >= rs->hard_end) {
					rs->st->timed_out = true;
					return 0;
				}
				continue;
			}
			return fail(msg, len, "KVM_RUN: %s", strerror(errno));
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			uint8_t *data = (uint8_t *)run + run->io.data_offset;
			uint32_t v = 0;

			rs->st->exits_io++;
			if (run->io.size != 4 || run->io.count != 1)
				return fail(msg, len, "guest I/O of size %u count %u on port 0x%x",
					    run->io.size, run->io.count, run->io.port);
			if (run->io.direction == KVM_EXIT_IO_OUT)
				memcpy(&v, data, 4);
			if (run->io.port == EPTF_PORT_CMD && run->io.direction == KVM_EXIT_IO_OUT) {
				if (command(vm, rs, v, msg, len))
					return -1;
			} else if (run->io.port == EPTF_PORT_REPLY &&
				   run->io.direction == KVM_EXIT_IO_IN) {
				memcpy(data, &rs->reply, 4);
			} else if (run->io.port == EPTF_PORT_EXIT) {
				rs->done = true;
			} else if (run->io.port == EPTF_PORT_FAULT) {
				return guest_fault(vm, v, msg, len);
			} else {
				return fail(msg, len, "guest I/O on unknown port 0x%x",
					    run->io.port);
			}
			break;
		}
		case KVM_EXIT_HLT:
			rs->done = true;
			break;
		case KVM_EXIT_SHUTDOWN:
			return fail(msg, len, "guest shut down (triple fault)");
		case KVM_EXIT_FAIL_ENTRY:
			return fail(
			    msg, len, "KVM_EXIT_FAIL_ENTRY, reason 0x%llx",
			    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		case KVM_EXIT_INTERNAL_ERROR:
			return fail(msg, len, "KVM_EXIT_INTERNAL_ERROR, suberror %u",
				    run->internal.suberror);
		default:
			return fail(msg, len, "unexpected KVM exit reason %u", run->exit_reason);
		}
	}
	return 0;
}

/* ---- the other vCPUs ---- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The run loop of vCPU c->id: its program only reads and SPINs. */
static void *comp_main(void *arg)
{
	struct comp *c = arg;
	struct kvm_run *run = c->run;
	uint32_t reply = 0;

	atomic_store(&c->tid, (long)gettid());
	while (!atomic_load(&c->vm->go) && !atomic_load(&c->vm->stop))
		sleep_ms(1);
	while (atomic_load(&c->vm->go)) {
		if (ioctl(c->fd, KVM_RUN, 0)) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(c->msg, sizeof(c->msg), "vCPU %u: KVM_RUN: %s", c->id,
				 strerror(errno));
			break;
		}
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		if (run->exit_reason == KVM_EXIT_MMIO) {
			/* vCPU 0's SLOT_RECREATE removes slot 1 for a moment and
			 * a read that hits the gap exits as MMIO: it reads 0 */
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0, sizeof(run->mmio.data));
			c->mmio_exits++;
			continue;
		}
		if (run->exit_reason != KVM_EXIT_IO || run->io.size != 4 || run->io.count != 1) {
			snprintf(c->msg, sizeof(c->msg), "vCPU %u: unexpected exit %u", c->id,
				 run->exit_reason);
			break;
		}
		c->exits_io++;
		{
			uint8_t *data = (uint8_t *)run + run->io.data_offset;
			uint32_t v = 0;

			if (run->io.direction == KVM_EXIT_IO_OUT)
				memcpy(&v, data, 4);
			if (run->io.port == EPTF_PORT_CMD && v == EPTF_CMD_SPIN) {
				/* pace the reads: each request is emulated and walks */
				sleep_ms(20);
				reply = atomic_load(&c->vm->stop) ? 1 : 0;
			} else if (run->io.port == EPTF_PORT_REPLY &&
				   run->io.direction == KVM_EXIT_IO_IN) {
				memcpy(data, &reply, 4);
			} else if (run->io.port == EPTF_PORT_EXIT) {
				break;
			} else {
				snprintf(c->msg, sizeof(c->msg),
					 "vCPU %u: guest I/O on port 0x%x (value %u)%s", c->id,
					 run->io.port, v,
					 run->io.port == EPTF_PORT_FAULT ? ": an exception" : "");
				break;
			}
		}
	}
	atomic_store(&c->finished, true);
	return NULL;
}

/*
 * Start vCPUs 1..: their threads, the kvmmmu filter extended to their
 * thread ids, their `vcpu N tid=T` markers, then let them run.
 */
static int comps_start(struct vm *vm, const struct eptf_capture_opts *o, char *msg, size_t len)
{
	char filt[512];
	size_t n;

	for (unsigned i = 1; i < vm->nr_vcpus; i++) {
		struct comp *c = &vm->comp[i - 1];

		if (pthread_create(&c->th, NULL, comp_main, c))
			return fail(msg, len, "starting the thread of vCPU %u failed", i);
		c->started = true;
	}
	n = (size_t)snprintf(filt, sizeof(filt), "common_pid == %ld", (long)gettid());
	for (unsigned i = 1; i < vm->nr_vcpus; i++) {
		struct comp *c = &vm->comp[i - 1];

		while (!atomic_load(&c->tid))
			sleep_ms(1);
		marker(vm, "eptflush: vcpu %u tid=%ld", i, atomic_load(&c->tid));
		n += (size_t)snprintf(filt + n, sizeof(filt) - n, " || common_pid == %ld",
				      atomic_load(&c->tid));
	}
	if (o->pid_filter &&
	    tracefs_instance_file_write(vm->inst, "events/kvmmmu/filter", filt) < 0)
		return fail(msg, len, "extending the kvmmmu pid filter: %s", strerror(errno));
	atomic_store(&vm->go, true);
	return 0;
}

/* Stop and join vCPUs 1..; returns -1 with @msg if one failed or hung. */
static int comps_stop(struct vm *vm, char *msg, size_t len)
{
	int r = 0;

	atomic_store(&vm->stop, true);
	for (unsigned i = 1; i < vm->nr_vcpus; i++) {
		struct comp *c = &vm->comp[i - 1];
		unsigned waited = 0;

		if (!c->started)
			continue;
		/* a SPIN reply stops it within 20 ms; a signal gets it out of
		 * KVM_RUN if its guest hangs; after 3 s it is told to quit */
		while (!atomic_load(&c->finished) && waited < 3000) {
			pthread_kill(c->th, SIGALRM);
			sleep_ms(10);
			waited += 10;
		}
		if (!atomic_load(&c->finished)) {
			atomic_store(&vm->go, false);
			while (!atomic_load(&c->finished)) {
				pthread_kill(c->th, SIGALRM);
				sleep_ms(10);
			}
			if (!r)
				r = fail(msg, len, "vCPU %u did not stop", i);
		}
		pthread_join(c->th, NULL);
		c->started = false;
		if (c->msg[0] && !r)
			r = fail(msg, len, "%s", c->msg);
	}
	return r;
}

/* ---- tracing ---- */

static int trace_setup(struct vm *vm, const struct eptf_capture_opts *o, char *msg, size_t len)
{
	char name[64], filt[512], range[NR_SLOTS][2][96];
	size_t kb = o->buffer_kb ? o->buffer_kb : 65536;

	snprintf(name, sizeof(name), "eptflush-capture-%ld", (long)getpid());
	vm->inst = tracefs_instance_create(name);
	if (!vm->inst)
		return fail(msg, len, "creating tracefs instance %s: %s", name, strerror(errno));
	tracefs_trace_off(vm->inst);
	if (tracefs_instance_set_buffer_size(vm->inst, kb, -1) < 0)
		return fail(msg, len, "setting the ring buffer to %zu KiB per CPU: %s", kb,
			    strerror(errno));
	if (tracefs_option_disable(vm->inst, TRACEFS_OPTION_OVERWRITE) < 0)
		return fail(msg, len, "turning the overwrite option off: %s", strerror(errno));
	if (o->pid_filter) {
		/* kvmmmu events of this VM run in this (single-threaded) VMM;
		 * other VMs on the machine would otherwise mix in */
		snprintf(filt, sizeof(filt), "common_pid == %ld", (long)getpid());
		if (tracefs_instance_file_write(vm->inst, "events/kvmmmu/filter", filt) < 0)
			return fail(msg, len, "setting the kvmmmu pid filter: %s", strerror(errno));
	}
	if (tracefs_event_enable(vm->inst, "kvmmmu", NULL) < 0)
		return fail(msg, len, "enabling kvmmmu events: %s", strerror(errno));
	/* notifier events come from any task (kdamond ages everything): keep
	 * those that overlap the guest's host ranges */
	for (unsigned i = 0; i < NR_SLOTS; i++) {
		unsigned long long lo = (uintptr_t)vm->slot[i].hva, hi = lo + vm->slot[i].size;

		snprintf(range[i][0], sizeof(range[i][0]), "(start < 0x%llx && end > 0x%llx)", hi,
			 lo);
		snprintf(range[i][1], sizeof(range[i][1]), "(hva >= 0x%llx && hva < 0x%llx)", lo,
			 hi);
	}
	static_assert(NR_SLOTS == 3, "the filters name three slots");
	snprintf(filt, sizeof(filt), "%s || %s || %s", range[0][0], range[1][0], range[2][0]);
	if (tracefs_event_file_write(vm->inst, "kvm", "kvm_unmap_hva_range", "filter", filt) < 0 ||
	    tracefs_event_file_write(vm->inst, "kvm", "kvm_age_hva", "filter", filt) < 0)
		return fail(msg, len, "setting the kvm notifier filters: %s", strerror(errno));
	snprintf(filt, sizeof(filt), "%s || %s || %s", range[0][1], range[1][1], range[2][1]);
	if (tracefs_event_file_write(vm->inst, "kvm", "kvm_test_age_hva", "filter", filt) < 0)
		return fail(msg, len, "setting the kvm_test_age_hva filter: %s", strerror(errno));
	if (tracefs_event_enable(vm->inst, "kvm", "kvm_unmap_hva_range") < 0 ||
	    tracefs_event_enable(vm->inst, "kvm", "kvm_age_hva") < 0 ||
	    tracefs_event_enable(vm->inst, "kvm", "kvm_test_age_hva") < 0)
		return fail(msg, len, "enabling the kvm notifier events: %s", strerror(errno));
	if (tracefs_trace_on(vm->inst) < 0)
		return fail(msg, len, "tracing_on: %s", strerror(errno));
	return 0;
}

/* Sum "overrun" and "dropped events" over the instance's per-CPU stats. */
static uint64_t trace_overruns(struct vm *vm)
{
	uint64_t sum = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);

	for (long c = 0; c < ncpu && c < 4096; c++) {
		char rel[64], *text, *p;
		int size;

		snprintf(rel, sizeof(rel), "per_cpu/cpu%ld/stats", c);
		text = tracefs_instance_file_read(vm->inst, rel, &size);
		if (!text)
			continue;
		if ((p = strstr(text, "overrun: ")))
			sum += strtoull(p + 9, NULL, 10);
		if ((p = strstr(text, "dropped events: ")))
			sum += strtoull(p + 16, NULL, 10);
		free(text);
	}
	return sum;
}

/* Copy the instance's text up to and including the end marker into @path. */
static int trace_save(struct vm *vm, const char *path, struct eptf_capture_stats *st, char *msg,
		      size_t len)
{
	char tmp[4096], *src;
	FILE *in, *out;
	int fd, r;

	if (strlen(path) + 16 > sizeof(tmp))
		return fail(msg, len, "%s: path too long", path);
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return fail(msg, len, "%s: cannot create: %s", tmp, strerror(errno));
	/* mkstemp makes it 0600; the trace is meant to be shared */
	fchmod(fd, 0644);
	out = fdopen(fd, "w");
	src = tracefs_instance_get_file(vm->inst, "trace");
	in = src ? fopen(src, "r") : NULL;
	tracefs_put_tracing_file(src);
	if (!out || !in) {
		if (out)
			fclose(out);
		else
			close(fd);
		if (in)
			fclose(in);
		unlink(tmp);
		return fail(msg, len, "reading the instance's trace: %s", strerror(errno));
	}
	r = eptf_capture_copy_trace(in, out, st);
	fclose(in);
	if (fclose(out) || r <= 0) {
		unlink(tmp);
		return fail(msg, len,
			    r ? "%s: write failed" : "%s: the end marker is missing from the trace",
			    path);
	}
	if (rename(tmp, path)) {
		unlink(tmp);
		return fail(msg, len, "rename to %s: %s", path, strerror(errno));
	}
	return 0;
}

static void trace_teardown(struct vm *vm)
{
	if (!vm->inst)
		return;
	tracefs_trace_off(vm->inst);
	tracefs_print_close(vm->inst);
	tracefs_event_disable(vm->inst, NULL, NULL);
	tracefs_instance_destroy(vm->inst);
	tracefs_instance_free(vm->inst);
	vm->inst = NULL;
}

/* ---- the whole run ---- */

int eptf_capture_run(const struct eptf_capture_opts *opts, struct eptf_capture_stats *st, char *msg,
		     size_t len, FILE *log)
{
	struct eptf_capture_opts o = *opts;
	struct vm vm = {.kvm = -1, .fd = -1, .vcpu = -1, .log = log, .verbose = opts->verbose};
	struct runstate rs = {.o = &o, .st = st};
	/* SA_RESTART: the VMM's other system calls restart; KVM_RUN returns
	 * EINTR anyway (KVM answers a pending signal with -EINTR) */
	struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART}, old_sa;
	struct itimerval tick = {.it_interval = {0, 100000}, .it_value = {0, 100000}},
			 off = {{0, 0}, {0, 0}};
	struct eptf_guest_entry entry;
	struct utsname u;
	int r;

	memset(st, 0, sizeof(*st));
	if (!uname(&u))
		snprintf(st->kernel, sizeof(st->kernel), "%s", u.release);
	if (!o.workloads)
		o.workloads = EPTF_CAPTURE_ALL;
	if (!o.nr_vcpus)
		o.nr_vcpus = 1;
	if (o.nr_vcpus > EPTF_MAX_VCPUS) {
		fail(msg, len, "at most %u vCPUs", EPTF_MAX_VCPUS);
		return EPTF_EINVAL;
	}
	if (!o.raw_path || o.seconds <= 0 || o.memory < EPTF_G_DATA_MIN ||
	    o.memory > EPTF_G_DATA_MAX || o.memory % (2ull << 20) ||
	    (o.workloads & ~(unsigned)EPTF_CAPTURE_ALL)) {
		fail(msg, len,
		     "bad capture options (memory must be a multiple of 2 MiB in 4 MiB..512 MiB)");
		return EPTF_EINVAL;
	}
	r = eptf_capture_check(msg, len);
	if (r < 0)
		return r;
	for (unsigned w = 0; w < EPTF_CAPTURE_NR; w++)
		rs.nr_workloads += (o.workloads >> w) & 1u;

	/* tracing starts before the VM exists so that the memslot markers
	 * and the first faults are in the buffer; the notifier filters need
	 * the host addresses, so memory is mapped first */
	vm.nr_vcpus = o.nr_vcpus;
	vm.comp = calloc(EPTF_MAX_VCPUS, sizeof(*vm.comp));
	if (!vm.comp) {
		r = EPTF_ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < EPTF_MAX_VCPUS; i++)
		vm.comp[i].fd = -1;
	if (vm_alloc(&vm, &o, &entry, msg, len)) {
		r = EPTF_ENOMEM;
		goto out;
	}
	if (trace_setup(&vm, &o, msg, len)) {
		r = EPTF_EIO;
		goto out;
	}
	if (vm_create(&vm, msg, len)) {
		r = EPTF_EIO;
		goto out;
	}
	sigaction(SIGALRM, &sa, &old_sa);
	setitimer(ITIMER_REAL, &tick, NULL);
	rs.hard_end = now() + o.seconds * 2 + 10;
	r = comps_start(&vm, &o, msg, len) || vm_run(&vm, &rs, msg, len) ? EPTF_EIO : 0;
	/* vCPU 0 is done: the end marker comes after the others' last event */
	if (comps_stop(&vm, r ? NULL : msg, r ? 0 : len) && !r)
		r = EPTF_EIO;
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old_sa, NULL);
	marker(&vm, "eptflush: end");
	tracefs_trace_off(vm.inst);
	st->overruns = trace_overruns(&vm);
	if (!r && trace_save(&vm, o.raw_path, st, msg, len))
		r = EPTF_EIO;
out:
	trace_teardown(&vm);
	vm_destroy(&vm);
	return r;
}
