/* SPDX-License-Identifier: MIT */
/*
 * testing.h - every test seam of the library, in one place (not installed).
 *
 * Tests shorten timeouts and stop the library at chosen points through these
 * globals.  None is read on a hot path: only on slow paths (a reader stuck
 * on a writer, a connection handshake, a dispatch woken through its eventfd)
 * and in writes.  Keep it that way, and keep them out of the ABI: nothing
 * here is exported to users.
 */
#ifndef VMT_TESTING_H
#define VMT_TESTING_H

#include <vmtime/loop.h>
#include <vmtime/time.h>

struct vmti_page;

/* How long vmt_source_connect() waits for each handshake answer (ms). */
extern int vmti_share_handshake_timeout_ms;

/*
 * How long a reader of an attached source waits for a keeper that stays
 * inside a page write before it takes the keeper for dead (ns).
 */
extern vmt_ns vmti_attached_stuck_ns;

/* Called inside every page write, after the odd increment (NULL: none). */
extern void (*vmti_testing_in_write)(struct vmti_page *p);

/*
 * Called by a dispatch that found the loop's eventfd readable, just before
 * it drains it: plays a cross-thread wake-up landing at that instant
 * (tests/test-loop.c).  Only dispatches that were woken check it.
 */
extern void (*vmti_loop_drain_hook)(vmt_loop *loop);

#endif /* VMT_TESTING_H */
