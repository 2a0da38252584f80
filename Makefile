# Thin wrapper around CMake; see README.md.
#   make          build (build/)
#   make check    install what the tests need, then run every test: plain,
#                 ASan+UBSan (build-asan/), and the threaded ones under TSan
#                 (build-tsan/)
#   make check-kvm  the tests that need KVM: directly, or where /dev/kvm is
#                 missing inside a kernel under QEMU emulation with nested SVM
#                 (tests/kvm/check-kvm.sh; about a minute, not part of check)
#   make bench    install the competitors (libuv, libevent, ...) and run bench/
#   make demo     build the vmtime tool alone and run the main job (vmtime demo)
#   make install  install libraries, headers, vmtime.pc, the CMake package,
#                 the vmtime tool, man pages, docs and examples
#                 (PREFIX=/usr/local, DESTDIR honoured)
#   make uninstall  remove what the last install wrote (same DESTDIR)
# Packagers: make CMAKE_ARGS="-DBUILD_TESTING=OFF -DVMT_WERROR=OFF" (see README.md).
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local
CMAKE ?= cmake
CTEST ?= ctest
CMAKE_ARGS ?=
# cmake --build runs make again; its "Entering directory" lines are noise.
MAKEFLAGS += --no-print-directory

.PHONY: all build configure check check-kvm check-plain check-asan check-tsan bench demo install \
	uninstall deps-check deps-demo deps-bench clean

all: build

configure:
	$(CMAKE) -S . -B build -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS) >/dev/null

build: configure
	$(CMAKE) --build build -j $(JOBS)

deps-check:
	@bash tools/install-deps.sh check

deps-demo:
	@bash tools/install-deps.sh demo

deps-bench:
	@bash tools/install-deps.sh bench

check: deps-check check-plain check-asan check-tsan
	@echo "make check: all suites passed"

check-plain: build
	$(CTEST) --test-dir build --output-on-failure -j $(JOBS)

check-asan:
	$(CMAKE) -S . -B build-asan -DVMT_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug >/dev/null
	$(CMAKE) --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(CTEST) --test-dir build-asan --output-on-failure -j $(JOBS)

# TSan needs a predictable address space on kernels with high mmap entropy,
# hence setarch -R when it is available.
check-tsan:
	$(CMAKE) -S . -B build-tsan -DVMT_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug >/dev/null
	$(CMAKE) --build build-tsan -j $(JOBS)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		$$(command -v setarch >/dev/null && echo "setarch $$(uname -m) -R") \
		$(CTEST) --test-dir build-tsan --output-on-failure -L threaded

check-kvm: build
	bash tests/kvm/check-kvm.sh build

bench: deps-bench
	$(CMAKE) -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
	$(CMAKE) --build build-bench -j $(JOBS) --target benchmarks
	bash bench/run-all.sh build-bench

# Only the tool and what it links (the library, the KVM example's VMM):
# no tests, benchmarks or man pages.
demo: deps-demo configure
	$(CMAKE) --build build -j $(JOBS) --target vmtime_tool
	./build/vmtime demo

install: build
	DESTDIR="$(DESTDIR)" $(CMAKE) --install build

uninstall:
	DESTDIR="$(DESTDIR)" $(CMAKE) -DMANIFEST=build/install_manifest.txt -P cmake/scripts/uninstall.cmake

clean:
	rm -rf build build-asan build-tsan build-bench
