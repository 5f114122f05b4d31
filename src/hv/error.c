/* SPDX-License-Identifier: BSD-2-Clause */
/* Error names. Freestanding: only string constants. */
#include <eptflush/error.h>

const char *eptf_strerror(int err)
{
	switch (err) {
	case EPTF_OK:
		return "success";
	case EPTF_EINVAL:
		return "EPTF_EINVAL: invalid argument";
	case EPTF_ENOSPC:
		return "EPTF_ENOSPC: no space left in the flush list (510 entries per input page)";
	case EPTF_EBADOFFSET:
		return "EPTF_EBADOFFSET: list offset is negative or past the entry limit";
	case EPTF_EEMPTY:
		return "EPTF_EEMPTY: zero pages requested";
	case EPTF_EGPARANGE:
		return "EPTF_EGPARANGE: range runs past the guest-physical frame space";
	case EPTF_ENOMEM:
		return "EPTF_ENOMEM: out of memory";
	case EPTF_ENOENT:
		return "EPTF_ENOENT: no such object";
	case EPTF_EHV:
		return "EPTF_EHV: hypercall failed";
	case EPTF_EPARSE:
		return "EPTF_EPARSE: malformed input";
	case EPTF_EIO:
		return "EPTF_EIO: input/output error";
	case EPTF_ENOTSUP:
		return "EPTF_ENOTSUP: not supported";
	case EPTF_EEXIST:
		return "EPTF_EEXIST: already exists";
	case EPTF_EBUSY:
		return "EPTF_EBUSY: in use";
	default:
		return err >= 0 ? "success" : "EPTF_E?: unknown error";
	}
}
