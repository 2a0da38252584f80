/* SPDX-License-Identifier: MIT */
/*
 * efd.h - waking and draining an eventfd (not installed).
 *
 * Every "something changed, look again" signal in vmtime is an eventfd
 * counter: a writer adds 1, the woken side reads the whole counter once.
 * One copy of both halves, so the rules below hold everywhere.
 */
#ifndef VMT_EFD_H
#define VMT_EFD_H

#include <stddef.h>

/* vmti_efd_new() - a non-blocking, close-on-exec eventfd; the fd or -errno. */
int vmti_efd_new(void);

/*
 * vmti_efd_wake() - add 1 to the counter of @fd.  Never blocks on a
 * non-blocking fd; EAGAIN (the counter is saturated) is ignored because the
 * reader is woken anyway.  Async-signal-safe, lock-free.
 */
void vmti_efd_wake(int fd);

/*
 * vmti_efd_drain() - take the whole counter of @fd (an eventfd or a timerfd)
 * with one read(); a non-semaphore eventfd or a timerfd returns everything in
 * one read, so one is enough.  Returns 0 if something was taken, else -errno:
 * -EAGAIN when nothing was pending on a non-blocking fd, -ECANCELED from a
 * TFD_TIMER_CANCEL_ON_SET timerfd whose clock was set.
 */
int vmti_efd_drain(int fd);

/*
 * struct vmti_efd_set - the eventfds to wake when something changes (the
 * loops subscribed to a keeper or to an attached source).  No lock of its
 * own: its owner's lock covers it.
 */
struct vmti_efd_set {
	int *fd;
	size_t n, cap;
};

/* vmti_efd_set_add() - 0, or -ENOMEM with the set unchanged. */
int vmti_efd_set_add(struct vmti_efd_set *s, int fd);
/* vmti_efd_set_remove() - forget @fd (one entry) if it is there. */
void vmti_efd_set_remove(struct vmti_efd_set *s, int fd);
/* vmti_efd_set_wake() - vmti_efd_wake() on every member. */
void vmti_efd_set_wake(const struct vmti_efd_set *s);
/* vmti_efd_set_free() - release the storage (the fds are not closed). */
void vmti_efd_set_free(struct vmti_efd_set *s);

#endif /* VMT_EFD_H */
