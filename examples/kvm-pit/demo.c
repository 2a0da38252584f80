/* SPDX-License-Identifier: MIT */
/*
 * demo.c - the KVM demo (see demo.h).
 *
 * Each VM here is a "machine": a keeper (the VM clock), a loop on its own
 * thread (the PIT's timers), a units set (vmtime, pit, ram, irqchip, vcpu)
 * and the KVM VM.  Every state change goes through the units set, never
 * through the keeper or the vCPU directly, which is the point: stopping the
 * set parks the vCPU and then freezes the clock, so nothing counts while
 * the VM is paused.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vmtime/keeper.h>
#include <vmtime/loop.h>
#include <vmtime/share.h>
#include <vmtime/snapshot.h>
#include <vmtime/timer.h>
#include <vmtime/units.h>

#include "demo.h"
#include "guest-abi.h"
#include "vmm.h"

/* Phase boundaries may split one tick each side. */
#define TOLERANCE 2
/*
 * How far behind a phase's end the guest's last CMOS read may be, in VM
 * time: it reads every GUEST_RTC_EVERY ticks, plus its exits' latency.
 */
#define RTC_LAG_NS (500 * VMT_NS_PER_MS)
/*
 * The RTC's date counts VM time; phase marks are taken with the VM stopped,
 * so the two move by the same amount up to the divider's rounding.
 */
#define RTC_SLACK_NS (100 * VMT_NS_PER_US)
#define SECS_PER_DAY 86400
#define MEM_SIZE (4u << 20)

struct machine {
	vmt_keeper *k;
	vmt_source *src;
	vmt_loop *loop;
	pthread_t loop_thread;
	int loop_started;
	vmt_units *units;
	struct vmm *vm;
	vmt_timer *stall;
	vmt_ns stall_ns;
	vmt_listener *listener; /* --listen: lets `vmtime inspect` watch the clock */
};

struct mark {
	vmt_ns host;
	vmt_ns vm;
	struct guest_state g;
	long long owed; /* ticks due but not yet taken by the guest */
	struct vmt_dev_stats ps;
	int64_t rtc; /* the date the RTC holds, ns since 1970 (vmt_rtc_get_time()) */
};

struct row {
	const char *phase;
	double host_s;
	double vm_s;
	long long ticks;
	long long owed;
	long long expected;
	long long diff;
	long long lost;
	long long retries;
	double rtc_s;	   /* how far the RTC's date moved */
	char guest_rtc[9]; /* the guest's last CMOS read, HH:MM:SS */
	int ok;
	char check[640];
};

struct demo {
	const struct kvm_demo_opts *o;
	struct row rows[8];
	int nrows;
	int failed;
	char snap_path[256];
	char tmpdir[64];
};

static double pit_hz(void)
{
	return (double)VMT_PIT_FREQ_HZ / GUEST_PIT_DIVISOR;
}

static long long expected_ticks(vmt_ns vm_ns)
{
	return llround((double)vm_ns * 1e-9 * pit_hz());
}

static void *loop_main(void *arg)
{
	vmt_loop_run(arg);
	return NULL;
}

/* The stall: a host-clock timer whose callback blocks the loop thread. */
static void stall_cb(vmt_timer *t, uint64_t expirations, void *userdata)
{
	struct machine *m = userdata;
	struct timespec ts = vmt_ns_to_timespec(m->stall_ns);

	(void)t;
	(void)expirations;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void machine_free(struct machine *m)
{
	if (!m)
		return;
	if (m->units && vmt_units_running(m->units) == 1)
		vmt_units_stop(m->units, NULL);
	vmt_units_free(m->units);
	vmm_free(m->vm);
	vmt_timer_free(m->stall);
	if (m->loop_started) {
		vmt_loop_quit(m->loop);
		pthread_join(m->loop_thread, NULL);
	}
	vmt_loop_free(m->loop);
	vmt_listener_free(m->listener);
	vmt_keeper_free(m->k);
	free(m);
}

static int machine_new(struct machine **ret, const char *listen, struct vmt_error *err)
{
	struct vmt_keeper_config kc = VMT_KEEPER_CONFIG_INIT;
	struct vmm_config vc;
	struct machine *m;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	kc.mode = VMT_KEEPER_REAL;
	kc.restore_policy = VMT_RESTORE_FREEZE;
	if ((r = vmt_keeper_new(&kc, &m->k)) < 0) {
		snprintf(err->msg, sizeof(err->msg), "vmt_keeper_new: %s", strerror(-r));
		goto fail;
	}
	m->src = vmt_keeper_source(m->k);
	/* A helper thread serves the socket: the demo has no loop of its own to poll it. */
	if (listen && (r = vmt_keeper_listen(m->k, listen, VMT_LISTEN_THREAD, &m->listener)) < 0) {
		snprintf(err->msg, sizeof(err->msg), "vmt_keeper_listen %s: %s", listen, strerror(-r));
		goto fail;
	}
	if ((r = vmt_loop_new(m->src, &m->loop)) < 0) {
		snprintf(err->msg, sizeof(err->msg), "vmt_loop_new: %s", strerror(-r));
		goto fail;
	}
	if ((r = vmt_timer_new(m->loop, VMT_CLOCK_HOST, stall_cb, m, &m->stall)) < 0) {
		snprintf(err->msg, sizeof(err->msg), "vmt_timer_new: %s", strerror(-r));
		goto fail;
	}
	vmt_timer_set_name(m->stall, "demo-stall");
	if ((r = vmt_units_new(&m->units)) < 0 || (r = vmt_keeper_add_unit(m->k, m->units, NULL)) < 0) {
		snprintf(err->msg, sizeof(err->msg), "units: %s", strerror(-r));
		goto fail;
	}
	/* Catch-up is what a guest that counts ticks needs; phase 6 compares. */
	vc.loop = m->loop;
	vc.policy = VMT_TICKS_REINJECT;
	vc.mem_size = MEM_SIZE;
	if ((r = vmm_new(&vc, &m->vm, err)) < 0)
		goto fail;
	if ((r = vmm_add_units(m->vm, m->units)) < 0) {
		snprintf(err->msg, sizeof(err->msg), "vmm_add_units: %s", strerror(-r));
		goto fail;
	}
	r = -pthread_create(&m->loop_thread, NULL, loop_main, m->loop);
	if (r < 0) {
		snprintf(err->msg, sizeof(err->msg), "loop thread: %s", strerror(-r));
		goto fail;
	}
	m->loop_started = 1;
	*ret = m;
	return 0;
fail:
	err->code = r;
	machine_free(m);
	return r;
}

static void take_mark(struct machine *m, struct mark *mk)
{
	mk->host = vmt_now(m->src, VMT_CLOCK_HOST);
	mk->vm = vmt_now(m->src, VMT_CLOCK_VM);
	vmt_rtc_get_time(vmm_rtc(m->vm), &mk->rtc);
	vmm_guest_state(m->vm, &mk->g);
	vmt_pit_get_stats(vmm_pit(m->vm), &mk->ps);
	mk->owed = vmm_ticks_owed(m->vm);
	if (mk->owed < 0)
		mk->owed = 0;
}

/* Report a units operation's failures, one line per unit. */
static int units_op(struct demo *d, const char *what, int r, vmt_units_report *rep)
{
	if (r < 0) {
		fprintf(stderr, "vmtime demo: %s failed: %s\n", what, strerror(-r));
		for (size_t i = 0; i < vmt_units_report_count(rep); i++) {
			const struct vmt_unit_result *e = vmt_units_report_entry(rep, i);

			if (e->status == VMT_UNIT_FAILED || e->status == VMT_UNIT_SKIPPED)
				fprintf(stderr, "  unit %s: %s: %s\n", e->unit,
					vmt_unit_status_name(e->status), e->msg);
		}
	}
	vmt_units_report_free(rep);
	(void)d;
	return r;
}

static int start(struct demo *d, struct machine *m)
{
	vmt_units_report *rep = NULL;

	int r = vmt_units_start(m->units, &rep);

	return units_op(d, "start", r, rep);
}

static int stop(struct demo *d, struct machine *m)
{
	vmt_units_report *rep = NULL;

	int r = vmt_units_stop(m->units, &rep);

	return units_op(d, "stop", r, rep);
}

static void progress(struct demo *d, struct machine *m, const char *label, const struct mark *from)
{
	struct guest_state rep;
	struct mark now;

	if (!d->o->progress)
		return;
	take_mark(m, &now);
	vmm_last_report(m->vm, &rep);
	fprintf(d->o->progress,
		"\r  %-16s host %6.3f s  vm %6.3f s  guest ticks %6u (reported %6u)\033[K", label,
		(double)(now.host - from->host) * 1e-9, (double)(now.vm - from->vm) * 1e-9,
		now.g.ticks, rep.ticks);
	fflush(d->o->progress);
}

/* Wait @ns of host time, updating the progress line; fails if the vCPU died. */
static int wait_host(struct demo *d, struct machine *m, vmt_ns ns, const char *label,
		     const struct mark *from)
{
	vmt_ns end = vmt_ns_add(vmt_now(m->src, VMT_CLOCK_HOST), ns), now;
	char msg[128];
	int r;

	while ((now = vmt_now(m->src, VMT_CLOCK_HOST)) < end) {
		vmt_ns step = end - now < 50 * VMT_NS_PER_MS ? end - now : 50 * VMT_NS_PER_MS;
		struct timespec ts = vmt_ns_to_timespec(step);

		nanosleep(&ts, NULL);
		progress(d, m, label, from);
		r = vmm_error(m->vm, msg, sizeof(msg));
		if (r < 0) {
			fprintf(stderr, "\nvmtime demo: the vCPU stopped: %s\n", msg);
			return r;
		}
	}
	return 0;
}

static void end_progress(struct demo *d)
{
	if (d->o->progress) {
		fprintf(d->o->progress, "\r\033[K");
		fflush(d->o->progress);
	}
}

static struct row *add_row(struct demo *d, const char *phase, const struct mark *a,
			   const struct mark *b)
{
	struct row *r = &d->rows[d->nrows++];

	memset(r, 0, sizeof(*r));
	r->phase = phase;
	r->host_s = (double)(b->host - a->host) * 1e-9;
	r->vm_s = (double)(b->vm - a->vm) * 1e-9;
	r->ticks = (long long)b->g.ticks - a->g.ticks;
	r->owed = b->owed;
	r->expected = expected_ticks(b->vm - a->vm);
	/*
	 * A tick due in this phase but still owed at its end (the vCPU parks
	 * before the clock stops) is the guest's all the same: it is taken
	 * right after the next start, so it counts where its VM time is.
	 */
	r->diff = r->ticks + b->owed - a->owed - r->expected;
	r->lost = (long long)(b->ps.lost - a->ps.lost);
	r->retries = (long long)(b->ps.coalesced - a->ps.coalesced);
	r->rtc_s = (double)(b->rtc - a->rtc) * 1e-9;
	r->ok = 1;
	return r;
}

static void check(struct demo *d, struct row *r, int ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void check(struct demo *d, struct row *r, int ok, const char *fmt, ...)
{
	size_t len = strlen(r->check);
	va_list ap;

	if (len && len < sizeof(r->check) - 2) {
		strcat(r->check, "; ");
		len += 2;
	}
	if (!ok && len < sizeof(r->check) - 8) {
		strcat(r->check, "FAILED ");
		len += 7;
	}
	va_start(ap, fmt);
	vsnprintf(r->check + len, sizeof(r->check) - len, fmt, ap);
	va_end(ap);
	if (!ok) {
		r->ok = 0;
		d->failed = 1;
	}
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

static unsigned rtc_byte(uint32_t raw, unsigned shift, int bcd)
{
	unsigned v = (raw >> shift) & 0xff;

	return bcd ? (v >> 4) * 10 + (v & 0x0f) : v;
}

/* The second of the day of a CMOS read (guest-abi.h), decoded as register B says. */
static long guest_rtc_sod(uint32_t raw, char *hms, size_t len)
{
	unsigned b = (raw >> GUEST_RTC_REGB_SHIFT) & 0xff;
	int bcd = !(b & VMT_RTC_B_DM);
	unsigned h = (raw >> GUEST_RTC_HOUR_SHIFT) & 0xff, pm = 0;
	unsigned mi = rtc_byte(raw, GUEST_RTC_MIN_SHIFT, bcd);
	unsigned s = rtc_byte(raw, GUEST_RTC_SEC_SHIFT, bcd);

	if (!(b & VMT_RTC_B_24H)) {
		pm = h & 0x80;
		h &= 0x7f;
	}
	h = bcd ? (h >> 4) * 10 + (h & 0x0f) : h;
	if (!(b & VMT_RTC_B_24H))
		h = h % 12 + (pm ? 12 : 0);
	snprintf(hms, len, "%02u:%02u:%02u", h % 100, mi % 100, s % 100);
	return (long)h * 3600 + mi * 60 + s;
}

/*
 * The RTC across a phase: the device's date moved by the VM time (so by
 * nothing while paused), and the guest's last CMOS read is the date the
 * device held at a VM time at most RTC_LAG_NS before the end: its seconds
 * lie between those of the device's date then and now (1 s resolution).
 */
static void check_rtc(struct demo *d, struct row *row, const struct mark *a,
		      const struct mark *b)
{
	int64_t moved = b->rtc - a->rtc, vm = b->vm - a->vm;
	int64_t hi = floor_div(b->rtc, VMT_NS_PER_SEC);
	int64_t lo = floor_div(b->rtc - RTC_LAG_NS, VMT_NS_PER_SEC);
	long sod, behind;

	check(d, row, llabs((long long)(moved - vm)) <= RTC_SLACK_NS,
	      "RTC moved %.6f s for %.6f s of VM time", (double)moved * 1e-9, (double)vm * 1e-9);
	if (!b->g.rtc_reads) {
		snprintf(row->guest_rtc, sizeof(row->guest_rtc), "-");
		check(d, row, 0, "the guest read no CMOS clock");
		return;
	}
	sod = guest_rtc_sod(b->g.rtc, row->guest_rtc, sizeof(row->guest_rtc));
	behind = (long)(((hi % SECS_PER_DAY + SECS_PER_DAY) % SECS_PER_DAY - sod + SECS_PER_DAY) %
			SECS_PER_DAY);
	check(d, row, behind <= hi - lo, "guest CMOS %s, %ld s behind the RTC (at most %lld)",
	      row->guest_rtc, behind, (long long)(hi - lo));
}

static vmt_ns scaled(const struct demo *d, double seconds)
{
	return (vmt_ns)(seconds * d->o->scale * 1e9);
}

/*
 * End a phase where no tick is in flight (due but not yet counted by the
 * guest): such a tick would count in the next phase.  With 1 ms between
 * ticks and tens of microseconds of delivery, the wait is usually short;
 * but on a loaded host (a nested VM especially) the vCPU thread can go
 * unscheduled for tens of milliseconds, with catch-up ticks piling up.  It
 * gives up after 200 ms: what is still owed then is counted as owed.
 */
static void settle(struct machine *m)
{
	vmt_ns end = vmt_now(m->src, VMT_CLOCK_HOST) + 200 * VMT_NS_PER_MS;
	struct timespec ts = { 0, 50 * 1000 };

	while (vmm_irq_idle(m->vm) == 0 && vmt_now(m->src, VMT_CLOCK_HOST) < end)
		nanosleep(&ts, NULL);
}

/* Run the VM for @ns of host time: start, wait, stop. */
static int run_phase(struct demo *d, struct machine *m, const char *label, vmt_ns ns,
		     struct mark *a, struct mark *b)
{
	int r;

	take_mark(m, a);
	if ((r = start(d, m)) < 0)
		return r;
	r = wait_host(d, m, ns, label, a);
	settle(m);
	if (stop(d, m) < 0 && r == 0)
		r = -EIO;
	take_mark(m, b);
	end_progress(d);
	return r;
}

/* Phase 6: a run during which the loop thread is stalled. */
static int stall_phase(struct demo *d, struct machine *m, const char *label,
		       enum vmt_tick_policy policy)
{
	vmt_ns pre = scaled(d, 0.4), post = scaled(d, 0.6);
	long long stall_ticks;
	struct mark a, b;
	struct row *row;
	int r;

	m->stall_ns = scaled(d, 0.2);
	if (m->stall_ns < 20 * VMT_NS_PER_MS)
		m->stall_ns = 20 * VMT_NS_PER_MS;
	/* The catch-up backlog drains at about one tick per retry; give it room. */
	if (post < m->stall_ns + 100 * VMT_NS_PER_MS)
		post = m->stall_ns + 100 * VMT_NS_PER_MS;
	/*
	 * Leaving REINJECT drops its backlog: marked first, that counts as
	 * this phase's loss.  Entering it, the ticks due at the switch go to
	 * COALESCE, the policy they fell due under (vmt_pit_set_policy()):
	 * what it drops of them is the previous (COALESCE) phase's loss, and
	 * this phase starts after the switch.
	 */
	if (policy != VMT_TICKS_REINJECT) {
		take_mark(m, &a);
		vmt_pit_set_policy(vmm_pit(m->vm), policy);
	} else {
		struct mark pre;

		take_mark(m, &pre);
		vmt_pit_set_policy(vmm_pit(m->vm), policy);
		take_mark(m, &a);
		if (d->nrows > 0)
			d->rows[d->nrows - 1].lost += (long long)(a.ps.lost - pre.ps.lost);
	}
	if ((r = start(d, m)) < 0)
		return r;
	r = wait_host(d, m, pre, label, &a);
	if (r == 0) {
		vmt_timer_arm(m->stall, vmt_now(m->src, VMT_CLOCK_HOST));
		r = wait_host(d, m, post, label, &a);
	}
	settle(m);
	if (stop(d, m) < 0 && r == 0)
		r = -EIO;
	take_mark(m, &b);
	end_progress(d);
	if (r < 0)
		return r;
	row = add_row(d, label, &a, &b);
	check_rtc(d, row, &a, &b);
	stall_ticks = expected_ticks(m->stall_ns);
	if (policy == VMT_TICKS_REINJECT) {
		check(d, row, llabs(row->diff) <= TOLERANCE && row->lost == 0,
		      "catch-up: no tick lost across a %lld-tick stall (|diff| <= %d, lost 0)",
		      stall_ticks, TOLERANCE);
	} else {
		/* Not a failure of vmtime: it shows that the stall happened. */
		check(d, row, row->lost >= stall_ticks / 2,
		      "coalesce: the stall cost about %lld ticks (lost %lld)", stall_ticks,
		      row->lost);
	}
	return 0;
}

static int save_snapshot(struct demo *d, struct machine *m, struct mark *saved)
{
	vmt_units_report *rep = NULL;
	struct vmt_error err = { 0 };
	vmt_snap_writer *w = NULL;
	struct mark a, b;
	struct row *row;
	int r;

	take_mark(m, &a);
	r = vmt_snap_writer_new(&w);
	if (r >= 0) {
		r = vmt_units_save(m->units, w, &rep);
		r = units_op(d, "save", r, rep);
	}
	if (r >= 0) {
		r = vmt_snap_writer_save(w, d->snap_path, &err);
		if (r < 0)
			fprintf(stderr, "vmtime demo: writing %s: %s\n", d->snap_path, err.msg);
	}
	vmt_snap_writer_free(w);
	take_mark(m, &b);
	*saved = b;
	if (r < 0)
		return r;
	row = add_row(d, "save", &a, &b);
	check_rtc(d, row, &a, &b);
	check(d, row, row->ticks == 0 && row->vm_s == 0,
	      "saved at tick %u, VM time %.6f s", b.g.ticks, (double)b.vm * 1e-9);
	return 0;
}

static int restore_snapshot(struct demo *d, struct machine **mp, const struct mark *saved)
{
	vmt_units_report *rep = NULL;
	struct vmt_error err = { 0 };
	vmt_snap_reader *rd = NULL;
	struct machine *m;
	struct mark a, b, c;
	struct row *row;
	int r;

	/* Throw the VM away: a new keeper, loop, units set and KVM VM. */
	machine_free(*mp);
	*mp = NULL;
	r = machine_new(mp, d->o->listen, &err);
	if (r < 0) {
		fprintf(stderr, "vmtime demo: new VM: %s\n", err.msg);
		return r;
	}
	m = *mp;
	r = vmt_snap_reader_open(d->snap_path, &rd, &err);
	if (r < 0) {
		fprintf(stderr, "vmtime demo: reading %s: %s\n", d->snap_path, err.msg);
		return r;
	}
	r = vmt_units_restore(m->units, rd, &rep);
	r = units_op(d, "restore", r, rep);
	vmt_snap_reader_free(rd);
	if (r < 0)
		return r;
	take_mark(m, &a);
	r = run_phase(d, m, "restore+run", scaled(d, 1.0), &b, &c);
	if (r < 0)
		return r;
	row = add_row(d, "restore+run", &b, &c);
	check(d, row, a.rtc == saved->rtc, "RTC restored at the saved date");
	check_rtc(d, row, &b, &c);
	check(d, row, a.g.ticks == saved->g.ticks && a.g.csum == saved->g.csum &&
			      a.owed == saved->owed,
	      "restored at tick %u (saved %u), %lld owed (saved %lld), checksum %s", a.g.ticks,
	      saved->g.ticks, a.owed, saved->owed, a.g.csum == saved->g.csum ? "equal" : "differs");
	check(d, row, a.vm == saved->vm, "VM time resumed at %.6f s (saved %.6f s)",
	      (double)a.vm * 1e-9, (double)saved->vm * 1e-9);
	check(d, row, llabs(row->diff) <= TOLERANCE, "|diff| <= %d", TOLERANCE);
	return 0;
}

static void print_table(struct demo *d, const struct mark *end)
{
	FILE *f = d->o->out;

	if (d->o->json) {
		fprintf(f, "{\n  \"guest\": \"kvm\",\n  \"pit_hz\": %.3f,\n  \"tolerance\": %d,\n",
			pit_hz(), TOLERANCE);
		fprintf(f, "  \"final\": {\"ticks\": %u, \"csum\": %u, \"pit_reads\": %u, "
			   "\"bad_reads\": %u},\n",
			end->g.ticks, end->g.csum, end->g.reads, end->g.bad);
		fprintf(f, "  \"phases\": [\n");
		for (int i = 0; i < d->nrows; i++) {
			struct row *r = &d->rows[i];

			fprintf(f,
				"    {\"phase\": \"%s\", \"host_s\": %.6f, \"vm_s\": %.6f, "
				"\"ticks\": %lld, \"owed\": %lld, \"expected\": %lld, \"diff\": %lld, "
				"\"lost\": %lld, \"retries\": %lld, \"rtc_s\": %.6f, "
				"\"guest_rtc\": \"%s\", \"ok\": %s, \"check\": \"%s\"}%s\n",
				r->phase, r->host_s, r->vm_s, r->ticks, r->owed, r->expected, r->diff,
				r->lost, r->retries, r->rtc_s, r->guest_rtc, r->ok ? "true" : "false",
				r->check,
				i + 1 < d->nrows ? "," : "");
		}
		fprintf(f, "  ],\n  \"ok\": %s\n}\n", d->failed ? "false" : "true");
		return;
	}
	fprintf(f, "\nvmtime demo: KVM guest, PIT channel 0 at %.3f Hz and the RTC on the VM clock\n\n",
		pit_hz());
	fprintf(f, "%-16s %7s %7s %6s %4s %8s %5s %5s %5s %7s %8s  %s\n", "phase", "host s",
		"VM s", "ticks", "owed", "expected", "diff", "lost", "retry", "RTC s", "guest", "check");
	for (int i = 0; i < d->nrows; i++) {
		struct row *r = &d->rows[i];

		fprintf(f, "%-16s %7.3f %7.3f %6lld %4lld %8lld %+5lld %5lld %5lld %7.3f %8s  %s %s\n",
			r->phase, r->host_s, r->vm_s, r->ticks, r->owed, r->expected, r->diff, r->lost,
			r->retries, r->rtc_s, r->guest_rtc, r->ok ? "ok" : "FAIL", r->check);
	}
	fprintf(f, "\nguest: %u ticks, checksum %08x, %u PIT reads, %u bad\n", end->g.ticks,
		end->g.csum, end->g.reads, end->g.bad);
	fprintf(f, "%s\n", d->failed ? "FAILED" : "all checks passed");
}

static int run_all(struct demo *d)
{
	struct vmt_error err = { 0 };
	struct machine *m = NULL;
	struct mark a, b, saved, end;
	long long lost = 0, cumulative;
	vmt_ns pit_start = 0;
	struct guest_state rep;
	struct row *row;
	char msg[128];
	int r;

	r = machine_new(&m, d->o->listen, &err);
	if (r < 0) {
		fprintf(stderr, "vmtime demo: creating the VM: %s\n", err.msg);
		return 2;
	}

	/* 1. Boot and run. */
	if ((r = run_phase(d, m, "boot+run", scaled(d, 2.0), &a, &b)) < 0)
		goto out;
	row = add_row(d, "boot+run", &a, &b);
	check_rtc(d, row, &a, &b);
	/* The guest can count ticks only from when it programmed the PIT. */
	vmt_pit_loaded_at(vmm_pit(m->vm), 0, &pit_start);
	if (pit_start == VMT_NS_NEVER)
		pit_start = b.vm;
	row->expected = expected_ticks(b.vm - pit_start);
	row->diff = row->ticks + b.owed - a.owed - row->expected;
	check(d, row, llabs(row->diff) <= TOLERANCE, "|diff| <= %d (PIT started at VM %.6f s)",
	      TOLERANCE, (double)pit_start * 1e-9);
	check(d, row, row->ticks > 0, "the guest counts ticks");

	/* 2. Pause: the clock is stopped, the vCPU parked. */
	take_mark(m, &a);
	if ((r = wait_host(d, m, scaled(d, 1.5), "pause", &a)) < 0)
		goto out;
	take_mark(m, &b);
	end_progress(d);
	row = add_row(d, "pause", &a, &b);
	check(d, row, row->ticks == 0 && b.vm == a.vm && b.owed == a.owed,
	      "the pause adds 0 ticks and 0 VM time");
	check(d, row, b.rtc == a.rtc, "the RTC's date did not move");
	check_rtc(d, row, &a, &b);

	/* 3. Resume: no burst of the ticks the pause would have had. */
	if ((r = run_phase(d, m, "resume", scaled(d, 1.0), &a, &b)) < 0)
		goto out;
	row = add_row(d, "resume", &a, &b);
	check_rtc(d, row, &a, &b);
	check(d, row, llabs(row->diff) <= TOLERANCE, "|diff| <= %d (no burst after the pause)",
	      TOLERANCE);

	/* 4. Save; 5. restore into a fresh VM and run. */
	if ((r = save_snapshot(d, m, &saved)) < 0)
		goto out;
	if ((r = restore_snapshot(d, &m, &saved)) < 0)
		goto out;

	/* 6. Stall the timer thread under both policies. */
	if ((r = stall_phase(d, m, "stall/coalesce", VMT_TICKS_COALESCE)) < 0)
		goto out;
	if ((r = stall_phase(d, m, "stall/catch-up", VMT_TICKS_REINJECT)) < 0)
		goto out;

	take_mark(m, &end);
	vmm_last_report(m->vm, &rep);
	row = &d->rows[d->nrows - 1];
	check(d, row, end.g.csum == guest_expected_csum(end.g.ticks) && end.g.bad == 0 &&
			      rep.csum == guest_expected_csum(rep.ticks) && rep.reads > 0,
	      "guest checksum and PIT reads consistent");
	/*
	 * Over the whole life of the guest, across the pause and the restore:
	 * every tick of VM time arrived, except those the COALESCE phase
	 * dropped on purpose.
	 */
	for (int i = 0; i < d->nrows; i++)
		lost += d->rows[i].lost;
	cumulative = (long long)end.g.ticks + end.owed - (expected_ticks(end.vm - pit_start) - lost);
	check(d, row, llabs(cumulative) <= TOLERANCE,
	      "since the PIT started: %u ticks in %.3f s of VM time, %lld dropped by coalesce "
	      "(diff %+lld)",
	      end.g.ticks, (double)(end.vm - pit_start) * 1e-9, lost, cumulative);
	print_table(d, &end);
out:
	end_progress(d);
	if (r < 0 && m && vmm_error(m->vm, msg, sizeof(msg)) < 0)
		fprintf(stderr, "vmtime demo: vCPU: %s\n", msg);
	machine_free(m);
	if (r < 0)
		return 2;
	return d->failed ? 1 : 0;
}

int kvm_demo_run(const struct kvm_demo_opts *o)
{
	struct demo d;
	char why[160];
	int r;

	if (!o || !o->out || !(o->scale > 0))
		return 2;
	if (vmm_probe(why, sizeof(why)) < 0) {
		fprintf(stderr, "vmtime demo: KVM is not usable here: %s\n", why);
		return KVM_DEMO_UNAVAILABLE;
	}
	memset(&d, 0, sizeof(d));
	d.o = o;
	if (o->snapshot) {
		snprintf(d.snap_path, sizeof(d.snap_path), "%s", o->snapshot);
	} else {
		/* mkdtemp() replaces the template's last six characters, which must be 'X'. */
		int n = snprintf(d.tmpdir, sizeof(d.tmpdir), "/tmp/vmtime-demo-");

		memset(d.tmpdir + n, 'X', 6);
		d.tmpdir[n + 6] = '\0';
		if (!mkdtemp(d.tmpdir)) {
			fprintf(stderr, "vmtime demo: mkdtemp: %s\n", strerror(errno));
			return 2;
		}
		snprintf(d.snap_path, sizeof(d.snap_path), "%s/vm.snap", d.tmpdir);
	}
	r = run_all(&d);
	if (!o->snapshot) {
		unlink(d.snap_path);
		rmdir(d.tmpdir);
	}
	return r;
}

int kvm_demo_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "duration-scale", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "snapshot", required_argument, NULL, 'o' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kvm_demo_opts o = { .scale = 1.0, .out = stdout };
	char *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.scale = strtod(optarg, &end);
			if (*end || !(o.scale > 0) || o.scale > 100) {
				fprintf(stderr, "vmtime demo: bad --duration-scale '%s'\n", optarg);
				return 2;
			}
			break;
		case 'j':
			o.json = 1;
			break;
		case 'o':
			o.snapshot = optarg;
			break;
		case 'l':
			o.listen = optarg;
			break;
		case 'h':
			printf("usage: %s [--duration-scale X] [--json] [--snapshot PATH] [--listen PATH]\n",
			       argv[0]);
			return 0;
		default:
			return 2;
		}
	}
	if (isatty(STDERR_FILENO))
		o.progress = stderr;
	return kvm_demo_run(&o);
}
