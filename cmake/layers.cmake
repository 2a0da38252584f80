# The includes of src/ only point down the layers (tests/layers-test.sh).
add_test(NAME layers COMMAND sh ${CMAKE_SOURCE_DIR}/tests/layers-test.sh ${CMAKE_SOURCE_DIR}/src)
set_tests_properties(layers PROPERTIES LABELS single TIMEOUT 60)
