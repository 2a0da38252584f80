# Loop adapter examples (examples/loop-adapters): vmtime's loop inside epoll,
# libuv, GLib, libevent and sd-event, the last four through the headers of
# include/vmtime/integration/.  Each runs a real VM clock for about 250 ms and
# is a CTest test.  The epoll one needs nothing and is always built; the
# others only when CMakeLists.txt found their library with pkg-config, so
# `make check` never requires them.

set(VMT_ADAPTERS_DIR ${CMAKE_SOURCE_DIR}/examples/loop-adapters)

function(vmt_loop_adapter loop)
  set(name example-${loop})
  if(NOT EXISTS ${VMT_ADAPTERS_DIR}/${loop}.c)
    return()
  endif()
  add_executable(${name} ${VMT_ADAPTERS_DIR}/${loop}.c)
  # Built like user code: public headers only, the shared library.
  target_link_libraries(${name} PRIVATE vmtime ${ARGN})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS single TIMEOUT 60
    PASS_REGULAR_EXPRESSION "^${loop}: .*: ok\n$")
endfunction()

vmt_loop_adapter(epoll)
if(TARGET PkgConfig::BENCH_LIBUV)
  vmt_loop_adapter(libuv PkgConfig::BENCH_LIBUV)
endif()
if(TARGET PkgConfig::BENCH_GLIB_2_0)
  vmt_loop_adapter(glib PkgConfig::BENCH_GLIB_2_0)
endif()
if(TARGET PkgConfig::BENCH_LIBEVENT)
  vmt_loop_adapter(libevent PkgConfig::BENCH_LIBEVENT)
endif()
if(TARGET PkgConfig::BENCH_LIBSYSTEMD)
  vmt_loop_adapter(sd-event PkgConfig::BENCH_LIBSYSTEMD)
endif()
