# bench-now and bench-timers link only what they measure against.  The
# generic rule links every competitor found into every benchmark, and libev's
# libevent emulation exports event_add(), event_del(), ... under the same
# names as libevent: whichever library the linker lists first wins, and
# libevent's event_base with libev's event_add() crashes.
if(TARGET bench-timers)
  set(vmt_bench_timers_libs vmtime_static m)
  if(BENCH_LIBUV_FOUND)
    list(APPEND vmt_bench_timers_libs PkgConfig::BENCH_LIBUV)
  endif()
  if(BENCH_LIBEVENT_FOUND)
    list(APPEND vmt_bench_timers_libs PkgConfig::BENCH_LIBEVENT)
  endif()
  set_property(TARGET bench-timers PROPERTY LINK_LIBRARIES ${vmt_bench_timers_libs})
endif()
if(TARGET bench-now)
  set_property(TARGET bench-now PROPERTY LINK_LIBRARIES vmtime_static m)
endif()

# `cmake --build DIR --target benchmarks` builds only the benchmarks (and the
# library), so a test being edited elsewhere in the tree cannot stop a
# benchmark run.
set(vmt_bench_targets)
foreach(src ${VMT_BENCH_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  list(APPEND vmt_bench_targets ${name})
endforeach()
if(vmt_bench_targets)
  add_custom_target(benchmarks DEPENDS ${vmt_bench_targets})
endif()
