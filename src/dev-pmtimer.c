/* SPDX-License-Identifier: MIT */
/*
 * dev-pmtimer.c - the ACPI PM timer (see vmtime/pmtimer.h).
 *
 * The counter is U = floor(VM ns * 3579545 / 1e9) + off, read modulo 2^24
 * (2^32); off only moves on a restore, so the counter continues from the
 * saved value.  The MSB toggles every 2^23 (2^31) counts: toggle k happens
 * when U >> 23 (31) reaches k.  The device keeps how far it has looked
 * (seen) and sets TMR_STS for every toggle after it, at any register access
 * and from a timer armed at the next toggle, so a guest polling PM1_STS
 * sees the flag even when the loop thread is late.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <vmtime/pmtimer.h>
#include <vmtime/source.h>
#include <vmtime/timer.h>

#include "dev-irq.h"

enum { F_COUNTER = 1, F_BITS = 2, F_STS = 3, F_EN = 4, F_CNT = 5 };

struct vmt_pmtimer {
	pthread_mutex_t lock;
	vmt_source *src;
	vmt_timer *timer;
	struct vmti_irq irq;
	char name[VMT_DEV_NAME_MAX + 1];
	struct vmti_dev_unit unit;
	unsigned bits;		/* 24 or 32 */
	uint64_t off;
	uint64_t seen;		/* toggles up to here are in TMR_STS */
	uint16_t sts, en, cnt;
	struct vmt_dev_stats st;
};

static uint64_t counts_at(vmt_ns t)
{
	return (uint64_t)((unsigned __int128)t * VMT_PMTIMER_FREQ_HZ / VMT_NS_PER_SEC);
}

static vmt_ns time_of_counts(uint64_t c)
{
	unsigned __int128 t = ((unsigned __int128)c * VMT_NS_PER_SEC + VMT_PMTIMER_FREQ_HZ - 1) /
			      VMT_PMTIMER_FREQ_HZ;

	return t >= VMT_NS_NEVER ? VMT_NS_NEVER : (vmt_ns)t;
}

static uint64_t unwrapped(const vmt_pmtimer *pm)
{
	return counts_at(vmt_now(pm->src, VMT_CLOCK_VM)) + pm->off;
}

static uint64_t toggle_of(const vmt_pmtimer *pm, uint64_t u)
{
	return u >> (pm->bits - 1);
}

static void update_sci(vmt_pmtimer *pm)
{
	vmti_irq_set(&pm->irq, 0, !!(pm->sts & pm->en & VMT_PMTIMER_TMR_STS));
}

/* Fold the toggles since the last look into TMR_STS, re-arm, drive the SCI. */
static void sync_locked(vmt_pmtimer *pm)
{
	uint64_t k = toggle_of(pm, unwrapped(pm)), n, next;

	if (k > pm->seen) {
		n = k - pm->seen;
		pm->st.ticks += n;
		if (pm->sts & VMT_PMTIMER_TMR_STS) {
			pm->st.lost += n;
		} else {
			pm->st.raised++;
			pm->st.lost += n - 1;
			pm->sts |= VMT_PMTIMER_TMR_STS;
		}
		pm->seen = k;
	}
	/* The next toggle, in counts of the VM clock (off is below 2^32). */
	next = (pm->seen + 1) << (pm->bits - 1);
	vmt_timer_arm(pm->timer, next > pm->off ? time_of_counts(next - pm->off) : 0);
	update_sci(pm);
}

static void timer_cb(vmt_timer *t, uint64_t expirations, void *userdata)
{
	vmt_pmtimer *pm = userdata;

	(void)t;
	(void)expirations;
	pthread_mutex_lock(&pm->lock);
	sync_locked(pm);
	pthread_mutex_unlock(&pm->lock);
	vmti_irq_flush(&pm->irq);
}

/* The 16-bit register holding @offset, or NULL if the access does not fit. */
static uint16_t *reg16(vmt_pmtimer *pm, uint64_t offset, unsigned size)
{
	if (offset >= VMT_PMTIMER_PM1_CNT + 2 || (size != 1 && size != 2) || (size == 2 && offset % 2))
		return NULL;
	switch (offset / 2) {
	case 0:
		return &pm->sts;
	case 1:
		return &pm->en;
	default:
		return &pm->cnt;
	}
}

static int check(vmt_pmtimer *pm, uint64_t offset, unsigned size)
{
	if (!pm)
		return -EINVAL;
	if (offset == VMT_PMTIMER_PM_TMR && size == 4)
		return 0;
	return reg16(pm, offset, size) ? 0 : -EINVAL;
}

int vmt_pmtimer_read(vmt_pmtimer *pm, uint64_t offset, unsigned size, uint64_t *val)
{
	uint64_t v;
	uint16_t *reg;

	if (check(pm, offset, size) < 0 || !val)
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	sync_locked(pm);
	if (offset == VMT_PMTIMER_PM_TMR) {
		v = unwrapped(pm) & (pm->bits == 32 ? 0xffffffffull : 0xffffffull);
	} else {
		reg = reg16(pm, offset, size);
		v = size == 2 ? *reg : (uint64_t)(*reg >> (offset % 2 * 8)) & 0xff;
	}
	pthread_mutex_unlock(&pm->lock);
	vmti_irq_flush(&pm->irq);
	*val = v;
	return 0;
}

int vmt_pmtimer_write(vmt_pmtimer *pm, uint64_t offset, unsigned size, uint64_t val)
{
	uint16_t *reg, v, mask;

	if (check(pm, offset, size) < 0)
		return -EINVAL;
	if (offset == VMT_PMTIMER_PM_TMR)
		return 0;	/* read-only */
	reg = reg16(pm, offset, size);
	mask = size == 2 ? 0xffff : (uint16_t)(0xff << (offset % 2 * 8));
	v = size == 2 ? (uint16_t)val : (uint16_t)((val & 0xff) << (offset % 2 * 8));
	pthread_mutex_lock(&pm->lock);
	sync_locked(pm);
	if (reg == &pm->sts)
		pm->sts &= (uint16_t)~(v & mask);	/* write 1 to clear */
	else
		*reg = (uint16_t)((*reg & ~mask) | (v & mask));
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	vmti_irq_flush(&pm->irq);
	return 0;
}

int vmt_pmtimer_reset(vmt_pmtimer *pm)
{
	if (!pm)
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	sync_locked(pm);
	pm->sts = pm->en = pm->cnt = 0;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	vmti_irq_flush(&pm->irq);
	return 0;
}

int vmt_pmtimer_get_stats(vmt_pmtimer *pm, struct vmt_dev_stats *stats)
{
	uint64_t k;

	if (!pm || !stats)
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	*stats = pm->st;
	k = toggle_of(pm, unwrapped(pm));
	stats->due = k > pm->seen ? k - pm->seen : 0;
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

int vmt_pmtimer_config_init(struct vmt_pmtimer_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->dev.ticks = VMT_TICKS_COALESCE;
	return 0;
}

int vmt_pmtimer_new(vmt_loop *loop, const struct vmt_pmtimer_config *cfg, vmt_pmtimer **ret)
{
	vmt_pmtimer *pm;
	int r;

	if (!loop || !cfg || !ret || (unsigned)cfg->ext32 > 1 ||
	    !strcmp(vmt_tick_policy_name(cfg->dev.ticks), "unknown"))
		return -EINVAL;
	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	r = vmti_dev_name(cfg->dev.name, "pmtimer", pm->name);
	if (r < 0)
		goto fail_free;
	r = -pthread_mutex_init(&pm->lock, NULL);
	if (r < 0)
		goto fail_free;
	r = vmti_irq_init(&pm->irq, cfg->dev.irq, cfg->dev.irq_opaque, &pm->lock, NULL, pm);
	if (r < 0)
		goto fail_mutex;
	pm->src = vmt_loop_source(loop);
	pm->bits = cfg->ext32 ? 32 : 24;
	r = vmt_timer_new(loop, VMT_CLOCK_VM, timer_cb, pm, &pm->timer);
	if (r < 0)
		goto fail_irq;
	vmt_timer_set_name(pm->timer, pm->name);
	pthread_mutex_lock(&pm->lock);
	pm->seen = toggle_of(pm, unwrapped(pm));
	sync_locked(pm);
	pthread_mutex_unlock(&pm->lock);
	*ret = pm;
	return 0;
fail_irq:
	vmti_irq_destroy(&pm->irq);
fail_mutex:
	pthread_mutex_destroy(&pm->lock);
fail_free:
	free(pm);
	return r;
}

vmt_pmtimer *vmt_pmtimer_free(vmt_pmtimer *pm)
{
	if (!pm)
		return NULL;
	vmt_timer_free(pm->timer);
	vmti_irq_destroy(&pm->irq);
	pthread_mutex_destroy(&pm->lock);
	free(pm);
	return NULL;
}

int vmt_pmtimer_save(vmt_pmtimer *pm, vmt_fields_writer *w, uint32_t id)
{
	uint64_t u;
	int r;

	if (!pm || !w)
		return -EINVAL;
	r = vmt_fields_begin_group(w, id);
	if (r < 0)
		return r;
	pthread_mutex_lock(&pm->lock);
	/* Not synced: a save raises nothing; a toggle due is seen after restore. */
	u = unwrapped(pm);
	vmt_fields_put_u64(w, F_COUNTER, u & 0xffffffffu);
	vmt_fields_put_u64(w, F_BITS, pm->bits);
	vmt_fields_put_u64(w, F_STS, pm->sts);
	vmt_fields_put_u64(w, F_EN, pm->en);
	vmt_fields_put_u64(w, F_CNT, pm->cnt);
	pthread_mutex_unlock(&pm->lock);
	vmt_fields_end_group(w);
	return vmt_fields_writer_error(w);
}

int vmt_pmtimer_restore(vmt_pmtimer *pm, const vmt_fields_reader *r, uint32_t id)
{
	uint64_t v[5], c;
	vmt_fields_reader g;
	int e;

	if (!pm || !r)
		return -EINVAL;
	e = vmt_fields_get_group(r, id, &g);
	for (uint32_t i = 0; i < 5 && e >= 0; i++)
		e = vmt_fields_get_u64(&g, F_COUNTER + i, &v[i]);
	if (e < 0)
		return e;
	if (v[0] > 0xffffffffu || (v[1] != 24 && v[1] != 32) || v[2] > 0xffff || v[3] > 0xffff ||
	    v[4] > 0xffff)
		return -EBADMSG;
	if (v[1] != pm->bits)
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	c = counts_at(vmt_now(pm->src, VMT_CLOCK_VM));
	/* off in [0, 2^32) with (c + off) mod 2^32 == the saved counter. */
	pm->off = (v[0] - c) & 0xffffffffu;
	pm->seen = toggle_of(pm, c + pm->off);
	pm->sts = (uint16_t)v[2];
	pm->en = (uint16_t)v[3];
	pm->cnt = (uint16_t)v[4];
	sync_locked(pm);
	pthread_mutex_unlock(&pm->lock);
	vmti_irq_flush(&pm->irq);
	return 0;
}

int vmt_pmtimer_inspect(vmt_pmtimer *pm, FILE *out)
{
	struct vmt_dev_stats st;
	uint64_t ctr;
	unsigned sts, en, cnt, bits;
	int r;

	if (!pm || !out)
		return -EINVAL;
	vmt_pmtimer_get_stats(pm, &st);
	pthread_mutex_lock(&pm->lock);
	bits = pm->bits;
	ctr = unwrapped(pm) & (bits == 32 ? 0xffffffffull : 0xffffffull);
	sts = pm->sts;
	en = pm->en;
	cnt = pm->cnt;
	pthread_mutex_unlock(&pm->lock);
	r = fprintf(out,
		    "{\"name\":\"%s\",\"bits\":%u,\"counter\":%llu,\"pm1_sts\":%u,\"pm1_en\":%u,"
		    "\"pm1_cnt\":%u,\"sci\":%s,\"stats\":{\"ticks\":%llu,\"raised\":%llu,"
		    "\"lost\":%llu,\"due\":%llu}}",
		    pm->name, bits, (unsigned long long)ctr, sts, en, cnt,
		    sts & en & VMT_PMTIMER_TMR_STS ? "true" : "false",
		    (unsigned long long)st.ticks, (unsigned long long)st.raised,
		    (unsigned long long)st.lost, (unsigned long long)st.due);
	return r < 0 ? -EIO : 0;
}

static int unit_op(void *dev, enum vmti_unit_op op, vmt_fields_writer *w,
		   const vmt_fields_reader *r, FILE *out)
{
	switch (op) {
	case VMTI_UNIT_RESET:
		return vmt_pmtimer_reset(dev);
	case VMTI_UNIT_SAVE:
		return vmt_pmtimer_save(dev, w, VMTI_DEV_UNIT_GROUP);
	case VMTI_UNIT_RESTORE:
		return vmt_pmtimer_restore(dev, r, VMTI_DEV_UNIT_GROUP);
	case VMTI_UNIT_INSPECT:
		return vmt_pmtimer_inspect(dev, out);
	}
	return -EINVAL;
}

int vmt_pmtimer_add_unit(vmt_pmtimer *pm, vmt_units *units, vmt_unit **ret)
{
	if (!pm || !units)
		return -EINVAL;
	pm->unit = (struct vmti_dev_unit){ unit_op, pm, pm->name };
	return vmti_dev_unit_add(units, &pm->unit, ret);
}
