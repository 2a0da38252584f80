# The Linux guest of issue 12: so far its time probe (examples/linux-guest),
# which the guest's initramfs will run.  It is plain Linux userspace, so a
# test runs it here too, and check-kvm's L1 (itself a Linux guest, of the
# emulator) could run it as well.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  add_executable(vmt-probe ${CMAKE_SOURCE_DIR}/examples/linux-guest/probe.c)
  add_test(NAME linux-probe COMMAND vmt-probe --period-ms 20 --count 5)
  set_tests_properties(linux-probe PROPERTIES LABELS single TIMEOUT 60
    PASS_REGULAR_EXPRESSION "vmt-probe seq=4 mono_ns=[0-9]+ real_ns=[0-9]+ rtc_s=-?[0-9]+ loc=-?[0-9]+ irq0=-?[0-9]+\n"
    FAIL_REGULAR_EXPRESSION "backwards")
  add_test(NAME linux-probe-usage COMMAND vmt-probe --period-ms 0)
  set_tests_properties(linux-probe-usage PROPERTIES LABELS single TIMEOUT 60 WILL_FAIL TRUE)
endif()
