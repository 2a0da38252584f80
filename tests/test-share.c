/* SPDX-License-Identifier: MIT */
/*
 * test-share.c - the clock page in other processes.
 *
 * Children are this binary re-executed (fork + exec of /proc/self/exe) with
 * "--child ROLE ARGS..."; a constructor runs the role before the harness'
 * main().  Each child answers the parent on its stdout, one line per request.
 * The library runs watcher and listener threads here: VMT_TEST_THREADED.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vmtime/keeper.h>
#include <vmtime/loop.h>
#include <vmtime/share.h>
#include <vmtime/timer.h>

#include "keeper-internal.h"
#include "testing.h"
#include "tests.h"

/* ---- child roles -------------------------------------------------------------- */

static void child_reader(const char *path)
{
	vmt_source *src;
	char cmd[32];

	if (vmt_source_connect(path, &src) < 0)
		_exit(20);
	printf("ready\n");
	while (fgets(cmd, sizeof(cmd), stdin)) {
		if (cmd[0] == 'r')
			printf("%llu\n", (unsigned long long)vmt_now(src, VMT_CLOCK_VM));
		else if (cmd[0] == 'c')
			printf("%lld\n", (long long)vmt_source_reset_count(src));
		else
			break;
	}
	vmt_source_free(src);
	_exit(0);
}

static void on_fire(vmt_timer *t, uint64_t exp, void *ud)
{
	vmt_source *src = ud;

	(void)t;
	(void)exp;
	printf("fired %llu %d\n", (unsigned long long)vmt_now(src, VMT_CLOCK_VM),
	       vmt_source_running(src));
}

static void child_timer(const char *path, const char *deadline)
{
	vmt_source *src;
	vmt_loop *loop;
	vmt_timer *t;

	if (vmt_source_connect(path, &src) < 0 || vmt_loop_new(src, &loop) < 0 ||
	    vmt_timer_new(loop, VMT_CLOCK_VM, on_fire, src, &t) < 0 ||
	    vmt_timer_arm(t, strtoull(deadline, NULL, 10)) < 0)
		_exit(20);
	printf("armed\n");
	for (int i = 0; i < 1000 && vmt_timer_pending(t) == 1; i++) {
		struct pollfd p = { .fd = vmt_loop_get_fd(loop), .events = POLLIN };

		poll(&p, 1, 20);
		vmt_loop_dispatch(loop);
	}
	vmt_timer_free(t);
	vmt_loop_free(loop);
	vmt_source_free(src);
	_exit(0);
}

static void child_write(void)
{
	const struct vmti_page *p;
	vmt_source *src;
	char path[64];
	int fd;

	if (vmt_source_attach(3, &src) < 0)
		_exit(20);
	p = atomic_load(&src->page);
	/* Neither the mapping nor a new one can be made writable. */
	if (mprotect((void *)p, 4096, PROT_READ | PROT_WRITE) == 0)
		_exit(10);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", 3);
	fd = open(path, O_RDWR);
	if (fd >= 0) {
		void *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (w != MAP_FAILED)
			_exit(11);
		close(fd);
	}
	printf("writing\n");
	fflush(stdout);
	/* Sanitizers catch SIGSEGV to report it; we want to die of it. */
	signal(SIGSEGV, SIG_DFL);
	*(volatile uint64_t *)&p->magic = 0;
	_exit(12);
}

static void child_keeper(const char *path)
{
	vmt_listener *l;
	vmt_keeper *k;

	if (vmt_keeper_new(NULL, &k) < 0 || vmt_keeper_listen(k, path, VMT_LISTEN_THREAD, &l) < 0 ||
	    vmt_keeper_start(k) < 0)
		_exit(20);
	printf("ready\n");
	for (;;)
		pause();
}

/*
 * A keeper that, told "w", opens a page write, tears the state as a write in
 * progress would, and stays there until it is killed.
 */
static void child_dying_writer(const char *path)
{
	vmt_listener *l;
	vmt_keeper *k;
	char cmd[8];

	if (vmt_keeper_new(NULL, &k) < 0 || vmt_keeper_listen(k, path, VMT_LISTEN_THREAD, &l) < 0 ||
	    vmt_keeper_start(k) < 0)
		_exit(20);
	printf("ready\n");
	if (!fgets(cmd, sizeof(cmd), stdin))
		_exit(21);
	pthread_mutex_lock(&k->lock);
	vmti_page_write_begin(k->page);
	VMTI_PAGE_SET(k->page, vm_base, 0);
	VMTI_PAGE_SET(k->page, host_base, UINT64_MAX);
	printf("writing\n");
	for (;;)
		pause();
}

static void child_sub(const char *path)
{
	vmt_source *src;

	if (vmt_source_connect(path, &src) < 0)
		_exit(20);
	printf("ready\n");
	for (;;)
		pause();
}

__attribute__((constructor)) static void child_main(int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[1], "--child") != 0)
		return;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[2], "reader") && argc == 4)
		child_reader(argv[3]);
	if (!strcmp(argv[2], "timer") && argc == 5)
		child_timer(argv[3], argv[4]);
	if (!strcmp(argv[2], "write"))
		child_write();
	if (!strcmp(argv[2], "keeper") && argc == 4)
		child_keeper(argv[3]);
	if (!strcmp(argv[2], "dying-writer") && argc == 4)
		child_dying_writer(argv[3]);
	if (!strcmp(argv[2], "sub") && argc == 4)
		child_sub(argv[3]);
	_exit(30);
}

/* ---- parent helpers ----------------------------------------------------------- */

struct child {
	pid_t pid;
	FILE *in;  /* to the child's stdin */
	FILE *out; /* from the child's stdout */
};

static struct child spawn(const char *role, const char *a1, const char *a2, int pass_fd)
{
	struct child c = { .pid = -1 };
	int to[2], from[2];

	if (pipe2(to, O_CLOEXEC) < 0 || pipe2(from, O_CLOEXEC) < 0)
		return c;
	c.pid = fork();
	if (c.pid == 0) {
		char *argv[] = { "test-share", "--child", (char *)role, (char *)a1, (char *)a2, NULL };

		dup2(to[0], 0);
		dup2(from[1], 1);
		if (pass_fd >= 0)
			dup2(pass_fd, 3);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	c.in = fdopen(to[1], "w");
	c.out = fdopen(from[0], "r");
	setvbuf(c.in, NULL, _IOLBF, 0);
	return c;
}

/* One line from the child, or NULL after @ms milliseconds. */
static char *child_line(struct child *c, char *buf, size_t n, int ms)
{
	struct pollfd p = { .fd = fileno(c->out), .events = POLLIN };

	if (poll(&p, 1, ms) <= 0)
		return NULL;
	return fgets(buf, (int)n, c->out);
}

static int child_end(struct child *c)
{
	int st = 0;

	if (c->in)
		fclose(c->in);
	if (c->out)
		fclose(c->out);
	waitpid(c->pid, &st, 0);
	return st;
}

static vmt_ns child_read(struct child *c)
{
	char buf[64];

	fprintf(c->in, "r\n");
	if (!child_line(c, buf, sizeof(buf), 5000))
		return VMT_NS_NEVER;
	return strtoull(buf, NULL, 10);
}

static void sock_path(char *buf, size_t n, const char *tag)
{
	snprintf(buf, n, "/tmp/vmt-share-%d-%s.sock", (int)getpid(), tag);
}

static int count_fds(void)
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	int n = 0, ch;

	if (!f)
		return -1;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static vmt_keeper *new_keeper(uint32_t mode, vmt_ns t0)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	vmt_keeper *k = NULL;

	cfg.mode = mode;
	cfg.initial_vm_time = t0;
	vmt_keeper_new(&cfg, &k);
	return k;
}

static size_t nsubs(vmt_keeper *k)
{
	size_t n;

	pthread_mutex_lock(&k->lock);
	n = k->subs.n;
	pthread_mutex_unlock(&k->lock);
	return n;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- tests ---------------------------------------------------------------------- */

TEST(export_fd_is_read_only_and_sealed)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	char path[64];
	int fd, fd2, seals;

	ASSERT_TRUE(k);
	ASSERT_ERR(vmt_keeper_export_fd(NULL), -EINVAL);
	fd = vmt_keeper_export_fd(k);
	ASSERT_OK(fd);
	ASSERT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	seals = fcntl(fd, F_GET_SEALS);
	ASSERT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	ASSERT_TRUE(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
	/* Reopening the memfd read-write does not help either. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fd2 = open(path, O_RDWR);
	if (fd2 >= 0) {
		ASSERT_TRUE(ftruncate(fd2, 0) < 0);
#ifdef F_SEAL_FUTURE_WRITE
		if (seals & F_SEAL_FUTURE_WRITE)
			ASSERT_TRUE(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0) ==
				    MAP_FAILED);
#endif
		close(fd2);
	}
	/* The keeper keeps writing through its own mapping. */
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_OK(vmt_keeper_advance(k, 5));
	/* A second export works (already sealed). */
	fd2 = vmt_keeper_export_fd(k);
	ASSERT_OK(fd2);
	close(fd2);
	close(fd);
	vmt_keeper_free(k);
}

TEST(attached_source_reads_the_keepers_time)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 1000);
	vmt_source *ks = vmt_keeper_source(k), *src;
	int fd = vmt_keeper_export_fd(k);

	ASSERT_OK(fd);
	ASSERT_OK(vmt_source_attach(fd, &src));
	close(fd); /* the mapping stays */
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 1000);
	ASSERT_EQ(vmt_source_running(src), 0);
	ASSERT_EQ(vmt_source_alive(src), 1);
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_EQ(vmt_source_running(src), 1);
	ASSERT_OK(vmt_keeper_advance(k, 777));
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), vmt_now(ks, VMT_CLOCK_VM));
	ASSERT_OK(vmt_keeper_stop(k));
	ASSERT_OK(vmt_keeper_reset(k, 5));
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 5);
	ASSERT_EQ(vmt_source_reset_count(src), 1);
	/* Freed keeper: the page says dead, the clock stays frozen. */
	vmt_keeper_free(k);
	ASSERT_ERR(vmt_source_alive(src), -ESHUTDOWN);
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 5);
	ASSERT_TRUE(vmt_source_free(src) == NULL);
	ASSERT_TRUE(vmt_source_free(NULL) == NULL);
	ASSERT_ERR(vmt_source_alive(NULL), -EINVAL);
}

TEST(attached_real_clock_matches)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_REAL, 0);
	vmt_source *ks = vmt_keeper_source(k), *src;
	int fd = vmt_keeper_export_fd(k);

	ASSERT_OK(vmt_source_attach(fd, &src));
	close(fd);
	ASSERT_OK(vmt_keeper_start(k));
	for (int i = 0; i < 1000; i++) {
		vmt_ns a = vmt_now(ks, VMT_CLOCK_VM);
		vmt_ns b = vmt_now(src, VMT_CLOCK_VM);
		vmt_ns c = vmt_now(ks, VMT_CLOCK_VM);

		ASSERT_ULE(a, b);
		ASSERT_ULE(b, c);
	}
	/* The keeper's own source is not freed by vmt_source_free(). */
	ASSERT_TRUE(vmt_source_free(ks) == NULL);
	ASSERT_EQ(vmt_source_alive(ks), 1);
	vmt_source_free(src);
	vmt_keeper_free(k);
}

static int page_memfd(uint64_t magic, uint32_t version, uint32_t size, uint64_t pid, bool seal)
{
	struct vmti_page pg = { 0 };
	int fd = memfd_create("forged", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, VMTI_PAGE_MAP_SIZE) < 0)
		return -1;
	pg.magic = magic;
	pg.version = version;
	pg.size = size;
	pg.keeper_pid = pid;
	if (pwrite(fd, &pg, sizeof(pg), 0) != (ssize_t)sizeof(pg))
		return -1;
	if (seal)
		fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	return fd;
}

TEST(forged_and_foreign_pages_are_refused)
{
	const uint32_t sz = sizeof(struct vmti_page);
	const uint64_t me = (uint64_t)getpid();
	vmt_source *src = NULL;
	int fd, p[2];

	ASSERT_ERR(vmt_source_attach(-1, &src), -EINVAL);
	fd = page_memfd(VMTI_PAGE_MAGIC, VMTI_PAGE_VERSION, sz, me, true);
	ASSERT_ERR(vmt_source_attach(fd, NULL), -EINVAL);
	/* The reference page is accepted: the others differ in one thing. */
	ASSERT_OK(vmt_source_attach(fd, &src));
	src = vmt_source_free(src);
	close(fd);
	ASSERT_ERR(vmt_source_attach(fd, &src), -EBADF);

	ASSERT_EQ(pipe(p), 0);
	ASSERT_ERR(vmt_source_attach(p[0], &src), -EPROTO);
	close(p[0]);
	close(p[1]);
	fd = memfd_create("small", MFD_CLOEXEC);
	ASSERT_EQ(ftruncate(fd, 100), 0);
	ASSERT_ERR(vmt_source_attach(fd, &src), -EPROTO);
	close(fd);
	fd = page_memfd(0x1234, VMTI_PAGE_VERSION, sz, me, true);
	ASSERT_ERR(vmt_source_attach(fd, &src), -EPROTO);
	close(fd);
	fd = page_memfd(VMTI_PAGE_MAGIC, VMTI_PAGE_VERSION + 1, sz, me, true);
	ASSERT_ERR(vmt_source_attach(fd, &src), -EPROTONOSUPPORT);
	close(fd);
	fd = page_memfd(VMTI_PAGE_MAGIC, VMTI_PAGE_VERSION, sz - 8, me, true);
	ASSERT_ERR(vmt_source_attach(fd, &src), -EBADMSG);
	close(fd);
	fd = page_memfd(VMTI_PAGE_MAGIC, VMTI_PAGE_VERSION, 8192, me, true);
	ASSERT_ERR(vmt_source_attach(fd, &src), -EBADMSG);
	close(fd);
	fd = page_memfd(VMTI_PAGE_MAGIC, VMTI_PAGE_VERSION, sz, 0, true);
	ASSERT_ERR(vmt_source_attach(fd, &src), -EBADMSG);
	close(fd);
	fd = page_memfd(VMTI_PAGE_MAGIC, VMTI_PAGE_VERSION, sz, me, false);
	ASSERT_ERR(vmt_source_attach(fd, &src), -EBADMSG);
	close(fd);
	ASSERT_TRUE(src == NULL);
}

TEST(attach_detach_1000_cycles_leak_nothing)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	int fd = vmt_keeper_export_fd(k);
	char path[108];
	vmt_listener *l;

	sock_path(path, sizeof(path), "leak");
	ASSERT_OK(vmt_keeper_listen(k, path, VMT_LISTEN_THREAD, &l));
	/* Warm up lazily allocated libc state before counting. */
	for (int i = 0; i < 2; i++) {
		vmt_source *s;

		ASSERT_OK(vmt_source_connect(path, &s));
		vmt_source_free(s);
	}
	sleep_ms(50);
	int fds = count_fds(), maps = count_maps();

	for (int i = 0; i < 1000; i++) {
		vmt_source *s;

		ASSERT_OK(vmt_source_attach(fd, &s));
		vmt_source_free(s);
	}
	for (int i = 0; i < 100; i++) {
		vmt_source *s;

		ASSERT_OK(vmt_source_connect(path, &s));
		vmt_source_free(s);
	}
	/* The listener drops the hung-up connections on its own thread. */
	for (int i = 0; i < 200 && nsubs(k); i++)
		sleep_ms(10);
	ASSERT_EQ(nsubs(k), 0);
	ASSERT_EQ(count_fds(), fds);
	/* A leak would be 1,100 mappings; allocators (ASan's) may add a few. */
#ifndef __SANITIZE_THREAD__ /* TSan maps shadow memory as threads come and go */
	ASSERT_LE(count_maps(), maps + 4);
#else
	(void)maps;
#endif
	vmt_listener_free(l);
	close(fd);
	vmt_keeper_free(k);
}

TEST(keeper_subscribe_api)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), p[2];
	uint64_t v = 0;

	ASSERT_ERR(vmt_keeper_subscribe(NULL, efd), -EINVAL);
	ASSERT_ERR(vmt_keeper_subscribe(k, -1), -EINVAL);
	ASSERT_ERR(vmt_keeper_subscribe(k, 1000), -EBADF);
	ASSERT_EQ(pipe(p), 0);
	ASSERT_ERR(vmt_keeper_subscribe(k, p[1]), -ENOTTY);
	close(p[0]);
	close(p[1]);
	ASSERT_OK(vmt_keeper_subscribe(k, efd));
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_OK(vmt_keeper_stop(k));
	ASSERT_OK(vmt_keeper_reset(k, 3));
	ASSERT_EQ(read(efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	ASSERT_EQ(v, 3);
	ASSERT_ERR(vmt_keeper_unsubscribe(NULL, efd), -EINVAL);
	ASSERT_ERR(vmt_keeper_unsubscribe(k, -1), -EINVAL);
	ASSERT_OK(vmt_keeper_unsubscribe(k, efd));
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_TRUE(read(efd, &v, sizeof(v)) < 0 && errno == EAGAIN);
	close(efd);
	vmt_keeper_free(k);
}

static int fired_count;

static void count_fire(vmt_timer *t, uint64_t exp, void *ud)
{
	(void)t;
	(void)exp;
	(void)ud;
	fired_count++;
}

TEST(notify_fd_wakes_loops_of_an_attached_source)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	int fd = vmt_keeper_export_fd(k);
	int efd = eventfd(0, EFD_CLOEXEC), p[2];
	vmt_source *src;
	vmt_loop *loop;
	vmt_timer *t;

	ASSERT_OK(vmt_source_attach(fd, &src));
	ASSERT_ERR(vmt_source_set_notify_fd(NULL, efd), -EINVAL);
	ASSERT_ERR(vmt_source_set_notify_fd(vmt_keeper_source(k), efd), -EINVAL);
	ASSERT_EQ(pipe(p), 0);
	ASSERT_ERR(vmt_source_set_notify_fd(src, p[0]), -ENOTTY);
	close(p[0]);
	close(p[1]);
	ASSERT_OK(vmt_keeper_subscribe(k, efd));
	ASSERT_OK(vmt_source_set_notify_fd(src, efd));
	ASSERT_ERR(vmt_source_set_notify_fd(src, efd), -EBUSY);
	ASSERT_OK(vmt_loop_new(src, &loop));
	ASSERT_OK(vmt_timer_new(loop, VMT_CLOCK_VM, count_fire, NULL, &t));
	ASSERT_OK(vmt_timer_arm(t, 100));
	vmt_loop_dispatch(loop);
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_OK(vmt_keeper_advance(k, 150));
	/* The keeper's write reaches the loop through the source's watcher. */
	for (int i = 0; i < 100 && !fired_count; i++) {
		struct pollfd pf = { .fd = vmt_loop_get_fd(loop), .events = POLLIN };

		poll(&pf, 1, 20);
		vmt_loop_dispatch(loop);
	}
	ASSERT_EQ(fired_count, 1);
	vmt_timer_free(t);
	vmt_loop_free(loop);
	ASSERT_OK(vmt_keeper_unsubscribe(k, efd));
	vmt_source_free(src); /* closes efd */
	close(fd);
	vmt_keeper_free(k);
}

TEST(processes_read_one_clock)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_REAL, 0);
	vmt_source *ks = vmt_keeper_source(k);
	struct child c[2];
	char path[108], buf[64];
	vmt_listener *l;
	vmt_ns last = 0;

	sock_path(path, sizeof(path), "read");
	ASSERT_OK(vmt_keeper_listen(k, path, VMT_LISTEN_THREAD, &l));
	ASSERT_OK(vmt_keeper_start(k));
	for (int i = 0; i < 2; i++) {
		c[i] = spawn("reader", path, NULL, -1);
		ASSERT_TRUE(c[i].pid > 0);
		ASSERT_TRUE(child_line(&c[i], buf, sizeof(buf), 5000));
		ASSERT_STREQ(buf, "ready\n");
	}
	/* Each read causally follows the previous one, in whatever process. */
	for (int i = 0; i < 300; i++) {
		vmt_ns v = i % 3 == 2 ? vmt_now(ks, VMT_CLOCK_VM) : child_read(&c[i % 3]);

		ASSERT_TRUE(v != VMT_NS_NEVER);
		ASSERT_ULE(last, v);
		last = v;
	}
	ASSERT_OK(vmt_keeper_stop(k));
	vmt_ns frozen = vmt_now(ks, VMT_CLOCK_VM);
	ASSERT_ULE(last, frozen);
	for (int i = 0; i < 2; i++)
		ASSERT_UEQ(child_read(&c[i]), frozen);
	ASSERT_OK(vmt_keeper_reset(k, 424242));
	for (int i = 0; i < 2; i++) {
		ASSERT_UEQ(child_read(&c[i]), 424242);
		fprintf(c[i].in, "c\n");
		ASSERT_TRUE(child_line(&c[i], buf, sizeof(buf), 5000));
		ASSERT_STREQ(buf, "1\n");
	}
	for (int i = 0; i < 2; i++) {
		fprintf(c[i].in, "q\n");
		int st = child_end(&c[i]);
		ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	vmt_listener_free(l);
	ASSERT_TRUE(access(path, F_OK) < 0); /* the socket path is removed */
	vmt_keeper_free(k);
}

TEST(timers_of_a_subscribed_loop_in_another_process)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_REAL, VMT_NS_PER_SEC);
	vmt_source *ks = vmt_keeper_source(k);
	const vmt_ns deadline = VMT_NS_PER_SEC + 100 * VMT_NS_PER_MS;
	char path[108], buf[128], dl[32];
	vmt_listener *l;
	struct child c;

	sock_path(path, sizeof(path), "timer");
	snprintf(dl, sizeof(dl), "%llu", (unsigned long long)deadline);
	ASSERT_OK(vmt_keeper_listen(k, path, VMT_LISTEN_THREAD, &l));
	c = spawn("timer", path, dl, -1);
	ASSERT_TRUE(child_line(&c, buf, sizeof(buf), 5000));
	ASSERT_STREQ(buf, "armed\n");
	/* Stopped: host time passes, VM time does not, nothing fires. */
	ASSERT_TRUE(!child_line(&c, buf, sizeof(buf), 200));
	/* Run 40 ms of the 100, stop: still nothing, however long we wait. */
	ASSERT_OK(vmt_keeper_start(k));
	sleep_ms(40);
	ASSERT_OK(vmt_keeper_stop(k));
	ASSERT_ULT(vmt_now(ks, VMT_CLOCK_VM), deadline);
	ASSERT_TRUE(!child_line(&c, buf, sizeof(buf), 250));
	/* Resume: it fires once the remaining VM time has run. */
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_TRUE(child_line(&c, buf, sizeof(buf), 5000));
	unsigned long long at;
	int running;
	ASSERT_EQ(sscanf(buf, "fired %llu %d", &at, &running), 2);
	ASSERT_UGE(at, deadline);
	ASSERT_ULT(at, deadline + 200 * VMT_NS_PER_MS); /* loaded machines are slow */
	ASSERT_EQ(running, 1);
	ASSERT_UGE(vmt_now(ks, VMT_CLOCK_VM), deadline);
	int st = child_end(&c);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	vmt_listener_free(l);
	vmt_keeper_free(k);
}

TEST(writing_the_attached_page_is_sigsegv)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 99);
	int fd = vmt_keeper_export_fd(k), st;
	char buf[64];
	struct child c;

	ASSERT_OK(fd);
	c = spawn("write", NULL, NULL, fd);
	ASSERT_TRUE(child_line(&c, buf, sizeof(buf), 5000));
	ASSERT_STREQ(buf, "writing\n");
	st = child_end(&c);
	ASSERT_TRUE(WIFSIGNALED(st));
	ASSERT_EQ(WTERMSIG(st), SIGSEGV);
	ASSERT_UEQ(vmt_now(vmt_keeper_source(k), VMT_CLOCK_VM), 99);
	close(fd);
	vmt_keeper_free(k);
}

TEST(sigkilled_subscriber_leaves_the_keeper_working)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	char path[108], buf[64];
	vmt_listener *l;
	struct child c;

	sock_path(path, sizeof(path), "kill");
	ASSERT_OK(vmt_keeper_listen(k, path, VMT_LISTEN_THREAD, &l));
	ASSERT_ERR(vmt_listener_get_fd(l), -EBUSY);
	int fds = count_fds();
	c = spawn("sub", path, NULL, -1);
	ASSERT_TRUE(child_line(&c, buf, sizeof(buf), 5000));
	ASSERT_EQ(nsubs(k), 1);
	kill(c.pid, SIGKILL);
	int st = child_end(&c);
	ASSERT_TRUE(WIFSIGNALED(st));
	for (int i = 0; i < 200 && nsubs(k); i++)
		sleep_ms(10);
	ASSERT_EQ(nsubs(k), 0);
	ASSERT_EQ(count_fds(), fds);
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_OK(vmt_keeper_advance(k, 10));
	ASSERT_OK(vmt_keeper_stop(k));
	ASSERT_OK(vmt_keeper_reset(k, 0));
	char *json = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&json, &len);
	ASSERT_OK(vmt_listener_inspect(l, m));
	fclose(m);
	ASSERT_TRUE(strstr(json, "\"accepted\":1") && strstr(json, "\"dropped\":1"));
	free(json);
	vmt_listener_free(l);
	vmt_keeper_free(k);
}

static int run_tool(const char *path, char *out, size_t n)
{
	char cmd[512];
	FILE *p;
	size_t got;

	snprintf(cmd, sizeof(cmd), "%s/vmtime inspect --connect %s", VMT_BINARY_DIR, path);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	got = fread(out, 1, n - 1, p);
	out[got] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(dead_keeper_freezes_attached_clocks)
{
	char path[108], buf[512];
	vmt_source *src;
	vmt_loop *loop;
	struct child c;
	bool tool;

	sock_path(path, sizeof(path), "dead");
	c = spawn("keeper", path, NULL, -1);
	ASSERT_TRUE(child_line(&c, buf, sizeof(buf), 5000));
	ASSERT_STREQ(buf, "ready\n");
	ASSERT_OK(vmt_source_connect(path, &src));
	ASSERT_OK(vmt_loop_new(src, &loop));
	ASSERT_EQ(vmt_source_alive(src), 1);
	ASSERT_EQ(vmt_source_running(src), 1);
	tool = access(VMT_BINARY_DIR "/vmtime", X_OK) == 0;
	if (tool) {
		ASSERT_EQ(run_tool(path, buf, sizeof(buf)), 0);
		ASSERT_TRUE(strstr(buf, "\"state\":\"running\"") && strstr(buf, "\"alive\":true"));
	}
	vmt_loop_dispatch(loop);

	kill(c.pid, SIGKILL);
	child_end(&c);
	/* The loop is woken by the hang-up. */
	struct pollfd pf = { .fd = vmt_loop_get_fd(loop), .events = POLLIN };
	ASSERT_EQ(poll(&pf, 1, 5000), 1);
	ASSERT_ERR(vmt_source_alive(src), -ESHUTDOWN);
	vmt_ns a = vmt_now(src, VMT_CLOCK_VM);
	sleep_ms(20);
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), a);
	ASSERT_EQ(vmt_source_running(src), 0);
	char *json = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&json, &len);
	ASSERT_OK(vmt_source_inspect(src, m));
	fclose(m);
	ASSERT_TRUE(strstr(json, "\"state\":\"dead\"") && strstr(json, "\"alive\":false"));
	free(json);
	if (tool) /* nobody listens any more: the socket cannot be reached */
		ASSERT_EQ(run_tool(path, buf, sizeof(buf)), 3); /* CLI_IO */
	vmt_loop_dispatch(loop);
	vmt_loop_free(loop);
	vmt_source_free(src);
	unlink(path);
}

TEST(dead_keeper_process_seen_through_pidfd)
{
	char path[108], buf[128];
	vmt_source *att;
	struct child c;
	int fd = -1;

	sock_path(path, sizeof(path), "pidfd");
	c = spawn("keeper", path, NULL, -1);
	ASSERT_TRUE(child_line(&c, buf, sizeof(buf), 5000));
	/* The page fd as a VMM's own channel would pass it: taken from the keeper's table. */
	for (int i = 0; i < 256 && fd < 0; i++) {
		char t[128];
		ssize_t n;

		snprintf(buf, sizeof(buf), "/proc/%d/fd/%d", (int)c.pid, i);
		n = readlink(buf, t, sizeof(t) - 1);
		if (n > 0 && (t[n] = 0, strstr(t, "memfd:vmtime-clock")))
			fd = open(buf, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		kill(c.pid, SIGKILL);
		child_end(&c);
		unlink(path);
		SKIP("cannot open the keeper's page through /proc");
	}
	ASSERT_OK(vmt_source_attach(fd, &att));
	close(fd);
	ASSERT_EQ(vmt_source_alive(att), 1);
	ASSERT_EQ(vmt_source_running(att), 1);
	kill(c.pid, SIGKILL);
	child_end(&c);
	for (int i = 0; i < 200 && vmt_source_alive(att) == 1; i++)
		sleep_ms(10);
	ASSERT_ERR(vmt_source_alive(att), -ESHUTDOWN);
	vmt_ns a = vmt_now(att, VMT_CLOCK_VM);
	sleep_ms(20);
	ASSERT_UEQ(vmt_now(att, VMT_CLOCK_VM), a);
	vmt_source_free(att);
	unlink(path);
}

TEST(listener_in_dispatch_mode)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 7);
	char path[108], buf[64];
	vmt_listener *l;
	struct child c;
	int lfd;

	sock_path(path, sizeof(path), "disp");
	ASSERT_OK(vmt_keeper_listen(k, path, 0, &l));
	lfd = vmt_listener_get_fd(l);
	ASSERT_OK(lfd);
	c = spawn("reader", path, NULL, -1);
	/* The child's connect completes only as we dispatch. */
	for (int i = 0; i < 500; i++) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
				       { .fd = fileno(c.out), .events = POLLIN } };

		poll(p, 2, 20);
		if (p[0].revents)
			ASSERT_OK(vmt_listener_dispatch(l));
		if (p[1].revents)
			break;
	}
	ASSERT_TRUE(child_line(&c, buf, sizeof(buf), 1000));
	ASSERT_STREQ(buf, "ready\n");
	ASSERT_UEQ(child_read(&c), 7);
	fprintf(c.in, "q\n");
	child_end(&c);
	for (int i = 0; i < 100 && nsubs(k); i++) {
		sleep_ms(10);
		vmt_listener_dispatch(l);
	}
	ASSERT_EQ(nsubs(k), 0);
	vmt_listener_free(l);
	vmt_keeper_free(k);
}

/* A fake keeper: accepts one peer and answers with @reply (or nothing). */
struct fake {
	int lfd;
	int mode; /* 0 close, 1 garbage, 2 silence */
};

static void *fake_server(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (f->mode == 1) {
		const char junk[24] = "not the vmtime protocol";
		ssize_t n = send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
		(void)n;
	}
	if (f->mode == 2)
		sleep_ms(600);
	close(fd);
	return NULL;
}

static int connect_fake(const char *path, int mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fake f = { .mode = mode };
	vmt_source *src;
	pthread_t th;
	int r;

	strcpy(sa.sun_path, path);
	unlink(path);
	f.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(f.lfd, 1) < 0)
		return -999;
	pthread_create(&th, NULL, fake_server, &f);
	r = vmt_source_connect(path, &src);
	pthread_join(th, NULL);
	close(f.lfd);
	unlink(path);
	if (r == 0)
		vmt_source_free(src);
	return r;
}

TEST(listen_and_connect_errors)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	char path[108], longp[200];
	vmt_listener *l, *l2;
	vmt_source *src;

	sock_path(path, sizeof(path), "err");
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	ASSERT_ERR(vmt_keeper_listen(NULL, path, 0, &l), -EINVAL);
	ASSERT_ERR(vmt_keeper_listen(k, NULL, 0, &l), -EINVAL);
	ASSERT_ERR(vmt_keeper_listen(k, path, 0, NULL), -EINVAL);
	ASSERT_ERR(vmt_keeper_listen(k, path, 0x100, &l), -EINVAL);
	ASSERT_ERR(vmt_keeper_listen(k, longp, 0, &l), -ENAMETOOLONG);
	ASSERT_OK(vmt_keeper_listen(k, path, 0, &l));
	ASSERT_ERR(vmt_keeper_listen(k, path, 0, &l2), -EADDRINUSE);
	ASSERT_ERR(vmt_listener_get_fd(NULL), -EINVAL);
	ASSERT_ERR(vmt_listener_dispatch(NULL), -EINVAL);
	ASSERT_ERR(vmt_listener_inspect(NULL, stdout), -EINVAL);
	ASSERT_ERR(vmt_listener_inspect(l, NULL), -EINVAL);
	ASSERT_TRUE(vmt_listener_free(NULL) == NULL);
	vmt_listener_free(l);
	/* A stale socket file (its keeper died) is replaced. */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	ASSERT_EQ(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	ASSERT_OK(vmt_keeper_listen(k, path, 0, &l));
	vmt_listener_free(l);

	ASSERT_ERR(vmt_source_connect(NULL, &src), -EINVAL);
	ASSERT_ERR(vmt_source_connect(path, NULL), -EINVAL);
	ASSERT_ERR(vmt_source_connect(longp, &src), -ENAMETOOLONG);
	ASSERT_ERR(vmt_source_connect("/nonexistent/vmt.sock", &src), -ENOENT);
	ASSERT_ERR(connect_fake(path, 0), -ECONNRESET);
	ASSERT_ERR(connect_fake(path, 1), -EPROTO);
	vmti_share_handshake_timeout_ms = 200;
	ASSERT_ERR(connect_fake(path, 2), -ETIMEDOUT);
	vmti_share_handshake_timeout_ms = 5000;
	ASSERT_ERR(vmt_source_inspect(NULL, stdout), -EINVAL);
	ASSERT_ERR(vmt_source_inspect(vmt_keeper_source(k), NULL), -EINVAL);
	vmt_keeper_free(k);
}

TEST(foreign_uid_is_refused)
{
	vmt_keeper *k;
	char path[108];
	vmt_listener *l;
	pid_t pid;
	int st;

	if (geteuid() != 0)
		SKIP("needs root to connect as another uid");
	k = new_keeper(VMT_KEEPER_MANUAL, 0);
	sock_path(path, sizeof(path), "uid");
	ASSERT_OK(vmt_keeper_listen(k, path, VMT_LISTEN_THREAD, &l));
	chmod(path, 0777);
	pid = fork();
	if (pid == 0) {
		vmt_source *src;

		if (setuid(65534) < 0)
			_exit(2);
		_exit(vmt_source_connect(path, &src) == -EACCES ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_EQ(WEXITSTATUS(st), 0);
	vmt_listener_free(l);
	vmt_keeper_free(k);
}

/* ---- error paths not covered above ---------------------------------------------- */

TEST(export_fd_out_of_file_descriptors)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	struct rlimit old;
	int fd, r;

	ASSERT_TRUE(k);
	fd = test_fd_limit(0, &old);
	r = vmt_keeper_export_fd(k);
	test_fd_limit_restore(&old);
	ASSERT_ERR(r, -EMFILE);
	r = vmt_keeper_export_fd(k);
	ASSERT_EQ(r, fd);
	close(r);
	vmt_keeper_free(k);
}

TEST(set_notify_fd_bad_descriptors)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	int fd = vmt_keeper_export_fd(k), efd = eventfd(0, EFD_CLOEXEC);
	vmt_source *src;

	ASSERT_OK(vmt_source_attach(fd, &src));
	ASSERT_ERR(vmt_source_set_notify_fd(src, -1), -EINVAL);
	ASSERT_ERR(vmt_source_set_notify_fd(src, 1000), -EBADF);
	/* Refusals took nothing: a good eventfd is still accepted. */
	ASSERT_OK(vmt_source_set_notify_fd(src, efd));
	vmt_source_free(src);
	close(fd);
	vmt_keeper_free(k);
}

TEST(inspect_write_errors_are_eio)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	char path[108];
	vmt_listener *l;
	FILE *full = fopen("/dev/full", "w");

	if (!full) {
		vmt_keeper_free(k);
		SKIP("no /dev/full for the -EIO case");
	}
	sock_path(path, sizeof(path), "eio");
	ASSERT_OK(vmt_keeper_listen(k, path, 0, &l));
	ASSERT_ERR(vmt_source_inspect(vmt_keeper_source(k), full), -EIO);
	ASSERT_ERR(vmt_listener_inspect(l, full), -EIO);
	fclose(full);
	vmt_listener_free(l);
	vmt_keeper_free(k);
}

TEST(listen_and_connect_system_errors)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[108];
	vmt_listener *l;
	vmt_source *src;
	int s;

	/* bind(2) fails: the directory does not exist. */
	ASSERT_ERR(vmt_keeper_listen(k, "/nonexistent-vmt-dir/vmt.sock", 0, &l), -ENOENT);
	/* connect(2) fails: a socket is bound there but nobody listens. */
	sock_path(path, sizeof(path), "refused");
	unlink(path);
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ASSERT_GE(s, 0);
	ASSERT_EQ(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ASSERT_ERR(vmt_source_connect(path, &src), -ECONNREFUSED);
	close(s);
	unlink(path);
	vmt_keeper_free(k);
}

TEST(keeper_of_another_user_is_refused)
{
	char path[108], c;
	vmt_source *src;
	int ready[2], hold[2], st;
	pid_t pid;

	if (geteuid() != 0)
		SKIP("needs root to run a keeper as another uid");
	snprintf(path, sizeof(path), "/tmp/vmt-share-%d-otheruid.sock", (int)getpid());
	ASSERT_EQ(pipe(ready), 0);
	ASSERT_EQ(pipe(hold), 0);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		/* The keeper: uid 65534, listening for anyone until the parent is done. */
		vmt_listener *l;
		vmt_keeper *k;

		close(ready[0]);
		close(hold[1]);
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		k = new_keeper(VMT_KEEPER_MANUAL, 0);
		if (!k || vmt_keeper_listen(k, path, VMT_LISTEN_THREAD | VMT_LISTEN_ANY_UID, &l) < 0)
			_exit(3);
		if (write(ready[1], "r", 1) != 1)
			_exit(4);
		while (read(hold[0], &c, 1) > 0)
			;
		vmt_listener_free(l);
		vmt_keeper_free(k);
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	ASSERT_EQ(read(ready[0], &c, 1), 1);
	/* We are root, the keeper is not: its page could be crafted to mislead us. */
	int r = vmt_source_connect(path, &src);

	close(hold[1]);
	close(ready[0]);
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_EQ(WEXITSTATUS(st), 0);
	if (r == 0)
		vmt_source_free(src);
	ASSERT_ERR(r, -EACCES);
}

/* issue 9 defect 9: "manual" is a property of the clock, read from the page. */
TEST(loop_on_attached_manual_source_never_times_out_on_vm)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	vmt_source *src;
	vmt_loop *own, *att;
	vmt_timer *t1, *t2;
	int fd = vmt_keeper_export_fd(k);

	ASSERT_OK(fd);
	ASSERT_OK(vmt_source_attach(fd, &src));
	close(fd);
	ASSERT_OK(vmt_loop_new(vmt_keeper_source(k), &own));
	ASSERT_OK(vmt_loop_new(src, &att));
	ASSERT_OK(vmt_timer_new(own, VMT_CLOCK_VM, on_fire, src, &t1));
	ASSERT_OK(vmt_timer_new(att, VMT_CLOCK_VM, on_fire, src, &t2));
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_OK(vmt_timer_arm(t1, 2 * VMT_NS_PER_SEC));
	ASSERT_OK(vmt_timer_arm(t2, 2 * VMT_NS_PER_SEC));
	ASSERT_OK(vmt_loop_dispatch(own));
	ASSERT_OK(vmt_loop_dispatch(att));
	ASSERT_EQ(vmt_loop_timeout_ns(own), -1);
	ASSERT_EQ(vmt_loop_timeout_ns(att), -1);
	/* Only a step of the manual clock makes it due, on both loops. */
	ASSERT_OK(vmt_keeper_advance(k, 2 * VMT_NS_PER_SEC));
	ASSERT_EQ(vmt_loop_timeout_ns(own), 0);
	ASSERT_EQ(vmt_loop_timeout_ns(att), 0);
	vmt_timer_free(t1);
	vmt_timer_free(t2);
	vmt_loop_free(att);
	vmt_loop_free(own);
	vmt_source_free(src);
	vmt_keeper_free(k);
}

/* ---- a writer that dies inside a write (issue 9 defect 2) ---- */

struct read_job {
	vmt_source *src;
	int fd;		/* attach this page first when >= 0 */
	int attach_r, alive, running, loop_r;
	vmt_ns v1, v2;
	atomic_bool done;
};

/* Everything a reader does with a source: none of it may wait for the writer. */
static void *read_job_main(void *arg)
{
	struct read_job *j = arg;
	vmt_loop *loop;

	if (j->fd >= 0) {
		j->attach_r = vmt_source_attach(j->fd, &j->src);
		if (j->attach_r < 0)
			goto out;
	}
	j->v1 = vmt_now(j->src, VMT_CLOCK_VM);
	j->alive = vmt_source_alive(j->src);
	j->running = vmt_source_running(j->src);
	j->loop_r = vmt_loop_new(j->src, &loop);
	if (j->loop_r == 0) {
		j->loop_r = vmt_loop_dispatch(loop);
		vmt_loop_free(loop);
	}
	j->v2 = vmt_now(j->src, VMT_CLOCK_VM);
out:
	atomic_store(&j->done, true);
	return NULL;
}

/* Runs the job; false if it has not returned after 20 s (it is left spinning). */
static bool read_job_run(struct read_job *j)
{
	pthread_t th;

	atomic_init(&j->done, false);
	if (pthread_create(&th, NULL, read_job_main, j) != 0)
		return false;
	for (int i = 0; i < 2000 && !atomic_load(&j->done); i++)
		sleep_ms(10);
	if (!atomic_load(&j->done)) {
		pthread_detach(th);
		return false;
	}
	pthread_join(th, NULL);
	return true;
}

TEST(forged_page_inside_a_write_does_not_hang_readers)
{
	struct vmti_page pg = { 0 };
	struct read_job j = { .fd = -1 };
	int fd = memfd_create("forged-odd", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(ftruncate(fd, VMTI_PAGE_MAP_SIZE), 0);
	pg.magic = VMTI_PAGE_MAGIC;
	pg.version = VMTI_PAGE_VERSION;
	pg.size = sizeof(pg);
	pg.keeper_pid = (uint64_t)getpid();
	/* Odd forever: a write that never ends, nobody left to end it. */
	atomic_init(&pg.seq, 7);
	atomic_init(&pg.flags, VMTI_PAGE_RUNNING);
	ASSERT_EQ(pwrite(fd, &pg, sizeof(pg), 0), (ssize_t)sizeof(pg));
	ASSERT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	j.fd = fd;
	vmti_attached_stuck_ns = 100 * VMT_NS_PER_MS;
	ASSERT_TRUE(read_job_run(&j));
	vmti_attached_stuck_ns = 2 * VMT_NS_PER_SEC;
	close(fd);
	ASSERT_OK(j.attach_r);
	ASSERT_ERR(j.alive, -ESHUTDOWN);
	ASSERT_EQ(j.running, 0);
	ASSERT_OK(j.loop_r);
	ASSERT_UEQ(j.v2, j.v1);
	vmt_source_free(j.src);
}

TEST(keeper_killed_inside_a_write_is_seen_dead)
{
	struct read_job j = { .fd = -1 };
	char path[108], buf[64];
	struct child c;
	vmt_ns before;

	sock_path(path, sizeof(path), "dying");
	c = spawn("dying-writer", path, NULL, -1);
	ASSERT_TRUE(child_line(&c, buf, sizeof(buf), 5000));
	ASSERT_STREQ(buf, "ready\n");
	vmti_attached_stuck_ns = 100 * VMT_NS_PER_MS;
	ASSERT_OK(vmt_source_connect(path, &j.src));
	vmti_attached_stuck_ns = 2 * VMT_NS_PER_SEC;
	ASSERT_EQ(vmt_source_alive(j.src), 1);
	before = vmt_now(j.src, VMT_CLOCK_VM);
	fprintf(c.in, "w\n");
	ASSERT_TRUE(child_line(&c, buf, sizeof(buf), 5000));
	ASSERT_STREQ(buf, "writing\n");
	kill(c.pid, SIGKILL);
	child_end(&c);
	ASSERT_TRUE(read_job_run(&j));
	ASSERT_ERR(j.alive, -ESHUTDOWN);
	ASSERT_EQ(j.running, 0);
	ASSERT_OK(j.loop_r);
	/* Frozen from the state before the torn write: no step back, no run on. */
	ASSERT_UGE(j.v1, before);
	ASSERT_UEQ(j.v2, j.v1);
	vmt_source_free(j.src);
	unlink(path);
}

/* ---- listen and attach under hostile conditions (issue 9 defects 3, 4, 5) ---- */

TEST(listen_never_deletes_what_is_not_a_stale_socket)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	char path[108], buf[16];
	vmt_listener *l;
	struct stat st;
	int fd;

	/* A user's file: connect() says ECONNREFUSED there too. */
	sock_path(path, sizeof(path), "userfile");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(write(fd, "precious", 8), 8);
	close(fd);
	ASSERT_ERR(vmt_keeper_listen(k, path, 0, &l), -EADDRINUSE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(read(fd, buf, sizeof(buf)), 8);
	close(fd);
	ASSERT_TRUE(memcmp(buf, "precious", 8) == 0);
	ASSERT_EQ(unlink(path), 0);
	/* A directory, a FIFO: untouched as well. */
	ASSERT_EQ(mkdir(path, 0700), 0);
	ASSERT_ERR(vmt_keeper_listen(k, path, 0, &l), -EADDRINUSE);
	ASSERT_EQ(stat(path, &st), 0);
	ASSERT_TRUE(S_ISDIR(st.st_mode));
	ASSERT_EQ(rmdir(path), 0);
	ASSERT_EQ(mkfifo(path, 0600), 0);
	ASSERT_ERR(vmt_keeper_listen(k, path, 0, &l), -EADDRINUSE);
	ASSERT_EQ(stat(path, &st), 0);
	ASSERT_TRUE(S_ISFIFO(st.st_mode));
	ASSERT_EQ(unlink(path), 0);
	vmt_keeper_free(k);
}

struct dispatch_job {
	vmt_listener *l;
	int r;
	atomic_bool done;
};

static void *dispatch_job_main(void *arg)
{
	struct dispatch_job *j = arg;

	j->r = vmt_listener_dispatch(j->l);
	atomic_store(&j->done, true);
	return NULL;
}

static void *free_job_main(void *arg)
{
	struct dispatch_job *j = arg;

	vmt_listener_free(j->l);
	atomic_store(&j->done, true);
	return NULL;
}

/* Runs @fn in a thread; false if it has not returned after 10 s (left running). */
static bool job_returns(void *(*fn)(void *), struct dispatch_job *j)
{
	pthread_t th;

	atomic_init(&j->done, false);
	if (pthread_create(&th, NULL, fn, j) != 0)
		return false;
	for (int i = 0; i < 1000 && !atomic_load(&j->done); i++)
		sleep_ms(10);
	if (!atomic_load(&j->done)) {
		pthread_detach(th);
		return false;
	}
	pthread_join(th, NULL);
	return true;
}

/* A peer waiting in the backlog; the fd of its socket. */
static int waiting_peer(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

TEST(listener_out_of_descriptors_does_not_spin)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	struct dispatch_job j = { 0 };
	struct rlimit old;
	char path[108];
	int peer, accepted = 0;

	sock_path(path, sizeof(path), "emfile");
	ASSERT_OK(vmt_keeper_listen(k, path, 0, &j.l));
	peer = waiting_peer(path);
	ASSERT_GE(peer, 0);
	test_fd_limit(0, &old);
	/* accept4() fails with EMFILE and the peer stays queued. */
	bool returned = job_returns(dispatch_job_main, &j);
	test_fd_limit_restore(&old);
	ASSERT_TRUE(returned);
	ASSERT_OK(j.r);
	/* Once descriptors are back, the peer is served. */
	for (int i = 0; i < 500 && !accepted; i++) {
		struct pollfd p = { .fd = vmt_listener_get_fd(j.l), .events = POLLIN };
		struct share_probe { uint32_t magic; uint16_t version, type; uint64_t arg; } m;

		poll(&p, 1, 10);
		ASSERT_OK(vmt_listener_dispatch(j.l));
		accepted = recv(peer, &m, sizeof(m), MSG_DONTWAIT) == (ssize_t)sizeof(m);
	}
	ASSERT_TRUE(accepted);
	close(peer);
	vmt_listener_free(j.l);
	vmt_keeper_free(k);
}

TEST(listener_thread_out_of_descriptors_can_be_freed)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	struct dispatch_job j = { 0 };
	struct rlimit old;
	char path[108];
	int peer;

	sock_path(path, sizeof(path), "emfile-thread");
	ASSERT_OK(vmt_keeper_listen(k, path, VMT_LISTEN_THREAD, &j.l));
	test_fd_limit(0, &old);
	/* The peer's own socket is one more descriptor: make room for it alone. */
	test_fd_limit_restore(&old);
	peer = waiting_peer(path);
	ASSERT_GE(peer, 0);
	test_fd_limit(0, &old);
	sleep_ms(50); /* the thread meets EMFILE */
	bool returned = job_returns(free_job_main, &j);
	test_fd_limit_restore(&old);
	ASSERT_TRUE(returned);
	close(peer);
	vmt_keeper_free(k);
}

TEST(attach_fails_when_liveness_cannot_be_watched)
{
	const uint64_t other = (uint64_t)getppid(); /* alive, and not us */
	vmt_source *src = NULL;
	struct rlimit old;
	int fd, r;

	fd = page_memfd(VMTI_PAGE_MAGIC, VMTI_PAGE_VERSION, sizeof(struct vmti_page), other, true);
	ASSERT_GE(fd, 0);
	test_fd_limit(0, &old);
	r = vmt_source_attach(fd, &src);
	test_fd_limit_restore(&old);
	ASSERT_ERR(r, -EMFILE);
	ASSERT_TRUE(src == NULL);
	/* With descriptors, the same page attaches and is watched. */
	ASSERT_OK(vmt_source_attach(fd, &src));
	ASSERT_EQ(vmt_source_alive(src), 1);
	vmt_source_free(src);
	close(fd);
}

/* issue 9 defect 7: the path is a user's bytes; the JSON stays valid. */
TEST(listener_inspect_escapes_the_path)
{
	vmt_keeper *k = new_keeper(VMT_KEEPER_MANUAL, 0);
	char path[108], want[160], *json = NULL;
	vmt_listener *l;
	size_t len = 0;
	FILE *m;

	snprintf(path, sizeof(path), "/tmp/vmt-share-%d-q\"b\\s\n\xff.sock", (int)getpid());
	snprintf(want, sizeof(want), "\"path\":\"/tmp/vmt-share-%d-q\\\"b\\\\s\\n\\ufffd.sock\"",
		 (int)getpid());
	ASSERT_OK(vmt_keeper_listen(k, path, 0, &l));
	m = open_memstream(&json, &len);
	ASSERT_OK(vmt_listener_inspect(l, m));
	fclose(m);
	if (!strstr(json, want))
		VMT_FAIL("%s lacks %s", json, want);
	free(json);
	vmt_listener_free(l);
	vmt_keeper_free(k);
}
