#!/usr/bin/env bash
# Prints the packaged /etc/ugyelet/ugyelet.toml: config/ugyelet.toml with the paths where the
# Debian package and the container image install things. One documented configuration file
# in the repository, no copy to drift; fails if a path line is no longer there to replace.
#
#   packaging/packaged-config.sh > ugyelet.toml
set -euo pipefail
cd "$(dirname "$0")/.."

text=$(cat config/ugyelet.toml)
substitute() { # key, value in config/ugyelet.toml, packaged value
    local from="$1 = \"$2\"" to="$1 = \"$3\""
    if ! grep -qxF "$from" <<<"$text"; then
        echo "packaged-config: config/ugyelet.toml has no line '$from'" >&2
        exit 1
    fi
    text=$(sed "s|^$from\$|$to|" <<<"$text")
}
substitute dir prompts/hu /usr/share/ugyelet/prompts/hu
substitute path dialplans/main.toml /etc/ugyelet/dialplans/main.toml
substitute dir state /var/lib/ugyelet
substitute catalog config/forms.toml /etc/ugyelet/forms.toml
substitute operators config/operators.toml /etc/ugyelet/operators.toml
substitute dir knowledge /etc/ugyelet/knowledge

cat <<'HEADER'
# Packaged configuration: the paths below are where the package installs things (see
# /usr/share/doc/ugyelet/packaging.md). The systemd unit and the container image set the
# same paths in their environment, which wins over this file: change a path in
# /etc/ugyelet/environment (or with `systemctl edit ugyelet`), not here.
#
HEADER
printf '%s\n' "$text"
