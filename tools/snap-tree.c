/* SPDX-License-Identifier: MIT */
/*
 * snap-tree.c - a snapshot as a tree of fields, with the library's own
 * saved state decoded.
 *
 * The file is read whole by vmt_snap_reader_open(), which validates every
 * CRC and field, so the tree only points into the reader's buffer and its
 * size is bounded by the file's (at most one node per field header).
 *
 * Which layout a payload has is not written in the file: a ptimer or a timer
 * fd is saved inside a device's own section, at an id the device chooses.
 * So the `vmtime` section is decoded by its name, and a group (or a whole
 * section) is decoded as a ptimer or a timer fd when it holds exactly that
 * layout's fields, each with its type; anything else is shown as plain
 * tagged fields.  The ids come from src/saved-fields.h, which the writers
 * use too.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmtime/clock.h>
#include <vmtime/keeper.h>
#include <vmtime/ptimer.h>
#include <vmtime/timerfd.h>

#include "json.h"
#include "saved-fields.h"
#include "snap-tree.h"

#define HEX_MAX 64

enum fmt {
	FMT_COUNT,	   /* a plain number */
	FMT_NS,		   /* a time or duration in ns */
	FMT_NS_SIGNED,	   /* i64 ns relative to the save */
	FMT_WALL,	   /* ns since the Unix epoch */
	FMT_FRAC32,	   /* a fraction of a ns, in 2^-32 */
	FMT_BOOL,
	FMT_CLOCK,	   /* enum vmt_clock */
	FMT_RESTORE,	   /* enum vmt_restore_policy */
	FMT_PTIMER_MODE,   /* enum vmt_ptimer_mode */
	FMT_PTIMER_POLICY, /* VMT_PTIMER_POLICY_* bits */
	FMT_TFD_FLAGS,	   /* VMT_TFD_NONBLOCK | VMT_TFD_CLOEXEC */
	FMT_TFD_SETTIME,   /* VMT_TFD_TIMER_ABSTIME | VMT_TFD_TIMER_CANCEL_ON_SET */
};

struct snap_desc {
	uint32_t id, type;
	const char *name;
	enum fmt fmt;
};

#define U64 VMT_FIELD_U64
#define I64 VMT_FIELD_I64

static const struct snap_desc keeper_fields[] = {
	{ VMTI_KEEPER_F_VM_NS, U64, "vm_time", FMT_NS },
	{ VMTI_KEEPER_F_WALL_NS, U64, "wall_time", FMT_WALL },
	{ VMTI_KEEPER_F_POLICY, U64, "restore_policy", FMT_RESTORE },
};

static const struct snap_desc ptimer_fields[] = {
	{ VMTI_PTIMER_F_MODE, U64, "mode", FMT_PTIMER_MODE },
	{ VMTI_PTIMER_F_POLICY, U64, "policy", FMT_PTIMER_POLICY },
	{ VMTI_PTIMER_F_LIMIT, U64, "limit", FMT_COUNT },
	{ VMTI_PTIMER_F_DELTA, U64, "count", FMT_COUNT },
	{ VMTI_PTIMER_F_PERIOD, U64, "period", FMT_NS },
	{ VMTI_PTIMER_F_PERIOD_FRAC, U64, "period_frac", FMT_FRAC32 },
	{ VMTI_PTIMER_F_LAST_REL, I64, "run_start", FMT_NS_SIGNED },
	{ VMTI_PTIMER_F_LAST_FRAC, U64, "run_start_frac", FMT_FRAC32 },
	{ VMTI_PTIMER_F_RUN_COUNTS, U64, "run_periods", FMT_COUNT },
};

static const struct snap_desc timerfd_fields[] = {
	{ VMTI_TFD_F_CLOCK, U64, "clock", FMT_CLOCK },
	{ VMTI_TFD_F_FLAGS, U64, "flags", FMT_TFD_FLAGS },
	{ VMTI_TFD_F_SETTIME_FLAGS, U64, "settime_flags", FMT_TFD_SETTIME },
	{ VMTI_TFD_F_ARMED, U64, "armed", FMT_BOOL },
	{ VMTI_TFD_F_DEADLINE, U64, "deadline", FMT_NS },
	{ VMTI_TFD_F_REMAINING, U64, "remaining", FMT_NS },
	{ VMTI_TFD_F_INTERVAL, U64, "interval", FMT_NS },
	{ VMTI_TFD_F_PENDING, U64, "pending", FMT_COUNT },
	{ VMTI_TFD_F_CANCELLED, U64, "cancelled", FMT_BOOL },
	{ VMTI_TFD_F_EXPIRED, U64, "expired", FMT_BOOL },
};

#define SCHEMA(n, f) { n, f, sizeof(f) / sizeof(f[0]) }

static const struct snap_schema keeper_schema = SCHEMA("vmtime", keeper_fields);
/* Recognised by their layout, wherever a device put them. */
static const struct snap_schema layouts[] = {
	SCHEMA("ptimer", ptimer_fields),
	SCHEMA("timerfd", timerfd_fields),
};

static const struct snap_desc *schema_find(const struct snap_schema *s, uint32_t id, uint32_t type)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->fields[i].id == id && s->fields[i].type == type)
			return &s->fields[i];
	return NULL;
}

/* Exactly the layout's fields, each once and with its type. */
static bool schema_matches(const struct snap_schema *s, const struct snap_node *g)
{
	if (g->nkids != s->n)
		return false;
	for (size_t i = 0; i < g->nkids; i++) {
		if (!schema_find(s, g->kids[i].id, g->kids[i].type))
			return false;
		for (size_t j = 0; j < i; j++)
			if (g->kids[j].id == g->kids[i].id)
				return false;
	}
	return true;
}

static void apply_schema(struct snap_node *g, const struct snap_schema *s)
{
	g->schema = s;
	for (size_t i = 0; i < g->nkids; i++)
		g->kids[i].desc = schema_find(s, g->kids[i].id, g->kids[i].type);
}

static void detect(struct snap_node *g)
{
	for (size_t i = 0; i < g->nkids; i++)
		if (g->kids[i].type == VMT_FIELD_GROUP)
			detect(&g->kids[i]);
	if (g->schema)
		return;
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		if (schema_matches(&layouts[i], g)) {
			apply_schema(g, &layouts[i]);
			return;
		}
	}
}

static int build(struct snap_node *g, vmt_fields_reader *r)
{
	vmt_fields_reader copy = *r;
	struct vmt_field f;
	size_t n = 0;
	int ret;

	/* Count first: one allocation per group, no growth. */
	while ((ret = vmt_fields_next(&copy, &f)) > 0)
		n++;
	if (ret < 0)
		return ret;
	g->kids = n ? calloc(n, sizeof(*g->kids)) : NULL;
	if (n && !g->kids)
		return -ENOMEM;
	g->nkids = n;
	for (size_t i = 0; i < n; i++) {
		struct snap_node *k = &g->kids[i];

		if (vmt_fields_next(r, &f) <= 0)
			return -EBADMSG;
		k->id = f.id;
		k->type = f.type;
		k->u64 = f.u64;
		k->i64 = f.i64;
		k->data = f.data;
		k->len = f.len;
		if (f.type == VMT_FIELD_GROUP) {
			ret = build(k, &f.group);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static void node_free(struct snap_node *g)
{
	for (size_t i = 0; i < g->nkids; i++)
		node_free(&g->kids[i]);
	free(g->kids);
}

void snap_file_free(struct snap_file *f)
{
	for (size_t i = 0; i < f->n; i++)
		node_free(&f->secs[i].root);
	free(f->secs);
	vmt_snap_reader_free(f->r);
	memset(f, 0, sizeof(*f));
}

int snap_file_load(const char *path, struct snap_file *f, struct vmt_error *e)
{
	int ret;

	memset(f, 0, sizeof(*f));
	ret = vmt_snap_reader_open(path, &f->r, e);
	if (ret < 0)
		return ret;
	vmt_snap_format_version(f->r, &f->major, &f->minor);
	f->n = vmt_snap_reader_count(f->r);
	f->secs = f->n ? calloc(f->n, sizeof(*f->secs)) : NULL;
	if (f->n && !f->secs) {
		snap_file_free(f);
		return -ENOMEM;
	}
	for (size_t i = 0; i < f->n; i++) {
		struct snap_sec *s = &f->secs[i];
		struct vmt_snap_section sec;

		ret = vmt_snap_reader_section(f->r, i, &sec);
		if (ret >= 0)
			ret = build(&s->root, &sec.fields);
		if (ret < 0) {
			snap_file_free(f);
			return ret;
		}
		s->name = sec.name;
		s->payload_version = sec.payload_version;
		s->offset = sec.offset;
		s->size = sec.size;
		s->root.type = VMT_FIELD_GROUP;
		if (!strcmp(s->name, VMTI_KEEPER_UNIT_NAME) &&
		    s->payload_version == VMTI_KEEPER_PAYLOAD_VERSION)
			apply_schema(&s->root, &keeper_schema);
		detect(&s->root);
	}
	return 0;
}

const char *snap_node_name(const struct snap_node *n)
{
	return n->desc ? n->desc->name : NULL;
}

/* Nanoseconds in the largest unit that keeps them exact enough to read. */
static void human_ns(FILE *out, uint64_t ns)
{
	if (ns == VMT_NS_NEVER)
		fputs("never", out);
	else if (ns < 1000)
		fprintf(out, "%" PRIu64 " ns", ns);
	else if (ns < 1000000)
		fprintf(out, "%" PRIu64 ".%03" PRIu64 " us", ns / 1000, ns % 1000);
	else if (ns < 1000000000)
		fprintf(out, "%" PRIu64 ".%06" PRIu64 " ms", ns / 1000000, ns % 1000000);
	else
		fprintf(out, "%" PRIu64 ".%09" PRIu64 " s", ns / 1000000000, ns % 1000000000);
}

static void human_wall(FILE *out, uint64_t ns)
{
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;
	char buf[64];

	if (!gmtime_r(&sec, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm)) {
		fputs("out of range", out);
		return;
	}
	fprintf(out, "%s.%09" PRIu64 "Z", buf, ns % 1000000000);
}

static void human_bits(FILE *out, uint64_t v, const char *const *names, const uint64_t *bits,
		       size_t n, const char *none)
{
	bool first = true;

	for (size_t i = 0; i < n; i++) {
		if (v & bits[i]) {
			fprintf(out, "%s%s", first ? "" : "|", names[i]);
			first = false;
			v &= ~bits[i];
		}
	}
	if (v)
		fprintf(out, "%s0x%" PRIx64, first ? "" : "|", v);
	else if (first)
		fputs(none, out);
}

/* The human form of a decoded value; false if it has none. */
static bool human(FILE *out, const struct snap_node *n)
{
	static const char *const restore[] = { "freeze", "catchup" };
	static const char *const mode[] = { "stopped", "periodic", "oneshot" };
	static const char *const pol_names[] = {
		"wrap_after_one_period", "continuous_trigger", "no_immediate_trigger",
		"no_immediate_reload",	 "no_counter_round_down", "trigger_only_on_decrement",
	};
	static const uint64_t pol_bits[] = {
		VMT_PTIMER_POLICY_WRAP_AFTER_ONE_PERIOD, VMT_PTIMER_POLICY_CONTINUOUS_TRIGGER,
		VMT_PTIMER_POLICY_NO_IMMEDIATE_TRIGGER,	 VMT_PTIMER_POLICY_NO_IMMEDIATE_RELOAD,
		VMT_PTIMER_POLICY_NO_COUNTER_ROUND_DOWN, VMT_PTIMER_POLICY_TRIGGER_ONLY_ON_DECREMENT,
	};
	static const char *const tfd_names[] = { "nonblock", "cloexec" };
	static const uint64_t tfd_bits[] = { VMT_TFD_NONBLOCK, VMT_TFD_CLOEXEC };
	static const char *const set_names[] = { "abstime", "cancel_on_set" };
	static const uint64_t set_bits[] = { VMT_TFD_TIMER_ABSTIME, VMT_TFD_TIMER_CANCEL_ON_SET };
	uint64_t v = n->u64;
	const char *s;

	if (!n->desc)
		return false;
	switch (n->desc->fmt) {
	case FMT_COUNT:
		return false;
	case FMT_NS:
		human_ns(out, v);
		return true;
	case FMT_NS_SIGNED:
		if (n->i64 < 0)
			fputc('-', out);
		human_ns(out, n->i64 < 0 ? (uint64_t)0 - (uint64_t)n->i64 : (uint64_t)n->i64);
		return true;
	case FMT_WALL:
		human_wall(out, v);
		return true;
	case FMT_FRAC32:
		fprintf(out, "%.9f ns", (double)v / 4294967296.0);
		return true;
	case FMT_BOOL:
		fputs(v == 0 ? "no" : v == 1 ? "yes" : "invalid", out);
		return true;
	case FMT_CLOCK:
		s = v < VMT_CLOCK_COUNT ? vmt_clock_name((enum vmt_clock)v) : NULL;
		break;
	case FMT_RESTORE:
		s = v < 2 ? restore[v] : NULL;
		break;
	case FMT_PTIMER_MODE:
		s = v < 3 ? mode[v] : NULL;
		break;
	case FMT_PTIMER_POLICY:
		human_bits(out, v, pol_names, pol_bits, 6, "legacy");
		return true;
	case FMT_TFD_FLAGS:
		human_bits(out, v, tfd_names, tfd_bits, 2, "none");
		return true;
	case FMT_TFD_SETTIME:
		human_bits(out, v, set_names, set_bits, 2, "relative");
		return true;
	default:
		return false;
	}
	fputs(s ? s : "unknown", out);
	return true;
}

static void hex(FILE *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && i < HEX_MAX; i++)
		fprintf(out, "%02x", p[i]);
}

void snap_type_text(FILE *out, const struct snap_node *n)
{
	static const char *const names[] = { NULL, "u64", "i64", "bytes", "str", "group" };

	if (n->type >= 1 && n->type <= 5)
		fputs(names[n->type], out);
	else
		fprintf(out, "type %u", n->type);
}

void snap_value_text(FILE *out, const struct snap_node *n)
{
	switch (n->type) {
	case VMT_FIELD_U64:
		fprintf(out, "%" PRIu64, n->u64);
		break;
	case VMT_FIELD_I64:
		fprintf(out, "%" PRId64, n->i64);
		break;
	case VMT_FIELD_STR:
		/* JSON escaping keeps control bytes off the terminal. */
		vmti_json_str(out, n->data, n->len);
		break;
	case VMT_FIELD_GROUP:
		fprintf(out, "%zu field%s", n->nkids, n->nkids == 1 ? "" : "s");
		if (n->schema)
			fprintf(out, ", %s", n->schema->name);
		return;
	default:
		fprintf(out, "%zu byte%s%s", n->len, n->len == 1 ? "" : "s", n->len ? ": " : "");
		hex(out, n->data, n->len);
		if (n->len > HEX_MAX)
			fputs("...", out);
		return;
	}
	if (n->desc && n->desc->fmt != FMT_COUNT) {
		fputs(" (", out);
		human(out, n);
		fputc(')', out);
	}
}

static void indent(FILE *out, int level)
{
	if (level < 0)
		return;
	fputc('\n', out);
	for (int i = 0; i < level; i++)
		fputs("  ", out);
}

void snap_fields_json(FILE *out, const struct snap_node *g, int level)
{
	fputc('[', out);
	for (size_t i = 0; i < g->nkids; i++) {
		if (i)
			fputs(level < 0 ? ", " : ",", out);
		indent(out, level < 0 ? -1 : level + 1);
		snap_node_json(out, &g->kids[i], level < 0 ? -1 : level + 1);
	}
	if (g->nkids)
		indent(out, level);
	fputc(']', out);
}

void snap_node_json(FILE *out, const struct snap_node *n, int level)
{
	fprintf(out, "{\"id\": %u, \"type\": ", n->id);
	if (n->type >= 1 && n->type <= 5) {
		fputc('"', out);
		snap_type_text(out, n);
		fputc('"', out);
	} else {
		fprintf(out, "\"unknown\", \"type_code\": %u", n->type);
	}
	if (n->desc) {
		fputs(", \"name\": ", out);
		vmti_json_cstr(out, n->desc->name);
	}
	switch (n->type) {
	case VMT_FIELD_U64:
		fprintf(out, ", \"value\": %" PRIu64, n->u64);
		break;
	case VMT_FIELD_I64:
		fprintf(out, ", \"value\": %" PRId64, n->i64);
		break;
	case VMT_FIELD_STR:
		fputs(", \"value\": ", out);
		vmti_json_str(out, n->data, n->len);
		break;
	case VMT_FIELD_GROUP:
		if (n->schema) {
			fputs(", \"decoded_as\": ", out);
			vmti_json_cstr(out, n->schema->name);
		}
		fputs(", \"fields\": ", out);
		snap_fields_json(out, n, level);
		break;
	default:
		fprintf(out, ", \"len\": %zu, \"hex\": \"", n->len);
		hex(out, n->data, n->len);
		fprintf(out, "\", \"truncated\": %s", n->len > HEX_MAX ? "true" : "false");
		break;
	}
	if (n->desc && (n->type == VMT_FIELD_U64 || n->type == VMT_FIELD_I64)) {
		char buf[128];
		FILE *m = fmemopen(buf, sizeof(buf), "w");

		/* The human form goes through the string writer like any text. */
		if (m) {
			bool has = human(m, n);
			long len = ftell(m);

			fclose(m);
			if (has && len > 0 && (size_t)len < sizeof(buf)) {
				fputs(", \"text\": ", out);
				vmti_json_str(out, buf, (size_t)len);
			}
		}
		if (n->desc->fmt == FMT_NS || n->desc->fmt == FMT_NS_SIGNED ||
		    n->desc->fmt == FMT_WALL)
			fputs(", \"unit\": \"ns\"", out);
	}
	fputc('}', out);
}
