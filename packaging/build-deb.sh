#!/usr/bin/env bash
# Builds the Debian package: target/debian/ugyelet_<version>-1_<arch>.deb
#
#   packaging/build-deb.sh            # release build, packaged config, cargo deb
#
# Needs cargo-deb (`cargo install cargo-deb --locked`); installs it when missing.
# Honours CARGO_TARGET_DIR. Prints the path of the package on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}

if ! cargo deb --version >/dev/null 2>&1; then
    echo "build-deb: cargo-deb missing, installing it" >&2
    cargo install cargo-deb --locked --version '^3'
fi

cargo build --release --locked

# The packaged /etc/ugyelet/ugyelet.toml, an asset of the package (see Cargo.toml).
mkdir -p "$target/release/packaged"
packaging/packaged-config.sh >"$target/release/packaged/ugyelet.toml"

# Stripped binary in the package; its debug symbols (profile.release has debug = 1) in
# a separate ugyelet-dbgsym .ddeb next to it, for symbolising backtraces and profiles.
cargo deb --no-build --locked --dbgsym >&2
ls -t "$target"/debian/ugyelet_*.deb | head -n 1
