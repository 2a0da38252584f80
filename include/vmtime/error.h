/* SPDX-License-Identifier: MIT */
/*
 * vmtime/error.h - what an error code means in vmtime's terms.
 *
 * vmtime returns negative errnos, and gives several of them a narrower
 * meaning than libc's text: -EALREADY is "already in that state", not
 * "operation already in progress"; -ESHUTDOWN is "the keeper is gone", not
 * "cannot send after transport endpoint shutdown".  strerror() on those
 * misleads the reader of a log, so vmt_strerror() says what vmtime means;
 * docs/errors.md lists, per module and function, when each is returned.
 *
 * Guarantees: both functions accept a negative errno as vmtime returns it
 * or a positive one as errno holds it, never fail, and return static
 * strings (safe from any thread, never to be freed).
 */
#ifndef VMTIME_ERROR_H
#define VMTIME_ERROR_H

#include "common.h"

VMT_BEGIN_DECLS

/**
 * vmt_strerror() - a one-line description of an error in vmtime's terms.
 * @err: an errno, negative (as vmtime returns it) or positive.
 *
 * Where one errno means different things in different modules, the text
 * names each: -EPERM is "the VM clock is stopped" for the keeper and the
 * loop and "outside a ptimer transaction" for a ptimer; -ECANCELED is a
 * wall-clock step for a timer fd and a skipped unit in a units report.
 * System errnos that vmtime passes through (from open(2), connect(2), ...)
 * get a plain description.
 *
 * Context: any thread, including callbacks and signal handlers.
 * Return: a static string without a trailing newline: "success" for 0,
 * "unknown error" for a value vmtime does not know.
 */
VMT_EXPORT const char *vmt_strerror(int err);

/**
 * vmt_errname() - the symbolic name of an errno.
 * @err: an errno, negative (as vmtime returns it) or positive.
 *
 * Context: any thread, including callbacks and signal handlers.
 * Return: a static string such as "EBADMSG" (no minus sign): "OK" for 0,
 * "unknown" for a value vmtime does not know.
 */
VMT_EXPORT const char *vmt_errname(int err);

VMT_END_DECLS

#endif /* VMTIME_ERROR_H */
