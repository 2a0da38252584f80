/* SPDX-License-Identifier: MIT */
/*
 * vmm.c - the KVM side of the example: VM, vCPU thread, port I/O, units.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest-abi.h"
#include "vmm.h"

/* The PIT's ports: 0x40-0x43 and 0x61 (offset VMT_PIT_PORT61). */
#define PIT_PORT_BASE 0x40
/* The RTC's: 0x70-0x73 (index and data of both CMOS banks). */
#define RTC_PORT_BASE 0x70
#define RTC_PORT_LAST 0x73
/* The RTC's line 0 is IRQ8 on a PC. */
#define RTC_IRQ 8

extern const unsigned char kvmpit_guest_bin[];
extern const size_t kvmpit_guest_bin_len;

/* A signal whose only job is to make KVM_RUN return -EINTR. */
#define KICK_SIGNAL SIGUSR1

/* Where KVM keeps the real-mode TSS on Intel hosts without unrestricted guest. */
#define TSS_ADDR 0xfffbd000UL

/* Snapshot field ids of the ram, irqchip and vcpu units. */
enum {
	F_RAM = 1,
	F_PIC_MASTER = 1,
	F_PIC_SLAVE = 2,
	F_IOAPIC = 3,
	F_REGS = 1,
	F_SREGS = 2,
	F_FPU = 3,
	F_LAPIC = 4,
	F_EVENTS = 5,
	F_MP_STATE = 6,
};

struct vmm {
	int kvm_fd;
	int vm_fd;
	int vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mem;
	size_t mem_size;
	vmt_pit *pit;
	vmt_rtc *rtc;

	pthread_t thread;
	int thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int run_req; /* the vCPU should be in KVM_RUN */
	int parked;  /* the vCPU thread waits for run_req */
	int quit;
	int error;
	char error_msg[128];

	/* A report is three OUTs; it is published whole, after the last one. */
	uint32_t pend_ticks, pend_csum; /* vCPU thread only */
	pthread_mutex_t rep_lock;
	struct guest_state rep;
	_Atomic uint64_t exits;
};

static int fail(struct vmt_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

/* VMTIME_KVM_DEVICE names another device node: tests use it to play "no KVM". */
static const char *kvm_device(void)
{
	const char *p = getenv("VMTIME_KVM_DEVICE");

	return p && *p ? p : "/dev/kvm";
}

static void kick_handler(int sig)
{
	(void)sig;
}

static void kick_handler_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the point is for KVM_RUN to return -EINTR. */
	sigaction(KICK_SIGNAL, &sa, NULL);
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void set_error(struct vmm *vm, int code, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	if (!vm->error) {
		vm->error = code;
		va_start(ap, fmt);
		vsnprintf(vm->error_msg, sizeof(vm->error_msg), fmt, ap);
		va_end(ap);
	}
	vm->run_req = 0;
	pthread_mutex_unlock(&vm->lock);
}

static void handle_io(struct vmm *vm)
{
	struct kvm_run *run = vm->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint16_t port = run->io.port;
	int out = run->io.direction == KVM_EXIT_IO_OUT;
	uint32_t v;

	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if ((port >= PIT_PORT_BASE && port <= PIT_PORT_BASE + VMT_PIT_CONTROL) ||
		    port == PIT_PORT_BASE + VMT_PIT_PORT61) {
			uint64_t val = 0xff;

			/* Other sizes: the PIT refuses them and the bus floats. */
			if (out)
				vmt_pit_write(vm->pit, port - PIT_PORT_BASE, run->io.size, *data);
			else if (vmt_pit_read(vm->pit, port - PIT_PORT_BASE, run->io.size, &val) < 0)
				memset(data, 0xff, run->io.size);
			else
				*data = (uint8_t)val;
		} else if (port >= RTC_PORT_BASE && port <= RTC_PORT_LAST) {
			uint64_t val = 0xff;

			if (out)
				vmt_rtc_write(vm->rtc, port - RTC_PORT_BASE, run->io.size, *data);
			else if (vmt_rtc_read(vm->rtc, port - RTC_PORT_BASE, run->io.size, &val) < 0)
				memset(data, 0xff, run->io.size);
			else
				*data = (uint8_t)val;
		} else if (out && run->io.size == 4 && port >= GUEST_PORT_TICKS &&
			   port <= GUEST_PORT_RTC) {
			memcpy(&v, data, sizeof(v));
			if (port == GUEST_PORT_TICKS) {
				vm->pend_ticks = v;
			} else if (port == GUEST_PORT_CSUM) {
				vm->pend_csum = v;
			} else if (port == GUEST_PORT_BAD) {
				pthread_mutex_lock(&vm->rep_lock);
				vm->rep.ticks = vm->pend_ticks;
				vm->rep.csum = vm->pend_csum;
				vm->rep.bad = v;
				vm->rep.reads++;
				pthread_mutex_unlock(&vm->rep_lock);
			} else if (port == GUEST_PORT_RTC) {
				pthread_mutex_lock(&vm->rep_lock);
				vm->rep.rtc = v;
				vm->rep.rtc_reads++;
				pthread_mutex_unlock(&vm->rep_lock);
			}
		} else if (!out) {
			/* Nothing decodes this port: the bus floats high. */
			memset(data, 0xff, run->io.size);
		}
	}
}

/*
 * The vCPU thread runs KVM_RUN while run_req is set and parks otherwise.
 * A pause sets immediate_exit and signals the thread, so KVM_RUN returns
 * -EINTR whether the signal lands before or during the ioctl.
 */
static void *vcpu_main(void *arg)
{
	struct vmm *vm = arg;
	int need_complete = 0;
	sigset_t set;
	int r;

	sigemptyset(&set);
	sigaddset(&set, KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (;;) {
		pthread_mutex_lock(&vm->lock);
		if ((!vm->run_req || vm->quit) && need_complete) {
			/*
			 * KVM finishes an IN only on the next KVM_RUN; with
			 * immediate_exit it returns right after, and the state
			 * a save reads is consistent.
			 */
			vm->run->immediate_exit = 1;
			pthread_mutex_unlock(&vm->lock);
			ioctl(vm->vcpu_fd, KVM_RUN, 0);
			need_complete = 0;
			continue;
		}
		while (!vm->run_req && !vm->quit) {
			vm->parked = 1;
			pthread_cond_broadcast(&vm->cond);
			pthread_cond_wait(&vm->cond, &vm->lock);
		}
		if (vm->quit) {
			vm->parked = 1;
			pthread_cond_broadcast(&vm->cond);
			pthread_mutex_unlock(&vm->lock);
			return NULL;
		}
		if (vm->parked) {
			vm->parked = 0;
			vm->run->immediate_exit = 0;
		}
		pthread_mutex_unlock(&vm->lock);

		need_complete = 0;
		r = ioctl(vm->vcpu_fd, KVM_RUN, 0);
		if (r < 0) {
			if (errno != EINTR && errno != EAGAIN)
				set_error(vm, -errno, "KVM_RUN: %s", strerror(errno));
			continue;
		}
		atomic_fetch_add(&vm->exits, 1);
		switch (vm->run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(vm);
			need_complete = 1;
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_SHUTDOWN:
			set_error(vm, -EFAULT, "guest shut down (triple fault)");
			break;
		case KVM_EXIT_FAIL_ENTRY:
			set_error(vm, -EFAULT, "VM entry failed, reason 0x%llx",
				  (unsigned long long)vm->run->fail_entry.hardware_entry_failure_reason);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			set_error(vm, -EFAULT, "KVM internal error, suberror %u",
				  vm->run->internal.suberror);
			break;
		default:
			set_error(vm, -EFAULT, "unexpected exit reason %u", vm->run->exit_reason);
			break;
		}
	}
}

static void vcpu_resume(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->error) {
		vm->run_req = 1;
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
}

static void vcpu_pause(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->run_req = 0;
	vm->run->immediate_exit = 1;
	while (!vm->parked) {
		pthread_kill(vm->thread, KICK_SIGNAL);
		pthread_cond_wait(&vm->cond, &vm->lock);
	}
	pthread_mutex_unlock(&vm->lock);
}

/* An edge on IRQ0: the status of the raise tells whether the PIC took it. */
/* The PIT's line 0: an edge is level 1 then level 0 (vmtime/device.h). */
static int drive_irq(void *opaque, unsigned line, int level)
{
	struct vmm *vm = opaque;
	struct kvm_irq_level irq = { .irq = line, .level = (uint32_t)level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE_STATUS, &irq) < 0)
		return -errno;
	/* irq and status share a union: status > 0 means delivered. */
	return irq.status > 0;
}

/* The RTC's line 0 is IRQ8; the guest here never enables its interrupts. */
static int drive_rtc_irq(void *opaque, unsigned line, int level)
{
	return line == 0 ? drive_irq(opaque, RTC_IRQ, level) : -EINVAL;
}

int vmm_probe(char *why, size_t len)
{
	static const struct {
		int cap;
		const char *name;
	} caps[] = {
		{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_IRQ_INJECT_STATUS, "KVM_CAP_IRQ_INJECT_STATUS" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	};
	int kvm, vm, r;

	if (!why || len == 0)
		return -EINVAL;
	kvm = open(kvm_device(), O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		r = -errno;
		snprintf(why, len, "cannot open %s: %s", kvm_device(), strerror(errno));
		return r;
	}
	r = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		snprintf(why, len, "KVM API version %d, want %d", r, KVM_API_VERSION);
		close(kvm);
		return -EPROTONOSUPPORT;
	}
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (ioctl(kvm, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
			snprintf(why, len, "KVM lacks %s", caps[i].name);
			close(kvm);
			return -EOPNOTSUPP;
		}
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		r = -errno;
		snprintf(why, len, "KVM_CREATE_VM: %s", strerror(errno));
		close(kvm);
		return r;
	}
	close(vm);
	close(kvm);
	return 0;
}

static int boot_vcpu_state(struct vmm *vm)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment *segs[] = { &sregs.cs, &sregs.ds, &sregs.es,
				       &sregs.fs, &sregs.gs, &sregs.ss };

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		segs[i]->base = 0;
		segs[i]->selector = 0;
	}
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rip = GUEST_LOAD_ADDR;
	regs.rsp = GUEST_STACK_TOP;
	regs.rflags = 2; /* bit 1 is reserved and reads as 1 */
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

static void load_guest(struct vmm *vm)
{
	memset(vm->mem, 0, vm->mem_size);
	memcpy(vm->mem + GUEST_LOAD_ADDR, kvmpit_guest_bin, kvmpit_guest_bin_len);
}

int vmm_new(const struct vmm_config *cfg, struct vmm **ret, struct vmt_error *err)
{
	struct kvm_userspace_memory_region region;
	struct vmt_pit_config pc;
	struct vmt_rtc_config rc;
	struct vmm *vm;
	int r;

	if (!cfg || !ret || !cfg->loop || cfg->mem_size < (1u << 20) || cfg->mem_size % 4096)
		return fail(err, -EINVAL, "invalid VM configuration");
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return fail(err, -ENOMEM, "out of memory");
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = -1;
	vm->mem = MAP_FAILED;
	vm->run = MAP_FAILED;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->rep_lock, NULL);
	pthread_cond_init(&vm->cond, NULL);

	vm->kvm_fd = open(kvm_device(), O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		r = fail(err, -errno, "open %s: %s", kvm_device(), strerror(errno));
		goto out;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		r = fail(err, -errno, "KVM_CREATE_VM: %s", strerror(errno));
		goto out;
	}
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, TSS_ADDR) < 0) {
		r = fail(err, -errno, "KVM_SET_TSS_ADDR: %s", strerror(errno));
		goto out;
	}
	/* PIC, IOAPIC and LAPIC in the kernel; the PIT is ours (no KVM_CREATE_PIT2). */
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		r = fail(err, -errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
		goto out;
	}
	vm->mem_size = cfg->mem_size;
	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		r = fail(err, -errno, "mmap guest RAM: %s", strerror(errno));
		goto out;
	}
	load_guest(vm);
	memset(&region, 0, sizeof(region));
	region.memory_size = vm->mem_size;
	region.userspace_addr = (uintptr_t)vm->mem;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		r = fail(err, -errno, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		goto out;
	}
	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0) {
		r = fail(err, -errno, "KVM_CREATE_VCPU: %s", strerror(errno));
		goto out;
	}
	r = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r < (int)sizeof(struct kvm_run)) {
		r = fail(err, r < 0 ? -errno : -EPROTO, "KVM_GET_VCPU_MMAP_SIZE failed");
		goto out;
	}
	vm->run_size = (size_t)r;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		r = fail(err, -errno, "mmap kvm_run: %s", strerror(errno));
		goto out;
	}
	r = boot_vcpu_state(vm);
	if (r < 0) {
		fail(err, r, "setting the boot registers: %s", strerror(-r));
		goto out;
	}
	vmt_pit_config_init(&pc);
	pc.dev.irq = drive_irq;
	pc.dev.irq_opaque = vm;
	pc.dev.ticks = cfg->policy;
	/* Like the example's own PIT did: a refused tick is retried 50 us later. */
	pc.retry_ns = 50 * 1000;
	r = vmt_pit_new(cfg->loop, &pc, &vm->pit);
	if (r < 0) {
		fail(err, r, "creating the PIT: %s", strerror(-r));
		goto out;
	}
	/*
	 * Base UTC (QEMU -rtc base=utc,clock=vm): the host's wall time now,
	 * then carried on the VM clock, so a pause stops the guest's date too.
	 */
	vmt_rtc_config_init(&rc);
	rc.dev.irq = drive_rtc_irq;
	rc.dev.irq_opaque = vm;
	rc.dev.ticks = cfg->policy;
	rc.base = VMT_RTC_BASE_UTC;
	r = vmt_rtc_new(cfg->loop, &rc, &vm->rtc);
	if (r < 0) {
		fail(err, r, "creating the RTC: %s", strerror(-r));
		goto out;
	}
	pthread_once(&kick_once, kick_handler_init);
	r = -pthread_create(&vm->thread, NULL, vcpu_main, vm);
	if (r < 0) {
		fail(err, r, "creating the vCPU thread: %s", strerror(-r));
		goto out;
	}
	vm->thread_started = 1;
	pthread_mutex_lock(&vm->lock);
	while (!vm->parked)
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	*ret = vm;
	return 0;
out:
	vmm_free(vm);
	return r;
}

struct vmm *vmm_free(struct vmm *vm)
{
	if (!vm)
		return NULL;
	if (vm->thread_started) {
		pthread_mutex_lock(&vm->lock);
		vm->quit = 1;
		vm->run_req = 0;
		vm->run->immediate_exit = 1;
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
		pthread_kill(vm->thread, KICK_SIGNAL);
		pthread_join(vm->thread, NULL);
	}
	/* The PIT's IRQ callback uses vm_fd: it goes before the fd does. */
	vmt_pit_free(vm->pit);
	vmt_rtc_free(vm->rtc);
	if (vm->run != MAP_FAILED)
		munmap(vm->run, vm->run_size);
	if (vm->mem != MAP_FAILED)
		munmap(vm->mem, vm->mem_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->rep_lock);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
	return NULL;
}

int vmm_guest_state(struct vmm *vm, struct guest_state *st)
{
	if (!vm || !st)
		return -EINVAL;
	memcpy(&st->ticks, vm->mem + GUEST_STATE_ADDR + GUEST_OFF_TICKS, 4);
	memcpy(&st->csum, vm->mem + GUEST_STATE_ADDR + GUEST_OFF_CSUM, 4);
	memcpy(&st->reads, vm->mem + GUEST_STATE_ADDR + GUEST_OFF_READS, 4);
	memcpy(&st->bad, vm->mem + GUEST_STATE_ADDR + GUEST_OFF_BAD, 4);
	memcpy(&st->rtc, vm->mem + GUEST_STATE_ADDR + GUEST_OFF_RTC, 4);
	memcpy(&st->rtc_reads, vm->mem + GUEST_STATE_ADDR + GUEST_OFF_RTC_READS, 4);
	return 0;
}

int vmm_last_report(struct vmm *vm, struct guest_state *st)
{
	if (!vm || !st)
		return -EINVAL;
	pthread_mutex_lock(&vm->rep_lock);
	*st = vm->rep;
	pthread_mutex_unlock(&vm->rep_lock);
	return 0;
}

int vmm_irq_idle(struct vmm *vm)
{
	struct kvm_irqchip chip;
	struct vmt_dev_stats st;
	int r;

	if (!vm)
		return -EINVAL;
	r = vmt_pit_get_stats(vm->pit, &st);
	if (r < 0)
		return r;
	if (st.backlog || st.due)
		return 0;
	memset(&chip, 0, sizeof(chip));
	chip.chip_id = KVM_IRQCHIP_PIC_MASTER;
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
		return -errno;
	return !((chip.chip.pic.irr | chip.chip.pic.isr) & 1);
}

long long vmm_ticks_owed(struct vmm *vm)
{
	struct kvm_irqchip chip;
	struct vmt_dev_stats st;
	long long owed;

	if (!vm)
		return -EINVAL;
	owed = vmt_pit_get_stats(vm->pit, &st);
	if (owed < 0)
		return owed;
	/* One reading under the PIT's lock: a tick is in backlog or due, never both. */
	owed = (long long)(st.backlog + st.due);
	memset(&chip, 0, sizeof(chip));
	chip.chip_id = KVM_IRQCHIP_PIC_MASTER;
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
		return -errno;
	return owed + (chip.chip.pic.irr & 1);
}

vmt_pit *vmm_pit(struct vmm *vm)
{
	return vm ? vm->pit : NULL;
}

vmt_rtc *vmm_rtc(struct vmm *vm)
{
	return vm ? vm->rtc : NULL;
}

int vmm_error(struct vmm *vm, char *msg, size_t len)
{
	int r;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	r = vm->error;
	if (msg && len)
		snprintf(msg, len, "%s", vm->error_msg);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

uint64_t vmm_exits(struct vmm *vm)
{
	return vm ? atomic_load(&vm->exits) : 0;
}

uint32_t guest_expected_csum(uint32_t ticks)
{
	uint32_t c = 0;

	for (uint32_t t = 1; t <= ticks; t++)
		c = ((c << 5) | (c >> 27)) ^ t;
	return c;
}

/* Units. */

static int ram_save(void *ud, vmt_fields_writer *w, struct vmt_error *err)
{
	struct vmm *vm = ud;
	int r = vmt_fields_put_bytes(w, F_RAM, vm->mem, vm->mem_size);

	return r < 0 ? fail(err, r, "ram: save: %s", strerror(-r)) : 0;
}

static int ram_restore(void *ud, vmt_fields_reader *rd, uint32_t version, struct vmt_error *err)
{
	struct vmm *vm = ud;
	const void *p;
	size_t n;
	int r;

	if (version != 1)
		return fail(err, -EPROTONOSUPPORT, "ram: unknown version %u", version);
	r = vmt_fields_get_bytes(rd, F_RAM, &p, &n);
	if (r < 0)
		return fail(err, r, "ram: %s", strerror(-r));
	if (n != vm->mem_size)
		return fail(err, -EBADMSG, "ram: saved %zu bytes, the VM has %zu", n, vm->mem_size);
	memcpy(vm->mem, p, n);
	return 0;
}

static int ram_reset(void *ud, struct vmt_error *err)
{
	(void)err;
	load_guest(ud);
	return 0;
}

static int irqchip_save(void *ud, vmt_fields_writer *w, struct vmt_error *err)
{
	struct vmm *vm = ud;
	struct kvm_irqchip chip;

	for (uint32_t i = 0; i < 3; i++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = i;
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
			return fail(err, -errno, "irqchip: KVM_GET_IRQCHIP %u: %s", i,
				    strerror(errno));
		vmt_fields_put_bytes(w, F_PIC_MASTER + i, &chip.chip, sizeof(chip.chip));
	}
	return vmt_fields_writer_error(w);
}

static int irqchip_restore(void *ud, vmt_fields_reader *rd, uint32_t version,
			   struct vmt_error *err)
{
	struct vmm *vm = ud;
	struct kvm_irqchip chip;
	const void *p;
	size_t n;
	int r;

	if (version != 1)
		return fail(err, -EPROTONOSUPPORT, "irqchip: unknown version %u", version);
	for (uint32_t i = 0; i < 3; i++) {
		r = vmt_fields_get_bytes(rd, F_PIC_MASTER + i, &p, &n);
		if (r < 0)
			return fail(err, r, "irqchip: chip %u: %s", i, strerror(-r));
		if (n != sizeof(chip.chip))
			return fail(err, -EBADMSG, "irqchip: chip %u has %zu bytes", i, n);
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = i;
		memcpy(&chip.chip, p, n);
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
			return fail(err, -errno, "irqchip: KVM_SET_IRQCHIP %u: %s", i,
				    strerror(errno));
	}
	return 0;
}

static void vcpu_unit_start(void *ud)
{
	vcpu_resume(ud);
}

static void vcpu_unit_stop(void *ud)
{
	vcpu_pause(ud);
}

static const struct {
	uint32_t id;
	unsigned long get, set;
	size_t size;
	const char *name;
} vcpu_parts[] = {
	/* Restored in this order: segments and modes before what depends on them. */
	{ F_SREGS, KVM_GET_SREGS, KVM_SET_SREGS, sizeof(struct kvm_sregs), "sregs" },
	{ F_REGS, KVM_GET_REGS, KVM_SET_REGS, sizeof(struct kvm_regs), "regs" },
	{ F_FPU, KVM_GET_FPU, KVM_SET_FPU, sizeof(struct kvm_fpu), "fpu" },
	{ F_LAPIC, KVM_GET_LAPIC, KVM_SET_LAPIC, sizeof(struct kvm_lapic_state), "lapic" },
	{ F_MP_STATE, KVM_GET_MP_STATE, KVM_SET_MP_STATE, sizeof(struct kvm_mp_state),
	  "mp_state" },
	{ F_EVENTS, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, sizeof(struct kvm_vcpu_events),
	  "events" },
};

static int vcpu_unit_save(void *ud, vmt_fields_writer *w, struct vmt_error *err)
{
	struct vmm *vm = ud;
	_Alignas(16) uint8_t buf[4096];

	for (size_t i = 0; i < sizeof(vcpu_parts) / sizeof(vcpu_parts[0]); i++) {
		memset(buf, 0, sizeof(buf));
		if (ioctl(vm->vcpu_fd, vcpu_parts[i].get, buf) < 0)
			return fail(err, -errno, "vcpu: get %s: %s", vcpu_parts[i].name,
				    strerror(errno));
		vmt_fields_put_bytes(w, vcpu_parts[i].id, buf, vcpu_parts[i].size);
	}
	return vmt_fields_writer_error(w);
}

static int vcpu_unit_restore(void *ud, vmt_fields_reader *rd, uint32_t version,
			     struct vmt_error *err)
{
	struct vmm *vm = ud;
	_Alignas(16) uint8_t buf[4096];
	const void *p;
	size_t n;
	int r;

	if (version != 1)
		return fail(err, -EPROTONOSUPPORT, "vcpu: unknown version %u", version);
	for (size_t i = 0; i < sizeof(vcpu_parts) / sizeof(vcpu_parts[0]); i++) {
		r = vmt_fields_get_bytes(rd, vcpu_parts[i].id, &p, &n);
		if (r < 0)
			return fail(err, r, "vcpu: %s: %s", vcpu_parts[i].name, strerror(-r));
		if (n != vcpu_parts[i].size)
			return fail(err, -EBADMSG, "vcpu: %s has %zu bytes, want %zu",
				    vcpu_parts[i].name, n, vcpu_parts[i].size);
		memcpy(buf, p, n);
		if (ioctl(vm->vcpu_fd, vcpu_parts[i].set, buf) < 0)
			return fail(err, -errno, "vcpu: set %s: %s", vcpu_parts[i].name,
				    strerror(errno));
	}
	return 0;
}

static int vcpu_unit_reset(void *ud, struct vmt_error *err)
{
	int r = boot_vcpu_state(ud);

	return r < 0 ? fail(err, r, "vcpu: reset: %s", strerror(-r)) : 0;
}

int vmm_add_units(struct vmm *vm, vmt_units *units)
{
	static const struct vmt_unit_ops ram_ops = {
		.save = ram_save,
		.save_version = 1,
		.restore = ram_restore,
		.reset = ram_reset,
	};
	static const struct vmt_unit_ops irqchip_ops = {
		.save = irqchip_save,
		.save_version = 1,
		.restore = irqchip_restore,
	};
	static const struct vmt_unit_ops vcpu_ops = {
		.start = vcpu_unit_start,
		.stop = vcpu_unit_stop,
		.save = vcpu_unit_save,
		.save_version = 1,
		.restore = vcpu_unit_restore,
		.reset = vcpu_unit_reset,
	};
	vmt_unit *clock, *pit, *rtc, *ram, *chip, *vcpu;
	int r;

	if (!vm || !units)
		return -EINVAL;
	r = vmt_units_find(units, "vmtime", &clock);
	if (r < 0)
		return r;
	if ((r = vmt_pit_add_unit(vm->pit, units, &pit)) < 0 ||
	    (r = vmt_rtc_add_unit(vm->rtc, units, &rtc)) < 0 ||
	    (r = vmt_units_add(units, "ram", &ram_ops, vm, &ram)) < 0 ||
	    (r = vmt_units_add(units, "irqchip", &irqchip_ops, vm, &chip)) < 0 ||
	    (r = vmt_units_add(units, "vcpu", &vcpu_ops, vm, &vcpu)) < 0)
		return r;
	if ((r = vmt_unit_depends_on(ram, clock)) < 0 ||
	    (r = vmt_unit_depends_on(chip, clock)) < 0 ||
	    (r = vmt_unit_depends_on(vcpu, clock)) < 0 ||
	    (r = vmt_unit_depends_on(vcpu, pit)) < 0 ||
	    (r = vmt_unit_depends_on(vcpu, rtc)) < 0 ||
	    (r = vmt_unit_depends_on(vcpu, ram)) < 0 ||
	    (r = vmt_unit_depends_on(vcpu, chip)) < 0)
		return r;
	return 0;
}
