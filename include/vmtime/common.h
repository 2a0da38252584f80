/* SPDX-License-Identifier: MIT */
/*
 * vmtime/common.h - definitions shared by every vmtime header.
 *
 * Only the export macro, the library version and struct vmt_error live here.
 * Every public function is marked VMT_EXPORT; everything else in the shared library is
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

#ifdef __cplusplus
#define VMT_BEGIN_DECLS extern "C" {
#define VMT_END_DECLS }
#else
#define VMT_BEGIN_DECLS
#define VMT_END_DECLS
#endif

/*
 * The version of the headers.  CMakeLists.txt reads the project version
 * from these three lines, so they are the one place it is written.  While
 * the major version is 0, a new minor version may break the API and ABI
 * (the shared library's soname carries the minor: libvmtime.so.0.2); a new
 * patch version never does.
 */
#define VMT_VERSION_MAJOR 0
#define VMT_VERSION_MINOR 2
#define VMT_VERSION_PATCH 0

#define VMT_VERSION_STR_(x) #x
#define VMT_VERSION_STR(x) VMT_VERSION_STR_(x)

/**
 * VMT_VERSION - the headers' version as one number, comparable with <.
 *
 * (major << 16) | (minor << 8) | patch, the value vmt_version() returns for
 * the library built from these headers: 0.2.0 is 0x000200.
 */
#define VMT_VERSION ((VMT_VERSION_MAJOR << 16) | (VMT_VERSION_MINOR << 8) | VMT_VERSION_PATCH)

/** VMT_VERSION_STRING - the headers' version as "MAJOR.MINOR.PATCH". */
#define VMT_VERSION_STRING                                                              \
	VMT_VERSION_STR(VMT_VERSION_MAJOR) "." VMT_VERSION_STR(VMT_VERSION_MINOR) "."   \
	VMT_VERSION_STR(VMT_VERSION_PATCH)

VMT_BEGIN_DECLS

/**
 * vmt_version() - the version of the library actually loaded.
 *
 * A program built against one version may run with another shared library;
 * compare vmt_version() with VMT_VERSION to tell (same major and, while
 * the major is 0, same minor: compatible).
 *
 * Context: any thread, any time (no initialisation needed).
 * Return: (major << 16) | (minor << 8) | patch, e.g. 0x000200 for 0.2.0;
 * never fails.
 */
VMT_EXPORT unsigned int vmt_version(void);

/**
 * vmt_version_string() - the version of the loaded library as text.
 *
 * Context: any thread, any time.
 * Return: a static string "MAJOR.MINOR.PATCH", e.g. "0.2.0"; never NULL.
 */
VMT_EXPORT const char *vmt_version_string(void);

VMT_END_DECLS

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
