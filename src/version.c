/* SPDX-License-Identifier: MIT */
/* version.c - the library's version, as compiled (not as a caller's headers say). */
#include <vmtime/common.h>

unsigned int vmt_version(void)
{
	return VMT_VERSION;
}

const char *vmt_version_string(void)
{
	return VMT_VERSION_STRING;
}
