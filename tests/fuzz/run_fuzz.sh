#!/bin/sh
# Builds the .npy fuzz target (fuzz_npy.c with src/io) with clang's libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer, and runs it for a few
# seconds from a small seed corpus. Exit 77 (ctest: skipped) when clang or
# its libFuzzer runtime is missing: scripts/ensure-deps.sh installs both
# (Debian: clang, libclang-rt-14-dev).
#   run_fuzz.sh SOURCE_DIR WORK_DIR [SECONDS]
set -eu
src=$1
work=$2
seconds=${3:-5}
clang=$(command -v clang || command -v clang-14 || true)
if [ -z "$clang" ]; then
  echo "SKIPPED: clang not found; scripts/ensure-deps.sh installs clang and libclang-rt-14-dev"
  exit 77
fi
mkdir -p "$work/corpus"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
  > "$work/probe.c"
if ! "$clang" $flags "$work/probe.c" -o "$work/probe" 2> "$work/probe.log"; then
  cat "$work/probe.log"
  echo "SKIPPED: $clang cannot link libFuzzer (package libclang-rt-14-dev; scripts/ensure-deps.sh installs it)"
  exit 77
fi

"$clang" $flags -I"$src/include" -I"$src/src" "$src/tests/fuzz/fuzz_npy.c" "$src/src/io/npy.c" \
  "$src/src/io/array.c" "$src/src/io/nifti.c" -o "$work/fuzz_npy"

# Seeds: valid files of each header version, byte order and layout.
seed() { # name major header data_bytes
  length=$((${#3} + 1))
  {
    printf '\223NUMPY'
    printf "\\$(printf %03o "$2")\\000"
    printf "\\$(printf %03o $((length % 256)))\\$(printf %03o $((length / 256)))"
    [ "$2" -gt 1 ] && printf '\000\000'
    printf '%s\n' "$3"
    head -c "$4" /dev/zero
  } > "$work/corpus/$1"
}
seed f4_c 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" 24
seed i2_fortran 1 "{'descr': '>i2', 'fortran_order': True, 'shape': (3, 2, 2), }" 24
seed u1_1d 2 "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }" 5
seed b1_scalar 3 "{'descr': '|b1', 'fortran_order': False, 'shape': (), }" 1
seed f2_empty 1 "{'descr': '<f2', 'fortran_order': False, 'shape': (0, 4), }" 0

"$work/fuzz_npy" -max_total_time="$seconds" -max_len=4096 -dict="$src/tests/fuzz/npy.dict" \
  -print_final_stats=1 "$work/corpus"
