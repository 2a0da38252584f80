# SPDX-License-Identifier: MIT
# The header test: every public header compiles alone as C11 and as C++11.
# The script globs include/vmtime/ when the test runs, so new headers are
# covered without editing this file.

include(CheckLanguage)
check_language(CXX)
set(VMT_HEADERTEST_CXX "")
if(CMAKE_CXX_COMPILER)
  set(VMT_HEADERTEST_CXX ${CMAKE_CXX_COMPILER})
else()
  find_program(VMT_HEADERTEST_CXX_PROG NAMES c++ g++ clang++)
  if(VMT_HEADERTEST_CXX_PROG)
    set(VMT_HEADERTEST_CXX ${VMT_HEADERTEST_CXX_PROG})
  endif()
endif()

add_test(NAME headertest
  COMMAND ${CMAKE_COMMAND}
    -DCC=${CMAKE_C_COMPILER}
    -DCXX=${VMT_HEADERTEST_CXX}
    -DINCLUDE_DIR=${CMAKE_SOURCE_DIR}/include
    -DWORK_DIR=${CMAKE_BINARY_DIR}/headertest
    -P ${CMAKE_SOURCE_DIR}/tests/headers/headertest.cmake)
set_tests_properties(headertest PROPERTIES LABELS single TIMEOUT 300)
