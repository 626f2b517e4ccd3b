//! The email transport over loopback, against real peers: aiosmtpd (Python) plays the centre's
//! relay that `Mailer` sends to; Python's smtplib and lettre play the relay that delivers clients'
//! replies into `SmtpListener`.
//!
//! Needs a Python with aiosmtpd 1.4.6: `FRONTDESK_PYTHON` (tests/run-all.sh sets it to the venv it
//! prepares), else the venv at `~/.cache/frontdesk-test-venv`, else `python3`. Without one the
//! tests fail and say how to make it.

mod common;

use common::{aiosmtpd_python as python, TempDir};
use frontdesk_server::mail::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

const REPLY_DOMAIN: &str = "reply.test";
const LIMIT: usize = 64 * 1024;

/// The relay: prints `PORT n`, then one JSON line per message (headers as Python's email
/// package reads them, so the check does not trust our own parser); refuses `refuse@…` with 550
/// and defers `later@…` with 451; runs until its stdin closes.
const SINK: &str = r#"
import asyncio, json, logging, ssl, sys, warnings
from email import policy
from email.parser import BytesParser
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

mode, cert, key, user, password = sys.argv[1:6]
# Quiet the expected failures (the untrusted-certificate case) and aiosmtpd's own deprecations.
logging.disable(logging.CRITICAL)
warnings.simplefilter('ignore')

class Sink:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split('@')[0]
        if local == 'refuse':
            return '550 5.1.1 No such user here'
        if local == 'later':
            return '451 4.3.0 Try again later'
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        msg = BytesParser(policy=policy.default).parsebytes(envelope.content)
        body = msg.get_body(('plain',))
        login = session.auth_data.login.decode() if session.auth_data is not None else None
        tls = session.ssl is not None or server.transport.get_extra_info('ssl_object') is not None
        print(json.dumps({
            'mail_from': envelope.mail_from, 'rcpt': envelope.rcpt_tos,
            'headers': {k: str(v) for k, v in msg.items()},
            'body': body.get_content() if body is not None else None,
            'tls': tls, 'login': login,
        }), flush=True)
        return '250 OK'

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() and auth_data.password == password.encode()
    # handled=False lets aiosmtpd answer 535 itself on a failure.
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

async def main():
    ctx = None
    if mode != 'plain':
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
    def factory():
        if mode == 'starttls':
            return SMTP(Sink(), hostname='localhost', tls_context=ctx, require_starttls=True,
                        authenticator=authenticator, auth_required=True)
        return SMTP(Sink(), hostname='localhost')
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, '127.0.0.1', 0, ssl=ctx if mode == 'tls' else None)
    print('PORT', server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"#;

/// A relay delivering into our listener with smtplib; prints what happened as JSON.
const CLIENT: &str = r#"
import json, smtplib, sys
spec = json.loads(sys.argv[1])
out = {}
def text(b):
    return b.decode(errors='replace') if isinstance(b, bytes) else str(b)
try:
    with smtplib.SMTP('127.0.0.1', spec['port'], timeout=20) as s:
        s.ehlo('relay.test')
        out['features'] = s.esmtp_features
        msg = spec['message'].encode()
        if spec.get('no_size'):
            code, resp = s.mail(spec['from'])
            assert code == 250, (code, resp)
            for r in spec['to']:
                code, resp = s.rcpt(r)
                assert code == 250, (code, resp)
            code, resp = s.data(msg)
            if code == 250:
                out['result'] = 'ok'
            else:
                out.update(error='data', code=code, text=text(resp))
        else:
            refused = s.sendmail(spec['from'], spec['to'], msg)
            out['result'] = 'ok'
            out['refused'] = {k: [v[0], text(v[1])] for k, v in refused.items()}
except smtplib.SMTPRecipientsRefused as e:
    out.update(error='recipients', refused={k: [v[0], text(v[1])] for k, v in e.recipients.items()})
except smtplib.SMTPSenderRefused as e:
    out.update(error='sender', code=e.smtp_code, text=text(e.smtp_error))
except smtplib.SMTPDataError as e:
    out.update(error='data', code=e.smtp_code, text=text(e.smtp_error))
except smtplib.SMTPResponseException as e:
    out.update(error='response', code=e.smtp_code, text=text(e.smtp_error))
print(json.dumps(out))
"#;

struct Sink {
    port: u16,
    lines: Lines<BufReader<ChildStdout>>,
    _child: Child,
}

impl Sink {
    async fn start(dir: &TempDir, mode: &str, cert: &Path, key: &Path, login: (&str, &str)) -> Sink {
        let script = dir.write("sink.py", SINK.as_bytes());
        let mut child = Command::new(python())
            .arg(&script)
            .args([mode, &cert.display().to_string(), &key.display().to_string(), login.0, login.1])
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
        let port = first.strip_prefix("PORT ").expect("PORT line").parse().unwrap();
        Sink { port, lines, _child: child }
    }

    async fn next(&mut self) -> Value {
        let line = timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("the relay got a message in time")
            .unwrap()
            .expect("the relay is running");
        serde_json::from_str(&line).unwrap()
    }
}

async fn smtplib(dir: &TempDir, spec: Value) -> Value {
    let script = dir.write("client.py", CLIENT.as_bytes());
    let out = timeout(Duration::from_secs(30), Command::new(python()).arg(&script).arg(spec.to_string()).kill_on_drop(true).output())
        .await
        .expect("smtplib finishes in time")
        .unwrap();
    assert!(out.status.success(), "smtplib client failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn outgoing(to: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.into(),
        subject: "Re: Your order 1042 — délai".into(),
        text: "Hello Alice,\n\nYour order ships tomorrow.\n.\n.A line that starts with a dot.\n\nAnn, Support".into(),
        message_id: new_message_id("centre.test"),
        in_reply_to: Some("m1@client.test".into()),
        references: vec!["m0@centre.test".into(), "m1@client.test".into()],
        reply_token: new_reply_token(),
    }
}

fn mailer(port: u16, tls: TlsMode) -> MailerConfig {
    let mut cfg = MailerConfig::new("127.0.0.1", tls, "Support <support@centre.test>", REPLY_DOMAIN);
    cfg.relay_port = port;
    cfg.timeout = Duration::from_secs(10);
    cfg
}

fn no_file() -> PathBuf {
    PathBuf::from("-")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailer_sends_threaded_mail_with_a_tokenised_reply_to() {
    let dir = TempDir::new("out");
    let mut relay = Sink::start(&dir, "plain", &no_file(), &no_file(), ("", "")).await;
    let m = Mailer::new(mailer(relay.port, TlsMode::None)).unwrap();
    let mail = outgoing("Alice <alice@client.test>");
    m.send(&mail).await.unwrap();
    let got = relay.next().await;
    let h = &got["headers"];
    assert_eq!(got["mail_from"], "support@centre.test");
    assert_eq!(got["rcpt"], serde_json::json!(["alice@client.test"]));
    assert_eq!(h["Message-ID"], format!("<{}>", mail.message_id));
    assert_eq!(h["In-Reply-To"], "<m1@client.test>");
    assert_eq!(h["References"], "<m0@centre.test> <m1@client.test>");
    assert_eq!(h["Reply-To"], format!("reply+{}@{REPLY_DOMAIN}", mail.reply_token));
    assert_eq!(h["From"], "Support <support@centre.test>");
    assert_eq!(h["To"], "Alice <alice@client.test>");
    assert_eq!(h["Subject"], mail.subject);
    assert_eq!(got["body"].as_str().unwrap().replace("\r\n", "\n").trim_end(), mail.text, "the body arrives as written, dots included");
    assert_eq!(mail.reply_token.len(), 32);

    // A message that starts a thread carries neither In-Reply-To nor References.
    let mut first = outgoing("alice@client.test");
    first.in_reply_to = None;
    first.references.clear();
    m.send(&first).await.unwrap();
    let h = relay.next().await["headers"].clone();
    assert!(h.get("In-Reply-To").is_none() && h.get("References").is_none(), "{h}");
    assert_eq!(h["Message-ID"], format!("<{}>", first.message_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailer_uses_starttls_with_a_login_and_implicit_tls() {
    let dir = TempDir::new("tls");
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = dir.write("cert.pem", ck.cert.pem().as_bytes());
    let key = dir.write("key.pem", ck.signing_key.serialize_pem().as_bytes());
    let login = Credentials { username: "frontdesk".into(), password: "s3cret".into() };

    let mut relay = Sink::start(&dir, "starttls", &cert, &key, ("frontdesk", "s3cret")).await;
    let mut cfg = mailer(relay.port, TlsMode::StartTls);
    cfg.tls_root_certs = vec![ck.cert.pem().into_bytes()];
    cfg.credentials = Some(login.clone());
    Mailer::new(cfg.clone()).unwrap().send(&outgoing("alice@client.test")).await.unwrap();
    let got = relay.next().await;
    assert_eq!((got["tls"].as_bool(), got["login"].as_str()), (Some(true), Some("frontdesk")), "{got}");

    let mut wrong = cfg.clone();
    wrong.credentials = Some(Credentials { password: "guess".into(), ..login });
    let e = Mailer::new(wrong).unwrap().send(&outgoing("alice@client.test")).await.unwrap_err();
    assert!(matches!(e, SendError::Rejected { code: 535, .. }) && e.is_permanent(), "{e:?}");

    let mut untrusted = cfg.clone();
    untrusted.tls_root_certs.clear();
    let e = Mailer::new(untrusted).unwrap().send(&outgoing("alice@client.test")).await.unwrap_err();
    assert!(matches!(e, SendError::Connection(_)) && e.is_temporary(), "an unknown certificate is refused: {e:?}");

    let mut relay = Sink::start(&dir, "tls", &cert, &key, ("", "")).await;
    let mut cfg = mailer(relay.port, TlsMode::Tls);
    cfg.tls_root_certs = vec![ck.cert.pem().into_bytes()];
    Mailer::new(cfg).unwrap().send(&outgoing("alice@client.test")).await.unwrap();
    assert_eq!(relay.next().await["tls"].as_bool(), Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailer_errors_say_whether_to_retry() {
    let dir = TempDir::new("err");
    let relay = Sink::start(&dir, "plain", &no_file(), &no_file(), ("", "")).await;
    let m = Mailer::new(mailer(relay.port, TlsMode::None)).unwrap();
    let e = m.send(&outgoing("refuse@client.test")).await.unwrap_err();
    assert!(matches!(&e, SendError::Rejected { code: 550, message } if message.contains("No such user")) && e.is_permanent(), "{e:?}");
    let e = m.send(&outgoing("later@client.test")).await.unwrap_err();
    assert!(matches!(e, SendError::Deferred { code: 451, .. }) && e.is_temporary(), "{e:?}");
    let e = m.send(&outgoing("not an address")).await.unwrap_err();
    assert!(matches!(e, SendError::BadAddress { .. }) && e.is_permanent(), "{e:?}");

    // Nothing listens on a port just freed: connection refused is temporary.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = Mailer::new(mailer(closed, TlsMode::None)).unwrap().send(&outgoing("alice@client.test")).await.unwrap_err();
    assert!(matches!(e, SendError::Connection(_)) && e.is_temporary(), "{e:?}");
}

/// A hook that records what it is given, refuses `nobody@…` at RCPT and fails as told.
#[derive(Clone, Default)]
struct Recorder {
    got: Arc<Mutex<Vec<InboundMail>>>,
    fail: Arc<Mutex<Option<DeliveryError>>>,
}

#[async_trait::async_trait]
impl Deliver for Recorder {
    async fn check_recipient(&self, address: &str) -> Result<(), DeliveryError> {
        if address.starts_with("nobody@") {
            return Err(DeliveryError::UnknownRecipient(format!("<{address}> is not a mailbox of this centre")));
        }
        Ok(())
    }

    async fn deliver(&self, mail: InboundMail) -> Result<(), DeliveryError> {
        if let Some(e) = self.fail.lock().unwrap().clone() {
            return Err(e);
        }
        self.got.lock().unwrap().push(mail);
        Ok(())
    }
}

impl Recorder {
    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    fn last(&self) -> InboundMail {
        self.got.lock().unwrap().last().cloned().expect("the hook got a message")
    }
}

async fn listener(tune: impl FnOnce(&mut InboundConfig)) -> (SmtpListener, Recorder) {
    let mut cfg = InboundConfig::new(REPLY_DOMAIN);
    cfg.hostname = "frontdesk.test".into();
    cfg.local_domains = vec!["centre.test".into()];
    cfg.max_message_bytes = LIMIT;
    cfg.max_attachments = 2;
    cfg.max_attachment_bytes = 8 * 1024;
    tune(&mut cfg);
    let rec = Recorder::default();
    let l = SmtpListener::bind("127.0.0.1:0".parse().unwrap(), cfg, Arc::new(rec.clone())).await.unwrap();
    (l, rec)
}

fn reply_message(token: &str) -> String {
    format!(
        "From: Alice Martin <alice@client.test>\r\nTo: Support <reply+{token}@{REPLY_DOMAIN}>\r\nSubject: Re: Your order 1042\r\n\
         Message-ID: <m2@client.test>\r\nIn-Reply-To: <m1@centre.test>\r\nReferences: <m0@client.test> <m1@centre.test>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Thanks, tomorrow is fine.\r\n.Dots survive.\r\n\r\nAlice\r\n\r\n\
         On Tue, 3 Dec 2024 at 10:00, Support <support@centre.test> wrote:\r\n> Your order ships tomorrow.\r\n> Ann\r\n"
    )
}

fn spec(port: u16, to: &str, message: &str) -> Value {
    serde_json::json!({"port": port, "from": "alice@client.test", "to": [to], "message": message})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_from_smtplib_reaches_the_hook_parsed_and_only_then_is_acknowledged() {
    let dir = TempDir::new("in");
    let (l, rec) = listener(|_| {}).await;
    let port = l.local_addr().port();
    let out = smtplib(&dir, spec(port, &format!("reply+ABCDEF0123@{REPLY_DOMAIN}"), &reply_message("ABCDEF0123"))).await;
    assert_eq!(out["result"], "ok", "{out}");
    assert_eq!(out["features"]["size"], LIMIT.to_string(), "SIZE is advertised: {out}");
    // smtplib returned after our 250, which comes after the hook: the message is already there.
    let m = rec.last();
    assert_eq!(m.token.as_deref(), Some("abcdef0123"));
    assert_eq!(m.rcpt, vec![format!("reply+ABCDEF0123@{REPLY_DOMAIN}")]);
    assert_eq!(
        (m.from.as_str(), m.from_name.as_deref(), m.envelope_from.as_deref()),
        ("alice@client.test", Some("Alice Martin"), Some("alice@client.test"))
    );
    assert_eq!(m.message_id.as_deref(), Some("m2@client.test"));
    assert_eq!(m.in_reply_to.as_deref(), Some("m1@centre.test"));
    assert_eq!(m.references, vec!["m0@client.test", "m1@centre.test"]);
    assert_eq!(m.subject, "Re: Your order 1042");
    assert_eq!(m.text, "Thanks, tomorrow is fine.\n.Dots survive.\n\nAlice");
    assert!(m.full_text.contains("> Your order ships tomorrow.") && m.full_text.contains("wrote:"));
    assert!(!m.auto_submitted);
    assert_eq!(m.attachments, Attachments::default());

    // An out-of-office answer is delivered flagged, for the broker to drop.
    let ooo = "From: alice@client.test\r\nTo: reply+abc@reply.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@client.test>\r\n\r\nI am away until Monday.\r\n";
    let out = smtplib(&dir, spec(port, "reply+abc@reply.test", ooo)).await;
    assert_eq!(out["result"], "ok", "{out}");
    let m = rec.last();
    assert!(m.auto_submitted && m.token.as_deref() == Some("abc"), "{m:?}");
    // New mail to a centre address, no token: delivered for the broker to open an interaction.
    let out = smtplib(&dir, spec(port, "support@centre.test", "From: bob@client.test\r\nSubject: Hello\r\n\r\nA question.\r\n")).await;
    assert_eq!(out["result"], "ok", "{out}");
    assert_eq!((rec.last().token, rec.last().text), (None, "A question.".to_string()));
    assert_eq!(rec.count(), 3);
    l.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_sent_with_lettre_arrives_with_its_thread_and_token() {
    let (l, rec) = listener(|_| {}).await;
    let m = Mailer::new(mailer(l.local_addr().port(), TlsMode::None)).unwrap();
    let token = new_reply_token();
    let mut mail = outgoing(&format!("reply+{token}@{REPLY_DOMAIN}"));
    mail.text = "Yes, please send it.\n\nOn Mon, Ann wrote:\n> Shall we ship it?".into();
    m.send(&mail).await.unwrap();
    let got = rec.last();
    assert_eq!(got.token, Some(token));
    assert_eq!(got.message_id, Some(mail.message_id.clone()));
    assert_eq!(got.in_reply_to.as_deref(), Some("m1@client.test"));
    assert_eq!(got.references, mail.references);
    assert_eq!(got.subject, mail.subject);
    assert_eq!(got.text, "Yes, please send it.");
    assert_eq!(got.full_text.trim_end(), mail.text);
    assert_eq!(got.envelope_from.as_deref(), Some("support@centre.test"));
    l.shutdown().await;
}

fn with_attachments(n: usize, bytes_each: usize) -> String {
    let chunk = base64_of(&vec![b'x'; bytes_each]);
    let mut m = String::from("From: alice@client.test\r\nSubject: Photos\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n");
    for i in 0..n {
        m.push_str(&format!("--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"f{i}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{chunk}\r\n"));
    }
    m.push_str("--b--\r\n");
    m
}

fn base64_of(data: &[u8]) -> String {
    use base64::Engine;
    let s = base64::engine::general_purpose::STANDARD.encode(data);
    s.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_mail_and_too_many_or_too_large_attachments_get_552_and_never_reach_the_hook() {
    let dir = TempDir::new("big");
    let (l, rec) = listener(|_| {}).await;
    let port = l.local_addr().port();
    let big = format!(
        "From: alice@client.test\r\nSubject: big\r\n\r\n{}",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n".repeat(LIMIT / 60)
    );
    // smtplib declares SIZE, so the refusal comes at MAIL FROM…
    let out = smtplib(&dir, spec(port, "reply+abc@reply.test", &big)).await;
    assert_eq!((out["error"].as_str(), out["code"].as_u64()), (Some("sender"), Some(552)), "{out}");
    // …and without the declaration, after the data, which was read and dropped.
    let mut s = spec(port, "reply+abc@reply.test", &big);
    s["no_size"] = true.into();
    let out = smtplib(&dir, s).await;
    assert_eq!((out["error"].as_str(), out["code"].as_u64()), (Some("data"), Some(552)), "{out}");
    assert!(out["text"].as_str().unwrap().contains("too large"), "{out}");
    let out = smtplib(&dir, spec(port, "reply+abc@reply.test", &with_attachments(3, 100))).await;
    assert_eq!((out["error"].as_str(), out["code"].as_u64()), (Some("data"), Some(552)), "{out}");
    assert!(out["text"].as_str().unwrap().contains("attachments"), "{out}");
    let out = smtplib(&dir, spec(port, "reply+abc@reply.test", &with_attachments(2, 5000))).await;
    assert_eq!((out["error"].as_str(), out["code"].as_u64()), (Some("data"), Some(552)), "{out}");
    assert_eq!(rec.count(), 0, "nothing refused reached the hook");
    // Within the limits, attachments are counted.
    let out = smtplib(&dir, spec(port, "reply+abc@reply.test", &with_attachments(2, 1000))).await;
    assert_eq!(out["result"], "ok", "{out}");
    assert_eq!(rec.last().attachments, Attachments { count: 2, bytes: 2000 });
    assert_eq!(rec.last().text, "See attached.");
    l.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_failures_and_unknown_recipients_reach_the_sending_relay() {
    let dir = TempDir::new("fail");
    let (l, rec) = listener(|_| {}).await;
    let port = l.local_addr().port();
    *rec.fail.lock().unwrap() = Some(DeliveryError::Temporary("store unavailable".into()));
    let out = smtplib(&dir, spec(port, "reply+abc@reply.test", &reply_message("abc"))).await;
    assert_eq!((out["error"].as_str(), out["code"].as_u64()), (Some("data"), Some(451)), "the relay keeps the message and retries: {out}");
    assert!(out["text"].as_str().unwrap().contains("store unavailable"), "{out}");
    *rec.fail.lock().unwrap() = Some(DeliveryError::Permanent("this conversation is closed".into()));
    let out = smtplib(&dir, spec(port, "reply+abc@reply.test", &reply_message("abc"))).await;
    assert_eq!((out["error"].as_str(), out["code"].as_u64()), (Some("data"), Some(550)), "{out}");
    *rec.fail.lock().unwrap() = None;
    for to in ["nobody@reply.test", "someone@elsewhere.test"] {
        let out = smtplib(&dir, spec(port, to, &reply_message("abc"))).await;
        assert_eq!(out["error"], "recipients", "{out}");
        assert_eq!(out["refused"][to][0], 550, "{out}");
    }
    assert_eq!(rec.count(), 0);
    // The relay retries later and the message goes through.
    let out = smtplib(&dir, spec(port, "reply+abc@reply.test", &reply_message("abc"))).await;
    assert_eq!(out["result"], "ok", "{out}");
    assert_eq!(rec.count(), 1);
    l.shutdown().await;
}

/// A raw SMTP connection, for input no real client would send.
struct Raw {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn connect(l: &SmtpListener) -> Raw {
        let (r, w) = TcpStream::connect(l.local_addr()).await.unwrap().into_split();
        let mut raw = Raw { r: BufReader::new(r), w };
        assert_eq!(raw.reply().await.0, 220);
        raw
    }

    /// The next reply's code and text (multi-line replies joined).
    async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = timeout(Duration::from_secs(10), self.r.read_line(&mut line)).await.expect("a reply in time").unwrap();
            assert!(n > 0, "the listener closed the connection without a reply");
            assert!(line.ends_with("\r\n") && line.len() >= 5, "a well-formed reply line: {line:?}");
            text.push_str(line[4..].trim_end());
            if line.as_bytes()[3] == b' ' {
                return (line[..3].parse().unwrap(), text);
            }
            text.push('\n');
        }
    }

    async fn cmd(&mut self, bytes: &[u8]) -> (u16, String) {
        self.w.write_all(bytes).await.unwrap();
        self.reply().await
    }

    async fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(timeout(Duration::from_secs(10), self.r.read(&mut b)).await, Ok(Ok(0)) | Ok(Err(_)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_smtp_gets_typed_replies_and_the_listener_keeps_serving() {
    let (l, rec) = listener(|c| c.max_errors = 30).await;
    let mut c = Raw::connect(&l).await;
    let long = format!("NOOP {}\r\n", "x".repeat(5000));
    for (input, code) in [
        (&b"MAIL FROM:<a@client.test>\r\n"[..], 503),
        (b"HELLO there\r\n", 500),
        (b"\r\n", 500),
        (b"\xff\xfe\r\n", 500),
        (b"NOOP\0\r\n", 500),
        (b"NOOP bare\n", 500),
        (long.as_bytes(), 500),
        (b"STARTTLS\r\n", 502),
        (b"EHLO\r\n", 501),
        (b"EHLO relay.test\r\n", 250),
        (b"RCPT TO:<reply+abc@reply.test>\r\n", 503),
        (b"DATA\r\n", 503),
        (b"MAIL FROM:a@client.test\r\n", 501),
        (b"MAIL FROM:<a@client.test> SIZE=999999999\r\n", 552),
        (b"MAIL FROM:<a@client.test> XFOO=1\r\n", 555),
        (b"MAIL FROM:<a@client.test>\r\n", 250),
        (b"MAIL FROM:<a@client.test>\r\n", 503),
        (b"RCPT TO:<not-an-address>\r\n", 553),
        (b"DATA\r\n", 554),
        (b"VRFY alice\r\n", 252),
        (b"RSET\r\n", 250),
        (b"NOOP\r\n", 250),
    ] {
        let (got, text) = c.cmd(input).await;
        assert_eq!(got, code, "{:?} → {got} {text}", String::from_utf8_lossy(input));
    }
    // A pipelined transaction on the same connection still works…
    let (code, _) = c.cmd(b"MAIL FROM:<alice@client.test>\r\nRCPT TO:<reply+abc@reply.test>\r\nDATA\r\n").await;
    assert_eq!(code, 250);
    assert_eq!(c.reply().await.0, 250);
    assert_eq!(c.reply().await.0, 354);
    assert_eq!(c.cmd(b"Subject: ok\r\n\r\n..hidden dot\r\n.\r\n").await.0, 250);
    assert_eq!(rec.last().full_text.trim_end(), ".hidden dot");
    // …and a bare-LF "end of data" does not end the data (no smuggled second message).
    assert_eq!(c.cmd(b"MAIL FROM:<alice@client.test>\r\n").await.0, 250);
    assert_eq!(c.cmd(b"RCPT TO:<reply+abc@reply.test>\r\n").await.0, 250);
    assert_eq!(c.cmd(b"DATA\r\n").await.0, 354);
    let (code, text) = c.cmd(b"Subject: one\r\n\r\nhi\n.\nMAIL FROM:<evil@x.test>\r\n.\r\n").await;
    assert_eq!(code, 554, "{text}");
    assert_eq!(c.cmd(b"QUIT\r\n").await.0, 221);
    assert!(c.closed().await);
    assert_eq!(rec.count(), 1);

    // A web page aimed at the port is dropped.
    let mut c = Raw::connect(&l).await;
    assert_eq!(c.cmd(b"GET / HTTP/1.1\r\n").await.0, 421);
    assert!(c.closed().await);
    l.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_silence_and_shutdown_close_connections_with_421() {
    let (l, _rec) = listener(|c| {
        c.max_errors = 3;
        c.command_timeout = Duration::from_millis(300);
    })
    .await;
    let mut c = Raw::connect(&l).await;
    for _ in 0..2 {
        assert_eq!(c.cmd(b"WHAT\r\n").await.0, 500);
    }
    assert_eq!(c.cmd(b"WHAT\r\n").await.0, 500);
    assert_eq!(c.reply().await.0, 421, "the third error closes the connection");
    assert!(c.closed().await);

    let mut c = Raw::connect(&l).await;
    let started = std::time::Instant::now();
    assert_eq!(c.reply().await.0, 421, "silence times out");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(c.closed().await);

    let (l, _rec) = listener(|_| {}).await;
    let mut idle = Raw::connect(&l).await;
    assert_eq!(idle.cmd(b"EHLO relay.test\r\n").await.0, 250);
    let addr = l.local_addr();
    timeout(Duration::from_secs(10), l.shutdown()).await.expect("shutdown is prompt with only idle connections");
    assert_eq!(idle.reply().await.0, 421);
    // Binding the address proves nobody listens on it; connecting could reach another test's
    // listener that the kernel gave the freed port to.
    assert!(std::net::TcpListener::bind(addr).is_ok(), "no longer listening");
}
