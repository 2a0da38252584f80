/* SPDX-License-Identifier: MIT */
/*
 * vmt-probe - the time probe a Linux guest runs (issue 12): what the guest
 * itself sees of time, one line per period on stdout (the guest's console).
 *
 *   vmt-probe [--period-ms N] [--count K]
 *
 *   vmt-probe seq=3 mono_ns=... real_ns=... rtc_s=... loc=... irq0=...
 *
 * mono_ns and real_ns are CLOCK_MONOTONIC and CLOCK_REALTIME (on KVM both
 * come from kvmclock), rtc_s is /dev/rtc0 read as UTC seconds (-1 without
 * an RTC), loc the local APIC timer interrupts summed over CPUs and irq0
 * the PIT's (from /proc/interrupts; -1 where absent).  The host side reads
 * these lines to build the demo's table; the probe checks one thing itself:
 * its monotonic clock never goes backwards (exit 1, with a "backwards"
 * line).  K = 0 runs until killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/rtc.h>

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t rtc_seconds(void)
{
	struct rtc_time rt;
	struct tm tm;
	int fd = open("/dev/rtc0", O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	memset(&rt, 0, sizeof(rt));
	r = ioctl(fd, RTC_RD_TIME, &rt);
	close(fd);
	if (r < 0)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_sec = rt.tm_sec;
	tm.tm_min = rt.tm_min;
	tm.tm_hour = rt.tm_hour;
	tm.tm_mday = rt.tm_mday;
	tm.tm_mon = rt.tm_mon;
	tm.tm_year = rt.tm_year;
	return (int64_t)timegm(&tm);
}

/* The counts of /proc/interrupts line @name ("LOC", "0"), summed over CPUs. */
static int64_t irq_count(const char *name)
{
	char line[4096], *p, *end;
	size_t n = strlen(name);
	int64_t sum = -1;
	FILE *f = fopen("/proc/interrupts", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		p = line + strspn(line, " ");
		if (strncmp(p, name, n) != 0 || p[n] != ':')
			continue;
		sum = 0;
		for (p += n + 1;; p = end) {
			long long v = strtoll(p, &end, 10);

			if (end == p)
				break;
			sum += v;
		}
		break;
	}
	fclose(f);
	return sum;
}

int main(int argc, char **argv)
{
	long period_ms = 100, count = 0;
	struct timespec next;
	int64_t mono, real, last = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--period-ms") && i + 1 < argc)
			period_ms = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtol(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: vmt-probe [--period-ms N] [--count K]\n");
			return 2;
		}
	}
	if (period_ms <= 0 || period_ms > 60000 || count < 0) {
		fprintf(stderr, "vmt-probe: period 1-60000 ms, count >= 0\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (long seq = 0; count == 0 || seq < count; seq++) {
		/* The two clocks side by side, before the slower reads. */
		mono = clock_ns(CLOCK_MONOTONIC);
		real = clock_ns(CLOCK_REALTIME);
		if (mono < last) {
			printf("vmt-probe backwards mono_ns=%" PRId64 " after %" PRId64 "\n", mono, last);
			return 1;
		}
		last = mono;
		printf("vmt-probe seq=%ld mono_ns=%" PRId64 " real_ns=%" PRId64 " rtc_s=%" PRId64
		       " loc=%" PRId64 " irq0=%" PRId64 "\n",
		       seq, mono, real, rtc_seconds(), irq_count("LOC"),
		       irq_count("0"));
		/* Absolute deadlines: the period does not drift with the work. */
		next.tv_nsec += period_ms % 1000 * 1000000;
		next.tv_sec += period_ms / 1000 + next.tv_nsec / 1000000000;
		next.tv_nsec %= 1000000000;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	return 0;
}
