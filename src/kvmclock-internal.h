/* SPDX-License-Identifier: MIT */
/*
 * kvmclock-internal.h - the arithmetic of the KVM clock bridge, apart from
 * its ioctls so that tests check it without /dev/kvm (internal).
 */
#ifndef VMT_KVMCLOCK_INTERNAL_H
#define VMT_KVMCLOCK_INTERNAL_H

#include <stdint.h>

#include <vmtime/time.h>

/*
 * The guest's kvmclock when the VM last stopped, with the VM time read with
 * it: the value below which a start must not set the clock.
 */
struct vmti_kvmclock_floor {
	int valid;
	uint64_t guest_ns;
	vmt_ns vm_ns;
};

/*
 * vmti_kvmclock_target() - the value a start at VM time @vm sets:
 * @vm + @offset, raised to the floor moved by the VM time since it was
 * taken.  A floor from a later VM time than @vm (VM time went back: a reset
 * or an older snapshot) does not count.  *@held gets how far the floor
 * raised it.  Sums saturate.
 */
uint64_t vmti_kvmclock_target(vmt_ns vm, uint64_t offset, const struct vmti_kvmclock_floor *f,
			      uint64_t *held);

/* vmti_kvmclock_drift() - @guest - (@vm + @offset), saturated to int64_t. */
int64_t vmti_kvmclock_drift(uint64_t guest, vmt_ns vm, uint64_t offset);

#endif /* VMT_KVMCLOCK_INTERNAL_H */
