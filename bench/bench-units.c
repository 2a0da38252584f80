/* SPDX-License-Identifier: MIT */
/*
 * bench-units - the lifecycle engine's own cost.
 *
 * 10,000 units in 100 layers of 100; every unit above the bottom layer
 * depends on 2 or 3 units of the layer below.  The units do no work (they
 * count their calls), so what is timed is the engine: scheduling in
 * dependency order on the worker pool, the report, and for save/restore
 * the per-unit payload buffers and section matching.  Target: <= 2 us per
 * unit per operation.
 *
 * The alternative measured in the same run is the least a VMM could do
 * without an engine: one thread calling every unit's operation in a
 * precomputed topological order (and, for save/restore, writing and
 * reading the sections directly).  Its ratio shows what ordering,
 * concurrency and reporting cost on top.
 *
 *   bench-units [--long] [--runs N]
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmtime/vmtime.h>

#include "bench.h"

#define LAYERS 100
#define WIDTH 100
#define NUNITS (LAYERS * WIDTH)

struct bunit {
	atomic_uint calls[6];
	uint64_t value;
};

static struct bunit units_state[NUNITS];

static void b_start(void *ud)
{
	atomic_fetch_add_explicit(&((struct bunit *)ud)->calls[VMT_UNIT_OP_START], 1,
				  memory_order_relaxed);
}

static void b_stop(void *ud)
{
	atomic_fetch_add_explicit(&((struct bunit *)ud)->calls[VMT_UNIT_OP_STOP], 1,
				  memory_order_relaxed);
}

static int b_save(void *ud, vmt_fields_writer *w, struct vmt_error *err)
{
	struct bunit *b = ud;

	(void)err;
	atomic_fetch_add_explicit(&b->calls[VMT_UNIT_OP_SAVE], 1, memory_order_relaxed);
	return vmt_fields_put_u64(w, 1, b->value);
}

static int b_restore(void *ud, vmt_fields_reader *r, uint32_t version, struct vmt_error *err)
{
	struct bunit *b = ud;

	(void)version;
	(void)err;
	atomic_fetch_add_explicit(&b->calls[VMT_UNIT_OP_RESTORE], 1, memory_order_relaxed);
	return vmt_fields_get_u64(r, 1, &b->value);
}

static const struct vmt_unit_ops b_ops = {
	.start = b_start,
	.stop = b_stop,
	.save = b_save,
	.save_version = 1,
	.restore = b_restore,
};

static void check_calls(enum vmt_unit_op op, unsigned expect)
{
	for (int i = 0; i < NUNITS; i++)
		BENCH_CHECK(atomic_load(&units_state[i].calls[op]) == expect,
			    "unit %d ran %s %u times, expected %u", i, vmt_unit_op_name(op),
			    atomic_load(&units_state[i].calls[op]), expect);
}

static char names[NUNITS][16];

/* The baseline: one thread, registration order (which is topological here). */
static double baseline(enum vmt_unit_op op, vmt_snap_reader *rd, size_t *bytes)
{
	uint64_t t0 = bench_clock(), t1;
	vmt_snap_writer *w = NULL;

	if (op == VMT_UNIT_OP_SAVE)
		BENCH_OK(vmt_snap_writer_new(&w));
	for (int i = 0; i < NUNITS; i++) {
		struct bunit *b = &units_state[i];
		int k = op == VMT_UNIT_OP_STOP ? NUNITS - 1 - i : i;

		switch (op) {
		case VMT_UNIT_OP_START:
			b_start(&units_state[k]);
			break;
		case VMT_UNIT_OP_STOP:
			b_stop(&units_state[k]);
			break;
		case VMT_UNIT_OP_SAVE: {
			vmt_fields_writer *fw;

			BENCH_OK(vmt_snap_writer_section(w, names[i], 1, &fw));
			BENCH_OK(b_save(b, fw, NULL));
			break;
		}
		case VMT_UNIT_OP_RESTORE: {
			struct vmt_snap_section sec;

			/* The file is in registration order; a real VMM would look names up. */
			BENCH_OK(vmt_snap_reader_section(rd, (size_t)i, &sec));
			BENCH_CHECK(strcmp(sec.name, names[i]) == 0, "section %d is %s", i,
				    sec.name);
			BENCH_OK(b_restore(b, &sec.fields, sec.payload_version, NULL));
			break;
		}
		default:
			break;
		}
	}
	t1 = bench_clock();
	if (w) {
		const void *buf;

		BENCH_OK(vmt_snap_writer_save_buffer(w, &buf, bytes, NULL));
		vmt_snap_writer_free(w);
	}
	return (double)(t1 - t0);
}

int main(int argc, char **argv)
{
	static const enum vmt_unit_op ops[] = { VMT_UNIT_OP_START, VMT_UNIT_OP_STOP,
						VMT_UNIT_OP_SAVE, VMT_UNIT_OP_RESTORE };
	double eng[4][1000], base[4][1000];
	struct bench_rng rng;
	vmt_units *set;
	vmt_unit **h;
	uint64_t t0, t1;
	size_t edges = 0;
	int runs;

	bench_init(argc, argv);
	runs = bench_runs(5);
	bench_machine_note();
	bench_rng_seed(&rng, 42);
	h = calloc(NUNITS, sizeof(*h));
	BENCH_CHECK(h != NULL, "out of memory");

	BENCH_OK(vmt_units_new(&set));
	t0 = bench_clock();
	for (int i = 0; i < NUNITS; i++) {
		snprintf(names[i], sizeof(names[i]), "l%02d.u%02d", i / WIDTH, i % WIDTH);
		units_state[i].value = (uint64_t)i * 7919;
		BENCH_OK(vmt_units_add(set, names[i], &b_ops, &units_state[i], &h[i]));
	}
	for (int i = WIDTH; i < NUNITS; i++) {
		int base_i = (i / WIDTH - 1) * WIDTH;
		int nd = (int)bench_rand_range(&rng, 2, 3);

		for (int d = 0; d < nd; d++) {
			int j = base_i + (int)bench_rand_range(&rng, 0, WIDTH - 1);
			int r = vmt_unit_depends_on(h[i], h[j]);

			BENCH_CHECK(r == 0 || r == -EALREADY, "depends_on: %d", r);
			edges += r == 0;
		}
	}
	t1 = bench_clock();
	printf("# %d units, %zu edges, %d layers; graph built in %.1f ms (%.2f us per unit)\n",
	       NUNITS, edges, LAYERS, (double)(t1 - t0) / 1e6, (double)(t1 - t0) / 1e3 / NUNITS);
	printf("# median of %d runs; baseline = one thread calling the ops in topological order\n",
	       runs);

	for (int run = 0; run < runs; run++) {
		vmt_units_report *rep = NULL;
		vmt_snap_writer *w;
		vmt_snap_reader *rd;
		void *buf;
		const void *img;
		size_t len, blen;

		t0 = bench_clock();
		BENCH_OK(vmt_units_start(set, &rep));
		t1 = bench_clock();
		eng[0][run] = (double)(t1 - t0);
		BENCH_CHECK(vmt_units_report_count(rep) == NUNITS && !vmt_units_report_failures(rep),
			    "start report");
		rep = vmt_units_report_free(rep);

		t0 = bench_clock();
		BENCH_OK(vmt_units_stop(set, &rep));
		t1 = bench_clock();
		eng[1][run] = (double)(t1 - t0);
		BENCH_CHECK(vmt_units_report_count(rep) == NUNITS, "stop report");
		rep = vmt_units_report_free(rep);

		BENCH_OK(vmt_snap_writer_new(&w));
		t0 = bench_clock();
		BENCH_OK(vmt_units_save(set, w, &rep));
		t1 = bench_clock();
		eng[2][run] = (double)(t1 - t0);
		rep = vmt_units_report_free(rep);
		BENCH_OK(vmt_snap_writer_save_buffer(w, &img, &len, NULL));
		/* The image belongs to the writer: keep a copy past its free. */
		buf = malloc(len);
		BENCH_CHECK(buf != NULL, "malloc");
		memcpy(buf, img, len);
		vmt_snap_writer_free(w);
		BENCH_OK(vmt_snap_reader_from_buffer(buf, len, &rd, NULL));
		BENCH_CHECK(vmt_snap_reader_count(rd) == NUNITS, "sections: %zu",
			    vmt_snap_reader_count(rd));

		for (int i = 0; i < NUNITS; i++)
			units_state[i].value = 0;
		t0 = bench_clock();
		BENCH_OK(vmt_units_restore(set, rd, &rep));
		t1 = bench_clock();
		eng[3][run] = (double)(t1 - t0);
		BENCH_CHECK(vmt_units_report_count(rep) == 2 * NUNITS, "restore report");
		rep = vmt_units_report_free(rep);
		for (int i = 0; i < NUNITS; i++)
			BENCH_CHECK(units_state[i].value == (uint64_t)i * 7919, "unit %d restored", i);

		base[0][run] = baseline(VMT_UNIT_OP_START, NULL, NULL);
		base[1][run] = baseline(VMT_UNIT_OP_STOP, NULL, NULL);
		base[2][run] = baseline(VMT_UNIT_OP_SAVE, NULL, &blen);
		base[3][run] = baseline(VMT_UNIT_OP_RESTORE, rd, NULL);
		BENCH_CHECK(blen == len, "baseline snapshot %zu bytes, engine %zu", blen, len);
		vmt_snap_reader_free(rd);
		free(buf);
	}
	/* Engine and baseline each ran every op once per run. */
	for (int k = 0; k < 4; k++)
		check_calls(ops[k], 2u * (unsigned)runs);

	printf("%-9s %12s %14s %14s %10s %s\n", "op", "engine ms", "engine us/unit",
	       "baseline us/u", "vs base", "overhead us/unit (target <= 2)");
	for (int k = 0; k < 4; k++) {
		double e = bench_median(eng[k], runs), b = bench_median(base[k], runs);
		double over = (e - b) / 1e3 / NUNITS;

		printf("%-9s %12.2f %14.3f %14.3f ", vmt_unit_op_name(ops[k]), e / 1e6,
		       e / 1e3 / NUNITS, b / 1e3 / NUNITS);
		bench_print_ratio(b, e);
		printf("  %.3f %s\n", over, over <= 2.0 ? "ok" : "OVER TARGET");
	}
	vmt_units_free(set);
	free(h);
	return 0;
}
