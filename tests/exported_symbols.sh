#!/bin/sh
# What the host and libengine export: the public eng_ API (declared in a public header, one that
# pushes default visibility) and nothing else of ours; the host adds only the C runtime's own
# entries. Lua's API comes from liblua5.4, not from the host.
#   exported_symbols.sh <engine executable> <libengine.so> <engine source dir>/engine
set -eu
host=$1 lib=$2 headers=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the identifiers declared in public headers
for h in $(grep -rl '^#pragma GCC visibility push(default)' "$headers" --include='*.h'); do
  grep -o '\beng_[a-z0-9_]*\b' "$h" || true
done | sort -u >"$tmp/public"
# the C runtime's entries, and the sanitizers' own in their builds
runtime='^(_IO_stdin_used|__bss_start|__data_start|data_start|_edata|_end|_start|_init|_fini|std(in|out|err))$|^__(asan|odr_asan|tsan|ubsan|lsan|sancov)'
status=0
for bin in "$host" "$lib"; do
  nm -D --defined-only "$bin" | awk '{print $3}' | sed 's/@.*//' | sort -u >"$tmp/exported"
  count=$(grep -c '^eng_' "$tmp/exported" || true)
  if [ "$count" -lt 100 ]; then
    echo "$bin exports only $count eng_ symbols: is the public API hidden?" >&2
    status=1
  fi
  grep -Ev "$runtime" "$tmp/exported" | while read -r sym; do
    if ! grep -qx "$sym" "$tmp/public"; then
      echo "$bin exports $sym, which no public header declares" >&2
      echo x
    fi
  done >"$tmp/bad"
  [ -s "$tmp/bad" ] && status=1
  echo "$bin: $count public eng_ symbols exported, nothing else of ours"
done
exit $status
