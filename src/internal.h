/* SPDX-License-Identifier: MIT */
/* internal.h - helpers shared by every module (not installed). */
#ifndef VMT_INTERNAL_H
#define VMT_INTERNAL_H

#include <time.h>

#include <vmtime/common.h>
#include <vmtime/time.h>

/*
 * vmti_error() - fill @err (if not NULL) and return @code, so a failure path
 * is one line: `return vmti_error(err, -EBADMSG, "section %s: ...", name);`
 */
__attribute__((format(printf, 3, 4))) int vmti_error(struct vmt_error *err, int code,
						     const char *fmt, ...);

/*
 * vmti_clock_ns() - clock_gettime(@id) in ns.  Inline: it is on the path of
 * every host-clock read.  The clocks vmtime reads cannot fail with a valid
 * id, and a u64 of ns lasts 584 years from the epoch.
 */
static inline vmt_ns vmti_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (vmt_ns)ts.tv_sec * VMT_NS_PER_SEC + (vmt_ns)ts.tv_nsec;
}

#endif /* VMT_INTERNAL_H */
