/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libFuzzer target for the kernel-trace text importer: the input is a
 * trace file (tracefs or trace-cmd report text). It is imported twice,
 * strictly and with --lenient, into a sink that formats every op (the
 * output path without the file). Invariants: a strict import either
 * succeeds or fails with EPTF_EPARSE and a "name:line: reason" message; a
 * lenient import never fails on malformed lines; every op emitted is one
 * the op-trace format can print and parse back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eptflush/error.h>
#include <eptflush/import.h>
#include <eptflush/trace.h>

#include "import_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void run(const uint8_t *data, size_t size, bool lenient)
{
	static const struct eptf_import_slot slot = { .slot = 0, .base_gfn = 0, .npages = 0x10000,
						      .hva = 0x7f0000000000ull };
	struct eptf_import_options o = { .lenient = lenient, .slots = &slot, .nslots = 1 };
	struct sink_state st = { 0 };
	struct eptf_import_sink sink = checking_sink(&st);
	struct eptf_import_stats stats;
	struct eptf_diag d = {{0}};
	FILE *f = fmemopen((void *)(uintptr_t)data, size, "r");
	if (!f)
		return;
	int err = eptf_import_text(f, "fuzz.txt", &o, &sink, &stats, &d);
	fclose(f);
	if (err) {
		CHECK(!lenient || err != EPTF_EPARSE);
		CHECK(err == EPTF_EPARSE);
		CHECK(strncmp(d.msg, "fuzz.txt:", 9) == 0);
	} else {
		CHECK(st.begun);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > (1u << 20))
		return 0;
	run(data, size, false);
	run(data, size, true);
	return 0;
}
