//! Regenerates bindings/c/frontdesk.h from the crate's sources with cbindgen.toml, so the committed
//! header always matches the code that was built; CI fails when the committed copy drifts.

use std::path::PathBuf;

fn main() {
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
