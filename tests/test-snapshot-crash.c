/* SPDX-License-Identifier: MIT */
/*
 * test-snapshot-crash.c - crash safety of vmt_snap_writer_save().
 *
 * A child process saves snapshots of increasing generation to one path in a
 * loop and is killed with SIGKILL at a random moment, many times.  After
 * every kill the file on disk must be a complete, valid snapshot of the last
 * or an earlier generation (never older than one already seen), with every
 * byte of its payload matching its generation.  The kill delays are drawn
 * around the measured duration of one save so kills land in every phase
 * (writing, fsync, rename, directory fsync).
 */
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vmtime/snapshot.h>

#include "tests.h"

#define PAYLOAD (192 * 1024)

static vmt_snap_writer *gen_writer(uint64_t gen)
{
	static uint8_t blob[PAYLOAD];
	vmt_snap_writer *w = NULL;
	vmt_fields_writer *fw;

	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(gen * 131 + i);
	if (vmt_snap_writer_new(&w) < 0)
		return NULL;
	vmt_snap_writer_section(w, "vmtime", 1, &fw);
	vmt_fields_put_u64(fw, 1, gen);
	vmt_snap_writer_section(w, "ram", 1, &fw);
	vmt_fields_put_bytes(fw, 1, blob, sizeof(blob));
	vmt_fields_put_u64(fw, 2, gen);
	return w;
}

/* The generation in @path after checking the whole content; -1 if invalid. */
static int64_t check_file(const char *path, struct vmt_error *e)
{
	vmt_snap_reader *r = NULL;
	struct vmt_snap_section s;
	uint64_t gen, gen2;
	const uint8_t *p;
	const void *pv;
	size_t n;
	int64_t ret = -1;

	if (vmt_snap_reader_open(path, &r, e) < 0)
		return -1;
	if (vmt_snap_reader_count(r) != 2 || vmt_snap_reader_find(r, "vmtime", &s) != 0 ||
	    vmt_fields_get_u64(&s.fields, 1, &gen) < 0 || vmt_snap_reader_find(r, "ram", &s) != 1 ||
	    vmt_fields_get_u64(&s.fields, 2, &gen2) < 0 || gen != gen2 ||
	    vmt_fields_get_bytes(&s.fields, 1, &pv, &n) < 0 || n != PAYLOAD) {
		snprintf(e->msg, sizeof(e->msg), "wrong content");
		goto out;
	}
	p = pv;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != (uint8_t)(gen * 131 + i)) {
			snprintf(e->msg, sizeof(e->msg), "byte %zu does not match gen %llu", i,
				 (unsigned long long)gen);
			goto out;
		}
	}
	ret = (int64_t)gen;
out:
	vmt_snap_reader_free(r);
	return ret;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Removes the temporary files killed savers left (and counts them). */
static int clean_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *ent;
	char p[512];
	int n = 0;

	if (!d)
		return 0;
	while ((ent = readdir(d))) {
		if (!strstr(ent->d_name, ".tmp-"))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, ent->d_name);
		unlink(p);
		n++;
	}
	closedir(d);
	return n;
}

TEST(sigkill_during_save_leaves_old_or_new)
{
	char dir[] = "/tmp/vmt-snap-crash-XXXXXX", path[300];
	struct vmt_error e = { 0 };
	vmt_snap_writer *w;
	int64_t last = 0, g;
	double t0, save_s, start;
	int kills = 0, advanced = 0, temps = 0;
	unsigned seed = 12345;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/vm.snap", dir);
	w = gen_writer(0);
	ASSERT_TRUE(w != NULL);
	t0 = now_s();
	ASSERT_OK(vmt_snap_writer_save(w, path, &e));
	save_s = now_s() - t0;
	vmt_snap_writer_free(w);
	ASSERT_EQ(check_file(path, &e), 0);
	if (save_s < 200e-6)
		save_s = 200e-6;
	if (save_s > 20e-3)
		save_s = 20e-3;

	start = now_s();
	while (kills < 300 && now_s() - start < 6.0) {
		uint64_t first = (uint64_t)last + 1;
		useconds_t delay;
		pid_t pid;
		int st;

		pid = fork();
		ASSERT_TRUE(pid >= 0);
		if (pid == 0) {
			for (uint64_t gen = first;; gen++) {
				vmt_snap_writer *cw = gen_writer(gen);

				if (!cw || vmt_snap_writer_save(cw, path, NULL) < 0)
					_exit(3);
				vmt_snap_writer_free(cw);
			}
		}
		/* Between nothing and about four saves, to hit every phase. */
		delay = (useconds_t)(save_s * 1e6 * (rand_r(&seed) % 4000) / 1000.0);
		usleep(delay);
		kill(pid, SIGKILL);
		ASSERT_EQ(waitpid(pid, &st, 0), pid);
		if (!WIFSIGNALED(st))
			VMT_FAIL("child exited by itself with status %d", WEXITSTATUS(st));
		kills++;
		g = check_file(path, &e);
		if (g < 0)
			VMT_FAIL("after kill %d (delay %u us): invalid file: %s", kills, delay, e.msg);
		if (g < last)
			VMT_FAIL("after kill %d: generation went back from %lld to %lld", kills,
				 (long long)last, (long long)g);
		if (g > last)
			advanced++;
		last = g;
		temps += clean_temps(dir);
		/* Under load a save takes longer than measured: keep both outcomes coming. */
		if (kills % 40 == 0 && advanced == 0 && save_s < 0.1)
			save_s *= 2;
		else if (kills % 40 == 0 && advanced == kills && save_s > 100e-6)
			save_s /= 2;
	}
	fprintf(stderr, "  %d kills, %d with a newer file, %d stale temporaries, delay unit %.0f us\n",
		kills, advanced, temps, save_s * 1e6);
	ASSERT_GE(kills, 30);
	/* Kills must land both between saves and in the middle of them. */
	ASSERT_GT(advanced, 0);
	ASSERT_LT(advanced, kills);
	ASSERT_GT(temps, 0);
	unlink(path);
	rmdir(dir);
}
