# Writes the file IN as a C byte array NAME (zero-terminated) into OUT:
#   cmake -DIN=... -DOUT=... -DNAME=... -P embed.cmake
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* Generated from ${IN} by cmake/embed.cmake. */\nstatic const char ${NAME}[] = {${bytes} 0};\n")
