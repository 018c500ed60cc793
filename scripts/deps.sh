#!/usr/bin/env bash
# Installs what a run needs and is missing; quick when everything is there already.
#
#   scripts/deps.sh          uv, the workspace venv (.venv), the helper venv, Java + Maven
#   scripts/deps.sh --test   the same plus the Debian tools the tests use
#                            (oathtool, zbarimg, chromium, kcat, pdftotext)
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# command:Debian package
BASE_TOOLS=(java:openjdk-17-jre-headless mvn:maven)
TEST_TOOLS=(oathtool:oathtool zbarimg:zbar-tools chromium:chromium kcat:kcat pdftotext:poppler-utils)
# file:Debian package, for packages without a command: the Japanese fonts and the Pango library the
# portal's PDF manuals are built with (WeasyPrint).
BASE_FILES=(
  /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc:fonts-noto-cjk
  /usr/lib/x86_64-linux-gnu/libpangoft2-1.0.so.0:libpangoft2-1.0-0
)

apt_install_missing() {
  local entry cmd pkg missing=()
  for entry in "$@"; do
    IFS=: read -r cmd pkg <<<"$entry"
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_install_missing_files() {
  local entry file pkg missing=()
  for entry in "$@"; do
    IFS=: read -r file pkg <<<"$entry"
    [[ -e "$file" ]] || dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_install_missing "${BASE_TOOLS[@]}"
apt_install_missing_files "${BASE_FILES[@]}"
[[ "${1:-}" == "--test" ]] && apt_install_missing "${TEST_TOOLS[@]}"

ensure_uv
[[ -f "$ROOT/pyproject.toml" ]] || die "no pyproject.toml at the repo root"
cd "$ROOT" || exit 1
# --frozen: the lock file is the truth; never re-resolve behind the developer's back.
if [[ -f uv.lock ]]; then
  uv sync --all-packages --frozen
else
  uv sync --all-packages
fi
ensure_tools
