/* SPDX-License-Identifier: MIT */
/*
 * vmtime/share.h - the VM clock in other processes.
 *
 * Device models often run in their own processes (vhost-user backends,
 * sandboxed emulators).  They need the same VM clock as the VMM, and their
 * loops must learn when it starts, stops or is reset.  Instead of broadcasting
 * every change over RPC, the keeper hands out its clock page read-only: a
 * reader in another process maps it and reads VM time lock-free, exactly as
 * the keeper's own source does.  Only state changes travel, as eventfd wakes.
 *
 * Guarantees:
 *  - The exported fd cannot be used to change the clock: it is opened
 *    read-only, and the memfd is sealed against resizing and against any new
 *    writable mapping (F_SEAL_FUTURE_WRITE), even through a reopened path.
 *  - An attached source validates the page (magic, version, sizes, seals) and
 *    reads the same VM time as the keeper's own source, through the same
 *    seqlock (and the same calibrated TSC parameters).
 *  - A subscriber that dies never disturbs the keeper: a connection that hangs
 *    up is dropped with its eventfd.  A keeper that dies is seen as such:
 *    vmt_source_alive() returns -ESHUTDOWN, subscribed loops are woken, and the
 *    attached VM clock freezes at the value it had when the death was
 *    detected instead of running on.
 *
 * Two ways to connect:
 *  - Your own channel: send the fd of vmt_keeper_export_fd() (SCM_RIGHTS) and
 *    attach it with vmt_source_attach(); for notifications, create an eventfd,
 *    subscribe it on the keeper side with vmt_keeper_subscribe() and give it to
 *    the attached source with vmt_source_set_notify_fd().  Liveness is the
 *    keeper's process (a pidfd on the pid the page names).
 *  - The control socket: vmt_keeper_listen() on a unix SOCK_SEQPACKET path,
 *    vmt_source_connect() in the other process.  The socket hands out the page
 *    fd and takes one eventfd per connection; peers must have the keeper's uid
 *    (or root) unless VMT_LISTEN_ANY_UID.  Liveness is the connection.
 *
 * The listener does not own a thread unless asked: poll its fd
 * (vmt_listener_get_fd()) in the VMM's loop and call vmt_listener_dispatch(),
 * or pass VMT_LISTEN_THREAD to have a helper thread do it.
 */
#ifndef VMTIME_SHARE_H
#define VMTIME_SHARE_H

#include <stdio.h>

#include "common.h"
#include "keeper.h"
#include "source.h"

VMT_BEGIN_DECLS

/**
 * vmt_keeper_export_fd() - an fd that maps the keeper's clock page read-only.
 * @k: the keeper
 *
 * The first call seals the page's memfd (no shrinking, growing, or new
 * writable mapping; no more seals).  Each call returns a new O_RDONLY,
 * close-on-exec fd owned by the caller.
 *
 * Context: any thread.
 * Return: the fd (>= 0); -EINVAL for a NULL @k; the errno of fcntl() or
 * open() (-EMFILE...).
 */
VMT_EXPORT int vmt_keeper_export_fd(vmt_keeper *k);

/**
 * vmt_keeper_subscribe() - wake an eventfd on every state change of the clock.
 * @k: the keeper
 * @efd: an eventfd; the caller keeps ownership and keeps it open until
 *	vmt_keeper_unsubscribe()
 *
 * The eventfd is written (counter += 1) on every start, stop, reset, restore,
 * advance and wall-clock step, and once when the keeper is freed.  Only
 * eventfds are accepted: a write to one never blocks in practice and never
 * raises SIGPIPE, whoever holds the other references.
 *
 * Context: any thread; not from a callback that holds the keeper's lock.
 * Return: 0; -EINVAL for a NULL @k or a negative @efd; -EBADF if @efd is not
 * open; -ENOTTY if it is not an eventfd; -ENOMEM.
 */
VMT_EXPORT int vmt_keeper_subscribe(vmt_keeper *k, int efd);

/**
 * vmt_keeper_unsubscribe() - stop waking an eventfd.
 * @k: the keeper
 * @efd: as given to vmt_keeper_subscribe(); unknown fds are ignored
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @k or a negative @efd.
 */
VMT_EXPORT int vmt_keeper_unsubscribe(vmt_keeper *k, int efd);

/**
 * vmt_source_attach() - read a keeper's clock from its exported page.
 * @fd: an fd from vmt_keeper_export_fd() (possibly received from another
 *	process); it is not consumed, close it when you like
 * @ret: where the source is written, only on success
 *
 * The page is mapped PROT_READ.  Liveness is checked through a pidfd on the
 * keeper's process when the page names another process; a keeper that
 * stays inside a page write (it died there, or the page is forged) is taken
 * for dead after a bound, so no read ever waits for it unboundedly.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a negative @fd or a NULL @ret; -EBADF if @fd is not
 * open; -EPROTO if @fd is not a vmtime clock page (not a regular file, too
 * small, wrong magic); -EPROTONOSUPPORT for a page version this library does
 * not know; -EBADMSG for a forged or inconsistent page (sizes, pid, missing
 * seals); -ENOMEM; the errno of mmap(); or the errno of pidfd_open()
 * (-EMFILE, -ENFILE, -ENOSYS, ...) when the keeper's liveness cannot be
 * watched.
 */
VMT_EXPORT int vmt_source_attach(int fd, vmt_source **ret);

/**
 * vmt_source_set_notify_fd() - the eventfd the keeper side subscribed for us.
 * @src: an attached source
 * @efd: an eventfd subscribed with vmt_keeper_subscribe() in the keeper's
 *	process; the source takes ownership (it is closed by vmt_source_free())
 *
 * When it fires, every loop created on @src is woken to re-evaluate its
 * VM-clock timers.  Not needed for sources from vmt_source_connect().
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL @src, a source that is not attached, or a
 * negative @efd; -EBUSY if the source already has one; -EBADF if @efd is not
 * open; -ENOTTY if it is not an eventfd; or the errno of creating the
 * watcher thread and its wake-up eventfd (-EMFILE, -EAGAIN, -ENOMEM).
 */
VMT_EXPORT int vmt_source_set_notify_fd(vmt_source *src, int efd);

/**
 * vmt_source_connect() - attach through a keeper's control socket.
 * @path: the socket path given to vmt_keeper_listen()
 * @ret: where the source is written, only on success
 *
 * Receives the page fd, subscribes an eventfd of the source's, and waits for
 * the keeper to acknowledge it (at most 5 s): from then on every loop on the
 * source is woken on every state change.  The keeper must run as the same
 * user as the caller, or as root.
 *
 * Context: any thread; blocks until the keeper's listener dispatches.
 * Return: 0; -EINVAL for a NULL argument; -ENAMETOOLONG for a path longer
 * than a unix socket address; the errno of connect() (-ENOENT,
 * -ECONNREFUSED...); -EACCES if the keeper refused our credentials or runs
 * as another user; -ETIMEDOUT if it did not answer; -ECONNRESET if it hung
 * up; -EPROTO for an answer that is not the vmtime protocol; or an error of
 * vmt_source_attach().
 */
VMT_EXPORT int vmt_source_connect(const char *path, vmt_source **ret);

/**
 * vmt_source_free() - detach a source.
 * @src: a source from vmt_source_attach() or vmt_source_connect(), or NULL
 *
 * Free the loops built on it first.  A keeper's own source is left alone
 * (it belongs to the keeper).
 *
 * Context: any thread.
 * Return: NULL.
 */
VMT_EXPORT vmt_source *vmt_source_free(vmt_source *src);

/**
 * vmt_source_alive() - whether the keeper behind a source still exists.
 * @src: the source
 *
 * An attached source whose keeper is gone (its process died, its connection
 * hung up, or it was freed) freezes its VM clock at the value read when the
 * death was detected; the first call that detects it does the freeze.
 *
 * Context: any thread.
 * Return: 1 alive, -ESHUTDOWN if the keeper is gone, -EINVAL for NULL.
 */
VMT_EXPORT int vmt_source_alive(const vmt_source *src);

/**
 * vmt_source_inspect() - write a source's view of the clock as one JSON object.
 * @src: the source
 * @out: the stream
 *
 * Fields: state ("running", "stopped" or "dead"), alive, attached, manual,
 * vm_ns, host_ns, reset_count, generation, keeper_pid, tsc {valid, khz,
 * refreshes}.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, -EIO if writing failed.
 */
VMT_EXPORT int vmt_source_inspect(const vmt_source *src, FILE *out);

/** typedef vmt_listener - a keeper's control socket (opaque). */
typedef struct vmt_listener vmt_listener;

/* Run a helper thread that dispatches the listener. */
#define VMT_LISTEN_THREAD (1u << 0)
/* Accept peers of any uid (default: the keeper's uid and root only). */
#define VMT_LISTEN_ANY_UID (1u << 1)

/**
 * vmt_keeper_listen() - serve the clock page on a unix socket.
 * @k: the keeper; must outlive the listener
 * @path: the socket path; a stale socket left by a dead keeper (a socket
 *	 file that refuses connections) is replaced, anything else is left alone
 * @flags: VMT_LISTEN_* bits
 * @ret: where the listener is written, only on success
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL argument or unknown @flags; -ENAMETOOLONG
 * for a path longer than a unix socket address; -EADDRINUSE if another
 * process listens on @path or @path exists and is not a socket; -ENOMEM; or the errno of socket(), bind(),
 * listen(), epoll or thread creation.
 */
VMT_EXPORT int vmt_keeper_listen(vmt_keeper *k, const char *path, unsigned flags,
				 vmt_listener **ret);

/**
 * vmt_listener_get_fd() - the listener's pollable fd (an epoll fd).
 * @l: the listener
 *
 * Readable when a peer connects, sends, or hangs up; then call
 * vmt_listener_dispatch().
 *
 * Context: any thread.
 * Return: the fd, -EINVAL for NULL, -EBUSY if a helper thread dispatches.
 */
VMT_EXPORT int vmt_listener_get_fd(const vmt_listener *l);

/**
 * vmt_listener_dispatch() - accept peers, take their eventfds, drop the dead.
 * @l: the listener
 *
 * Never blocks.  A peer with the wrong credentials is refused; a peer that
 * hangs up or breaks the protocol is dropped together with its
 * subscription.  When accepting fails for want of descriptors or memory,
 * waiting peers stay queued and the listening socket rests for 100 ms (the
 * fd becomes readable again when it resumes) instead of spinning.
 *
 * Context: any thread; serialized internally.
 * Return: the number of events handled (>= 0), -EINVAL for NULL.
 */
VMT_EXPORT int vmt_listener_dispatch(vmt_listener *l);

/**
 * vmt_listener_free() - close the socket and every connection.
 * @l: the listener, or NULL
 *
 * Connected sources see the hang-up as the keeper being gone.  The socket
 * path is removed.
 *
 * Context: any thread.
 * Return: NULL.
 */
VMT_EXPORT vmt_listener *vmt_listener_free(vmt_listener *l);

/**
 * vmt_listener_inspect() - write the listener's counters as one JSON object.
 * @l: the listener
 * @out: the stream
 *
 * Fields: path, connections, accepted, refused, dropped.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, -EIO if writing failed.
 */
VMT_EXPORT int vmt_listener_inspect(vmt_listener *l, FILE *out);

VMT_END_DECLS

#endif /* VMTIME_SHARE_H */
