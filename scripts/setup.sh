#!/usr/bin/env bash
# Installs the system packages the build needs if they are missing (fresh Debian
# machines of this project's kind ship them; this keeps other machines working).
# plotters' text rendering links fontconfig and freetype through pkg-config.
set -euo pipefail
need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists fontconfig 2>/dev/null || need+=(libfontconfig1-dev)
pkg-config --exists freetype2 2>/dev/null || need+=(libfreetype-dev)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
