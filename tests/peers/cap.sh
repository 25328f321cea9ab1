#!/usr/bin/env bash
# SAP CAP as a test peer: an OData v4 service of our own (tests/peers/cap/) on @sap/cds 8.
#
#   bash tests/peers/cap.sh install    # installs its npm packages once, prints the folder
#   bash tests/peers/cap.sh run DIR    # a fresh copy of the service in DIR, started in the
#                                      # foreground (exec node: a signal stops it)
#
# The packages go to ${BATCHSYNC_PEER_CACHE:-$HOME/.cache/batchsync-peers}/cap-HASH, HASH
# being that of package.json, package-lock.json and the Node ABI; never into the source
# tree. Needs node and npm (Debian 12: apt-get install nodejs npm libnode-dev python3 make
# g++; better-sqlite3 compiles from source). `run` takes PORT (0: any free port, printed as
# "batchsync-cap listening on http://127.0.0.1:PORT/"), BATCHSYNC_CAP_PAGE_MAX and
# BATCHSYNC_CAP_PRODUCTS / _ORDERLINES / _CURRENCIES (see cap/start.js).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
project="$here/cap"

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "batchsync cap peer: '$1' not found (apt-get install nodejs npm libnode-dev python3 make g++)" >&2
        exit 3
    fi
}

install() {
    need node
    need npm
    local cache abi hash dir
    cache="${BATCHSYNC_PEER_CACHE:-${HOME:-/tmp}/.cache/batchsync-peers}"
    abi=$(node -p 'process.versions.modules + "-" + process.arch')
    hash=$( (cat "$project/package.json" "$project/package-lock.json"; echo "$abi") |
        sha256sum | cut -c1-16)
    dir="$cache/cap-$hash"
    mkdir -p "$cache"
    # Several test processes may install at once: one does, the others wait and reuse it.
    exec 9>"$cache/cap.lock"
    flock 9
    if [ ! -f "$dir/.installed" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        cp "$project/package.json" "$project/package-lock.json" "$dir/"
        echo "batchsync cap peer: installing into $dir" >&2
        local start=$SECONDS
        # No prebuilt better-sqlite3 is downloaded: it compiles against this Node.
        if ! (cd "$dir" && npm_config_build_from_source=true \
            npm ci --no-audit --no-fund --omit=dev >&2); then
            rm -rf "$dir"
            echo "batchsync cap peer: npm ci failed" >&2
            exit 1
        fi
        # An npm that skipped better-sqlite3's build script leaves CAP without its database.
        if [ ! -f "$dir/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ]; then
            rm -rf "$dir"
            echo "batchsync cap peer: better-sqlite3 was not built (npm skipped its install script?)" >&2
            exit 1
        fi
        touch "$dir/.installed"
        echo "batchsync cap peer: installed in $((SECONDS - start)) s" >&2
    fi
    flock -u 9
    echo "$dir"
}

case "${1:-}" in
install)
    install
    ;;
run)
    work="${2:?usage: cap.sh run DIR}"
    modules="$(install)/node_modules"
    mkdir -p "$work"
    cp -r "$project/package.json" "$project/start.js" "$project/seed.js" "$project/db" \
        "$project/srv" "$work/"
    ln -sfn "$modules" "$work/node_modules"
    cd "$work"
    exec node start.js
    ;;
*)
    echo "usage: $0 install | run DIR" >&2
    exit 2
    ;;
esac
