/* SPDX-License-Identifier: MIT */
/*
 * fuzz-snapshot.c - fuzz target for the snapshot reader and the fields reader.
 *
 * Built as a libFuzzer target with clang (cmake/fuzz.cmake, target
 * fuzz-snapshot) and linked into fuzz-snapshot-replay, which CTest runs over
 * tests/fuzz/corpus and tests/golden.  Beyond "no crash", it checks that any
 * file the reader accepts can be rewritten field by field by the writer into
 * a file the reader accepts again with the same sections.
 *
 * Random bytes almost never carry valid CRCs, which would leave everything
 * behind the CRC checks unexplored; so each input is also tried with its
 * CRCs recomputed where its lengths allow.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vmtime/snapshot.h>

#include "crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                             \
	do {                                                                                 \
		if (!(x))                                                                    \
			__builtin_trap();                                                    \
	} while (0)

/* Reads every field (getters included) and copies the known ones into @w. */
static void walk(vmt_fields_reader *r, vmt_fields_writer *w, unsigned depth)
{
	struct vmt_field f;
	uint64_t u;
	int64_t i;
	const char *s;
	const void *p;
	size_t n;
	vmt_fields_reader g;
	int ret;

	CHECK(depth <= VMT_FIELDS_MAX_DEPTH);
	while ((ret = vmt_fields_next(r, &f)) > 0) {
		switch (f.type) {
		case VMT_FIELD_U64:
			vmt_fields_put_u64(w, f.id, f.u64);
			break;
		case VMT_FIELD_I64:
			vmt_fields_put_i64(w, f.id, f.i64);
			break;
		case VMT_FIELD_BYTES:
			vmt_fields_put_bytes(w, f.id, f.data, f.len);
			break;
		case VMT_FIELD_STR:
			CHECK(strlen(f.data) == f.len);
			vmt_fields_put_str(w, f.id, f.data);
			break;
		case VMT_FIELD_GROUP:
			vmt_fields_begin_group(w, f.id);
			g = f.group;
			walk(&g, w, depth + 1);
			vmt_fields_end_group(w);
			break;
		default:
			break;
		}
		/* Lookups by id must agree with the type of the first field of that id. */
		vmt_fields_get_u64(r, f.id, &u);
		vmt_fields_get_i64(r, f.id, &i);
		vmt_fields_get_str(r, f.id, &s);
		vmt_fields_get_bytes(r, f.id, &p, &n);
		vmt_fields_get_group(r, f.id, &g);
	}
	CHECK(ret == 0);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes header, section and trailer CRCs as far as the lengths allow. */
static void fix_crcs(uint8_t *p, size_t n)
{
	size_t hlen, pos;
	uint32_t count, chk, c;
	uint8_t c4[4];

	if (n < 32)
		return;
	hlen = rd32(p + 12);
	if (hlen < 32 || hlen > 4096 || hlen > n)
		return;
	wr32(p + hlen - 4, vmti_crc32c(0, p, hlen - 4));
	chk = vmti_crc32c(0, p + hlen - 4, 4);
	count = rd32(p + 16);
	pos = hlen;
	for (uint32_t i = 0; i < count && i < VMT_SNAP_MAX_SECTIONS; i++) {
		size_t nl;
		uint64_t plen;

		if (n - pos < 24)
			return;
		wr32(p + pos + 20, vmti_crc32c(0, p + pos, 20));
		nl = (size_t)p[pos + 16] | (size_t)p[pos + 17] << 8;
		plen = (uint64_t)rd32(p + pos + 8) | (uint64_t)rd32(p + pos + 12) << 32;
		if (n - pos - 24 < nl || n - pos - 24 - nl < 4 || n - pos - 24 - nl - 4 < plen)
			return;
		c = vmti_crc32c(0, p + pos, 24 + nl + plen);
		wr32(p + pos + 24 + nl + plen, c);
		wr32(c4, c);
		chk = vmti_crc32c(chk, c4, 4);
		pos += 24 + nl + plen + 4;
	}
	if (n - pos < 24)
		return;
	wr32(p + pos + 20, vmti_crc32c(chk, p + pos, 20));
}

static void one_input(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t empty[1];
	uint8_t *copy;

	if (!data)
		data = empty;
	one_input(data, size);
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	fix_crcs(copy, size);
	one_input(copy, size);
	free(copy);
	return 0;
}

static void one_input(const uint8_t *data, size_t size)
{
	vmt_snap_reader *r = NULL, *r2 = NULL;
	vmt_snap_writer *w = NULL;
	vmt_fields_writer *fw = NULL;
	vmt_fields_reader fr;
	struct vmt_error e;
	const void *out;
	size_t outlen;

	if (vmt_fields_reader_init(&fr, data, size) == 0) {
		CHECK(vmt_fields_writer_new(&fw) == 0);
		walk(&fr, fw, 0);
		vmt_fields_writer_free(fw);
	}
	if (vmt_snap_reader_from_buffer(data, size, &r, &e) < 0)
		return;
	CHECK(vmt_snap_writer_new(&w) == 0);
	for (size_t k = 0; k < vmt_snap_reader_count(r); k++) {
		struct vmt_snap_section s, s2;

		CHECK(vmt_snap_reader_section(r, k, &s) == 0);
		CHECK(vmt_snap_reader_find(r, s.name, &s2) >= 0);
		CHECK(!strcmp(s.name, s2.name));
		CHECK(vmt_snap_writer_section(w, s.name, s.payload_version, &fw) == 0);
		walk(&s.fields, fw, 0);
	}
	CHECK(vmt_snap_writer_save_buffer(w, &out, &outlen, &e) == 0);
	CHECK(vmt_snap_reader_from_buffer(out, outlen, &r2, &e) == 0);
	CHECK(vmt_snap_reader_count(r2) == vmt_snap_reader_count(r));
	for (size_t k = 0; k < vmt_snap_reader_count(r); k++) {
		struct vmt_snap_section a, b;

		CHECK(vmt_snap_reader_section(r, k, &a) == 0);
		CHECK(vmt_snap_reader_section(r2, k, &b) == 0);
		CHECK(!strcmp(a.name, b.name) && a.payload_version == b.payload_version);
		CHECK(b.size <= a.size);
	}
	vmt_snap_reader_free(r2);
	vmt_snap_writer_free(w);
	vmt_snap_reader_free(r);
}
