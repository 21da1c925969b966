#!/bin/sh
# Every C block of the API reference (docs/api/*.md) compiles as written against the engine's
# public headers (-Wall -Wextra -Werror), so that an example naming a function or a field that
# no longer exists fails here. (tests/lua/test_docs.lua runs the Lua blocks.)
#   c_docs.sh <engine source dir> <engine build dir>
set -eu
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count=0
for md in "$src"/docs/api/*.md; do
  awk -v out="$tmp/$(basename "$md" .md)" '
    /^```c[ \t]*$/ { n++; start = NR; file = sprintf("%s_%d.c", out, n)
                     printf "#include <stdio.h>\n#line %d \"%s\"\n", NR + 1, FILENAME > file
                     inblock = 1; next }
    inblock && /^```[ \t]*$/ { inblock = 0; close(file); next }
    inblock { print > file }
  ' "$md"
done
for c in "$tmp"/*.c; do
  [ -e "$c" ] || continue
  cc -std=c11 -Wall -Wextra -Werror -Wno-unused-function -fsyntax-only -I"$src" \
     -I"$build/generated/engine" "$c"
  count=$((count + 1))
done
[ "$count" -gt 0 ] || { echo "c_docs: no C blocks found in $src/docs/api" >&2; exit 1; }
echo "c_docs: $count C examples compile"
