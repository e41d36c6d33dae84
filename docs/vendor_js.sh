#!/usr/bin/env bash
# Fetch again, from the npm registry, exactly the browser libraries the dashboard ships in
# framework/dashboard/static/vendor/, with their licences, and rewrite VERSIONS.md there.
#
# The dashboard serves these files itself: no page ever loads a script, a stylesheet or a
# font from anywhere but the dashboard's own server, and there is no JavaScript build step.
# To upgrade a library, change its version below, run this script from the repository root
# (it needs `npm` and `sha256sum`), check the dashboard's tests, and commit the result.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
dest="$repo/framework/dashboard/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# package@version  file-in-tarball  name-served  licence
LIBS=(
  "htmx.org@2.0.11           dist/htmx.min.js                  htmx-2.0.11.min.js            0BSD"
  "htmx-ext-sse@2.2.4        dist/sse.min.js                   htmx-ext-sse-2.2.4.min.js     0BSD"
  "uplot@1.6.32              dist/uPlot.iife.min.js            uplot-1.6.32.min.js           MIT"
  "uplot@1.6.32              dist/uPlot.min.css                uplot-1.6.32.min.css          MIT"
  "cytoscape@3.34.4          dist/cytoscape.min.js             cytoscape-3.34.4.min.js       MIT"
  "cytoscape-dagre@4.0.1     dist/cytoscape-dagre.min.js       cytoscape-dagre-4.0.1.min.js  MIT"
)
# cytoscape-dagre 4.0.1 bundles the layout it needs, @dagrejs/dagre 3.0.0 (with its graphlib),
# inside its own file; only dagre's licence is fetched to sit beside it.
LICENCE_ONLY=("@dagrejs/dagre@3.0.0  dagre-3.0.0")

fetch() {  # fetch PACKAGE@VERSION -> the folder it was unpacked into
  local spec="$1" dir="$work/$(echo "$1" | tr '/@' '__')"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$spec" >/dev/null && tar xzf ./*.tgz)
  fi
  echo "$dir/package"
}

mkdir -p "$dest"
find "$dest" -maxdepth 1 -type f -delete

{
  echo "# Vendored browser libraries"
  echo
  echo "Served by the dashboard from \`/static/vendor/\`; fetched from the npm registry by"
  echo "\`docs/vendor_js.sh\`, which rewrites this file. Each licence sits beside its files."
  echo
  echo "| Name | Version | Licence | File | Source | Licence file |"
  echo "|---|---|---|---|---|---|"
} > "$work/VERSIONS.md"

for line in "${LIBS[@]}"; do
  read -r spec inner served licence <<<"$line"
  pkg="$(fetch "$spec")"
  name="${spec%@*}"; version="${spec##*@}"
  cp "$pkg/$inner" "$dest/$served"
  licence_file="${served%%.min.*}.LICENSE.txt"
  cp "$pkg/LICENSE" "$dest/$licence_file"
  tarball="https://registry.npmjs.org/$name/-/${name##*/}-$version.tgz"
  echo "| $name | $version | $licence | $served | $tarball ($inner) | $licence_file |" >> "$work/VERSIONS.md"
done
for line in "${LICENCE_ONLY[@]}"; do
  read -r spec stem <<<"$line"
  pkg="$(fetch "$spec")"
  name="${spec%@*}"; version="${spec##*@}"
  cp "$pkg/LICENSE" "$dest/$stem.LICENSE.txt"
  tarball="https://registry.npmjs.org/$name/-/${name##*/}-$version.tgz"
  echo "| $name | $version | MIT | bundled in cytoscape-dagre-4.0.1.min.js | $tarball | $stem.LICENSE.txt |" >> "$work/VERSIONS.md"
done

{
  echo
  echo "## SHA-256"
  echo
  echo '```'
  (cd "$dest" && sha256sum -- *.js *.css)
  echo '```'
} >> "$work/VERSIONS.md"
cp "$work/VERSIONS.md" "$dest/VERSIONS.md"
echo "vendored into $dest:"
ls -l "$dest"
