# Man pages, generated at build time from the public headers' kernel-doc
# (cmake/kdoc2man.pl) so they cannot drift from the declarations: a man3
# page per exported function and documented type, vmtime-MODULE(3) per
# header, libvmtime(3) as the index, and man/*.1 (vmtime(1), written by
# hand) with the release's version.  Every header in include/vmtime/ is
# picked up by pattern.  `make install` puts them in share/man/man{1,3}.
#
# Tests: man-coverage (every vmt_* symbol the shared library exports has a
# page, every documented function is exported), man-render (groff renders
# each page with all warnings on and prints none).

find_program(VMT_PERL perl)
if(NOT VMT_PERL)
  message(WARNING "perl not found: no man pages (Debian's perl-base provides it)")
  return()
endif()

file(GLOB VMT_PUBLIC_HEADERS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/include/vmtime/*.h)
file(GLOB VMT_MAN1_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/man/*.1)
list(SORT VMT_PUBLIC_HEADERS)

# The pages carry the release date CHANGELOG.md gives this version (not the
# build date: two builds of one release make the same pages).
file(STRINGS ${CMAKE_SOURCE_DIR}/CHANGELOG.md vmt_release_line
  REGEX "^## ${PROJECT_VERSION} - [0-9-]+$")
if(vmt_release_line MATCHES " - ([0-9-]+)$")
  set(VMT_RELEASE_DATE ${CMAKE_MATCH_1})
else()
  set(VMT_RELEASE_DATE "unreleased")
endif()

set(VMT_MAN_DIR ${CMAKE_BINARY_DIR}/man)
set(vmt_man1_args)
foreach(m ${VMT_MAN1_SOURCES})
  list(APPEND vmt_man1_args --man1 ${m})
endforeach()
add_custom_command(OUTPUT ${VMT_MAN_DIR}/functions.txt
  COMMAND ${VMT_PERL} ${CMAKE_SOURCE_DIR}/cmake/kdoc2man.pl --outdir ${VMT_MAN_DIR}
    --version ${PROJECT_VERSION} --date ${VMT_RELEASE_DATE} ${vmt_man1_args} ${VMT_PUBLIC_HEADERS}
  DEPENDS ${CMAKE_SOURCE_DIR}/cmake/kdoc2man.pl ${VMT_PUBLIC_HEADERS} ${VMT_MAN1_SOURCES}
    ${CMAKE_SOURCE_DIR}/CHANGELOG.md
  COMMENT "Generating man pages from the headers"
  VERBATIM)
add_custom_target(man ALL DEPENDS ${VMT_MAN_DIR}/functions.txt)

install(DIRECTORY ${VMT_MAN_DIR}/man1 ${VMT_MAN_DIR}/man3 DESTINATION ${CMAKE_INSTALL_MANDIR}
  OPTIONAL)

if(BUILD_TESTING)
  add_test(NAME man-coverage COMMAND bash ${CMAKE_SOURCE_DIR}/tests/man-test.sh coverage
    ${VMT_MAN_DIR} $<TARGET_FILE:vmtime>)
  add_test(NAME man-render COMMAND bash ${CMAKE_SOURCE_DIR}/tests/man-test.sh render ${VMT_MAN_DIR})
  set_tests_properties(man-coverage man-render PROPERTIES LABELS single TIMEOUT 120
    SKIP_RETURN_CODE 77)
endif()
