/* SPDX-License-Identifier: MIT */
/* time.c - conversions of vmt_ns and the names of the clocks. */
#include <errno.h>
#include <stddef.h>

#include <vmtime/clock.h>
#include <vmtime/time.h>

int vmt_ns_from_timespec(const struct timespec *ts, vmt_ns *ret)
{
	if (!ts || !ret || ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= (long)VMT_NS_PER_SEC)
		return -EINVAL;
	*ret = vmt_ns_add(vmt_ns_mul((uint64_t)ts->tv_sec, VMT_NS_PER_SEC), (uint64_t)ts->tv_nsec);
	return 0;
}

struct timespec vmt_ns_to_timespec(vmt_ns t)
{
	struct timespec ts = {
		.tv_sec = (time_t)(t / VMT_NS_PER_SEC),
		.tv_nsec = (long)(t % VMT_NS_PER_SEC),
	};
	return ts;
}

const char *vmt_clock_name(enum vmt_clock clock)
{
	switch (clock) {
	case VMT_CLOCK_VM:
		return "vm";
	case VMT_CLOCK_HOST:
		return "host";
	case VMT_CLOCK_WALL:
		return "wall";
	case VMT_CLOCK_BOOT:
		return "boot";
	default:
		return NULL;
	}
}
