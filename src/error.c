/* SPDX-License-Identifier: MIT */
/* error.c - filling struct vmt_error. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

int vmti_error(struct vmt_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;

		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}
