#!/usr/bin/env bash
# Installs what a run needs and is missing; quick when everything is there already.
#
#   scripts/deps.sh          uv, cargo (builds the compiled core crates/utm-core), the workspace venv
#                            (.venv), the helper venv, Java + Maven,
#                            rsyslog with its Kafka and OpenSSL modules (the syslog collector)
#   scripts/deps.sh --test   the same plus the Debian tools the tests use
#                            (oathtool, zbarimg, chromium, kcat, pdftotext)
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# command:Debian package
BASE_TOOLS=(java:openjdk-17-jre-headless mvn:maven openssl:openssl)
TEST_TOOLS=(oathtool:oathtool zbarimg:zbar-tools chromium:chromium kcat:kcat pdftotext:poppler-utils)
# Debian packages without a command, checked with dpkg: the collector's rsyslog modules, the Japanese
# fonts of the report PDFs and manuals, and the Pango library WeasyPrint draws text with.
BASE_PACKAGES=(
  rsyslog rsyslog-kafka rsyslog-openssl
  fonts-ipaexfont-gothic fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0
)

apt_install_missing() {
  local entry cmd pkg missing=()
  for entry in "$@"; do
    IFS=: read -r cmd pkg <<<"$entry"
    if [[ -z "$pkg" ]]; then
      # A bare package name: installed or not, as dpkg knows it.
      pkg="$cmd"
      dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
      continue
    fi
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_install_packages() {
  local pkg missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg:$pkg")
  done
  ((${#missing[@]})) || return 0
  # "pkg:pkg" entries: apt_install_missing finds no such command and installs them.
  apt_install_missing "${missing[@]}"
}

apt_install_missing "${BASE_TOOLS[@]}"
apt_install_packages "${BASE_PACKAGES[@]}"
[[ "${1:-}" == "--test" ]] && apt_install_missing "${TEST_TOOLS[@]}"

ensure_uv
ensure_cargo
[[ -f "$ROOT/pyproject.toml" ]] || die "no pyproject.toml at the repo root"
cd "$ROOT" || exit 1
# --frozen: the lock file is the truth; never re-resolve behind the developer's back.
if [[ -f uv.lock ]]; then
  uv sync --all-packages --frozen
else
  uv sync --all-packages
fi
ensure_tools
