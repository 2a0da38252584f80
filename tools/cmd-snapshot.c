/* SPDX-License-Identifier: MIT */
/*
 * cmd-snapshot.c - `vmtime snapshot show|check FILE`.
 *
 * show prints the whole file as JSON, decoding every field (groups
 * recursively; byte strings as hex, cut after 64 bytes with their length
 * kept); check validates and prints one line.  Both exit 1 for an invalid
 * file with the reader's message, which names the section and byte offset.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <vmtime/snapshot.h>

#include "commands.h"
#include "json.h"

#define HEX_MAX 64

static void json_hex(FILE *f, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t shown = n > HEX_MAX ? HEX_MAX : n;

	fputs("\"hex\": \"", f);
	for (size_t i = 0; i < shown; i++)
		fprintf(f, "%02x", b[i]);
	fprintf(f, "\", \"truncated\": %s", shown < n ? "true" : "false");
}

static void indent(FILE *f, int level)
{
	for (int i = 0; i < level; i++)
		fputs("  ", f);
}

static int show_fields(FILE *f, vmt_fields_reader *r, int level)
{
	struct vmt_field fl;
	int ret, first = 1;

	fputs("[", f);
	while ((ret = vmt_fields_next(r, &fl)) > 0) {
		fputs(first ? "\n" : ",\n", f);
		first = 0;
		indent(f, level + 1);
		fprintf(f, "{\"id\": %u, ", fl.id);
		switch (fl.type) {
		case VMT_FIELD_U64:
			fprintf(f, "\"type\": \"u64\", \"value\": %llu}", (unsigned long long)fl.u64);
			break;
		case VMT_FIELD_I64:
			fprintf(f, "\"type\": \"i64\", \"value\": %lld}", (long long)fl.i64);
			break;
		case VMT_FIELD_STR:
			fputs("\"type\": \"str\", \"value\": ", f);
			vmti_json_str(f, fl.data, fl.len);
			fputs("}", f);
			break;
		case VMT_FIELD_BYTES:
			fprintf(f, "\"type\": \"bytes\", \"len\": %zu, ", fl.len);
			json_hex(f, fl.data, fl.len);
			fputs("}", f);
			break;
		case VMT_FIELD_GROUP:
			fputs("\"type\": \"group\", \"fields\": ", f);
			ret = show_fields(f, &fl.group, level + 1);
			if (ret < 0)
				return ret;
			fputs("}", f);
			break;
		default:
			fprintf(f, "\"type\": \"unknown\", \"type_code\": %u, \"len\": %zu, ", fl.type,
				fl.len);
			json_hex(f, fl.data, fl.len);
			fputs("}", f);
			break;
		}
	}
	if (ret < 0)
		return ret;
	if (!first) {
		fputs("\n", f);
		indent(f, level);
	}
	fputs("]", f);
	return 0;
}

static int show(vmt_snap_reader *r, const char *path)
{
	unsigned major, minor;
	size_t n = vmt_snap_reader_count(r);

	vmt_snap_format_version(r, &major, &minor);
	printf("{\n  \"file\": ");
	vmti_json_str(stdout, path, strlen(path));
	printf(",\n  \"format\": {\"major\": %u, \"minor\": %u},\n  \"sections\": [", major, minor);
	for (size_t i = 0; i < n; i++) {
		struct vmt_snap_section s;

		if (vmt_snap_reader_section(r, i, &s) < 0)
			return -EBADMSG;
		printf("%s\n    {\"index\": %zu, \"name\": ", i ? "," : "", i);
		vmti_json_str(stdout, s.name, strlen(s.name));
		printf(", \"payload_version\": %u, \"offset\": %llu, \"size\": %llu,\n", s.payload_version,
		       (unsigned long long)s.offset, (unsigned long long)s.size);
		printf("     \"fields\": ");
		if (show_fields(stdout, &s.fields, 2) < 0)
			return -EBADMSG;
		printf("}");
	}
	printf("%s]\n}\n", n ? "\n  " : "");
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vmtime snapshot show FILE    print the snapshot as JSON\n"
		   "       vmtime snapshot check FILE   exit 0 if valid, 1 with the reason if not\n");
}

int cmd_snapshot(int argc, char **argv)
{
	struct vmt_error e = { 0 };
	vmt_snap_reader *r = NULL;
	int ret;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc != 3 || (strcmp(argv[1], "show") && strcmp(argv[1], "check"))) {
		usage(stderr);
		return 2;
	}
	ret = vmt_snap_reader_open(argv[2], &r, &e);
	if (ret < 0) {
		fprintf(stderr, "%s: invalid: %s (%s)\n", argv[2], e.msg, strerror(-ret));
		return 1;
	}
	if (!strcmp(argv[1], "check")) {
		unsigned major, minor;

		vmt_snap_format_version(r, &major, &minor);
		printf("%s: valid, format %u.%u, %zu sections\n", argv[2], major, minor,
		       vmt_snap_reader_count(r));
		vmt_snap_reader_free(r);
		return 0;
	}
	ret = show(r, argv[2]);
	vmt_snap_reader_free(r);
	if (ret < 0) {
		fprintf(stderr, "%s: cannot decode: %s\n", argv[2], strerror(-ret));
		return 1;
	}
	return 0;
}
