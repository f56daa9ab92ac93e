# Shell helpers shared by Tests/CAPI/run-capi-tests.sh and tools/run-embedded-qemu.sh. Source it
# after setting `work` (a scratch directory) and `script_name` (for messages).

# Runs a command with its output kept aside, shown only if it fails.
quietly() {
  "$@" >"$work/quiet.log" 2>&1 || { cat "$work/quiet.log" >&2; echo "$script_name: failed: $*" >&2; exit 1; }
}

# Builds the `wren` CLI with the given scratch path and flags (those of tools/test.sh, so the
# build products are shared) and sets `wren` to its path.
build_wren() {  # scratch-path build-flags...
  local scratch="$1"
  shift
  swift build -c release --scratch-path "$scratch" "$@" --product wren >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; echo "$script_name: building the wren CLI failed" >&2; exit 1; }
  wren="$(swift build -c release --scratch-path "$scratch" "$@" --show-bin-path)/wren"
  [ -x "$wren" ] || { echo "$script_name: $wren was not built" >&2; exit 1; }
}

# Bytes before the data of a .npy file (header length at byte 8: u16 in version 1, u32 in 2 and 3).
npy_header_size() {
  if [ "$(od -An -tu1 -j6 -N1 "$1" | tr -d ' ')" = 1 ]; then echo $((10 + $(od -An -tu2 -j8 -N2 "$1" | tr -d ' ')))
  else echo $((12 + $(od -An -tu4 -j8 -N4 "$1" | tr -d ' '))); fi
}

# The data of a .npy file.
npy_data() { tail -c +$(($(npy_header_size "$1") + 1)) "$1"; }

# The first $2 float32 images (3x32x32) of a .npy file ($1), raw.
npy_images() {
  dd if="$1" iflag=skip_bytes,count_bytes skip="$(npy_header_size "$1")" count=$(($2 * 3 * 32 * 32 * 4)) status=none
}

# The same images as a version 1.0 .npy ($3), for `wren run`.
npy_head() {
  local header="{'descr': '<f4', 'fortran_order': False, 'shape': ($2, 3, 32, 32), }"
  local length=$(((10 + ${#header} + 1 + 63) / 64 * 64 - 10))
  {
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((length & 255)))\\x$(printf %02x $((length >> 8)))"
    printf '%s%*s\n' "$header" $((length - ${#header} - 1)) ''
    npy_images "$1" "$2"
  } >"$3"
}
