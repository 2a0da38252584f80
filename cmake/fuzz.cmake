# Snapshot fuzzing and tool tests (see tests/fuzz/).
#
# fuzz-snapshot-replay: the fuzz target driven by a plain main() over the seed
# corpus and the golden files; always built and run by CTest.
# fuzz-snapshot: the libFuzzer binary, only when a clang that supports
# -fsanitize=fuzzer is found (checked at configure time); not built by
# default: `cmake --build B --target fuzz-snapshot`, then
# `B/fuzz-snapshot -max_total_time=300 NEW_CORPUS_DIR tests/fuzz/corpus`.

set(VMT_FUZZ_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz)

add_executable(fuzz-snapshot-replay ${VMT_FUZZ_DIR}/replay.c ${VMT_FUZZ_DIR}/fuzz-snapshot.c)
target_include_directories(fuzz-snapshot-replay PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(fuzz-snapshot-replay PRIVATE vmtime_static)
add_test(NAME fuzz-snapshot-replay
  COMMAND fuzz-snapshot-replay ${VMT_FUZZ_DIR}/corpus ${CMAKE_SOURCE_DIR}/tests/golden)
set_tests_properties(fuzz-snapshot-replay PROPERTIES LABELS single TIMEOUT 120)

# The tool's exit status on a valid and on a damaged file.
add_test(NAME snapshot-tool-check-valid
  COMMAND vmtime_tool snapshot check ${CMAKE_SOURCE_DIR}/tests/golden/valid.snap)
add_test(NAME snapshot-tool-check-damaged
  COMMAND vmtime_tool snapshot check ${CMAKE_SOURCE_DIR}/tests/golden/bad-section-crc.snap)
add_test(NAME snapshot-tool-show
  COMMAND vmtime_tool snapshot show --json ${CMAKE_SOURCE_DIR}/tests/golden/valid.snap)
set_tests_properties(snapshot-tool-check-valid snapshot-tool-check-damaged snapshot-tool-show
  PROPERTIES LABELS single)
set_tests_properties(snapshot-tool-check-damaged PROPERTIES WILL_FAIL TRUE)
set_tests_properties(snapshot-tool-show PROPERTIES
  PASS_REGULAR_EXPRESSION "\"name\": \"rtc\", \"payload_version\": 3")

# A packager's build (BUILD_TESTING=OFF) neither looks for clang nor probes it.
if(BUILD_TESTING)
  find_program(VMT_CLANG NAMES clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14)
endif()
if(VMT_CLANG AND NOT DEFINED VMT_CLANG_FUZZER_OK)
  set(_probe ${CMAKE_BINARY_DIR}/fuzz-probe.c)
  file(WRITE ${_probe} "#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
  execute_process(COMMAND ${VMT_CLANG} -fsanitize=fuzzer ${_probe} -o ${CMAKE_BINARY_DIR}/fuzz-probe
    RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
  if(_rc EQUAL 0)
    set(VMT_CLANG_FUZZER_OK TRUE CACHE INTERNAL "clang can build libFuzzer targets")
  else()
    set(VMT_CLANG_FUZZER_OK FALSE CACHE INTERNAL "clang can build libFuzzer targets")
  endif()
endif()

if(VMT_CLANG_FUZZER_OK)
  # Compiled directly with clang (the main build may use gcc): only the
  # snapshot sources are needed.
  set(_fuzz_srcs ${CMAKE_SOURCE_DIR}/src/snapshot.c ${CMAKE_SOURCE_DIR}/src/fields.c
    ${CMAKE_SOURCE_DIR}/src/crc32c.c ${CMAKE_SOURCE_DIR}/src/json.c
    ${CMAKE_SOURCE_DIR}/src/error.c ${VMT_FUZZ_DIR}/fuzz-snapshot.c)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/fuzz-snapshot
    COMMAND ${VMT_CLANG} -g -O1 -std=c11 -D_GNU_SOURCE -DVMT_BUILDING_LIBRARY
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
      -I${CMAKE_SOURCE_DIR}/include -I${CMAKE_SOURCE_DIR}/src
      ${_fuzz_srcs} -o ${CMAKE_BINARY_DIR}/fuzz-snapshot -lpthread
    DEPENDS ${_fuzz_srcs} ${CMAKE_SOURCE_DIR}/include/vmtime/snapshot.h
      ${CMAKE_SOURCE_DIR}/src/crc32c.h ${CMAKE_SOURCE_DIR}/src/fields.h
      ${CMAKE_SOURCE_DIR}/src/json.h ${CMAKE_SOURCE_DIR}/src/array.h
    COMMENT "Building libFuzzer target fuzz-snapshot with ${VMT_CLANG}")
  add_custom_target(fuzz-snapshot DEPENDS ${CMAKE_BINARY_DIR}/fuzz-snapshot)
endif()
