//! Runs `tests/xmpp/interop.py` (slixmpp, a standard XMPP client library) against an XMPP port:
//! the script prints one `STEP <name>` line per step and the test reacts to each before the script
//! reads on; its last line is the verdict (`OK` or `FAIL …`).
#![allow(dead_code)]

use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// What the script did.
pub struct Interop {
    /// `OK`, or `FAIL` and why.
    pub verdict: String,
    /// The `STEP` lines, in order.
    pub steps: Vec<String>,
    /// Whether it exited 0.
    pub success: bool,
    /// What it wrote to stderr.
    pub stderr: String,
}

/// The Python to run it with, or None (say why) when that Python lacks slixmpp and nothing asks for
/// it: `FRONTDESK_PYTHON` (CI's venv) or `FRONTDESK_REQUIRE_XMPP` make a missing slixmpp a failure.
pub fn python() -> Option<String> {
    let python = std::env::var("FRONTDESK_PYTHON").unwrap_or_else(|_| "python3".into());
    let required = std::env::var_os("FRONTDESK_PYTHON").is_some() || std::env::var_os("FRONTDESK_REQUIRE_XMPP").is_some();
    let has = std::process::Command::new(&python).args(["-c", "import slixmpp"]).output().is_ok_and(|o| o.status.success());
    if !has {
        assert!(!required, "{python} cannot import slixmpp (FRONTDESK_PYTHON or FRONTDESK_REQUIRE_XMPP is set)");
        eprintln!("skipped: {python} has no slixmpp; set FRONTDESK_PYTHON to a venv with it (tests/run-all.sh does)");
        return None;
    }
    Some(python)
}

/// Runs the script with `args` (host, port, jid, token, agent jid, blocked jid), calling `on_step`
/// with each `STEP` line before reading the next; gives up after 90 s.
pub async fn run(python: &str, args: &[&str], mut on_step: impl AsyncFnMut(&str)) -> Interop {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/xmpp/interop.py");
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut steps = vec![];
    let started = Instant::now();
    let verdict = tokio::time::timeout(Duration::from_secs(90), async {
        while let Ok(Some(l)) = lines.next_line().await {
            eprintln!("[{} ms] {l}", started.elapsed().as_millis());
            if !l.starts_with("STEP ") {
                return l;
            }
            on_step(&l).await;
            steps.push(l);
        }
        "FAIL no verdict".to_string()
    })
    .await
    .unwrap_or_else(|_| "FAIL timed out".into());
    let success = child.wait().await.is_ok_and(|s| s.success());
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr).await;
    }
    eprintln!("[{} ms] verdict {verdict}", started.elapsed().as_millis());
    Interop { verdict, steps, success, stderr }
}
