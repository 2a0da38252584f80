/* SPDX-License-Identifier: MIT */
/*
 * share.c - the clock page in other processes: export, attach, control socket.
 *
 * An attached source reads the keeper's page through the same lock-free
 * reader as the keeper's own source; what it adds is notifications and
 * liveness.  Both are handled by one watcher thread per attached source that
 * sleeps in poll() on what can change: the eventfd the keeper writes on state
 * changes, the control connection (hang-up = keeper gone), or a pidfd on the
 * keeper's process.  The watcher forwards wakes to the source's loops, so a
 * loop never needs to know whether its source is local or attached.
 *
 * When the keeper is gone, the running clock would keep advancing from its
 * last start stamp forever.  We swap the source's page pointer to a private,
 * stopped copy frozen at the current value:
 *
 *   watcher/alive():  v = vm_now(live page) -> copy.vm_base = v, stopped -> page = copy
 *   reader:           p = page (acquire) -> seqlock read on p
 *
 * A reader still on the live page returns at most a value read before v was
 * (the same reader), or one taken an instant after, then the frozen v: the
 * freeze happens within one watcher wake-up of the death.
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

#include "json.h"
#include "keeper-internal.h"
#include "source-internal.h"
#include "testing.h"

/* Control socket protocol: fixed-size messages on SOCK_SEQPACKET. */
#define SHARE_MAGIC UINT32_C(0x53544d56) /* "VMTS" little-endian */
#define SHARE_VERSION 1

enum {
	MSG_HELLO = 1,	   /* keeper -> peer, carries the page fd; arg = keeper pid */
	MSG_REFUSED = 2,   /* keeper -> peer, credentials not accepted */
	MSG_SUBSCRIBE = 3, /* peer -> keeper, carries the peer's eventfd */
	MSG_ACK = 4,	   /* keeper -> peer, the eventfd is subscribed */
};

struct share_msg {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint64_t arg;
};

static bool is_eventfd(int fd, int *err)
{
	char path[64], target[64];
	ssize_t n;

	if (fcntl(fd, F_GETFD) < 0) {
		*err = -EBADF;
		return false;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		*err = -errno;
		return false;
	}
	target[n] = '\0';
	if (strcmp(target, "anon_inode:[eventfd]") != 0) {
		*err = -ENOTTY;
		return false;
	}
	return true;
}

static void wake_fd(int fd)
{
	const uint64_t one = 1;
	/* EAGAIN: the counter is saturated, the reader is woken anyway. */
	ssize_t n = write(fd, &one, sizeof(one));
	(void)n;
}

static void drain_fd(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
}

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
	if (!is_eventfd(efd, &err))
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

/* ---- attached sources ------------------------------------------------------------ */

struct attached {
	struct vmt_source src; /* first: the ops get a vmt_source pointer */
	const struct vmti_page *map;
	struct vmti_page *frozen;
	pthread_mutex_t mu; /* loops, freeze, watcher state */
	int *loops;
	size_t nloops, cap;
	int pidfd, sock, notify, wake;
	bool have_thread, stop;
	pthread_t thread;
	atomic_bool dead;
};

static const struct vmti_source_ops attached_ops;

static struct attached *to_attached(const vmt_source *src)
{
	if (!src || src->ops != &attached_ops)
		return NULL;
	return (struct attached *)src;
}

static void wake_loops_locked(struct attached *a)
{
	for (size_t i = 0; i < a->nloops; i++)
		wake_fd(a->loops[i]);
}

/*
 * The keeper is gone: freeze at the clock's value now.  The read is bounded
 * by @bound_ns (a keeper that died inside a write leaves the page odd): past
 * it, the value comes from the state the keeper saved before that write.
 */
static void freeze_locked(struct attached *a, vmt_ns bound_ns)
{
	if (atomic_load(&a->dead))
		return;
	vmti_page_freeze(&a->src.page, a->frozen, &a->src.hook, bound_ns);
	atomic_store(&a->dead, true);
	wake_loops_locked(a);
}

/* Polls what tells us the keeper is gone; freezes if it is. */
static void check_alive_locked(struct attached *a)
{
	struct pollfd p[2];
	int n = 0;

	if (atomic_load(&a->dead))
		return;
	if (atomic_load_explicit(&a->map->flags, memory_order_acquire) & VMTI_PAGE_DEAD) {
		freeze_locked(a, vmti_attached_stuck_ns);
		return;
	}
	if (a->pidfd >= 0)
		p[n++] = (struct pollfd){ .fd = a->pidfd, .events = POLLIN };
	if (a->sock >= 0)
		p[n++] = (struct pollfd){ .fd = a->sock, .events = POLLRDHUP };
	if (n && poll(p, (nfds_t)n, 0) > 0) {
		for (int i = 0; i < n; i++)
			if (p[i].revents & (POLLIN | POLLHUP | POLLRDHUP | POLLERR | POLLNVAL))
				freeze_locked(a, vmti_attached_stuck_ns);
	}
}

static int attached_subscribe(vmt_source *src, int efd)
{
	struct attached *a = to_attached(src);
	int r = 0;

	pthread_mutex_lock(&a->mu);
	if (a->nloops == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 4;
		int *l = realloc(a->loops, cap * sizeof(*l));

		if (!l) {
			r = -ENOMEM;
			goto out;
		}
		a->loops = l;
		a->cap = cap;
	}
	a->loops[a->nloops++] = efd;
out:
	pthread_mutex_unlock(&a->mu);
	return r;
}

static void attached_unsubscribe(vmt_source *src, int efd)
{
	struct attached *a = to_attached(src);

	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->nloops; i++) {
		if (a->loops[i] == efd) {
			a->loops[i] = a->loops[--a->nloops];
			break;
		}
	}
	pthread_mutex_unlock(&a->mu);
}

static int attached_alive(const vmt_source *src)
{
	struct attached *a = to_attached(src);

	if (!atomic_load(&a->dead)) {
		pthread_mutex_lock(&a->mu);
		check_alive_locked(a);
		pthread_mutex_unlock(&a->mu);
	}
	return atomic_load(&a->dead) ? -ESHUTDOWN : 1;
}

/* A reader waited stuck_ns for the keeper to finish a write: it is dead. */
static void attached_stuck(const vmt_source *src)
{
	struct attached *a = to_attached(src);

	pthread_mutex_lock(&a->mu);
	freeze_locked(a, 0); /* the reader has waited already */
	pthread_mutex_unlock(&a->mu);
}

static const struct vmti_source_ops attached_ops = {
	.subscribe = attached_subscribe,
	.unsubscribe = attached_unsubscribe,
	.alive = attached_alive,
	.stuck = attached_stuck,
};

static void *watcher(void *arg)
{
	struct attached *a = arg;

	pthread_mutex_lock(&a->mu);
	while (!a->stop) {
		struct pollfd p[4];
		int n = 0, ip = -1, is = -1, in = -1;

		p[n++] = (struct pollfd){ .fd = a->wake, .events = POLLIN };
		if (!atomic_load(&a->dead)) {
			if (a->pidfd >= 0) {
				ip = n;
				p[n++] = (struct pollfd){ .fd = a->pidfd, .events = POLLIN };
			}
			if (a->sock >= 0) {
				is = n;
				p[n++] = (struct pollfd){ .fd = a->sock, .events = POLLIN | POLLRDHUP };
			}
			if (a->notify >= 0) {
				in = n;
				p[n++] = (struct pollfd){ .fd = a->notify, .events = POLLIN };
			}
		}
		pthread_mutex_unlock(&a->mu);
		int r = poll(p, (nfds_t)n, -1);
		pthread_mutex_lock(&a->mu);
		if (r <= 0)
			continue;
		if (p[0].revents)
			drain_fd(a->wake);
		if (in >= 0 && p[in].revents) {
			drain_fd(a->notify);
			/* The page may say the keeper was freed: freeze before waking. */
			check_alive_locked(a);
			wake_loops_locked(a);
		}
		if (is >= 0 && p[is].revents) {
			char buf[64];
			/* The keeper sends nothing after the handshake: EOF is its death. */
			ssize_t k = recv(a->sock, buf, sizeof(buf), MSG_DONTWAIT);

			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR) ||
			    (p[is].revents & (POLLHUP | POLLRDHUP | POLLERR)))
				freeze_locked(a, vmti_attached_stuck_ns);
		}
		if (ip >= 0 && p[ip].revents)
			freeze_locked(a, vmti_attached_stuck_ns);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static int start_watcher_locked(struct attached *a)
{
	int r;

	if (a->have_thread)
		return 0;
	a->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->wake < 0)
		return -errno;
	r = pthread_create(&a->thread, NULL, watcher, a);
	if (r) {
		close(a->wake);
		a->wake = -1;
		return -r;
	}
	a->have_thread = true;
	return 0;
}

/* Validates and maps the page; on success *ret is a PROT_READ mapping. */
static int map_page(int fd, const struct vmti_page **ret)
{
	const struct vmti_page *p;
	struct stat st;
	int seals, r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < VMTI_PAGE_MAP_SIZE)
		return -EPROTO;
	p = mmap(NULL, VMTI_PAGE_MAP_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (p->magic != VMTI_PAGE_MAGIC) {
		r = -EPROTO;
		goto fail;
	}
	if (p->version != VMTI_PAGE_VERSION) {
		r = -EPROTONOSUPPORT;
		goto fail;
	}
	/* Fields are only appended: a smaller page lacks fields we read. */
	if (p->size < sizeof(struct vmti_page) || p->size > VMTI_PAGE_MAP_SIZE ||
	    p->keeper_pid == 0 || p->keeper_pid > INT32_MAX) {
		r = -EBADMSG;
		goto fail;
	}
	/* Without the seals the owner could truncate it under us (SIGBUS). */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
		r = -EBADMSG;
		goto fail;
	}
	*ret = p;
	return 0;
fail:
	munmap((void *)p, VMTI_PAGE_MAP_SIZE);
	return r;
}

static void attached_destroy(struct attached *a)
{
	if (a->have_thread) {
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_mutex_unlock(&a->mu);
		wake_fd(a->wake);
		pthread_join(a->thread, NULL);
	}
	if (a->wake >= 0)
		close(a->wake);
	if (a->pidfd >= 0)
		close(a->pidfd);
	if (a->sock >= 0)
		close(a->sock);
	if (a->notify >= 0)
		close(a->notify);
	if (a->map)
		munmap((void *)a->map, VMTI_PAGE_MAP_SIZE);
	free(a->frozen);
	free(a->loops);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

static int attach(int fd, bool want_pidfd, struct attached **ret)
{
	struct attached *a;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->pidfd = a->sock = a->notify = a->wake = -1;
	pthread_mutex_init(&a->mu, NULL);
	a->frozen = aligned_alloc(64, VMTI_PAGE_MAP_SIZE);
	if (!a->frozen) {
		attached_destroy(a);
		return -ENOMEM;
	}
	r = map_page(fd, &a->map);
	if (r < 0) {
		attached_destroy(a);
		return r;
	}
	memset(a->frozen, 0, VMTI_PAGE_MAP_SIZE);
	atomic_init(&a->src.page, a->map);
	a->src.ops = &attached_ops;
	a->src.stuck_ns = vmti_attached_stuck_ns;

	if (want_pidfd && (pid_t)a->map->keeper_pid != getpid()) {
#ifdef SYS_pidfd_open
		a->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)a->map->keeper_pid, 0);
		if (a->pidfd < 0 && errno == ESRCH) {
			pthread_mutex_lock(&a->mu);
			freeze_locked(a, vmti_attached_stuck_ns);
			pthread_mutex_unlock(&a->mu);
		} else if (a->pidfd < 0) {
			/* Out of fds, say: a source that cannot see its keeper die must not be. */
			r = -errno;
			attached_destroy(a);
			return r;
		}
#endif
		if (a->pidfd >= 0) {
			fcntl(a->pidfd, F_SETFD, FD_CLOEXEC);
			pthread_mutex_lock(&a->mu);
			r = start_watcher_locked(a);
			pthread_mutex_unlock(&a->mu);
			if (r < 0) {
				attached_destroy(a);
				return r;
			}
		}
	}
	*ret = a;
	return 0;
}

int vmt_source_attach(int fd, vmt_source **ret)
{
	struct attached *a;
	int r;

	if (fd < 0 || !ret)
		return -EINVAL;
	r = attach(fd, true, &a);
	if (r < 0)
		return r;
	*ret = &a->src;
	return 0;
}

int vmt_source_set_notify_fd(vmt_source *src, int efd)
{
	struct attached *a = to_attached(src);
	int r, err = 0;

	if (!a || efd < 0)
		return -EINVAL;
	if (!is_eventfd(efd, &err))
		return err;
	pthread_mutex_lock(&a->mu);
	if (a->notify >= 0) {
		pthread_mutex_unlock(&a->mu);
		return -EBUSY;
	}
	/* Shared with the keeper's description: it only ever writes, never blocks. */
	fcntl(efd, F_SETFL, fcntl(efd, F_GETFL) | O_NONBLOCK);
	r = start_watcher_locked(a);
	if (r == 0) {
		a->notify = efd;
		wake_fd(a->wake);
	}
	pthread_mutex_unlock(&a->mu);
	return r;
}

vmt_source *vmt_source_free(vmt_source *src)
{
	struct attached *a = to_attached(src);

	if (a)
		attached_destroy(a);
	return NULL;
}

int vmt_source_inspect(const vmt_source *src, FILE *out)
{
	const struct vmti_page *p;
	struct vmti_clock_state st;
	int alive, n;

	if (!src || !out)
		return -EINVAL;
	alive = vmt_source_alive(src);
	vmti_source_state(src, &st);
	p = atomic_load_explicit(&src->page, memory_order_acquire);
	n = fprintf(out,
		    "{\"state\":\"%s\",\"alive\":%s,\"attached\":%s,\"manual\":%s,\"vm_ns\":%llu,"
		    "\"host_ns\":%llu,\"reset_count\":%llu,\"generation\":%llu,\"keeper_pid\":%llu,"
		    "\"tsc\":{\"valid\":%s,\"khz\":%llu,\"refreshes\":%llu}}\n",
		    alive < 0 ? "dead" : (st.flags & VMTI_PAGE_RUNNING) ? "running" : "stopped",
		    alive < 0 ? "false" : "true", to_attached(src) ? "true" : "false",
		    (st.flags & VMTI_PAGE_MANUAL) ? "true" : "false",
		    (unsigned long long)st.vm_now, (unsigned long long)st.host_now,
		    (unsigned long long)st.reset_count, (unsigned long long)st.generation,
		    (unsigned long long)p->keeper_pid,
		    (st.flags & VMTI_PAGE_TSC_VALID) ? "true" : "false",
		    (unsigned long long)atomic_load_explicit(&p->tsc_khz, memory_order_relaxed),
		    (unsigned long long)atomic_load_explicit(&p->tsc_refreshes,
							     memory_order_relaxed));
	if (n < 0 || fflush(out) != 0)
		return -EIO;
	return 0;
}

/* ---- the control socket: messages -------------------------------------------------- */

static int send_msg(int fd, uint16_t type, uint64_t arg, int passfd, int flags)
{
	struct share_msg m = { .magic = SHARE_MAGIC, .version = SHARE_VERSION, .type = type,
			       .arg = arg };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (passfd >= 0) {
		memset(&c, 0, sizeof(c));
		mh.msg_control = c.buf;
		mh.msg_controllen = sizeof(c.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL | flags) != (ssize_t)sizeof(m))
		return errno ? -errno : -EIO;
	return 0;
}

/*
 * Receives one message and at most one fd.  Returns 1 with a message, 0 on
 * EOF, -EPROTO for a malformed one (any fds received are closed), or -errno.
 */
static int recv_msg(int fd, struct share_msg *m, int *passfd, int flags)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} c;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
			     .msg_controllen = sizeof(c.buf) };
	int nfds = 0, fds[4];
	ssize_t n;

	*passfd = -1;
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | flags);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < k; i++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (nfds < 4)
				fds[nfds++] = f;
			else
				close(f);
		}
	}
	if (n == 0 && nfds == 0)
		return 0;
	if (n != (ssize_t)sizeof(*m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds > 1 ||
	    m->magic != SHARE_MAGIC || m->version != SHARE_VERSION) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return -EPROTO;
	}
	if (nfds)
		*passfd = fds[0];
	return 1;
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

static int fill_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
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
			send_msg(fd, MSG_REFUSED, 0, -1, MSG_DONTWAIT);
			close(fd);
			l->refused++;
			continue;
		}
		if (l->nconns == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 8;
			struct conn *c = realloc(l->conns, cap * sizeof(*c));

			if (!c) {
				close(fd);
				l->refused++;
				continue;
			}
			l->conns = c;
			l->cap = cap;
		}
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };

		if (send_msg(fd, MSG_HELLO, (uint64_t)getpid(), l->page_fd, MSG_DONTWAIT) < 0 ||
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
		int fd, err = 0, r = recv_msg(c->fd, &m, &fd, MSG_DONTWAIT);

		if (r == -EAGAIN || r == -EINTR)
			return true;
		if (r <= 0)
			return false;
		if (m.type != MSG_SUBSCRIBE || fd < 0 || c->subfd >= 0 || !is_eventfd(fd, &err)) {
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
		wake_fd(fd);
		if (send_msg(c->fd, MSG_ACK, 0, -1, MSG_DONTWAIT) < 0)
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
	r = fill_addr(path, &sa);
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
		wake_fd(l->stop_efd);
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

/* ---- the control socket: peer side ---------------------------------------------------- */

static int handshake_recv(int sock, uint16_t want, int *fd)
{
	struct share_msg m;
	int r = recv_msg(sock, &m, fd, 0);

	if (r == -EAGAIN || r == -EWOULDBLOCK)
		return -ETIMEDOUT;
	if (r == 0)
		return -ECONNRESET;
	if (r < 0)
		return r;
	if (m.type == MSG_REFUSED)
		r = -EACCES;
	else if (m.type != want || (want == MSG_HELLO) != (*fd >= 0))
		r = -EPROTO;
	else
		return 0;
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return r;
}

int vmt_source_connect(const char *path, vmt_source **ret)
{
	struct timeval tv = { .tv_sec = vmti_share_handshake_timeout_ms / 1000,
			      .tv_usec = (vmti_share_handshake_timeout_ms % 1000) * 1000 };
	struct attached *a = NULL;
	struct sockaddr_un sa;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int sock, page_fd = -1, efd = -1, dummy = -1, r;

	if (!path || !ret)
		return -EINVAL;
	r = fill_addr(path, &sa);
	if (r < 0)
		return r;
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		r = -errno;
		goto fail;
	}
	/* A page from another user's process could be crafted to mislead us. */
	if (cred.uid != geteuid() && cred.uid != 0) {
		r = -EACCES;
		goto fail;
	}
	r = handshake_recv(sock, MSG_HELLO, &page_fd);
	if (r < 0)
		goto fail;
	r = attach(page_fd, false, &a);
	close(page_fd);
	if (r < 0)
		goto fail;
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0) {
		r = -errno;
		goto fail;
	}
	r = send_msg(sock, MSG_SUBSCRIBE, 0, efd, 0);
	if (r < 0)
		goto fail;
	r = handshake_recv(sock, MSG_ACK, &dummy);
	if (r < 0)
		goto fail;
	pthread_mutex_lock(&a->mu);
	a->sock = sock;
	a->notify = efd;
	r = start_watcher_locked(a);
	pthread_mutex_unlock(&a->mu);
	if (r < 0) {
		attached_destroy(a); /* closes sock and efd */
		return r;
	}
	*ret = &a->src;
	return 0;

fail:
	if (a)
		attached_destroy(a);
	if (efd >= 0)
		close(efd);
	close(sock);
	return r;
}
