/* SPDX-License-Identifier: MIT */
/*
 * vmtime/common.h - definitions shared by every vmtime header.
 *
 * Only the export macro and the library version live here.  Every public
 * function is marked VMT_EXPORT; everything else in the shared library is
 * hidden (compiled with -fvisibility=hidden and a linker version script), so
 * the ABI is exactly what the headers declare.
 */
#ifndef VMTIME_COMMON_H
#define VMTIME_COMMON_H

#if defined(VMT_BUILDING_LIBRARY) && defined(__GNUC__)
#define VMT_EXPORT __attribute__((visibility("default")))
#else
#define VMT_EXPORT
#endif

#define VMT_VERSION_MAJOR 0
#define VMT_VERSION_MINOR 1
#define VMT_VERSION_PATCH 0

#ifdef __cplusplus
#define VMT_BEGIN_DECLS extern "C" {
#define VMT_END_DECLS }
#else
#define VMT_BEGIN_DECLS
#define VMT_END_DECLS
#endif

/** VMT_ERROR_MSG_MAX - size of the message buffer in struct vmt_error. */
#define VMT_ERROR_MSG_MAX 256

/**
 * struct vmt_error - an errno with a human-readable reason.
 * @code: the negative errno that was returned (0 if none).
 * @msg: NUL-terminated message naming what was wrong (a unit, a section, a
 *	byte offset, a field).
 *
 * Functions that can explain a failure take an optional `struct vmt_error *`
 * (NULL is allowed) and fill it when they fail.
 */
struct vmt_error {
	int code;
	char msg[VMT_ERROR_MSG_MAX];
};

#endif /* VMTIME_COMMON_H */
