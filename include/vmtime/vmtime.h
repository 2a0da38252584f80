/* SPDX-License-Identifier: MIT */
/*
 * vmtime/vmtime.h - the whole vmtime API.
 *
 * vmtime gives a VMM, emulator or sandbox a VM clock that runs only while the
 * VM runs, timers on it and on the host clocks, device timers, a lifecycle
 * for VM components with save/restore, and the clock shared read-only with
 * other processes and with the guest.  Each module's header explains what it
 * guarantees.
 */
#ifndef VMTIME_VMTIME_H
#define VMTIME_VMTIME_H

#include "common.h"
#include "error.h"
#include "time.h"
#include "clock.h"
#include "source.h"
#include "keeper.h"
#include "loop.h"
#include "timer.h"
#include "snapshot.h"
#include "units.h"
#include "ptimer.h"
#include "timerfd.h"
#include "guest.h"
#include "share.h"
#include "device.h"
#include "rtc.h"
#include "pit.h"
#include "pmtimer.h"
#include "lapic.h"
#include "hpet.h"
#include "kvmclock.h"

#endif /* VMTIME_VMTIME_H */
