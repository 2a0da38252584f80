/* SPDX-License-Identifier: MIT */
/*
 * test-seqlock.c - the clock page's seqlock under torture (VMT_TEST_THREADED).
 *
 * One writer updates the page as fast as it can, keeping an invariant across
 * fields (host_base = 3 x, generation = reset_count = x, restore_policy = 5 x,
 * vm_base = x); readers in several threads and in a second process (this
 * binary re-executed, attached to the exported page) check that no read is
 * torn (the invariant holds) and that no read goes backwards.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vmtime/keeper.h>
#include <vmtime/share.h>

#include "keeper-internal.h"
#include "source-internal.h"
#include "tests.h"

#define READ_NS (800 * VMT_NS_PER_MS)

static vmt_ns mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (vmt_ns)ts.tv_sec * VMT_NS_PER_SEC + (vmt_ns)ts.tv_nsec;
}

struct result {
	long reads, torn, back;
};

static void read_loop(const vmt_source *src, vmt_ns duration, struct result *res)
{
	vmt_ns end = mono() + duration, last = 0, last_now = 0;
	struct vmti_clock_state st;

	memset(res, 0, sizeof(*res));
	while (mono() < end) {
		for (int i = 0; i < 256; i++) {
			vmti_source_state(src, &st);
			vmt_ns x = st.vm_base, now = vmt_now(src, VMT_CLOCK_VM);

			if (st.host_base != 3 * x || st.generation != x || st.reset_count != x ||
			    st.restore_policy != 5 * x || st.vm_now != x)
				res->torn++;
			if (x < last || now < last_now || now < x)
				res->back++;
			last = x;
			last_now = now;
			res->reads++;
		}
	}
}

__attribute__((constructor)) static void child_main(int argc, char **argv)
{
	struct result res;
	vmt_source *src;

	if (argc < 3 || strcmp(argv[1], "--child") != 0 || strcmp(argv[2], "reader") != 0)
		return;
	if (vmt_source_attach(3, &src) < 0)
		_exit(20);
	read_loop(src, READ_NS, &res);
	printf("%ld %ld %ld\n", res.reads, res.torn, res.back);
	fflush(stdout);
	vmt_source_free(src);
	_exit(0);
}

struct shared {
	vmt_keeper *k;
	atomic_bool stop;
	atomic_long writes;
};

static void write_step(struct shared *sh, uint64_t x)
{
	struct vmti_page *p = sh->k->page;

	pthread_mutex_lock(&sh->k->lock);
	vmti_page_write_begin(p);
	VMTI_PAGE_SET(p, vm_base, x);
	VMTI_PAGE_SET(p, host_base, 3 * x);
	VMTI_PAGE_SET(p, generation, x);
	VMTI_PAGE_SET(p, reset_count, x);
	VMTI_PAGE_SET(p, restore_policy, 5 * x);
	vmti_page_write_end(p);
	pthread_mutex_unlock(&sh->k->lock);
}

static void *writer(void *arg)
{
	struct shared *sh = arg;
	uint64_t x = 1; /* written before the readers started */

	while (!atomic_load_explicit(&sh->stop, memory_order_relaxed))
		write_step(sh, ++x);
	atomic_store(&sh->writes, (long)x);
	return NULL;
}

struct reader_arg {
	const vmt_source *src;
	struct result res;
};

static void *reader(void *arg)
{
	struct reader_arg *ra = arg;

	read_loop(ra->src, READ_NS, &ra->res);
	return NULL;
}

TEST(no_torn_or_backward_reads)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	struct shared sh = { 0 };
	struct reader_arg ra[3];
	pthread_t w, r[3];
	int fd, pipefd[2], st;
	vmt_source *att;
	pid_t pid;

	cfg.mode = VMT_KEEPER_MANUAL;
	ASSERT_OK(vmt_keeper_new(&cfg, &sh.k));
	/* Running, manual: VM time is exactly vm_base. */
	ASSERT_OK(vmt_keeper_start(sh.k));
	fd = vmt_keeper_export_fd(sh.k);
	ASSERT_OK(fd);
	ASSERT_OK(vmt_source_attach(fd, &att));
	/* Establish the invariant (start bumped the generation) before any reader. */
	write_step(&sh, 1);

	ASSERT_EQ(pipe(pipefd), 0);
	pid = fork();
	if (pid == 0) {
		char *argv[] = { "test-seqlock", "--child", "reader", NULL };

		dup2(fd, 3);
		dup2(pipefd[1], 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(pipefd[1]);
	ASSERT_EQ(pthread_create(&w, NULL, writer, &sh), 0);
	for (int i = 0; i < 3; i++) {
		/* Two readers on the keeper's own source, one on an attached one. */
		ra[i].src = i == 2 ? att : vmt_keeper_source(sh.k);
		ASSERT_EQ(pthread_create(&r[i], NULL, reader, &ra[i]), 0);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(r[i], NULL);

	char buf[128] = { 0 };
	FILE *f = fdopen(pipefd[0], "r");
	ASSERT_TRUE(f && fgets(buf, sizeof(buf), f));
	fclose(f);
	waitpid(pid, &st, 0);
	atomic_store(&sh.stop, true);
	pthread_join(w, NULL);

	struct result child;
	ASSERT_EQ(sscanf(buf, "%ld %ld %ld", &child.reads, &child.torn, &child.back), 3);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	fprintf(stderr, "  writes %ld; reads: %ld %ld %ld (threads), %ld (process)\n",
		atomic_load(&sh.writes), ra[0].res.reads, ra[1].res.reads, ra[2].res.reads,
		child.reads);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(ra[i].res.torn, 0);
		ASSERT_EQ(ra[i].res.back, 0);
		ASSERT_GT(ra[i].res.reads, 1000);
	}
	ASSERT_EQ(child.torn, 0);
	ASSERT_EQ(child.back, 0);
	ASSERT_GT(child.reads, 1000);
	ASSERT_GT(atomic_load(&sh.writes), 1000);
	vmt_source_free(att);
	close(fd);
	vmt_keeper_free(sh.k);
}
