# Turns the guest's flat binary into a C array, so the VMM embeds the guest
# without a binary blob in the repository.
#   cmake -DIN=guest.bin -DOUT=guest-bin.c -P bin2c.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n\t" bytes "${bytes}")
file(WRITE ${OUT} "/* Generated from guest.S by bin2c.cmake; do not edit. */\n"
  "#include <stddef.h>\n"
  "const unsigned char kvmpit_guest_bin[] = {\n\t${bytes}\n};\n"
  "const size_t kvmpit_guest_bin_len = ${len};\n")
