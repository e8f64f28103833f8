#!/usr/bin/env bash
# Prints the path of a working CPython 3.10 (pyenv shims may exist for an inactive version).
set -u
cands=("${PYTHON310:-}" python3.10)
if command -v pyenv >/dev/null 2>&1; then
  cands+=("$(pyenv root)"/versions/3.10*/bin/python3.10)
fi
cands+=(/root/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10)
for c in "${cands[@]}"; do
  [ -n "$c" ] || continue
  if "$c" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
    command -v "$c" 2>/dev/null || echo "$c"
    exit 0
  fi
done
echo "keras-au needs CPython 3.10 (TFX 1.16 pins); none found. Set PYTHON310=/path/to/python3.10." >&2
exit 1
