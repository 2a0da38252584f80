/* SPDX-License-Identifier: MIT */
/* share-internal.h - knobs of share.c for tests (not installed). */
#ifndef VMT_SHARE_INTERNAL_H
#define VMT_SHARE_INTERNAL_H

/* How long vmt_source_connect() waits for each handshake answer. */
extern int vmti_share_handshake_timeout_ms;

#endif /* VMT_SHARE_INTERNAL_H */
