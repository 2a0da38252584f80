# SPDX-License-Identifier: MIT
# uninstall.cmake - remove what the last install wrote (cmake -P; `make
# uninstall`).  Variable: MANIFEST, the build tree's install_manifest.txt.
#
# The manifest lists the paths the install wrote, DESTDIR included, so the
# same DESTDIR must be set again; a path not under it is put under it.
# Directories the install created and left empty (include/vmtime,
# lib/cmake/vmtime, share/doc/vmtime...) go too.

if(NOT EXISTS "${MANIFEST}")
  message(FATAL_ERROR "uninstall: ${MANIFEST} not found (nothing installed from this build tree?)")
endif()
file(STRINGS "${MANIFEST}" files)
set(destdir "$ENV{DESTDIR}")
set(dirs)
set(removed 0)
foreach(f ${files})
  if(destdir AND NOT f MATCHES "^${destdir}")
    set(f "${destdir}${f}")
  endif()
  if(EXISTS "${f}" OR IS_SYMLINK "${f}")
    file(REMOVE "${f}")
    math(EXPR removed "${removed} + 1")
  endif()
  get_filename_component(d "${f}" DIRECTORY)
  list(APPEND dirs "${d}")
endforeach()

# Deepest first, and only directories of vmtime's own: a shared directory
# such as lib/pkgconfig or share/man/man3 stays even when empty.
list(REMOVE_DUPLICATES dirs)
list(SORT dirs ORDER DESCENDING)
foreach(d ${dirs})
  while(d MATCHES "/(include|cmake|share/doc)/vmtime(/.*)?$")
    file(GLOB left "${d}/*")
    if(left OR NOT IS_DIRECTORY "${d}")
      break()
    endif()
    file(REMOVE_RECURSE "${d}")
    get_filename_component(d "${d}" DIRECTORY)
  endwhile()
endforeach()
list(LENGTH files n)
message(STATUS "uninstall: removed ${removed} of the ${n} files listed in ${MANIFEST}")
