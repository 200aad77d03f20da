#!/usr/bin/env bash
# Runs the test suite under Node 24 beside the Node 20 one, without touching this checkout's
# node_modules: Node 24 comes from the npm registry's platform package (node-linux-<arch>, the
# binary and headers the `node` package's installer would fetch), the checkout is copied to a
# temp dir, and `npm ci` there compiles re2 against Node 24's headers (`nodedir`). Both the Node
# download and the installed tree are cached under ${XDG_CACHE_HOME:-~/.cache}/chaperone-ci/node24.
# Last line: `node24: N passed, M failed`; exits non-zero when anything failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=.ci/tap-summary.sh
. "$root/.ci/tap-summary.sh"

major=24
label="node$major"
setup_failed() {
  echo "$label: $1" >&2
  echo "$label: 0 passed, 1 failed"
  exit 1
}

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) setup_failed "no node-linux package for $(uname -m)" ;;
esac
pkg="node-linux-$arch"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/chaperone-ci/node$major"
mkdir -p "$cache"

# The newest release of the pinned major; offline, the newest one a previous run left in the cache.
version=$(npm view "$pkg@$major" version --json 2>/dev/null | tr -d '[]", ' |
  grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -n 1 || true)
if [ -z "$version" ]; then
  version=$(find "$cache" -mindepth 1 -maxdepth 1 -type d -name "$major.*" -printf '%f\n' | sort -V | tail -n 1)
fi
[ -n "$version" ] || setup_failed "cannot resolve $pkg@$major from the registry and none is cached"

nodedir="$cache/$version"
if [ ! -x "$nodedir/bin/node" ] || [ ! -f "$nodedir/include/node/node.h" ]; then
  echo "$label: fetching $pkg@$version into $cache"
  fetch=$(mktemp -d "$cache/.fetch.XXXXXX")
  # npm pack checks the tarball against the registry's integrity hash; the unpacked tree is
  # moved into place only whole, so an interrupted fetch never looks like a cached one.
  if (cd "$fetch" && npm pack --silent "$pkg@$version" >/dev/null) &&
    tar -xzf "$fetch/$pkg-$version.tgz" -C "$fetch" &&
    [ -x "$fetch/package/bin/node" ] && [ -f "$fetch/package/include/node/node.h" ]; then
    rm -rf "$nodedir"
    mv "$fetch/package" "$nodedir"
    rm -rf "$fetch"
  else
    rm -rf "$fetch"
    setup_failed "could not fetch $pkg@$version (binary and headers)"
  fi
fi
actual=$("$nodedir/bin/node" --version) || setup_failed "$nodedir/bin/node does not run"
[[ "$actual" == "v$major."* ]] || setup_failed "$nodedir/bin/node is $actual, not $major.x"

work=$(mktemp -d "${TMPDIR:-/tmp}/chaperone-$label.XXXXXX")
out="$work.out"
trap 'rm -rf "$work" "$out"' EXIT
# Everything a clean clone has plus local edits, minus what is built or installed per runtime.
tar -C "$root" --exclude=./node_modules --exclude=./dist --exclude=./.git --exclude=./.tap \
  --exclude=./bench/tmp -cf - . | tar -C "$work" -xf -

cd "$work"
export PATH="$nodedir/bin:$PATH"
# node-gyp builds native modules (re2) against these headers instead of downloading them;
# re2's own installer would try a prebuilt binary from outside the registry first, skip that.
export npm_config_nodedir="$nodedir"
export DEVELOPMENT_SKIP_GETTING_ASSET=1
echo "$label: $(node --version) from $nodedir, npm $(npm --version), in $work"
# Compiling re2 takes minutes of CPU, so the installed tree is kept for the next run with the same
# lockfile, npm settings, Node version and arch (only the newest one: it is ~360 MB). It is stored
# before the tests run, so nothing a test writes ends up in it.
key=$({ cat package-lock.json; cat .npmrc 2>/dev/null || true; } | sha256sum | cut -c 1-16)-$version-$arch
modules="$cache/modules/$key"
if [ -d "$modules/node_modules" ]; then
  echo "$label: reusing node_modules from $modules"
  cp -a "$modules/node_modules" "$work/"
else
  npm ci --no-audit --no-fund || setup_failed "npm ci failed under $actual"
  rm -rf "$cache/modules"
  mkdir -p "$cache/modules"
  store=$(mktemp -d "$cache/modules/.store.XXXXXX")
  if cp -a node_modules "$store/"; then mv "$store" "$modules"; else rm -rf "$store"; fi
fi

status=0
npm test 2>&1 | tee "$out" || status=$?
tap_counts "$out" || status=1
[ "$TAP_FAIL" -eq 0 ] || status=1
echo "$label: $TAP_PASS passed, $TAP_FAIL failed"
exit "$status"
