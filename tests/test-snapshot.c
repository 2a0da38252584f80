/* SPDX-License-Identifier: MIT */
/*
 * test-snapshot.c - the snapshot container: CRC32C, tagged fields, writer and
 * reader round trips, every documented errno, the golden files of
 * tests/golden/ and atomic-save failure injection.
 *
 * The golden files are produced by this test: run
 *   VMT_GOLDEN_REGEN=1 build/test-snapshot golden_generate
 * to rewrite tests/golden/ (files and expected.txt) after an intended format
 * change, then commit them.  Normal runs check the committed files, and that
 * the writer still produces valid.snap byte for byte.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vmtime/snapshot.h>

#include "crc32c.h"
#include "json.h"
#include "tests.h"

/* ---- helpers -------------------------------------------------------------- */

static void p16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void p32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void p64(uint8_t *p, uint64_t v)
{
	p32(p, (uint32_t)v);
	p32(p + 4, (uint32_t)(v >> 32));
}

/*
 * An independent writer of the format, straight from docs/snapshot-format.md,
 * for files the library refuses to write (and to cross-check the library).
 */
struct raw {
	uint8_t p[1 << 16];
	size_t len;
	uint32_t hcrc;
	uint32_t crcs[64];
	unsigned n;
	uint32_t count;
};

static void raw_header(struct raw *f, uint16_t major, uint16_t minor, uint32_t hlen, uint32_t count)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->p, "\x89VMT\r\n\x1a\n", 8);
	p16(f->p + 8, major);
	p16(f->p + 10, minor);
	p32(f->p + 12, hlen);
	p32(f->p + 16, count);
	for (uint32_t i = 20; i < hlen - 4; i++)
		f->p[i] = i >= 28 ? 0xa5 : 0; /* bytes a newer minor would define */
	f->hcrc = vmti_crc32c(0, f->p, hlen - 4);
	p32(f->p + hlen - 4, f->hcrc);
	f->len = hlen;
	f->count = count;
}

static void raw_section_len(struct raw *f, const char *name, uint32_t ver, const void *payload,
			    size_t plen, uint64_t claimed_len)
{
	uint8_t *h = f->p + f->len;
	size_t nl = strlen(name);

	memcpy(h, "SECT", 4);
	p32(h + 4, ver);
	p64(h + 8, claimed_len);
	p16(h + 16, (uint16_t)nl);
	p16(h + 18, 0);
	p32(h + 20, vmti_crc32c(0, h, 20));
	memcpy(h + 24, name, nl);
	if (plen)
		memcpy(h + 24 + nl, payload, plen);
	f->crcs[f->n] = vmti_crc32c(0, h, 24 + nl + plen);
	p32(h + 24 + nl + plen, f->crcs[f->n]);
	f->n++;
	f->len += 24 + nl + plen + 4;
}

static void raw_section(struct raw *f, const char *name, uint32_t ver, const void *payload,
			size_t plen)
{
	raw_section_len(f, name, ver, payload, plen, plen);
}

static void raw_trailer(struct raw *f)
{
	uint8_t *t = f->p + f->len, c[4];
	uint32_t chk;

	memcpy(t, "VEND", 4);
	p32(t + 4, f->count);
	p64(t + 8, f->len + 24);
	p32(t + 16, 0);
	p32(c, f->hcrc);
	chk = vmti_crc32c(0, c, 4);
	for (unsigned i = 0; i < f->n; i++) {
		p32(c, f->crcs[i]);
		chk = vmti_crc32c(chk, c, 4);
	}
	p32(t + 20, vmti_crc32c(chk, t, 20));
	f->len += 24;
}

/* Appends one raw field to a payload under construction. */
static size_t rf(uint8_t *p, size_t len, uint32_t id, uint8_t type, const void *v, uint32_t n)
{
	p32(p + len, id);
	p[len + 4] = type;
	p[len + 5] = p[len + 6] = p[len + 7] = 0;
	p32(p + len + 8, n);
	if (n)
		memcpy(p + len + 12, v, n);
	return len + 12 + n;
}

/* The image is owned by the writer; the tests keep (and damage) copies. */
static int save_copy(vmt_snap_writer *w, void **buf, size_t *len, struct vmt_error *e)
{
	const void *p;
	int r = vmt_snap_writer_save_buffer(w, &p, len, e);

	if (r < 0)
		return r;
	*buf = malloc(*len + 1);
	if (!*buf)
		return -ENOMEM;
	memcpy(*buf, p, *len);
	return 0;
}

static int check_buf(const void *p, size_t n, struct vmt_error *e)
{
	vmt_snap_reader *r = NULL;
	int ret = vmt_snap_reader_from_buffer(p, n, &r, e);

	vmt_snap_reader_free(r);
	return ret;
}

static char tmpdir[256];

static void make_tmpdir(void)
{
	if (tmpdir[0])
		return;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vmt-snap-test-XXXXXX");
	if (!mkdtemp(tmpdir))
		VMT_FAIL("mkdtemp: %s", strerror(errno));
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* The snapshot of valid.snap: every field type, nesting, an empty unit. */
static vmt_snap_writer *sample_writer(void)
{
	vmt_snap_writer *w = NULL;
	vmt_fields_writer *fw = NULL;
	uint8_t blob[300];

	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7);
	if (vmt_snap_writer_new(&w) < 0)
		return NULL;
	if (vmt_snap_writer_section(w, "vmtime", 1, &fw) < 0)
		return vmt_snap_writer_free(w);
	vmt_fields_put_u64(fw, 1, 123456789012345ull);
	vmt_fields_put_i64(fw, 2, -42);
	vmt_fields_put_u64(fw, 3, UINT64_MAX);
	if (vmt_snap_writer_section(w, "rtc", 3, &fw) < 0)
		return vmt_snap_writer_free(w);
	vmt_fields_put_str(fw, 1, "cmos \"clock\"\t\\");
	vmt_fields_put_bytes(fw, 2, blob, 40);
	vmt_fields_begin_group(fw, 3);
	vmt_fields_put_u64(fw, 1, 7);
	vmt_fields_begin_group(fw, 2);
	vmt_fields_put_str(fw, 1, "inner");
	vmt_fields_put_bytes(fw, 2, NULL, 0);
	vmt_fields_end_group(fw);
	vmt_fields_put_i64(fw, 3, INT64_MIN);
	vmt_fields_end_group(fw);
	vmt_fields_put_str(fw, 4, "");
	if (vmt_snap_writer_section(w, "no-state", 0, &fw) < 0)
		return vmt_snap_writer_free(w);
	if (vmt_snap_writer_section(w, "pit", 2, &fw) < 0)
		return vmt_snap_writer_free(w);
	if (vmt_fields_put_bytes(fw, 1, blob, sizeof(blob)) < 0)
		return vmt_snap_writer_free(w);
	return w;
}

static void check_sample(vmt_snap_reader *r)
{
	struct vmt_snap_section s;
	vmt_fields_reader g, g2;
	uint64_t u;
	int64_t i;
	const char *str;
	const void *p;
	size_t n;
	unsigned major, minor;

	ASSERT_EQ(vmt_snap_reader_count(r), 4);
	ASSERT_OK(vmt_snap_format_version(r, &major, &minor));
	ASSERT_EQ(major, 1);
	ASSERT_EQ(minor, 0);
	ASSERT_OK(vmt_snap_reader_section(r, 0, &s));
	ASSERT_STREQ(s.name, "vmtime");
	ASSERT_EQ(s.payload_version, 1);
	ASSERT_EQ(s.offset, 32);
	ASSERT_OK(vmt_fields_get_u64(&s.fields, 1, &u));
	ASSERT_UEQ(u, 123456789012345ull);
	ASSERT_OK(vmt_fields_get_i64(&s.fields, 2, &i));
	ASSERT_EQ(i, -42);
	ASSERT_OK(vmt_fields_get_u64(&s.fields, 3, &u));
	ASSERT_UEQ(u, UINT64_MAX);
	ASSERT_ERR(vmt_fields_get_u64(&s.fields, 4, &u), -ENOENT);
	ASSERT_ERR(vmt_fields_get_i64(&s.fields, 1, &i), -EBADMSG);
	ASSERT_ERR(vmt_fields_get_str(&s.fields, 1, &str), -EBADMSG);
	ASSERT_ERR(vmt_fields_get_bytes(&s.fields, 2, &p, &n), -EBADMSG);
	ASSERT_ERR(vmt_fields_get_group(&s.fields, 1, &g), -EBADMSG);

	ASSERT_EQ(vmt_snap_reader_find(r, "rtc", &s), 1);
	ASSERT_EQ(s.payload_version, 3);
	ASSERT_OK(vmt_fields_get_str(&s.fields, 1, &str));
	ASSERT_STREQ(str, "cmos \"clock\"\t\\");
	ASSERT_OK(vmt_fields_get_bytes(&s.fields, 2, &p, &n));
	ASSERT_EQ(n, 40);
	ASSERT_EQ(((const uint8_t *)p)[39], (uint8_t)(39 * 7));
	ASSERT_OK(vmt_fields_get_group(&s.fields, 3, &g));
	ASSERT_OK(vmt_fields_get_u64(&g, 1, &u));
	ASSERT_EQ(u, 7);
	ASSERT_OK(vmt_fields_get_i64(&g, 3, &i));
	ASSERT_TRUE(i == INT64_MIN);
	ASSERT_OK(vmt_fields_get_group(&g, 2, &g2));
	ASSERT_OK(vmt_fields_get_str(&g2, 1, &str));
	ASSERT_STREQ(str, "inner");
	ASSERT_OK(vmt_fields_get_bytes(&g2, 2, &p, &n));
	ASSERT_EQ(n, 0);
	/* Ids are per group: the top level's id 1 is a string, the group's a u64. */
	ASSERT_ERR(vmt_fields_get_u64(&g2, 1, &u), -EBADMSG);
	ASSERT_ERR(vmt_fields_get_u64(&g2, 9, &u), -ENOENT);
	ASSERT_OK(vmt_fields_get_str(&s.fields, 4, &str));
	ASSERT_STREQ(str, "");

	ASSERT_EQ(vmt_snap_reader_find(r, "no-state", &s), 2);
	ASSERT_EQ(s.size, 0);
	ASSERT_ERR(vmt_fields_get_u64(&s.fields, 1, &u), -ENOENT);
	ASSERT_EQ(vmt_snap_reader_find(r, "pit", &s), 3);
	ASSERT_OK(vmt_fields_get_bytes(&s.fields, 1, &p, &n));
	ASSERT_EQ(n, 300);
	ASSERT_ERR(vmt_snap_reader_find(r, "nope", &s), -ENOENT);
	ASSERT_ERR(vmt_snap_reader_section(r, 4, &s), -ENOENT);
}

/* ---- CRC32C ----------------------------------------------------------------- */

TEST(crc32c_vectors)
{
	/* RFC 3720 (iSCSI) appendix B.4 and the usual check value. */
	uint8_t z[32], f[32], up[32], down[32], big[4099];

	memset(z, 0, sizeof(z));
	memset(f, 0xff, sizeof(f));
	for (int i = 0; i < 32; i++) {
		up[i] = (uint8_t)i;
		down[i] = (uint8_t)(31 - i);
	}
	for (int hw = 0; hw < 2; hw++) {
		uint32_t (*fn)(uint32_t, const void *, size_t) = hw ? vmti_crc32c_hw : vmti_crc32c_sw;

		if (hw && !vmti_crc32c_have_hw()) {
			fprintf(stderr, "  (no SSE4.2: hardware CRC not tested)\n");
			break;
		}
		ASSERT_EQ(fn(0, "123456789", 9), 0xE3069283u);
		ASSERT_EQ(fn(0, z, 32), 0x8A9136AAu);
		ASSERT_EQ(fn(0, f, 32), 0x62A8AB43u);
		ASSERT_EQ(fn(0, up, 32), 0x46DD794Eu);
		ASSERT_EQ(fn(0, down, 32), 0x113FDB5Cu);
		ASSERT_EQ(fn(0, NULL, 0), 0);
		ASSERT_EQ(fn(fn(0, "1234", 4), "56789", 5), 0xE3069283u);
	}
	/* Every alignment and tail length agrees between the two versions. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + (i >> 5));
	for (size_t off = 0; off < 9; off++)
		for (size_t n = 0; n + off <= sizeof(big); n += n < 40 ? 1 : 397)
			ASSERT_EQ(vmti_crc32c(0, big + off, n), vmti_crc32c_sw(0, big + off, n));
	/* Lengths around the hardware version's 3 x 256 and 3 x 8192 lane blocks. */
	{
		static const size_t lens[] = { 767, 768, 769, 24575, 24576, 24577, 50000, 200003 };
		size_t max = 200003 + 8;
		uint8_t *h = malloc(max);

		ASSERT_TRUE(h != NULL);
		for (size_t i = 0; i < max; i++)
			h[i] = (uint8_t)((i * 2654435761u) >> 13);
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++)
			for (size_t off = 0; off < 8; off += 3)
				ASSERT_EQ(vmti_crc32c(0x12345678, h + off, lens[k]),
					  vmti_crc32c_sw(0x12345678, h + off, lens[k]));
		free(h);
	}
}

/* ---- fields ----------------------------------------------------------------- */

TEST(fields_round_trip_standalone)
{
	vmt_fields_writer *fw = NULL;
	vmt_snap_writer *w = NULL;
	vmt_snap_reader *r = NULL;
	struct vmt_snap_section s;
	struct vmt_field f;
	vmt_fields_reader fr, g;
	void *buf;
	size_t len;
	int ids[8], n = 0;

	ASSERT_OK(vmt_fields_writer_new(&fw));
	ASSERT_EQ(vmt_fields_writer_size(fw), 0);
	ASSERT_OK(vmt_fields_put_u64(fw, 10, 1));
	ASSERT_OK(vmt_fields_begin_group(fw, 11));
	ASSERT_OK(vmt_fields_put_i64(fw, 1, -1));
	ASSERT_ERR(vmt_snap_writer_new(NULL), -EINVAL);
	ASSERT_OK(vmt_snap_writer_new(&w));
	/* A standalone writer with an open group cannot be added. */
	ASSERT_ERR(vmt_snap_writer_add(w, "u", 1, fw), -EINVAL);
	ASSERT_OK(vmt_fields_end_group(fw));
	ASSERT_OK(vmt_fields_put_str(fw, 12, "x"));
	ASSERT_EQ(vmt_fields_writer_size(fw), 12 + 8 + 12 + 12 + 8 + 12 + 2);
	ASSERT_OK(vmt_snap_writer_add(w, "u", 9, fw));
	/* The standalone writer stays usable and can be added again. */
	ASSERT_OK(vmt_fields_put_u64(fw, 13, 2));
	ASSERT_OK(vmt_snap_writer_add(w, "v", 1, fw));
	ASSERT_OK(vmt_fields_writer_reset(fw));
	ASSERT_EQ(vmt_fields_writer_size(fw), 0);
	ASSERT_OK(vmt_snap_writer_add(w, "empty", 1, fw));
	ASSERT_OK(save_copy(w, &buf, &len, NULL));
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, &r, NULL));
	ASSERT_EQ(vmt_snap_reader_count(r), 3);
	ASSERT_OK(vmt_snap_reader_section(r, 1, &s));
	ASSERT_STREQ(s.name, "v");
	fr = s.fields;
	while (vmt_fields_next(&fr, &f) > 0 && n < 8) {
		ids[n++] = (int)f.id;
		if (f.type == VMT_FIELD_GROUP) {
			struct vmt_field f2;

			g = f.group;
			ASSERT_EQ(vmt_fields_next(&g, &f2), 1);
			ASSERT_EQ(f2.type, VMT_FIELD_I64);
			ASSERT_EQ(f2.i64, -1);
			ASSERT_EQ(vmt_fields_next(&g, &f2), 0);
		}
		if (f.type == VMT_FIELD_STR) {
			ASSERT_EQ(f.len, 1);
			ASSERT_STREQ((const char *)f.data, "x");
		}
	}
	ASSERT_EQ(n, 4);
	ASSERT_EQ(ids[0], 10);
	ASSERT_EQ(ids[1], 11);
	ASSERT_EQ(ids[2], 12);
	ASSERT_EQ(ids[3], 13);
	ASSERT_EQ(vmt_fields_next(&fr, &f), 0);
	ASSERT_OK(vmt_fields_rewind(&fr));
	ASSERT_EQ(vmt_fields_next(&fr, &f), 1);
	ASSERT_EQ(f.id, 10);
	ASSERT_EQ(f.offset, 0);
	vmt_snap_reader_free(r);
	free(buf);
	vmt_snap_writer_free(w);
	ASSERT_TRUE(vmt_fields_writer_free(fw) == NULL);
	ASSERT_TRUE(vmt_fields_writer_free(NULL) == NULL);
}

TEST(fields_errors)
{
	vmt_fields_writer *fw = NULL, *own = NULL;
	vmt_snap_writer *w = NULL;
	vmt_fields_reader fr;
	struct vmt_field f;
	uint8_t pl[256];
	size_t n;
	uint64_t u;
	int64_t i;
	const char *s;
	const void *p;

	ASSERT_ERR(vmt_fields_writer_new(NULL), -EINVAL);
	ASSERT_ERR(vmt_fields_put_u64(NULL, 1, 1), -EINVAL);
	ASSERT_ERR(vmt_fields_put_i64(NULL, 1, 1), -EINVAL);
	ASSERT_ERR(vmt_fields_put_str(NULL, 1, "a"), -EINVAL);
	ASSERT_ERR(vmt_fields_put_bytes(NULL, 1, "a", 1), -EINVAL);
	ASSERT_ERR(vmt_fields_begin_group(NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_fields_end_group(NULL), -EINVAL);
	ASSERT_ERR(vmt_fields_writer_reset(NULL), -EINVAL);
	ASSERT_ERR(vmt_fields_writer_error(NULL), -EINVAL);
	ASSERT_EQ(vmt_fields_writer_size(NULL), 0);
	ASSERT_OK(vmt_fields_writer_new(&fw));
	ASSERT_ERR(vmt_fields_put_str(fw, 1, NULL), -EINVAL);
	ASSERT_ERR(vmt_fields_put_bytes(fw, 1, NULL, 3), -EINVAL);
	ASSERT_ERR(vmt_fields_end_group(fw), -EINVAL);
	/* Argument errors are not sticky. */
	ASSERT_EQ(vmt_fields_writer_error(fw), 0);
	for (unsigned d = 0; d < VMT_FIELDS_MAX_DEPTH; d++)
		ASSERT_OK(vmt_fields_begin_group(fw, d));
	ASSERT_ERR(vmt_fields_begin_group(fw, 99), -E2BIG);
	/* ...but failures are: every later call repeats the first. */
	ASSERT_ERR(vmt_fields_put_u64(fw, 1, 1), -E2BIG);
	ASSERT_ERR(vmt_fields_end_group(fw), -E2BIG);
	ASSERT_ERR(vmt_fields_writer_error(fw), -E2BIG);
	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_ERR(vmt_snap_writer_add(w, "u", 1, fw), -E2BIG);
	ASSERT_OK(vmt_fields_writer_reset(fw));
	ASSERT_OK(vmt_fields_put_u64(fw, 1, 1));
	/* A payload over the limit. */
	ASSERT_ERR(vmt_fields_put_bytes(fw, 2, pl, (size_t)VMT_SNAP_MAX_PAYLOAD), -E2BIG);
	ASSERT_OK(vmt_fields_writer_reset(fw));

	/* A section's writer is owned: no reset, no free, no add. */
	ASSERT_OK(vmt_snap_writer_section(w, "sec", 1, &own));
	ASSERT_ERR(vmt_fields_writer_reset(own), -EINVAL);
	ASSERT_TRUE(vmt_fields_writer_free(own) == NULL);
	ASSERT_ERR(vmt_snap_writer_add(w, "x", 1, own), -EINVAL);
	vmt_snap_writer_free(w);
	vmt_fields_writer_free(fw);

	/* Readers. */
	ASSERT_ERR(vmt_fields_reader_init(NULL, pl, 0), -EINVAL);
	ASSERT_ERR(vmt_fields_reader_init(&fr, NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_fields_reader_init(&fr, pl, (size_t)VMT_SNAP_MAX_PAYLOAD + 1), -E2BIG);
	ASSERT_OK(vmt_fields_reader_init(&fr, NULL, 0));
	ASSERT_EQ(vmt_fields_next(&fr, &f), 0);
	n = rf(pl, 0, 1, VMT_FIELD_U64, "\1\0\0\0\0\0\0\0", 8);
	n = rf(pl, n, 2, 77, "future", 6);	/* an unknown type is skipped */
	n = rf(pl, n, 3, VMT_FIELD_STR, "ab", 3);
	ASSERT_OK(vmt_fields_reader_init(&fr, pl, n));
	ASSERT_OK(vmt_fields_get_u64(&fr, 1, &u));
	ASSERT_EQ(u, 1);
	ASSERT_OK(vmt_fields_get_str(&fr, 3, &s));
	ASSERT_STREQ(s, "ab");
	ASSERT_ERR(vmt_fields_get_bytes(&fr, 2, &p, &n), -EBADMSG);
	ASSERT_ERR(vmt_fields_get_u64(NULL, 1, &u), -EINVAL);
	ASSERT_ERR(vmt_fields_get_u64(&fr, 1, NULL), -EINVAL);
	ASSERT_ERR(vmt_fields_get_i64(&fr, 1, NULL), -EINVAL);
	ASSERT_ERR(vmt_fields_get_str(&fr, 1, NULL), -EINVAL);
	ASSERT_ERR(vmt_fields_get_bytes(&fr, 1, NULL, &n), -EINVAL);
	ASSERT_ERR(vmt_fields_get_group(&fr, 1, NULL), -EINVAL);
	ASSERT_ERR(vmt_fields_get_i64(&fr, 5, &i), -ENOENT);
	ASSERT_ERR(vmt_fields_next(NULL, &f), -EINVAL);
	ASSERT_ERR(vmt_fields_next(&fr, NULL), -EINVAL);
	ASSERT_ERR(vmt_fields_rewind(NULL), -EINVAL);
	ASSERT_EQ(vmt_fields_next(&fr, &f), 1);
	ASSERT_EQ(vmt_fields_next(&fr, &f), 1);
	ASSERT_EQ(f.type, 77);
	ASSERT_EQ(f.len, 6);

	/* Malformed payloads. */
	n = rf(pl, 0, 1, VMT_FIELD_U64, "\1\0\0\0", 4);
	ASSERT_ERR(vmt_fields_reader_init(&fr, pl, n), -EBADMSG);
	n = rf(pl, 0, 1, VMT_FIELD_I64, "\1\0\0\0\0\0\0\0\0", 9);
	ASSERT_ERR(vmt_fields_reader_init(&fr, pl, n), -EBADMSG);
	n = rf(pl, 0, 1, VMT_FIELD_STR, "ab", 2);	/* no NUL */
	ASSERT_ERR(vmt_fields_reader_init(&fr, pl, n), -EBADMSG);
	n = rf(pl, 0, 1, VMT_FIELD_STR, "a\0b", 4);	/* NUL inside */
	ASSERT_ERR(vmt_fields_reader_init(&fr, pl, n), -EBADMSG);
	n = rf(pl, 0, 1, VMT_FIELD_STR, "", 0);		/* not even the NUL */
	ASSERT_ERR(vmt_fields_reader_init(&fr, pl, n), -EBADMSG);
	n = rf(pl, 0, 1, VMT_FIELD_BYTES, "abcd", 4);
	ASSERT_ERR(vmt_fields_reader_init(&fr, pl, n - 1), -EBADMSG);	/* value cut */
	ASSERT_ERR(vmt_fields_reader_init(&fr, pl, 5), -EBADMSG);	/* header cut */
	/* A group whose length runs past its parent. */
	n = rf(pl, 0, 1, VMT_FIELD_GROUP, NULL, 0);
	n = rf(pl, n, 2, VMT_FIELD_U64, "\0\0\0\0\0\0\0\0", 8);
	p32(pl + 8, 21);
	ASSERT_ERR(vmt_fields_reader_init(&fr, pl, n), -EBADMSG);
	p32(pl + 8, 20);
	ASSERT_OK(vmt_fields_reader_init(&fr, pl, n));
	/* A cursor pointed at garbage by hand is refused, not followed. */
	fr.priv_pos = 3;
	ASSERT_ERR(vmt_fields_next(&fr, &f), -EBADMSG);
}

TEST(fields_nesting_limit_on_read)
{
	/* VMT_FIELDS_MAX_DEPTH groups are fine, one more is -E2BIG. */
	for (unsigned depth = VMT_FIELDS_MAX_DEPTH; depth <= VMT_FIELDS_MAX_DEPTH + 1; depth++) {
		uint8_t pl[12 * 20 + 8];
		vmt_fields_reader fr;
		size_t n = 12 * depth;

		for (unsigned d = 0; d < depth; d++) {
			uint32_t inner = (uint32_t)(12 * (depth - d - 1));

			rf(pl, 12 * d, d, VMT_FIELD_GROUP, NULL, 0);
			p32(pl + 12 * d + 8, inner);
		}
		if (depth == VMT_FIELDS_MAX_DEPTH)
			ASSERT_OK(vmt_fields_reader_init(&fr, pl, n));
		else
			ASSERT_ERR(vmt_fields_reader_init(&fr, pl, n), -E2BIG);
	}
}

/* ---- snapshot writer and reader ----------------------------------------------- */

TEST(snapshot_round_trip_memory_and_file)
{
	vmt_snap_writer *w = sample_writer();
	vmt_snap_reader *r = NULL;
	struct vmt_error e = { 0 };
	char path[300];
	void *buf;
	size_t len;

	ASSERT_TRUE(w != NULL);
	ASSERT_OK(save_copy(w, &buf, &len, &e));
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, &r, &e));
	check_sample(r);
	vmt_snap_reader_free(r);

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/rt.snap", tmpdir);
	ASSERT_OK(vmt_snap_writer_save(w, path, &e));
	/* Saving twice (sealed writer) gives the same bytes. */
	ASSERT_OK(vmt_snap_writer_save(w, path, &e));
	ASSERT_OK(vmt_snap_reader_open(path, &r, &e));
	check_sample(r);
	vmt_snap_reader_free(r);
	/* Only the file: no temporary left behind. */
	ASSERT_EQ(count_entries(tmpdir), 1);
	unlink(path);
	free(buf);
	vmt_snap_writer_free(w);
}

TEST(snapshot_library_matches_spec_builder)
{
	/* The library's bytes equal those of the builder written from the spec. */
	vmt_snap_writer *w = sample_writer();
	vmt_snap_reader *r = NULL;
	static struct raw f;
	void *buf;
	size_t len;

	ASSERT_TRUE(w != NULL);
	ASSERT_OK(save_copy(w, &buf, &len, NULL));
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, &r, NULL));
	raw_header(&f, 1, 0, 32, 4);
	for (size_t i = 0; i < 4; i++) {
		struct vmt_snap_section s;

		ASSERT_OK(vmt_snap_reader_section(r, i, &s));
		raw_section(&f, s.name, s.payload_version, s.fields.priv_data, s.fields.priv_len);
	}
	raw_trailer(&f);
	ASSERT_EQ(f.len, len);
	ASSERT_TRUE(memcmp(f.p, buf, len) == 0);
	vmt_snap_reader_free(r);
	free(buf);
	vmt_snap_writer_free(w);
}

TEST(snapshot_writer_errors)
{
	vmt_snap_writer *w = NULL;
	vmt_fields_writer *fw = NULL, *fw2 = NULL;
	char name[VMT_SNAP_NAME_MAX + 2];
	struct vmt_error e = { 0 };
	const void *cbuf, *cbuf2;
	void *buf;
	size_t len, len2;

	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_ERR(vmt_snap_writer_section(NULL, "a", 1, &fw), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_section(w, NULL, 1, &fw), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_section(w, "a", 1, NULL), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_section(w, "", 1, &fw), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_section(w, "a\nb", 1, &fw), -EINVAL);
	memset(name, 'n', sizeof(name));
	name[VMT_SNAP_NAME_MAX + 1] = 0;
	ASSERT_ERR(vmt_snap_writer_section(w, name, 1, &fw), -ENAMETOOLONG);
	name[VMT_SNAP_NAME_MAX] = 0;
	ASSERT_OK(vmt_snap_writer_section(w, name, 1, &fw));
	ASSERT_ERR(vmt_snap_writer_discard_section(NULL), -EINVAL);
	ASSERT_OK(vmt_snap_writer_discard_section(w));
	ASSERT_ERR(vmt_snap_writer_discard_section(w), -ENOENT);
	/* The discarded section's writer is closed. */
	ASSERT_ERR(vmt_fields_put_u64(fw, 1, 1), -EBUSY);
	ASSERT_EQ(vmt_fields_writer_size(fw), 0);

	/* A failed unit's section is discarded, clearing its sticky error. */
	ASSERT_OK(vmt_snap_writer_section(w, "bad", 1, &fw));
	for (unsigned d = 0; d <= VMT_FIELDS_MAX_DEPTH; d++)
		vmt_fields_begin_group(fw, d);
	ASSERT_ERR(vmt_fields_writer_error(fw), -E2BIG);
	ASSERT_OK(vmt_snap_writer_discard_section(w));
	ASSERT_OK(vmt_snap_writer_section(w, "good", 1, &fw));
	ASSERT_OK(vmt_fields_put_u64(fw, 1, 5));
	/* An unclosed group fails the save, and stays failed. */
	ASSERT_OK(vmt_snap_writer_section(w, "open", 1, &fw2));
	ASSERT_OK(vmt_fields_begin_group(fw2, 1));
	ASSERT_ERR(save_copy(w, &buf, &len, &e), -EINVAL);
	ASSERT_TRUE(strstr(e.msg, "group") != NULL);
	ASSERT_ERR(save_copy(w, &buf, &len, NULL), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_save(w, "/tmp/never-written.snap", &e), -EINVAL);
	vmt_snap_writer_free(w);

	/* An unkept sticky error of a section fails the save. */
	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_snap_writer_section(w, "x", 1, &fw));
	for (unsigned d = 0; d <= VMT_FIELDS_MAX_DEPTH; d++)
		vmt_fields_begin_group(fw, d);
	ASSERT_ERR(vmt_snap_writer_section(w, "y", 1, &fw2), -E2BIG);
	ASSERT_ERR(save_copy(w, &buf, &len, &e), -E2BIG);
	ASSERT_ERR(vmt_snap_writer_save(w, "/tmp/never-written.snap", &e), -E2BIG);
	vmt_snap_writer_free(w);

	/* After a save the writer is sealed. */
	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_snap_writer_section(w, "x", 1, &fw));
	ASSERT_ERR(vmt_snap_writer_save_buffer(NULL, &cbuf, &len, NULL), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_save_buffer(w, NULL, &len, NULL), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_save_buffer(w, &cbuf, NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_save(NULL, "/tmp/x", NULL), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_save(w, NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_save(w, "", NULL), -EINVAL);
	ASSERT_OK(vmt_snap_writer_save_buffer(w, &cbuf, &len, NULL));
	/* The image is the writer's own buffer: a second call gives the same one. */
	ASSERT_OK(vmt_snap_writer_save_buffer(w, &cbuf2, &len2, NULL));
	ASSERT_TRUE(cbuf == cbuf2);
	ASSERT_EQ(len, len2);
	ASSERT_OK(check_buf(cbuf, len, NULL));
	ASSERT_ERR(vmt_fields_put_u64(fw, 1, 1), -EBUSY);
	ASSERT_ERR(vmt_snap_writer_section(w, "z", 1, &fw), -EBUSY);
	ASSERT_ERR(vmt_snap_writer_discard_section(w), -EBUSY);
	ASSERT_OK(vmt_fields_writer_new(&fw2));
	ASSERT_ERR(vmt_snap_writer_add(w, "z", 1, fw2), -EBUSY);
	ASSERT_ERR(vmt_snap_writer_add(NULL, "z", 1, fw2), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_add(w, "z", 1, NULL), -EINVAL);
	vmt_fields_writer_free(fw2);
	ASSERT_TRUE(vmt_snap_writer_free(w) == NULL);
	ASSERT_TRUE(vmt_snap_writer_free(NULL) == NULL);
}

TEST(snapshot_section_limit)
{
	vmt_snap_writer *w = NULL;
	vmt_fields_writer *fw;
	vmt_snap_reader *r = NULL;
	void *buf;
	size_t len;

	ASSERT_OK(vmt_snap_writer_new(&w));
	for (unsigned i = 0; i < VMT_SNAP_MAX_SECTIONS; i++)
		ASSERT_OK(vmt_snap_writer_section(w, "u", i, &fw));
	ASSERT_ERR(vmt_snap_writer_section(w, "u", 0, &fw), -E2BIG);
	/* A standalone writer's section is refused the same way. */
	vmt_fields_writer *alone;

	ASSERT_OK(vmt_fields_writer_new(&alone));
	ASSERT_ERR(vmt_snap_writer_add(w, "u", 0, alone), -E2BIG);
	vmt_fields_writer_free(alone);
	ASSERT_OK(save_copy(w, &buf, &len, NULL));
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, &r, NULL));
	ASSERT_EQ(vmt_snap_reader_count(r), VMT_SNAP_MAX_SECTIONS);
	vmt_snap_reader_free(r);
	free(buf);
	vmt_snap_writer_free(w);
}

TEST(reader_arguments)
{
	vmt_snap_reader *r = NULL;
	struct vmt_snap_section s;
	struct vmt_error e = { 0 };
	unsigned major;

	ASSERT_ERR(vmt_snap_reader_from_buffer(NULL, 0, &r, &e), -EINVAL);
	ASSERT_ERR(vmt_snap_reader_from_buffer("", 0, NULL, &e), -EINVAL);
	ASSERT_ERR(vmt_snap_reader_open(NULL, &r, &e), -EINVAL);
	ASSERT_ERR(vmt_snap_reader_open("/x", NULL, &e), -EINVAL);
	ASSERT_ERR(vmt_snap_reader_open("/nonexistent/dir/x.snap", &r, &e), -ENOENT);
	ASSERT_ERR(vmt_snap_reader_open("/tmp", &r, &e), -EINVAL);
	ASSERT_TRUE(r == NULL);
	ASSERT_EQ(vmt_snap_reader_count(NULL), 0);
	ASSERT_ERR(vmt_snap_reader_section(NULL, 0, &s), -EINVAL);
	ASSERT_ERR(vmt_snap_reader_find(NULL, "a", &s), -EINVAL);
	ASSERT_ERR(vmt_snap_format_version(NULL, &major, NULL), -EINVAL);
	ASSERT_TRUE(vmt_snap_reader_free(NULL) == NULL);
}

/*
 * Issue 9 defect 6: open(2) of a FIFO without a writer blocks, so the
 * regular-file check must not need a blocking open.  The open runs in a
 * child so the old code fails the test (SIGALRM) instead of hanging it.
 */
TEST(reader_open_fifo_is_einval_at_once)
{
	char path[300];
	pid_t pid;
	int st;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	unlink(path);
	ASSERT_OK(mkfifo(path, 0600));
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct vmt_error e = { 0 };
		vmt_snap_reader *r = NULL;
		int ret;

		alarm(20); /* far above any scheduling delay; the fix returns at once */
		ret = vmt_snap_reader_open(path, &r, &e);
		_exit(ret == -EINVAL && r == NULL && strstr(e.msg, "not a regular file") ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	unlink(path);
	if (WIFSIGNALED(st))
		VMT_FAIL("vmt_snap_reader_open(FIFO) blocked (signal %d)", WTERMSIG(st));
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_EQ(WEXITSTATUS(st), 0);
}

/* A regular file still opens: the non-blocking open does not leak into the reads. */
TEST(reader_open_regular_file_after_nonblocking_open)
{
	char path[300];
	struct vmt_error e = { 0 };
	vmt_snap_writer *w = sample_writer();
	vmt_snap_reader *r = NULL;

	ASSERT_TRUE(w != NULL);
	make_tmpdir();
	snprintf(path, sizeof(path), "%s/regular.snap", tmpdir);
	ASSERT_OK(vmt_snap_writer_save(w, path, &e));
	vmt_snap_writer_free(w);
	ASSERT_OK(vmt_snap_reader_open(path, &r, &e));
	check_sample(r);
	r = vmt_snap_reader_free(r);
	/* A directory and a character device are refused the same way. */
	ASSERT_ERR(vmt_snap_reader_open(tmpdir, &r, &e), -EINVAL);
	ASSERT_ERR(vmt_snap_reader_open("/dev/null", &r, &e), -EINVAL);
	ASSERT_TRUE(r == NULL);
	unlink(path);
}

static int check_one_name(const char *name)
{
	static struct raw f;
	struct vmt_error e = { 0 };

	raw_header(&f, 1, 0, 32, 1);
	raw_section(&f, name, 1, NULL, 0);
	raw_trailer(&f);
	return check_buf(f.p, f.len, &e);
}

/*
 * Issue 9 defect 7: unit names are UTF-8 (docs/snapshot-format.md) but the
 * reader took any byte >= 0x80.  Each malformed form is -EBADMSG, with a
 * message giving the offset of the first bad byte.
 */
TEST(reader_rejects_names_that_are_not_utf8)
{
	static const char *const bad[] = {
		"a\x80",	     /* stray continuation byte */
		"\xc0\x80",	     /* overlong NUL */
		"\xc1\xbf",	     /* overlong 0x7f */
		"\xe0\x9f\xbf",	     /* overlong U+07FF */
		"\xf0\x8f\xbf\xbf",  /* overlong U+FFFF */
		"\xed\xa0\x80",	     /* surrogate U+D800 */
		"\xed\xbf\xbf",	     /* surrogate U+DFFF */
		"\xf4\x90\x80\x80",  /* U+110000 */
		"\xf5\x80\x80\x80",  /* never a lead byte */
		"\xff",		     /* never a lead byte */
		"ab\xe2\x82",	     /* truncated by the end of the name */
		"\xe2\x82x",	     /* truncated by an ASCII byte */
		"\xc3",		     /* truncated 2-byte form */
	};
	static const char *const good[] = {
		"caf\xc3\xa9",	      /* U+00E9 */
		"\xe2\x82\xac",	      /* U+20AC */
		"\xed\x9f\xbf",	      /* U+D7FF, just below the surrogates */
		"\xee\x80\x80",	      /* U+E000, just above them */
		"\xf0\x9f\x98\x80",   /* U+1F600 */
		"\xf4\x8f\xbf\xbf",   /* U+10FFFF */
		"\xc2\x80",	      /* U+0080, the smallest 2-byte form */
	};
	static struct raw f;
	struct vmt_error e = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = check_one_name(bad[i]);

		if (r != -EBADMSG)
			VMT_FAIL("bad name %zu: expected -EBADMSG, got %d", i, r);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ASSERT_OK(check_one_name(good[i]));
	raw_header(&f, 1, 0, 32, 1);
	raw_section(&f, "rt\xc3\x28", 1, NULL, 0);
	raw_trailer(&f);
	ASSERT_ERR(check_buf(f.p, f.len, &e), -EBADMSG);
	/* The section header is at 32, the name at 56: the bad byte at 58. */
	ASSERT_TRUE(strstr(e.msg, "UTF-8") != NULL);
	ASSERT_TRUE(strstr(e.msg, "offset 58") != NULL);
}

/* The writer refuses what the reader would refuse. */
TEST(writer_rejects_names_that_are_not_utf8)
{
	vmt_snap_writer *w = NULL;
	vmt_fields_writer *fw, *alone = NULL;
	void *buf;
	size_t len;
	struct vmt_error e = { 0 };

	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_fields_writer_new(&alone));
	ASSERT_ERR(vmt_snap_writer_section(w, "a\x80", 1, &fw), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_section(w, "\xed\xa0\x80", 1, &fw), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_add(w, "\xc0\x80", 1, alone), -EINVAL);
	vmt_fields_writer_free(alone);
	ASSERT_OK(vmt_snap_writer_section(w, "caf\xc3\xa9", 1, &fw));
	ASSERT_OK(save_copy(w, &buf, &len, &e));
	ASSERT_OK(check_buf(buf, len, &e));
	free(buf);
	vmt_snap_writer_free(w);
}

/* Every escape of the one JSON string writer, and U+FFFD for each bad byte. */
TEST(json_str_escapes_and_replaces_invalid_utf8)
{
	static const char in[] = "a\"b\\c\n\t\r\b\f\x01\x7f caf\xc3\xa9 \xe2\x82\xac "
				 "\xff\xc0\x80\xed\xa0\x80 \xe2\x82";
	static const char want[] = "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u007f caf\xc3\xa9 "
				   "\xe2\x82\xac \\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd "
				   "\\ufffd\\ufffd\"";
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	ASSERT_TRUE(f != NULL);
	vmti_json_str(f, in, sizeof(in) - 1);
	fputc(' ', f);
	vmti_json_cstr(f, NULL);
	fputc(' ', f);
	vmti_json_str(f, "a\0b", 3);
	ASSERT_EQ(fclose(f), 0);
	ASSERT_EQ(vmti_utf8_check(out, n), n);
	ASSERT_TRUE(n > sizeof(want) - 1);
	out[sizeof(want) - 1] = 0;
	ASSERT_STREQ(out, want);
	ASSERT_STREQ(out + sizeof(want), "null \"a\\u0000b\"");
	free(out);
}

/*
 * Issue 9 defect 7: `vmtime snapshot show` (now `show --json`) printed a string field's bytes
 * as they were, so a snapshot could make it print invalid UTF-8 (invalid
 * JSON).  Its whole output must be UTF-8 with the bad bytes escaped.
 */
TEST(tool_show_prints_valid_utf8_json)
{
	static char out[1 << 16];
	char path[300], cmd[700];
	struct vmt_error e = { 0 };
	vmt_snap_writer *w = NULL;
	vmt_fields_writer *fw;
	size_t n;
	FILE *p;

	if (access(VMT_BINARY_DIR "/vmtime", X_OK) != 0)
		SKIP("the vmtime tool is not built");
	make_tmpdir();
	snprintf(path, sizeof(path), "%s/show.snap", tmpdir);
	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_snap_writer_section(w, "caf\xc3\xa9", 1, &fw));
	ASSERT_OK(vmt_fields_put_str(fw, 1, "\xff\xfe\"\x01"));
	ASSERT_OK(vmt_snap_writer_save(w, path, &e));
	vmt_snap_writer_free(w);
	snprintf(cmd, sizeof(cmd), "%s/vmtime snapshot show --json %s", VMT_BINARY_DIR, path);
	p = popen(cmd, "r");
	ASSERT_TRUE(p != NULL);
	n = fread(out, 1, sizeof(out) - 1, p);
	ASSERT_EQ(pclose(p), 0);
	out[n] = 0;
	ASSERT_EQ(vmti_utf8_check(out, n), n);
	ASSERT_TRUE(strstr(out, "\"name\": \"caf\xc3\xa9\"") != NULL);
	ASSERT_TRUE(strstr(out, "\"value\": \"\\ufffd\\ufffd\\\"\\u0001\"") != NULL);
	unlink(path);
}

TEST(reader_every_truncation_and_bit_flip)
{
	/* Every proper prefix is -ENODATA; every single-bit flip is an error. */
	vmt_snap_writer *w = sample_writer();
	struct vmt_error e;
	uint8_t *p;
	void *buf;
	size_t len;

	ASSERT_TRUE(w != NULL);
	ASSERT_OK(save_copy(w, &buf, &len, NULL));
	p = buf;
	for (size_t n = 0; n < len; n++) {
		int r = check_buf(p, n, &e);

		if (r != -ENODATA)
			VMT_FAIL("prefix of %zu/%zu bytes: %d (%s)", n, len, r, e.msg);
	}
	for (size_t i = 0; i < len; i++) {
		for (int b = 0; b < 8; b++) {
			int r;

			p[i] ^= (uint8_t)(1u << b);
			r = check_buf(p, len, &e);
			p[i] ^= (uint8_t)(1u << b);
			if (r >= 0)
				VMT_FAIL("flip of bit %d of byte %zu accepted", b, i);
		}
	}
	ASSERT_OK(check_buf(p, len, NULL));
	free(buf);
	vmt_snap_writer_free(w);
}

TEST(reader_messages_name_section_and_offset)
{
	vmt_snap_writer *w = sample_writer();
	struct vmt_error e = { 0 };
	uint8_t *p;
	void *buf;
	size_t len, off;

	ASSERT_TRUE(w != NULL);
	ASSERT_OK(save_copy(w, &buf, &len, NULL));
	p = buf;
	/* Damage the payload of section 1 ("rtc"). */
	off = 32 + 24 + 6 + 3 * 20 + 4 + 24 + 3 + 20;
	p[off] ^= 1;
	ASSERT_ERR(check_buf(p, len, &e), -EBADMSG);
	ASSERT_EQ(e.code, -EBADMSG);
	ASSERT_TRUE(strstr(e.msg, "section 1 (rtc)") != NULL);
	ASSERT_TRUE(strstr(e.msg, "CRC") != NULL);
	ASSERT_TRUE(strstr(e.msg, "offset") != NULL);
	p[off] ^= 1;
	ASSERT_ERR(check_buf(p, len - 30, &e), -ENODATA);
	ASSERT_TRUE(strstr(e.msg, "section 3 (pit)") != NULL);
	free(buf);
	vmt_snap_writer_free(w);
}

/* ---- golden files ------------------------------------------------------------ */

struct golden {
	const char *name;
	const char *expect;
	uint8_t *data;
	size_t len;
};

static const char *errno_name(int e)
{
	switch (e) {
	case 0:
		return "OK";
	case -ENODATA:
		return "ENODATA";
	case -EBADMSG:
		return "EBADMSG";
	case -EPROTONOSUPPORT:
		return "EPROTONOSUPPORT";
	case -E2BIG:
		return "E2BIG";
	default:
		return "other";
	}
}

static void golden_add(struct golden *g, size_t *n, const char *name, const char *expect,
		       const void *p, size_t len)
{
	g[*n].name = name;
	g[*n].expect = expect;
	g[*n].data = malloc(len + 1);
	memcpy(g[*n].data, p, len);
	g[*n].len = len;
	(*n)++;
}

/* Builds every golden file in memory; returns their number. */
static size_t golden_build(struct golden *g)
{
	static struct raw f;
	vmt_snap_writer *w = sample_writer();
	uint8_t pl[1024], *v, *t;
	size_t n = 0, len, plen, sec1;
	void *buf;

	save_copy(w, &buf, &len, NULL);
	vmt_snap_writer_free(w);
	v = buf;
	golden_add(g, &n, "valid.snap", "OK", v, len);
	sec1 = 32 + 24 + 6 + 3 * 20 + 4;	/* offset of section 1 */

	vmt_snap_writer_new(&w);
	save_copy(w, (void **)&t, &plen, NULL);
	vmt_snap_writer_free(w);
	golden_add(g, &n, "empty.snap", "OK", t, plen);
	free(t);

	/* A newer writer's unknown field types and ids among known ones. */
	plen = rf(pl, 0, 1, VMT_FIELD_U64, "\x2a\0\0\0\0\0\0\0", 8);
	plen = rf(pl, plen, 2, 9, "\x01\x02\x03", 3);
	plen = rf(pl, plen, 77, VMT_FIELD_STR, "new\0", 4);
	plen = rf(pl, plen, 3, 200, NULL, 0);
	raw_header(&f, 1, 0, 32, 1);
	raw_section(&f, "vmtime", 2, pl, plen);
	raw_trailer(&f);
	golden_add(g, &n, "unknown-fields.snap", "OK", f.p, f.len);

	/* A unit this program does not have, with content it cannot know. */
	plen = rf(pl, 0, 5, 42, "opaque state", 12);
	raw_header(&f, 1, 0, 32, 2);
	raw_section(&f, "vmtime", 1, pl, 0);
	raw_section(&f, "future-device", 7, pl, plen);
	raw_trailer(&f);
	golden_add(g, &n, "unknown-section.snap", "OK", f.p, f.len);

	/* A newer minor version with a longer header. */
	raw_header(&f, 1, 3, 48, 1);
	raw_section(&f, "vmtime", 1, pl, 0);
	raw_trailer(&f);
	golden_add(g, &n, "newer-minor.snap", "OK", f.p, f.len);

	golden_add(g, &n, "trunc-empty.snap", "ENODATA", v, 0);
	golden_add(g, &n, "trunc-magic.snap", "ENODATA", v, 5);
	golden_add(g, &n, "trunc-header.snap", "ENODATA", v, 20);
	golden_add(g, &n, "trunc-section-header.snap", "ENODATA", v, sec1 + 10);
	golden_add(g, &n, "trunc-name.snap", "ENODATA", v, sec1 + 24 + 2);
	golden_add(g, &n, "trunc-payload.snap", "ENODATA", v, sec1 + 24 + 3 + 50);
	golden_add(g, &n, "trunc-at-section.snap", "ENODATA", v, sec1);
	golden_add(g, &n, "trunc-trailer.snap", "ENODATA", v, len - 10);
	golden_add(g, &n, "trunc-before-trailer.snap", "ENODATA", v, len - 24);

	t = malloc(len + 16);
	memcpy(t, v, len);
	t[1] = 'X';
	golden_add(g, &n, "bad-magic.snap", "EBADMSG", t, len);
	/* A text-mode transfer turned the magic's CR LF into LF. */
	memcpy(t, v, 4);
	memcpy(t + 4, v + 5, len - 5);
	golden_add(g, &n, "text-mode.snap", "EBADMSG", t, len - 1);
	memcpy(t, v, len);
	t[20] ^= 0x10;
	golden_add(g, &n, "bad-header-crc.snap", "EBADMSG", t, len);
	memcpy(t, v, len);
	t[sec1 + 24 + 3 + 30] ^= 0x01;
	golden_add(g, &n, "bad-section-crc.snap", "EBADMSG", t, len);
	memcpy(t, v, len);
	t[sec1 + 4] ^= 0x01;	/* the payload version */
	golden_add(g, &n, "bad-section-header-crc.snap", "EBADMSG", t, len);
	memcpy(t, v, len);
	t[len - 1] ^= 0x80;
	golden_add(g, &n, "bad-file-check.snap", "EBADMSG", t, len);
	memcpy(t, v, len);
	memcpy(t + len, "garbage!", 8);
	golden_add(g, &n, "trailing-bytes.snap", "EBADMSG", t, len + 8);
	free(t);

	/* Sections intact one by one but swapped: only the file check sees it. */
	plen = rf(pl, 0, 1, VMT_FIELD_U64, "\1\0\0\0\0\0\0\0", 8);
	raw_header(&f, 1, 0, 32, 2);
	raw_section(&f, "a", 1, pl, plen);
	raw_section(&f, "b", 1, pl, plen);
	{
		uint32_t c = f.crcs[0];

		f.crcs[0] = f.crcs[1];
		f.crcs[1] = c;
	}
	raw_trailer(&f);
	golden_add(g, &n, "reordered-sections.snap", "EBADMSG", f.p, f.len);

	/* Well-framed, CRC-correct files whose payloads break the field rules. */
	plen = rf(pl, 0, 1, VMT_FIELD_U64, "\1\0\0\0", 4);
	raw_header(&f, 1, 0, 32, 1);
	raw_section(&f, "vmtime", 1, pl, plen);
	raw_trailer(&f);
	golden_add(g, &n, "bad-field-length.snap", "EBADMSG", f.p, f.len);
	plen = rf(pl, 0, 1, VMT_FIELD_STR, "abc", 3);
	raw_header(&f, 1, 0, 32, 1);
	raw_section(&f, "vmtime", 1, pl, plen);
	raw_trailer(&f);
	golden_add(g, &n, "bad-string.snap", "EBADMSG", f.p, f.len);
	plen = rf(pl, 0, 1, VMT_FIELD_BYTES, "abcd", 4);
	p32(pl + 8, 400);
	raw_header(&f, 1, 0, 32, 1);
	raw_section(&f, "vmtime", 1, pl, plen);
	raw_trailer(&f);
	golden_add(g, &n, "field-overrun.snap", "EBADMSG", f.p, f.len);

	raw_header(&f, 2, 0, 32, 0);
	raw_trailer(&f);
	golden_add(g, &n, "unknown-major.snap", "EPROTONOSUPPORT", f.p, f.len);

	plen = rf(pl, 0, 1, VMT_FIELD_U64, "\1\0\0\0\0\0\0\0", 8);
	raw_header(&f, 1, 0, 32, 1);
	raw_section_len(&f, "vmtime", 1, pl, plen, 1ull << 40);
	raw_trailer(&f);
	golden_add(g, &n, "oversize-payload.snap", "E2BIG", f.p, f.len);
	raw_header(&f, 1, 0, 32, 1000000);
	raw_trailer(&f);
	golden_add(g, &n, "oversize-count.snap", "E2BIG", f.p, f.len);
	{
		char name[301];

		memset(name, 'a', 300);
		name[300] = 0;
		raw_header(&f, 1, 0, 32, 1);
		raw_section(&f, name, 1, pl, 0);
		raw_trailer(&f);
		golden_add(g, &n, "oversize-name.snap", "E2BIG", f.p, f.len);
	}
	raw_header(&f, 1, 0, 32, 0);
	raw_trailer(&f);
	p32(f.p + 12, 1u << 20);
	golden_add(g, &n, "oversize-header.snap", "E2BIG", f.p, f.len);
	/* One group more than the nesting limit. */
	plen = 12 * (VMT_FIELDS_MAX_DEPTH + 1);
	for (unsigned d = 0; d <= VMT_FIELDS_MAX_DEPTH; d++) {
		rf(pl, 12 * d, 1, VMT_FIELD_GROUP, NULL, 0);
		p32(pl + 12 * d + 8, (uint32_t)(12 * (VMT_FIELDS_MAX_DEPTH - d)));
	}
	raw_header(&f, 1, 0, 32, 1);
	raw_section(&f, "vmtime", 1, pl, plen);
	raw_trailer(&f);
	golden_add(g, &n, "deep-nesting.snap", "E2BIG", f.p, f.len);
	free(buf);
	return n;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	if (fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		fclose(f);
		return NULL;
	}
	p[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return p;
}

TEST(golden_generate)
{
	struct golden g[64];
	char path[512];
	size_t n;
	FILE *m;

	if (!getenv("VMT_GOLDEN_REGEN"))
		SKIP("set VMT_GOLDEN_REGEN=1 to rewrite tests/golden/");
	n = golden_build(g);
	snprintf(path, sizeof(path), "%s/tests/golden/expected.txt", VMT_SOURCE_DIR);
	m = fopen(path, "w");
	ASSERT_TRUE(m != NULL);
	fprintf(m, "# Golden snapshot files and what vmt_snap_reader_open() returns for each.\n"
		   "# Generated by: VMT_GOLDEN_REGEN=1 test-snapshot golden_generate\n"
		   "# file result (OK or the errno name)\n");
	for (size_t i = 0; i < n; i++) {
		int fd;

		/* The expectation is the spec's, so a reader bug cannot bless itself. */
		ASSERT_STREQ(errno_name(check_buf(g[i].data, g[i].len, NULL)), g[i].expect);
		fprintf(m, "%s %s\n", g[i].name, g[i].expect);
		snprintf(path, sizeof(path), "%s/tests/golden/%s", VMT_SOURCE_DIR, g[i].name);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ASSERT_TRUE(fd >= 0);
		ASSERT_EQ(write(fd, g[i].data, g[i].len), (ssize_t)g[i].len);
		close(fd);
		free(g[i].data);
	}
	fclose(m);
}

TEST(golden_files_match_expectations)
{
	char path[512], line[256];
	int checked = 0, regen_same = 0;
	struct golden g[64];
	size_t ng = golden_build(g);
	FILE *m;

	snprintf(path, sizeof(path), "%s/tests/golden/expected.txt", VMT_SOURCE_DIR);
	m = fopen(path, "r");
	ASSERT_TRUE(m != NULL);
	while (fgets(line, sizeof(line), m)) {
		char name[128], want[64];
		struct vmt_error e = { 0 };
		vmt_snap_reader *r = NULL;
		int got;

		if (line[0] == '#' || sscanf(line, "%127s %63s", name, want) != 2)
			continue;
		snprintf(path, sizeof(path), "%s/tests/golden/%s", VMT_SOURCE_DIR, name);
		got = vmt_snap_reader_open(path, &r, &e);
		if (strcmp(errno_name(got), want))
			VMT_FAIL("%s: expected %s, got %s (%s)", name, want, errno_name(got), e.msg);
		if (got < 0 && (e.code != got || !strstr(e.msg, "offset")))
			VMT_FAIL("%s: message without an offset: \"%s\"", name, e.msg);
		if (got == 0 && !strcmp(name, "unknown-fields.snap")) {
			struct vmt_snap_section s;
			uint64_t u;

			ASSERT_OK(vmt_snap_reader_section(r, 0, &s));
			ASSERT_OK(vmt_fields_get_u64(&s.fields, 1, &u));
			ASSERT_EQ(u, 42);
			ASSERT_ERR(vmt_fields_get_u64(&s.fields, 2, &u), -EBADMSG);
		}
		if (got == 0 && !strcmp(name, "valid.snap"))
			check_sample(r);
		vmt_snap_reader_free(r);
		/* The committed file is what the current code generates. */
		for (size_t i = 0; i < ng; i++) {
			size_t len;
			char *p;

			if (strcmp(g[i].name, name))
				continue;
			ASSERT_STREQ(want, g[i].expect);
			p = slurp(path, &len);
			ASSERT_TRUE(p != NULL);
			if (len != g[i].len || memcmp(p, g[i].data, len))
				VMT_FAIL("%s differs from what the generator makes now", name);
			regen_same++;
			free(p);
		}
		checked++;
	}
	fclose(m);
	for (size_t i = 0; i < ng; i++)
		free(g[i].data);
	ASSERT_EQ(checked, (int)ng);
	ASSERT_EQ(regen_same, (int)ng);
}

/* ---- atomic save under failures -------------------------------------------- */

static vmt_snap_writer *gen_writer(uint64_t gen, size_t bytes)
{
	vmt_snap_writer *w = NULL;
	vmt_fields_writer *fw;
	uint8_t *blob = malloc(bytes ? bytes : 1);

	for (size_t i = 0; i < bytes; i++)
		blob[i] = (uint8_t)(gen + i);
	vmt_snap_writer_new(&w);
	vmt_snap_writer_section(w, "gen", 1, &fw);
	vmt_fields_put_u64(fw, 1, gen);
	vmt_fields_put_bytes(fw, 2, blob, bytes);
	free(blob);
	return w;
}

static uint64_t read_gen(const char *path)
{
	vmt_snap_reader *r = NULL;
	struct vmt_snap_section s;
	uint64_t gen = UINT64_MAX;

	if (vmt_snap_reader_open(path, &r, NULL) < 0)
		return UINT64_MAX;
	if (vmt_snap_reader_section(r, 0, &s) == 0)
		vmt_fields_get_u64(&s.fields, 1, &gen);
	vmt_snap_reader_free(r);
	return gen;
}

TEST(save_failures_leave_previous_file)
{
	struct vmt_error e = { 0 };
	vmt_snap_writer *w;
	char path[300], sub[300];
	pid_t pid;
	int st;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/state.snap", tmpdir);
	w = gen_writer(1, 1000);
	ASSERT_OK(vmt_snap_writer_save(w, path, &e));
	vmt_snap_writer_free(w);
	ASSERT_EQ(read_gen(path), 1);

	/* The directory does not exist. */
	w = gen_writer(2, 1000);
	snprintf(sub, sizeof(sub), "%s/missing/state.snap", tmpdir);
	ASSERT_ERR(vmt_snap_writer_save(w, sub, &e), -ENOENT);
	ASSERT_TRUE(strstr(e.msg, "creating") != NULL);
	/* A path through a regular file. */
	snprintf(sub, sizeof(sub), "%s/state.snap/x.snap", tmpdir);
	ASSERT_ERR(vmt_snap_writer_save(w, sub, &e), -ENOTDIR);
	/* The rename fails (target is a non-empty directory): temp removed. */
	snprintf(sub, sizeof(sub), "%s/adir", tmpdir);
	ASSERT_OK(mkdir(sub, 0755));
	snprintf(sub, sizeof(sub), "%s/adir/keep", tmpdir);
	close(open(sub, O_WRONLY | O_CREAT, 0644));
	snprintf(sub, sizeof(sub), "%s/adir", tmpdir);
	ASSERT_ERR(vmt_snap_writer_save(w, sub, &e), -EISDIR);
	ASSERT_TRUE(strstr(e.msg, "renaming") != NULL);
	ASSERT_EQ(count_entries(tmpdir), 2);	/* state.snap and adir only */
	snprintf(sub, sizeof(sub), "%s/adir/keep", tmpdir);
	unlink(sub);
	snprintf(sub, sizeof(sub), "%s/adir", tmpdir);
	rmdir(sub);

	/* Running out of space mid-write (a file size limit stands in for ENOSPC). */
	vmt_snap_writer_free(w);
	w = gen_writer(3, 1 << 20);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 64 * 1024, 64 * 1024 };

		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		_exit(vmt_snap_writer_save(w, path, &e) == -EFBIG ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ASSERT_EQ(read_gen(path), 1);
	ASSERT_EQ(count_entries(tmpdir), 1);

	/* An unwritable directory (only meaningful when not root). */
	if (geteuid() != 0) {
		ASSERT_OK(chmod(tmpdir, 0555));
		ASSERT_ERR(vmt_snap_writer_save(w, path, &e), -EACCES);
		ASSERT_OK(chmod(tmpdir, 0755));
		ASSERT_EQ(read_gen(path), 1);
	}
	/* And the same writer then succeeds. */
	ASSERT_OK(vmt_snap_writer_save(w, path, &e));
	ASSERT_EQ(read_gen(path), 3);
	ASSERT_EQ(count_entries(tmpdir), 1);
	vmt_snap_writer_free(w);
	unlink(path);
	rmdir(tmpdir);
	tmpdir[0] = 0;
}

/* ---- error paths not covered above ---------------------------------------------- */

TEST(fields_every_writer_call_reports_closed_and_sticky)
{
	vmt_snap_writer *w = NULL;
	vmt_fields_writer *fw = NULL;

	/* A section writer closed by the next section: every call is -EBUSY. */
	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_snap_writer_section(w, "a", 1, &fw));
	ASSERT_OK(vmt_fields_begin_group(fw, 1));
	ASSERT_OK(vmt_fields_end_group(fw));
	ASSERT_OK(vmt_snap_writer_discard_section(w));
	ASSERT_ERR(vmt_fields_put_u64(fw, 1, 1), -EBUSY);
	ASSERT_ERR(vmt_fields_put_i64(fw, 1, 1), -EBUSY);
	ASSERT_ERR(vmt_fields_put_bytes(fw, 1, "x", 1), -EBUSY);
	ASSERT_ERR(vmt_fields_put_str(fw, 1, "x"), -EBUSY);
	ASSERT_ERR(vmt_fields_begin_group(fw, 1), -EBUSY);
	ASSERT_ERR(vmt_fields_end_group(fw), -EBUSY);
	vmt_snap_writer_free(w);

	/* A sticky -E2BIG (a payload over the limit) is repeated by every call. */
	ASSERT_OK(vmt_fields_writer_new(&fw));
	ASSERT_OK(vmt_fields_begin_group(fw, 1));
	ASSERT_OK(vmt_fields_put_str(fw, 2, "x"));
	ASSERT_ERR(vmt_fields_put_bytes(fw, 3, "x", (size_t)VMT_SNAP_MAX_PAYLOAD), -E2BIG);
	ASSERT_ERR(vmt_fields_put_u64(fw, 1, 1), -E2BIG);
	ASSERT_ERR(vmt_fields_put_i64(fw, 1, 1), -E2BIG);
	ASSERT_ERR(vmt_fields_put_bytes(fw, 1, "x", 1), -E2BIG);
	ASSERT_ERR(vmt_fields_put_str(fw, 1, "x"), -E2BIG);
	ASSERT_ERR(vmt_fields_begin_group(fw, 1), -E2BIG);
	ASSERT_ERR(vmt_fields_end_group(fw), -E2BIG);
	ASSERT_ERR(vmt_fields_writer_error(fw), -E2BIG);
	vmt_fields_writer_free(fw);
}

TEST(fields_get_missing_field_of_every_type)
{
	vmt_fields_writer *fw = NULL;
	vmt_snap_writer *w = NULL;
	vmt_snap_reader *r = NULL;
	struct vmt_snap_section sec;
	vmt_fields_reader g;
	const void *img, *p;
	const char *str;
	uint64_t u;
	int64_t i;
	size_t len, n;

	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_snap_writer_section(w, "a", 1, &fw));
	ASSERT_OK(vmt_fields_put_u64(fw, 1, 1));
	ASSERT_OK(vmt_snap_writer_save_buffer(w, &img, &len, NULL));
	ASSERT_OK(vmt_snap_reader_from_buffer(img, len, &r, NULL));
	ASSERT_OK(vmt_snap_reader_section(r, 0, &sec));
	ASSERT_ERR(vmt_fields_get_u64(&sec.fields, 2, &u), -ENOENT);
	ASSERT_ERR(vmt_fields_get_i64(&sec.fields, 2, &i), -ENOENT);
	ASSERT_ERR(vmt_fields_get_bytes(&sec.fields, 2, &p, &n), -ENOENT);
	ASSERT_ERR(vmt_fields_get_str(&sec.fields, 2, &str), -ENOENT);
	ASSERT_ERR(vmt_fields_get_group(&sec.fields, 2, &g), -ENOENT);
	vmt_snap_reader_free(r);
	vmt_snap_writer_free(w);
}

TEST(snapshot_writer_name_and_open_group_errors)
{
	vmt_snap_writer *w = NULL;
	vmt_fields_writer *fw = NULL, *alone = NULL;
	char name[VMT_SNAP_NAME_MAX + 2];
	const void *img;
	size_t len;

	/* vmt_snap_writer_add() checks the name as vmt_snap_writer_section() does. */
	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_fields_writer_new(&alone));
	ASSERT_ERR(vmt_snap_writer_add(w, NULL, 1, alone), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_add(w, "", 1, alone), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_add(w, "a\tb", 1, alone), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_add(w, "del\x7f", 1, alone), -EINVAL);
	memset(name, 'n', sizeof(name));
	name[VMT_SNAP_NAME_MAX + 1] = 0;
	ASSERT_ERR(vmt_snap_writer_add(w, name, 1, alone), -ENAMETOOLONG);
	/* An added writer with an open group: -EINVAL. */
	ASSERT_OK(vmt_fields_begin_group(alone, 1));
	ASSERT_ERR(vmt_snap_writer_add(w, "u", 1, alone), -EINVAL);
	ASSERT_OK(vmt_fields_end_group(alone));
	ASSERT_OK(vmt_snap_writer_add(w, "u", 1, alone));
	vmt_fields_writer_free(alone);

	/* Starting the next section while the previous one has a group open: -EINVAL, sticky. */
	ASSERT_OK(vmt_snap_writer_section(w, "open", 1, &fw));
	ASSERT_OK(vmt_fields_begin_group(fw, 1));
	ASSERT_ERR(vmt_snap_writer_section(w, "next", 1, &fw), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_section(w, "next", 1, &fw), -EINVAL);
	ASSERT_ERR(vmt_snap_writer_save_buffer(w, &img, &len, NULL), -EINVAL);
	vmt_snap_writer_free(w);
}

TEST(reader_from_buffer_gives_the_golden_errnos)
{
	struct golden g[64];
	size_t ng = golden_build(g);
	int seen_proto = 0, seen_big = 0;

	ASSERT_GT(ng, 0);
	for (size_t i = 0; i < ng; i++) {
		struct vmt_error e = { 0 };
		int r = check_buf(g[i].data, g[i].len, &e);

		if (strcmp(errno_name(r), g[i].expect))
			VMT_FAIL("%s: expected %s, got %s (%s)", g[i].name, g[i].expect,
				 errno_name(r), e.msg);
		seen_proto += r == -EPROTONOSUPPORT;
		seen_big += r == -E2BIG;
	}
	for (size_t i = 0; i < ng; i++)
		free(g[i].data);
	ASSERT_GT(seen_proto, 0);
	ASSERT_GT(seen_big, 0);
}

TEST(save_without_a_free_temporary_name_is_eexist)
{
	char path[300], name[400];
	struct vmt_error e = { 0 };
	vmt_snap_writer *w;
	int made = 0;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/busy.snap", tmpdir);
	/*
	 * Temporary names are "PATH.tmp-PID-N" with a per-process counter that
	 * only grows (one per try, 100 tries per save); taking N = 0..2199 covers
	 * the next 100 names as long as fewer than 2100 were used before.
	 */
	for (unsigned n = 0; n < 2200; n++) {
		snprintf(name, sizeof(name), "%s.tmp-%ld-%u", path, (long)getpid(), n);
		int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

		if (fd >= 0) {
			close(fd);
			made++;
		}
	}
	ASSERT_EQ(made, 2200);
	w = gen_writer(5, 10);
	ASSERT_ERR(vmt_snap_writer_save(w, path, &e), -EEXIST);
	ASSERT_EQ(e.code, -EEXIST);
	ASSERT_TRUE(strstr(e.msg, "temporary") != NULL);
	ASSERT_TRUE(access(path, F_OK) < 0);
	for (unsigned n = 0; n < 2200; n++) {
		snprintf(name, sizeof(name), "%s.tmp-%ld-%u", path, (long)getpid(), n);
		unlink(name);
	}
	/* With the names free again the same writer saves. */
	ASSERT_OK(vmt_snap_writer_save(w, path, &e));
	ASSERT_EQ(read_gen(path), 5);
	vmt_snap_writer_free(w);
	unlink(path);
	rmdir(tmpdir);
	tmpdir[0] = 0;
}
