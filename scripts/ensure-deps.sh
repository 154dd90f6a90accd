#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, if missing:
# a C compiler, make, CMake >= 3.20, Ninja, pkg-config (the install test),
# Python's venv module, and libnifti2-dev (NIfTI files in `losskit eval`);
# with the argument "bench", also SLEEF (libsleef-dev), which
# bench/bench_vecmath.c compares with losskit's exp and log.
# Then, on a best-effort basis, clang and its libFuzzer runtime
# (libclang-rt-14-dev) for the fuzz test of the .npy reader: if they cannot
# be installed, a warning is printed and that test reports itself skipped.
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
dpkg -s libnifti2-dev >/dev/null 2>&1 || missing+=(libnifti2-dev)

# The fuzz test's compiler: clang and the libFuzzer runtime of its version.
fuzz_missing=()
command -v clang >/dev/null 2>&1 || fuzz_missing+=(clang)
clang_major=$( (clang --version 2>/dev/null || echo 14) | grep -o 'version [0-9]*' | head -n1 | grep -o '[0-9]*$' || echo 14)
dpkg -s "libclang-rt-${clang_major:-14}-dev" >/dev/null 2>&1 || fuzz_missing+=("libclang-rt-${clang_major:-14}-dev")

[ ${#missing[@]} -eq 0 ] && [ ${#fuzz_missing[@]} -eq 0 ] && exit 0

apt_install() {
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else
    return 1
  fi
}

if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${missing[*]}" >&2
  apt_install "${missing[@]}" || { echo "ensure-deps: please install: ${missing[*]}" >&2; exit 1; }
fi
if [ ${#fuzz_missing[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${fuzz_missing[*]} (the .npy fuzz test)" >&2
  apt_install "${fuzz_missing[@]}" ||
    echo "ensure-deps: warning: could not install ${fuzz_missing[*]}; the fuzz test will be skipped" >&2
fi
exit 0
