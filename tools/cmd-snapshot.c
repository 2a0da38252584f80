/* SPDX-License-Identifier: MIT */
/*
 * cmd-snapshot.c - `vmtime snapshot show|check|diff`.
 *
 * show prints every section and field, the library's own state (the vmtime
 * unit, ptimers, timer fds) with field names and human units, as text or
 * JSON; check validates and prints one line; diff compares two files
 * section by section and field by field.  An invalid file is reported with
 * the reader's message, which names the section and byte offset.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <vmtime/error.h>
#include <vmtime/snapshot.h>

#include "commands.h"
#include "json.h"
#include "snap-tree.h"

static const char *const show_help =
	"usage: vmtime snapshot show [--json] FILE\n\n"
	"Print every section of the snapshot FILE and every field in it.  The\n"
	"library's own state is decoded with field names and human units: the\n"
	"\"vmtime\" section (the VM clock), and every group (or section) laid out\n"
	"exactly as vmt_ptimer_save() or vmt_timerfd_save() writes it.  Other fields\n"
	"are shown by id and type; byte strings as hex, cut after 64 bytes.\n\n"
	"options:\n"
	"  --json      print one JSON object instead of text (default: text)\n"
	"  -h, --help  show this help\n\n"
	"exit status: 0 shown, 1 FILE is not a valid snapshot (the message names the\n"
	"section and byte offset), 2 usage error, 3 FILE cannot be read\n";

static const char *const check_help =
	"usage: vmtime snapshot check FILE\n\n"
	"Validate the snapshot FILE (magic, versions, every CRC, every field, the\n"
	"limits of docs/snapshot-format.md) and print one line.\n\n"
	"options:\n"
	"  -h, --help  show this help\n\n"
	"exit status: 0 valid, 1 invalid (the message names the section and byte\n"
	"offset), 2 usage error, 3 FILE cannot be read\n";

static const char *const diff_help =
	"usage: vmtime snapshot diff [--json] A B\n\n"
	"Show what changed from snapshot A to snapshot B: sections only in A (-),\n"
	"only in B (+), a changed payload version, and each field added, removed\n"
	"or changed (~), decoded as `vmtime snapshot show` decodes it.  Sections\n"
	"are paired by name, fields by id (the Nth of a repeated name or id with\n"
	"the Nth); a field inside a group is named by its id path, as 5/2.\n\n"
	"options:\n"
	"  --json      print one JSON object instead of text (default: text)\n"
	"  -h, --help  show this help\n\n"
	"exit status (as diff(1)): 0 the snapshots are equal, 1 they differ,\n"
	"2 usage error, 3 A or B cannot be read or is not a valid snapshot\n";

static const struct {
	const char *name;
	const char *const *help;
	const char *summary;
} subs[] = {
	{ "show", &show_help, "print a snapshot's sections and fields, decoded" },
	{ "check", &check_help, "validate a snapshot file" },
	{ "diff", &diff_help, "show what changed between two snapshots" },
};

#define NSUBS (sizeof(subs) / sizeof(subs[0]))

bool cmd_snapshot_help(FILE *f, const char *sub)
{
	if (sub) {
		for (size_t i = 0; i < NSUBS; i++) {
			if (!strcmp(sub, subs[i].name)) {
				fputs(*subs[i].help, f);
				return true;
			}
		}
		return false;
	}
	fprintf(f, "usage: vmtime snapshot SUBCOMMAND [OPTIONS] FILE...\n\nsubcommands:\n");
	for (size_t i = 0; i < NSUBS; i++)
		fprintf(f, "  %-6s %s\n", subs[i].name, subs[i].summary);
	fprintf(f, "\nEach takes -h/--help (also: vmtime help snapshot SUBCOMMAND).\n\n" CLI_EXIT_HELP);
	return true;
}

/* A file that is there but is not a valid snapshot is a failed check. */
static bool invalid_snapshot(int err)
{
	return err == -ENODATA || err == -EBADMSG || err == -EPROTONOSUPPORT || err == -E2BIG;
}

/* Loads @path or prints why not; returns 0 or the exit status. */
static int load(const char *cmd, const char *path, struct snap_file *f, int invalid_status)
{
	struct vmt_error e = { 0 };
	int r = snap_file_load(path, f, &e);

	if (r >= 0)
		return 0;
	if (invalid_snapshot(r))
		return cli_error(invalid_status, cmd, r, "%s: invalid: %s", path, e.msg);
	/* The reader's message would repeat libc's text: vmtime's is enough. */
	return cli_error(CLI_IO, cmd, r, "cannot read %s", path);
}

/*
 * Options and operands of a subcommand: --json, -h, then exactly @nfiles
 * paths ("--" ends the options, so a file may be named --help).
 */
static int parse(const char *cmd, const char *sub, int argc, char **argv, bool *json,
		 const char **files, int nfiles)
{
	int n = 0;
	bool opts = true;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts && cli_is_help(a)) {
			cmd_snapshot_help(stdout, sub);
			return -1;
		} else if (opts && json && !strcmp(a, "--json")) {
			*json = true;
		} else if (opts && !strcmp(a, "--")) {
			opts = false;
		} else if (opts && a[0] == '-' && a[1]) {
			return cli_usage(cmd, "unknown option '%s'", a);
		} else if (n == nfiles) {
			return cli_usage(cmd, "unexpected argument '%s'", a);
		} else {
			files[n++] = a;
		}
	}
	if (n < nfiles)
		return cli_usage(cmd, nfiles == 1 ? "FILE is missing" : "two files are needed: A B");
	return 0;
}

static void show_text(const struct snap_node *g, int level)
{
	for (size_t i = 0; i < g->nkids; i++) {
		const struct snap_node *n = &g->kids[i];
		const char *name = snap_node_name(n);

		printf("%*s%-4u %-16s ", 2 * level, "", n->id, name ? name : "");
		snap_type_text(stdout, n);
		fputs(n->type == VMT_FIELD_GROUP ? ": " : " = ", stdout);
		snap_value_text(stdout, n);
		fputc('\n', stdout);
		if (n->type == VMT_FIELD_GROUP)
			show_text(n, level + 1);
	}
}

static void show(const struct snap_file *f, const char *path, bool json)
{
	if (!json) {
		printf("%s: snapshot format %u.%u, %zu section%s\n", path, f->major, f->minor, f->n,
		       f->n == 1 ? "" : "s");
		for (size_t i = 0; i < f->n; i++) {
			const struct snap_sec *s = &f->secs[i];

			printf("\nsection %zu ", i);
			vmti_json_cstr(stdout, s->name);
			printf(": payload version %u, %" PRIu64 " bytes at offset %" PRIu64 "%s%s\n",
			       s->payload_version, s->size, s->offset, s->root.schema ? ", decoded as " : "",
			       s->root.schema ? s->root.schema->name : "");
			show_text(&s->root, 1);
		}
		return;
	}
	printf("{\n  \"file\": ");
	vmti_json_cstr(stdout, path);
	printf(",\n  \"format\": {\"major\": %u, \"minor\": %u},\n  \"sections\": [", f->major,
	       f->minor);
	for (size_t i = 0; i < f->n; i++) {
		const struct snap_sec *s = &f->secs[i];

		printf("%s\n    {\"index\": %zu, \"name\": ", i ? "," : "", i);
		vmti_json_cstr(stdout, s->name);
		printf(", \"payload_version\": %u, \"offset\": %" PRIu64 ", \"size\": %" PRIu64 ",\n",
		       s->payload_version, s->offset, s->size);
		printf("     \"decoded_as\": ");
		vmti_json_cstr(stdout, s->root.schema ? s->root.schema->name : NULL);
		printf(", \"fields\": ");
		snap_fields_json(stdout, &s->root, 2);
		printf("}");
	}
	printf("%s]\n}\n", f->n ? "\n  " : "");
}

/* ---- diff ---- */

struct diff {
	bool json;
	size_t changes;
	const char *sec;
	uint32_t path[VMT_FIELDS_MAX_DEPTH + 1];
	int depth;
};

static void change_begin(struct diff *d, const char *kind)
{
	if (d->json) {
		printf("%s\n    {\"change\": \"%s\", \"section\": ", d->changes ? "," : "", kind);
		vmti_json_cstr(stdout, d->sec);
	} else {
		printf("%s section ", !strcmp(kind, "added") ? "+" : !strcmp(kind, "removed") ? "-" : "~");
		vmti_json_cstr(stdout, d->sec);
	}
	d->changes++;
}

static void change_path(struct diff *d, const struct snap_node *n)
{
	const char *name = snap_node_name(n);

	if (d->json) {
		fputs(", \"path\": [", stdout);
		for (int i = 0; i < d->depth; i++)
			printf("%s%u", i ? ", " : "", d->path[i]);
		fputs("]", stdout);
		if (name) {
			fputs(", \"name\": ", stdout);
			vmti_json_cstr(stdout, name);
		}
		return;
	}
	fputs(": field ", stdout);
	for (int i = 0; i < d->depth; i++)
		printf("%s%u", i ? "/" : "", d->path[i]);
	if (name)
		printf(" %s", name);
}

static void change_value(struct diff *d, const char *key, const struct snap_node *n,
			 bool with_type)
{
	if (d->json) {
		printf(", \"%s\": ", key);
		snap_node_json(stdout, n, -1);
		return;
	}
	if (with_type && n->type != VMT_FIELD_GROUP) {
		snap_type_text(stdout, n);
		fputc(' ', stdout);
	}
	snap_value_text(stdout, n);
}

static void change_end(struct diff *d)
{
	fputs(d->json ? "}" : "\n", stdout);
}

static void field_one_side(struct diff *d, const struct snap_node *n, bool added)
{
	change_begin(d, added ? "added" : "removed");
	change_path(d, n);
	if (!d->json)
		fputs(added ? ": + " : ": - ", stdout);
	change_value(d, added ? "new" : "old", n, true);
	change_end(d);
}

/* The index of the @nth field with @id in @g, or -1. */
static long nth_field(const struct snap_node *g, uint32_t id, size_t nth)
{
	for (size_t i = 0; i < g->nkids; i++)
		if (g->kids[i].id == id && nth-- == 0)
			return (long)i;
	return -1;
}

static size_t occurrence(const struct snap_node *g, size_t i)
{
	size_t k = 0;

	for (size_t j = 0; j < i; j++)
		k += g->kids[j].id == g->kids[i].id;
	return k;
}

static bool same_value(const struct snap_node *a, const struct snap_node *b)
{
	switch (a->type) {
	case VMT_FIELD_U64:
		return a->u64 == b->u64;
	case VMT_FIELD_I64:
		return a->i64 == b->i64;
	default:
		return a->len == b->len && (!a->len || !memcmp(a->data, b->data, a->len));
	}
}

static void diff_fields(struct diff *d, const struct snap_node *a, const struct snap_node *b)
{
	/* Every field of A: changed, removed or the same; then B's new ones. */
	for (size_t i = 0; i < a->nkids; i++) {
		const struct snap_node *fa = &a->kids[i];
		long j = nth_field(b, fa->id, occurrence(a, i));

		d->path[d->depth++] = fa->id;
		if (j < 0) {
			field_one_side(d, fa, false);
		} else if (fa->type == VMT_FIELD_GROUP && b->kids[j].type == VMT_FIELD_GROUP) {
			diff_fields(d, fa, &b->kids[j]);
		} else if (fa->type != b->kids[j].type || !same_value(fa, &b->kids[j])) {
			bool typed = fa->type != b->kids[j].type;

			change_begin(d, "changed");
			change_path(d, fa->desc ? fa : &b->kids[j]);
			if (!d->json)
				fputs(": ", stdout);
			change_value(d, "old", fa, typed);
			if (!d->json)
				fputs(" -> ", stdout);
			change_value(d, "new", &b->kids[j], typed);
			change_end(d);
		}
		d->depth--;
	}
	for (size_t j = 0; j < b->nkids; j++) {
		if (nth_field(a, b->kids[j].id, occurrence(b, j)) >= 0)
			continue;
		d->path[d->depth++] = b->kids[j].id;
		field_one_side(d, &b->kids[j], true);
		d->depth--;
	}
}

static long nth_section(const struct snap_file *f, const char *name, size_t nth)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->secs[i].name, name) && nth-- == 0)
			return (long)i;
	return -1;
}

static size_t sec_occurrence(const struct snap_file *f, size_t i)
{
	size_t k = 0;

	for (size_t j = 0; j < i; j++)
		k += !strcmp(f->secs[j].name, f->secs[i].name);
	return k;
}

static void section_one_side(struct diff *d, const struct snap_sec *s, bool added)
{
	d->sec = s->name;
	change_begin(d, added ? "added" : "removed");
	if (d->json)
		printf(", \"payload_version\": %u, \"fields\": %zu", s->payload_version, s->root.nkids);
	else
		printf(" (payload version %u, %zu field%s)", s->payload_version, s->root.nkids,
		       s->root.nkids == 1 ? "" : "s");
	change_end(d);
}

static size_t diff(const struct snap_file *a, const struct snap_file *b, const char *pa,
		   const char *pb, bool json)
{
	struct diff d = { .json = json };

	if (json) {
		printf("{\"a\": ");
		vmti_json_cstr(stdout, pa);
		printf(", \"b\": ");
		vmti_json_cstr(stdout, pb);
		printf(", \"changes\": [");
	} else {
		printf("--- %s\n+++ %s\n", pa, pb);
	}
	for (size_t i = 0; i < a->n; i++) {
		const struct snap_sec *sa = &a->secs[i];
		long j = nth_section(b, sa->name, sec_occurrence(a, i));

		if (j < 0) {
			section_one_side(&d, sa, false);
			continue;
		}
		d.sec = sa->name;
		if (sa->payload_version != b->secs[j].payload_version) {
			change_begin(&d, "payload_version");
			printf(json ? ", \"old\": %u, \"new\": %u" : ": payload version %u -> %u",
			       sa->payload_version, b->secs[j].payload_version);
			change_end(&d);
		}
		diff_fields(&d, &sa->root, &b->secs[j].root);
	}
	for (size_t j = 0; j < b->n; j++)
		if (nth_section(a, b->secs[j].name, sec_occurrence(b, j)) < 0)
			section_one_side(&d, &b->secs[j], true);
	if (json)
		printf("%s], \"equal\": %s}\n", d.changes ? "\n  " : "", d.changes ? "false" : "true");
	else if (!d.changes)
		printf("no differences\n");
	return d.changes;
}

static int run(const char *sub, int argc, char **argv)
{
	char cmd[32];
	struct snap_file fa, fb;
	const char *files[2];
	bool json = false;
	int r;

	snprintf(cmd, sizeof(cmd), "snapshot %s", sub);
	r = parse(cmd, sub, argc, argv, strcmp(sub, "check") ? &json : NULL, files,
		  strcmp(sub, "diff") ? 1 : 2);
	if (r)
		return r < 0 ? CLI_OK : r;
	if (!strcmp(sub, "diff")) {
		r = load(cmd, files[0], &fa, CLI_IO);
		if (r)
			return r;
		r = load(cmd, files[1], &fb, CLI_IO);
		if (r) {
			snap_file_free(&fa);
			return r;
		}
		r = diff(&fa, &fb, files[0], files[1], json) ? CLI_FAIL : CLI_OK;
		snap_file_free(&fb);
	} else {
		r = load(cmd, files[0], &fa, CLI_FAIL);
		if (r)
			return r;
		if (!strcmp(sub, "show"))
			show(&fa, files[0], json);
		else
			printf("%s: valid, format %u.%u, %zu sections\n", files[0], fa.major, fa.minor,
			       fa.n);
	}
	snap_file_free(&fa);
	if (fflush(stdout) != 0)
		return cli_error(CLI_IO, cmd, -EIO, "writing the output failed");
	return r;
}

int cmd_snapshot(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("snapshot", "a subcommand is needed: show, check or diff");
	if (cli_is_help(argv[1])) {
		cmd_snapshot_help(stdout, NULL);
		return CLI_OK;
	}
	for (size_t i = 0; i < NSUBS; i++)
		if (!strcmp(argv[1], subs[i].name))
			return run(subs[i].name, argc - 1, argv + 1);
	return cli_usage("snapshot", "unknown subcommand '%s'", argv[1]);
}
