/* SPDX-License-Identifier: MIT */
/* test-strerror.c - vmt_strerror() and vmt_errname(). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmtime/vmtime.h>

#include "tests.h"

TEST(negative_and_positive_errno_agree)
{
	ASSERT_STREQ(vmt_errname(-EBADMSG), "EBADMSG");
	ASSERT_STREQ(vmt_errname(EBADMSG), "EBADMSG");
	ASSERT_TRUE(vmt_strerror(-EBADMSG) == vmt_strerror(EBADMSG));
}

TEST(texts_say_what_vmtime_means)
{
	ASSERT_TRUE(strstr(vmt_strerror(-EALREADY), "already running") != NULL);
	ASSERT_TRUE(strstr(vmt_strerror(-ESHUTDOWN), "the keeper is gone") != NULL);
	ASSERT_TRUE(strstr(vmt_strerror(-EPROTONOSUPPORT), "snapshot") != NULL);
	ASSERT_TRUE(strstr(vmt_strerror(-EBADMSG), "corrupt") != NULL);
	ASSERT_TRUE(strstr(vmt_strerror(-ENODATA), "truncated") != NULL);
}

/* docs/errors.md gives these two meanings by module: the text names both. */
TEST(double_meanings_name_each_module)
{
	const char *perm = vmt_strerror(-EPERM), *canc = vmt_strerror(-ECANCELED);

	ASSERT_TRUE(strstr(perm, "VM clock is stopped") != NULL);
	ASSERT_TRUE(strstr(perm, "ptimer") != NULL);
	ASSERT_TRUE(strstr(canc, "wall-clock step") != NULL);
	ASSERT_TRUE(strstr(canc, "skipped") != NULL);
}

TEST(zero_and_unknown_values_have_a_fallback)
{
	ASSERT_STREQ(vmt_strerror(0), "success");
	ASSERT_STREQ(vmt_errname(0), "OK");
	ASSERT_STREQ(vmt_strerror(-99999), "unknown error");
	ASSERT_STREQ(vmt_errname(99999), "unknown");
	ASSERT_STREQ(vmt_errname(INT_MIN), "unknown");
	ASSERT_STREQ(vmt_errname(INT_MAX), "unknown");
}

/*
 * Every errno a header's Return: line or docs/errors.md names must have a
 * vmtime text, so a new error code cannot reach users as "unknown error".
 * Names are matched against what vmt_errname() knows, looked up by name.
 */
static int known_name(const char *name)
{
	for (int e = 1; e < 200; e++)
		if (!strcmp(vmt_errname(e), name))
			return 1;
	return 0;
}

static int scan_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int unknown = 0;

	if (!f)
		VMT_FAIL("cannot open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		for (char *p = line; (p = strstr(p, "-E")) != NULL; p++) {
			char name[32];
			size_t n = 0;

			if (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
				continue;
			for (const char *q = p + 1; (isupper((unsigned char)*q) || isdigit((unsigned char)*q)) &&
						    n + 1 < sizeof(name);
			     q++)
				name[n++] = *q;
			name[n] = 0;
			if (n < 3 || isalnum((unsigned char)p[1 + n]) || p[1 + n] == '_')
				continue;
			if (!known_name(name)) {
				fprintf(stderr, "  %s: %s has no vmt_strerror() text\n", path, name);
				unknown++;
			}
		}
	}
	fclose(f);
	return unknown;
}

TEST(every_documented_errno_is_known)
{
	char path[4096];
	struct dirent *de;
	DIR *d;
	int unknown;

	snprintf(path, sizeof(path), "%s/docs/errors.md", VMT_SOURCE_DIR);
	unknown = scan_file(path);
	snprintf(path, sizeof(path), "%s/include/vmtime", VMT_SOURCE_DIR);
	d = opendir(path);
	ASSERT_TRUE(d != NULL);
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n < 3 || strcmp(de->d_name + n - 2, ".h"))
			continue;
		snprintf(path, sizeof(path), "%s/include/vmtime/%s", VMT_SOURCE_DIR, de->d_name);
		unknown += scan_file(path);
	}
	closedir(d);
	ASSERT_EQ(unknown, 0);
}

TEST(names_match_their_values)
{
	ASSERT_STREQ(vmt_errname(-EAGAIN), "EAGAIN");
	ASSERT_STREQ(vmt_errname(-EWOULDBLOCK), "EAGAIN");
	ASSERT_STREQ(vmt_errname(-ENOMEM), "ENOMEM");
	ASSERT_STREQ(vmt_errname(-E2BIG), "E2BIG");
	ASSERT_STREQ(vmt_errname(-EOPNOTSUPP), "EOPNOTSUPP");
}
