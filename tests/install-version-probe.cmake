# SPDX-License-Identifier: MIT
# install-version-probe.cmake - evaluate an installed vmtimeConfigVersion.cmake
# as find_package(vmtime PACKAGE_FIND_VERSION) does and print "compatible"
# or "incompatible" (cmake -P; tests/install-test.sh).
# Variables: FILE, PACKAGE_FIND_VERSION, CMAKE_SIZEOF_VOID_P (the version
# file refuses a package built for another pointer size).
string(REPLACE "." ";" parts "${PACKAGE_FIND_VERSION}")
list(LENGTH parts PACKAGE_FIND_VERSION_COUNT)
list(APPEND parts 0 0 0)
list(GET parts 0 PACKAGE_FIND_VERSION_MAJOR)
list(GET parts 1 PACKAGE_FIND_VERSION_MINOR)
list(GET parts 2 PACKAGE_FIND_VERSION_PATCH)
include(${FILE})
if(PACKAGE_VERSION_COMPATIBLE AND NOT PACKAGE_VERSION_UNSUITABLE)
  message("compatible")
else()
  message("incompatible")
endif()
