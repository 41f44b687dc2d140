#!/usr/bin/env bash
# Builds the Debian package and checks it, for CI and before a release:
#
#   packaging/test-deb.sh              # build, check contents, metadata, unit, shipped data
#   packaging/test-deb.sh --deb FILE   # check a package built before
#   packaging/test-deb.sh --install    # and also install, check, purge on THIS machine (root)
#
# Checks: every file the service needs is in the package at its documented path with the
# right mode, nothing else is; /etc files are conffiles; the maintainer scripts carry the
# systemd snippets; the unit passes `systemd-analyze verify` (when systemd-analyze exists);
# the packaged binary accepts the packaged configuration, dial plan, calendar and prompts
# (`ugyelet check`) exactly as the unit runs it. --install adds the real thing: dpkg -i
# creates the ugyelet user and state directory, `ugyelet check` passes as that user, and
# purge removes the state. It changes the machine, so it only runs when asked.
set -euo pipefail
cd "$(dirname "$0")/.."

install=false
deb=
while [ $# -gt 0 ]; do
    case $1 in
    --install) install=true ;;
    --deb)
        deb=${2:?--deb needs a file}
        shift
        ;;
    *)
        echo "test-deb: expected --install or --deb FILE, found $1" >&2
        exit 2
        ;;
    esac
    shift
done

fail() {
    echo "test-deb: FAIL: $*" >&2
    exit 1
}

[ -n "$deb" ] || deb=$(packaging/build-deb.sh | tail -n 1)
[ -f "$deb" ] || fail "no package at ${deb:-(build-deb.sh printed no path)}"
echo "test-deb: package $deb"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- contents
dpkg-deb -c "$deb" >"$work/contents"
# "mode path" for every regular file, without the leading "." of the path.
awk '$1 ~ /^-/ { p = $6; sub(/^\./, "", p); print $1, p }' "$work/contents" | sort >"$work/files"

expect_file() { # mode path
    grep -qxF -- "$1 $2" "$work/files" || fail "expected $2 with mode $1; package has: $(grep -F " $2" "$work/files" || echo nothing)"
}
expect_file -rwxr-xr-x /usr/bin/ugyelet
expect_file -rw-r--r-- /usr/lib/systemd/system/ugyelet.service
expect_file -rw-r--r-- /etc/ugyelet/ugyelet.toml
expect_file -rw-r--r-- /etc/ugyelet/forms.toml
for f in config/forms/*.pdf; do
    expect_file -rw-r--r-- "/etc/ugyelet/forms/$(basename "$f")"
done
expect_file -rw------- /etc/ugyelet/environment
expect_file -rw-r--r-- /etc/ugyelet/dialplans/main.toml
for f in dialplans/calendar/*.toml; do
    expect_file -rw-r--r-- "/etc/ugyelet/dialplans/calendar/$(basename "$f")"
done
expect_file -rw-r--r-- /usr/share/ugyelet/prompts/hu/manifest.toml
wavs=0
for f in prompts/hu/*.wav; do
    expect_file -rw-r--r-- "/usr/share/ugyelet/prompts/hu/$(basename "$f")"
    wavs=$((wavs + 1))
done
for d in README.md DESIGN.md packaging.md dialplans.md calendar.md copyright \
    examples/fail2ban/filter.d/ugyelet.conf examples/fail2ban/jail.d/ugyelet.conf; do
    expect_file -rw-r--r-- "/usr/share/doc/ugyelet/$d"
done
# Nothing outside the documented places.
if grep -vE ' /(usr/bin/ugyelet|usr/lib/systemd/system/ugyelet\.service|etc/ugyelet/.*|usr/share/ugyelet/prompts/hu/.*|usr/share/doc/ugyelet/.*)$' "$work/files" >"$work/stray"; then
    fail "unexpected files in the package: $(cat "$work/stray")"
fi
# Every prompt the manifest names is shipped.
while read -r wav; do
    expect_file -rw-r--r-- "/usr/share/ugyelet/prompts/hu/$wav"
done < <(sed -n 's/^file = "\(.*\)"$/\1/p' prompts/hu/manifest.toml)
echo "test-deb: contents ok ($(wc -l <"$work/files") files, $wavs prompts)"

# ---------------------------------------------------------------- metadata
dpkg-deb -e "$deb" "$work/DEBIAN"
grep -q '^Package: ugyelet$' "$work/DEBIAN/control" || fail "control: Package"
grep -Eq '^Depends:.*\badduser\b' "$work/DEBIAN/control" || fail "control: Depends lacks adduser"
grep -Eq '^Depends:.*\bca-certificates\b' "$work/DEBIAN/control" ||
    fail "control: Depends lacks ca-certificates (TLS to the SMS gateway and SMTP)"
for c in /etc/ugyelet/ugyelet.toml /etc/ugyelet/forms.toml /etc/ugyelet/environment \
    /etc/ugyelet/dialplans/main.toml; do
    grep -qxF "$c" "$work/DEBIAN/conffiles" || fail "$c is not a conffile"
done
for f in dialplans/calendar/*.toml; do
    grep -qxF "/etc/ugyelet/dialplans/calendar/$(basename "$f")" "$work/DEBIAN/conffiles" ||
        fail "calendar file $(basename "$f") is not a conffile"
done
for f in config/forms/*.pdf; do
    grep -qxF "/etc/ugyelet/forms/$(basename "$f")" "$work/DEBIAN/conffiles" ||
        fail "form $(basename "$f") is not a conffile"
done
grep -q 'adduser --system' "$work/DEBIAN/postinst" || fail "postinst creates no system user"
grep -q 'deb-systemd-helper' "$work/DEBIAN/postinst" || fail "postinst lacks the systemd snippets"
grep -q '#DEBHELPER#' "$work/DEBIAN/postinst" && fail "postinst still has the #DEBHELPER# token"
grep -q 'rm -rf /var/lib/ugyelet' "$work/DEBIAN/postrm" || fail "postrm does not purge the state"
for s in postinst postrm prerm preinst; do
    [ -f "$work/DEBIAN/$s" ] && { sh -n "$work/DEBIAN/$s" || fail "$s: shell syntax"; }
done
echo "test-deb: metadata ok"

# ---------------------------------------------------------------- unpacked tree
dpkg-deb -x "$deb" "$work/root"
if command -v readelf >/dev/null; then
    readelf -S "$work/root/usr/bin/ugyelet" | grep -q '\.debug_info' &&
        fail "/usr/bin/ugyelet carries debug info (it belongs in the -dbgsym package)"
fi
if command -v systemd-analyze >/dev/null; then
    # A root holding the unpacked package plus what the unit refers to on any Debian
    # system (the host's units such as sysinit.target, and kill), so that verify checks the
    # packaged unit against the packaged /usr/bin/ugyelet without installing anything.
    vroot="$work/vroot"
    cp -a "$work/root" "$vroot"
    cp -rn /usr/lib/systemd/system/. "$vroot/usr/lib/systemd/system/"
    cp /usr/bin/kill "$vroot/usr/bin/kill"
    ln -s usr/bin "$vroot/bin"
    systemd-analyze verify --root="$vroot" /usr/lib/systemd/system/ugyelet.service 2>"$work/verify" ||
        fail "systemd-analyze verify: $(cat "$work/verify")"
    [ -s "$work/verify" ] && fail "systemd-analyze verify warned: $(cat "$work/verify")"
    echo "test-deb: systemd-analyze verify ok"
else
    echo "test-deb: systemd-analyze not found, unit not verified"
fi

# The unit's ExecStartPre, with the unit's environment moved under the unpacked root.
unit="$work/root/usr/lib/systemd/system/ugyelet.service"
env_args=()
while IFS= read -r kv; do
    key=${kv%%=*}
    env_args+=("$key=$work/root${kv#*=}")
done < <(sed -n 's/^Environment=\(UGYELET_[A-Z_]*=.*\)$/\1/p' "$unit")
[ "${#env_args[@]}" -eq 5 ] || fail "expected 5 path overrides in the unit, found ${#env_args[@]}"
grep -qxF 'ExecStartPre=/usr/bin/ugyelet --config /etc/ugyelet/ugyelet.toml check' "$unit" ||
    fail "unit: ExecStartPre is not the check"
grep -qxF 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" || fail "unit: ExecReload does not send SIGHUP"
env -i PATH=/usr/bin:/bin "${env_args[@]}" "$work/root/usr/bin/ugyelet" \
    --config "$work/root/etc/ugyelet/ugyelet.toml" check >"$work/check.out" 2>&1 ||
    fail "packaged ugyelet check: $(cat "$work/check.out")"
echo "test-deb: packaged check: $(tail -n 1 "$work/check.out")"
# The packaged config names the same paths as the unit, so a hand-run check agrees.
for kv in "${env_args[@]}"; do
    value=${kv#*=}
    value=${value#"$work/root"}
    grep -qF "\"$value\"" "$work/root/etc/ugyelet/ugyelet.toml" ||
        fail "packaged ugyelet.toml does not name $value"
done
echo "test-deb: unit and packaged config agree"

# ---------------------------------------------------------------- install (opt-in)
if $install; then
    [ "$(id -u)" -eq 0 ] || fail "--install needs root"
    dpkg -i "$deb"
    getent passwd ugyelet >/dev/null || fail "no ugyelet user after install"
    [ "$(stat -c '%U:%G %a' /var/lib/ugyelet)" = "ugyelet:ugyelet 750" ] ||
        fail "/var/lib/ugyelet is $(stat -c '%U:%G %a' /var/lib/ugyelet)"
    [ "$(stat -c '%U %a' /etc/ugyelet/environment)" = "root 600" ] ||
        fail "/etc/ugyelet/environment is $(stat -c '%U %a' /etc/ugyelet/environment)"
    systemd-analyze verify /usr/lib/systemd/system/ugyelet.service
    # As the service user, with the unit's environment and nothing else.
    unit_env=()
    while IFS= read -r kv; do unit_env+=("$kv"); done \
        < <(sed -n 's/^Environment=\(UGYELET_[A-Z_]*=.*\)$/\1/p' /usr/lib/systemd/system/ugyelet.service)
    setpriv --reuid=ugyelet --regid=ugyelet --init-groups \
        env -i PATH=/usr/bin:/bin "${unit_env[@]}" \
        /usr/bin/ugyelet --config /etc/ugyelet/ugyelet.toml check
    setpriv --reuid=ugyelet --regid=ugyelet --init-groups \
        env -i PATH=/usr/bin:/bin "${unit_env[@]}" \
        /usr/bin/ugyelet --config /etc/ugyelet/ugyelet.toml override closed --reason "test-deb"
    [ -n "$(find /var/lib/ugyelet -type f -user ugyelet)" ] || fail "override wrote nothing to /var/lib/ugyelet"
    dpkg --purge ugyelet
    [ ! -e /var/lib/ugyelet ] || fail "purge left /var/lib/ugyelet"
    [ ! -e /usr/bin/ugyelet ] || fail "purge left /usr/bin/ugyelet"
    echo "test-deb: install, check as ugyelet, override, purge ok"
fi

echo "test-deb: ok"
