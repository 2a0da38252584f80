# SPDX-License-Identifier: MIT
# write-pc.cmake - write vmtime.pc at install time (included by the install
# script, so CMAKE_INSTALL_PREFIX is the final prefix, `--prefix` included,
# and DESTDIR is not part of it).
#
# Variables: VMT_PC_IN, VMT_PC_OUT, VMT_PC_VERSION, VMT_PC_LIBDIR and
# VMT_PC_INCLUDEDIR (as GNUInstallDirs gave them: relative to the prefix,
# or absolute).
#
# Directories under the prefix are written ${prefix}/..., others as they
# are: every path pkg-config prints is absolute, none is relative to the
# .pc file's own directory.

foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${VMT_PC_${d}}")
    set(VMT_PC_${d}_PATH "${VMT_PC_${d}}")
  else()
    set(VMT_PC_${d}_PATH "\${prefix}/${VMT_PC_${d}}")
  endif()
endforeach()
set(VMT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
configure_file("${VMT_PC_IN}" "${VMT_PC_OUT}" @ONLY)
