#!/usr/bin/env bash
# Fetches the docs page's assets (swagger-ui/) from the npm registry with `npm pack`, checks the
# tarball against the integrity the registry publishes for it, and copies the files the page
# serves, byte for byte, with their licence files; then writes swagger-ui/README.md with the
# package, version, integrity and each file's sha256. The version is pinned here: change VERSION
# and run it to move, then review the diff and the page (tests/tests/docs_page.rs).
#
#   runtime/assets/update.sh          fetch the pinned version and write the files
#   runtime/assets/update.sh --check  fetch it and check that the committed files are its own
set -euo pipefail
cd "$(dirname "$0")"

PACKAGE=swagger-ui-dist
VERSION=5.36.0
DIR=swagger-ui
# What the page loads, and the licence texts that go with it.
FILES=(swagger-ui-bundle.js swagger-ui.css index.css LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

integrity=$(npm view "$PACKAGE@$VERSION" dist.integrity)
tarball=$(cd "$work" && npm pack --silent "$PACKAGE@$VERSION" | tail -n 1)
actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w 0)"
if [ "$actual" != "$integrity" ]; then
    echo "$PACKAGE@$VERSION: the tarball's integrity is $actual, the registry says $integrity" >&2
    exit 1
fi
tar -xzf "$work/$tarball" -C "$work"

if [ "${1:-}" = "--check" ]; then
    status=0
    for file in "${FILES[@]}"; do
        if ! cmp -s "$work/package/$file" "$DIR/$file"; then
            echo "$DIR/$file is not the file of $PACKAGE@$VERSION" >&2
            status=1
        fi
    done
    if [ "$status" = 0 ]; then
        echo "$DIR/ holds the files of $PACKAGE@$VERSION ($integrity)"
    fi
    exit "$status"
fi

mkdir -p "$DIR"
for file in "${FILES[@]}"; do
    cp "$work/package/$file" "$DIR/$file"
done
{
    cat <<README
# Swagger UI, as the docs page serves it

The files of the npm package \`$PACKAGE\`, version $VERSION, unchanged: the API docs page
(\`src/docs.rs\`) embeds them in the binary with the \`docs-ui\` feature, so that the page needs no
network access and no CDN. Re-fetch or move them with \`runtime/assets/update.sh\` (\`--check\`
verifies these against the registry's package), never by hand.

- package: \`$PACKAGE@$VERSION\` ($(npm view "$PACKAGE@$VERSION" license) licence: \`LICENSE\` and
  \`NOTICE\`; the licences of the code bundled in \`swagger-ui-bundle.js\` are in
  \`swagger-ui-bundle.js.LICENSE.txt\`)
- integrity of the tarball (\`npm view $PACKAGE@$VERSION dist.integrity\`):
  \`$integrity\`
- sha256 of each file:

\`\`\`
README
    (cd "$DIR" && sha256sum "${FILES[@]}")
    echo '```'
} >"$DIR/README.md"
echo "wrote $DIR/ from $PACKAGE@$VERSION"
