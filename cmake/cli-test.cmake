# SPDX-License-Identifier: MIT
# tests/test-cli.c runs the vmtime tool, so the tool must be built first.
if(TARGET test-cli)
  add_dependencies(test-cli vmtime_tool)
endif()
