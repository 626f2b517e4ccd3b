#!/usr/bin/env bash
# Type-checks the two libraries a mobile app links (the uniffi bindings and the C ABI) for Android
# (aarch64, x86_64) and iOS (aarch64), so code that does not build there is caught here, where no
# NDK or Xcode exists. `cargo check` still compiles ring's C sources in its build script; Debian's
# clang does that for these targets against freestanding headers plus the few system headers ring
# includes, declared in a throwaway directory (which also stands in for the iOS SDK cc-rs asks xcrun for) (the objects are never linked; a real build uses the
# NDK's or Xcode's toolchain, see docs/bindings.md). Usage: bindings/mobile/check-targets.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
targets="aarch64-linux-android x86_64-linux-android aarch64-apple-ios"
command -v clang >/dev/null && command -v llvm-ar >/dev/null || {
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang llvm >/dev/null
}
installed=$(rustup target list --installed)
for t in $targets; do grep -qx "$t" <<<"$installed" || rustup target add "$t"; done
shim=$(mktemp -d); trap 'rm -rf "$shim"' EXIT
echo '#define assert(x) ((void)0)' > "$shim/assert.h"
printf '#define TARGET_OS_MAC 1\n#define TARGET_OS_IPHONE 1\n#define TARGET_OS_IOS 1\n#define TARGET_OS_OSX 0\n#define TARGET_OS_SIMULATOR 0\n' > "$shim/TargetConditionals.h"
printf '#include <stddef.h>\nvoid *memcpy(void *, const void *, size_t);\nvoid *memmove(void *, const void *, size_t);\nvoid *memset(void *, int, size_t);\nint memcmp(const void *, const void *, size_t);\nsize_t strlen(const char *);\n' > "$shim/string.h"
# One cargo run for the three targets, so their crates build side by side on every core.
vars=() args=()
for t in $targets; do
  case "$t" in
    aarch64-linux-android) cc_target=aarch64-linux-android24 ;;
    x86_64-linux-android) cc_target=x86_64-linux-android24 ;;
    aarch64-apple-ios) cc_target=arm64-apple-ios13.0 ;;
  esac
  v=${t//-/_}
  vars+=("CC_$v=clang" "AR_$v=llvm-ar" "CFLAGS_$v=--target=$cc_target -ffreestanding -nostdlibinc -isystem $shim")
  args+=(--target "$t")
done
echo "== cargo check for $targets"
env "${vars[@]}" SDKROOT="$shim" cargo check --quiet -p frontdesk-uniffi -p frontdesk-ffi "${args[@]}"
echo "== mobile targets type-check"
