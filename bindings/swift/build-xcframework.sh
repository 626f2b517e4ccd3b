#!/usr/bin/env bash
# Builds build/FrontdeskFFI.xcframework (iOS devices, iOS simulators, macOS) from the uniffi crate, for
# Package.swift beside this script. Needs a Mac with Xcode and rustup. Usage: bindings/swift/build-xcframework.sh
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
out=build
rm -rf "$out" && mkdir -p "$out/headers"
for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin; do
  rustup target add "$t" >/dev/null
  # A static library for the app to link; the crate's own crate-types stay lib + cdylib.
  (cd "$root" && cargo rustc --release -p frontdesk-uniffi --target "$t" --crate-type staticlib)
done
lib() { echo "$root/target/$1/release/libfrontdesk_uniffi.a"; }
mkdir -p "$out/ios-sim" "$out/macos"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$out/ios-sim/libfrontdesk_uniffi.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$out/macos/libfrontdesk_uniffi.a"
cp generated/FrontdeskFFI.h "$out/headers/"
cp generated/FrontdeskFFI.modulemap "$out/headers/module.modulemap"
xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers "$out/headers" \
  -library "$out/ios-sim/libfrontdesk_uniffi.a" -headers "$out/headers" \
  -library "$out/macos/libfrontdesk_uniffi.a" -headers "$out/headers" \
  -output "$out/FrontdeskFFI.xcframework"
echo "built $out/FrontdeskFFI.xcframework; add this directory as a Swift package (File > Add Package Dependencies > Add Local)"
