/* SPDX-License-Identifier: MIT */
/* testing.c - the defaults of the test seams (see testing.h). */
#include <stddef.h>

#include "testing.h"

int vmti_share_handshake_timeout_ms = 5000;
/* Far above any preemption of a live keeper mid-write on a loaded machine. */
vmt_ns vmti_attached_stuck_ns = 2 * VMT_NS_PER_SEC;
void (*vmti_testing_in_write)(struct vmti_page *p);
