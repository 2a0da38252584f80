/* SPDX-License-Identifier: MIT */
/*
 * tests/dev-tests.h - what the device tests share: round-tripping saved
 * state through a real snapshot image.
 */
#ifndef VMT_DEV_TESTS_H
#define VMT_DEV_TESTS_H

#include <vmtime/snapshot.h>

#include "tests.h"

/* Seal @sw and open its image again: @r reads the section @name. */
static inline void dev_reopen(vmt_snap_writer *sw, const char *name, vmt_snap_reader **sr,
			      vmt_fields_reader *r)
{
	struct vmt_snap_section sec;
	const void *buf;
	size_t len;

	ASSERT_OK(vmt_snap_writer_save_buffer(sw, &buf, &len, NULL));
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, sr, NULL));
	ASSERT_OK(vmt_snap_reader_find(*sr, name, &sec));
	*r = sec.fields;
}

#endif /* VMT_DEV_TESTS_H */
