# `make check-kvm` (tests/kvm/check-kvm.sh) runs the CTest tests labelled
# "kvm": directly where /dev/kvm works, otherwise inside a Linux kernel under
# QEMU's software emulation with nested SVM.  A test is labelled "kvm" when
# its source mentions VMT_TEST_KVM (as VMT_TEST_THREADED marks the threaded
# ones); tests added by cmake/*.cmake files append the label themselves.

file(GLOB VMT_KVM_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/test-*.c)
foreach(src ${VMT_KVM_TEST_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  file(STRINGS ${src} needs_kvm REGEX "VMT_TEST_KVM")
  if(needs_kvm AND TEST ${name})
    set_property(TEST ${name} APPEND PROPERTY LABELS kvm)
  endif()
endforeach()

# The VM kept open in the nested kernel for the whole run (see kvm-hold.c).
include(CheckIncludeFile)
check_include_file(linux/kvm.h VMT_HAVE_LINUX_KVM_H)
if(VMT_HAVE_LINUX_KVM_H)
  add_executable(kvm-hold ${CMAKE_SOURCE_DIR}/tests/kvm/kvm-hold.c)
endif()
