//! Writes the JSON Schemas of the C ABI to `ffi/schemas/` (or the directory given), or with
//! `--check` fails when the committed files differ from what the Rust types generate.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut check = false;
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas");
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!("usage: fd-schemas [--check] [DIR]   (DIR defaults to ffi/schemas)");
                return ExitCode::SUCCESS;
            }
            _ => dir = PathBuf::from(arg),
        }
    }
    let mut want: Vec<(String, String)> = frontdesk::schema::all().iter().map(|f| (f.file.to_owned(), f.text())).collect();
    want.push(("README.md".to_owned(), frontdesk::schema::index()));
    // Files we no longer generate would otherwise linger as stale documentation.
    let stale: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".schema.json") && !want.iter().any(|(w, _)| w == n))
                .collect()
        })
        .unwrap_or_default();
    if check {
        let mut drift = false;
        for (name, text) in &want {
            match std::fs::read_to_string(dir.join(name)) {
                Ok(have) if have == *text => {}
                Ok(_) => {
                    eprintln!("drifted: {}", dir.join(name).display());
                    drift = true;
                }
                Err(_) => {
                    eprintln!("missing: {}", dir.join(name).display());
                    drift = true;
                }
            }
        }
        for name in &stale {
            eprintln!("no longer generated: {}", dir.join(name).display());
            drift = true;
        }
        if drift {
            eprintln!("the JSON Schemas drifted from the Rust types: run `cargo run -p frontdesk-ffi --features schema --bin fd-schemas` and commit ffi/schemas");
            return ExitCode::FAILURE;
        }
        println!("fd-schemas: {} files in {} match the Rust types", want.len(), dir.display());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for name in &stale {
        let _ = std::fs::remove_file(dir.join(name));
    }
    for (name, text) in &want {
        if let Err(e) = std::fs::write(dir.join(name), text) {
            eprintln!("{}: {e}", dir.join(name).display());
            return ExitCode::FAILURE;
        }
    }
    println!("fd-schemas: wrote {} files to {}", want.len(), dir.display());
    ExitCode::SUCCESS
}
