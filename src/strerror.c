/* SPDX-License-Identifier: MIT */
/*
 * strerror.c - vmt_strerror() and vmt_errname().
 *
 * One table holds each errno's name and its meaning in vmtime, so the two
 * functions cannot disagree about which codes are known.  The texts follow
 * docs/errors.md; when an errno gains a meaning there, its text here says it
 * too.  A switch rather than an array indexed by errno: errno values are not
 * dense and differ between architectures, and a switch rejects a duplicate
 * (EAGAIN and EWOULDBLOCK are one value on Linux, so only one is listed).
 */
#include <errno.h>
#include <limits.h>

#include <vmtime/error.h>

struct errdesc {
	const char *name;
	const char *text;
};

/* The codes vmtime returns itself first, then the system ones it passes on. */
#define VMTI_ERRORS(X)                                                                  \
	X(EINVAL, "invalid argument (NULL, out of range or an unknown value)")          \
	X(ENOMEM, "out of memory (nothing was changed)")                                \
	X(EALREADY, "already in that state (already running, already stopped, "        \
		    "the dependency already exists)")                                   \
	X(EBUSY, "busy: not allowed in the current state (the clock or the units "      \
		 "run, an operation or a dispatch is in progress, inside a ptimer "     \
		 "transaction)")                                                        \
	X(EOVERFLOW, "the time would not fit in 64-bit nanoseconds")                    \
	X(EOPNOTSUPP, "not supported here (not a manual keeper, or a unit without "     \
		      "that operation)")                                                \
	X(EPERM, "not allowed now: the VM clock is stopped (keeper, loop), or the "     \
		 "call is outside a transaction of the ptimer (ptimer)")                \
	X(ENAMETOOLONG, "name too long")                                                \
	X(E2BIG, "over a limit (size, count or nesting), or a config struct with "      \
		 "fields this library does not know")                                   \
	X(EBADMSG, "corrupt data (bad CRC, wrong field type, impossible length or "     \
		   "value)")                                                            \
	X(EPROTONOSUPPORT, "version not supported (snapshot format, unit payload or "   \
			   "clock page version)")                                       \
	X(ENOENT, "not found (no such file, section, field or unit)")                   \
	X(EEXIST, "the name is already taken")                                          \
	X(ELOOP, "the dependency would close a cycle")                                  \
	X(ECANCELED, "cancelled: a wall-clock step cancelled an absolute WALL timer "   \
		     "(timerfd), or the unit was skipped because a unit it depends "    \
		     "on failed (units report)")                                        \
	X(EPROTO, "not a vmtime clock page, or the peer does not speak the vmtime "     \
		  "control protocol")                                                   \
	X(ESHUTDOWN, "the keeper is gone (the attached VM clock is frozen)")            \
	X(ENODATA, "truncated data (the snapshot ends early)")                          \
	X(EDOM, "the ptimer's period is zero (it stopped, or stays stopped)")           \
	X(ERANGE, "the value cannot be represented (a ptimer period above INT64_MAX, "  \
		  "a guest TSC rate the page format cannot express, a host date "       \
		  "outside the RTC's range)")                                           \
	X(EAGAIN, "not available now, try again (nothing pending, no TSC rate known "  \
		  "yet, out of threads)")                                               \
	X(EIO, "input/output error (writing the stream or the file failed)")           \
	X(EACCES, "permission denied (file mode, or the keeper refused our user)")      \
	X(EBADF, "not an open file descriptor")                                         \
	X(ENOTTY, "the file descriptor is not of the kind needed (an eventfd, a KVM VM)") \
	X(EMFILE, "too many open files in this process")                                \
	X(ENFILE, "too many open files in the system")                                  \
	X(ETIMEDOUT, "timed out (the keeper did not answer)")                           \
	X(ECONNRESET, "connection reset (the keeper hung up)")                          \
	X(ECONNREFUSED, "connection refused (no keeper listens on that socket)")        \
	X(EADDRINUSE, "another keeper already listens on that socket path")             \
	X(EINTR, "interrupted by a signal")                                             \
	X(ENOSPC, "no space left on the device")                                        \
	X(EDQUOT, "disk quota exceeded")                                                \
	X(EFBIG, "file too large")                                                      \
	X(EISDIR, "is a directory")                                                     \
	X(ENOTDIR, "a path component is not a directory")                               \
	X(EROFS, "read-only file system")                                               \
	X(EXDEV, "not on the same file system")                                         \
	X(ENOTSOCK, "not a socket")                                                     \
	X(ENOTCONN, "not connected")                                                    \
	X(EPIPE, "broken pipe (the other end went away)")                               \
	X(ESRCH, "no such process")                                                     \
	X(ENODEV, "no such device")                                                     \
	X(ENXIO, "no such device or address")                                           \
	X(ENOSYS, "the running kernel lacks a system call this needs")                  \
	X(ENOEXEC, "not an executable format")                                          \
	X(EFAULT, "bad address")

static struct errdesc lookup(int err)
{
	/* -INT_MIN does not exist; no errno is that large anyway. */
	int e = err == INT_MIN ? INT_MAX : err < 0 ? -err : err;

	switch (e) {
	case 0:
		return (struct errdesc){ "OK", "success" };
#define VMTI_ERROR_CASE(code, desc)                                                     \
	case code:                                                                      \
		return (struct errdesc){ #code, desc };
		VMTI_ERRORS(VMTI_ERROR_CASE)
#undef VMTI_ERROR_CASE
	default:
		return (struct errdesc){ "unknown", "unknown error" };
	}
}

const char *vmt_strerror(int err)
{
	return lookup(err).text;
}

const char *vmt_errname(int err)
{
	return lookup(err).name;
}
