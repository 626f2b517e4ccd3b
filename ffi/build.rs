//! Regenerates bindings/c/frontdesk.h from the crate's sources with cbindgen.toml, so the committed
//! header always matches the code that was built; CI fails when the committed copy drifts.

use std::path::PathBuf;

fn main() {
    // A SONAME, so programs record which ABI they were linked against and a newer, incompatible
    // library is not picked up by accident: libfrontdesk.so.<major>, or .so.0.<minor> before 1.0
    // (where every minor version may change the ABI).
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("set by cargo");
        let minor = std::env::var("CARGO_PKG_VERSION_MINOR").expect("set by cargo");
        let soname = if major == "0" { format!("libfrontdesk.so.0.{minor}") } else { format!("libfrontdesk.so.{major}") };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = crate_dir.join("../bindings/c/frontdesk.h");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("ffi/cbindgen.toml is valid");
    match cbindgen::Builder::new().with_crate(&crate_dir).with_config(config).generate() {
        // write_to_file leaves the file untouched when the text is the same, so timestamps stay put.
        Ok(b) => {
            b.write_to_file(&out);
        }
        Err(e) => panic!("cbindgen failed: {e}"),
    }
}
