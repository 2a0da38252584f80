/* SPDX-License-Identifier: MIT */
/*
 * test-cli.c - the vmtime tool as a user meets it: --help on every command
 * and subcommand, `vmtime help TOPIC`, --version, one-line error messages,
 * each exit code (0 ok, 1 check failed, 2 usage, 3 I/O), `snapshot show`
 * decoding the library's own state, `snapshot diff`, and every --json
 * output parsed by a strict JSON validator (below, so CI needs nothing).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vmtime/vmtime.h>

#include "tests.h"

#define TOOL VMT_BINARY_DIR "/vmtime"
#define GOLDEN VMT_SOURCE_DIR "/tests/golden/"

struct run {
	int status;
	char out[1 << 16];
	char err[1 << 14];
};

static char tmpdir[] = "/tmp/vmt-cli-XXXXXX";
/* Whether mkdtemp() ran: the suffix it picks may itself end in 'X'. */
static int tmpdir_made;

/* @buf receives the path of @name in the test's temporary directory. */
static const char *tmp(char buf[256], const char *name)
{
	if (!tmpdir_made) {
		if (!mkdtemp(tmpdir))
			VMT_FAIL("mkdtemp: %s", strerror(errno));
		tmpdir_made = 1;
	}
	snprintf(buf, 256, "%s/%s", tmpdir, name);
	return buf;
}

__attribute__((destructor)) static void remove_tmpdir(void)
{
	static const char *const names[] = { "stdout", "stderr", "a.snap", "b.snap",
					      "unreadable.snap", "clock.sock" };
	char buf[256];

	if (!tmpdir_made)
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(buf, sizeof(buf), "%s/%s", tmpdir, names[i]);
		unlink(buf);
	}
	rmdir(tmpdir);
}

static void slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;

	buf[n] = 0;
	if (f)
		fclose(f);
}

/* Runs the tool with the NULL-terminated arguments; output kept in @r. */
static struct run *run_argv(const char *const *args)
{
	static struct run r;
	char out[256], err[256];
	const char *argv[32] = { "vmtime" };
	int n = 1, st;
	pid_t pid;

	tmp(out, "stdout");
	tmp(err, "stderr");
	while (args[n - 1] && n < 31) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		/* execv() takes char *const[] but does not write the strings. */
		execv(TOOL, (char *const *)argv);
		_exit(127);
	}
	ASSERT_TRUE(pid > 0);
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st));
	r.status = WEXITSTATUS(st);
	ASSERT_TRUE(r.status != 126 && r.status != 127);
	slurp(out, r.out, sizeof(r.out));
	slurp(err, r.err, sizeof(r.err));
	return &r;
}

#define RUN(...) run_argv((const char *const[]){ __VA_ARGS__, NULL })

static void expect(struct run *r, int status, const char *what)
{
	if (r->status != status)
		VMT_FAIL("%s: exit %d, expected %d\nstdout: %s\nstderr: %s", what, r->status, status,
			 r->out, r->err);
}

/* Fails naming the first of the strings @out does not contain. */
static void contains(const char *out, const char *const *want)
{
	for (; *want; want++)
		if (!strstr(out, *want))
			VMT_FAIL("'%s' missing in:\n%s", *want, out);
}

#define CONTAINS(out, ...) contains(out, (const char *const[]){ __VA_ARGS__, NULL })

/* ---- a strict JSON validator (RFC 8259) ---- */

struct js {
	const char *p;
	int depth;
};

static void js_ws(struct js *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static bool js_value(struct js *j);

static bool js_string(struct js *j)
{
	if (*j->p++ != '"')
		return false;
	for (;;) {
		unsigned char c = (unsigned char)*j->p++;

		if (c == '"')
			return true;
		if (c < 0x20)
			return false; /* includes the terminating NUL */
		if (c != '\\')
			continue;
		c = (unsigned char)*j->p++;
		if (c == 'u') {
			for (int i = 0; i < 4; i++, j->p++)
				if (!strchr("0123456789abcdefABCDEF", *j->p) || !*j->p)
					return false;
		} else if (!strchr("\"\\/bfnrt", c) || !c) {
			return false;
		}
	}
}

static bool js_digits(struct js *j)
{
	const char *s = j->p;

	while (*j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool js_number(struct js *j)
{
	if (*j->p == '-')
		j->p++;
	if (*j->p == '0')
		j->p++;
	else if (!js_digits(j))
		return false;
	if (*j->p == '.') {
		j->p++;
		if (!js_digits(j))
			return false;
	}
	if (*j->p == 'e' || *j->p == 'E') {
		j->p++;
		if (*j->p == '+' || *j->p == '-')
			j->p++;
		if (!js_digits(j))
			return false;
	}
	return true;
}

static bool js_list(struct js *j, char close, bool object)
{
	j->p++;
	if (++j->depth > 64)
		return false;
	js_ws(j);
	if (*j->p == close)
		goto done;
	for (;;) {
		if (object) {
			js_ws(j);
			if (!js_string(j))
				return false;
			js_ws(j);
			if (*j->p++ != ':')
				return false;
		}
		if (!js_value(j))
			return false;
		js_ws(j);
		if (*j->p == close)
			goto done;
		if (*j->p++ != ',')
			return false;
	}
done:
	j->p++;
	j->depth--;
	return true;
}

static bool js_value(struct js *j)
{
	js_ws(j);
	switch (*j->p) {
	case '{':
		return js_list(j, '}', true);
	case '[':
		return js_list(j, ']', false);
	case '"':
		return js_string(j);
	case 't':
		return !strncmp(j->p, "true", 4) && (j->p += 4);
	case 'f':
		return !strncmp(j->p, "false", 5) && (j->p += 5);
	case 'n':
		return !strncmp(j->p, "null", 4) && (j->p += 4);
	default:
		return js_number(j);
	}
}

static bool json_valid(const char *s)
{
	struct js j = { s, 0 };

	if (!js_value(&j))
		return false;
	js_ws(&j);
	return *j.p == 0;
}

static void expect_json(const char *s)
{
	if (!json_valid(s))
		VMT_FAIL("not valid JSON:\n%s", s);
}

TEST(json_validator_rejects_what_it_must)
{
	ASSERT_TRUE(json_valid("{\"a\": [1, -2.5e3, true, null, \"x\\u00e9\\n\"]}\n"));
	ASSERT_TRUE(!json_valid("{\"a\": 1,}"));
	ASSERT_TRUE(!json_valid("[01]"));
	ASSERT_TRUE(!json_valid("\"tab\there\""));
	ASSERT_TRUE(!json_valid("{\"a\" 1}"));
	ASSERT_TRUE(!json_valid("[1] [2]"));
	ASSERT_TRUE(!json_valid("\"\\x\""));
}

/* ---- help, version, usage ---- */

static void expect_help(struct run *r, const char *what)
{
	expect(r, 0, what);
	if (!strstr(r->out, "usage: vmtime"))
		VMT_FAIL("%s: no usage line in\n%s", what, r->out);
	if (!strstr(r->out, "exit status"))
		VMT_FAIL("%s: the exit codes are not documented in\n%s", what, r->out);
	ASSERT_STREQ(r->err, "");
}

TEST(help_on_every_command_and_subcommand)
{
	expect_help(RUN("--help"), "--help");
	expect_help(RUN("-h"), "-h");
	expect_help(RUN("help"), "help");
	expect_help(RUN("help", "help"), "help help");
	expect_help(RUN("help", "--help"), "help --help");
	expect_help(RUN("demo", "--help"), "demo --help");
	expect_help(RUN("demo", "--json", "-h"), "demo --json -h");
	expect_help(RUN("snapshot", "--help"), "snapshot --help");
	expect_help(RUN("snapshot", "show", "--help"), "snapshot show --help");
	expect_help(RUN("snapshot", "show", "-h"), "snapshot show -h");
	expect_help(RUN("snapshot", "check", "--help"), "snapshot check --help");
	expect_help(RUN("snapshot", "diff", "--help"), "snapshot diff --help");
	expect_help(RUN("inspect", "--help"), "inspect --help");
}

TEST(help_topic_matches_the_command_help)
{
	static const char *const topics[][3] = {
		{ "demo", NULL }, { "snapshot", NULL }, { "inspect", NULL },
		{ "snapshot", "show" }, { "snapshot", "check" }, { "snapshot", "diff" },
	};
	char want[sizeof(((struct run *)0)->out)];

	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
		struct run *r;

		if (topics[i][1])
			r = RUN(topics[i][0], topics[i][1], "--help");
		else
			r = RUN(topics[i][0], "--help");
		expect_help(r, topics[i][0]);
		memcpy(want, r->out, sizeof(want));
		if (topics[i][1])
			r = RUN("help", topics[i][0], topics[i][1]);
		else
			r = RUN("help", topics[i][0]);
		expect_help(r, "help TOPIC");
		ASSERT_STREQ(r->out, want);
	}
}

TEST(help_shows_defaults_and_ranges)
{
	struct run *r = RUN("demo", "--help");

	ASSERT_TRUE(strstr(r->out, "(0, 100]") != NULL);
	ASSERT_TRUE(strstr(r->out, "default 1") != NULL);
	r = RUN("snapshot", "show", "--help");
	ASSERT_TRUE(strstr(r->out, "default: text") != NULL);
	r = RUN("--help");
	ASSERT_TRUE(strstr(r->out, "2 usage error") != NULL);
	ASSERT_TRUE(strstr(r->out, "3 I/O error") != NULL);
}

TEST(version_prints_the_library_version)
{
	struct run *r = RUN("--version");
	char want[64];

	expect(r, 0, "--version");
	snprintf(want, sizeof(want), "vmtime %d.%d.%d", VMT_VERSION_MAJOR, VMT_VERSION_MINOR,
		 VMT_VERSION_PATCH);
	ASSERT_TRUE(!strncmp(r->out, want, strlen(want)));
}

/* A usage error: exit 2, "vmtime: ..." once, then where help is. */
static void expect_usage(struct run *r, const char *what)
{
	const char *nl;

	expect(r, 2, what);
	if (strncmp(r->err, "vmtime: ", 8))
		VMT_FAIL("%s: message does not start with 'vmtime: ':\n%s", what, r->err);
	nl = strchr(r->err, '\n');
	ASSERT_TRUE(nl != NULL);
	if (strncmp(nl + 1, "Try 'vmtime ", 12) || strchr(nl + 1, '\n')[1] != 0)
		VMT_FAIL("%s: expected one message and one 'Try' line:\n%s", what, r->err);
	ASSERT_STREQ(r->out, "");
}

TEST(usage_errors_exit_2)
{
	ASSERT_EQ(RUN("bogus")->status, 2);
	expect_usage(RUN("bogus"), "unknown command");
	expect_usage(RUN("help", "bogus"), "help bogus");
	expect_usage(RUN("help", "snapshot", "bogus"), "help snapshot bogus");
	expect_usage(RUN("help", "demo", "x"), "help demo x");
	expect_usage(RUN("snapshot"), "snapshot");
	expect_usage(RUN("snapshot", "bogus"), "snapshot bogus");
	expect_usage(RUN("snapshot", "show"), "snapshot show");
	expect_usage(RUN("snapshot", "show", "a", "b"), "snapshot show a b");
	expect_usage(RUN("snapshot", "show", "--bogus", "a"), "snapshot show --bogus");
	expect_usage(RUN("snapshot", "check", "--json", "a"), "snapshot check --json");
	expect_usage(RUN("snapshot", "diff", "a"), "snapshot diff a");
	expect_usage(RUN("demo", "--duration-scale", "0"), "demo --duration-scale 0");
	expect_usage(RUN("demo", "--duration-scale", "101"), "demo --duration-scale 101");
	expect_usage(RUN("demo", "--duration-scale=x"), "demo --duration-scale=x");
	expect_usage(RUN("demo", "--duration-scale"), "demo --duration-scale");
	expect_usage(RUN("demo", "--bogus"), "demo --bogus");
	expect_usage(RUN("inspect"), "inspect");
	expect_usage(RUN("inspect", "--connect"), "inspect --connect");
	expect_usage(RUN("inspect", "--bogus"), "inspect --bogus");
	/* No arguments at all: the overview, on stderr. */
	ASSERT_EQ(RUN(NULL)->status, 2);
}

/* ---- snapshot check and show on the golden files ---- */

/* One line: "vmtime: CMD: ...: <vmt_strerror text>". */
static void expect_one_line_error(struct run *r, const char *prefix, int err)
{
	size_t n = strlen(r->err);

	if (strncmp(r->err, prefix, strlen(prefix)))
		VMT_FAIL("expected '%s...', got:\n%s", prefix, r->err);
	ASSERT_TRUE(n > 0 && r->err[n - 1] == '\n' && strchr(r->err, '\n') == r->err + n - 1);
	ASSERT_TRUE(strstr(r->err, vmt_strerror(err)) != NULL);
	/* Said once: libc's text is not repeated beside vmtime's. */
	if (strstr(r->err, strerror(err)) && !strstr(vmt_strerror(err), strerror(err)))
		VMT_FAIL("libc's text repeated in:\n%s", r->err);
}

static int errno_of(const char *name)
{
	for (int e = 1; e < 200; e++)
		if (!strcmp(vmt_errname(e), name))
			return e;
	return 0;
}

TEST(check_and_show_follow_the_golden_results)
{
	FILE *f = fopen(GOLDEN "expected.txt", "r");
	char line[256];
	int files = 0;

	ASSERT_TRUE(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		char name[128], result[64], path[512];
		struct run *r;

		if (line[0] == '#' || sscanf(line, "%127s %63s", name, result) != 2)
			continue;
		snprintf(path, sizeof(path), GOLDEN "%s", name);
		files++;
		r = RUN("snapshot", "check", path);
		if (!strcmp(result, "OK")) {
			expect(r, 0, name);
			ASSERT_TRUE(strstr(r->out, ": valid, format") != NULL);
			r = RUN("snapshot", "show", "--json", path);
			expect(r, 0, name);
			expect_json(r->out);
			expect(RUN("snapshot", "show", path), 0, name);
			r = RUN("snapshot", "diff", path, path);
			expect(r, 0, name);
			ASSERT_TRUE(strstr(r->out, "no differences") != NULL);
			r = RUN("snapshot", "diff", "--json", path, path);
			expect(r, 0, name);
			expect_json(r->out);
			ASSERT_TRUE(strstr(r->out, "\"equal\": true") != NULL);
			continue;
		}
		expect(r, 1, name);
		expect_one_line_error(r, "vmtime: snapshot check: ", errno_of(result));
		ASSERT_TRUE(strstr(r->err, ": invalid: ") != NULL);
		expect(RUN("snapshot", "show", path), 1, name);
		ASSERT_STREQ(r->out, "");
		/* diff's 1 means "different": an invalid input is trouble (3). */
		expect(RUN("snapshot", "diff", path, GOLDEN "valid.snap"), 3, name);
	}
	fclose(f);
	ASSERT_GT(files, 20);
}

TEST(io_errors_exit_3)
{
	struct run *r = RUN("snapshot", "check", "/nonexistent/x.snap");

	expect(r, 3, "check missing file");
	expect_one_line_error(r, "vmtime: snapshot check: cannot read /nonexistent/x.snap: ", ENOENT);
	expect(RUN("snapshot", "show", "/nonexistent/x.snap"), 3, "show missing file");
	expect(RUN("snapshot", "show", "/tmp"), 3, "show a directory");
	expect(RUN("snapshot", "diff", GOLDEN "valid.snap", "/nonexistent"), 3, "diff missing B");
	/* After "--", --help is a file name like any other. */
	expect(RUN("snapshot", "show", "--", "--help"), 3, "show -- --help");
	r = RUN("inspect", "--connect", "/nonexistent/sock");
	expect(r, 3, "inspect unreachable");
	expect_one_line_error(r, "vmtime: inspect: cannot connect to /nonexistent/sock: ", ENOENT);
}

TEST(unreadable_file_exits_3)
{
	char buf[256];
	const char *p = tmp(buf, "unreadable.snap");
	FILE *f = fopen(p, "w");

	ASSERT_TRUE(f != NULL);
	fputs("x", f);
	fclose(f);
	ASSERT_OK(chmod(p, 0));
	if (access(p, R_OK) == 0) {
		unlink(p);
		SKIP("running as root: every file is readable");
	}
	struct run *r = RUN("snapshot", "check", p);

	unlink(p);
	expect(r, 3, "unreadable");
	expect_one_line_error(r, "vmtime: snapshot check: cannot read ", EACCES);
}

/* ---- snapshots written here: the library's own state decoded ---- */

static vmt_ns fixed_clock(void *opaque, enum vmt_clock clock)
{
	(void)opaque;
	/* 2026-01-02T03:04:05.5Z on the wall clock; anything for the others. */
	return clock == VMT_CLOCK_WALL ? 1767323045500000000ull : 1000000000ull;
}

struct dev {
	vmt_ptimer *pt;
	vmt_timerfd *tfd;
	uint64_t reg;
};

static int dev_save(void *ud, vmt_fields_writer *w, struct vmt_error *err)
{
	struct dev *d = ud;
	int r;

	(void)err;
	vmt_fields_put_u64(w, 1, d->reg);
	vmt_fields_put_str(w, 2, "device \"x\"\n");
	r = vmt_ptimer_save(d->pt, w, 5);
	if (r < 0)
		return r;
	vmt_fields_begin_group(w, 6);
	vmt_timerfd_save(d->tfd, w);
	return vmt_fields_end_group(w);
}

static int dev_restore(void *ud, vmt_fields_reader *r, uint32_t v, struct vmt_error *err)
{
	(void)ud, (void)r, (void)v, (void)err;
	return 0;
}

static void on_pt(void *opaque)
{
	(void)opaque;
}

/* Writes a snapshot of a keeper at @vm_ns and a device with @reg and a 1 ms ptimer. */
static void write_snapshot(const char *path, vmt_ns vm_ns, uint64_t reg, bool extra)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	struct vmt_unit_ops ops = { .save = dev_save, .restore = dev_restore, .save_version = 4 };
	struct itimerspec its = { .it_value = { 2, 0 }, .it_interval = { 0, 250000000 } };
	struct dev d = { .reg = reg };
	vmt_snap_writer *w;
	vmt_units *units;
	vmt_keeper *k;
	vmt_loop *loop;
	vmt_unit *ku, *du;

	cfg.mode = VMT_KEEPER_MANUAL;
	cfg.restore_policy = VMT_RESTORE_CATCHUP;
	cfg.initial_vm_time = vm_ns;
	cfg.host_clock = fixed_clock;
	ASSERT_OK(vmt_keeper_new(&cfg, &k));
	ASSERT_OK(vmt_loop_new(vmt_keeper_source(k), &loop));
	ASSERT_OK(vmt_ptimer_new(loop, VMT_CLOCK_VM, on_pt, NULL,
				 VMT_PTIMER_POLICY_WRAP_AFTER_ONE_PERIOD, &d.pt));
	ASSERT_OK(vmt_ptimer_transaction_begin(d.pt));
	ASSERT_OK(vmt_ptimer_set_period(d.pt, VMT_NS_PER_MS));
	ASSERT_OK(vmt_ptimer_set_limit(d.pt, 100, 1));
	ASSERT_OK(vmt_ptimer_run(d.pt, 0));
	ASSERT_OK(vmt_ptimer_transaction_commit(d.pt));
	ASSERT_OK(vmt_timerfd_new(loop, VMT_CLOCK_VM, VMT_TFD_NONBLOCK, &d.tfd));
	ASSERT_OK(vmt_timerfd_settime(d.tfd, 0, &its, NULL));
	ASSERT_OK(vmt_units_new(&units));
	ASSERT_OK(vmt_keeper_add_unit(k, units, &ku));
	ASSERT_OK(vmt_units_add(units, "dev", &ops, &d, &du));
	ASSERT_OK(vmt_unit_depends_on(du, ku));
	if (extra)
		ASSERT_OK(vmt_units_add(units, "extra", &ops, &d, NULL));
	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_units_save(units, w, NULL));
	ASSERT_OK(vmt_snap_writer_save(w, path, NULL));
	vmt_snap_writer_free(w);
	vmt_units_free(units);
	vmt_timerfd_free(d.tfd);
	vmt_ptimer_free(d.pt);
	vmt_loop_free(loop);
	vmt_keeper_free(k);
}

TEST(show_decodes_the_library_state)
{
	char buf[256];
	const char *p = tmp(buf, "a.snap");
	struct run *r;

	write_snapshot(p, 1500000000, 7, false);
	r = RUN("snapshot", "show", p);
	expect(r, 0, "show");
	CONTAINS(r->out,
		 "section 0 \"vmtime\"",
		 "vm_time",
		 "1500000000 (1.500000000 s)",
		 "(2026-01-02T03:04:05.500000000Z)",
		 "(catchup)",
		 "9 fields, ptimer",
		 "(periodic)",
		 "(wrap_after_one_period)",
		 "1000000 (1.000000 ms)",
		 "10 fields, timerfd",
		 "250000000 (250.000000 ms)",
		 "(nonblock)",
		 "\"device \\\"x\\\"\\n\"");

	r = RUN("snapshot", "show", "--json", p);
	expect(r, 0, "show --json");
	expect_json(r->out);
	CONTAINS(r->out,
		 "\"decoded_as\": \"vmtime\"",
		 "\"decoded_as\": \"ptimer\"",
		 "\"decoded_as\": \"timerfd\"");
	ASSERT_TRUE(strstr(r->out, "\"name\": \"vm_time\", \"value\": 1500000000, "
				   "\"text\": \"1.500000000 s\", \"unit\": \"ns\"") != NULL);
	unlink(p);
}

TEST(diff_shows_what_changed)
{
	char ba[256], bb[256];
	const char *a = tmp(ba, "a.snap"), *b = tmp(bb, "b.snap");
	struct run *r;

	write_snapshot(a, 1500000000, 7, false);
	write_snapshot(b, 2000000000, 8, true);
	r = RUN("snapshot", "diff", a, b);
	expect(r, 1, "diff");
	ASSERT_TRUE(strstr(r->out, "~ section \"vmtime\": field 1 vm_time: "
				   "1500000000 (1.500000000 s) -> 2000000000 (2.000000000 s)") != NULL);
	ASSERT_TRUE(strstr(r->out, "~ section \"dev\": field 1: 7 -> 8") != NULL);
	ASSERT_TRUE(strstr(r->out, "+ section \"extra\" (payload version 4, 4 fields)") != NULL);
	ASSERT_TRUE(strstr(r->out, "field 2 wall_time") == NULL);
	r = RUN("snapshot", "diff", b, a);
	expect(r, 1, "diff reversed");
	ASSERT_TRUE(strstr(r->out, "- section \"extra\"") != NULL);

	r = RUN("snapshot", "diff", "--json", a, b);
	expect(r, 1, "diff --json");
	expect_json(r->out);
	ASSERT_TRUE(strstr(r->out, "\"equal\": false") != NULL);
	ASSERT_TRUE(strstr(r->out, "\"change\": \"changed\", \"section\": \"vmtime\", "
				   "\"path\": [1], \"name\": \"vm_time\"") != NULL);
	ASSERT_TRUE(strstr(r->out, "\"change\": \"added\", \"section\": \"extra\"") != NULL);

	expect(RUN("snapshot", "diff", a, a), 0, "diff equal");
	unlink(a);
	unlink(b);
}

TEST(inspect_a_live_keeper)
{
	char buf[256];
	const char *sock = tmp(buf, "clock.sock");
	vmt_listener *l;
	vmt_keeper *k;
	struct run *r;

	ASSERT_OK(vmt_keeper_new(NULL, &k));
	ASSERT_OK(vmt_keeper_listen(k, sock, VMT_LISTEN_THREAD, &l));
	r = RUN("inspect", "--connect", sock);
	expect(r, 0, "inspect");
	expect_json(r->out);
	ASSERT_TRUE(strstr(r->out, "\"alive\":true") != NULL);
	expect(RUN("inspect", "--connect=/nonexistent/sock"), 3, "inspect --connect=");
	vmt_listener_free(l);
	vmt_keeper_free(k);
}

/* vmtime(1) documents every option the --help texts name. */
TEST(man_page_documents_every_option)
{
	static const char *const cmds[][3] = {
		{ "--help" }, { "demo", "--help" }, { "inspect", "--help" },
		{ "snapshot", "show", "--help" }, { "snapshot", "check", "--help" },
		{ "snapshot", "diff", "--help" },
	};
	static char man[1 << 16];

	slurp(VMT_SOURCE_DIR "/man/vmtime.1", man, sizeof(man));
	ASSERT_TRUE(strstr(man, ".SH \"EXIT STATUS\"") != NULL);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct run *r = RUN(cmds[i][0], cmds[i][1], cmds[i][2]);

		expect_help(r, cmds[i][0]);
		for (const char *p = r->out; (p = strstr(p, "--")) != NULL;) {
			char want[64] = "\\-\\-";
			size_t n = 4;

			for (p += 2; (*p >= 'a' && *p <= 'z') || *p == '-'; p++)
				if (n + 2 < sizeof(want)) {
					if (*p == '-')
						want[n++] = '\\';
					want[n++] = *p;
				}
			want[n] = 0;
			if (n > 4 && !strstr(man, want))
				VMT_FAIL("man/vmtime.1 does not document %s", want);
		}
	}
}

/* Section "s" holding u64 fields with id @id and the values @v[0..n). */
static void write_repeated(const char *path, uint32_t id, const uint64_t *v, size_t n)
{
	vmt_fields_writer *fw;
	vmt_snap_writer *w;

	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_snap_writer_section(w, "s", 1, &fw));
	for (size_t i = 0; i < n; i++)
		ASSERT_OK(vmt_fields_put_u64(fw, id, v[i]));
	ASSERT_OK(vmt_snap_writer_save(w, path, NULL));
	vmt_snap_writer_free(w);
}

TEST(diff_pairs_repeated_ids_in_order)
{
	static const uint64_t va[] = { 10, 11, 12 }, vb[] = { 10, 13 };
	char ba[256], bb[256];
	const char *a = tmp(ba, "a.snap"), *b = tmp(bb, "b.snap");
	struct run *r;

	write_repeated(a, 1, va, 3);
	write_repeated(b, 1, vb, 2);
	r = RUN("snapshot", "diff", a, b);
	expect(r, 1, "diff");
	CONTAINS(r->out, "~ section \"s\": field 1: 11 -> 13\n",
		 "- section \"s\": field 1: - u64 12\n");
	ASSERT_TRUE(strstr(r->out, "10") == NULL);
	unlink(a);
	unlink(b);
}

/*
 * A file is input like any other: 200,000 fields with one id must not make
 * the pairing quadratic (4e10 comparisons would take minutes).
 */
TEST(diff_of_many_repeated_ids_is_fast)
{
	enum { N = 200000 };
	static uint64_t v[N];
	char ba[256], bb[256];
	const char *a = tmp(ba, "a.snap"), *b = tmp(bb, "b.snap");
	struct timespec t0, t1;
	struct run *r;

	write_repeated(a, 7, v, N);
	v[N - 1] = 1;
	write_repeated(b, 7, v, N);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = RUN("snapshot", "diff", a, b);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	expect(r, 1, "diff");
	CONTAINS(r->out, "~ section \"s\": field 7: 0 -> 1\n");
	/* Generous for a loaded 2-core machine and sanitizers; quadratic is minutes. */
	ASSERT_LT(t1.tv_sec - t0.tv_sec, 60);
	unlink(a);
	unlink(b);
}
