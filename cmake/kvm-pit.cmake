# The KVM example (examples/kvm-pit): a test guest assembled from source at
# build time, the mini VMM with the library's PIT (vmtime/pit.h), and the KVM demo
# linked into the vmtime tool.  Built on x86-64 Linux with <linux/kvm.h>;
# elsewhere the tool keeps only the simulated demo.

include(CheckIncludeFile)
check_include_file(linux/kvm.h VMT_HAVE_LINUX_KVM_H)
find_program(VMT_LD ld)

set(KVMPIT_DIR ${CMAKE_SOURCE_DIR}/examples/kvm-pit)
set(KVMPIT_OUT ${CMAKE_BINARY_DIR}/kvm-pit)


if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64" AND VMT_HAVE_LINUX_KVM_H AND VMT_LD
   AND EXISTS ${CMAKE_SOURCE_DIR}/examples/kvm-pit/demo.c AND EXISTS ${CMAKE_SOURCE_DIR}/examples/kvm-pit/main.c)
  file(MAKE_DIRECTORY ${KVMPIT_OUT})

  # guest.S -> guest.o (16-bit code in a 32-bit ELF) -> flat binary -> C array.
  add_custom_command(
    OUTPUT ${KVMPIT_OUT}/guest-bin.c
    COMMAND ${CMAKE_C_COMPILER} -m32 -c -I${KVMPIT_DIR} ${KVMPIT_DIR}/guest.S
            -o ${KVMPIT_OUT}/guest.o
    COMMAND ${VMT_LD} -m elf_i386 -Ttext=0x1000 -e _start --oformat binary
            -o ${KVMPIT_OUT}/guest.bin ${KVMPIT_OUT}/guest.o
    COMMAND ${CMAKE_COMMAND} -DIN=${KVMPIT_OUT}/guest.bin -DOUT=${KVMPIT_OUT}/guest-bin.c
            -P ${KVMPIT_DIR}/bin2c.cmake
    DEPENDS ${KVMPIT_DIR}/guest.S ${KVMPIT_DIR}/guest-abi.h ${KVMPIT_DIR}/bin2c.cmake
    COMMENT "Assembling the KVM test guest"
    VERBATIM)

  # The VMM and the demo.
  add_library(kvmpit STATIC ${KVMPIT_DIR}/vmm.c ${KVMPIT_DIR}/demo.c ${KVMPIT_OUT}/guest-bin.c)
  target_include_directories(kvmpit PUBLIC ${KVMPIT_DIR})
  target_link_libraries(kvmpit PUBLIC vmtime_static Threads::Threads m)

  add_executable(kvm-pit-demo ${KVMPIT_DIR}/main.c)
  target_link_libraries(kvm-pit-demo PRIVATE kvmpit)

  # `vmtime demo` runs the KVM demo and falls back to the simulated one.
  target_link_libraries(vmtime_tool PRIVATE kvmpit)
  target_compile_definitions(vmtime_tool PRIVATE VMT_HAVE_KVM_DEMO=1)
endif()

# tests/test-demo.c runs the vmtime tool.
if(TARGET test-demo)
  add_dependencies(test-demo vmtime_tool)
endif()

# `vmtime demo` where KVM is missing: it says so and runs the simulated guest
# (VMTIME_KVM_DEVICE points the VMM at a device node that does not exist).
add_test(NAME demo-no-kvm-fallback
  COMMAND vmtime_tool demo --duration-scale 0.05 --json)
set_tests_properties(demo-no-kvm-fallback PROPERTIES LABELS single TIMEOUT 60
  ENVIRONMENT VMTIME_KVM_DEVICE=/nonexistent/kvm
  PASS_REGULAR_EXPRESSION "running the simulated guest instead.*\"guest\":\"simulated\".*\"ok\":true"
  FAIL_REGULAR_EXPRESSION "\"ok\":false")
foreach(args "--duration-scale;nope" "--duration-scale;0" "--bogus")
  string(MAKE_C_IDENTIFIER "${args}" id)
  add_test(NAME demo-usage${id} COMMAND vmtime_tool demo ${args})
  set_tests_properties(demo-usage${id} PROPERTIES LABELS single TIMEOUT 60 WILL_FAIL TRUE)
endforeach()
