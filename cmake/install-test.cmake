# `make install` delivers a library a program can build against with
# pkg-config alone (tests/install-test.sh).  Plain builds only: a sanitizer
# build's library needs the sanitizer runtime in every consumer.
if(VMT_SANITIZE STREQUAL "")
  add_test(NAME install COMMAND bash ${CMAKE_SOURCE_DIR}/tests/install-test.sh
    ${CMAKE_BINARY_DIR} ${CMAKE_C_COMPILER})
  set_tests_properties(install PROPERTIES SKIP_RETURN_CODE 77 LABELS single TIMEOUT 120)
endif()
