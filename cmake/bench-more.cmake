# bench-timers-more measures vmtime against libev, sd-event and GLib.  It
# links only those: libev's libevent emulation exports event_add(), ... under
# libevent's names, so libevent (and libuv, measured by bench-timers) stay
# out of this binary.  Debian ships libev without a .pc file; CMakeLists.txt
# then finds it by header and library (EV_LIB) and still defines
# VMT_HAVE_LIBEV.  A competitor that is missing is left out of the table.
if(TARGET bench-timers-more)
  set(vmt_bench_more_libs vmtime_static m ${CMAKE_DL_LIBS})
  if(BENCH_LIBEV_FOUND)
    list(APPEND vmt_bench_more_libs PkgConfig::BENCH_LIBEV)
  elseif(EV_LIB AND EXISTS /usr/include/ev.h)
    list(APPEND vmt_bench_more_libs ${EV_LIB})
  endif()
  if(BENCH_LIBSYSTEMD_FOUND)
    list(APPEND vmt_bench_more_libs PkgConfig::BENCH_LIBSYSTEMD)
    target_compile_definitions(bench-timers-more PRIVATE
      VMT_LIBSYSTEMD_VERSION="${BENCH_LIBSYSTEMD_VERSION}")
  endif()
  if(BENCH_GLIB_2_0_FOUND)
    list(APPEND vmt_bench_more_libs PkgConfig::BENCH_GLIB_2_0)
  endif()
  set_property(TARGET bench-timers-more PROPERTY LINK_LIBRARIES ${vmt_bench_more_libs})
endif()
