/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c - the snapshot container: file header, sections, trailer and
 * the atomic save; the byte layout is docs/snapshot-format.md.  The
 * payloads are the tagged fields of fields.c.
 *
 * Writing builds the whole file in one growable buffer (section writers append
 * to it directly, so a unit's bytes are copied once) and hands it to the
 * kernel with one write().  Reading loads the file into memory and validates
 * everything, payload structure included, before returning a reader: after
 * open, field accesses can only miss or find another type.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmtime/snapshot.h>

#include "array.h"
#include "crc32c.h"
#include "fields.h"
#include "internal.h"
#include "json.h"

#define SNAP_MAGIC "\x89VMT\r\n\x1a\n"
#define SNAP_MAGIC_LEN 8
#define SNAP_HEADER_LEN 32u
#define SNAP_HEADER_MAX 4096u
#define SECT_HEADER_LEN 24u
#define SECT_TAG "SECT"
#define TRAILER_LEN 24u
#define TRAILER_TAG "VEND"

/* ---- snapshot writer ------------------------------------------------------ */

struct vmt_snap_writer {
	struct buf buf;		/* header, then the sections */
	vmt_fields_writer fw;	/* writer of the open section */
	bool in_section;
	size_t sect;		/* offset of the open section's header */
	uint32_t nsections;
	uint32_t *crcs;		/* section CRCs, for the whole-file check */
	size_t crcs_cap;
	int err;		/* sticky */
	bool sealed;
};

static atomic_uint tmp_counter;

int vmt_snap_writer_new(vmt_snap_writer **ret)
{
	vmt_snap_writer *w;

	if (!ret)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	if (buf_reserve(&w->buf, SNAP_HEADER_LEN) < 0) {
		free(w);
		return -ENOMEM;
	}
	/* The header is filled in when the snapshot is sealed. */
	memset(w->buf.p, 0, SNAP_HEADER_LEN);
	w->buf.len = SNAP_HEADER_LEN;
	vmti_fields_writer_embed(&w->fw, &w->buf);
	*ret = w;
	return 0;
}

vmt_snap_writer *vmt_snap_writer_free(vmt_snap_writer *w)
{
	if (w) {
		free(w->buf.p);
		free(w->crcs);
		free(w);
	}
	return NULL;
}

static int sw_error(const vmt_snap_writer *w)
{
	return w->err ? w->err : w->fw.err;
}

/* Closes the open section: length, header CRC, section CRC. */
static int sw_end_section(vmt_snap_writer *w)
{
	uint8_t *h;
	uint64_t plen;
	uint32_t crc;
	int r;

	if (!w->in_section)
		return 0;
	w->in_section = false;
	vmti_fields_writer_close(&w->fw, false);
	if (w->fw.err)
		return w->fw.err;
	if (w->fw.depth) {
		w->err = -EINVAL;
		return w->err;
	}
	if (VMTI_ARRAY_GROW(w->crcs, w->crcs_cap, w->nsections + 1) < 0)
		return w->err = -ENOMEM;
	r = buf_reserve(&w->buf, 4);
	if (r < 0)
		return w->err = r;
	h = w->buf.p + w->sect;
	plen = w->buf.len - w->fw.base;
	put64(h + 8, plen);
	put32(h + 20, vmti_crc32c(0, h, 20));
	crc = vmti_crc32c(0, h, w->buf.len - w->sect);
	put32(w->buf.p + w->buf.len, crc);
	w->buf.len += 4;
	w->crcs[w->nsections++] = crc;
	return 0;
}

/*
 * A unit name as docs/snapshot-format.md allows it: no control character
 * (C0 or DEL) and well-formed UTF-8.  On failure *@bad (if not NULL) gets
 * the offset of the first bad byte and the function returns false.
 */
static bool name_ok(const uint8_t *name, size_t n, size_t *bad)
{
	size_t i = vmti_utf8_check(name, n);

	for (size_t k = 0; k < i; k++) {
		if (name[k] < 0x20 || name[k] == 0x7f) {
			i = k;
			break;
		}
	}
	if (bad)
		*bad = i;
	return i == n;
}

static int check_name(const char *name, size_t *len)
{
	size_t n;

	if (!name)
		return -EINVAL;
	n = strnlen(name, VMT_SNAP_NAME_MAX + 1);
	if (!n)
		return -EINVAL;
	if (n > VMT_SNAP_NAME_MAX)
		return -ENAMETOOLONG;
	if (!name_ok((const uint8_t *)name, n, NULL))
		return -EINVAL;
	*len = n;
	return 0;
}

static int sw_begin_section(vmt_snap_writer *w, const char *name, uint32_t version)
{
	size_t n;
	uint8_t *h;
	int r;

	if (!w)
		return -EINVAL;
	if (w->sealed)
		return -EBUSY;
	r = check_name(name, &n);
	if (r < 0)
		return r;
	r = sw_end_section(w);
	if (r < 0)
		return r;
	r = sw_error(w);
	if (r < 0)
		return r;
	if (w->nsections >= VMT_SNAP_MAX_SECTIONS)
		return -E2BIG;
	r = buf_reserve(&w->buf, SECT_HEADER_LEN + n);
	if (r < 0)
		return r;
	w->sect = w->buf.len;
	h = w->buf.p + w->sect;
	memcpy(h, SECT_TAG, 4);
	put32(h + 4, version);
	put64(h + 8, 0);
	put16(h + 16, (uint16_t)n);
	put16(h + 18, 0);
	put32(h + 20, 0);
	memcpy(h + SECT_HEADER_LEN, name, n);
	w->buf.len += SECT_HEADER_LEN + n;
	w->in_section = true;
	vmti_fields_writer_open(&w->fw);
	return 0;
}

int vmt_snap_writer_section(vmt_snap_writer *w, const char *unit_name, uint32_t payload_version,
			    vmt_fields_writer **fw)
{
	int r;

	if (!fw)
		return -EINVAL;
	r = sw_begin_section(w, unit_name, payload_version);
	if (r < 0)
		return r;
	*fw = &w->fw;
	return 0;
}

int vmt_snap_writer_discard_section(vmt_snap_writer *w)
{
	if (!w)
		return -EINVAL;
	if (w->sealed)
		return -EBUSY;
	if (!w->in_section)
		return -ENOENT;
	w->buf.len = w->sect;
	w->in_section = false;
	vmti_fields_writer_close(&w->fw, true);
	return 0;
}

int vmt_snap_writer_add(vmt_snap_writer *w, const char *unit_name, uint32_t payload_version,
			const vmt_fields_writer *fw)
{
	size_t n;
	int r;

	if (!w || !fw || fw->owned)
		return -EINVAL;
	if (fw->err)
		return fw->err;
	if (fw->depth)
		return -EINVAL;
	r = sw_begin_section(w, unit_name, payload_version);
	if (r < 0)
		return r;
	n = fw->own.len;
	r = buf_reserve(&w->buf, n);
	if (r < 0) {
		vmt_snap_writer_discard_section(w);
		return r;
	}
	if (n)
		memcpy(w->buf.p + w->buf.len, fw->own.p, n);
	w->buf.len += n;
	return sw_end_section(w);
}

/* Ends the last section and fills in the header and trailer, once. */
static int sw_seal(vmt_snap_writer *w, struct vmt_error *err)
{
	uint8_t *h, *t;
	uint32_t chk, hcrc;
	uint64_t total;
	int r;

	if (w->sealed)
		return 0;
	r = sw_end_section(w);
	if (r == 0)
		r = sw_error(w);
	if (r == -EINVAL)
		return vmti_error(err, r, "section %u: a group is still open", w->nsections);
	if (r < 0)
		return vmti_error(err, r, "section %u: the unit's fields writer failed",
				  w->nsections);
	total = (uint64_t)w->buf.len + TRAILER_LEN;
	if (total > VMT_SNAP_MAX_FILE)
		return vmti_error(err, -E2BIG, "snapshot of %llu bytes is over the limit",
				  (unsigned long long)total);
	/* The trailer goes in the buffer so the image is one contiguous block. */
	r = buf_reserve(&w->buf, TRAILER_LEN);
	if (r < 0)
		return vmti_error(err, r, "out of memory");
	h = w->buf.p;
	t = w->buf.p + w->buf.len;
	memcpy(h, SNAP_MAGIC, SNAP_MAGIC_LEN);
	put16(h + 8, VMT_SNAP_FORMAT_MAJOR);
	put16(h + 10, VMT_SNAP_FORMAT_MINOR);
	put32(h + 12, SNAP_HEADER_LEN);
	put32(h + 16, w->nsections);
	put32(h + 20, 0);
	put32(h + 24, 0);
	hcrc = vmti_crc32c(0, h, SNAP_HEADER_LEN - 4);
	put32(h + 28, hcrc);

	memcpy(t, TRAILER_TAG, 4);
	put32(t + 4, w->nsections);
	put64(t + 8, total);
	put32(t + 16, 0);
	chk = vmti_crc32c(0, h + 28, 4);
	for (uint32_t i = 0; i < w->nsections; i++) {
		uint8_t c[4];

		put32(c, w->crcs[i]);
		chk = vmti_crc32c(chk, c, 4);
	}
	chk = vmti_crc32c(chk, t, 20);
	put32(t + 20, chk);
	w->buf.len += TRAILER_LEN;
	w->sealed = true;
	return 0;
}

int vmt_snap_writer_save_buffer(vmt_snap_writer *w, const void **buf, size_t *len,
				struct vmt_error *err)
{
	int r;

	if (!w || !buf || !len)
		return vmti_error(err, -EINVAL, "invalid argument");
	r = sw_seal(w, err);
	if (r < 0)
		return r;
	*buf = w->buf.p;
	*len = w->buf.len;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		/* Linux moves at most about 2 GiB per call: loop on short writes. */
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, r = 0;

	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return -ENOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int vmt_snap_writer_save(vmt_snap_writer *w, const char *path, struct vmt_error *err)
{
	char *tmp = NULL;
	int fd = -1, r;

	if (!w || !path || !*path)
		return vmti_error(err, -EINVAL, "invalid argument");
	r = sw_seal(w, err);
	if (r < 0)
		return r;
	/*
	 * The temporary file lives in the target's directory so rename() is
	 * atomic (same file system); pid + counter keep concurrent savers apart,
	 * O_EXCL catches a stale file of a dead process with a recycled pid.
	 */
	for (int tries = 0; fd < 0 && tries < 100; tries++) {
		free(tmp);
		if (asprintf(&tmp, "%s.tmp-%ld-%u", path, (long)getpid(),
			     atomic_fetch_add(&tmp_counter, 1)) < 0) {
			tmp = NULL;
			return vmti_error(err, -ENOMEM, "out of memory");
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST) {
			r = -errno;
			vmti_error(err, r, "creating %s: %s", tmp, strerror(-r));
			free(tmp);
			return r;
		}
	}
	if (fd < 0) {
		r = vmti_error(err, -EEXIST, "no free temporary name for %s", path);
		free(tmp);
		return r;
	}
	r = write_all(fd, w->buf.p, w->buf.len);
	if (r < 0) {
		vmti_error(err, r, "writing %s: %s", tmp, strerror(-r));
		goto fail;
	}
	if (fsync(fd) < 0) {
		r = vmti_error(err, -errno, "fsync of %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = vmti_error(err, -errno, "closing %s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = vmti_error(err, -errno, "renaming %s to %s: %s", tmp, path, strerror(errno));
		goto fail;
	}
	free(tmp);
	/* Without this the rename itself may not survive a power loss. */
	r = fsync_dir_of(path);
	if (r < 0)
		return vmti_error(err, r, "fsync of the directory of %s: %s", path, strerror(-r));
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return r;
}

/* ---- snapshot reader ------------------------------------------------------ */

struct sect {
	uint64_t off;		/* section header offset */
	uint64_t payload;	/* payload offset */
	uint64_t len;		/* payload length */
	uint32_t version;
	size_t name;		/* offset in names */
};

struct vmt_snap_reader {
	uint8_t *owned;		/* the file's bytes when read from disk */
	const uint8_t *data;
	size_t len;
	unsigned major, minor;
	struct sect *s;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
};

static int rd_add(vmt_snap_reader *r, const struct sect *s, const uint8_t *name, size_t nl)
{
	/* Grown as sections are found, never from the header's count. */
	if (VMTI_ARRAY_GROW(r->s, r->cap, r->n + 1) < 0 ||
	    VMTI_ARRAY_GROW(r->names, r->names_cap, r->names_len + nl + 1) < 0)
		return -ENOMEM;
	r->s[r->n] = *s;
	r->s[r->n].name = r->names_len;
	memcpy(r->names + r->names_len, name, nl);
	r->names[r->names_len + nl] = 0;
	r->names_len += nl + 1;
	r->n++;
	return 0;
}

/* Formats " (name)" for messages once a section's name has been read. */
static const char *name_for_msg(const uint8_t *name, size_t nl, char *out, size_t outsz)
{
	size_t i, o = 0;

	if (outsz < 8)
		return "";
	out[o++] = ' ';
	out[o++] = '(';
	for (i = 0; i < nl && o + 3 < outsz; i++)
		out[o++] = (name[i] >= 0x20 && name[i] < 0x7f) ? (char)name[i] : '?';
	out[o++] = ')';
	out[o] = 0;
	return out;
}

/* Where parsing is: the next byte, the header's section count, the file check so far. */
struct cursor {
	size_t pos;
	uint32_t count;
	uint32_t chk;
};

/* The file header: magic, version (first: another major may change the rest), CRC. */
static int parse_header(vmt_snap_reader *r, struct cursor *c, struct vmt_error *err)
{
	const uint8_t *d = r->data;
	size_t len = r->len, hlen;

	if (len < SNAP_MAGIC_LEN) {
		if (!memcmp(d, SNAP_MAGIC, len))
			return vmti_error(err, -ENODATA, "offset %zu: file truncated inside the magic", len);
		return vmti_error(err, -EBADMSG, "offset 0: not a vmtime snapshot (bad magic)");
	}
	if (memcmp(d, SNAP_MAGIC, SNAP_MAGIC_LEN)) {
		if (d[0] == 0x89 && !memcmp(d + 1, "VMT\n", 4))
			return vmti_error(err, -EBADMSG,
					  "offset 4: bad magic: CR LF became LF (text-mode transfer?)");
		return vmti_error(err, -EBADMSG, "offset 0: not a vmtime snapshot (bad magic)");
	}
	if (len < 12)
		return vmti_error(err, -ENODATA, "offset %zu: file truncated inside the header", len);
	r->major = get16(d + 8);
	r->minor = get16(d + 10);
	if (r->major != VMT_SNAP_FORMAT_MAJOR)
		return vmti_error(err, -EPROTONOSUPPORT,
				  "offset 8: format version %u.%u, this reader knows %u.x", r->major,
				  r->minor, VMT_SNAP_FORMAT_MAJOR);
	if (len < 16)
		return vmti_error(err, -ENODATA, "offset %zu: file truncated inside the header", len);
	hlen = get32(d + 12);
	if (hlen < SNAP_HEADER_LEN)
		return vmti_error(err, -EBADMSG, "offset 12: header length %zu is below %u", hlen,
				  SNAP_HEADER_LEN);
	if (hlen > SNAP_HEADER_MAX)
		return vmti_error(err, -E2BIG, "offset 12: header length %zu is over the limit %u",
				  hlen, SNAP_HEADER_MAX);
	if (len < hlen)
		return vmti_error(err, -ENODATA, "offset %zu: file truncated inside the header", len);
	if (vmti_crc32c(0, d, hlen - 4) != get32(d + hlen - 4))
		return vmti_error(err, -EBADMSG, "offset %zu: header CRC mismatch", hlen - 4);
	c->count = get32(d + 16);
	if (c->count > VMT_SNAP_MAX_SECTIONS)
		return vmti_error(err, -E2BIG, "offset 16: %u sections, over the limit %u", c->count,
				  VMT_SNAP_MAX_SECTIONS);
	c->chk = vmti_crc32c(0, d + hlen - 4, 4);
	c->pos = hlen;
	return 0;
}

/*
 * The fixed part of section @i at c->pos: tag, header CRC, limits, and that
 * the name, payload and CRC fit in the file.  Fills @s, *@nl and *@plen.
 */
static int parse_section_header(const vmt_snap_reader *r, uint32_t i, const struct cursor *c,
				struct sect *s, size_t *nl, uint64_t *plen, struct vmt_error *err)
{
	const uint8_t *h = r->data + c->pos;
	size_t pos = c->pos, rest = r->len - pos;
	char nm[80];

	if (rest < SECT_HEADER_LEN)
		return vmti_error(err, -ENODATA,
				  "section %u at offset %zu: file truncated inside the section header",
				  i, pos);
	if (memcmp(h, SECT_TAG, 4))
		return vmti_error(err, -EBADMSG, "section %u at offset %zu: bad section tag", i, pos);
	if (vmti_crc32c(0, h, 20) != get32(h + 20))
		return vmti_error(err, -EBADMSG,
				  "section %u at offset %zu: section header CRC mismatch", i, pos);
	s->off = pos;
	s->version = get32(h + 4);
	*plen = get64(h + 8);
	*nl = get16(h + 16);
	if (!*nl)
		return vmti_error(err, -EBADMSG, "section %u at offset %zu: empty unit name", i,
				  pos + 16);
	if (*nl > VMT_SNAP_NAME_MAX)
		return vmti_error(err, -E2BIG,
				  "section %u at offset %zu: name of %zu bytes, over the limit %u", i,
				  pos + 16, *nl, VMT_SNAP_NAME_MAX);
	if (*plen > VMT_SNAP_MAX_PAYLOAD)
		return vmti_error(err, -E2BIG,
				  "section %u at offset %zu: payload of %llu bytes, over the limit %llu",
				  i, pos + 8, (unsigned long long)*plen,
				  (unsigned long long)VMT_SNAP_MAX_PAYLOAD);
	if (rest - SECT_HEADER_LEN < *nl)
		return vmti_error(err, -ENODATA,
				  "section %u at offset %zu: file truncated inside the unit name", i,
				  pos + SECT_HEADER_LEN);
	name_for_msg(h + SECT_HEADER_LEN, *nl, nm, sizeof(nm));
	if (rest - SECT_HEADER_LEN - *nl < *plen + 4)
		return vmti_error(err, -ENODATA,
				  "section %u%s at offset %zu: file truncated inside the payload (%llu bytes announced, %zu left)",
				  i, nm, pos, (unsigned long long)*plen, rest - SECT_HEADER_LEN - *nl);
	return 0;
}

/* Section @i: its header, CRC, name and fields; added to @r, c->pos moved past it. */
static int parse_section(vmt_snap_reader *r, uint32_t i, struct cursor *c, struct vmt_error *err)
{
	const uint8_t *h = r->data + c->pos;
	struct sect s = { 0 };
	size_t nl = 0, bad, pos = c->pos;
	uint64_t plen = 0;
	const char *why;
	uint8_t c4[4];
	uint32_t crc;
	char nm[80];
	int ret;

	ret = parse_section_header(r, i, c, &s, &nl, &plen, err);
	if (ret < 0)
		return ret;
	name_for_msg(h + SECT_HEADER_LEN, nl, nm, sizeof(nm));
	crc = vmti_crc32c(0, h, SECT_HEADER_LEN + nl + plen);
	if (crc != get32(h + SECT_HEADER_LEN + nl + plen))
		return vmti_error(err, -EBADMSG, "section %u%s at offset %zu: CRC mismatch", i, nm,
				  pos + SECT_HEADER_LEN + nl + (size_t)plen);
	if (!name_ok(h + SECT_HEADER_LEN, nl, &bad))
		return vmti_error(err, -EBADMSG, "section %u at offset %zu: %s in the unit name", i,
				  pos + SECT_HEADER_LEN + bad,
				  h[SECT_HEADER_LEN + bad] < 0x20 || h[SECT_HEADER_LEN + bad] == 0x7f
					  ? "control character"
					  : "byte that is not valid UTF-8");
	s.payload = pos + SECT_HEADER_LEN + nl;
	s.len = plen;
	ret = vmti_fields_validate(r->data + s.payload, plen, &bad, &why);
	if (ret < 0)
		return vmti_error(err, ret, "section %u%s: offset %llu: %s", i, nm,
				  (unsigned long long)(s.payload + bad), why);
	ret = rd_add(r, &s, h + SECT_HEADER_LEN, nl);
	if (ret < 0)
		return vmti_error(err, ret, "out of memory");
	put32(c4, crc);
	c->chk = vmti_crc32c(c->chk, c4, 4);
	c->pos += SECT_HEADER_LEN + nl + plen + 4;
	return 0;
}

/* The trailer: tag, section count, file size, whole-file check, nothing after it. */
static int parse_trailer(const vmt_snap_reader *r, const struct cursor *c, struct vmt_error *err)
{
	const uint8_t *d = r->data;
	size_t len = r->len, pos = c->pos;
	uint32_t chk;

	if (len - pos < TRAILER_LEN)
		return vmti_error(err, -ENODATA, "offset %zu: file truncated inside the trailer", pos);
	if (memcmp(d + pos, TRAILER_TAG, 4))
		return vmti_error(err, -EBADMSG,
				  "offset %zu: no trailer after the %u sections the header announces",
				  pos, c->count);
	if (get32(d + pos + 4) != c->count)
		return vmti_error(err, -EBADMSG,
				  "offset %zu: trailer counts %u sections, the header %u", pos + 4,
				  get32(d + pos + 4), c->count);
	if (get64(d + pos + 8) != pos + TRAILER_LEN)
		return vmti_error(err, -EBADMSG, "offset %zu: trailer gives a file size of %llu, it ends at %zu",
				  pos + 8, (unsigned long long)get64(d + pos + 8),
				  pos + TRAILER_LEN);
	chk = vmti_crc32c(c->chk, d + pos, 20);
	if (chk != get32(d + pos + 20))
		return vmti_error(err, -EBADMSG, "offset %zu: whole-file check mismatch", pos + 20);
	if (len - pos > TRAILER_LEN)
		return vmti_error(err, -EBADMSG, "offset %zu: %zu bytes after the trailer",
				  pos + TRAILER_LEN, len - pos - TRAILER_LEN);
	return 0;
}

static int parse(vmt_snap_reader *r, struct vmt_error *err)
{
	struct cursor c = { 0 };
	int ret = parse_header(r, &c, err);

	for (uint32_t i = 0; !ret && i < c.count; i++)
		ret = parse_section(r, i, &c, err);
	return ret ? ret : parse_trailer(r, &c, err);
}

static int reader_new(const uint8_t *data, size_t len, uint8_t *owned, vmt_snap_reader **ret,
		      struct vmt_error *err)
{
	vmt_snap_reader *r = calloc(1, sizeof(*r));
	int e;

	if (!r) {
		free(owned);
		return vmti_error(err, -ENOMEM, "out of memory");
	}
	r->data = data;
	r->len = len;
	r->owned = owned;
	e = parse(r, err);
	if (e < 0) {
		vmt_snap_reader_free(r);
		return e;
	}
	*ret = r;
	return 0;
}

int vmt_snap_reader_from_buffer(const void *buf, size_t len, vmt_snap_reader **ret,
				struct vmt_error *err)
{
	if (!buf || !ret)
		return vmti_error(err, -EINVAL, "invalid argument");
	return reader_new(buf, len, NULL, ret, err);
}

int vmt_snap_reader_open(const char *path, vmt_snap_reader **ret, struct vmt_error *err)
{
	struct stat st;
	uint8_t *p;
	size_t len, got = 0;
	int fd, e;

	if (!path || !ret)
		return vmti_error(err, -EINVAL, "invalid argument");
	/*
	 * O_NONBLOCK: opening a FIFO without a writer (or some devices) blocks
	 * otherwise, before fstat() can refuse it.  Checking the opened fd, not
	 * the path, leaves no window for the path to be swapped in between.
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return vmti_error(err, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		e = -errno;
		close(fd);
		return vmti_error(err, e, "%s: %s", path, strerror(-e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return vmti_error(err, -EINVAL, "%s: not a regular file", path);
	}
	/* Regular files ignore O_NONBLOCK today; clear it so reads stay plain. */
	if (fcntl(fd, F_SETFL, 0) < 0) {
		e = -errno;
		close(fd);
		return vmti_error(err, e, "%s: %s", path, strerror(-e));
	}
	if ((uint64_t)st.st_size > VMT_SNAP_MAX_FILE) {
		close(fd);
		return vmti_error(err, -E2BIG, "%s: %lld bytes, over the limit", path,
				  (long long)st.st_size);
	}
	len = (size_t)st.st_size;
	/* One byte more than needed, so a non-empty buffer exists for an empty file. */
	p = malloc(len + 1);
	if (!p) {
		close(fd);
		return vmti_error(err, -ENOMEM, "%s: out of memory for %zu bytes", path, len);
	}
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = -errno;
			free(p);
			close(fd);
			return vmti_error(err, e, "%s: read: %s", path, strerror(-e));
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return reader_new(p, got, p, ret, err);
}

vmt_snap_reader *vmt_snap_reader_free(vmt_snap_reader *r)
{
	if (r) {
		free(r->owned);
		free(r->s);
		free(r->names);
		free(r);
	}
	return NULL;
}

size_t vmt_snap_reader_count(const vmt_snap_reader *r)
{
	return r ? r->n : 0;
}

static void fill_section(const vmt_snap_reader *r, size_t i, struct vmt_snap_section *s)
{
	const struct sect *x = &r->s[i];

	s->name = r->names + x->name;
	s->payload_version = x->version;
	s->size = x->len;
	s->offset = x->off;
	s->fields.priv_data = r->data + x->payload;
	s->fields.priv_len = (size_t)x->len;
	s->fields.priv_pos = 0;
	s->fields.priv_depth = 0;
}

int vmt_snap_reader_section(const vmt_snap_reader *r, size_t index, struct vmt_snap_section *s)
{
	if (!r || !s)
		return -EINVAL;
	if (index >= r->n)
		return -ENOENT;
	fill_section(r, index, s);
	return 0;
}

int vmt_snap_reader_find(const vmt_snap_reader *r, const char *name, struct vmt_snap_section *s)
{
	if (!r || !name || !s)
		return -EINVAL;
	for (size_t i = 0; i < r->n; i++) {
		if (!strcmp(r->names + r->s[i].name, name)) {
			fill_section(r, i, s);
			return i > INT_MAX ? INT_MAX : (int)i;
		}
	}
	return -ENOENT;
}

int vmt_snap_format_version(const vmt_snap_reader *r, unsigned *major, unsigned *minor)
{
	if (!r)
		return -EINVAL;
	if (major)
		*major = r->major;
	if (minor)
		*minor = r->minor;
	return 0;
}
