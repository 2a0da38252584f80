/* SPDX-License-Identifier: MIT */
/*
 * vmtime/snapshot.h - the on-disk container for the saved state of a VM.
 *
 * A snapshot is one file holding one section per unit (VM component): the
 * unit's name, the version of its payload and the payload itself, written as
 * tagged fields (field id + type + length) so a unit's saved state can grow
 * without breaking older readers.  The byte layout is specified in
 * docs/snapshot-format.md.
 *
 * Guarantees:
 *  - Saving is atomic: the file at the path is, at every moment and after a
 *    crash or power loss at any point, either the previous file or the
 *    complete new one (temporary file in the same directory, fsync, rename,
 *    fsync of the directory).  A failed save leaves the previous file intact
 *    and no temporary file behind.
 *  - Reading treats the bytes as hostile: every length is checked against the
 *    bytes that remain before it is used, nothing is allocated on the word of
 *    a length field, and each kind of damage has its own errno (truncation
 *    -ENODATA, corruption or bad CRC -EBADMSG, unknown format version
 *    -EPROTONOSUPPORT, a count or size over a limit -E2BIG) with a message
 *    naming the section and the byte offset.  Opening validates the whole
 *    file, payload structure included, so later field accesses only fail for
 *    a missing field (-ENOENT) or a field of another type (-EBADMSG).
 *  - Fields a reader does not know (unknown ids, unknown types) are skipped;
 *    a file of an unknown major format version is refused.
 *
 * Threads: a writer or reader object is used by one thread at a time.  Distinct
 * objects are independent, so units can save concurrently, each into its own
 * standalone fields writer (vmt_fields_writer_new()), added to the snapshot
 * afterwards with vmt_snap_writer_add().  Readers are read-only after open:
 * any number of threads may read fields of one open snapshot concurrently,
 * each with its own vmt_fields_reader.
 */
#ifndef VMTIME_SNAPSHOT_H
#define VMTIME_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

VMT_BEGIN_DECLS

/* Format version written by this library; files of another major are refused. */
#define VMT_SNAP_FORMAT_MAJOR 1
#define VMT_SNAP_FORMAT_MINOR 0

/* Limits (docs/snapshot-format.md, "Limits"). */
#define VMT_SNAP_NAME_MAX 255u		/* bytes in a unit name */
#define VMT_SNAP_MAX_SECTIONS 65536u	/* sections in one file */
#define VMT_SNAP_MAX_PAYLOAD (1ull << 30) /* bytes in one section's payload */
#define VMT_FIELDS_MAX_DEPTH 16u	/* nesting of groups inside a payload */
#define VMT_SNAP_MAX_FILE (1ull << 36)	/* bytes in one file (64 GiB) */

/**
 * enum vmt_field_type - the type of a tagged field.
 * @VMT_FIELD_U64: unsigned 64-bit integer.
 * @VMT_FIELD_I64: signed 64-bit integer.
 * @VMT_FIELD_BYTES: a byte string (may be empty).
 * @VMT_FIELD_STR: a NUL-free string.
 * @VMT_FIELD_GROUP: a nested sequence of fields with its own id space.
 *
 * A reader meets other values in files written by newer versions; it skips
 * them (vmt_fields_next() reports them with their raw bytes).
 */
enum vmt_field_type {
	VMT_FIELD_U64 = 1,
	VMT_FIELD_I64 = 2,
	VMT_FIELD_BYTES = 3,
	VMT_FIELD_STR = 4,
	VMT_FIELD_GROUP = 5,
};

/** typedef vmt_fields_writer - builds one unit payload (opaque). */
typedef struct vmt_fields_writer vmt_fields_writer;

/** typedef vmt_snap_writer - builds a snapshot in memory, then saves it (opaque). */
typedef struct vmt_snap_writer vmt_snap_writer;

/** typedef vmt_snap_reader - an open, fully validated snapshot (opaque). */
typedef struct vmt_snap_reader vmt_snap_reader;

/**
 * typedef vmt_fields_reader - a cursor over one payload or group.
 *
 * A small value the caller owns (declare it on the stack); its members are
 * private.  It points into memory owned by the vmt_snap_reader (or the buffer
 * given to vmt_fields_reader_init()) and is valid as long as that memory is.
 * Copying it copies the cursor.
 */
typedef struct vmt_fields_reader {
	const uint8_t *priv_data;
	size_t priv_len;
	size_t priv_pos;
	unsigned priv_depth;
} vmt_fields_reader;

/**
 * struct vmt_field - one field, as returned by vmt_fields_next().
 * @id: the field id.
 * @type: an enum vmt_field_type value, or an unknown type number.
 * @u64: the value of a VMT_FIELD_U64 field.
 * @i64: the value of a VMT_FIELD_I64 field.
 * @data: the raw value bytes (for every type; for VMT_FIELD_STR a
 *	NUL-terminated string, the NUL not counted in @len).
 * @len: number of bytes at @data.
 * @group: for VMT_FIELD_GROUP, a reader over the group's fields.
 * @offset: byte offset of the field's header within the payload.
 */
struct vmt_field {
	uint32_t id;
	uint32_t type;
	uint64_t u64;
	int64_t i64;
	const void *data;
	size_t len;
	vmt_fields_reader group;
	size_t offset;
};

/*
 * Fields writer.
 *
 * Errors are sticky: after the first failure every later call on the writer
 * (and vmt_snap_writer_save*() for a writer obtained from a snapshot writer)
 * returns the same errno, so a unit's save function may check only its last
 * call.
 */

/**
 * vmt_fields_writer_new() - create a standalone fields writer.
 * @ret: receives the writer.
 *
 * A standalone writer collects a payload in its own buffer, so units can save
 * on different threads at once; vmt_snap_writer_add() copies it into a
 * snapshot.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @ret, -ENOMEM.
 */
VMT_EXPORT int vmt_fields_writer_new(vmt_fields_writer **ret);

/**
 * vmt_fields_writer_free() - free a standalone fields writer.
 * @w: the writer, or NULL; a writer returned by vmt_snap_writer_section() is
 *	owned by its snapshot writer and is left alone.
 *
 * Context: the thread using @w.
 * Return: NULL.
 */
VMT_EXPORT vmt_fields_writer *vmt_fields_writer_free(vmt_fields_writer *w);

/**
 * vmt_fields_writer_reset() - empty a standalone writer for reuse.
 * @w: the writer; its sticky error is cleared too.
 *
 * Context: the thread using @w.
 * Return: 0, -EINVAL for a NULL @w or a writer owned by a snapshot writer.
 */
VMT_EXPORT int vmt_fields_writer_reset(vmt_fields_writer *w);

/**
 * vmt_fields_put_u64() - append an unsigned integer field.
 * @w: the writer.
 * @id: the field id (any value; unique within its group by convention, a
 *	reader returns the first field with an id).
 * @v: the value.
 *
 * Context: the thread using @w.
 * Return: 0, -EINVAL for a NULL @w, -E2BIG if the payload would exceed
 * VMT_SNAP_MAX_PAYLOAD, -ENOMEM, -EBUSY if the writer was closed (its section
 * ended or the snapshot was saved), or an earlier sticky error.
 */
VMT_EXPORT int vmt_fields_put_u64(vmt_fields_writer *w, uint32_t id, uint64_t v);

/**
 * vmt_fields_put_i64() - append a signed integer field.
 * @w: the writer.
 * @id: the field id.
 * @v: the value.
 *
 * Context: the thread using @w.
 * Return: as vmt_fields_put_u64().
 */
VMT_EXPORT int vmt_fields_put_i64(vmt_fields_writer *w, uint32_t id, int64_t v);

/**
 * vmt_fields_put_bytes() - append a byte-string field.
 * @w: the writer.
 * @id: the field id.
 * @p: the bytes (may be NULL if @n is 0).
 * @n: their number.
 *
 * Context: the thread using @w.
 * Return: as vmt_fields_put_u64(); -EINVAL also for a NULL @p with @n > 0.
 */
VMT_EXPORT int vmt_fields_put_bytes(vmt_fields_writer *w, uint32_t id, const void *p, size_t n);

/**
 * vmt_fields_put_str() - append a string field.
 * @w: the writer.
 * @id: the field id.
 * @s: a NUL-terminated string.
 *
 * Context: the thread using @w.
 * Return: as vmt_fields_put_u64(); -EINVAL also for a NULL @s.
 */
VMT_EXPORT int vmt_fields_put_str(vmt_fields_writer *w, uint32_t id, const char *s);

/**
 * vmt_fields_begin_group() - open a nested group; later fields go inside it.
 * @w: the writer.
 * @id: the group's field id.
 *
 * Context: the thread using @w.
 * Return: as vmt_fields_put_u64(); -E2BIG also if groups would nest deeper
 * than VMT_FIELDS_MAX_DEPTH.
 */
VMT_EXPORT int vmt_fields_begin_group(vmt_fields_writer *w, uint32_t id);

/**
 * vmt_fields_end_group() - close the innermost open group.
 * @w: the writer.
 *
 * Every group must be closed before the section ends (the next
 * vmt_snap_writer_section(), vmt_snap_writer_add() of this writer, or a save).
 *
 * Context: the thread using @w.
 * Return: 0, -EINVAL for a NULL @w or if no group is open, -EBUSY if the
 * writer was closed, or an earlier sticky error.
 */
VMT_EXPORT int vmt_fields_end_group(vmt_fields_writer *w);

/**
 * vmt_fields_writer_size() - bytes of payload written so far.
 * @w: the writer.
 *
 * Lets a caller tell a unit that saved nothing (size 0) from one that saved.
 *
 * Context: the thread using @w.
 * Return: the size, 0 for a NULL @w.
 */
VMT_EXPORT size_t vmt_fields_writer_size(const vmt_fields_writer *w);

/**
 * vmt_fields_writer_error() - the sticky error of a writer.
 * @w: the writer.
 *
 * Context: the thread using @w.
 * Return: 0 if every call so far succeeded, the first failure's errno
 * otherwise, -EINVAL for a NULL @w.
 */
VMT_EXPORT int vmt_fields_writer_error(const vmt_fields_writer *w);

/*
 * Fields reader.
 */

/**
 * vmt_fields_reader_init() - validate a raw payload and point a reader at it.
 * @r: the reader to fill.
 * @data: the payload bytes (kept, not copied; may be NULL if @len is 0).
 * @len: their number.
 *
 * Readers of snapshot sections come from vmt_snap_reader_section(); this is
 * for payloads held elsewhere (and for the fuzzer).
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @r (or NULL @data with @len > 0), -E2BIG if
 * @len exceeds VMT_SNAP_MAX_PAYLOAD or groups nest deeper than
 * VMT_FIELDS_MAX_DEPTH, -EBADMSG for a malformed field (one running past the
 * end of its payload or group, an integer not 8 bytes long, a string holding
 * a NUL or missing its terminating NUL).
 */
VMT_EXPORT int vmt_fields_reader_init(vmt_fields_reader *r, const void *data, size_t len);

/**
 * vmt_fields_get_u64() - read the unsigned integer field @id.
 * @r: the reader (its iteration cursor is not used or moved).
 * @id: the field id; the first field with that id counts.
 * @v: receives the value.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, -ENOENT if there is no field @id,
 * -EBADMSG if it has another type.
 */
VMT_EXPORT int vmt_fields_get_u64(const vmt_fields_reader *r, uint32_t id, uint64_t *v);

/**
 * vmt_fields_get_i64() - read the signed integer field @id.
 * @r: the reader.
 * @id: the field id.
 * @v: receives the value.
 *
 * Context: any thread.
 * Return: as vmt_fields_get_u64().
 */
VMT_EXPORT int vmt_fields_get_i64(const vmt_fields_reader *r, uint32_t id, int64_t *v);

/**
 * vmt_fields_get_bytes() - read the byte-string field @id.
 * @r: the reader.
 * @id: the field id.
 * @p: receives a pointer to the bytes (inside the snapshot, not copied).
 * @n: receives their number.
 *
 * Context: any thread.
 * Return: as vmt_fields_get_u64().
 */
VMT_EXPORT int vmt_fields_get_bytes(const vmt_fields_reader *r, uint32_t id, const void **p,
				    size_t *n);

/**
 * vmt_fields_get_str() - read the string field @id.
 * @r: the reader.
 * @id: the field id.
 * @s: receives the NUL-terminated string (inside the snapshot, not copied).
 *
 * Context: any thread.
 * Return: as vmt_fields_get_u64().
 */
VMT_EXPORT int vmt_fields_get_str(const vmt_fields_reader *r, uint32_t id, const char **s);

/**
 * vmt_fields_get_group() - open the group field @id.
 * @r: the reader.
 * @id: the field id.
 * @sub: receives a reader over the group's fields.
 *
 * Context: any thread.
 * Return: as vmt_fields_get_u64().
 */
VMT_EXPORT int vmt_fields_get_group(const vmt_fields_reader *r, uint32_t id,
				    vmt_fields_reader *sub);

/**
 * vmt_fields_next() - iterate: the field at the cursor, then advance.
 * @r: the reader.
 * @f: receives the field.
 *
 * Fields come in file order, unknown types included.
 *
 * Context: any thread.
 * Return: 1 and a field in @f, 0 at the end, -EINVAL for a NULL argument,
 * -EBADMSG if the cursor does not point at a well-formed field (only possible
 * for a reader whose private members were changed by hand).
 */
VMT_EXPORT int vmt_fields_next(vmt_fields_reader *r, struct vmt_field *f);

/**
 * vmt_fields_rewind() - move the iteration cursor back to the first field.
 * @r: the reader.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @r.
 */
VMT_EXPORT int vmt_fields_rewind(vmt_fields_reader *r);

/*
 * Snapshot writer.
 */

/**
 * vmt_snap_writer_new() - start an empty snapshot in memory.
 * @ret: receives the writer.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @ret, -ENOMEM.
 */
VMT_EXPORT int vmt_snap_writer_new(vmt_snap_writer **ret);

/**
 * vmt_snap_writer_free() - free a snapshot writer and its section writer.
 * @w: the writer, or NULL.
 *
 * Context: the thread using @w.
 * Return: NULL.
 */
VMT_EXPORT vmt_snap_writer *vmt_snap_writer_free(vmt_snap_writer *w);

/**
 * vmt_snap_writer_section() - start the next section and get its fields writer.
 * @w: the snapshot writer.
 * @unit_name: the unit's name: 1 to VMT_SNAP_NAME_MAX bytes of well-formed
 *	UTF-8 without control characters.  Names are not required to be
 *	unique here (the units engine checks that on restore).
 * @payload_version: the version of the unit's payload layout, stored as is.
 * @fw: receives the section's fields writer, owned by @w and valid until the
 *	next vmt_snap_writer_section(), vmt_snap_writer_add(), discard or save.
 *
 * Writes straight into the snapshot's buffer: no copy.  Ends the previous
 * section (its groups must be closed).
 *
 * Context: the thread using @w.
 * Return: 0, -EINVAL for a NULL argument or a name with a control character
 * or that is not well-formed UTF-8, or if the previous section still has a group open (sticky: the snapshot
 * can no longer be saved), -ENAMETOOLONG for a name longer than
 * VMT_SNAP_NAME_MAX (or empty: -EINVAL), -E2BIG past VMT_SNAP_MAX_SECTIONS
 * sections, -EBUSY after a save, -ENOMEM, or an earlier sticky error of this
 * writer or of a section's fields writer.
 */
VMT_EXPORT int vmt_snap_writer_section(vmt_snap_writer *w, const char *unit_name,
				       uint32_t payload_version, vmt_fields_writer **fw);

/**
 * vmt_snap_writer_discard_section() - drop the section being written.
 * @w: the snapshot writer.
 *
 * For a unit whose save failed, or that turned out to have nothing to save.
 * Clears a sticky error raised by that section's fields writer.
 *
 * Context: the thread using @w.
 * Return: 0, -EINVAL for a NULL @w, -ENOENT if no section is open, -EBUSY
 * after a save.
 */
VMT_EXPORT int vmt_snap_writer_discard_section(vmt_snap_writer *w);

/**
 * vmt_snap_writer_add() - append a section whose payload is a standalone writer's.
 * @w: the snapshot writer.
 * @unit_name: as for vmt_snap_writer_section().
 * @payload_version: as for vmt_snap_writer_section().
 * @fw: a standalone fields writer (vmt_fields_writer_new()); its payload is
 *	copied and it stays usable.
 *
 * Context: the thread using @w; @fw must not be written concurrently.
 * Return: as vmt_snap_writer_section(); -EINVAL also if @fw has an open group
 * or is owned by a snapshot writer; @fw's sticky error if it has one.
 */
VMT_EXPORT int vmt_snap_writer_add(vmt_snap_writer *w, const char *unit_name,
				   uint32_t payload_version, const vmt_fields_writer *fw);

/**
 * vmt_snap_writer_save() - write the snapshot to @path atomically.
 * @w: the snapshot writer.
 * @path: destination file; its directory must exist.
 * @err: optional; receives the errno and a message naming the failing step.
 *
 * Seals the writer (no more sections) on first call; may be called again to
 * save the same snapshot elsewhere.  Writes a temporary file next to @path,
 * fsyncs it, renames it over @path and fsyncs the directory.  On any failure
 * the previous file at @path is intact and the temporary file is removed,
 * except when only the final fsync of the directory fails: the new file is
 * then in place but may not survive a power loss.  The new file's mode is
 * 0666 minus the umask.  A process killed during the save can leave a
 * temporary file "@path.tmp-PID-N" behind, never a damaged @path.
 *
 * Context: the thread using @w; blocks on disk I/O.
 * Return: 0, -EINVAL for a NULL @w, a NULL or empty @path or an unclosed
 * group, -E2BIG if the file would exceed VMT_SNAP_MAX_FILE, -EEXIST if 100
 * temporary names in a row are taken, the negative errno of the failing
 * system call (-ENOENT for a missing directory, -EACCES, -ENOSPC, -EFBIG,
 * -EIO, -EISDIR, ...), -ENOMEM, or an earlier sticky error.
 */
VMT_EXPORT int vmt_snap_writer_save(vmt_snap_writer *w, const char *path, struct vmt_error *err);

/**
 * vmt_snap_writer_save_buffer() - the snapshot's bytes, in memory.
 * @w: the snapshot writer.
 * @buf: receives a pointer to the complete file image, owned by @w and valid
 *	until vmt_snap_writer_free() (no copy is made).
 * @len: receives its size.
 * @err: optional error message.
 *
 * Seals the writer as vmt_snap_writer_save() does.
 *
 * Context: the thread using @w.
 * Return: 0, -EINVAL for a NULL argument or an unclosed group, -E2BIG if the
 * file would exceed VMT_SNAP_MAX_FILE, -ENOMEM, or an earlier sticky error.
 */
VMT_EXPORT int vmt_snap_writer_save_buffer(vmt_snap_writer *w, const void **buf, size_t *len,
					   struct vmt_error *err);

/*
 * Snapshot reader.
 */

/**
 * struct vmt_snap_section - one section of an open snapshot.
 * @name: the unit name, NUL-terminated (owned by the reader).
 * @payload_version: the unit's payload version.
 * @size: payload size in bytes.
 * @offset: byte offset of the section header in the file.
 * @fields: a reader over the payload's fields.
 */
struct vmt_snap_section {
	const char *name;
	uint32_t payload_version;
	uint64_t size;
	uint64_t offset;
	vmt_fields_reader fields;
};

/**
 * vmt_snap_reader_open() - read and validate a snapshot file.
 * @path: the file.
 * @ret: receives the reader.
 * @err: optional; receives the errno and a message naming the section (index
 *	and, once known, name) and the byte offset of the damage.
 *
 * Context: any thread; blocks on disk I/O.
 * Return: 0, -EINVAL for a NULL @path or @ret or a path that is not a
 * regular file, the negative errno of open(2), fstat(2) or read(2) (-ENOENT,
 * -EACCES, ...), -ENODATA if the file is truncated,
 * -EBADMSG if it is corrupt (bad magic, bad CRC, malformed field, a unit
 * name that is not well-formed UTF-8 or has a control character, trailing
 * bytes), -EPROTONOSUPPORT for an unknown major format version, -E2BIG for a
 * count or length over a limit, -ENOMEM.
 */
VMT_EXPORT int vmt_snap_reader_open(const char *path, vmt_snap_reader **ret, struct vmt_error *err);

/**
 * vmt_snap_reader_from_buffer() - validate a snapshot held in memory.
 * @buf: the bytes; not copied, they must outlive the reader.
 * @len: their number.
 * @ret: receives the reader.
 * @err: optional error message.
 *
 * Context: any thread.
 * Return: as vmt_snap_reader_open() without the system-call errors; -EINVAL
 * also for a NULL @buf.
 */
VMT_EXPORT int vmt_snap_reader_from_buffer(const void *buf, size_t len, vmt_snap_reader **ret,
					   struct vmt_error *err);

/**
 * vmt_snap_reader_free() - close a snapshot; its field readers become invalid.
 * @r: the reader, or NULL.
 *
 * Context: any thread, once no other thread uses @r.
 * Return: NULL.
 */
VMT_EXPORT vmt_snap_reader *vmt_snap_reader_free(vmt_snap_reader *r);

/**
 * vmt_snap_reader_count() - number of sections.
 * @r: the reader.
 *
 * Context: any thread.
 * Return: the count, 0 for a NULL @r.
 */
VMT_EXPORT size_t vmt_snap_reader_count(const vmt_snap_reader *r);

/**
 * vmt_snap_reader_section() - describe section @index.
 * @r: the reader.
 * @index: 0 to vmt_snap_reader_count() - 1, in file order.
 * @s: receives the section (its fields reader starts at the first field).
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, -ENOENT for an index past the end.
 */
VMT_EXPORT int vmt_snap_reader_section(const vmt_snap_reader *r, size_t index,
				       struct vmt_snap_section *s);

/**
 * vmt_snap_reader_find() - find the first section of the unit @name.
 * @r: the reader.
 * @name: the unit name.
 * @s: receives the section.
 *
 * Context: any thread.
 * Return: the section's index (>= 0), -EINVAL for a NULL argument, -ENOENT if
 * no section has that name.
 */
VMT_EXPORT int vmt_snap_reader_find(const vmt_snap_reader *r, const char *name,
				    struct vmt_snap_section *s);

/**
 * vmt_snap_format_version() - the format version of an open snapshot.
 * @r: the reader.
 * @major: receives the major version (optional).
 * @minor: receives the minor version (optional).
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @r.
 */
VMT_EXPORT int vmt_snap_format_version(const vmt_snap_reader *r, unsigned *major, unsigned *minor);

VMT_END_DECLS

#endif /* VMTIME_SNAPSHOT_H */
