# SPDX-License-Identifier: MIT
#
# headertest.cmake - compile every public header alone (run with cmake -P).
#
# A header that only compiles after some other include breaks users in ways
# the library's own build never sees, so each one is compiled in a translation
# unit of its own, twice in a row (the include guard must hold), as strict C11
# and, when a C++ compiler exists, as C++11.  The headers are globbed here, at
# test time, so a header added later is checked without touching the build.
# The umbrella vmtime.h must include every other header.
#
# Variables: CC, CXX (may be empty), INCLUDE_DIR, WORK_DIR.

if(NOT CC OR NOT INCLUDE_DIR OR NOT WORK_DIR)
  message(FATAL_ERROR "headertest: CC, INCLUDE_DIR and WORK_DIR are required")
endif()

file(GLOB headers RELATIVE ${INCLUDE_DIR}/vmtime ${INCLUDE_DIR}/vmtime/*.h)
list(SORT headers)
list(LENGTH headers nheaders)
if(nheaders EQUAL 0)
  message(FATAL_ERROR "headertest: no headers found in ${INCLUDE_DIR}/vmtime")
endif()
file(MAKE_DIRECTORY ${WORK_DIR})

set(failed "")
set(checked 0)
foreach(h ${headers})
  string(REGEX REPLACE "[^A-Za-z0-9]" "_" stem ${h})
  set(tu ${WORK_DIR}/${stem}.c)
  # The typedef keeps the unit non-empty even for a macro-only header.
  file(WRITE ${tu} "#include <vmtime/${h}>\n#include <vmtime/${h}>\ntypedef int vmt_headertest_${stem};\n")

  set(langs c)
  if(CXX)
    list(APPEND langs c++)
  endif()
  foreach(lang ${langs})
    if(lang STREQUAL "c")
      set(cmd ${CC} -x c -std=c11)
    else()
      set(cmd ${CXX} -x c++ -std=c++11)
    endif()
    execute_process(
      COMMAND ${cmd} -pedantic -Wall -Wextra -Werror -fsyntax-only -I${INCLUDE_DIR} ${tu}
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    math(EXPR checked "${checked} + 1")
    if(NOT rc EQUAL 0)
      message("FAIL vmtime/${h} does not compile alone as ${lang}:\n${out}")
      list(APPEND failed "vmtime/${h} (${lang})")
    endif()
  endforeach()

  if(NOT h STREQUAL "vmtime.h")
    file(STRINGS ${INCLUDE_DIR}/vmtime/vmtime.h inc REGEX "^#include [\"<](vmtime/)?${h}[\">]")
    if(NOT inc)
      message("FAIL vmtime/${h} is not included by vmtime/vmtime.h")
      list(APPEND failed "vmtime/${h} (missing from vmtime.h)")
    endif()
  endif()
endforeach()

# The integration headers (vmtime/integration/) need the library they adapt
# and stay out of vmtime.h: each compiles alone, in C11 and C++11, with its
# library's pkg-config flags, and is skipped on a machine without it.
find_program(PKG_CONFIG_EXE pkg-config)
set(integration_mods "uv.h=libuv" "glib.h=glib-2.0" "event.h=libevent" "sd-event.h=libsystemd")
file(GLOB iheaders RELATIVE ${INCLUDE_DIR}/vmtime/integration ${INCLUDE_DIR}/vmtime/integration/*.h)
list(SORT iheaders)
set(iskipped "")
foreach(h ${iheaders})
  set(mod "")
  foreach(pair ${integration_mods})
    if(pair MATCHES "^${h}=(.*)$")
      set(mod ${CMAKE_MATCH_1})
    endif()
  endforeach()
  if(NOT mod)
    message("FAIL vmtime/integration/${h}: no pkg-config module known (add it to integration_mods)")
    list(APPEND failed "vmtime/integration/${h} (unknown library)")
    continue()
  endif()
  set(rc 1)
  if(PKG_CONFIG_EXE)
    execute_process(COMMAND ${PKG_CONFIG_EXE} --cflags ${mod}
      RESULT_VARIABLE rc OUTPUT_VARIABLE cflags ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  if(NOT rc EQUAL 0)
    list(APPEND iskipped "${h} (no ${mod})")
    continue()
  endif()
  # -isystem: the adapted library's own headers are not ours to keep -Werror
  # clean.  _POSIX_C_SOURCE: strict C11 hides pthread_rwlock_t, which uv.h uses.
  separate_arguments(cflags UNIX_COMMAND "${cflags}")
  string(REGEX REPLACE "(^|;)-I" "\\1-isystem;" cflags "${cflags}")
  string(REGEX REPLACE "[^A-Za-z0-9]" "_" stem ${h})
  set(tu ${WORK_DIR}/integration_${stem}.c)
  file(WRITE ${tu} "#include <vmtime/integration/${h}>\n#include <vmtime/integration/${h}>\ntypedef int vmt_headertest_${stem};\n")
  set(langs c)
  if(CXX)
    list(APPEND langs c++)
  endif()
  foreach(lang ${langs})
    if(lang STREQUAL "c")
      set(cmd ${CC} -x c -std=c11)
    else()
      set(cmd ${CXX} -x c++ -std=c++11)
    endif()
    execute_process(
      COMMAND ${cmd} -pedantic -Wall -Wextra -Werror -fsyntax-only -D_POSIX_C_SOURCE=200809L -I${INCLUDE_DIR} ${cflags} ${tu}
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    math(EXPR checked "${checked} + 1")
    if(NOT rc EQUAL 0)
      message("FAIL vmtime/integration/${h} does not compile alone as ${lang}:\n${out}")
      list(APPEND failed "vmtime/integration/${h} (${lang})")
    endif()
  endforeach()
endforeach()
if(iskipped)
  string(REPLACE ";" ", " iskipped "${iskipped}")
  message("headertest: skipped integration headers: ${iskipped}")
endif()

if(failed)
  string(REPLACE ";" ", " failed "${failed}")
  message(FATAL_ERROR "headertest: failed: ${failed}")
endif()
if(CXX)
  message("headertest: ${nheaders} headers compile alone as C11 and C++11 (${checked} compilations)")
else()
  message("headertest: ${nheaders} headers compile alone as C11 (no C++ compiler found)")
endif()
