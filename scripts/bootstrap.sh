#!/usr/bin/env bash
# Installs what lanfax needs on a Debian machine, only what is missing, then returns.
# Used by ./serve and ./test; safe to run again. Set LANFAX_NO_APT=1 to skip apt-get.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${LANFAX_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}

# Debian packages: spandsp (the fax engine), libtiff (TIFF I/O), Ghostscript (PostScript input),
# poppler-utils (pdf tools used by tests), a font for text pages.
DEB_PACKAGES="libspandsp2 libspandsp-dev libtiff-dev libtiff6 libtiff-tools ghostscript poppler-utils fonts-dejavu-core postgresql tesseract-ocr cups cups-client kamailio hylafax-server hylafax-client iaxmodem"
# documents (#15): office files out of the box (headless LibreOffice driven over UNO by the
# system python3-uno), Noto fonts for text in other scripts, HTML through WeasyPrint (pango),
# tesseract's language data for the per-script tests.
DEB_PACKAGES="$DEB_PACKAGES libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui python3-uno fonts-noto-core fonts-noto-cjk fonts-liberation2 libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 tesseract-ocr-ell tesseract-ocr-rus tesseract-ocr-ara tesseract-ocr-heb tesseract-ocr-chi-sim"
# The console (#12): npm for its JavaScript; chromium + its driver for the browser tests.
# Debian's npm conflicts with a nodejs that already brings its own npm (nodesource builds):
# ask for Debian's only when no npm command is there.
DEB_PACKAGES="$DEB_PACKAGES chromium chromium-driver"
command -v npm >/dev/null 2>&1 || DEB_PACKAGES="$DEB_PACKAGES npm"
# E-mail to fax (#11): swaks, a real SMTP client the tests send with.
DEB_PACKAGES="$DEB_PACKAGES swaks"
# The fax printer (#11): ipptool runs the FaxOut conformance file. Modems (#16): efax, a peer.
DEB_PACKAGES="$DEB_PACKAGES cups-ipp-utils efax"
# The fax engine's compiled helper (#19): a C compiler and the Python headers (cffi API mode).
DEB_PACKAGES="$DEB_PACKAGES build-essential python3-dev"
if [ "${LANFAX_EXTRA_DEBS:-}" ]; then DEB_PACKAGES="$DEB_PACKAGES $LANFAX_EXTRA_DEBS"; fi

missing=""
for p in $DEB_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ] && [ -z "${LANFAX_NO_APT:-}" ]; then
  echo "lanfax: installing Debian packages:$missing" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "lanfax: creating virtual environment $VENV" >&2
  "$PY" -m venv "$VENV" >&2 || {
    echo "lanfax: python3 -m venv failed; install python3-venv (apt-get install python3-venv)" >&2
    exit 1
  }
fi

# Reinstall only when pyproject.toml changed since the last install.
stamp="$VENV/.lanfax-installed"
want=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "lanfax: installing Python packages into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2 || true
  "$VENV/bin/python" -m pip install -q -e "$ROOT[server,test]" >&2
  echo "$want" >"$stamp"
fi

# The fax engine's compiled helper (#19): spandsp through cffi in API mode, built once into
# ~/.cache/lanfax (or $LANFAX_ENGINE_CACHE); when it cannot be built the engine uses the
# slower ABI binding and `lanfax doctor` says so.
"$VENV/bin/python" -m lanfax.engine._accel >&2 ||
  echo "lanfax: the engine's compiled helper did not build: the ABI binding is used (slower)" >&2

# The console's JavaScript (Preact + htm, pinned in src/lanfax/web/package-lock.json) from the
# npm registry into src/lanfax/web/node_modules (git-ignored), again only when the lock changed.
WEB="$ROOT/src/lanfax/web"
if command -v npm >/dev/null 2>&1; then
  wantw=$(sha256sum "$WEB/package-lock.json" | cut -d' ' -f1)
  stampw="$WEB/node_modules/.lanfax-installed"
  if [ ! -f "$stampw" ] || [ "$(cat "$stampw")" != "$wantw" ]; then
    echo "lanfax: installing the console's JavaScript (npm ci) into $WEB/node_modules" >&2
    (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error >&2) && echo "$wantw" >"$stampw" ||
      echo "lanfax: npm ci failed: the console at / will say what is missing" >&2
  fi
else
  echo "lanfax: npm is not installed: the console at / needs it (apt-get install npm)" >&2
fi
