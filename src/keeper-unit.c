/* SPDX-License-Identifier: MIT */
/*
 * keeper-unit.c - the VM clock as the unit "vmtime".
 *
 * Saved payload (version 1), tagged fields:
 *   1  u64  VM time at the save (the clock is stopped, so it is exact)
 *   2  u64  wall time (VMT_CLOCK_WALL) at the save
 *   3  u64  the restore policy of the saving keeper (informational: the
 *           restoring keeper's own policy decides)
 *
 * Catch-up adds the wall time elapsed since the save, clamped at zero: a
 * wall clock set backwards between save and restore (or a snapshot taken on
 * a host whose clock ran ahead) must not move VM time backwards, which
 * guests take as time running in reverse.
 */
#include <errno.h>
#include <string.h>

#include <vmtime/snapshot.h>
#include <vmtime/units.h>

#include "internal.h"
#include "keeper-internal.h"
#include "saved-fields.h"

static void kunit_start(void *ud)
{
	/* -EALREADY means someone started the clock directly: nothing to do. */
	(void)vmt_keeper_start(ud);
}

static void kunit_stop(void *ud)
{
	(void)vmt_keeper_stop(ud);
}

static int kunit_reset(void *ud, struct vmt_error *err)
{
	vmt_keeper *k = ud;
	int r = vmt_keeper_reset(k, k->initial_vm_time);

	if (r < 0)
		return vmti_error(err, r, "resetting the VM clock failed: %s",
				  r == -EBUSY ? "it runs" : strerror(-r));
	return 0;
}

static int kunit_save(void *ud, vmt_fields_writer *w, struct vmt_error *err)
{
	vmt_keeper *k = ud;
	vmt_source *src = vmt_keeper_source(k);
	int r;

	/* A running clock has no single value to save. */
	if (vmt_keeper_running(k) == 1)
		return vmti_error(err, -EBUSY, "the VM clock runs; stop it before saving");
	vmt_fields_put_u64(w, VMTI_KEEPER_F_VM_NS, vmt_now(src, VMT_CLOCK_VM));
	vmt_fields_put_u64(w, VMTI_KEEPER_F_WALL_NS, vmt_now(src, VMT_CLOCK_WALL));
	r = vmt_fields_put_u64(w, VMTI_KEEPER_F_POLICY, vmti_keeper_restore_policy(k));
	if (r < 0)
		return vmti_error(err, r, "writing the VM clock failed: %s", strerror(-r));
	return 0;
}

static int kunit_restore(void *ud, vmt_fields_reader *rd, uint32_t version,
			 struct vmt_error *err)
{
	vmt_keeper *k = ud;
	uint64_t vm, wall;
	vmt_ns t;
	int r;

	if (version != VMTI_KEEPER_PAYLOAD_VERSION)
		return vmti_error(err, -EPROTONOSUPPORT, "VM clock payload version %u unknown",
				  version);
	r = vmt_fields_get_u64(rd, VMTI_KEEPER_F_VM_NS, &vm);
	if (r < 0)
		return vmti_error(err, r, "VM clock field %d (VM time): %s", VMTI_KEEPER_F_VM_NS,
				  strerror(-r));
	r = vmt_fields_get_u64(rd, VMTI_KEEPER_F_WALL_NS, &wall);
	if (r < 0)
		return vmti_error(err, r, "VM clock field %d (wall time): %s", VMTI_KEEPER_F_WALL_NS,
				  strerror(-r));
	if (vm == VMT_NS_NEVER)
		return vmti_error(err, -EBADMSG, "saved VM time is the NEVER sentinel");
	t = vm;
	if (vmti_keeper_restore_policy(k) == VMT_RESTORE_CATCHUP) {
		vmt_ns now = vmt_now(vmt_keeper_source(k), VMT_CLOCK_WALL);

		t = vmt_ns_add(vm, vmt_ns_sub(now, wall));
		if (t == VMT_NS_NEVER)
			return vmti_error(err, -EOVERFLOW,
					  "catching up %llu ns of wall time overflows VM time",
					  (unsigned long long)(now - wall));
	}
	r = vmt_keeper_reset(k, t);
	if (r < 0)
		return vmti_error(err, r, "restoring the VM clock failed: %s",
				  r == -EBUSY ? "it runs" : strerror(-r));
	return 0;
}

static void kunit_inspect(void *ud, FILE *out)
{
	if (vmt_keeper_inspect(ud, out) < 0)
		fputs("null", out);
}

static const struct vmt_unit_ops keeper_unit_ops = {
	.start = kunit_start,
	.stop = kunit_stop,
	.reset = kunit_reset,
	.save = kunit_save,
	.save_version = VMTI_KEEPER_PAYLOAD_VERSION,
	.restore = kunit_restore,
	.inspect = kunit_inspect,
};

int vmt_keeper_add_unit(vmt_keeper *k, vmt_units *units, vmt_unit **ret)
{
	if (!k || !units)
		return -EINVAL;
	return vmt_units_add(units, VMTI_KEEPER_UNIT_NAME, &keeper_unit_ops, k, ret);
}
