# `make install` delivers a library a program can build against with
# pkg-config or find_package alone, under DESTDIR too, and `make uninstall`
# removes it (tests/install-test.sh).  Plain builds only: a sanitizer
# build's library needs the sanitizer runtime in every consumer.
if(VMT_SANITIZE STREQUAL "")
  add_test(NAME install COMMAND bash ${CMAKE_SOURCE_DIR}/tests/install-test.sh
    ${CMAKE_BINARY_DIR} ${CMAKE_C_COMPILER})
  set_tests_properties(install PROPERTIES SKIP_RETURN_CODE 77 LABELS single TIMEOUT 300)
endif()

# vmtime --version prints the library's version.
add_test(NAME tool-version COMMAND vmtime_tool --version)
set_tests_properties(tool-version PROPERTIES LABELS single
  PASS_REGULAR_EXPRESSION "^vmtime ${PROJECT_VERSION}\n$")

# A distribution's build: -DBUILD_TESTING=OFF -DVMT_WERROR=OFF
# (tests/packager-build.sh builds the tree again in a scratch directory).
if(VMT_SANITIZE STREQUAL "")
  add_test(NAME packager-build COMMAND bash ${CMAKE_SOURCE_DIR}/tests/packager-build.sh
    ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR} ${CMAKE_C_COMPILER})
  set_tests_properties(packager-build PROPERTIES LABELS single TIMEOUT 600)
endif()
