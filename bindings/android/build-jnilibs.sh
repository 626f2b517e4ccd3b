#!/usr/bin/env bash
# Cross-compiles libfrontdesk_uniffi.so for the Android ABIs into src/main/jniLibs/<abi>/ with cargo-ndk.
# Needs the NDK (ANDROID_NDK_HOME) and `cargo install cargo-ndk`. Usage: bindings/android/build-jnilibs.sh
set -euo pipefail
cd "$(dirname "$0")"
for t in aarch64-linux-android armv7-linux-androideabi x86_64-linux-android; do rustup target add "$t" >/dev/null; done
(cd ../.. && cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -o bindings/android/src/main/jniLibs build --release -p frontdesk-uniffi)
