#!/usr/bin/env bash
# What `make test` needs besides Python packages: Debian's Chromium (the browser tests drive it with
# Playwright; Playwright's own browser download is not used) and Node with npm (`node --test` runs
# the dashboard's tests; npm installs typescript and axe-core, package-lock.json), and a font with
# Chinese glyphs (the page in 中文: the layout and screenshot tests measure real text). Installs them
# through apt when running as root,
# else says in one line what to run.
set -euo pipefail
chromium=${GLASSNET_CHROMIUM:-/usr/bin/chromium}
missing=()
[ -x "$chromium" ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
{ command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh family | grep -q .; } || missing+=(fonts-noto-cjk)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "make test: installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "make test needs ${missing[*]}: run  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
