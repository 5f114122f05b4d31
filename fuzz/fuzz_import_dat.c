/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for the trace.dat importer. The input is written to a
 * file and imported through eptf_import_dat(), which parses it with
 * libtracecmd/libtraceevent in a forked child (those libraries are not
 * hardened against corrupt files; a crash there must become a clean
 * error). Coverage guidance therefore reaches only the parent's side: the
 * pipe protocol, the sink calls and the error paths; the child's parsing
 * runs blind. Invariants: the import either succeeds with a header before
 * any op, or fails with a negative EPTF_E* and a message that names the
 * file; every op emitted formats and parses back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <eptflush/error.h>
#include <eptflush/import.h>
#include <eptflush/trace.h>

#include "import_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/*
 * libtracecmd trusts sizes read from the file and asks malloc for exabytes
 * on some inputs; a plain build gets NULL and fails cleanly, and so must the
 * forked child here (else ASan aborts it and libFuzzer files the child's
 * abort as a crash of ours).
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct eptf_import_slot slot = {.slot = 0, .base_gfn = 0, .npages = 0x10000,
						     .hva = 0x7f0000000000ull};
	struct eptf_import_options o = {.lenient = true, .slots = &slot, .nslots = 1};
	struct sink_state st = {0};
	struct eptf_import_sink sink = checking_sink(&st);
	struct eptf_import_stats stats;
	struct eptf_diag d = {{0}};
	FILE *f;

	if (size == 0 || size > (4u << 20))
		return 0;
	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/fuzz_import_dat.%ld.dat", (long)getpid());
	f = fopen(path, "wb");
	CHECK(f);
	CHECK(fwrite(data, 1, size, f) == size);
	CHECK(fclose(f) == 0);
	int err = eptf_import_dat(path, &o, &sink, &stats, &d);
	if (err) {
		CHECK(err < 0 && err >= EPTF_ERROR_MIN);
		CHECK(strncmp(d.msg, path, strlen(path)) == 0);
	} else {
		CHECK(st.begun);
	}
	unlink(path);
	return 0;
}
