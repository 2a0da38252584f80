# `vmtime demo --listen PATH` lets `vmtime inspect --connect PATH` watch the
# demo's clock (tests/demo-listen-test.sh).
add_test(NAME demo-listen COMMAND bash ${CMAKE_SOURCE_DIR}/tests/demo-listen-test.sh
  $<TARGET_FILE:vmtime_tool>)
set_tests_properties(demo-listen PROPERTIES LABELS single TIMEOUT 60)
