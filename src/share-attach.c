/* SPDX-License-Identifier: MIT */
/*
 * share-attach.c - the reader's side of sharing: attached sources.
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
 * stopped copy frozen at the current value (vmti_page_freeze()):
 *
 *   watcher/alive():  v = bounded read(live page) -> copy.vm_base = v, stopped -> page = copy
 *   reader:           p = page (acquire) -> seqlock read on p
 *
 * A reader still on the live page returns at most a value read before v was
 * (the same reader), or one taken an instant after, then the frozen v: the
 * freeze happens within one watcher wake-up of the death.  A keeper that
 * died inside a write leaves the page odd: readers and the freeze give up
 * after stuck_ns and freeze from the state it saved before the write
 * (page.h), so nothing here waits for it unboundedly.
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

#include "efd.h"
#include "share-internal.h"
#include "source-internal.h"
#include "testing.h"

/* ---- attached sources ------------------------------------------------------------ */

struct attached {
	struct vmt_source src; /* first: the ops get a vmt_source pointer */
	const struct vmti_page *map;
	struct vmti_page *frozen;
	pthread_mutex_t mu; /* loops, freeze, watcher state */
	struct vmti_efd_set loops;
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
	vmti_efd_set_wake(&a->loops);
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
	int r;

	pthread_mutex_lock(&a->mu);
	r = vmti_efd_set_add(&a->loops, efd);
	pthread_mutex_unlock(&a->mu);
	return r;
}

static void attached_unsubscribe(vmt_source *src, int efd)
{
	struct attached *a = to_attached(src);

	pthread_mutex_lock(&a->mu);
	vmti_efd_set_remove(&a->loops, efd);
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
			vmti_efd_drain(a->wake);
		if (in >= 0 && p[in].revents) {
			vmti_efd_drain(a->notify);
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
		vmti_efd_wake(a->wake);
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
	vmti_efd_set_free(&a->loops);
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
	if (!vmti_share_is_eventfd(efd, &err))
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
		vmti_efd_wake(a->wake);
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

/* ---- the control socket: peer side ---------------------------------------------------- */

static int handshake_recv(int sock, uint16_t want, int *fd)
{
	struct share_msg m;
	int r = vmti_share_recv(sock, &m, fd, 0);

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
	r = vmti_share_fill_addr(path, &sa);
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
	r = vmti_share_send(sock, MSG_SUBSCRIBE, 0, efd, 0);
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
