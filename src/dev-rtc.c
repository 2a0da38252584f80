/* SPDX-License-Identifier: MIT */
/*
 * dev-rtc.c - the MC146818A RTC on the VM clock.
 *
 * The model keeps one number instead of ticking registers: the "frame", the
 * RTC's time in ns since 1900-01-01 00:00:00 in its own zone, which is the
 * chosen clock plus an offset while the divider runs and a frozen value while
 * it does not.  Everything the guest sees is computed from the frame when it
 * looks: the time registers, UIP, and the flags of register C, by accounting
 * the update cycles and periodic ticks between the last accounted frame and
 * now (advance()).  The timer only exists to raise IRQ8 on time.
 *
 * The update cycle ends exactly on a second boundary of the frame, when the
 * registers show the new second (so a guest that waits for the falling edge
 * of UIP, like hwclock, meets the boundary); UIP is high for tBUC (244 us)
 * plus the cycle (1984 us with the 32.768 kHz time base) before it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmtime/rtc.h>
#include <vmtime/source.h>
#include <vmtime/timer.h>

#include "dev-irq.h"

#define NS_SEC UINT64_C(1000000000)
#define DAY_SEC UINT64_C(86400)
/* Datasheet table "Update cycle times", 32.768 kHz time base. */
#define T_BUC_NS UINT64_C(244000)
#define T_UC_NS UINT64_C(1984000)
#define UIP_NS (T_BUC_NS + T_UC_NS)
/* "The first update cycle begins one-half second" after the divider reset. */
#define RELEASE_TO_EDGE_NS (NS_SEC / 2 + T_UC_NS)
#define HZ_32K 32768u
/* Seconds from 1900-01-01 to 1970-01-01 (70 years, 17 of them leap). */
#define UNIX_TO_1900_SEC UINT64_C(2208988800)
#define YEAR_MIN 1900
#define YEAR_MAX 2199
/* Days from 1900-01-01 to 2200-01-01. */
#define FRAME_DAYS_MAX UINT64_C(109573)
#define FIELD_STATE_VERSION 1

enum {
	F_VERSION = 1,
	F_CMOS = 2,
	F_INDEX = 3,
	F_NMI = 4,
	F_BASE = 5,
	F_FRAME = 6,	/* the frame at the save (or the host offset) */
	F_VM = 7,	/* VM time at the save */
	F_LAST_REL = 8,	/* frame - last accounted */
	F_PGRID = 9,
	F_BACKLOG = 10,
	F_DOW = 11,
};

struct vmt_rtc {
	pthread_mutex_t lock;
	vmt_loop *loop;
	vmt_source *src;
	vmt_timer *timer;
	struct vmti_irq irq;
	struct vmti_dev_unit unit;
	char name[VMT_DEV_NAME_MAX + 1];
	enum vmt_rtc_base base;
	enum vmt_tick_policy ticks;
	vmt_ns min_period;
	unsigned century;		/* CMOS index, 0 for none */

	uint8_t cmos[VMT_RTC_CMOS_SIZE];
	uint8_t index;			/* port 0x70, bits 6-0 */
	uint8_t index_hi;		/* port 0x72 */
	uint8_t nmi_disabled;
	uint8_t dow_delta;		/* guest's day of week - the date's, mod 7 */
	uint64_t delta;			/* frame = clock + delta (mod 2^64), divider running */
	uint64_t frozen;		/* the frame while the divider is stopped */
	uint64_t last;			/* frame up to which events are accounted */
	uint64_t pgrid;			/* periodic grid offset in 32 kHz cycles (DELAY) */
	uint64_t backlog;		/* REINJECT ticks to raise after acks */
	uint64_t inflight;		/* ticks pulsed, done() not back yet */
	int pf_tick;			/* PF was just set by a counted tick */
	vmt_ns next_raise;		/* VM time before which no periodic raise */
	struct vmt_dev_stats stats;
};

/* --- calendar ---------------------------------------------------------- */

/*
 * Days from 1900-01-01 to y-m-d for y >= 1900 and m in 1..12; d may be out
 * of its month (counted on linearly).  The year starts in March so that the
 * leap day is the last day of the year, which makes the month lengths a
 * fixed pattern: 153 days for every 5 months from March.
 */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t mar = m > 2 ? m - 3 : m + 9;	/* months since March */
	int64_t yy = m > 2 ? y : y - 1;
	int64_t day_of_year = (153 * mar + 2) / 5 + d - 1;
	int64_t days = yy * 365 + yy / 4 - yy / 100 + yy / 400 + day_of_year;

	/* The same count for 1900-01-01 (March-based year 1899, day 306). */
	return days - (1899 * 365 + 1899 / 4 - 1899 / 100 + 1899 / 400 + 306);
}

struct civil {
	unsigned year, month, day, hour, min, sec, wday;	/* wday 0 = Sunday */
};

/* The inverse for days >= 0: split in 400-year cycles of 146097 days. */
static void civil_from_frame(uint64_t frame, struct civil *c)
{
	uint64_t secs = frame / NS_SEC;
	uint64_t days = secs / DAY_SEC, sod = secs % DAY_SEC;
	/*
	 * Shift to days since 1600-03-01, the start of a 400-year cycle:
	 * 300 years of 365 days and 72 leap days to 1900-03-01, less the 59
	 * days of January and February 1900.
	 */
	uint64_t z = days + 300 * 365 + 72 - 59;
	uint64_t cycle = z / 146097, doc = z % 146097;
	uint64_t yoc = (doc - doc / 1460 + doc / 36524 - doc / 146096) / 365;
	uint64_t doy = doc - (365 * yoc + yoc / 4 - yoc / 100);
	uint64_t mar = (5 * doy + 2) / 153;

	c->day = (unsigned)(doy - (153 * mar + 2) / 5 + 1);
	c->month = (unsigned)(mar < 10 ? mar + 3 : mar - 9);
	c->year = (unsigned)(1600 + cycle * 400 + yoc + (c->month <= 2));
	c->hour = (unsigned)(sod / 3600);
	c->min = (unsigned)(sod / 60 % 60);
	c->sec = (unsigned)(sod % 60);
	c->wday = (unsigned)((days + 1) % 7);	/* 1900-01-01 was a Monday */
}

/* --- register encoding ------------------------------------------------- */

static int binary(const struct vmt_rtc *rtc)
{
	return rtc->cmos[VMT_RTC_REG_B] & VMT_RTC_B_DM;
}

static uint8_t enc(const struct vmt_rtc *rtc, unsigned v)
{
	return binary(rtc) ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
}

/* Out-of-range BCD digits are taken at face value, as the chip's counters do. */
static unsigned dec(const struct vmt_rtc *rtc, uint8_t b)
{
	return binary(rtc) ? b : (unsigned)(b >> 4) * 10 + (b & 15);
}

static uint8_t enc_hour(const struct vmt_rtc *rtc, unsigned h)
{
	unsigned h12;

	if (rtc->cmos[VMT_RTC_REG_B] & VMT_RTC_B_24H)
		return enc(rtc, h);
	h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(enc(rtc, h12) | (h >= 12 ? 0x80 : 0));
}

static unsigned dec_hour(const struct vmt_rtc *rtc, uint8_t b)
{
	unsigned h;

	if (rtc->cmos[VMT_RTC_REG_B] & VMT_RTC_B_24H)
		return dec(rtc, b);
	h = dec(rtc, b & 0x7f) % 12;
	return h + (b & 0x80 ? 12 : 0);
}

static int is_time_reg(const struct vmt_rtc *rtc, unsigned idx)
{
	return (idx <= VMT_RTC_YEAR && idx != VMT_RTC_SECONDS_ALARM &&
		idx != VMT_RTC_MINUTES_ALARM && idx != VMT_RTC_HOURS_ALARM) ||
	       (rtc->century && idx == rtc->century);
}

/* Write the time registers for @frame into the CMOS bytes. */
static void materialize(struct vmt_rtc *rtc, uint64_t frame)
{
	struct civil c;

	civil_from_frame(frame, &c);
	rtc->cmos[VMT_RTC_SECONDS] = enc(rtc, c.sec);
	rtc->cmos[VMT_RTC_MINUTES] = enc(rtc, c.min);
	rtc->cmos[VMT_RTC_HOURS] = enc_hour(rtc, c.hour);
	rtc->cmos[VMT_RTC_DAY_OF_WEEK] = enc(rtc, (c.wday + rtc->dow_delta) % 7 + 1);
	rtc->cmos[VMT_RTC_DATE] = enc(rtc, c.day);
	rtc->cmos[VMT_RTC_MONTH] = enc(rtc, c.month);
	rtc->cmos[VMT_RTC_YEAR] = enc(rtc, c.year % 100);
	if (rtc->century)
		rtc->cmos[rtc->century] = enc(rtc, c.year / 100);
}

/*
 * The time the guest wrote, in seconds since 1900.  The datasheet leaves
 * out-of-range values undefined; they are normalized (seconds 75 is the
 * next minute's 15), the month clamped to 1-12 and the year to 1900-2199.
 * The day of week is free on the chip: only its offset from the date's is
 * kept.
 */
static uint64_t parse(struct vmt_rtc *rtc)
{
	const uint8_t *m = rtc->cmos;
	int64_t year = dec(rtc, m[VMT_RTC_YEAR]) % 100;
	int64_t month = dec(rtc, m[VMT_RTC_MONTH]);
	int64_t days, secs;
	unsigned cent, wday;

	if (rtc->century) {
		cent = dec(rtc, m[rtc->century]);
		if (cent < YEAR_MIN / 100)
			cent = YEAR_MIN / 100;
		if (cent > YEAR_MAX / 100)
			cent = YEAR_MAX / 100;
		year += cent * 100;
	} else {
		year += year >= 70 ? 1900 : 2000;
	}
	month = month < 1 ? 1 : month > 12 ? 12 : month;
	days = days_from_civil(year, month, dec(rtc, m[VMT_RTC_DATE]));
	secs = days * (int64_t)DAY_SEC + dec_hour(rtc, m[VMT_RTC_HOURS]) * 3600 +
	       dec(rtc, m[VMT_RTC_MINUTES]) * 60 + dec(rtc, m[VMT_RTC_SECONDS]);
	if (secs < 0)
		secs = 0;
	if ((uint64_t)secs >= FRAME_DAYS_MAX * DAY_SEC)
		secs = FRAME_DAYS_MAX * DAY_SEC - 1;
	wday = (unsigned)((secs / (int64_t)DAY_SEC + 1) % 7);
	rtc->dow_delta = (uint8_t)((dec(rtc, m[VMT_RTC_DAY_OF_WEEK]) + 13 - wday) % 7);
	return (uint64_t)secs;
}

/* --- the frame --------------------------------------------------------- */

static int running(const struct vmt_rtc *rtc)
{
	return (rtc->cmos[VMT_RTC_REG_A] & VMT_RTC_A_DV_MASK) == VMT_RTC_A_DV_32K;
}

/* Registers hold the time (guest-written or frozen) instead of the frame. */
static int held(const struct vmt_rtc *rtc)
{
	return (rtc->cmos[VMT_RTC_REG_B] & VMT_RTC_B_SET) || !running(rtc);
}

static enum vmt_clock base_clock(const struct vmt_rtc *rtc)
{
	return rtc->base == VMT_RTC_BASE_HOST ? VMT_CLOCK_WALL : VMT_CLOCK_VM;
}

static uint64_t frame_now(const struct vmt_rtc *rtc)
{
	if (!running(rtc))
		return rtc->frozen;
	return vmt_now(rtc->src, base_clock(rtc)) + rtc->delta;
}

/* Make the frame read @frame now (divider running). */
static void set_frame(struct vmt_rtc *rtc, uint64_t frame)
{
	rtc->delta = frame - vmt_now(rtc->src, base_clock(rtc));
	rtc->last = frame;
}

/* --- periodic ticks ---------------------------------------------------- */

/* Period in 32 kHz cycles for the rate bits, 0 for none (datasheet table 5). */
static uint64_t period_cycles(const struct vmt_rtc *rtc)
{
	unsigned rs = rtc->cmos[VMT_RTC_REG_A] & VMT_RTC_A_RS_MASK;

	if (!rs)
		return 0;
	if (rs < 3)
		rs += 7;	/* 256 and 128 Hz with the 32.768 kHz time base */
	return UINT64_C(1) << (rs - 1);
}

static uint64_t cycles_of(uint64_t frame)
{
	return frame / NS_SEC * HZ_32K + frame % NS_SEC * HZ_32K / NS_SEC;
}

/* The first frame at which the 32 kHz count reaches @c. */
static uint64_t frame_of_cycles(uint64_t c)
{
	return c / HZ_32K * NS_SEC + (c % HZ_32K * NS_SEC + HZ_32K - 1) / HZ_32K;
}

/* Index of the last tick at or before @frame on the grid (offset by one). */
static uint64_t tick_index(const struct vmt_rtc *rtc, uint64_t frame, uint64_t pc)
{
	return (cycles_of(frame) + pc - rtc->pgrid % pc) / pc;
}

/* --- events ------------------------------------------------------------ */

enum { TAG_PERIODIC = 1 };

static uint8_t irqf_cond(const struct vmt_rtc *rtc)
{
	uint8_t c = rtc->cmos[VMT_RTC_REG_C], b = rtc->cmos[VMT_RTC_REG_B];

	return (uint8_t)(c & b & (VMT_RTC_C_PF | VMT_RTC_C_AF | VMT_RTC_C_UF));
}

/*
 * IRQF follows the enabled flags; its rising edge is IRQ8's edge.  A counted
 * tick (pf_tick) rides on that edge, or on the interrupt already pending
 * when IRQF was set by another flag (the guest sees PF when it reads C).
 */
static void update_irq(struct vmt_rtc *rtc)
{
	uint8_t *c = &rtc->cmos[VMT_RTC_REG_C];
	int tick = rtc->pf_tick;

	rtc->pf_tick = 0;
	if (*c & VMT_RTC_C_IRQF) {
		rtc->stats.raised += (uint64_t)tick;
		return;
	}
	if (!irqf_cond(rtc))
		return;
	*c |= VMT_RTC_C_IRQF;
	rtc->next_raise = vmt_ns_add(vmt_now(rtc->src, VMT_CLOCK_VM), rtc->min_period);
	rtc->inflight += (uint64_t)tick;
	vmti_irq_pulse(&rtc->irq, 0, tick ? TAG_PERIODIC : 0);
}

static void backlog_add(struct vmt_rtc *rtc, uint64_t n)
{
	uint64_t room = VMT_TICKS_BACKLOG_MAX - rtc->backlog;

	if (rtc->ticks != VMT_TICKS_REINJECT) {
		rtc->stats.lost += n;
		return;
	}
	rtc->backlog += n < room ? n : room;
	rtc->stats.lost += n < room ? 0 : n - room;
}

static void irq_done(void *dev, unsigned line, uint32_t tag, int taken)
{
	struct vmt_rtc *rtc = dev;

	(void)line;
	if (tag != TAG_PERIODIC)
		return;	/* the stats are the periodic interrupt's */
	rtc->inflight--;
	if (taken) {
		rtc->stats.raised++;
		return;
	}
	if (!rtc->irq.fn) {
		rtc->stats.lost++;	/* dropped: there is no controller */
		return;
	}
	rtc->stats.coalesced++;
	backlog_add(rtc, 1);
}

static void periodic(struct vmt_rtc *rtc, uint64_t from, uint64_t to)
{
	uint64_t pc = period_cycles(rtc), n, missed;
	uint8_t *c = &rtc->cmos[VMT_RTC_REG_C];
	int pie = rtc->cmos[VMT_RTC_REG_B] & VMT_RTC_B_PIE;

	if (!pc)
		return;
	n = tick_index(rtc, to, pc) - tick_index(rtc, from, pc);
	if (!n)
		return;
	if (!pie) {
		*c |= VMT_RTC_C_PF;
		return;
	}
	rtc->stats.ticks += n;
	/* A tick that finds PF still set was not seen by the guest. */
	missed = (*c & VMT_RTC_C_PF) ? n : n - 1;
	rtc->pf_tick = !(*c & VMT_RTC_C_PF);
	*c |= VMT_RTC_C_PF;
	if (!missed)
		return;
	backlog_add(rtc, missed);
	if (rtc->ticks == VMT_TICKS_DELAY)
		rtc->pgrid = cycles_of(to) % pc;	/* next tick one period from now */
}

/* Does the alarm match the second that starts at @secs (since 1900)? */
static int alarm_match(const struct vmt_rtc *rtc, uint64_t secs)
{
	const uint8_t *m = rtc->cmos;
	unsigned sod = (unsigned)(secs % DAY_SEC);

	return (m[VMT_RTC_SECONDS_ALARM] >= 0xc0 || m[VMT_RTC_SECONDS_ALARM] == enc(rtc, sod % 60)) &&
	       (m[VMT_RTC_MINUTES_ALARM] >= 0xc0 ||
		m[VMT_RTC_MINUTES_ALARM] == enc(rtc, sod / 60 % 60)) &&
	       (m[VMT_RTC_HOURS_ALARM] >= 0xc0 || m[VMT_RTC_HOURS_ALARM] == enc_hour(rtc, sod / 3600));
}

static void updates(struct vmt_rtc *rtc, uint64_t from, uint64_t to)
{
	uint64_t s0 = from / NS_SEC, s1 = to / NS_SEC, s;

	if (s1 == s0 || (rtc->cmos[VMT_RTC_REG_B] & VMT_RTC_B_SET))
		return;
	rtc->cmos[VMT_RTC_REG_C] |= VMT_RTC_C_UF;
	/* A day holds every time of day: look at no more than one. */
	s = s1 - s0 > DAY_SEC ? s1 - DAY_SEC : s0;
	for (s++; s <= s1; s++) {
		if (alarm_match(rtc, s)) {
			rtc->cmos[VMT_RTC_REG_C] |= VMT_RTC_C_AF;
			break;
		}
	}
}

/*
 * Account what happened since the last call.  Called before every change of
 * the registers that shape events, so each interval has one configuration.
 */
static void advance(struct vmt_rtc *rtc)
{
	uint64_t now;

	if (!running(rtc))
		return;
	now = frame_now(rtc);
	if (now <= rtc->last) {
		rtc->last = now;	/* the host wall clock went back (HOST base) */
		return;
	}
	periodic(rtc, rtc->last, now);
	updates(rtc, rtc->last, now);
	rtc->last = now;
	update_irq(rtc);
}

/* Arm the timer for the next event that can raise IRQ8, if any. */
static void rearm(struct vmt_rtc *rtc)
{
	uint8_t b = rtc->cmos[VMT_RTC_REG_B], c = rtc->cmos[VMT_RTC_REG_C];
	uint64_t pc = period_cycles(rtc), now, next = VMT_NS_NEVER, t;
	vmt_ns vm, at;

	if (!running(rtc) || (c & VMT_RTC_C_IRQF)) {
		vmt_timer_cancel(rtc->timer);
		return;
	}
	now = frame_now(rtc);
	if ((b & VMT_RTC_B_PIE) && pc && !(c & VMT_RTC_C_PF)) {
		t = frame_of_cycles(tick_index(rtc, now, pc) * pc + rtc->pgrid % pc);
		next = t;
	}
	if (!(b & VMT_RTC_B_SET) &&
	    (((b & VMT_RTC_B_UIE) && !(c & VMT_RTC_C_UF)) || ((b & VMT_RTC_B_AIE) && !(c & VMT_RTC_C_AF)))) {
		t = (now / NS_SEC + 1) * NS_SEC;
		next = t < next ? t : next;
	}
	if (next == VMT_NS_NEVER) {
		vmt_timer_cancel(rtc->timer);
		return;
	}
	vm = vmt_now(rtc->src, VMT_CLOCK_VM);
	at = vmt_ns_add(vm, next - now);
	if (at < rtc->next_raise)
		at = rtc->next_raise;
	vmt_timer_arm(rtc->timer, at);
}

static void timer_fn(vmt_timer *t, uint64_t expirations, void *userdata)
{
	struct vmt_rtc *rtc = userdata;

	(void)t;
	(void)expirations;
	pthread_mutex_lock(&rtc->lock);
	advance(rtc);
	rearm(rtc);
	pthread_mutex_unlock(&rtc->lock);
	vmti_irq_flush(&rtc->irq);
}

/* --- registers --------------------------------------------------------- */

static uint8_t reg_read(struct vmt_rtc *rtc, unsigned idx, int guest)
{
	uint8_t v;

	advance(rtc);
	switch (idx) {
	case VMT_RTC_REG_A:
		v = rtc->cmos[VMT_RTC_REG_A] & ~VMT_RTC_A_UIP;
		if (!held(rtc) && frame_now(rtc) % NS_SEC >= NS_SEC - UIP_NS)
			v |= VMT_RTC_A_UIP;
		return v;
	case VMT_RTC_REG_C:
		v = rtc->cmos[VMT_RTC_REG_C];
		if (!guest)
			return v;
		rtc->cmos[VMT_RTC_REG_C] = 0;
		/* The guest acknowledged: a REINJECT backlog tick follows at once. */
		if (rtc->backlog && (rtc->cmos[VMT_RTC_REG_B] & VMT_RTC_B_PIE) && period_cycles(rtc) &&
		    running(rtc)) {
			rtc->backlog--;
			rtc->cmos[VMT_RTC_REG_C] = VMT_RTC_C_PF;
			rtc->pf_tick = 1;
			update_irq(rtc);
		}
		rearm(rtc);
		return v;
	case VMT_RTC_REG_D:
		return VMT_RTC_D_VRT;
	}
	if (is_time_reg(rtc, idx) && !held(rtc))
		materialize(rtc, frame_now(rtc));
	return rtc->cmos[idx];
}

static void write_a(struct vmt_rtc *rtc, uint8_t v)
{
	uint8_t old = rtc->cmos[VMT_RTC_REG_A];
	int was = running(rtc), was_reset = (old & 0x60) == 0x60;
	uint64_t now = frame_now(rtc), phase;

	if (was && !held(rtc))
		materialize(rtc, now);
	rtc->cmos[VMT_RTC_REG_A] = v & ~VMT_RTC_A_UIP;
	if (was && !running(rtc)) {
		rtc->frozen = now;
	} else if (!was && running(rtc)) {
		phase = was_reset ? NS_SEC - RELEASE_TO_EDGE_NS : rtc->frozen % NS_SEC;
		if (rtc->cmos[VMT_RTC_REG_B] & VMT_RTC_B_SET)
			set_frame(rtc, rtc->frozen - rtc->frozen % NS_SEC + phase);
		else
			set_frame(rtc, parse(rtc) * NS_SEC + phase);
	}
}

static void write_b(struct vmt_rtc *rtc, uint8_t v)
{
	uint8_t old = rtc->cmos[VMT_RTC_REG_B];
	uint64_t now;

	if (!(old & VMT_RTC_B_SET) && (v & VMT_RTC_B_SET)) {
		if (running(rtc))
			materialize(rtc, frame_now(rtc));
		v &= ~VMT_RTC_B_UIE;	/* "the SET bit going high clears UIE" */
	}
	if ((old & VMT_RTC_B_SET) && !(v & VMT_RTC_B_SET) && running(rtc)) {
		/* Parse in the mode the guest wrote the registers in. */
		rtc->cmos[VMT_RTC_REG_B] = v;
		now = frame_now(rtc);
		/* The divider kept running: the new time keeps its phase. */
		set_frame(rtc, parse(rtc) * NS_SEC + now % NS_SEC);
	}
	rtc->cmos[VMT_RTC_REG_B] = v;
	update_irq(rtc);	/* a flag already set raises when enabled */
}

static void reg_write(struct vmt_rtc *rtc, unsigned idx, uint8_t v)
{
	uint64_t now;

	advance(rtc);
	switch (idx) {
	case VMT_RTC_REG_A:
		write_a(rtc, v);
		break;
	case VMT_RTC_REG_B:
		write_b(rtc, v);
		break;
	case VMT_RTC_REG_C:
	case VMT_RTC_REG_D:
		break;	/* read-only */
	default:
		if (!is_time_reg(rtc, idx) || held(rtc)) {
			rtc->cmos[idx] = v;
			break;
		}
		/* A running clock counts on from the written value. */
		now = frame_now(rtc);
		materialize(rtc, now);
		rtc->cmos[idx] = v;
		set_frame(rtc, parse(rtc) * NS_SEC + now % NS_SEC);
		break;
	}
	rearm(rtc);
}

static int check_access(vmt_rtc *rtc, uint64_t offset, unsigned size)
{
	return !rtc || offset > 3 || size != 1 ? -EINVAL : 0;
}

int vmt_rtc_read(vmt_rtc *rtc, uint64_t offset, unsigned size, uint64_t *val)
{
	uint8_t v;

	if (check_access(rtc, offset, size) < 0 || !val)
		return -EINVAL;
	if (!(offset & 1)) {
		*val = 0xff;	/* the index ports are write-only */
		return 0;
	}
	pthread_mutex_lock(&rtc->lock);
	v = reg_read(rtc, offset == 1 ? rtc->index : rtc->index_hi, 1);
	pthread_mutex_unlock(&rtc->lock);
	vmti_irq_flush(&rtc->irq);
	*val = v;
	return 0;
}

int vmt_rtc_write(vmt_rtc *rtc, uint64_t offset, unsigned size, uint64_t val)
{
	uint8_t v = (uint8_t)val;

	if (check_access(rtc, offset, size) < 0)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	switch (offset) {
	case 0:
		rtc->index = v & 0x7f;
		rtc->nmi_disabled = v >> 7;
		break;
	case 2:
		rtc->index_hi = v | 0x80;
		break;
	default:
		reg_write(rtc, offset == 1 ? rtc->index : rtc->index_hi, v);
		break;
	}
	pthread_mutex_unlock(&rtc->lock);
	vmti_irq_flush(&rtc->irq);
	return 0;
}

int vmt_rtc_nmi_disabled(vmt_rtc *rtc)
{
	int r;

	if (!rtc)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	r = rtc->nmi_disabled;
	pthread_mutex_unlock(&rtc->lock);
	return r;
}

int vmt_rtc_cmos_get(vmt_rtc *rtc, unsigned index, uint8_t *val)
{
	if (!rtc || !val || index >= VMT_RTC_CMOS_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	*val = reg_read(rtc, index, 0);
	pthread_mutex_unlock(&rtc->lock);
	vmti_irq_flush(&rtc->irq);
	return 0;
}

int vmt_rtc_cmos_set(vmt_rtc *rtc, unsigned index, uint8_t val)
{
	if (!rtc || index <= VMT_RTC_REG_D || index >= VMT_RTC_CMOS_SIZE ||
	    (rtc->century && index == rtc->century))
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	rtc->cmos[index] = val;
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

int vmt_rtc_get_time(vmt_rtc *rtc, int64_t *ns)
{
	uint64_t f;

	if (!rtc || !ns)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	f = held(rtc) ? parse(rtc) * NS_SEC : frame_now(rtc);
	pthread_mutex_unlock(&rtc->lock);
	*ns = (int64_t)(f - UNIX_TO_1900_SEC * NS_SEC);
	return 0;
}

int vmt_rtc_reset(vmt_rtc *rtc)
{
	if (!rtc)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	advance(rtc);
	rtc->cmos[VMT_RTC_REG_B] &= ~(VMT_RTC_B_PIE | VMT_RTC_B_AIE | VMT_RTC_B_UIE | VMT_RTC_B_SQWE);
	rtc->cmos[VMT_RTC_REG_C] = 0;
	rtc->stats.lost += rtc->backlog;
	rtc->backlog = 0;
	rtc->pgrid = 0;
	rearm(rtc);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

/* --- lifecycle --------------------------------------------------------- */

int vmt_rtc_config_init(struct vmt_rtc_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->dev.ticks = VMT_TICKS_COALESCE;
	cfg->base = VMT_RTC_BASE_UTC;
	cfg->century_index = VMT_RTC_CENTURY_DEFAULT;
	return 0;
}

static int in_range(int64_t unix_ns)
{
	/* 1900-01-01 and 2200-01-01 in ns since 1970. */
	const int64_t lo = -(int64_t)(UNIX_TO_1900_SEC * NS_SEC);
	const int64_t hi = (int64_t)((FRAME_DAYS_MAX * DAY_SEC - UNIX_TO_1900_SEC) * NS_SEC);

	return unix_ns >= lo && unix_ns < hi;
}

/* The frame the device starts at, in ns since 1970 (RTC zone). */
static int initial_time(const struct vmt_rtc_config *cfg, vmt_source *src, int64_t *ret)
{
	vmt_ns wall = vmt_now(src, VMT_CLOCK_WALL);
	int64_t t = (int64_t)(wall > INT64_MAX ? INT64_MAX : wall);
	struct tm tm;
	time_t sec;

	switch (cfg->base) {
	case VMT_RTC_BASE_EPOCH:
		if (!in_range(cfg->epoch_ns))
			return -EINVAL;
		*ret = cfg->epoch_ns;
		return 0;
	case VMT_RTC_BASE_LOCALTIME:
		/* Once, at creation: the guest's clock then runs on VM time. */
		sec = (time_t)(wall / NS_SEC);
		if (!localtime_r(&sec, &tm))
			return -ERANGE;
		t += (int64_t)tm.tm_gmtoff * (int64_t)NS_SEC;
		break;
	case VMT_RTC_BASE_UTC:
	case VMT_RTC_BASE_HOST:
		break;
	default:
		return -EINVAL;
	}
	if (!in_range(t))
		return -ERANGE;
	*ret = t;
	return 0;
}

int vmt_rtc_new(vmt_loop *loop, const struct vmt_rtc_config *cfg, vmt_rtc **ret)
{
	struct vmt_rtc *rtc;
	char name[VMT_DEV_NAME_MAX + 1];
	int64_t t;
	int r;

	if (!loop || !cfg || !ret)
		return -EINVAL;
	if ((unsigned)cfg->dev.ticks > VMT_TICKS_DELAY)
		return -EINVAL;
	if (cfg->century_index && (cfg->century_index <= VMT_RTC_REG_D || cfg->century_index > 127))
		return -EINVAL;
	r = vmti_dev_name(cfg->dev.name, "rtc", name);
	if (r < 0)
		return r;
	if ((unsigned)cfg->base > VMT_RTC_BASE_EPOCH)
		return -EINVAL;
	r = initial_time(cfg, vmt_loop_source(loop), &t);
	if (r < 0)
		return r;

	rtc = calloc(1, sizeof(*rtc));
	if (!rtc)
		return -ENOMEM;
	r = -pthread_mutex_init(&rtc->lock, NULL);
	if (r < 0) {
		free(rtc);
		return r;
	}
	r = vmti_irq_init(&rtc->irq, cfg->dev.irq, cfg->dev.irq_opaque, &rtc->lock, irq_done, rtc);
	if (r < 0)
		goto fail_lock;
	r = vmt_timer_new(loop, VMT_CLOCK_VM, timer_fn, rtc, &rtc->timer);
	if (r < 0)
		goto fail_irq;
	vmt_timer_set_name(rtc->timer, name);
	strcpy(rtc->name, name);
	rtc->loop = loop;
	rtc->src = vmt_loop_source(loop);
	rtc->base = cfg->base;
	rtc->ticks = cfg->dev.ticks;
	rtc->min_period = cfg->dev.min_period_ns ? cfg->dev.min_period_ns : VMT_DEV_MIN_PERIOD_NS;
	rtc->century = cfg->century_index;
	rtc->cmos[VMT_RTC_REG_A] = VMT_RTC_A_DV_32K | 0x06;
	rtc->cmos[VMT_RTC_REG_B] = VMT_RTC_B_24H;
	rtc->cmos[VMT_RTC_REG_D] = VMT_RTC_D_VRT;
	set_frame(rtc, (uint64_t)t + UNIX_TO_1900_SEC * NS_SEC);
	*ret = rtc;
	return 0;

fail_irq:
	vmti_irq_destroy(&rtc->irq);
fail_lock:
	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
	return r;
}

vmt_rtc *vmt_rtc_free(vmt_rtc *rtc)
{
	if (!rtc)
		return NULL;
	vmt_timer_free(rtc->timer);
	vmti_irq_destroy(&rtc->irq);
	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
	return NULL;
}

/* --- save / restore ---------------------------------------------------- */

int vmt_rtc_save(vmt_rtc *rtc, vmt_fields_writer *w, uint32_t id)
{
	uint64_t frame, vm;
	int r;

	if (!rtc || !w)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	advance(rtc);
	vm = vmt_now(rtc->src, VMT_CLOCK_VM);
	frame = frame_now(rtc);
	/* The writer's errors are sticky: checking the last call is enough. */
	vmt_fields_begin_group(w, id);
	vmt_fields_put_u64(w, F_VERSION, FIELD_STATE_VERSION);
	vmt_fields_put_bytes(w, F_CMOS, rtc->cmos, sizeof(rtc->cmos));
	vmt_fields_put_u64(w, F_INDEX, (uint64_t)rtc->index_hi << 8 | rtc->index);
	vmt_fields_put_u64(w, F_NMI, rtc->nmi_disabled);
	vmt_fields_put_u64(w, F_BASE, (uint64_t)rtc->base);
	vmt_fields_put_u64(w, F_FRAME, rtc->base == VMT_RTC_BASE_HOST && running(rtc) ? rtc->delta : frame);
	vmt_fields_put_u64(w, F_VM, vm);
	vmt_fields_put_u64(w, F_LAST_REL, frame - rtc->last);
	vmt_fields_put_u64(w, F_PGRID, rtc->pgrid);
	vmt_fields_put_u64(w, F_BACKLOG, rtc->backlog);
	vmt_fields_put_u64(w, F_DOW, rtc->dow_delta);
	r = vmt_fields_end_group(w);
	pthread_mutex_unlock(&rtc->lock);
	return r < 0 ? r : 0;
}

int vmt_rtc_restore(vmt_rtc *rtc, const vmt_fields_reader *r, uint32_t id)
{
	uint64_t version, index, nmi, base, frame, vm, last_rel, pgrid, backlog, dow, now_vm;
	const struct {
		uint32_t id;
		uint64_t *v;
	} u[] = {
		{ F_VERSION, &version }, { F_INDEX, &index }, { F_NMI, &nmi },
		{ F_BASE, &base },	 { F_FRAME, &frame }, { F_VM, &vm },
		{ F_LAST_REL, &last_rel }, { F_PGRID, &pgrid }, { F_BACKLOG, &backlog },
		{ F_DOW, &dow },
	};
	vmt_fields_reader g;
	const void *cmos;
	size_t n;
	int e;

	if (!rtc || !r)
		return -EINVAL;
	e = vmt_fields_get_group(r, id, &g);
	if (e < 0)
		return e;
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		e = vmt_fields_get_u64(&g, u[i].id, u[i].v);
		if (e < 0)
			return e;
	}
	e = vmt_fields_get_bytes(&g, F_CMOS, &cmos, &n);
	if (e < 0)
		return e;
	if (base != (uint64_t)rtc->base)
		return -EINVAL;
	if (version != FIELD_STATE_VERSION || n != VMT_RTC_CMOS_SIZE || index > 0xffff || nmi > 1 ||
	    pgrid >= HZ_32K / 2 || backlog > VMT_TICKS_BACKLOG_MAX || dow > 6 ||
	    last_rel > DAY_SEC * NS_SEC * 366 * 400)
		return -EBADMSG;

	pthread_mutex_lock(&rtc->lock);
	memcpy(rtc->cmos, cmos, n);
	rtc->cmos[VMT_RTC_REG_A] &= ~VMT_RTC_A_UIP;
	rtc->cmos[VMT_RTC_REG_D] = VMT_RTC_D_VRT;
	rtc->index = index & 0x7f;
	rtc->index_hi = (uint8_t)(index >> 8) | 0x80;
	rtc->nmi_disabled = (uint8_t)nmi;
	rtc->pgrid = pgrid;
	rtc->backlog = backlog;
	rtc->dow_delta = (uint8_t)dow;
	if (!running(rtc)) {
		rtc->frozen = frame;
		rtc->last = frame;
	} else if (rtc->base == VMT_RTC_BASE_HOST) {
		rtc->delta = frame;
		rtc->last = frame_now(rtc) - last_rel;
	} else {
		/* The date moves with VM time: not at all under FREEZE. */
		now_vm = vmt_now(rtc->src, VMT_CLOCK_VM);
		frame += now_vm > vm ? now_vm - vm : 0;
		rtc->delta = frame - now_vm;
		rtc->last = frame - last_rel;
	}
	rtc->next_raise = 0;
	vmti_irq_clear(&rtc->irq);
	/* Host-side counters start over, holding the restored backlog. */
	memset(&rtc->stats, 0, sizeof(rtc->stats));
	rtc->stats.ticks = backlog;
	rtc->inflight = 0;
	rtc->pf_tick = 0;
	rearm(rtc);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

/* --- inspect, stats, unit ---------------------------------------------- */

const char *vmt_rtc_base_name(enum vmt_rtc_base base)
{
	switch (base) {
	case VMT_RTC_BASE_UTC:
		return "utc";
	case VMT_RTC_BASE_LOCALTIME:
		return "localtime";
	case VMT_RTC_BASE_HOST:
		return "host";
	case VMT_RTC_BASE_EPOCH:
		return "epoch";
	}
	return "unknown";
}

int vmt_rtc_inspect(vmt_rtc *rtc, FILE *out)
{
	uint8_t a, b, c, nmi;
	struct vmt_dev_stats st;
	struct civil cv;
	uint64_t pc, f;
	int run, set, n;

	if (!rtc || !out)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	a = reg_read(rtc, VMT_RTC_REG_A, 0);
	b = rtc->cmos[VMT_RTC_REG_B];
	c = rtc->cmos[VMT_RTC_REG_C];
	f = held(rtc) ? parse(rtc) * NS_SEC : frame_now(rtc);
	run = running(rtc);
	set = !!(b & VMT_RTC_B_SET);
	pc = period_cycles(rtc);
	nmi = rtc->nmi_disabled;
	st = rtc->stats;
	st.backlog = rtc->backlog + rtc->inflight;
	pthread_mutex_unlock(&rtc->lock);
	vmti_irq_flush(&rtc->irq);

	civil_from_frame(f, &cv);
	n = fprintf(out,
		    "{\"name\":\"%s\",\"base\":\"%s\",\"time\":\"%04u-%02u-%02uT%02u:%02u:%02u\","
		    "\"regs\":{\"a\":%u,\"b\":%u,\"c\":%u,\"d\":%u},\"running\":%s,\"set\":%s,"
		    "\"periodic_hz\":%" PRIu64 ",\"nmi_disabled\":%s,\"ticks\":\"%s\","
		    "\"stats\":{\"ticks\":%" PRIu64 ",\"raised\":%" PRIu64 ",\"coalesced\":%" PRIu64
		    ",\"lost\":%" PRIu64 ",\"backlog\":%" PRIu64 "}}",
		    rtc->name, vmt_rtc_base_name(rtc->base), cv.year, cv.month, cv.day, cv.hour, cv.min,
		    cv.sec, a, b, c, VMT_RTC_D_VRT, run ? "true" : "false", set ? "true" : "false",
		    pc ? HZ_32K / pc : 0, nmi ? "true" : "false", vmt_tick_policy_name(rtc->ticks),
		    st.ticks, st.raised, st.coalesced, st.lost, st.backlog);
	return n < 0 || ferror(out) ? -EIO : 0;
}

int vmt_rtc_get_stats(vmt_rtc *rtc, struct vmt_dev_stats *stats)
{
	if (!rtc || !stats)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	advance(rtc);
	*stats = rtc->stats;
	stats->backlog = rtc->backlog + rtc->inflight;
	stats->due = 0;	/* advance() just accounted every elapsed period */
	pthread_mutex_unlock(&rtc->lock);
	vmti_irq_flush(&rtc->irq);
	return 0;
}

static int unit_op(void *dev, enum vmti_unit_op op, vmt_fields_writer *w,
		   const vmt_fields_reader *r, FILE *out)
{
	switch (op) {
	case VMTI_UNIT_RESET:
		return vmt_rtc_reset(dev);
	case VMTI_UNIT_SAVE:
		return vmt_rtc_save(dev, w, VMTI_DEV_UNIT_GROUP);
	case VMTI_UNIT_RESTORE:
		return vmt_rtc_restore(dev, r, VMTI_DEV_UNIT_GROUP);
	case VMTI_UNIT_INSPECT:
		return vmt_rtc_inspect(dev, out);
	}
	return -EINVAL;
}

int vmt_rtc_add_unit(vmt_rtc *rtc, vmt_units *units, vmt_unit **ret)
{
	if (!rtc || !units)
		return -EINVAL;
	rtc->unit = (struct vmti_dev_unit){ unit_op, rtc, rtc->name };
	return vmti_dev_unit_add(units, &rtc->unit, ret);
}
