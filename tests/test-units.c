/* SPDX-License-Identifier: MIT */
/*
 * test-units.c - the lifecycle engine: registration, edges and cycles,
 * ordering under concurrency, reports, save/restore through a snapshot.
 *
 * VMT_TEST_THREADED: operations run on the set's worker pool.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <vmtime/snapshot.h>
#include <vmtime/units.h>

#include <stdlib.h>
#include <string.h>
#include "tests.h"

/* One global sequence: every begin and end of a unit operation takes a number. */
static atomic_int seq;

struct tu {
	vmt_unit *unit;
	atomic_int begin, end;	/* sequence numbers of the last operation */
	atomic_int calls;
	int delay_us;
	int fail;		/* errno returned by reset/restore/save/post_restore */
	int fail_op;		/* which operation fails */
	bool saves;		/* has state to save */
	uint64_t value;		/* the saved state */
	struct tu *must_be_restored; /* restore asserts this one restored first */
	atomic_bool restored;
	atomic_int post_restores;
	bool saw_bad_order;
	/* For the rendezvous tests. */
	atomic_int *meet;
	int meet_target;
	atomic_bool *wait_flag;
	bool met;
};

static void mark_begin(struct tu *t)
{
	atomic_store(&t->begin, atomic_fetch_add(&seq, 1) + 1);
	atomic_fetch_add(&t->calls, 1);
	if (t->delay_us)
		usleep((useconds_t)t->delay_us);
}

static void mark_end(struct tu *t)
{
	atomic_store(&t->end, atomic_fetch_add(&seq, 1) + 1);
}

static int maybe_fail(struct tu *t, enum vmt_unit_op op, struct vmt_error *err)
{
	if (t->fail && t->fail_op == (int)op) {
		snprintf(err->msg, sizeof(err->msg), "%s refused on purpose", vmt_unit_op_name(op));
		return t->fail;
	}
	return 0;
}

static void op_start(void *ud)
{
	mark_begin(ud);
	mark_end(ud);
}

static void op_stop(void *ud)
{
	mark_begin(ud);
	mark_end(ud);
}

static int op_reset(void *ud, struct vmt_error *err)
{
	int r;

	mark_begin(ud);
	r = maybe_fail(ud, VMT_UNIT_OP_RESET, err);
	mark_end(ud);
	return r;
}

static int op_save(void *ud, vmt_fields_writer *w, struct vmt_error *err)
{
	struct tu *t = ud;
	int r;

	mark_begin(t);
	r = maybe_fail(t, VMT_UNIT_OP_SAVE, err);
	if (!r)
		r = vmt_fields_put_u64(w, 1, t->value);
	mark_end(t);
	return r;
}

static int op_restore(void *ud, vmt_fields_reader *rd, uint32_t version, struct vmt_error *err)
{
	struct tu *t = ud;
	uint64_t v;
	int r;

	mark_begin(t);
	if (t->must_be_restored && !atomic_load(&t->must_be_restored->restored))
		t->saw_bad_order = true;
	r = maybe_fail(t, VMT_UNIT_OP_RESTORE, err);
	if (!r && version != 7)
		r = -EPROTONOSUPPORT;
	if (!r)
		r = vmt_fields_get_u64(rd, 1, &v);
	if (!r)
		t->value = v;
	atomic_store(&t->restored, r == 0);
	mark_end(t);
	return r;
}

static int op_post_restore(void *ud, struct vmt_error *err)
{
	struct tu *t = ud;

	atomic_fetch_add(&t->post_restores, 1);
	return maybe_fail(t, VMT_UNIT_OP_POST_RESTORE, err);
}

static void op_inspect(void *ud, FILE *out)
{
	fprintf(out, "{\"value\":%llu}", (unsigned long long)((struct tu *)ud)->value);
}

static const struct vmt_unit_ops full_ops = {
	.start = op_start,
	.stop = op_stop,
	.reset = op_reset,
	.save = op_save,
	.save_version = 7,
	.restore = op_restore,
	.post_restore = op_post_restore,
	.inspect = op_inspect,
};

/* A unit without saved state (it has no save op, and refuses restore). */
static const struct vmt_unit_ops nosave_ops = {
	.start = op_start,
	.stop = op_stop,
	.reset = op_reset,
	.post_restore = op_post_restore,
};

static vmt_units *new_set(void)
{
	vmt_units *s = NULL;

	if (vmt_units_new(&s) < 0 || !s)
		VMT_FAIL("vmt_units_new failed");
	return s;
}

static void add(vmt_units *s, const char *name, struct tu *t, const struct vmt_unit_ops *ops)
{
	int r = vmt_units_add(s, name, ops ? ops : &full_ops, t, &t->unit);

	if (r < 0)
		VMT_FAIL("add %s: %s", name, strerror(-r));
}

/* ---- registration ---- */

/* The writer owns its image: copy it out so it outlives the writer. */
static void *image_copy(vmt_snap_writer *w, size_t *len)
{
	const void *img;
	void *buf;

	if (vmt_snap_writer_save_buffer(w, &img, len, NULL) < 0)
		VMT_FAIL("save buffer");
	buf = malloc(*len);
	if (!buf)
		VMT_FAIL("malloc");
	memcpy(buf, img, *len);
	return buf;
}

TEST(add_names)
{
	vmt_units *s = new_set();
	vmt_unit *u = NULL, *f = NULL;
	char longname[VMT_UNIT_NAME_MAX + 2];

	ASSERT_ERR(vmt_units_new(NULL), -EINVAL);
	ASSERT_ERR(vmt_units_add(NULL, "a", NULL, NULL, &u), -EINVAL);
	ASSERT_ERR(vmt_units_add(s, NULL, NULL, NULL, &u), -EINVAL);
	ASSERT_ERR(vmt_units_add(s, "", NULL, NULL, &u), -EINVAL);
	ASSERT_ERR(vmt_units_add(s, "quo\"te", NULL, NULL, &u), -EINVAL);
	ASSERT_ERR(vmt_units_add(s, "back\\slash", NULL, NULL, &u), -EINVAL);
	ASSERT_ERR(vmt_units_add(s, "tab\t", NULL, NULL, &u), -EINVAL);
	memset(longname, 'x', sizeof(longname));
	longname[VMT_UNIT_NAME_MAX + 1] = 0;
	ASSERT_ERR(vmt_units_add(s, longname, NULL, NULL, &u), -ENAMETOOLONG);
	ASSERT_TRUE(u == NULL);
	longname[VMT_UNIT_NAME_MAX] = 0;
	ASSERT_OK(vmt_units_add(s, longname, NULL, NULL, &u));
	ASSERT_STREQ(vmt_unit_name(u), longname);
	ASSERT_OK(vmt_units_add(s, "pit", NULL, NULL, NULL));
	ASSERT_ERR(vmt_units_add(s, "pit", NULL, NULL, &u), -EEXIST);
	ASSERT_EQ(vmt_units_count(s), 2);
	ASSERT_ERR(vmt_units_count(NULL), -EINVAL);
	ASSERT_OK(vmt_units_find(s, "pit", &f));
	ASSERT_STREQ(vmt_unit_name(f), "pit");
	ASSERT_EQ(vmt_unit_state(f), VMT_UNIT_STOPPED);
	ASSERT_ERR(vmt_unit_state(NULL), -EINVAL);
	ASSERT_TRUE(vmt_unit_name(NULL) == NULL);
	ASSERT_ERR(vmt_units_find(s, "hpet", &f), -ENOENT);
	ASSERT_ERR(vmt_units_find(s, NULL, &f), -EINVAL);
	ASSERT_ERR(vmt_units_find(s, "pit", NULL), -EINVAL);
	ASSERT_ERR(vmt_units_find(NULL, "pit", &f), -EINVAL);
	ASSERT_ERR(vmt_units_running(NULL), -EINVAL);
	ASSERT_EQ(vmt_units_running(s), 0);

	/* Many names: the hash table grows and every name stays findable. */
	for (int i = 0; i < 1000; i++) {
		char n[16];

		snprintf(n, sizeof(n), "dev%d", i);
		ASSERT_OK(vmt_units_add(s, n, NULL, NULL, NULL));
	}
	for (int i = 0; i < 1000; i += 37) {
		char n[16];

		snprintf(n, sizeof(n), "dev%d", i);
		ASSERT_OK(vmt_units_find(s, n, &f));
		ASSERT_STREQ(vmt_unit_name(f), n);
	}
	ASSERT_EQ(vmt_units_count(s), 1002);
	ASSERT_TRUE(vmt_units_free(s) == NULL);
	ASSERT_TRUE(vmt_units_free(NULL) == NULL);
}

/*
 * Issue 9 defect 10: units.h and docs/errors.md allow every printable ASCII
 * character but '"' and '\\' (0x20..0x7e), the code refused the space.
 */
TEST(add_name_character_boundaries)
{
	static const char *const ok[] = { "ide 0", " ", "~", "!", "a b c", "#$%&'()*+,-./:;<=>?@[]^_`{|}" };
	static const char *const bad[] = { "a\x1f", "a\x7f", "a\"", "a\\", "\x80", "caf\xc3\xa9",
					   "\t", "\n" };
	vmt_units *s = new_set();
	char name[VMT_UNIT_NAME_MAX + 2];
	vmt_unit *u = NULL;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int r = vmt_units_add(s, ok[i], NULL, NULL, &u);

		if (r < 0)
			VMT_FAIL("\"%s\" refused: %d", ok[i], r);
		ASSERT_STREQ(vmt_unit_name(u), ok[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = vmt_units_add(s, bad[i], NULL, NULL, NULL);

		if (r != -EINVAL)
			VMT_FAIL("bad name %zu: expected -EINVAL, got %d", i, r);
	}
	ASSERT_ERR(vmt_units_add(s, "", NULL, NULL, NULL), -EINVAL);
	/* Every allowed character, and the length limit with spaces in it. */
	for (int c = 0x20; c <= 0x7e; c++) {
		char n[8];

		snprintf(n, sizeof(n), "c%c", c);
		ASSERT_ERR(vmt_units_add(s, n, NULL, NULL, NULL),
			   c == '"' || c == '\\' ? -EINVAL : 0);
	}
	memset(name, ' ', sizeof(name));
	name[VMT_UNIT_NAME_MAX] = 0;
	ASSERT_OK(vmt_units_add(s, name, NULL, NULL, NULL));
	name[VMT_UNIT_NAME_MAX] = ' ';
	name[VMT_UNIT_NAME_MAX + 1] = 0;
	ASSERT_ERR(vmt_units_add(s, name, NULL, NULL, NULL), -ENAMETOOLONG);
	vmt_units_free(s);
}

TEST(edges_and_cycles)
{
	vmt_units *s = new_set(), *s2 = new_set();
	vmt_unit *a, *b, *c, *d, *x;

	ASSERT_OK(vmt_units_add(s, "a", NULL, NULL, &a));
	ASSERT_OK(vmt_units_add(s, "b", NULL, NULL, &b));
	ASSERT_OK(vmt_units_add(s, "c", NULL, NULL, &c));
	ASSERT_OK(vmt_units_add(s, "d", NULL, NULL, &d));
	ASSERT_OK(vmt_units_add(s2, "x", NULL, NULL, &x));

	ASSERT_ERR(vmt_unit_depends_on(NULL, a), -EINVAL);
	ASSERT_ERR(vmt_unit_depends_on(a, NULL), -EINVAL);
	ASSERT_ERR(vmt_unit_depends_on(a, x), -EINVAL);
	ASSERT_ERR(vmt_unit_dependency_of(x, a), -EINVAL);
	ASSERT_ERR(vmt_unit_depends_on(a, a), -ELOOP);

	/* a -> b -> c (a depends on b, b on c), added against registration order. */
	ASSERT_OK(vmt_unit_depends_on(a, b));
	ASSERT_OK(vmt_unit_dependency_of(c, b));
	ASSERT_ERR(vmt_unit_depends_on(a, b), -EALREADY);
	ASSERT_ERR(vmt_unit_dependency_of(b, a), -EALREADY);
	ASSERT_ERR(vmt_unit_depends_on(b, a), -ELOOP);
	ASSERT_ERR(vmt_unit_depends_on(c, a), -ELOOP);
	ASSERT_ERR(vmt_unit_dependency_of(a, c), -ELOOP);
	ASSERT_OK(vmt_unit_depends_on(a, c));	/* a shortcut is not a cycle */
	ASSERT_OK(vmt_unit_depends_on(d, a));
	ASSERT_ERR(vmt_unit_depends_on(c, d), -ELOOP);

	vmt_units_free(s2);
	vmt_units_free(s);
}

/*
 * Random DAG built edge by edge in random directions: every refusal must be a
 * real cycle (checked by brute force) and every accepted edge must be
 * honoured by start order.
 */
#define RN 40

static bool reach(bool adj[RN][RN], int from, int to)
{
	bool seen[RN] = { false };
	int stack[RN], n = 0;

	stack[n++] = from;
	seen[from] = true;
	while (n) {
		int u = stack[--n];

		if (u == to)
			return true;
		for (int v = 0; v < RN; v++)
			if (adj[u][v] && !seen[v]) {
				seen[v] = true;
				stack[n++] = v;
			}
	}
	return false;
}

TEST(random_dag_cycles_and_order)
{
	static bool adj[RN][RN]; /* adj[u][v]: u depends on v */
	static struct tu t[RN];
	vmt_units *s = new_set();
	unsigned rng = 12345;
	int accepted = 0, refused = 0;

	memset(adj, 0, sizeof(adj));
	memset(t, 0, sizeof(t));
	for (int i = 0; i < RN; i++) {
		char n[8];

		snprintf(n, sizeof(n), "u%d", i);
		add(s, n, &t[i], NULL);
		t[i].delay_us = (i * 7) % 5 * 20;
	}
	for (int k = 0; k < 400; k++) {
		int u, v, r;

		rng = rng * 1103515245 + 12345;
		u = (int)((rng >> 8) % RN);
		rng = rng * 1103515245 + 12345;
		v = (int)((rng >> 8) % RN);
		r = vmt_unit_depends_on(t[u].unit, t[v].unit);
		if (u == v) {
			ASSERT_ERR(r, -ELOOP);
		} else if (adj[u][v]) {
			ASSERT_ERR(r, -EALREADY);
		} else if (reach(adj, v, u)) {
			ASSERT_ERR(r, -ELOOP);
			refused++;
		} else {
			ASSERT_OK(r);
			adj[u][v] = true;
			accepted++;
		}
	}
	ASSERT_GT(accepted, 50);
	ASSERT_GT(refused, 10);

	ASSERT_OK(vmt_units_start(s, NULL));
	for (int u = 0; u < RN; u++)
		for (int v = 0; v < RN; v++)
			if (adj[u][v])
				ASSERT_LT(atomic_load(&t[v].end), atomic_load(&t[u].begin));
	ASSERT_OK(vmt_units_stop(s, NULL));
	for (int u = 0; u < RN; u++)
		for (int v = 0; v < RN; v++)
			if (adj[u][v])
				ASSERT_LT(atomic_load(&t[u].end), atomic_load(&t[v].begin));
	ASSERT_OK(vmt_units_reset(s, NULL));
	for (int u = 0; u < RN; u++)
		for (int v = 0; v < RN; v++)
			if (adj[u][v])
				ASSERT_LT(atomic_load(&t[v].end), atomic_load(&t[u].begin));
	for (int i = 0; i < RN; i++)
		ASSERT_EQ(atomic_load(&t[i].calls), 3);
	vmt_units_free(s);
}

/* ---- concurrency ---- */

/* Each of two independent units waits (bounded) until both have begun. */
static void op_meet(void *ud)
{
	struct tu *t = ud;
	struct timespec ts = { 0, 1000000 };

	atomic_fetch_add(t->meet, 1);
	for (int i = 0; i < 5000 && atomic_load(t->meet) < t->meet_target; i++)
		nanosleep(&ts, NULL);
	t->met = atomic_load(t->meet) >= t->meet_target;
}

TEST(independent_units_overlap)
{
	static const struct vmt_unit_ops meet_ops = { .start = op_meet, .stop = op_meet };
	struct tu a = { 0 }, b = { 0 };
	atomic_int meet = 0;
	vmt_units *s = new_set();

	a.meet = b.meet = &meet;
	a.meet_target = b.meet_target = 2;
	add(s, "a", &a, &meet_ops);
	add(s, "b", &b, &meet_ops);
	ASSERT_OK(vmt_units_start(s, NULL));
	ASSERT_TRUE(a.met);
	ASSERT_TRUE(b.met);
	vmt_units_free(s);
}

/* slow waits until c has run: c depends only on fast, not on slow. */
static void op_wait_flag(void *ud)
{
	struct tu *t = ud;
	struct timespec ts = { 0, 1000000 };

	for (int i = 0; i < 5000 && !atomic_load(t->wait_flag); i++)
		nanosleep(&ts, NULL);
	t->met = atomic_load(t->wait_flag);
}

static atomic_bool c_ran;

static void op_set_flag(void *ud)
{
	(void)ud;
	atomic_store(&c_ran, true);
}

TEST(not_in_waves)
{
	static const struct vmt_unit_ops slow_ops = { .start = op_wait_flag };
	static const struct vmt_unit_ops flag_ops = { .start = op_set_flag };
	struct tu slow = { 0 }, fast = { 0 }, c = { 0 };
	vmt_units *s = new_set();

	atomic_store(&c_ran, false);
	slow.wait_flag = &c_ran;
	add(s, "slow", &slow, &slow_ops);
	add(s, "fast", &fast, &(struct vmt_unit_ops){ .start = op_start });
	add(s, "c", &c, &flag_ops);
	ASSERT_OK(vmt_unit_depends_on(c.unit, fast.unit));
	ASSERT_OK(vmt_units_start(s, NULL));
	ASSERT_TRUE(slow.met);
	vmt_units_free(s);
}

/* ---- state machine ---- */

TEST(state_change_unit_added_while_running)
{
	struct tu a = { .saves = true, .value = 11 }, b = { 0 }, c = { 0 };
	vmt_units *s = new_set();
	vmt_units_report *rep = NULL;
	vmt_snap_writer *w;
	vmt_snap_reader *rd;
	void *buf;
	size_t len;

	add(s, "a", &a, NULL);
	add(s, "b", &b, NULL);
	ASSERT_ERR(vmt_units_stop(s, NULL), -EALREADY);
	ASSERT_OK(vmt_units_start(s, &rep));
	ASSERT_EQ(vmt_units_report_count(rep), 2);
	ASSERT_EQ(vmt_units_report_failures(rep), 0);
	rep = vmt_units_report_free(rep);
	ASSERT_EQ(vmt_units_running(s), 1);
	ASSERT_ERR(vmt_units_start(s, NULL), -EALREADY);
	ASSERT_ERR(vmt_units_reset(s, NULL), -EBUSY);

	/* Added while running: stays stopped until start_stopped. */
	add(s, "c", &c, NULL);
	ASSERT_EQ(vmt_unit_state(c.unit), VMT_UNIT_STOPPED);
	ASSERT_EQ(vmt_unit_state(a.unit), VMT_UNIT_RUNNING);
	ASSERT_OK(vmt_units_start_stopped(s, &rep));
	ASSERT_EQ(vmt_units_report_count(rep), 1);
	ASSERT_STREQ(vmt_units_report_entry(rep, 0)->unit, "c");
	rep = vmt_units_report_free(rep);
	ASSERT_EQ(vmt_unit_state(c.unit), VMT_UNIT_RUNNING);
	ASSERT_EQ(atomic_load(&a.calls), 1);
	ASSERT_EQ(atomic_load(&c.calls), 1);

	ASSERT_OK(vmt_units_stop(s, &rep));
	ASSERT_EQ(vmt_units_report_count(rep), 3);
	rep = vmt_units_report_free(rep);
	ASSERT_EQ(vmt_unit_state(c.unit), VMT_UNIT_STOPPED);
	/* start_stopped on a stopped set starts nothing. */
	ASSERT_OK(vmt_units_start_stopped(s, &rep));
	ASSERT_EQ(vmt_units_report_count(rep), 0);
	rep = vmt_units_report_free(rep);
	ASSERT_EQ(vmt_unit_state(c.unit), VMT_UNIT_STOPPED);
	ASSERT_OK(vmt_units_start(s, NULL));
	ASSERT_ERR(vmt_units_save(s, (vmt_snap_writer *)&a, NULL), -EBUSY);
	ASSERT_OK(vmt_units_stop(s, NULL));

	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_units_save(s, w, NULL));
	buf = image_copy(w, &len);
	vmt_snap_writer_free(w);
	a.value = 0;
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, &rd, NULL));
	ASSERT_EQ(vmt_snap_reader_count(rd), 3);
	ASSERT_OK(vmt_units_restore(s, rd, NULL));
	ASSERT_UEQ(a.value, 11);
	vmt_snap_reader_free(rd);
	free(buf);
	vmt_units_free(s);
}

/* Save every unit of @s into a buffer-backed reader. */
static vmt_snap_reader *save_to_reader(vmt_units *s, void **buf)
{
	vmt_snap_writer *w;
	vmt_snap_reader *rd;
	size_t len;

	if (vmt_snap_writer_new(&w) < 0)
		VMT_FAIL("snap writer");
	if (vmt_units_save(s, w, NULL) < 0)
		VMT_FAIL("units save");
	*buf = image_copy(w, &len);
	vmt_snap_writer_free(w);
	if (vmt_snap_reader_from_buffer(*buf, len, &rd, NULL) < 0)
		VMT_FAIL("reader");
	return rd;
}

TEST(dependencies_restored_first)
{
	struct tu zzz = { .value = 5, .delay_us = 20000 }, aaa = { .value = 6 };
	vmt_units *s = new_set();
	vmt_snap_reader *rd;
	void *buf;

	/* Registration and name order both favour the dependent. */
	add(s, "zzz", &zzz, NULL);
	add(s, "aaa", &aaa, NULL);
	aaa.must_be_restored = &zzz;
	ASSERT_OK(vmt_unit_depends_on(aaa.unit, zzz.unit));
	ASSERT_OK(vmt_units_start(s, NULL));
	ASSERT_OK(vmt_units_stop(s, NULL));
	rd = save_to_reader(s, &buf);
	zzz.value = aaa.value = 0;
	ASSERT_OK(vmt_units_restore(s, rd, NULL));
	ASSERT_TRUE(!aaa.saw_bad_order);
	ASSERT_LT(atomic_load(&zzz.end), atomic_load(&aaa.begin));
	ASSERT_UEQ(zzz.value, 5);
	ASSERT_UEQ(aaa.value, 6);
	vmt_snap_reader_free(rd);
	free(buf);
	vmt_units_free(s);
}

TEST(unit_without_saved_state_restored_in_order)
{
	/* a depends on b (no saved state), b on c (slow restore). */
	struct tu a = { .value = 1 }, b = { 0 }, c = { .value = 3, .delay_us = 30000 };
	vmt_units *s = new_set();
	vmt_units_report *rep = NULL;
	const struct vmt_unit_result *e;
	vmt_snap_reader *rd;
	void *buf;

	add(s, "a", &a, NULL);
	add(s, "b_no_saved_state", &b, &nosave_ops);
	add(s, "c", &c, NULL);
	ASSERT_OK(vmt_unit_dependency_of(b.unit, a.unit));
	ASSERT_OK(vmt_unit_dependency_of(c.unit, b.unit));
	a.must_be_restored = &c;
	rd = save_to_reader(s, &buf);
	ASSERT_EQ(vmt_snap_reader_count(rd), 2);
	ASSERT_ERR(vmt_snap_reader_find(rd, "b_no_saved_state", &(struct vmt_snap_section){ 0 }),
		   -ENOENT);
	ASSERT_OK(vmt_units_restore(s, rd, &rep));
	ASSERT_TRUE(!a.saw_bad_order);
	ASSERT_EQ(atomic_load(&b.calls), 0); /* neither saved nor restored */
	e = vmt_units_report_find(rep, "b_no_saved_state", VMT_UNIT_OP_RESTORE);
	ASSERT_TRUE(e != NULL);
	ASSERT_EQ(e->status, VMT_UNIT_NO_STATE);
	/* post_restore runs for every unit, after every restore. */
	ASSERT_EQ(vmt_units_report_count(rep), 6);
	ASSERT_EQ(atomic_load(&a.post_restores), 1);
	ASSERT_EQ(atomic_load(&b.post_restores), 1);
	ASSERT_EQ(atomic_load(&c.post_restores), 1);
	rep = vmt_units_report_free(rep);
	vmt_snap_reader_free(rd);
	free(buf);
	vmt_units_free(s);
}

/* ---- failures and reports ---- */

static void print_report(const vmt_units_report *rep)
{
	for (size_t i = 0; i < vmt_units_report_count(rep); i++) {
		const struct vmt_unit_result *e = vmt_units_report_entry(rep, i);

		fprintf(stderr, "    %-8s %-12s %-8s %d %s%s%s\n", e->unit, vmt_unit_op_name(e->op),
			vmt_unit_status_name(e->status), e->error, e->msg,
			e->cause ? " cause=" : "", e->cause ? e->cause : "");
	}
}

TEST(reset_failure_skips_dependents)
{
	/* clock <- b <- c <- d, and e independent; b fails. */
	struct tu clock = { 0 }, b = { .fail = -EIO, .fail_op = VMT_UNIT_OP_RESET }, c = { 0 },
		  d = { 0 }, e = { 0 };
	vmt_units *s = new_set();
	vmt_units_report *rep = NULL;
	const struct vmt_unit_result *r;

	add(s, "clock", &clock, NULL);
	add(s, "b", &b, NULL);
	add(s, "c", &c, NULL);
	add(s, "d", &d, NULL);
	add(s, "e", &e, NULL);
	ASSERT_OK(vmt_unit_depends_on(b.unit, clock.unit));
	ASSERT_OK(vmt_unit_depends_on(c.unit, b.unit));
	ASSERT_OK(vmt_unit_depends_on(d.unit, c.unit));
	ASSERT_ERR(vmt_units_reset(s, &rep), -EIO);
	print_report(rep);
	ASSERT_EQ(vmt_units_report_count(rep), 5);
	ASSERT_EQ(vmt_units_report_failures(rep), 3);
	r = vmt_units_report_entry(rep, 0);
	ASSERT_STREQ(r->unit, "clock");
	ASSERT_EQ(r->op, VMT_UNIT_OP_RESET);
	ASSERT_EQ(r->status, VMT_UNIT_DONE);
	ASSERT_EQ(r->error, 0);
	ASSERT_STREQ(r->msg, "");
	ASSERT_TRUE(r->cause == NULL);
	r = vmt_units_report_find(rep, "b", VMT_UNIT_OP_RESET);
	ASSERT_EQ(r->status, VMT_UNIT_FAILED);
	ASSERT_EQ(r->error, -EIO);
	ASSERT_STREQ(r->msg, "reset refused on purpose");
	r = vmt_units_report_find(rep, "c", VMT_UNIT_OP_RESET);
	ASSERT_EQ(r->status, VMT_UNIT_SKIPPED);
	ASSERT_EQ(r->error, -ECANCELED);
	ASSERT_STREQ(r->cause, "b");
	ASSERT_TRUE(strstr(r->msg, "\"b\" failed") != NULL);
	r = vmt_units_report_find(rep, "d", VMT_UNIT_OP_RESET);
	ASSERT_EQ(r->status, VMT_UNIT_SKIPPED);
	ASSERT_STREQ(r->cause, "c");
	r = vmt_units_report_find(rep, "e", VMT_UNIT_OP_RESET);
	ASSERT_EQ(r->status, VMT_UNIT_DONE);
	ASSERT_TRUE(vmt_units_report_find(rep, "e", VMT_UNIT_OP_START) == NULL);
	ASSERT_TRUE(vmt_units_report_find(rep, "zz", VMT_UNIT_OP_RESET) == NULL);
	ASSERT_TRUE(vmt_units_report_find(NULL, "e", VMT_UNIT_OP_RESET) == NULL);
	ASSERT_TRUE(vmt_units_report_find(rep, NULL, VMT_UNIT_OP_RESET) == NULL);
	ASSERT_TRUE(vmt_units_report_entry(rep, 5) == NULL);
	ASSERT_TRUE(vmt_units_report_entry(NULL, 0) == NULL);
	ASSERT_EQ(vmt_units_report_count(NULL), 0);
	ASSERT_EQ(vmt_units_report_failures(NULL), 0);
	/* Skipped units were not called; the others were. */
	ASSERT_EQ(atomic_load(&c.calls), 0);
	ASSERT_EQ(atomic_load(&d.calls), 0);
	ASSERT_EQ(atomic_load(&clock.calls), 1);
	ASSERT_EQ(atomic_load(&e.calls), 1);
	ASSERT_TRUE(vmt_units_report_free(rep) == NULL);
	ASSERT_TRUE(vmt_units_report_free(NULL) == NULL);

	/* A failure without a message gets one naming the errno; NULL report is fine. */
	b.fail = -ENODEV;
	ASSERT_ERR(vmt_units_reset(s, NULL), -ENODEV);
	vmt_units_free(s);
}

static int op_reset_silent_fail(void *ud, struct vmt_error *err)
{
	(void)ud;
	(void)err;
	return -ENXIO;
}

TEST(failure_without_message_and_names)
{
	static const struct vmt_unit_ops ops = { .reset = op_reset_silent_fail };
	vmt_units *s = new_set();
	vmt_units_report *rep = NULL;

	ASSERT_OK(vmt_units_add(s, "quiet", &ops, NULL, NULL));
	ASSERT_ERR(vmt_units_reset(s, &rep), -ENXIO);
	ASSERT_TRUE(strstr(vmt_units_report_entry(rep, 0)->msg, "reset failed") != NULL);
	vmt_units_report_free(rep);
	ASSERT_STREQ(vmt_unit_op_name(VMT_UNIT_OP_POST_RESTORE), "post_restore");
	ASSERT_STREQ(vmt_unit_op_name(VMT_UNIT_OP_START), "start");
	ASSERT_TRUE(vmt_unit_op_name((enum vmt_unit_op)99) == NULL);
	ASSERT_STREQ(vmt_unit_status_name(VMT_UNIT_SKIPPED), "skipped");
	ASSERT_STREQ(vmt_unit_status_name(VMT_UNIT_NO_STATE), "no_state");
	ASSERT_TRUE(vmt_unit_status_name((enum vmt_unit_status)-1) == NULL);
	ASSERT_ERR(vmt_units_start(NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_units_stop(NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_units_start_stopped(NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_units_reset(NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_units_save(NULL, NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_units_save(s, NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_units_restore(s, NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_units_restore(NULL, NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_units_inspect(NULL, stderr), -EINVAL);
	ASSERT_ERR(vmt_units_inspect(s, NULL), -EINVAL);
	ASSERT_ERR(vmt_unit_remove(NULL), -EINVAL);
	vmt_units_free(s);
}

TEST(remove_drops_edges)
{
	struct tu a = { 0 }, b = { 0 }, c = { 0 };
	vmt_units *s = new_set();
	vmt_unit *f;

	add(s, "a", &a, NULL);
	add(s, "b", &b, NULL);
	add(s, "c", &c, NULL);
	ASSERT_OK(vmt_unit_depends_on(a.unit, b.unit));
	ASSERT_OK(vmt_unit_depends_on(b.unit, c.unit));
	ASSERT_OK(vmt_unit_remove(b.unit));
	ASSERT_EQ(vmt_units_count(s), 2);
	ASSERT_ERR(vmt_units_find(s, "b", &f), -ENOENT);
	/* The name is free again; a and c no longer relate, so c may depend on a. */
	add(s, "b", &b, NULL);
	ASSERT_OK(vmt_unit_depends_on(c.unit, a.unit));
	ASSERT_OK(vmt_units_start(s, NULL));
	ASSERT_LT(atomic_load(&a.end), atomic_load(&c.begin));
	ASSERT_OK(vmt_units_stop(s, NULL));
	ASSERT_LT(atomic_load(&c.end), atomic_load(&a.begin));
	ASSERT_OK(vmt_unit_remove(a.unit));
	ASSERT_OK(vmt_unit_remove(c.unit));
	ASSERT_EQ(vmt_units_count(s), 1);
	ASSERT_OK(vmt_units_start(s, NULL));
	ASSERT_EQ(atomic_load(&b.calls), 3); /* start, stop, start */
	vmt_units_free(s);
}

/* An operation that calls back into its own set. */
struct reentry {
	vmt_units *s;
	vmt_unit *self, *other;
	int add_r, start_r, remove_r, dep_r, inspect_r;
	/* Every other operation, also refused from inside a unit operation. */
	int dep_of_r, start_stopped_r, stop_r, reset_r, save_r, restore_r;
	vmt_snap_writer *w;
	vmt_snap_reader *rd;
	char *json;
};

static void op_reenter(void *ud)
{
	struct reentry *re = ud;
	size_t len;
	FILE *f;

	re->add_r = vmt_units_add(re->s, "late", NULL, NULL, NULL);
	re->start_r = vmt_units_start(re->s, NULL);
	re->remove_r = vmt_unit_remove(re->other);
	re->dep_r = vmt_unit_depends_on(re->other, re->self);
	re->dep_of_r = vmt_unit_dependency_of(re->self, re->other);
	re->start_stopped_r = vmt_units_start_stopped(re->s, NULL);
	re->stop_r = vmt_units_stop(re->s, NULL);
	re->reset_r = vmt_units_reset(re->s, NULL);
	re->save_r = vmt_units_save(re->s, re->w, NULL);
	re->restore_r = vmt_units_restore(re->s, re->rd, NULL);
	f = open_memstream(&re->json, &len);
	re->inspect_r = vmt_units_inspect(re->s, f);
	fclose(f);
}

TEST(busy_during_operation)
{
	static const struct vmt_unit_ops ops = { .start = op_reenter };
	struct reentry re = { 0 };
	vmt_units *s = new_set();

	const void *img;
	size_t img_len;

	re.s = s;
	/* An empty snapshot, so restore is refused for being busy, not for its input. */
	ASSERT_OK(vmt_snap_writer_new(&re.w));
	ASSERT_OK(vmt_snap_writer_save_buffer(re.w, &img, &img_len, NULL));
	ASSERT_OK(vmt_snap_reader_from_buffer(img, img_len, &re.rd, NULL));
	ASSERT_OK(vmt_units_add(s, "self", &ops, &re, &re.self));
	ASSERT_OK(vmt_units_add(s, "other", NULL, NULL, &re.other));
	ASSERT_OK(vmt_units_start(s, NULL));
	ASSERT_EQ(re.add_r, -EBUSY);
	ASSERT_EQ(re.start_r, -EBUSY);
	ASSERT_EQ(re.remove_r, -EBUSY);
	ASSERT_EQ(re.dep_r, -EBUSY);
	ASSERT_EQ(re.dep_of_r, -EBUSY);
	ASSERT_EQ(re.start_stopped_r, -EBUSY);
	ASSERT_EQ(re.stop_r, -EBUSY);
	ASSERT_EQ(re.reset_r, -EBUSY);
	ASSERT_EQ(re.save_r, -EBUSY);
	ASSERT_EQ(re.restore_r, -EBUSY);
	vmt_snap_reader_free(re.rd);
	vmt_snap_writer_free(re.w);
	ASSERT_EQ(re.inspect_r, 0);
	fprintf(stderr, "    %s", re.json);
	ASSERT_TRUE(strstr(re.json, "\"operation\":\"start\"") != NULL);
	ASSERT_TRUE(strstr(re.json, "\"name\":\"self\",\"state\":\"stopped\"") != NULL);
	ASSERT_TRUE(strstr(re.json, "\"progress\":\"running\"") != NULL);
	free(re.json);
	ASSERT_EQ(vmt_units_count(s), 2);
	vmt_units_free(s);
}

TEST(inspect_json)
{
	struct tu a = { .value = 42 }, b = { 0 };
	vmt_units *s = new_set();
	char *json = NULL;
	size_t len;
	FILE *f;

	add(s, "a", &a, NULL);
	add(s, "b", &b, &nosave_ops);
	ASSERT_OK(vmt_unit_depends_on(b.unit, a.unit));
	ASSERT_OK(vmt_units_start(s, NULL));
	f = open_memstream(&json, &len);
	ASSERT_OK(vmt_units_inspect(s, f));
	fclose(f);
	fprintf(stderr, "    %s", json);
	ASSERT_STREQ(json, "{\"running\":true,\"operation\":null,\"units\":["
			   "{\"name\":\"a\",\"state\":\"running\",\"depends_on\":[],"
			   "\"dependents\":[\"b\"],\"inspect\":{\"value\":42}},"
			   "{\"name\":\"b\",\"state\":\"running\",\"depends_on\":[\"a\"],"
			   "\"dependents\":[]}]}\n");
	free(json);
	vmt_units_free(s);
}

/* An inspect operation that calls back into its own set. */
struct inspect_reentry {
	vmt_units *s;
	vmt_unit *self;
	int count_r, state_r, running_r, find_r, add_r, remove_r, dep_r, start_r, inspect_r;
	int calls;
};

static void op_inspect_reenter(void *ud, FILE *out)
{
	struct inspect_reentry *re = ud;
	vmt_unit *f = NULL;
	char *json = NULL;
	size_t len;
	FILE *m;

	if (re->calls++)
		return (void)fputs("null", out); /* the nested inspect below */
	re->count_r = vmt_units_count(re->s);
	re->state_r = vmt_unit_state(re->self);
	re->running_r = vmt_units_running(re->s);
	re->find_r = vmt_units_find(re->s, "self", &f);
	re->add_r = vmt_units_add(re->s, "late", NULL, NULL, NULL);
	re->remove_r = vmt_unit_remove(re->self);
	re->dep_r = vmt_unit_depends_on(re->self, re->self);
	re->start_r = vmt_units_start(re->s, NULL);
	m = open_memstream(&json, &len);
	re->inspect_r = m ? vmt_units_inspect(re->s, m) : -ENOMEM;
	if (m)
		fclose(m);
	free(json);
	fprintf(out, "{\"count\":%d}", re->count_r);
}

/*
 * Issue 9 defect 8: unit inspect operations ran under the set's lock, so
 * one calling vmt_units_count() deadlocked.  Getters work from inside one;
 * changes are -EBUSY (they would wait for the inspect itself).  Runs in a
 * child so the old code fails (SIGALRM) instead of hanging the test.
 */
TEST(inspect_op_may_call_back_into_its_set)
{
	pid_t pid;
	int st;

	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		static const struct vmt_unit_ops ops = { .inspect = op_inspect_reenter };
		struct inspect_reentry re = { 0 };
		char *json = NULL;
		size_t len;
		FILE *f;
		int r;

		alarm(20); /* far above any scheduling delay; the fix never waits */
		if (vmt_units_new(&re.s) < 0 ||
		    vmt_units_add(re.s, "self", &ops, &re, &re.self) < 0)
			_exit(2);
		f = open_memstream(&json, &len);
		r = vmt_units_inspect(re.s, f);
		fclose(f);
		if (r != 0 || re.count_r != 1 || re.state_r != VMT_UNIT_STOPPED ||
		    re.running_r != 0 || re.find_r != 0 || re.add_r != -EBUSY ||
		    re.remove_r != -EBUSY || re.dep_r != -EBUSY || re.start_r != -EBUSY ||
		    re.inspect_r != 0 || !strstr(json, "\"inspect\":{\"count\":1}")) {
			fprintf(stderr, "inspect %d count %d state %d running %d find %d add %d "
				"remove %d dep %d start %d nested %d json %s\n", r, re.count_r,
				re.state_r, re.running_r, re.find_r, re.add_r, re.remove_r,
				re.dep_r, re.start_r, re.inspect_r, json);
			_exit(1);
		}
		free(json);
		/* Nothing stayed claimed: the set changes again. */
		if (vmt_units_add(re.s, "late", NULL, NULL, NULL) < 0 || vmt_units_count(re.s) != 2)
			_exit(3);
		vmt_units_free(re.s);
		_exit(0);
	}
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		VMT_FAIL("vmt_units_inspect deadlocked (signal %d)", WTERMSIG(st));
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_EQ(WEXITSTATUS(st), 0);
}

/* An operation asked for from another thread waits for the inspect operations. */
struct inspect_hold {
	vmt_units *s;
	atomic_bool go, started;
	atomic_int inspect_end, start_begin;
	int start_r;
};

static void op_inspect_hold(void *ud, FILE *out)
{
	struct inspect_hold *h = ud;

	atomic_store(&h->go, true);
	/* Give the other thread time to reach vmt_units_start(). */
	for (int i = 0; i < 200 && !atomic_load(&h->started); i++)
		usleep(1000);
	usleep(20000);
	atomic_store(&h->inspect_end, atomic_fetch_add(&seq, 1) + 1);
	fputs("1", out);
}

static void op_start_hold(void *ud)
{
	struct inspect_hold *h = ud;

	atomic_store(&h->start_begin, atomic_fetch_add(&seq, 1) + 1);
}

static void *start_when_told(void *arg)
{
	struct inspect_hold *h = arg;

	while (!atomic_load(&h->go))
		sched_yield();
	atomic_store(&h->started, true);
	h->start_r = vmt_units_start(h->s, NULL);
	return NULL;
}

TEST(operation_waits_for_inspect_ops_of_another_thread)
{
	static const struct vmt_unit_ops ops = { .start = op_start_hold, .inspect = op_inspect_hold };
	static struct inspect_hold h;
	pthread_t th;
	FILE *null = fopen("/dev/null", "w");

	ASSERT_TRUE(null != NULL);
	h.s = new_set();
	ASSERT_OK(vmt_units_add(h.s, "held", &ops, &h, NULL));
	ASSERT_EQ(pthread_create(&th, NULL, start_when_told, &h), 0);
	ASSERT_OK(vmt_units_inspect(h.s, null));
	pthread_join(th, NULL);
	fclose(null);
	ASSERT_OK(h.start_r);
	/* The unit's start never ran beside its inspect. */
	ASSERT_GT(atomic_load(&h.start_begin), atomic_load(&h.inspect_end));
	vmt_units_free(h.s);
}

TEST(save_failure_leaves_no_section)
{
	struct tu a = { .value = 1 }, b = { .value = 2, .fail = -ENOSPC, .fail_op = VMT_UNIT_OP_SAVE };
	vmt_units *s = new_set();
	vmt_units_report *rep = NULL;
	vmt_snap_writer *w;
	vmt_snap_reader *rd;
	struct vmt_snap_section sec;
	void *buf;
	size_t len;

	add(s, "a", &a, NULL);
	add(s, "b", &b, NULL);
	ASSERT_OK(vmt_unit_depends_on(b.unit, a.unit));
	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_ERR(vmt_units_save(s, w, &rep), -ENOSPC);
	print_report(rep);
	ASSERT_EQ(vmt_units_report_find(rep, "a", VMT_UNIT_OP_SAVE)->status, VMT_UNIT_DONE);
	ASSERT_EQ(vmt_units_report_find(rep, "b", VMT_UNIT_OP_SAVE)->status, VMT_UNIT_FAILED);
	ASSERT_EQ(vmt_units_report_failures(rep), 1);
	vmt_units_report_free(rep);
	buf = image_copy(w, &len);
	vmt_snap_writer_free(w);
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, &rd, NULL));
	ASSERT_EQ(vmt_snap_reader_count(rd), 1);
	ASSERT_OK(vmt_snap_reader_section(rd, 0, &sec));
	ASSERT_STREQ(sec.name, "a");
	ASSERT_EQ(sec.payload_version, 7);
	vmt_snap_reader_free(rd);
	free(buf);
	vmt_units_free(s);
}

/* A snapshot with the given sections, each holding field 1 = 9. */
static vmt_snap_reader *snapshot_of(const char *const *names, int n, void **buf)
{
	vmt_snap_writer *w;
	vmt_snap_reader *rd;
	size_t len;

	if (vmt_snap_writer_new(&w) < 0)
		VMT_FAIL("writer");
	for (int i = 0; i < n; i++) {
		vmt_fields_writer *fw;

		if (vmt_snap_writer_section(w, names[i], 7, &fw) < 0 ||
		    vmt_fields_put_u64(fw, 1, 9) < 0)
			VMT_FAIL("section %s", names[i]);
	}
	*buf = image_copy(w, &len);
	vmt_snap_writer_free(w);
	if (vmt_snap_reader_from_buffer(*buf, len, &rd, NULL) < 0)
		VMT_FAIL("reader");
	return rd;
}

TEST(restore_refuses_unknown_and_duplicate_sections)
{
	static const char *const names[] = { "a", "ghost", "b", "a" };
	struct tu a = { .value = 1 }, b = { .value = 2 };
	vmt_units *s = new_set();
	vmt_units_report *rep = NULL;
	const struct vmt_unit_result *e;
	vmt_snap_reader *rd;
	void *buf;

	add(s, "a", &a, NULL);
	add(s, "b", &b, NULL);
	rd = snapshot_of(names, 4, &buf);
	ASSERT_ERR(vmt_units_restore(s, rd, &rep), -ENOENT);
	print_report(rep);
	ASSERT_EQ(vmt_units_report_count(rep), 2);
	e = vmt_units_report_entry(rep, 0);
	ASSERT_STREQ(e->unit, "ghost");
	ASSERT_EQ(e->error, -ENOENT);
	ASSERT_EQ(e->op, VMT_UNIT_OP_RESTORE);
	ASSERT_EQ(e->status, VMT_UNIT_FAILED);
	ASSERT_TRUE(strstr(e->msg, "section 1") != NULL);
	e = vmt_units_report_entry(rep, 1);
	ASSERT_STREQ(e->unit, "a");
	ASSERT_EQ(e->error, -EBADMSG);
	ASSERT_TRUE(strstr(e->msg, "section 3") != NULL);
	vmt_units_report_free(rep);
	/* Nothing ran. */
	ASSERT_EQ(atomic_load(&a.calls), 0);
	ASSERT_EQ(atomic_load(&b.calls), 0);
	ASSERT_UEQ(a.value, 1);
	vmt_snap_reader_free(rd);
	free(buf);

	/* Only a duplicate: -EBADMSG. */
	rd = snapshot_of((const char *const[]){ "b", "b" }, 2, &buf);
	ASSERT_ERR(vmt_units_restore(s, rd, NULL), -EBADMSG);
	vmt_snap_reader_free(rd);
	free(buf);

	/* The set is usable afterwards (the failed match left no stale section). */
	rd = snapshot_of((const char *const[]){ "b" }, 1, &buf);
	ASSERT_OK(vmt_units_restore(s, rd, NULL));
	ASSERT_UEQ(b.value, 9);
	ASSERT_EQ(atomic_load(&a.calls), 0);
	vmt_snap_reader_free(rd);
	free(buf);
	vmt_units_free(s);
}

TEST(restore_failure_skips_dependents_and_post_restore)
{
	/* dev depends on clock; clock's restore fails; other is independent. */
	struct tu clock = { .fail = -EPROTO, .fail_op = VMT_UNIT_OP_RESTORE }, dev = { 0 },
		  other = { 0 }, nor = { 0 };
	vmt_units *s = new_set();
	vmt_units_report *rep = NULL;
	vmt_snap_reader *rd;
	void *buf;

	add(s, "clock", &clock, NULL);
	add(s, "dev", &dev, NULL);
	add(s, "other", &other, NULL);
	add(s, "norestore", &nor, &nosave_ops);
	ASSERT_OK(vmt_unit_depends_on(dev.unit, clock.unit));
	rd = snapshot_of((const char *const[]){ "clock", "dev", "other" }, 3, &buf);
	ASSERT_ERR(vmt_units_restore(s, rd, &rep), -EPROTO);
	print_report(rep);
	ASSERT_EQ(vmt_units_report_count(rep), 4); /* no post_restore entries */
	ASSERT_EQ(vmt_units_report_find(rep, "dev", VMT_UNIT_OP_RESTORE)->status,
		  VMT_UNIT_SKIPPED);
	ASSERT_EQ(vmt_units_report_find(rep, "other", VMT_UNIT_OP_RESTORE)->status,
		  VMT_UNIT_DONE);
	ASSERT_EQ(vmt_units_report_find(rep, "norestore", VMT_UNIT_OP_RESTORE)->status,
		  VMT_UNIT_NO_STATE);
	ASSERT_UEQ(other.value, 9);
	ASSERT_EQ(atomic_load(&dev.calls), 0);
	ASSERT_EQ(atomic_load(&other.post_restores), 0);
	vmt_units_report_free(rep);
	vmt_snap_reader_free(rd);
	free(buf);

	/* State for a unit without a restore op: -EOPNOTSUPP. */
	clock.fail = 0;
	rd = snapshot_of((const char *const[]){ "norestore" }, 1, &buf);
	ASSERT_ERR(vmt_units_restore(s, rd, &rep), -EOPNOTSUPP);
	ASSERT_EQ(vmt_units_report_failures(rep), 1);
	vmt_units_report_free(rep);
	vmt_snap_reader_free(rd);
	free(buf);

	/* post_restore failures are reported after a complete restore. */
	other.fail = -EIO;
	other.fail_op = VMT_UNIT_OP_POST_RESTORE;
	rd = snapshot_of((const char *const[]){ "clock", "dev", "other" }, 3, &buf);
	ASSERT_ERR(vmt_units_restore(s, rd, &rep), -EIO);
	print_report(rep);
	ASSERT_EQ(vmt_units_report_count(rep), 8);
	ASSERT_EQ(vmt_units_report_find(rep, "other", VMT_UNIT_OP_POST_RESTORE)->status,
		  VMT_UNIT_FAILED);
	ASSERT_EQ(vmt_units_report_find(rep, "dev", VMT_UNIT_OP_POST_RESTORE)->status,
		  VMT_UNIT_DONE);
	ASSERT_EQ(atomic_load(&dev.post_restores), 1);
	ASSERT_UEQ(dev.value, 9);
	vmt_units_report_free(rep);
	vmt_snap_reader_free(rd);
	free(buf);
	vmt_units_free(s);
}

TEST(many_units_concurrent_layers)
{
	enum { L = 10, W = 30 };
	static struct tu t[L * W];
	vmt_units *s = new_set();
	vmt_units_report *rep = NULL;
	vmt_snap_reader *rd;
	void *buf;

	memset(t, 0, sizeof(t));
	for (int i = 0; i < L * W; i++) {
		char n[16];

		snprintf(n, sizeof(n), "l%d.%d", i / W, i % W);
		t[i].value = (uint64_t)i;
		add(s, n, &t[i], NULL);
		if (i >= W) {
			ASSERT_OK(vmt_unit_depends_on(t[i].unit, t[i - W].unit));
			ASSERT_OK(vmt_unit_depends_on(t[i].unit, t[i - W + (i % W == W - 1 ? -(W - 1) : 1)].unit));
		}
	}
	ASSERT_OK(vmt_units_start(s, NULL));
	ASSERT_OK(vmt_units_stop(s, NULL));
	rd = save_to_reader(s, &buf);
	for (int i = 0; i < L * W; i++)
		t[i].value = 0;
	ASSERT_OK(vmt_units_restore(s, rd, &rep));
	ASSERT_EQ(vmt_units_report_count(rep), 2 * L * W);
	for (int i = 0; i < L * W; i++) {
		ASSERT_UEQ(t[i].value, i);
		if (i >= W)
			ASSERT_LT(atomic_load(&t[i - W].end), atomic_load(&t[i].begin));
	}
	vmt_units_report_free(rep);
	vmt_snap_reader_free(rd);
	free(buf);
	vmt_units_free(s);
}

TEST(save_order_is_registration_order)
{
	enum { N = 12 };
	static struct tu t[N];
	vmt_units *s = new_set();
	vmt_snap_reader *rd;
	void *buf;

	memset(t, 0, sizeof(t));
	for (int i = 0; i < N; i++) {
		char n[8];

		/* The first unit is slow: the others finish (and wait) before it. */
		snprintf(n, sizeof(n), "s%d", i);
		t[i].delay_us = i == 0 ? 50000 : 0;
		t[i].value = (uint64_t)i;
		add(s, n, &t[i], NULL);
	}
	rd = save_to_reader(s, &buf);
	ASSERT_EQ(vmt_snap_reader_count(rd), N);
	ASSERT_GT(atomic_load(&t[0].end), atomic_load(&t[N - 1].end));
	for (int i = 0; i < N; i++) {
		struct vmt_snap_section sec;
		char n[8];
		uint64_t v;

		snprintf(n, sizeof(n), "s%d", i);
		ASSERT_OK(vmt_snap_reader_section(rd, (size_t)i, &sec));
		ASSERT_STREQ(sec.name, n);
		ASSERT_OK(vmt_fields_get_u64(&sec.fields, 1, &v));
		ASSERT_UEQ(v, i);
	}
	vmt_snap_reader_free(rd);
	free(buf);
	vmt_units_free(s);
}

TEST(start_stopped_respects_running_and_new_units)
{
	struct tu old = { 0 }, dep = { 0 }, leaf = { 0 };
	vmt_units *s = new_set();
	vmt_snap_reader *rd;
	void *buf;
	FILE *ro;

	add(s, "old", &old, NULL);
	ASSERT_OK(vmt_units_start(s, NULL));
	/* Two late units: leaf depends on the running old unit and on dep. */
	add(s, "leaf", &leaf, NULL);
	add(s, "dep", &dep, NULL);
	ASSERT_OK(vmt_unit_depends_on(leaf.unit, old.unit));
	ASSERT_OK(vmt_unit_depends_on(leaf.unit, dep.unit));
	ASSERT_OK(vmt_units_start_stopped(s, NULL));
	ASSERT_EQ(atomic_load(&old.calls), 1); /* not started twice */
	ASSERT_LT(atomic_load(&dep.end), atomic_load(&leaf.begin));
	ASSERT_EQ(vmt_unit_state(leaf.unit), VMT_UNIT_RUNNING);

	/* Restore needs a stopped set. */
	rd = snapshot_of((const char *const[]){ "old" }, 1, &buf);
	ASSERT_ERR(vmt_units_restore(s, rd, NULL), -EBUSY);
	ASSERT_OK(vmt_units_stop(s, NULL));
	ASSERT_LT(atomic_load(&leaf.end), atomic_load(&old.begin));
	ASSERT_LT(atomic_load(&leaf.end), atomic_load(&dep.begin));
	ASSERT_OK(vmt_units_restore(s, rd, NULL));
	ASSERT_UEQ(old.value, 9);
	vmt_snap_reader_free(rd);
	free(buf);

	/* A stream that cannot be written: -EIO. */
	ro = fopen("/dev/null", "r");
	ASSERT_TRUE(ro != NULL);
	ASSERT_ERR(vmt_units_inspect(s, ro), -EIO);
	fclose(ro);
	vmt_units_free(s);
}

/* ---- resources ---- */

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
/* Bytes of address space this process maps now (VmSize), or 0. */
static unsigned long long vm_size(void)
{
	unsigned long long kb = 0;
	char line[128];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static void *park(void *arg)
{
	for (;;)
		pause();
	return arg;
}
#endif

TEST(new_without_room_for_a_worker_thread)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	SKIP("a sanitizer's allocator cannot run under an address-space limit");
#else
	pid_t pid;
	int st;

	if (!vm_size())
		SKIP("no VmSize in /proc/self/status");
	/*
	 * In a child, cap the address space 1 MiB above what is mapped: small
	 * allocations still fit, a new thread stack (8 MiB by default, never
	 * under 1 MiB) does not, so pthread_create() fails with EAGAIN.
	 */
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		vmt_units *sentinel = (vmt_units *)&pid, *u = sentinel;
		struct rlimit rl;
		int r;

		rl.rlim_cur = rl.rlim_max = (rlim_t)(vm_size() + (1u << 20));
		if (setrlimit(RLIMIT_AS, &rl) < 0)
			_exit(3);
		/* Earlier tests' thread stacks are cached by libc: use them up first. */
		for (int i = 0;; i++) {
			pthread_t th;

			if (i == 64)
				_exit(4);
			if (pthread_create(&th, NULL, park, NULL))
				break;
		}
		r = vmt_units_new(&u);
		_exit(r == -EAGAIN && u == sentinel ? 0 : r == 0 ? 1 : 2);
	}
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st));
	if (WEXITSTATUS(st) == 3)
		SKIP("setrlimit(RLIMIT_AS) refused");
	if (WEXITSTATUS(st) == 4)
		SKIP("64 threads fit under the address-space limit");
	ASSERT_EQ(WEXITSTATUS(st), 0);
#endif
}

/* The copy inspect takes under the lock can fail: -ENOMEM, nothing printed. */
TEST(inspect_without_memory_for_the_copy_is_enomem)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	SKIP("a sanitizer's allocator cannot run under an address-space limit");
#else
	pid_t pid;
	int st;

	if (!vm_size())
		SKIP("no VmSize in /proc/self/status");
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		vmt_units *s = NULL;
		char name[VMT_UNIT_NAME_MAX + 1];
		struct rlimit rl;
		FILE *null = fopen("/dev/null", "w");
		void **hog = NULL;
		int r;

		if (!null || vmt_units_new(&s) < 0)
			_exit(5);
		/* 20000 long names: the copy needs more than 2 MiB in two blocks. */
		memset(name, 'n', sizeof(name));
		name[VMT_UNIT_NAME_MAX] = 0;
		for (int i = 0; i < 20000; i++) {
			snprintf(name, 8, "%07d", i);
			name[7] = 'n';
			if (vmt_units_add(s, name, NULL, NULL, NULL) < 0)
				_exit(5);
		}
		rl.rlim_cur = rl.rlim_max = (rlim_t)(vm_size() + (1u << 20));
		if (setrlimit(RLIMIT_AS, &rl) < 0)
			_exit(3);
		/*
		 * Take what libc still has free (earlier tests freed plenty), in
		 * blocks small enough that no 1 MiB hole stays behind.
		 */
		for (void **p; (p = malloc(16384));) {
			*p = hog;
			hog = p;
		}
		r = vmt_units_inspect(s, null);
		while (hog) {
			void **next = *hog;

			free(hog);
			hog = next;
		}
		if (r != -ENOMEM)
			_exit(r == 0 ? 1 : 2);
		/* Nothing stayed claimed. */
		_exit(vmt_units_add(s, "after", NULL, NULL, NULL) == 0 ? 0 : 4);
	}
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st));
	if (WEXITSTATUS(st) == 3)
		SKIP("setrlimit(RLIMIT_AS) refused");
	ASSERT_EQ(WEXITSTATUS(st), 0);
#endif
}
