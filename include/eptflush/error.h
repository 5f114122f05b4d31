/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One error convention for all of eptflush: a function returns >= 0 for
 * success (or a count) and a negative EPTF_E* code on failure.
 * eptf_strerror() names a code; it is freestanding (no libc).
 */
#ifndef EPTFLUSH_ERROR_H
#define EPTFLUSH_ERROR_H

enum eptf_error {
	EPTF_OK = 0,
	EPTF_EINVAL = -1,     /* an argument is out of its documented domain */
	EPTF_ENOSPC = -2,     /* the input page (510 entries) or caller storage is full */
	EPTF_EBADOFFSET = -3, /* list filler: offset negative or past the entry limit */
	EPTF_EEMPTY = -4,     /* list filler: zero pages requested */
	EPTF_EGPARANGE = -5,  /* a range runs past the 52-bit frame space / guest-physical width */
	EPTF_ENOMEM = -6,     /* allocation failed */
	EPTF_ENOENT = -7,     /* no such object (memslot id, shadow page, root, strategy) */
	EPTF_EHV = -8,        /* a hypercall returned a non-success HV_STATUS */
	EPTF_EPARSE = -9,     /* malformed input (trace line, option, file) */
	EPTF_EIO = -10,       /* an I/O error */
	EPTF_ENOTSUP = -11,   /* operation not supported in this configuration */
	EPTF_EEXIST = -12,    /* object already exists (memslot id, overlapping memslot) */
	EPTF_EBUSY = -13,     /* object in use */
	EPTF_ERROR_MIN = -13,
};

/* A static string naming @err ("EPTF_ENOSPC: no space ..."); never NULL. */
const char *eptf_strerror(int err);

#endif
