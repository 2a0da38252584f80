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

#endif /* VMTIME_COMMON_H */
