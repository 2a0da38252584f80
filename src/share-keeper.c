/* SPDX-License-Identifier: MIT */
/*
 * share-keeper.c - the keeper's side of sharing: the exported page fd,
 * subscriptions of other processes' eventfds, and the control socket that
 * hands both out (vmt_keeper_listen()).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <vmtime/share.h>

#include "array.h"
#include "efd.h"
#include "json.h"
#include "keeper-internal.h"
#include "share-internal.h"

/* ---- export and keeper-side subscriptions ---------------------------------------- */

int vmt_keeper_export_fd(vmt_keeper *k)
{
	char path[64];
	int seals, fd;

	if (!k)
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	seals = fcntl(k->memfd, F_GET_SEALS);
	if (seals >= 0 && !(seals & F_SEAL_SEAL)) {
		int want = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

#ifdef F_SEAL_FUTURE_WRITE
		/*
		 * Our own writable mapping predates the seal and keeps working;
		 * nobody can create a new one, even by reopening the memfd's path
		 * read-write.
		 */
		if (fcntl(k->memfd, F_ADD_SEALS, want | F_SEAL_FUTURE_WRITE) == 0)
			want = 0;
#endif
		if (want && fcntl(k->memfd, F_ADD_SEALS, want) < 0) {
			int r = -errno;

			pthread_mutex_unlock(&k->lock);
			return r;
		}
	} else if (seals < 0) {
		int r = -errno;

		pthread_mutex_unlock(&k->lock);
		return r;
	}
	pthread_mutex_unlock(&k->lock);
	/* A new open file description: read-only, whatever the memfd's mode. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", k->memfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int vmt_keeper_subscribe(vmt_keeper *k, int efd)
{
	int err = 0;

	if (!k || efd < 0)
		return -EINVAL;
	if (!vmti_share_is_eventfd(efd, &err))
		return err;
	return vmti_keeper_subscribe(k, efd);
}

int vmt_keeper_unsubscribe(vmt_keeper *k, int efd)
{
	if (!k || efd < 0)
		return -EINVAL;
	vmti_keeper_unsubscribe(k, efd);
	return 0;
}

/* ---- the control socket: keeper side ----------------------------------------------- */

struct conn {
	int fd;
	int subfd;
};

struct vmt_listener {
	vmt_keeper *k;
	int lfd, epfd, page_fd, stop_efd;
	int backoff_tfd; /* re-enables lfd after accept4() ran out of resources */
	unsigned flags;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pthread_mutex_t mu;
	struct conn *conns;
	size_t nconns, cap;
	bool have_thread;
	pthread_t thread;
	uint64_t accepted, refused, dropped;
};

/* How long the listening socket rests after accept4() ran out of resources. */
#define ACCEPT_BACKOFF_NS (100 * VMT_NS_PER_MS)

/*
 * accept4() failed for want of fds or memory: the peer stays queued and the
 * socket stays readable, so polling it again would spin.  Stop polling it
 * until the backoff timer fires (it is in the same epoll set, so both
 * dispatch modes come back by themselves).
 */
static void accept_backoff_locked(vmt_listener *l)
{
	struct epoll_event ev = { .events = 0, .data.fd = l->lfd };
	struct itimerspec its = { .it_value = vmt_ns_to_timespec(ACCEPT_BACKOFF_NS) };

	epoll_ctl(l->epfd, EPOLL_CTL_MOD, l->lfd, &ev);
	timerfd_settime(l->backoff_tfd, 0, &its, NULL);
}

static void accept_resume_locked(vmt_listener *l)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = l->lfd };
	uint64_t n;

	if (read(l->backoff_tfd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_MOD, l->lfd, &ev);
}

static void drop_conn_locked(vmt_listener *l, size_t i)
{
	struct conn *c = &l->conns[i];

	epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->subfd >= 0) {
		vmti_keeper_unsubscribe(l->k, c->subfd);
		close(c->subfd);
	}
	close(c->fd);
	l->conns[i] = l->conns[--l->nconns];
	l->dropped++;
}

static void accept_locked(vmt_listener *l)
{
	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		int fd = accept4(l->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				accept_backoff_locked(l);
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    (!(l->flags & VMT_LISTEN_ANY_UID) && cred.uid != geteuid() && cred.uid != 0)) {
			vmti_share_send(fd, MSG_REFUSED, 0, -1, MSG_DONTWAIT);
			close(fd);
			l->refused++;
			continue;
		}
		if (VMTI_ARRAY_GROW(l->conns, l->cap, l->nconns + 1) < 0) {
			close(fd);
			l->refused++;
			continue;
		}
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };

		if (vmti_share_send(fd, MSG_HELLO, (uint64_t)getpid(), l->page_fd, MSG_DONTWAIT) < 0 ||
		    epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			l->refused++;
			continue;
		}
		l->conns[l->nconns++] = (struct conn){ .fd = fd, .subfd = -1 };
		l->accepted++;
	}
}

/* Returns false if the connection must be dropped. */
static bool conn_input_locked(vmt_listener *l, struct conn *c)
{
	for (;;) {
		struct share_msg m;
		int fd, err = 0, r = vmti_share_recv(c->fd, &m, &fd, MSG_DONTWAIT);

		if (r == -EAGAIN || r == -EINTR)
			return true;
		if (r <= 0)
			return false;
		if (m.type != MSG_SUBSCRIBE || fd < 0 || c->subfd >= 0 || !vmti_share_is_eventfd(fd, &err)) {
			if (fd >= 0)
				close(fd);
			return false;
		}
		if (vmti_keeper_subscribe(l->k, fd) < 0) {
			close(fd);
			return false;
		}
		c->subfd = fd;
		/* A change between the peer's read of the page and now is not lost. */
		vmti_efd_wake(fd);
		if (vmti_share_send(c->fd, MSG_ACK, 0, -1, MSG_DONTWAIT) < 0)
			return false;
	}
}

static int dispatch_locked(vmt_listener *l)
{
	struct epoll_event ev[16];
	int total = 0, n;

	while ((n = epoll_wait(l->epfd, ev, 16, 0)) > 0) {
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			size_t j;

			total++;
			if (fd == l->lfd) {
				accept_locked(l);
				continue;
			}
			if (fd == l->backoff_tfd) {
				accept_resume_locked(l);
				continue;
			}
			for (j = 0; j < l->nconns && l->conns[j].fd != fd; j++)
				;
			if (j == l->nconns)
				continue;
			bool ok = true;
			if (ev[i].events & EPOLLIN)
				ok = conn_input_locked(l, &l->conns[j]);
			if (!ok || (ev[i].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
				drop_conn_locked(l, j);
		}
	}
	return total;
}

int vmt_listener_dispatch(vmt_listener *l)
{
	int n;

	if (!l)
		return -EINVAL;
	pthread_mutex_lock(&l->mu);
	n = dispatch_locked(l);
	pthread_mutex_unlock(&l->mu);
	return n;
}

static void *listener_thread(void *arg)
{
	vmt_listener *l = arg;
	struct pollfd p[2] = { { .fd = l->epfd, .events = POLLIN },
			       { .fd = l->stop_efd, .events = POLLIN } };

	for (;;) {
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			return NULL;
		vmt_listener_dispatch(l);
	}
}

/*
 * A socket file nobody accepts on is left over from a dead keeper.  Only a
 * socket: connect() refuses on a regular file, a directory or a FIFO too,
 * and those belong to the user.  The same inode before and after the probe,
 * so a file put in its place meanwhile is not taken for it.
 */
static bool stale_socket(const struct sockaddr_un *sa)
{
	struct stat before, after;
	bool stale;
	int fd;

	if (lstat(sa->sun_path, &before) < 0 || !S_ISSOCK(before.st_mode))
		return false;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	stale = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 && errno == ECONNREFUSED;
	close(fd);
	return stale && lstat(sa->sun_path, &after) == 0 && S_ISSOCK(after.st_mode) &&
	       after.st_ino == before.st_ino && after.st_dev == before.st_dev;
}

int vmt_keeper_listen(vmt_keeper *k, const char *path, unsigned flags, vmt_listener **ret)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_un sa;
	vmt_listener *l;
	int r;

	if (!k || !path || !ret || (flags & ~(VMT_LISTEN_THREAD | VMT_LISTEN_ANY_UID)))
		return -EINVAL;
	r = vmti_share_fill_addr(path, &sa);
	if (r < 0)
		return r;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->k = k;
	l->flags = flags;
	l->lfd = l->epfd = l->page_fd = l->stop_efd = l->backoff_tfd = -1;
	strcpy(l->path, path);
	pthread_mutex_init(&l->mu, NULL);
	l->page_fd = vmt_keeper_export_fd(k);
	if (l->page_fd < 0) {
		r = l->page_fd;
		goto fail;
	}
	l->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->lfd < 0)
		goto fail_errno;
	if (bind(l->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		/* Whatever is at @path and is not a dead keeper's socket stays. */
		if (e != EADDRINUSE || !stale_socket(&sa)) {
			r = -e;
			l->path[0] = '\0'; /* not ours: do not unlink */
			goto fail;
		}
		unlink(path);
		if (bind(l->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			r = -errno;
			l->path[0] = '\0';
			goto fail;
		}
	}
	if (listen(l->lfd, 64) < 0)
		goto fail_errno;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		goto fail_errno;
	ev.data.fd = l->lfd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->lfd, &ev) < 0)
		goto fail_errno;
	l->backoff_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->backoff_tfd < 0)
		goto fail_errno;
	ev.data.fd = l->backoff_tfd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->backoff_tfd, &ev) < 0)
		goto fail_errno;
	if (flags & VMT_LISTEN_THREAD) {
		l->stop_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (l->stop_efd < 0)
			goto fail_errno;
		r = pthread_create(&l->thread, NULL, listener_thread, l);
		if (r) {
			r = -r;
			goto fail;
		}
		l->have_thread = true;
	}
	*ret = l;
	return 0;

fail_errno:
	r = -errno;
fail:
	vmt_listener_free(l);
	return r;
}

int vmt_listener_get_fd(const vmt_listener *l)
{
	if (!l)
		return -EINVAL;
	return l->have_thread ? -EBUSY : l->epfd;
}

vmt_listener *vmt_listener_free(vmt_listener *l)
{
	if (!l)
		return NULL;
	if (l->have_thread) {
		vmti_efd_wake(l->stop_efd);
		pthread_join(l->thread, NULL);
	}
	pthread_mutex_lock(&l->mu);
	while (l->nconns)
		drop_conn_locked(l, 0);
	pthread_mutex_unlock(&l->mu);
	if (l->lfd >= 0) {
		close(l->lfd);
		if (l->path[0])
			unlink(l->path);
	}
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->page_fd >= 0)
		close(l->page_fd);
	if (l->stop_efd >= 0)
		close(l->stop_efd);
	if (l->backoff_tfd >= 0)
		close(l->backoff_tfd);
	pthread_mutex_destroy(&l->mu);
	free(l->conns);
	free(l);
	return NULL;
}

int vmt_listener_inspect(vmt_listener *l, FILE *out)
{
	uint64_t accepted, refused, dropped;
	size_t nconns;
	int n;

	if (!l || !out)
		return -EINVAL;
	/* Counters under the lock, stdio outside it: a slow stream stalls no peer. */
	pthread_mutex_lock(&l->mu);
	nconns = l->nconns;
	accepted = l->accepted;
	refused = l->refused;
	dropped = l->dropped;
	pthread_mutex_unlock(&l->mu);
	fputs("{\"path\":", out);
	vmti_json_cstr(out, l->path); /* a user's bytes: escaped, valid UTF-8 */
	n = fprintf(out, ",\"connections\":%zu,\"accepted\":%llu,\"refused\":%llu,\"dropped\":%llu}\n",
		    nconns, (unsigned long long)accepted, (unsigned long long)refused,
		    (unsigned long long)dropped);
	if (n < 0 || ferror(out) || fflush(out) != 0)
		return -EIO;
	return 0;
}
