/* SPDX-License-Identifier: MIT */
/*
 * tools/snap-tree.h - a snapshot file as a tree of fields, with the
 * library's own state decoded (field names, human units), for
 * `vmtime snapshot show` and `vmtime snapshot diff`.
 */
#ifndef VMT_TOOLS_SNAP_TREE_H
#define VMT_TOOLS_SNAP_TREE_H

#include <stdint.h>
#include <stdio.h>

#include <vmtime/snapshot.h>

struct snap_desc;

/* A layout the library writes: the vmtime unit, a ptimer, a timer fd. */
struct snap_schema {
	const char *name;
	const struct snap_desc *fields;
	size_t n;
};

/* One field; a group's fields are its kids.  A section is a root group. */
struct snap_node {
	uint32_t id, type;
	uint64_t u64;
	int64_t i64;
	const uint8_t *data;
	size_t len;
	struct snap_node *kids;
	size_t nkids;
	const struct snap_schema *schema; /* a group decoded as a known layout */
	const struct snap_desc *desc;     /* this field in its parent's layout */
};

struct snap_sec {
	const char *name;
	uint32_t payload_version;
	uint64_t offset, size;
	struct snap_node root;
};

struct snap_file {
	vmt_snap_reader *r;
	unsigned major, minor;
	struct snap_sec *secs;
	size_t n;
};

/*
 * snap_file_load() - read, validate and decode @path.  Returns 0 or the
 * reader's negative errno (@e says where the file is damaged).
 */
int snap_file_load(const char *path, struct snap_file *f, struct vmt_error *e);
void snap_file_free(struct snap_file *f);

/* The field's name in its layout, or NULL. */
const char *snap_node_name(const struct snap_node *n);

/* The value as text: `5 (1.500000000 s)`, `"str"`, `3 bytes: 00ff10`, `2 fields, ptimer`. */
void snap_value_text(FILE *out, const struct snap_node *n);

/* The type name: u64, i64, str, bytes, group, or "type N". */
void snap_type_text(FILE *out, const struct snap_node *n);

/*
 * snap_node_json() - the field as one JSON object: id, type, value (with
 * name, unit and text when decoded), a group's fields recursively.  @level
 * is the indentation of nested fields, or -1 to print it on one line.
 */
void snap_node_json(FILE *out, const struct snap_node *n, int level);

/* The fields of a group or section as a JSON array (as snap_node_json()). */
void snap_fields_json(FILE *out, const struct snap_node *group, int level);

#endif
