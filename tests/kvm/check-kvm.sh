#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check-kvm.sh [BUILD_DIR] - run the CTest tests labelled "kvm" on KVM.
#
# Where /dev/kvm works, the tests run here, directly.  Where it does not,
# this script boots Debian's Linux kernel under QEMU's software emulation
# (TCG) with nested SVM, so that the emulated machine ("L1") has a working
# /dev/kvm, and runs the same tests there:
#   - qemu-system-x86, busybox-static and cpio come from Debian's archive
#     when missing (apt-get), the kernel package is fetched with
#     `apt-get download` and unpacked, never installed;
#   - the initramfs is built now, from busybox, the four modules KVM needs,
#     ctest with its libraries and the build tree at its own absolute path
#     (so the tests' compiled-in paths hold); nothing of it is committed;
#   - L1's /init loads kvm and kvm_amd with nested paging, keeps one idle VM
#     open for the whole run (tests/kvm/kvm-hold.c says why), runs ctest and
#     prints "vmtime-check-kvm: exit N" on the serial console, which this
#     script reads back as its own exit status.
#
# Environment:
#   VMT_CHECK_KVM=direct|nested   force one path (default: direct when a VM
#                                 can be created here)
#   VMT_CHECK_KVM_TIMEOUT=S       kill the emulator after S s (default 1800)
#   VMT_CHECK_KVM_CTEST_ARGS=...  extra ctest arguments (e.g. "-R test-demo")
#   VMT_CHECK_KVM_CMD=...         a shell command to run in L1 instead of
#                                 ctest (for experiments); its status counts
#   VMT_CHECK_KVM_SMP, VMT_CHECK_KVM_MEM   L1's vCPUs (2) and MiB (2048)
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
work=$build/check-kvm
mode=${VMT_CHECK_KVM:-}
ctest_args=${VMT_CHECK_KVM_CTEST_ARGS:-}
t0=$(date +%s.%N)

say() { echo "check-kvm: $*"; }
elapsed() { echo "$(date +%s.%N) $t0" | awk '{ printf "%.1f s", $1 - $2 }'; }

hold=$build/kvm-hold
if [ ! -x "$hold" ]; then
	say "$hold is missing (no <linux/kvm.h> at configure time?)" >&2
	exit 1
fi

if [ -z "$mode" ]; then
	if "$hold" --probe >/dev/null 2>&1; then mode=direct; else mode=nested; fi
fi

if [ "$mode" = direct ]; then
	say "KVM works here: running the kvm tests directly"
	# shellcheck disable=SC2086 # ctest_args is a list of words
	rc=0
	ctest --test-dir "$build" -L kvm --output-on-failure $ctest_args || rc=$?
	say "exit $rc after $(elapsed)"
	exit $rc
fi
if [ "$mode" != nested ]; then
	say "VMT_CHECK_KVM must be 'direct' or 'nested', not '$mode'" >&2
	exit 2
fi
say "no usable /dev/kvm: running the kvm tests in a kernel under QEMU TCG with nested SVM"

# ---- what the nested path needs from Debian's archive --------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q static || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v file >/dev/null || need+=(file)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		say "missing packages: ${need[*]} (need root and apt-get to install them)" >&2
		exit 1
	fi
	say "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# file(1) may have been installed only now: check busybox again.
if ! file -L /bin/busybox | grep -q static; then
	say "/bin/busybox is not the static build (install busybox-static)" >&2
	exit 1
fi

# ---- the kernel: Debian's current linux-image-amd64, unpacked ---------------
mkdir -p "$work"
kdir=$work/kernel
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
if ! ls "$kdir"/boot/vmlinuz-* >/dev/null 2>&1; then
	pkg=$(kernel_pkg)
	if [ -z "$pkg" ]; then
		apt-get update -qq >/dev/null
		pkg=$(kernel_pkg)
	fi
	if [ -z "$pkg" ]; then
		say "apt-cache knows no linux-image-amd64 (not a Debian system?)" >&2
		exit 1
	fi
	say "fetching $pkg"
	rm -rf "$kdir" "$work"/linux-image-*.deb
	# apt-get download writes to the current directory.
	(cd "$work" && apt-get download -qq "$pkg" 2>&1 | grep -v 'unsandboxed' || true)
	dpkg-deb -x "$work/${pkg}"_*.deb "$kdir"
	rm -f "$work"/linux-image-*.deb
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -n1)
kver=${vmlinuz##*/vmlinuz-}
kmods=$kdir/lib/modules/$kver/kernel

# ---- the initramfs -----------------------------------------------------------
root=$work/root
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,root,lib/kvm-modules,usr/bin}

cp /bin/busybox "$root/bin/busybox"
for m in virt/lib/irqbypass drivers/crypto/ccp/ccp arch/x86/kvm/kvm arch/x86/kvm/kvm-amd; do
	cp "$kmods/$m.ko" "$root/lib/kvm-modules/"
done

# The build tree minus objects and archives, at the same absolute path, and
# the source tree (tests may read files under VMT_SOURCE_DIR).
copy_tree() { # DIR PRUNE...
	local dir=$1
	shift
	local prune=()
	for p in "$@"; do prune+=(-path "$p" -prune -o); done
	(cd / && find "${dir#/}" "${prune[@]}" -type f ! -name '*.o' ! -name '*.a' -print0 |
		cpio -0pdm --quiet "$root")
}
copy_tree "$build" "${build#/}/check-kvm" "*/CMakeFiles"
(cd "$src" && git ls-files -z 2>/dev/null | (cd / && sed -z "s|^|${src#/}/|" | cpio -0pdm --quiet "$root")) ||
	copy_tree "$src" "${src#/}/.git" "${src#/}/build*"
cp "$(command -v ctest)" "$root/usr/bin/ctest"

# Shared libraries of every ELF executable in the image, and their loader.
libs=$(find "$root" -type f -perm -u+x -print0 | xargs -0 file -L | awk -F: '/ELF.*dynamic/ { print $1 }' |
	xargs -r ldd 2>/dev/null | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | sort -u)
for l in $libs; do
	mkdir -p "$root$(dirname "$l")"
	cp -L "$l" "$root$l"
done
if [ -d /lib64 ] && [ ! -e "$root/lib64" ]; then
	mkdir -p "$root/lib64"
	cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
fi

if [ -n "${VMT_CHECK_KVM_CMD:-}" ]; then
	run=${VMT_CHECK_KVM_CMD}
else
	run="ctest --test-dir '$build' -L kvm --output-on-failure $ctest_args"
fi
cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin HOME=/root TMPDIR=/tmp TERM=dumb
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
done_() { echo "vmtime-check-kvm: exit \$1"; sync; poweroff -f; reboot -f; }
echo "vmtime-check-kvm: L1 up after \$(cut -d' ' -f1 /proc/uptime) s of kernel time"
for m in irqbypass ccp kvm; do
	insmod /lib/kvm-modules/\$m.ko || done_ 1
done
insmod /lib/kvm-modules/kvm-amd.ko nested=1 npt=1 || done_ 1
$hold || done_ 1
cd /root
$run
done_ \$?
EOF
chmod +x "$root/init"
(cd "$root" && find . -print0 | cpio -0 -o -H newc --quiet) >"$work/initramfs.cpio"
say "initramfs $(du -m "$work/initramfs.cpio" | cut -f1) MiB, kernel $kver, ready after $(elapsed)"

# ---- L1 -------------------------------------------------------------------------
log=$work/serial.log
rc=0
timeout "${VMT_CHECK_KVM_TIMEOUT:-1800}" qemu-system-x86_64 \
	-accel tcg,thread=multi -cpu max -smp "${VMT_CHECK_KVM_SMP:-2}" -m "${VMT_CHECK_KVM_MEM:-2048}" \
	-display none -monitor none -serial stdio -no-reboot -nic none \
	-kernel "$vmlinuz" -initrd "$work/initramfs.cpio" \
	-append "console=ttyS0 tsc=reliable panic=-1 loglevel=4 rdinit=/init" \
	</dev/null 2>&1 | tr -d '\r' | tee "$log" || rc=$?
status=$(sed -n 's/^vmtime-check-kvm: exit \([0-9][0-9]*\)$/\1/p' "$log" | tail -n1)
if [ -z "$status" ]; then
	say "L1 ended without reporting a result (emulator exit $rc, timeout ${VMT_CHECK_KVM_TIMEOUT:-1800} s); serial log: $log" >&2
	exit 1
fi
say "exit $status after $(elapsed) (serial log: $log)"
exit "$status"
