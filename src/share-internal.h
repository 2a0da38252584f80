/* SPDX-License-Identifier: MIT */
/*
 * share-internal.h - the control socket's wire protocol, shared by the
 * keeper side (share-keeper.c) and the peer side (share-attach.c); not
 * installed.
 */
#ifndef VMT_SHARE_INTERNAL_H
#define VMT_SHARE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

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

/* True if @fd is an open eventfd; else false with *@err = -EBADF, -ENOTTY, ... */
bool vmti_share_is_eventfd(int fd, int *err);

/* A unix socket address for @path: 0 or -ENAMETOOLONG. */
int vmti_share_fill_addr(const char *path, struct sockaddr_un *sa);

/* Sends one message of @type, with @passfd (>= 0) attached: 0 or -errno. */
int vmti_share_send(int fd, uint16_t type, uint64_t arg, int passfd, int flags);

/*
 * Receives one message and at most one fd.  Returns 1 with a message, 0 on
 * EOF, -EPROTO for a malformed one (any fds received are closed), or -errno.
 */
int vmti_share_recv(int fd, struct share_msg *m, int *passfd, int flags);

#endif /* VMT_SHARE_INTERNAL_H */
