/* SPDX-License-Identifier: MIT */
/* efd.c - waking and draining an eventfd; see efd.h. */
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <unistd.h>

#include "array.h"
#include "efd.h"

int vmti_efd_new(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

void vmti_efd_wake(int fd)
{
	const uint64_t one = 1;
	ssize_t n = write(fd, &one, sizeof(one));

	(void)n;
}

int vmti_efd_drain(int fd)
{
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));

	if (n == (ssize_t)sizeof(v))
		return 0;
	return n < 0 ? -errno : -EIO;
}

int vmti_efd_set_add(struct vmti_efd_set *s, int fd)
{
	int r = VMTI_ARRAY_GROW(s->fd, s->cap, s->n + 1);

	if (r == 0)
		s->fd[s->n++] = fd;
	return r;
}

void vmti_efd_set_remove(struct vmti_efd_set *s, int fd)
{
	/* Order does not matter: every member is woken alike. */
	for (size_t i = 0; i < s->n; i++) {
		if (s->fd[i] == fd) {
			s->fd[i] = s->fd[--s->n];
			return;
		}
	}
}

void vmti_efd_set_wake(const struct vmti_efd_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		vmti_efd_wake(s->fd[i]);
}

void vmti_efd_set_free(struct vmti_efd_set *s)
{
	free(s->fd);
	*s = (struct vmti_efd_set){ 0 };
}
