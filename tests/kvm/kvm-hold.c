/* SPDX-License-Identifier: MIT */
/*
 * kvm-hold - create one KVM VM and keep it open until killed.
 *
 * check-kvm.sh runs the KVM tests inside a Linux kernel that itself runs
 * under QEMU's software emulation (TCG) with nested SVM.  There, creating
 * and destroying VMs over and over can freeze the nested guest: KVM flips
 * static keys when the first VM appears and the last one goes, the kernel
 * patches its code, and the emulator can keep running a stale translation
 * of the patched code.  One VM that stays open for the whole run keeps the
 * keys from flipping back, which avoided the freeze in every measured run.
 *
 * The parent exits once the VM exists (0) or cannot be made (1, with the
 * reason), so a shell can tell whether KVM works before starting tests;
 * the child holds the VM fd and sleeps until it is killed.  With --probe
 * it only tells (exit 0 or 1) and holds nothing.
 *
 *   kvm-hold [--probe] [DEVICE]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

int main(int argc, char **argv)
{
	int probe = argc > 1 && strcmp(argv[1], "--probe") == 0;
	const char *dev = argc > 1 + probe ? argv[1 + probe] : "/dev/kvm";
	int kvm, vm, ver;
	pid_t pid;

	kvm = open(dev, O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		fprintf(stderr, "kvm-hold: %s: %s\n", dev, strerror(errno));
		return 1;
	}
	ver = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		fprintf(stderr, "kvm-hold: KVM API version %d, expected %d\n", ver,
			KVM_API_VERSION);
		return 1;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		fprintf(stderr, "kvm-hold: KVM_CREATE_VM: %s\n", strerror(errno));
		return 1;
	}
	if (probe)
		return 0;
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "kvm-hold: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid > 0) {
		printf("kvm-hold: VM open in process %d\n", (int)pid);
		return 0;
	}
	/* The child inherited both fds; it only has to stay alive. */
	setsid();
	for (;;)
		pause();
}
