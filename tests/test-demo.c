/* SPDX-License-Identifier: MIT */
/*
 * test-demo.c - runs `vmtime demo` with short phases and checks its table.
 *
 * The demo checks itself (exit 1 if time was wrong); this test also reads
 * the JSON table: a KVM guest, every phase present, the pause adding no
 * tick, the restore resuming at the saved count, no phase but the COALESCE
 * one off by more than the documented tolerance.  Without a usable
 * /dev/kvm it skips (exit 77).  The fallback to the simulated guest and
 * the usage errors are CTest entries of cmake/kvm-pit.cmake.
 *
 * VMT_TEST_KVM: `make check-kvm` runs it, nested under emulation if need be.
 */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests.h"

#define TOOL VMT_BINARY_DIR "/vmtime"

static int run(const char *args, char *out, size_t len)
{
	char cmd[512];
	size_t n = 0, got;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "%s %s", TOOL, args);
	p = popen(cmd, "r");
	ASSERT_TRUE(p != NULL);
	while (n + 1 < len && (got = fread(out + n, 1, len - 1 - n, p)) > 0)
		n += got;
	out[n] = '\0';
	st = pclose(p);
	ASSERT_TRUE(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* The integer after "key": within the phase object that starts at @obj. */
static long long field(const char *obj, const char *key)
{
	char pat[64];
	const char *p, *end = strchr(obj, '}');

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(obj, pat);
	if (!p || (end && p > end))
		VMT_FAIL("no field %s in %.80s", key, obj);
	return strtoll(p + strlen(pat), NULL, 10);
}

static const char *phase(const char *json, const char *name)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "{\"phase\": \"%s\"", name);
	p = strstr(json, pat);
	if (!p)
		VMT_FAIL("phase %s missing from the table", name);
	return p;
}

static int kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

TEST(kvm_demo_table)
{
	static const char *const phases[] = { "boot+run", "pause", "resume", "save",
					      "restore+run", "stall/coalesce",
					      "stall/catch-up" };
	static char out[16384];
	const char *p;
	int rc;

	if (!kvm_usable())
		SKIP("/dev/kvm is missing or not accessible: the KVM demo cannot run here");
	rc = run("demo --duration-scale 0.1 --json", out, sizeof(out));
	if (strstr(out, "\"guest\":\"simulated\""))
		SKIP("KVM refused to create a VM; the demo fell back to the simulated guest");
	if (rc != 0)
		fprintf(stderr, "%s", out);
	ASSERT_EQ(rc, 0);
	ASSERT_TRUE(strstr(out, "\"guest\": \"kvm\"") != NULL);
	ASSERT_TRUE(strstr(out, "\"ok\": false") == NULL);
	ASSERT_TRUE(strstr(out, "\n  \"ok\": true\n") != NULL);
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		p = phase(out, phases[i]);
		if (strcmp(phases[i], "stall/coalesce") != 0)
			ASSERT_LE(llabs(field(p, "diff")), field(out, "tolerance"));
	}
	/* The pause: no VM time, no tick. */
	p = phase(out, "pause");
	ASSERT_EQ(field(p, "ticks"), 0);
	ASSERT_TRUE(strstr(p, "\"vm_s\": 0.000000") != NULL);
	/* The RTC (base UTC on the VM clock): its date stops with the VM. */
	ASSERT_TRUE(strstr(p, "\"rtc_s\": 0.000000") != NULL);
	ASSERT_TRUE(strstr(p, "the RTC's date did not move") != NULL);
	/* The guest read its CMOS clock in every phase that ran. */
	ASSERT_TRUE(strstr(out, "the guest read no CMOS clock") == NULL);
	ASSERT_TRUE(strstr(phase(out, "resume"), "\"guest_rtc\": \"-\"") == NULL);
	/* The restore: same count, same checksum, same VM time. */
	p = phase(out, "restore+run");
	ASSERT_TRUE(strstr(p, "checksum equal") != NULL);
	/* Coalesce lost ticks, catch-up none. */
	ASSERT_GT(field(phase(out, "stall/coalesce"), "lost"), 0);
	ASSERT_EQ(field(phase(out, "stall/catch-up"), "lost"), 0);
	/* The guest's own view: reads of the PIT counter all in range. */
	ASSERT_EQ(field(strstr(out, "\"final\""), "bad_reads"), 0);
	ASSERT_GT(field(strstr(out, "\"final\""), "pit_reads"), 0);
}
