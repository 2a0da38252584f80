/* SPDX-License-Identifier: MIT */
/*
 * fields.h - the tagged-field codec as the snapshot container sees it (not
 * installed).  fields.c encodes and decodes payloads (docs/snapshot-format.md,
 * "Payload"); snapshot.c frames them into a file.  The container embeds a
 * fields writer that appends straight into its own buffer, so a unit's bytes
 * are written once, and validates each payload with vmti_fields_validate().
 */
#ifndef VMT_FIELDS_H
#define VMT_FIELDS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmtime/snapshot.h>

#include "array.h"

/* id (4), type (1), reserved (3), length (4) */
#define FIELD_HEADER_LEN 12u

/* ---- little-endian access (the format's byte order) ---------------------- */

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* ---- growable byte buffer ------------------------------------------------ */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

/* Room for @extra more bytes after b->len: 0 or -ENOMEM. */
static inline int buf_reserve(struct buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len)
		return -ENOMEM;
	return VMTI_ARRAY_GROW(b->p, b->cap, b->len + extra);
}

/* ---- fields writer ------------------------------------------------------- */

struct vmt_fields_writer {
	struct buf own;		/* storage of a standalone writer */
	struct buf *buf;	/* own, or the snapshot writer's buffer */
	size_t base;		/* offset of the payload's first byte in *buf */
	size_t group[VMT_FIELDS_MAX_DEPTH]; /* header offsets of the open groups */
	unsigned depth;
	int err;		/* sticky: first failure */
	bool owned;		/* belongs to a vmt_snap_writer */
	bool closed;		/* owned and its section has ended */
};

/*
 * vmti_fields_writer_embed() - make @w a writer owned by a container that
 * appends into @b; it refuses fields (-EBUSY) until vmti_fields_writer_open().
 */
static inline void vmti_fields_writer_embed(vmt_fields_writer *w, struct buf *b)
{
	w->buf = b;
	w->owned = true;
	w->closed = true;
}

/* vmti_fields_writer_open() - start a payload at the end of the buffer. */
static inline void vmti_fields_writer_open(vmt_fields_writer *w)
{
	w->base = w->buf->len;
	w->depth = 0;
	w->err = 0;
	w->closed = false;
}

/*
 * vmti_fields_writer_close() - refuse further fields; @discard also forgets
 * the payload's error and open groups (its bytes are dropped by the caller).
 */
static inline void vmti_fields_writer_close(vmt_fields_writer *w, bool discard)
{
	w->closed = true;
	if (discard) {
		w->err = 0;
		w->depth = 0;
	}
}

/*
 * vmti_fields_validate() - check every field of the payload [@p, @len),
 * groups included.  Returns 0, or -EBADMSG (-E2BIG for groups nested past
 * VMT_FIELDS_MAX_DEPTH) with the payload offset of the bad field in *@bad
 * and the reason in *@why.
 */
int vmti_fields_validate(const uint8_t *p, size_t len, size_t *bad, const char **why);

#endif /* VMT_FIELDS_H */
