/* SPDX-License-Identifier: MIT */
/* internal.h - helpers shared by every module (not installed). */
#ifndef VMT_INTERNAL_H
#define VMT_INTERNAL_H

#include <vmtime/common.h>

/*
 * vmti_error() - fill @err (if not NULL) and return @code, so a failure path
 * is one line: `return vmti_error(err, -EBADMSG, "section %s: ...", name);`
 */
__attribute__((format(printf, 3, 4))) int vmti_error(struct vmt_error *err, int code,
						     const char *fmt, ...);

#endif /* VMT_INTERNAL_H */
