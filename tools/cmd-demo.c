/* SPDX-License-Identifier: MIT */
/*
 * cmd-demo.c - `vmtime demo`: the main job.
 *
 * Where KVM works, the demo boots a real guest whose i8254 PIT is emulated
 * on the VM clock (examples/kvm-pit): it runs, pauses, resumes, is saved to
 * a snapshot file, restored into a fresh VM, and survives a stalled timer
 * thread under two missed-tick policies; the table per phase is checked
 * and the command exits 1 if time was wrong.
 *
 * Where KVM is missing (no /dev/kvm, KVM_CREATE_VM refused, or a build
 * without <linux/kvm.h>), it says so and runs the simulated VM below: a
 * "guest" counting the IRQ0 ticks of the library's PIT (vmtime/pit.h)
 * programmed for 100 Hz, which runs, pauses and resumes; the table shows
 * that VM time and guest ticks stop while the VM is paused and that every
 * tick of VM time is delivered (VMT_TICKS_REINJECT), while a status line on
 * the host clock keeps running throughout.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vmtime/vmtime.h>

#include "commands.h"
#ifdef VMT_HAVE_KVM_DEMO
#include "demo.h"
#endif

/* PIT channel 0, mode 2, divisor 11932: 99.998 Hz, programmed at VM time 0. */
#define PIT_DIVISOR 11932u

struct sim {
	vmt_keeper *k;
	vmt_source *src;
	vmt_loop *loop;
	vmt_pit *pit;
	vmt_timer *status;
	vmt_listener *listener; /* --listen */
	atomic_uint_fast64_t ticks;
	const char *phase;
	vmt_ns host0;
	bool tty;
};

struct phase_row {
	const char *name;
	double host_s, vm_s;
	uint64_t ticks, expected;
	int64_t diff;
	/* Ticks due by the end of the phase that the guest has not taken yet. */
	uint64_t owed;
};

/* The simulated guest's interrupt controller: it takes every IRQ0 edge. */
static int on_irq(void *ud, unsigned line, int level)
{
	struct sim *s = ud;

	(void)line;
	if (level)
		atomic_fetch_add(&s->ticks, 1);
	return 1;
}

/* IRQ0 edges by VM time @v: the count loads on clock 1, ticks every divisor. */
static uint64_t pit_ticks_by(vmt_ns v)
{
	uint64_t c = (uint64_t)((unsigned __int128)v * VMT_PIT_FREQ_HZ / VMT_NS_PER_SEC);

	return c ? (c - 1) / PIT_DIVISOR : 0;
}

static void on_status(vmt_timer *t, uint64_t expirations, void *ud)
{
	struct sim *s = ud;

	(void)t;
	(void)expirations;
	if (!s->tty)
		return;
	fprintf(stderr, "\r  %-8s host %7.3f s   vm %7.3f s   guest ticks %6llu ", s->phase,
		(double)(vmt_now(s->src, VMT_CLOCK_HOST) - s->host0) / 1e9,
		(double)vmt_now(s->src, VMT_CLOCK_VM) / 1e9,
		(unsigned long long)atomic_load(&s->ticks));
}

static void *loop_thread(void *arg)
{
	struct sim *s = arg;

	vmt_loop_run(s->loop);
	return NULL;
}

static void sleep_ns(vmt_ns ns)
{
	struct timespec ts = vmt_ns_to_timespec(ns);

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * The PIT's books, read in one go under its lock: the interrupts the guest
 * took, and what it is owed (ticks due that the loop thread, late on a
 * loaded machine, has not run yet, plus the REINJECT backlog).
 */
static void pit_books(struct sim *s, uint64_t *raised, uint64_t *owed)
{
	struct vmt_dev_stats st = { 0 };

	vmt_pit_get_stats(s->pit, &st);
	*raised = st.raised;
	*owed = st.backlog + st.due;
}

static int run_phase(struct sim *s, struct phase_row *row, const char *name, bool running,
		     vmt_ns duration)
{
	vmt_ns h0 = vmt_now(s->src, VMT_CLOCK_HOST), v0 = vmt_now(s->src, VMT_CLOCK_VM);
	uint64_t t0, t1, owed0;

	pit_books(s, &t0, &owed0);
	s->phase = name;
	if (running && vmt_keeper_start(s->k) < 0)
		return -1;
	sleep_ns(duration);
	if (running)
		vmt_keeper_stop(s->k);
	vmt_ns v1 = vmt_now(s->src, VMT_CLOCK_VM);

	/* VM time is stopped: nothing more falls due while the books are read. */
	pit_books(s, &t1, &row->owed);
	row->name = name;
	row->host_s = (double)(vmt_now(s->src, VMT_CLOCK_HOST) - h0) / 1e9;
	row->vm_s = (double)(v1 - v0) / 1e9;
	row->ticks = t1 - t0;
	row->expected = pit_ticks_by(v1) - pit_ticks_by(v0);
	row->diff = (int64_t)row->ticks - (int64_t)row->expected;
	return 0;
}

static int simulated_demo(double scale, bool json, const char *listen)
{
	struct sim s = { 0 };
	struct phase_row rows[3];
	pthread_t th;
	int fails = 0;

	s.tty = isatty(2) && !json;
	int r = vmt_keeper_new(NULL, &s.k);

	if (r < 0)
		return cli_error(CLI_IO, "demo", r, "cannot create the clock");
	r = vmt_loop_new(vmt_keeper_source(s.k), &s.loop);
	if (r < 0) {
		vmt_keeper_free(s.k);
		return cli_error(CLI_IO, "demo", r, "cannot create the loop");
	}
	s.src = vmt_keeper_source(s.k);
	if (listen) {
		r = vmt_keeper_listen(s.k, listen, VMT_LISTEN_THREAD, &s.listener);

		if (r < 0) {
			vmt_loop_free(s.loop);
			vmt_keeper_free(s.k);
			return cli_error(CLI_IO, "demo", r, "cannot listen on %s", listen);
		}
	}
	s.host0 = vmt_now(s.src, VMT_CLOCK_HOST);
	{
		struct vmt_pit_config pc;

		vmt_pit_config_init(&pc);
		pc.dev.irq = on_irq;
		pc.dev.irq_opaque = &s;
		/* A tick-counting guest must lose no tick. */
		pc.dev.ticks = VMT_TICKS_REINJECT;
		if (vmt_pit_new(s.loop, &pc, &s.pit) < 0) {
			fprintf(stderr, "vmtime demo: cannot create the PIT\n");
			return 1;
		}
		/* What the guest's setup code would write: mode 2, LSB then MSB. */
		vmt_pit_write(s.pit, VMT_PIT_CONTROL, 1, 0x34);
		vmt_pit_write(s.pit, VMT_PIT_COUNTER0, 1, PIT_DIVISOR & 0xff);
		vmt_pit_write(s.pit, VMT_PIT_COUNTER0, 1, PIT_DIVISOR >> 8);
	}
	vmt_timer_new(s.loop, VMT_CLOCK_HOST, on_status, &s, &s.status);
	vmt_timer_set_name(s.status, "status-line");
	vmt_timer_arm_periodic(s.status, s.host0, 50 * VMT_NS_PER_MS, VMT_MISSED_DELAY);
	pthread_create(&th, NULL, loop_thread, &s);

	if (!json)
		printf("vmtime demo (simulated guest, the library's PIT at 100 Hz on the VM clock)\n");
	run_phase(&s, &rows[0], "run", true, (vmt_ns)(1e9 * scale));
	run_phase(&s, &rows[1], "pause", false, (vmt_ns)(1e9 * scale));
	run_phase(&s, &rows[2], "resume", true, (vmt_ns)(1e9 * scale));
	vmt_loop_quit(s.loop);
	pthread_join(th, NULL);
	if (s.tty)
		fprintf(stderr, "\r%70s\r", "");

	/*
	 * The checks: the pause adds no VM time and no tick; no tick is lost.  A
	 * tick due before a stop that the loop thread had not run yet (late on
	 * a loaded machine) is owed, and is delivered after the resume (VM
	 * timers never fire while the VM is stopped).  So each phase's ticks,
	 * plus what it left owed, minus what it found owed, is exactly the
	 * PIT's periods in its VM time: no tick lost or counted twice, however
	 * late the loop thread ran.  The pause may deliver nothing, not even
	 * what the run left owed.
	 */
	uint64_t owed = 0;

	if (rows[1].ticks != 0 || rows[1].vm_s != 0)
		fails++;
	for (int i = 0; i < 3; i++) {
		if (rows[i].diff + (int64_t)rows[i].owed - (int64_t)owed != 0)
			fails++;
		owed = rows[i].owed;
	}
	if (rows[0].vm_s < 0.5 * scale || rows[2].vm_s < 0.5 * scale)
		fails++;

	if (json) {
		printf("{\"guest\":\"simulated\",\"phases\":[");
		for (int i = 0; i < 3; i++)
			printf("%s{\"phase\":\"%s\",\"host_s\":%.6f,\"vm_s\":%.6f,\"ticks\":%llu,"
			       "\"expected\":%llu,\"diff\":%lld,\"owed\":%llu}",
			       i ? "," : "", rows[i].name, rows[i].host_s, rows[i].vm_s,
			       (unsigned long long)rows[i].ticks, (unsigned long long)rows[i].expected,
			       (long long)rows[i].diff, (unsigned long long)rows[i].owed);
		printf("],\"ok\":%s}\n", fails ? "false" : "true");
	} else {
		printf("%-8s %10s %10s %8s %9s %6s %5s\n", "phase", "host s", "vm s", "ticks",
		       "expected", "diff", "owed");
		for (int i = 0; i < 3; i++)
			printf("%-8s %10.3f %10.3f %8llu %9llu %6lld %5llu\n", rows[i].name,
			       rows[i].host_s, rows[i].vm_s, (unsigned long long)rows[i].ticks,
			       (unsigned long long)rows[i].expected, (long long)rows[i].diff,
			       (unsigned long long)rows[i].owed);
		printf("%s\n", fails ? "FAILED: VM time or ticks were wrong"
				     : "OK: the pause added no VM time and no tick; no tick was lost");
	}
	vmt_pit_free(s.pit);
	vmt_loop_free(s.loop);
	vmt_listener_free(s.listener);
	vmt_keeper_free(s.k);
	return fails ? 1 : 0;
}

bool cmd_demo_help(FILE *f, const char *sub)
{
	if (sub)
		return false;
	fprintf(f, "usage: vmtime demo [--duration-scale X] [--json] [--snapshot PATH]\n"
		   "                   [--listen PATH] [--simulated]\n\n"
		   "Run a VM whose timer device runs on the VM clock: run, pause, resume (and,\n"
		   "with KVM, snapshot, restore and a stalled timer thread), print a table per\n"
		   "phase and check that the pause added no VM time and no tick was lost.\n"
		   "Where /dev/kvm is missing it says so and runs the simulated guest.\n\n"
		   "options:\n"
		   "  --duration-scale X  multiply every phase's duration by X, in (0, 100]\n"
		   "                      (default 1: the simulated guest's phases last 1 s each)\n"
		   "  --json              print the table as one JSON object (default: text)\n"
		   "  --snapshot PATH     KVM guest: keep the snapshot at PATH (default: a\n"
		   "                      temporary file, removed); the simulated guest saves none\n"
		   "  --listen PATH       serve the demo's clock on the unix socket PATH for\n"
		   "                      `vmtime inspect --connect PATH` (default: none)\n"
		   "  --simulated         run the simulated guest even where KVM works\n"
		   "  -h, --help          show this help\n\n"
		   "exit status: 0 every check passed, 1 a check failed, 2 usage error, 3 the\n"
		   "clock, the socket or the snapshot file could not be set up\n");
	return true;
}

int cmd_demo(int argc, char **argv)
{
	const char *snapshot = NULL, *listen = NULL, *scale_arg = NULL;
	bool json = false, simulated = false;
	double scale = 1.0;
	char *end;
	int r;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			cmd_demo_help(stdout, NULL);
			return CLI_OK;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--simulated")) {
			simulated = true;
		} else if ((r = cli_opt_value("demo", argc, argv, &i, "--duration-scale",
					      &scale_arg)) != 0) {
			if (r < 0)
				return CLI_USAGE;
			scale = strtod(scale_arg, &end);
			if (end == scale_arg || *end || !(scale > 0) || scale > 100)
				return cli_usage("demo", "--duration-scale must be in (0, 100], not '%s'",
						 scale_arg);
		} else if ((r = cli_opt_value("demo", argc, argv, &i, "--snapshot", &snapshot)) != 0 ||
			   (r = cli_opt_value("demo", argc, argv, &i, "--listen", &listen)) != 0) {
			if (r < 0)
				return CLI_USAGE;
		} else {
			return cli_usage("demo", "unexpected argument '%s'", argv[i]);
		}
	}
	if (simulated && snapshot)
		fprintf(stderr, "vmtime: demo: the simulated guest saves no snapshot; "
				"--snapshot is ignored\n");
#ifdef VMT_HAVE_KVM_DEMO
	if (!simulated) {
		struct kvm_demo_opts o = {
			.scale = scale,
			.json = json,
			.snapshot = snapshot,
			.listen = listen,
			.out = stdout,
			.progress = isatty(STDERR_FILENO) ? stderr : NULL,
		};
		int r = kvm_demo_run(&o);

		/* The KVM demo's 2 is "an error", not a usage error here. */
		if (r != KVM_DEMO_UNAVAILABLE)
			return r == 2 ? CLI_IO : r;
		fprintf(stderr, "vmtime: demo: running the simulated guest instead\n");
	}
#else
	if (!simulated)
		fprintf(stderr, "vmtime: demo: built without KVM support; running the simulated "
				"guest\n");
	(void)snapshot;
#endif
	return simulated_demo(scale, json, listen);
}
