#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, if missing:
# a C compiler, make, CMake >= 3.20, Ninja, pkg-config (the install test), and
# Python's venv module; with the argument "bench", also SLEEF (libsleef-dev),
# which bench/bench_vecmath.c compares with losskit's exp and log.
# Nothing happens when everything is there.
set -euo pipefail

missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v ninja >/dev/null 2>&1 || missing+=(ninja-build)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if ! command -v cmake >/dev/null 2>&1; then
  missing+=(cmake)
else
  version=$(cmake --version | head -n1 | awk '{print $3}')
  if [ "$(printf '%s\n3.20\n' "$version" | sort -V | head -n1)" != "3.20" ]; then missing+=(cmake); fi
fi
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${1:-}" = "bench" ] && ! dpkg -s libsleef-dev >/dev/null 2>&1; then missing+=(libsleef-dev); fi

[ ${#missing[@]} -eq 0 ] && exit 0

echo "ensure-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
elif command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
  echo "ensure-deps: please install: ${missing[*]}" >&2
  exit 1
fi
