/* SPDX-License-Identifier: MIT */
/*
 * fields.c - the tagged-field codec: the writer appends fields to a
 * growable buffer (its own, or its container's, see fields.h), the reader
 * walks a payload validated once by vmti_fields_validate(), so after that
 * accesses can only miss or find another type.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <vmtime/snapshot.h>

#include "fields.h"

/* ---- fields writer --------------------------------------------------------- */

static int fw_check(vmt_fields_writer *w)
{
	if (!w)
		return -EINVAL;
	if (w->closed)
		return -EBUSY;
	return w->err;
}

/* Appends a field header and reserves room for @n value bytes. */
static int fw_field(vmt_fields_writer *w, uint32_t id, uint8_t type, size_t n, uint8_t **val)
{
	size_t used = w->buf->len - w->base;
	uint8_t *h;
	int r;

	if (n > VMT_SNAP_MAX_PAYLOAD || used + FIELD_HEADER_LEN + n > VMT_SNAP_MAX_PAYLOAD)
		return w->err = -E2BIG;
	r = buf_reserve(w->buf, FIELD_HEADER_LEN + n);
	if (r < 0)
		return w->err = r;
	h = w->buf->p + w->buf->len;
	put32(h, id);
	h[4] = type;
	h[5] = h[6] = h[7] = 0;
	put32(h + 8, (uint32_t)n);
	w->buf->len += FIELD_HEADER_LEN + n;
	*val = h + FIELD_HEADER_LEN;
	return 0;
}

int vmt_fields_writer_new(vmt_fields_writer **ret)
{
	vmt_fields_writer *w;

	if (!ret)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->buf = &w->own;
	*ret = w;
	return 0;
}

vmt_fields_writer *vmt_fields_writer_free(vmt_fields_writer *w)
{
	if (w && !w->owned) {
		free(w->own.p);
		free(w);
	}
	return NULL;
}

int vmt_fields_writer_reset(vmt_fields_writer *w)
{
	if (!w || w->owned)
		return -EINVAL;
	w->own.len = 0;
	w->depth = 0;
	w->err = 0;
	return 0;
}

int vmt_fields_put_u64(vmt_fields_writer *w, uint32_t id, uint64_t v)
{
	uint8_t *p;
	int r = fw_check(w);

	if (r < 0)
		return r;
	r = fw_field(w, id, VMT_FIELD_U64, 8, &p);
	if (r < 0)
		return r;
	put64(p, v);
	return 0;
}

int vmt_fields_put_i64(vmt_fields_writer *w, uint32_t id, int64_t v)
{
	uint8_t *p;
	int r = fw_check(w);

	if (r < 0)
		return r;
	r = fw_field(w, id, VMT_FIELD_I64, 8, &p);
	if (r < 0)
		return r;
	put64(p, (uint64_t)v);
	return 0;
}

int vmt_fields_put_bytes(vmt_fields_writer *w, uint32_t id, const void *data, size_t n)
{
	uint8_t *p;
	int r = fw_check(w);

	if (r < 0)
		return r;
	if (!data && n)
		return -EINVAL;
	r = fw_field(w, id, VMT_FIELD_BYTES, n, &p);
	if (r < 0)
		return r;
	if (n)
		memcpy(p, data, n);
	return 0;
}

int vmt_fields_put_str(vmt_fields_writer *w, uint32_t id, const char *s)
{
	uint8_t *p;
	size_t n;
	int r = fw_check(w);

	if (r < 0)
		return r;
	if (!s)
		return -EINVAL;
	/* The NUL is stored so a reader can hand out a pointer into the file. */
	n = strlen(s) + 1;
	r = fw_field(w, id, VMT_FIELD_STR, n, &p);
	if (r < 0)
		return r;
	memcpy(p, s, n);
	return 0;
}

int vmt_fields_begin_group(vmt_fields_writer *w, uint32_t id)
{
	uint8_t *p;
	int r = fw_check(w);

	if (r < 0)
		return r;
	if (w->depth >= VMT_FIELDS_MAX_DEPTH)
		return w->err = -E2BIG;
	r = fw_field(w, id, VMT_FIELD_GROUP, 0, &p);
	if (r < 0)
		return r;
	w->group[w->depth++] = w->buf->len - FIELD_HEADER_LEN;
	return 0;
}

int vmt_fields_end_group(vmt_fields_writer *w)
{
	size_t h;
	int r = fw_check(w);

	if (r < 0)
		return r;
	if (!w->depth)
		return -EINVAL;
	h = w->group[--w->depth];
	/* Fits: the payload limit is below 4 GiB. */
	put32(w->buf->p + h + 8, (uint32_t)(w->buf->len - h - FIELD_HEADER_LEN));
	return 0;
}

size_t vmt_fields_writer_size(const vmt_fields_writer *w)
{
	if (!w || w->closed)
		return 0;
	return w->buf->len - w->base;
}

int vmt_fields_writer_error(const vmt_fields_writer *w)
{
	if (!w)
		return -EINVAL;
	return w->err;
}

/* ---- fields reader ------------------------------------------------------- */

/*
 * Decodes the field header at @pos of [@p, @len).  Only the framing is
 * checked here; type-specific rules are checked once by fields_validate().
 */
static int field_at(const uint8_t *p, size_t len, size_t pos, struct vmt_field *f, size_t *next)
{
	uint32_t n;

	if (pos > len || len - pos < FIELD_HEADER_LEN)
		return -EBADMSG;
	n = get32(p + pos + 8);
	if (n > len - pos - FIELD_HEADER_LEN)
		return -EBADMSG;
	memset(f, 0, sizeof(*f));
	f->id = get32(p + pos);
	f->type = p[pos + 4];
	f->data = p + pos + FIELD_HEADER_LEN;
	f->len = n;
	f->offset = pos;
	*next = pos + FIELD_HEADER_LEN + n;
	return 0;
}

/*
 * Checks every field of a payload or group, recursing into groups; depth is
 * bounded by VMT_FIELDS_MAX_DEPTH so the recursion is too.  @base is the
 * offset of @p within the payload, for the message.
 */
static int fields_validate(const uint8_t *p, size_t len, unsigned depth, size_t base,
			   size_t *bad, const char **why)
{
	size_t pos = 0, next;
	struct vmt_field f;
	int r;

	while (pos < len) {
		if (field_at(p, len, pos, &f, &next) < 0) {
			*bad = base + pos;
			*why = len - pos < FIELD_HEADER_LEN ? "field header runs past its container"
							     : "field value runs past its container";
			return -EBADMSG;
		}
		switch (f.type) {
		case VMT_FIELD_U64:
		case VMT_FIELD_I64:
			if (f.len != 8) {
				*bad = base + pos;
				*why = "integer field is not 8 bytes long";
				return -EBADMSG;
			}
			break;
		case VMT_FIELD_STR:
			if (!f.len || memchr(f.data, 0, f.len) != (const uint8_t *)f.data + f.len - 1) {
				*bad = base + pos;
				*why = "string field is not a single NUL-terminated string";
				return -EBADMSG;
			}
			break;
		case VMT_FIELD_GROUP:
			if (depth + 1 > VMT_FIELDS_MAX_DEPTH) {
				*bad = base + pos;
				*why = "groups nest deeper than the limit";
				return -E2BIG;
			}
			r = fields_validate(f.data, f.len, depth + 1, base + pos + FIELD_HEADER_LEN,
					    bad, why);
			if (r < 0)
				return r;
			break;
		default:
			/* Unknown types are a newer writer's; their length lets us skip them. */
			break;
		}
		pos = next;
	}
	return 0;
}

int vmti_fields_validate(const uint8_t *p, size_t len, size_t *bad, const char **why)
{
	return fields_validate(p, len, 0, 0, bad, why);
}

int vmt_fields_reader_init(vmt_fields_reader *r, const void *data, size_t len)
{
	const char *why;
	size_t bad;
	int ret;

	if (!r || (!data && len))
		return -EINVAL;
	if (len > VMT_SNAP_MAX_PAYLOAD)
		return -E2BIG;
	ret = vmti_fields_validate(data, len, &bad, &why);
	if (ret < 0)
		return ret;
	r->priv_data = data;
	r->priv_len = len;
	r->priv_pos = 0;
	r->priv_depth = 0;
	return 0;
}

int vmt_fields_next(vmt_fields_reader *r, struct vmt_field *f)
{
	size_t next;
	int ret;

	if (!r || !f)
		return -EINVAL;
	if (r->priv_pos >= r->priv_len)
		return 0;
	ret = field_at(r->priv_data, r->priv_len, r->priv_pos, f, &next);
	if (ret < 0)
		return ret;
	switch (f->type) {
	case VMT_FIELD_U64:
	case VMT_FIELD_I64:
		if (f->len != 8)
			return -EBADMSG;
		f->u64 = get64(f->data);
		f->i64 = (int64_t)f->u64;
		break;
	case VMT_FIELD_STR:
		if (!f->len)
			return -EBADMSG;
		f->len--;
		break;
	case VMT_FIELD_GROUP:
		f->group.priv_data = f->data;
		f->group.priv_len = f->len;
		f->group.priv_pos = 0;
		f->group.priv_depth = r->priv_depth + 1;
		break;
	}
	r->priv_pos = next;
	return 1;
}

int vmt_fields_rewind(vmt_fields_reader *r)
{
	if (!r)
		return -EINVAL;
	r->priv_pos = 0;
	return 0;
}

/* The first field @id, checked to be of @type. */
static int fields_find(const vmt_fields_reader *r, uint32_t id, uint32_t type, struct vmt_field *f)
{
	vmt_fields_reader c;
	int ret;

	if (!r)
		return -EINVAL;
	c = *r;
	c.priv_pos = 0;
	while ((ret = vmt_fields_next(&c, f)) > 0)
		if (f->id == id)
			return f->type == type ? 0 : -EBADMSG;
	return ret < 0 ? ret : -ENOENT;
}

int vmt_fields_get_u64(const vmt_fields_reader *r, uint32_t id, uint64_t *v)
{
	struct vmt_field f;
	int ret;

	if (!v)
		return -EINVAL;
	ret = fields_find(r, id, VMT_FIELD_U64, &f);
	if (ret < 0)
		return ret;
	*v = f.u64;
	return 0;
}

int vmt_fields_get_i64(const vmt_fields_reader *r, uint32_t id, int64_t *v)
{
	struct vmt_field f;
	int ret;

	if (!v)
		return -EINVAL;
	ret = fields_find(r, id, VMT_FIELD_I64, &f);
	if (ret < 0)
		return ret;
	*v = f.i64;
	return 0;
}

int vmt_fields_get_bytes(const vmt_fields_reader *r, uint32_t id, const void **p, size_t *n)
{
	struct vmt_field f;
	int ret;

	if (!p || !n)
		return -EINVAL;
	ret = fields_find(r, id, VMT_FIELD_BYTES, &f);
	if (ret < 0)
		return ret;
	*p = f.data;
	*n = f.len;
	return 0;
}

int vmt_fields_get_str(const vmt_fields_reader *r, uint32_t id, const char **s)
{
	struct vmt_field f;
	int ret;

	if (!s)
		return -EINVAL;
	ret = fields_find(r, id, VMT_FIELD_STR, &f);
	if (ret < 0)
		return ret;
	*s = f.data;
	return 0;
}

int vmt_fields_get_group(const vmt_fields_reader *r, uint32_t id, vmt_fields_reader *sub)
{
	struct vmt_field f;
	int ret;

	if (!sub)
		return -EINVAL;
	ret = fields_find(r, id, VMT_FIELD_GROUP, &f);
	if (ret < 0)
		return ret;
	*sub = f.group;
	return 0;
}
