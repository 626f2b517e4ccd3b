//! The SMTP peers of the mail tests: the centre's relay (aiosmtpd) that takes the server's mail, and
//! a mail program (smtplib) that sends into the server's listener — real Python libraries, so the
//! checks do not trust our own SMTP code. Needs a Python with aiosmtpd 1.4.6 (see
//! `common::aiosmtpd_python`).
#![allow(dead_code)]

use crate::common::aiosmtpd_python as python;
use crate::common::TempDir;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

/// The centre's relay on a given port: prints `PORT n`, then one JSON line per message, headers as
/// Python's email package reads them (so the check does not trust our own parser).
const RELAY: &str = r#"
import asyncio, json, logging, sys, warnings
from email import policy
from email.parser import BytesParser
from aiosmtpd.smtp import SMTP
logging.disable(logging.CRITICAL)
warnings.simplefilter('ignore')

class Sink:
    async def handle_DATA(self, server, session, envelope):
        msg = BytesParser(policy=policy.default).parsebytes(envelope.content)
        body = msg.get_body(('plain',))
        print(json.dumps({'mail_from': envelope.mail_from, 'rcpt': envelope.rcpt_tos,
                          'headers': {k: str(v) for k, v in msg.items()},
                          'body': body.get_content() if body is not None else None}), flush=True)
        return '250 OK'

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Sink(), hostname='localhost'), '127.0.0.1', int(sys.argv[1]))
    print('PORT', server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"#;

/// The client's mail program (or the centre's mail server relaying it): one message to the
/// server's listener; prints what happened as JSON.
const SEND: &str = r#"
import json, smtplib, sys
spec = json.loads(sys.argv[1])
out = {}
def text(b):
    return b.decode(errors='replace') if isinstance(b, bytes) else str(b)
try:
    with smtplib.SMTP('127.0.0.1', spec['port'], timeout=20) as s:
        refused = s.sendmail(spec['from'], spec['to'], spec['message'].encode())
        out = {'result': 'ok', 'refused': {k: [v[0], text(v[1])] for k, v in refused.items()}}
except smtplib.SMTPRecipientsRefused as e:
    out = {'error': 'recipients', 'refused': {k: [v[0], text(v[1])] for k, v in e.recipients.items()}}
except smtplib.SMTPDataError as e:
    out = {'error': 'data', 'code': e.smtp_code, 'text': text(e.smtp_error)}
except smtplib.SMTPResponseException as e:
    out = {'error': 'response', 'code': e.smtp_code, 'text': text(e.smtp_error)}
print(json.dumps(out))
"#;

/// A running relay and the messages it took, one JSON line each.
pub struct Relay {
    lines: Lines<BufReader<ChildStdout>>,
    child: Child,
}

impl Relay {
    pub async fn start(dir: &TempDir, port: u16) -> Relay {
        let script = dir.write("relay.py", RELAY);
        let mut child = Command::new(python())
            .arg(&script)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("aiosmtpd starts in time")
            .unwrap()
            .expect("aiosmtpd prints its port");
        assert_eq!(first, format!("PORT {port}"));
        Relay { lines, child }
    }

    /// The next message the relay took, within `secs`.
    pub async fn next(&mut self, secs: u64) -> Value {
        let line = timeout(Duration::from_secs(secs), self.lines.next_line())
            .await
            .expect("the relay got a message in time")
            .unwrap()
            .expect("the relay is running");
        serde_json::from_str(&line).unwrap()
    }

    /// Whether the relay took nothing more within `ms`.
    pub async fn quiet_for(&mut self, ms: u64) -> Result<(), Value> {
        match timeout(Duration::from_millis(ms), self.lines.next_line()).await {
            Ok(Ok(Some(line))) => Err(serde_json::from_str(&line).unwrap()),
            _ => Ok(()),
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Sends one message into the server's listener with smtplib.
pub async fn smtplib(dir: &TempDir, port: u16, from: &str, to: &str, message: String) -> Value {
    let script = dir.write("send.py", SEND);
    let spec = json!({"port": port, "from": from, "to": [to], "message": message});
    let out = timeout(Duration::from_secs(30), Command::new(python()).arg(&script).arg(spec.to_string()).kill_on_drop(true).output())
        .await
        .expect("smtplib finishes in time")
        .unwrap();
    assert!(out.status.success(), "smtplib failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A message as a mail program writes it; `thread` is (In-Reply-To, References).
pub fn message(from: &str, to: &str, id: &str, thread: Option<(&str, &str)>, extra: &str, body: &str) -> String {
    let mut m = format!("From: Alice <{from}>\r\nTo: {to}\r\nSubject: Re: Router reboots\r\nMessage-ID: <{id}>\r\n");
    if let Some((parent, refs)) = thread {
        m += &format!("In-Reply-To: <{parent}>\r\nReferences: {refs}\r\n");
    }
    m += extra;
    m += "Content-Type: text/plain; charset=utf-8\r\n\r\n";
    m += &body.replace('\n', "\r\n");
    m
}

/// A Message-ID header without its angle brackets.
pub fn bare(id: &Value) -> String {
    id.as_str().unwrap().trim_start_matches('<').trim_end_matches('>').to_string()
}
