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
#include <stdlib.h>
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

/*
 * Pairing: the Nth element of A with a key (a field id, a section name) goes
 * with the Nth of B with that key.  Both sides are sorted by (key, index),
 * so a file with many repeated ids costs O(n log n), not O(n^2).
 */
struct ref {
	uint32_t id;
	const char *name; /* sections; NULL for fields */
	size_t idx;
};

struct pairing {
	long *a_to_b;	/* A's element i goes with B's a_to_b[i], or -1 */
	bool *b_paired; /* B's element j has a partner in A */
};

static int key_cmp(const struct ref *a, const struct ref *b)
{
	if (a->name)
		return strcmp(a->name, b->name);
	return (a->id > b->id) - (a->id < b->id);
}

static int ref_cmp(const void *x, const void *y)
{
	const struct ref *a = x, *b = y;
	int c = key_cmp(a, b);

	return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

/* Consumes @ra and @rb (sorted in place); *@p is freed with free(p->a_to_b). */
static int pair_up(struct ref *ra, size_t na, struct ref *rb, size_t nb, struct pairing *p)
{
	size_t i = 0, j = 0;
	char *mem = malloc(na * sizeof(long) + nb * sizeof(bool) + 1);

	if (!mem)
		return -ENOMEM;
	p->a_to_b = (long *)(void *)mem;
	p->b_paired = (bool *)(mem + na * sizeof(long));
	for (size_t k = 0; k < na; k++)
		p->a_to_b[k] = -1;
	memset(p->b_paired, 0, nb * sizeof(bool));
	qsort(ra, na, sizeof(*ra), ref_cmp);
	qsort(rb, nb, sizeof(*rb), ref_cmp);
	while (i < na && j < nb) {
		int c = key_cmp(&ra[i], &rb[j]);

		if (c < 0) {
			i++;
		} else if (c > 0) {
			j++;
		} else {
			p->a_to_b[ra[i].idx] = (long)rb[j].idx;
			p->b_paired[rb[j].idx] = true;
			i++;
			j++;
		}
	}
	return 0;
}

static int pair_fields(const struct snap_node *a, const struct snap_node *b, struct pairing *p)
{
	struct ref *r = malloc((a->nkids + b->nkids + 1) * sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < a->nkids; i++)
		r[i] = (struct ref){ a->kids[i].id, NULL, i };
	for (size_t j = 0; j < b->nkids; j++)
		r[a->nkids + j] = (struct ref){ b->kids[j].id, NULL, j };
	ret = pair_up(r, a->nkids, r + a->nkids, b->nkids, p);
	free(r);
	return ret;
}

static int pair_sections(const struct snap_file *a, const struct snap_file *b, struct pairing *p)
{
	struct ref *r = malloc((a->n + b->n + 1) * sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < a->n; i++)
		r[i] = (struct ref){ 0, a->secs[i].name, i };
	for (size_t j = 0; j < b->n; j++)
		r[a->n + j] = (struct ref){ 0, b->secs[j].name, j };
	ret = pair_up(r, a->n, r + a->n, b->n, p);
	free(r);
	return ret;
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

static int diff_fields(struct diff *d, const struct snap_node *a, const struct snap_node *b)
{
	struct pairing p;
	int ret = pair_fields(a, b, &p);

	if (ret < 0)
		return ret;
	/* Every field of A: changed, removed or the same; then B's new ones. */
	for (size_t i = 0; i < a->nkids && ret >= 0; i++) {
		const struct snap_node *fa = &a->kids[i];
		const struct snap_node *fb = p.a_to_b[i] < 0 ? NULL : &b->kids[p.a_to_b[i]];

		d->path[d->depth++] = fa->id;
		if (!fb) {
			field_one_side(d, fa, false);
		} else if (fa->type == VMT_FIELD_GROUP && fb->type == VMT_FIELD_GROUP) {
			ret = diff_fields(d, fa, fb);
		} else if (fa->type != fb->type || !same_value(fa, fb)) {
			bool typed = fa->type != fb->type;

			change_begin(d, "changed");
			change_path(d, fa->desc ? fa : fb);
			if (!d->json)
				fputs(": ", stdout);
			change_value(d, "old", fa, typed);
			if (!d->json)
				fputs(" -> ", stdout);
			change_value(d, "new", fb, typed);
			change_end(d);
		}
		d->depth--;
	}
	for (size_t j = 0; j < b->nkids && ret >= 0; j++) {
		if (p.b_paired[j])
			continue;
		d->path[d->depth++] = b->kids[j].id;
		field_one_side(d, &b->kids[j], true);
		d->depth--;
	}
	free(p.a_to_b);
	return ret;
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

/* Returns the number of changes, or a negative errno. */
static long diff(const struct snap_file *a, const struct snap_file *b, const char *pa,
		 const char *pb, bool json)
{
	struct diff d = { .json = json };
	struct pairing p;
	int ret = pair_sections(a, b, &p);

	if (ret < 0)
		return ret;
	if (json) {
		printf("{\"a\": ");
		vmti_json_cstr(stdout, pa);
		printf(", \"b\": ");
		vmti_json_cstr(stdout, pb);
		printf(", \"changes\": [");
	} else {
		printf("--- %s\n+++ %s\n", pa, pb);
	}
	for (size_t i = 0; i < a->n && ret >= 0; i++) {
		const struct snap_sec *sa = &a->secs[i];
		long j = p.a_to_b[i];

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
		ret = diff_fields(&d, &sa->root, &b->secs[j].root);
	}
	for (size_t j = 0; j < b->n && ret >= 0; j++)
		if (!p.b_paired[j])
			section_one_side(&d, &b->secs[j], true);
	free(p.a_to_b);
	if (ret < 0)
		return ret;
	if (json)
		printf("%s], \"equal\": %s}\n", d.changes ? "\n  " : "", d.changes ? "false" : "true");
	else if (!d.changes)
		printf("no differences\n");
	return (long)d.changes;
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
		long n = diff(&fa, &fb, files[0], files[1], json);

		r = n < 0 ? cli_error(CLI_IO, cmd, (int)n, "comparing failed") : n ? CLI_FAIL : CLI_OK;
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
