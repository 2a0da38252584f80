/* SPDX-License-Identifier: MIT */
/*
 * test-keeper-unit.c - the VM clock as the unit "vmtime": gVisor's
 * Timekeeper restore cases with an injected wall clock, and its place in
 * the dependency order.
 *
 * VMT_TEST_THREADED: unit operations run on the set's worker pool.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <vmtime/keeper.h>
#include <vmtime/snapshot.h>
#include <vmtime/units.h>

#include <stdlib.h>
#include <string.h>

#include "tests.h"

#define SEC VMT_NS_PER_SEC

struct fake_clock {
	_Atomic vmt_ns host, wall, boot;
};

static vmt_ns fake_now(void *opaque, enum vmt_clock clock)
{
	struct fake_clock *f = opaque;

	switch (clock) {
	case VMT_CLOCK_HOST:
		return atomic_load(&f->host);
	case VMT_CLOCK_WALL:
		return atomic_load(&f->wall);
	case VMT_CLOCK_BOOT:
		return atomic_load(&f->boot);
	default:
		return 0;
	}
}

struct rig {
	struct fake_clock fc;
	vmt_keeper *k;
	vmt_units *units;
	vmt_unit *clock;
};

static void rig_init(struct rig *g, enum vmt_restore_policy policy)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;

	memset(g, 0, sizeof(*g));
	atomic_store(&g->fc.host, 100 * SEC);
	atomic_store(&g->fc.wall, 1700000000 * SEC);
	atomic_store(&g->fc.boot, 200 * SEC);
	cfg.mode = VMT_KEEPER_MANUAL;
	cfg.restore_policy = policy;
	cfg.host_clock = fake_now;
	cfg.host_clock_opaque = &g->fc;
	if (vmt_keeper_new(&cfg, &g->k) < 0 || vmt_units_new(&g->units) < 0)
		VMT_FAIL("rig");
	if (vmt_keeper_add_unit(g->k, g->units, &g->clock) < 0)
		VMT_FAIL("add unit");
}

static void rig_free(struct rig *g)
{
	vmt_units_free(g->units);
	vmt_keeper_free(g->k);
}

static vmt_ns vm_now(struct rig *g)
{
	return vmt_now(vmt_keeper_source(g->k), VMT_CLOCK_VM);
}

/* Run the VM for @ns of VM time, stop it and save; returns a reader. */
static vmt_snap_reader *run_and_save(struct rig *g, vmt_ns ns, void **buf)
{
	vmt_snap_writer *w;
	vmt_snap_reader *rd;
	size_t len;

	if (vmt_units_start(g->units, NULL) < 0 || vmt_keeper_advance(g->k, ns) < 0 ||
	    vmt_units_stop(g->units, NULL) < 0)
		VMT_FAIL("run");
	const void *img;

	if (vmt_snap_writer_new(&w) < 0 || vmt_units_save(g->units, w, NULL) < 0 ||
	    vmt_snap_writer_save_buffer(w, &img, &len, NULL) < 0)
		VMT_FAIL("save");
	/* The image belongs to the writer: keep a copy past its free. */
	*buf = malloc(len);
	if (!*buf)
		VMT_FAIL("malloc");
	memcpy(*buf, img, len);
	vmt_snap_writer_free(w);
	if (vmt_snap_reader_from_buffer(*buf, len, &rd, NULL) < 0)
		VMT_FAIL("reader");
	return rd;
}

TEST(saved_fields)
{
	struct rig g;
	struct vmt_snap_section sec;
	vmt_snap_reader *rd;
	uint64_t v;
	void *buf;

	rig_init(&g, VMT_RESTORE_CATCHUP);
	rd = run_and_save(&g, 5 * SEC, &buf);
	ASSERT_EQ(vmt_snap_reader_count(rd), 1);
	ASSERT_OK(vmt_snap_reader_section(rd, 0, &sec));
	ASSERT_STREQ(sec.name, "vmtime");
	ASSERT_EQ(sec.payload_version, 1);
	ASSERT_OK(vmt_fields_get_u64(&sec.fields, 1, &v));
	ASSERT_UEQ(v, 5 * SEC);
	ASSERT_OK(vmt_fields_get_u64(&sec.fields, 2, &v));
	ASSERT_UEQ(v, 1700000000 * SEC);
	ASSERT_OK(vmt_fields_get_u64(&sec.fields, 3, &v));
	ASSERT_UEQ(v, VMT_RESTORE_CATCHUP);
	vmt_snap_reader_free(rd);
	free(buf);
	rig_free(&g);
}

TEST(catchup_jumps_by_wall_delta)
{
	struct rig g;
	vmt_snap_reader *rd;
	void *buf;

	rig_init(&g, VMT_RESTORE_CATCHUP);
	rd = run_and_save(&g, 5 * SEC, &buf);
	/* The VM was "off" for 60 s of wall time; host time moved too. */
	atomic_fetch_add(&g.fc.wall, 60 * SEC);
	atomic_fetch_add(&g.fc.host, 60 * SEC);
	ASSERT_OK(vmt_keeper_reset(g.k, 0));
	ASSERT_OK(vmt_units_restore(g.units, rd, NULL));
	ASSERT_UEQ(vm_now(&g), 65 * SEC);
	ASSERT_EQ(vmt_keeper_running(g.k), 0);
	/* The restored clock runs on from there. */
	ASSERT_OK(vmt_units_start(g.units, NULL));
	ASSERT_OK(vmt_keeper_advance(g.k, SEC));
	ASSERT_UEQ(vm_now(&g), 66 * SEC);
	vmt_snap_reader_free(rd);
	free(buf);
	rig_free(&g);
}

TEST(catchup_wall_backwards_keeps_saved_time)
{
	struct rig g;
	vmt_snap_reader *rd;
	void *buf;

	rig_init(&g, VMT_RESTORE_CATCHUP);
	rd = run_and_save(&g, 5 * SEC, &buf);
	atomic_fetch_sub(&g.fc.wall, 3600 * SEC);
	ASSERT_OK(vmt_keeper_wall_stepped(g.k));
	ASSERT_OK(vmt_keeper_reset(g.k, 0));
	ASSERT_OK(vmt_units_restore(g.units, rd, NULL));
	ASSERT_UEQ(vm_now(&g), 5 * SEC);
	vmt_snap_reader_free(rd);
	free(buf);
	rig_free(&g);
}

TEST(freeze_ignores_wall_clock)
{
	struct rig g;
	vmt_snap_reader *rd;
	void *buf;

	rig_init(&g, VMT_RESTORE_FREEZE);
	rd = run_and_save(&g, 7 * SEC, &buf);
	atomic_fetch_add(&g.fc.wall, 86400 * SEC);
	atomic_fetch_add(&g.fc.host, 86400 * SEC);
	ASSERT_OK(vmt_keeper_reset(g.k, 123));
	ASSERT_OK(vmt_units_restore(g.units, rd, NULL));
	ASSERT_UEQ(vm_now(&g), 7 * SEC);
	vmt_snap_reader_free(rd);
	free(buf);
	rig_free(&g);
}

TEST(save_running_clock_is_busy)
{
	struct rig g;
	vmt_units_report *rep = NULL;
	const struct vmt_unit_result *e;
	vmt_snap_writer *w;

	rig_init(&g, VMT_RESTORE_FREEZE);
	/* The set is stopped but the clock was started behind its back. */
	ASSERT_OK(vmt_keeper_start(g.k));
	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_ERR(vmt_units_save(g.units, w, &rep), -EBUSY);
	e = vmt_units_report_find(rep, "vmtime", VMT_UNIT_OP_SAVE);
	ASSERT_TRUE(e != NULL);
	ASSERT_EQ(e->status, VMT_UNIT_FAILED);
	ASSERT_EQ(e->error, -EBUSY);
	ASSERT_TRUE(strstr(e->msg, "runs") != NULL);
	vmt_units_report_free(rep);
	/* Reset and restore of a running clock fail the same way. */
	ASSERT_ERR(vmt_units_reset(g.units, &rep), -EBUSY);
	ASSERT_STREQ(vmt_units_report_entry(rep, 0)->unit, "vmtime");
	vmt_units_report_free(rep);
	vmt_snap_writer_free(w);
	rig_free(&g);
}

TEST(reset_and_errors)
{
	struct rig g;
	vmt_unit *u;

	rig_init(&g, VMT_RESTORE_FREEZE);
	ASSERT_ERR(vmt_keeper_add_unit(g.k, g.units, &u), -EEXIST);
	ASSERT_ERR(vmt_keeper_add_unit(NULL, g.units, &u), -EINVAL);
	ASSERT_ERR(vmt_keeper_add_unit(g.k, NULL, &u), -EINVAL);
	ASSERT_STREQ(vmt_unit_name(g.clock), "vmtime");
	ASSERT_OK(vmt_units_start(g.units, NULL));
	ASSERT_EQ(vmt_keeper_running(g.k), 1);
	ASSERT_OK(vmt_keeper_advance(g.k, 9 * SEC));
	ASSERT_OK(vmt_units_stop(g.units, NULL));
	ASSERT_EQ(vmt_keeper_running(g.k), 0);
	ASSERT_UEQ(vm_now(&g), 9 * SEC);
	ASSERT_OK(vmt_units_reset(g.units, NULL));
	ASSERT_UEQ(vm_now(&g), 0);
	rig_free(&g);
}

/* A snapshot holding one "vmtime" section built by hand. */
static vmt_snap_reader *handmade(uint32_t version, bool with_vm, bool with_wall, uint64_t vm,
				 void **buf)
{
	vmt_snap_writer *w;
	vmt_fields_writer *fw;
	vmt_snap_reader *rd;
	size_t len;

	if (vmt_snap_writer_new(&w) < 0 || vmt_snap_writer_section(w, "vmtime", version, &fw) < 0)
		VMT_FAIL("writer");
	if (with_vm)
		vmt_fields_put_u64(fw, 1, vm);
	if (with_wall)
		vmt_fields_put_u64(fw, 2, 1700000000 * SEC);
	const void *img;

	if (vmt_snap_writer_save_buffer(w, &img, &len, NULL) < 0)
		VMT_FAIL("save");
	*buf = malloc(len);
	if (!*buf)
		VMT_FAIL("malloc");
	memcpy(*buf, img, len);
	vmt_snap_writer_free(w);
	if (vmt_snap_reader_from_buffer(*buf, len, &rd, NULL) < 0)
		VMT_FAIL("reader");
	return rd;
}

TEST(restore_errors)
{
	struct rig g;
	vmt_units_report *rep = NULL;
	vmt_snap_reader *rd;
	void *buf;

	rig_init(&g, VMT_RESTORE_CATCHUP);
	rd = handmade(2, true, true, SEC, &buf);
	ASSERT_ERR(vmt_units_restore(g.units, rd, &rep), -EPROTONOSUPPORT);
	ASSERT_TRUE(strstr(vmt_units_report_entry(rep, 0)->msg, "version 2") != NULL);
	rep = vmt_units_report_free(rep);
	vmt_snap_reader_free(rd);
	free(buf);

	rd = handmade(1, false, true, SEC, &buf);
	ASSERT_ERR(vmt_units_restore(g.units, rd, NULL), -ENOENT);
	vmt_snap_reader_free(rd);
	free(buf);

	rd = handmade(1, true, false, SEC, &buf);
	ASSERT_ERR(vmt_units_restore(g.units, rd, NULL), -ENOENT);
	vmt_snap_reader_free(rd);
	free(buf);

	rd = handmade(1, true, true, VMT_NS_NEVER, &buf);
	ASSERT_ERR(vmt_units_restore(g.units, rd, NULL), -EBADMSG);
	vmt_snap_reader_free(rd);
	free(buf);

	/* Catching up past the end of time. */
	rd = handmade(1, true, true, VMT_NS_NEVER - 1, &buf);
	atomic_fetch_add(&g.fc.wall, SEC);
	ASSERT_ERR(vmt_units_restore(g.units, rd, NULL), -EOVERFLOW);
	vmt_snap_reader_free(rd);
	free(buf);

	/* Unchanged by all of the above. */
	ASSERT_UEQ(vm_now(&g), 0);
	rig_free(&g);
}

TEST(restore_running_clock_or_mistyped_field)
{
	struct rig g;
	vmt_units_report *rep = NULL;
	vmt_snap_writer *w;
	vmt_fields_writer *fw;
	vmt_snap_reader *rd;
	const void *img;
	size_t len;
	void *buf;

	rig_init(&g, VMT_RESTORE_FREEZE);
	/* The set is stopped, the clock was started behind its back: -EBUSY. */
	rd = handmade(1, true, true, 5 * SEC, &buf);
	ASSERT_OK(vmt_keeper_start(g.k));
	ASSERT_ERR(vmt_units_restore(g.units, rd, &rep), -EBUSY);
	ASSERT_EQ(vmt_units_report_find(rep, "vmtime", VMT_UNIT_OP_RESTORE)->error, -EBUSY);
	ASSERT_TRUE(strstr(vmt_units_report_find(rep, "vmtime", VMT_UNIT_OP_RESTORE)->msg,
			   "runs") != NULL);
	rep = vmt_units_report_free(rep);
	ASSERT_OK(vmt_keeper_stop(g.k));
	vmt_snap_reader_free(rd);
	free(buf);

	/* Field 1 (VM time) written as a signed integer: -EBADMSG. */
	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_snap_writer_section(w, "vmtime", 1, &fw));
	ASSERT_OK(vmt_fields_put_i64(fw, 1, 5));
	ASSERT_OK(vmt_fields_put_u64(fw, 2, 1700000000 * SEC));
	ASSERT_OK(vmt_snap_writer_save_buffer(w, &img, &len, NULL));
	ASSERT_OK(vmt_snap_reader_from_buffer(img, len, &rd, NULL));
	ASSERT_OK(vmt_keeper_reset(g.k, 77));
	ASSERT_ERR(vmt_units_restore(g.units, rd, NULL), -EBADMSG);
	ASSERT_UEQ(vm_now(&g), 77);
	vmt_snap_reader_free(rd);
	vmt_snap_writer_free(w);
	rig_free(&g);
}

/* A device that reads the VM clock in every operation. */
struct dev {
	vmt_keeper *k;
	int clock_running_at_start, clock_running_at_stop;
	vmt_ns vm_at_restore;
	vmt_ns saved;
};

static void dev_start(void *ud)
{
	struct dev *d = ud;

	d->clock_running_at_start = vmt_keeper_running(d->k);
}

static void dev_stop(void *ud)
{
	struct dev *d = ud;

	d->clock_running_at_stop = vmt_keeper_running(d->k);
}

static int dev_save(void *ud, vmt_fields_writer *w, struct vmt_error *err)
{
	(void)err;
	return vmt_fields_put_u64(w, 1, ((struct dev *)ud)->saved);
}

static int dev_restore(void *ud, vmt_fields_reader *r, uint32_t v, struct vmt_error *err)
{
	struct dev *d = ud;

	(void)r;
	(void)v;
	(void)err;
	d->vm_at_restore = vmt_now(vmt_keeper_source(d->k), VMT_CLOCK_VM);
	return 0;
}

TEST(devices_depend_on_the_clock)
{
	static const struct vmt_unit_ops dev_ops = {
		.start = dev_start,
		.stop = dev_stop,
		.save = dev_save,
		.restore = dev_restore,
	};
	struct dev devs[8];
	struct rig g;
	vmt_snap_reader *rd;
	void *buf;

	rig_init(&g, VMT_RESTORE_CATCHUP);
	for (int i = 0; i < 8; i++) {
		vmt_unit *u;
		char name[8];

		devs[i] = (struct dev){ .k = g.k, .vm_at_restore = VMT_NS_NEVER };
		snprintf(name, sizeof(name), "dev%d", i);
		ASSERT_OK(vmt_units_add(g.units, name, &dev_ops, &devs[i], &u));
		ASSERT_OK(vmt_unit_depends_on(u, g.clock));
	}
	rd = run_and_save(&g, 4 * SEC, &buf);
	for (int i = 0; i < 8; i++) {
		ASSERT_EQ(devs[i].clock_running_at_start, 1);
		ASSERT_EQ(devs[i].clock_running_at_stop, 1);
	}
	atomic_fetch_add(&g.fc.wall, 10 * SEC);
	ASSERT_OK(vmt_keeper_reset(g.k, 0));
	ASSERT_OK(vmt_units_restore(g.units, rd, NULL));
	for (int i = 0; i < 8; i++)
		ASSERT_UEQ(devs[i].vm_at_restore, 14 * SEC);
	vmt_snap_reader_free(rd);
	free(buf);
	rig_free(&g);
}

TEST(inspect_includes_clock)
{
	struct rig g;
	char *json = NULL;
	size_t len;
	FILE *f;

	rig_init(&g, VMT_RESTORE_FREEZE);
	f = open_memstream(&json, &len);
	ASSERT_OK(vmt_units_inspect(g.units, f));
	fclose(f);
	ASSERT_TRUE(strstr(json, "\"name\":\"vmtime\"") != NULL);
	ASSERT_TRUE(strstr(json, "\"inspect\":{\"mode\":\"manual\"") != NULL);
	free(json);
	rig_free(&g);
}

/* A unit that registers the clock unit into its own, busy set. */
struct late_clock {
	vmt_keeper *k;
	vmt_units *units;
	int r;
};

static int late_clock_reset(void *ud, struct vmt_error *err)
{
	struct late_clock *lc = ud;

	(void)err;
	lc->r = vmt_keeper_add_unit(lc->k, lc->units, NULL);
	return 0;
}

TEST(add_unit_during_an_operation_is_busy)
{
	static const struct vmt_unit_ops ops = { .reset = late_clock_reset };
	struct late_clock lc = { 0 };

	ASSERT_OK(vmt_keeper_new(NULL, &lc.k));
	ASSERT_OK(vmt_units_new(&lc.units));
	ASSERT_OK(vmt_units_add(lc.units, "dev", &ops, &lc, NULL));
	ASSERT_OK(vmt_units_reset(lc.units, NULL));
	ASSERT_ERR(lc.r, -EBUSY);
	ASSERT_EQ(vmt_units_count(lc.units), 1);
	/* Outside an operation the same call succeeds. */
	ASSERT_OK(vmt_keeper_add_unit(lc.k, lc.units, NULL));
	ASSERT_EQ(vmt_units_count(lc.units), 2);
	vmt_units_free(lc.units);
	vmt_keeper_free(lc.k);
}
