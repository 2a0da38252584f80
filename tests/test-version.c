/* SPDX-License-Identifier: MIT */
/* test-version.c - the library reports the version its headers carry. */
#include <stdio.h>

#include <vmtime/vmtime.h>

#include "tests.h"

TEST(number_matches_headers)
{
	ASSERT_UEQ(vmt_version(), (unsigned int)VMT_VERSION);
	ASSERT_UEQ(vmt_version() >> 16, VMT_VERSION_MAJOR);
	ASSERT_UEQ((vmt_version() >> 8) & 0xff, VMT_VERSION_MINOR);
	ASSERT_UEQ(vmt_version() & 0xff, VMT_VERSION_PATCH);
}

TEST(number_orders_releases)
{
	/* 0.2.0 < 0.2.1 < 0.10.0 < 1.0.0: the packing keeps numeric order. */
	ASSERT_ULT(0x000200u, 0x000201u);
	ASSERT_ULT(0x000201u, 0x000a00u);
	ASSERT_ULT(0x000a00u, 0x010000u);
	ASSERT_ULT(VMT_VERSION, 0x010000);
	ASSERT_UGE(VMT_VERSION, 0x000200);
}

TEST(string_matches_number)
{
	const char *s = vmt_version_string();
	unsigned int major, minor, patch;
	char tail;

	ASSERT_TRUE(s != NULL);
	ASSERT_STREQ(s, VMT_VERSION_STRING);
	ASSERT_EQ(sscanf(s, "%u.%u.%u%c", &major, &minor, &patch, &tail), 3);
	ASSERT_UEQ((major << 16) | (minor << 8) | patch, vmt_version());
	/* The same static string every time. */
	ASSERT_TRUE(vmt_version_string() == s);
}
