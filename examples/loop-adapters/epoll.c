/* SPDX-License-Identifier: MIT */
/*
 * epoll.c - vmtime's loop inside a VMM's own epoll main loop.
 *
 * The main loop owns its fds (here a pipe standing in for a monitor socket
 * that says "stop", "cont") and watches vmt_loop_get_fd() next to them; when
 * that fd is readable it calls vmt_loop_dispatch().  The same works with
 * poll(): { .fd = vmt_loop_get_fd(loop), .events = POLLIN }.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "demo.h"

/* A HOST timer plays the operator: it sends "next phase" down the pipe. */
static void send_command(vmt_timer *t, uint64_t expirations, void *userdata)
{
	(void)t;
	(void)expirations;
	if (write(*(int *)userdata, "n", 1) != 1)
		perror("write");
}

int main(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[4];
	vmt_timer *operator = NULL;
	int pipefd[2] = { -1, -1 }, ep = -1, next = 100, vmt_fd, n;
	struct demo d;
	char cmd;

	if (demo_init(&d) < 0)
		return 1;
	vmt_fd = vmt_loop_get_fd(d.loop);
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0 || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		next = -1;
	/* vmtime's fd is an epoll fd: it nests in ours, level-triggered. */
	ev.data.fd = vmt_fd;
	demo_check(&d, next < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, vmt_fd, &ev) == 0, "add vmt fd");
	ev.data.fd = pipefd[0];
	demo_check(&d, next < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, pipefd[0], &ev) == 0, "add pipe");
	demo_check(&d, vmt_timer_new(d.loop, VMT_CLOCK_HOST, send_command, &pipefd[1],
				     &operator) == 0, "operator timer");
	demo_check(&d, vmt_timer_arm_in(operator, 100 * VMT_NS_PER_MS) == 0, "arm operator");

	while (d.ok && next >= 0) {
		/* No timeout: vmtime's fd wakes us for every timer, on every clock. */
		n = epoll_wait(ep, evs, 4, -1);
		if (n < 0 && errno != EINTR)
			demo_check(&d, false, "epoll_wait");
		for (int i = 0; i < n && next >= 0; i++) {
			if (evs[i].data.fd == vmt_fd) {
				/* Runs what is due, never blocks, re-arms the fd itself. */
				demo_check(&d, vmt_loop_dispatch(d.loop) >= 0, "vmt_loop_dispatch");
			} else if (read(pipefd[0], &cmd, 1) == 1) {
				/* A command: outside any vmtime callback, so it may dispatch. */
				next = demo_step(&d);
				if (next >= 0)
					vmt_timer_arm_in(operator, next * VMT_NS_PER_MS);
			}
		}
	}
	vmt_timer_free(operator);
	close(ep);
	close(pipefd[0]);
	close(pipefd[1]);
	return demo_finish(&d, "epoll");
}
