/* SPDX-License-Identifier: MIT */
/*
 * bench-snapshot - save and restore throughput of the snapshot container.
 *
 * 100 units of 1 MiB each (a bytes field plus a counter), 100 MiB of state:
 *  - save to memory: build the snapshot (fields written into the container's
 *    buffer, CRCs) and produce the file's bytes;
 *  - restore from memory: validate every CRC and field, then copy each unit's
 *    bytes back into its state;
 *  - save to a file in /tmp (temporary file, write, fsync, rename, fsync of
 *    the directory) against the baseline of a plain write()+fsync() of the
 *    same number of bytes;
 *  - restore from the file against a plain read() of it;
 *  - CRC32C with the SSE4.2 instruction against the table-driven version.
 * Target: >= 1 GB/s for save and restore in memory.  Every restore checks
 * that all units came back with the right contents.
 *
 *   bench-snapshot [--long] [--runs N] [DIR]     (files go in DIR, default /tmp)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <vmtime/snapshot.h>

#include "bench.h"
#include "crc32c.h"

#define UNITS 100
#define UNIT_BYTES (1u << 20)
#define TOTAL ((double)UNITS * UNIT_BYTES)

static uint8_t *state[UNITS];	/* the units' live state */
static uint8_t *scratch;	/* where the baseline "restores" to */
static char names[UNITS][16];

static double gbps(double ns)
{
	return TOTAL / ns;	/* bytes per ns == GB/s */
}

static vmt_snap_writer *build(void)
{
	vmt_snap_writer *w = NULL;
	vmt_fields_writer *fw;

	BENCH_OK(vmt_snap_writer_new(&w));
	for (int u = 0; u < UNITS; u++) {
		BENCH_OK(vmt_snap_writer_section(w, names[u], 1, &fw));
		BENCH_OK(vmt_fields_put_u64(fw, 1, (uint64_t)u));
		BENCH_OK(vmt_fields_put_bytes(fw, 2, state[u], UNIT_BYTES));
	}
	return w;
}

/* Restores every unit from @r and checks it; returns the units restored. */
static int restore(vmt_snap_reader *r)
{
	int done = 0;

	BENCH_CHECK(vmt_snap_reader_count(r) == UNITS, "%zu sections", vmt_snap_reader_count(r));
	for (int u = 0; u < UNITS; u++) {
		struct vmt_snap_section s;
		const void *p;
		size_t n;
		uint64_t id;

		BENCH_OK(vmt_snap_reader_section(r, (size_t)u, &s));
		BENCH_OK(vmt_fields_get_u64(&s.fields, 1, &id));
		BENCH_OK(vmt_fields_get_bytes(&s.fields, 2, &p, &n));
		BENCH_CHECK(id == (uint64_t)u && n == UNIT_BYTES, "unit %d: id %llu, %zu bytes", u,
			    (unsigned long long)id, n);
		memcpy(state[u], p, n);
		done++;
	}
	return done;
}

static void check_state(void)
{
	for (int u = 0; u < UNITS; u++)
		BENCH_CHECK(state[u][0] == (uint8_t)u && state[u][UNIT_BYTES - 1] == (uint8_t)(u * 3),
			    "unit %d state damaged", u);
}

static double plain_write(const char *path, const void *buf, size_t len)
{
	uint64_t t0 = bench_clock();
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t off = 0;

	BENCH_CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	while (off < len) {
		ssize_t n = write(fd, (const uint8_t *)buf + off, len - off);

		BENCH_CHECK(n > 0, "write: %s", strerror(errno));
		off += (size_t)n;
	}
	BENCH_CHECK(fsync(fd) == 0, "fsync: %s", strerror(errno));
	close(fd);
	return (double)(bench_clock() - t0);
}

static double plain_read(const char *path, size_t len)
{
	uint64_t t0 = bench_clock();
	uint8_t *buf = malloc(len);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t off = 0;

	BENCH_CHECK(buf && fd >= 0, "open %s: %s", path, strerror(errno));
	while (off < len) {
		ssize_t n = read(fd, buf + off, len - off);

		BENCH_CHECK(n > 0, "read: %s", strerror(errno));
		off += (size_t)n;
	}
	close(fd);
	/* Restoring from it copies it once more, into the units' state. */
	memcpy(scratch, buf, len);
	free(buf);
	return (double)(bench_clock() - t0);
}

int main(int argc, char **argv)
{
	int argi = bench_init(argc, argv), runs = bench_runs(5);
	const char *dir = argi < argc ? argv[argi] : "/tmp";
	double save_mem[50], rest_mem[50], save_file[50], rest_file[50], base_w[50], base_r[50];
	double crc_hw[50], crc_sw[50];
	char path[512], base_path[512];
	size_t file_len = 0;
	const void *img = NULL;
	uint32_t c1 = 0, c2 = 0;
	vmt_snap_writer *wmem = NULL;	/* owns the in-memory image */

	if (runs > 50)
		runs = 50;
	snprintf(path, sizeof(path), "%s/vmt-bench-%ld.snap", dir, (long)getpid());
	snprintf(base_path, sizeof(base_path), "%s/vmt-bench-%ld.raw", dir, (long)getpid());
	scratch = malloc((size_t)UNITS * UNIT_BYTES * 2);
	BENCH_CHECK(scratch, "out of memory");
	for (int u = 0; u < UNITS; u++) {
		state[u] = malloc(UNIT_BYTES);
		BENCH_CHECK(state[u], "out of memory");
		for (size_t i = 0; i < UNIT_BYTES; i++)
			state[u][i] = (uint8_t)(i * 7 + (size_t)u);
		state[u][0] = (uint8_t)u;
		state[u][UNIT_BYTES - 1] = (uint8_t)(u * 3);
		snprintf(names[u], sizeof(names[u]), "dev%03d", u);
	}
	printf("# bench-snapshot: %d units x %u KiB = %.0f MiB, median of %d runs, files in %s\n",
	       UNITS, UNIT_BYTES >> 10, TOTAL / (1 << 20), runs, dir);
	printf("# CRC32C: %s\n", vmti_crc32c_have_hw() ? "SSE4.2 instruction" : "tables (no SSE4.2)");
	bench_machine_note();

	for (int k = 0; k < runs; k++) {
		vmt_snap_writer *w;
		vmt_snap_reader *r;
		uint64_t t0;

		vmt_snap_writer_free(wmem);
		t0 = bench_clock();
		wmem = build();
		BENCH_OK(vmt_snap_writer_save_buffer(wmem, &img, &file_len, NULL));
		save_mem[k] = (double)(bench_clock() - t0);

		t0 = bench_clock();
		BENCH_OK(vmt_snap_reader_from_buffer(img, file_len, &r, NULL));
		BENCH_CHECK(restore(r) == UNITS, "restore count");
		rest_mem[k] = (double)(bench_clock() - t0);
		vmt_snap_reader_free(r);
		check_state();

		t0 = bench_clock();
		w = build();
		BENCH_OK(vmt_snap_writer_save(w, path, NULL));
		save_file[k] = (double)(bench_clock() - t0);
		vmt_snap_writer_free(w);

		base_w[k] = plain_write(base_path, img, file_len);

		t0 = bench_clock();
		BENCH_OK(vmt_snap_reader_open(path, &r, NULL));
		BENCH_CHECK(restore(r) == UNITS, "restore count");
		rest_file[k] = (double)(bench_clock() - t0);
		vmt_snap_reader_free(r);
		check_state();

		base_r[k] = plain_read(base_path, file_len);

		t0 = bench_clock();
		c1 = vmti_crc32c(0, img, file_len);
		crc_hw[k] = (double)(bench_clock() - t0);
		t0 = bench_clock();
		c2 = vmti_crc32c_sw(0, img, file_len);
		crc_sw[k] = (double)(bench_clock() - t0);
		BENCH_CHECK(c1 == c2, "CRC mismatch %08x vs %08x", c1, c2);
	}
	unlink(path);
	unlink(base_path);

	{
		double sm = bench_median(save_mem, runs), rm = bench_median(rest_mem, runs);
		double sf = bench_median(save_file, runs), rf = bench_median(rest_file, runs);
		double bw = bench_median(base_w, runs), br = bench_median(base_r, runs);
		double ch = bench_median(crc_hw, runs), cs = bench_median(crc_sw, runs);

		printf("%-44s %8s %10s\n", "phase", "GB/s", "ms");
		printf("%-44s %8.2f %10.1f\n", "save to memory", gbps(sm), sm / 1e6);
		printf("%-44s %8.2f %10.1f\n", "restore from memory (validate + copy back)", gbps(rm),
		       rm / 1e6);
		printf("%-44s %8.2f %10.1f\n", "save to file (atomic, fsync)", gbps(sf), sf / 1e6);
		printf("%-44s %8.2f %10.1f\n", "  baseline: write() + fsync() same bytes", gbps(bw),
		       bw / 1e6);
		printf("%-44s %8.2f %10.1f\n", "restore from file", gbps(rf), rf / 1e6);
		printf("%-44s %8.2f %10.1f\n", "  baseline: read() + copy back", gbps(br), br / 1e6);
		printf("%-44s %8.2f %10.1f\n", "CRC32C, dispatched (hardware if available)",
		       gbps(ch), ch / 1e6);
		printf("%-44s %8.2f %10.1f\n", "CRC32C, tables", gbps(cs), cs / 1e6);
		printf("ratios: save file / baseline write %.2fx time, restore file / baseline read "
		       "%.2fx time, CRC hardware speedup %.1fx\n",
		       sf / bw, rf / br, cs / ch);
		printf("target >= 1 GB/s in memory: save %s, restore %s\n",
		       gbps(sm) >= 1.0 ? "met" : "MISSED", gbps(rm) >= 1.0 ? "met" : "MISSED");
	}
	vmt_snap_writer_free(wmem);
	for (int u = 0; u < UNITS; u++)
		free(state[u]);
	free(scratch);
	return 0;
}
