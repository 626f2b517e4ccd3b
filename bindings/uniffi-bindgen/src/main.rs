//! `uniffi-bindgen` at exactly the uniffi version of `frontdesk-uniffi`, so generated code matches the library.

fn main() {
    uniffi::uniffi_bindgen_main()
}
