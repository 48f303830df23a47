#!/bin/sh
# tree-copy.sh <dest> [<commit> <path>…]: a copy of this repo's working tree (built dist/ included,
# no .git) at <dest> that runs on its own: node_modules holds links to this repo's packages,
# except @meshwork/*, which link into the copy. With a commit and paths, those files are taken
# from that commit and the copy is rebuilt (tsc -b, incremental): the "before" side of a same-run
# A/B (sidecar-ab.mjs) that differs from the working tree only in those paths.
set -eu
dest=$1
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$dest"
rsync -a --delete --exclude /node_modules --exclude /.git --exclude '/bench/results' "$root/" "$dest/"
mkdir -p "$dest/node_modules/@meshwork"
for m in "$root"/node_modules/* "$root"/node_modules/.bin; do
  n=$(basename "$m")
  [ "$n" = "@meshwork" ] && continue
  ln -sfn "$m" "$dest/node_modules/$n"
done
for m in "$root"/node_modules/@meshwork/*; do
  ln -sfn "$(readlink "$m")" "$dest/node_modules/@meshwork/$(basename "$m")"
done
if [ $# -gt 0 ]; then
  commit=$1
  shift
  for p in "$@"; do git -C "$root" show "$commit:$p" >"$dest/$p"; done
  (cd "$dest" && "$root/node_modules/.bin/tsc" -b tsconfig.build.json)
fi
