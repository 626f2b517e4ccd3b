//! The agent desktop's canned answers come from the deployment's file (`--canned`), checked at start.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::zombie_processes)] // killed and waited for at the end
async fn canned_answers_come_from_the_configured_file_and_a_bad_file_stops_the_server() {
    let dir = TempDir::new("canned");
    let db = dir.0.join("fd.db");
    // Built in when no file is given.
    let port = free_port();
    let mut child = spawn_server(port, &db, &[]);
    wait_listening(port).await;
    let (status, _, body) = http(port, "GET", "/agent-canned.json", None, "text/plain", b"").await;
    assert_eq!(status, 200);
    let built_in: Vec<String> = serde_json::from_slice(&body).unwrap();
    assert!(!built_in.is_empty());
    child.kill().unwrap();
    child.wait().unwrap();

    let file = dir.write("canned.json", r#"["Bonjour, que puis-je faire pour vous ?", "Votre commande part demain."]"#);
    let port = free_port();
    let mut child = spawn_server(port, &db, &["--canned", file.to_str().unwrap()]);
    wait_listening(port).await;
    let (status, _, body) = http(port, "GET", "/agent-canned.json", None, "text/plain", b"").await;
    assert_eq!(status, 200);
    let ours: Vec<String> = serde_json::from_slice(&body).unwrap();
    assert_eq!(ours, ["Bonjour, que puis-je faire pour vous ?", "Votre commande part demain."]);
    child.kill().unwrap();
    child.wait().unwrap();

    // Not an array of strings: the server says so and does not start.
    let bad = dir.write("bad.json", r#"{"hello": 1}"#);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_frontdesk-server"))
        .args(["--addr", &format!("127.0.0.1:{}", free_port()), "--db", db.to_str().unwrap(), "--secret", "s", "--no-sim", "--xmpp-addr", "off", "--canned", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a JSON array of strings"), "{}", String::from_utf8_lossy(&out.stderr));
}
