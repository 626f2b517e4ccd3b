//! The receiver side of SMTP (RFC 5321) as pure pieces: reply formatting, command parsing,
//! bounded line reading and the DATA accumulator. [`super::inbound`] drives them over a socket.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One SMTP reply, possibly multi-line; the enhanced status code (RFC 3463) is part of the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// One entry per line, without the code.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, text: impl Into<String>) -> Reply {
        Reply { code, lines: vec![text.into()] }
    }

    /// A multi-line reply (EHLO's capabilities).
    pub fn multi(code: u16, lines: Vec<String>) -> Reply {
        Reply { code, lines }
    }

    /// The reply as sent, every line ended by CRLF.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        let n = self.lines.len().max(1);
        for i in 0..n {
            let sep = if i + 1 == n { ' ' } else { '-' };
            // Whatever a hook put in a reason, a reply line must not break into two.
            let text: String =
                self.lines.get(i).map(|l| l.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()).unwrap_or_default();
            out.push_str(&format!("{}{}{}\r\n", self.code, sep, text));
        }
        out.into_bytes()
    }
}

/// A parsed command; addresses without their angle brackets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Helo(String),
    Ehlo(String),
    /// `None` is the null reverse path `<>` (bounces and other automatic mail).
    Mail {
        from: Option<String>,
        size: Option<u64>,
    },
    Rcpt(String),
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    /// Recognised but not offered (STARTTLS, AUTH, BDAT, EXPN, ETRN, TURN…).
    NotImplemented(String),
    /// A web browser or proxy talking to the mail port: drop it (as Postfix does), so a page
    /// cannot use the listener through a cross-protocol request.
    Http,
}

fn syntax(text: &str) -> Reply {
    Reply::new(501, format!("5.5.4 Syntax: {text}"))
}

/// Parses one command line (without its CRLF).
pub(crate) fn parse_command(line: &str) -> Result<Command, Reply> {
    if line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(Reply::new(500, "5.5.2 Control characters in command"));
    }
    let (verb, rest) = match line.find(' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    };
    let rest = rest.trim();
    let no_args =
        |c: Command| if rest.is_empty() { Ok(c) } else { Err(syntax(&format!("{} takes no arguments", verb.to_ascii_uppercase()))) };
    match verb.to_ascii_uppercase().as_str() {
        "HELO" | "EHLO" => {
            if rest.is_empty() || rest.contains(' ') {
                return Err(syntax(&format!("{} domain", verb.to_ascii_uppercase())));
            }
            Ok(if verb.eq_ignore_ascii_case("HELO") { Command::Helo(rest.into()) } else { Command::Ehlo(rest.into()) })
        }
        "MAIL" => {
            let args = strip_prefix_ci(rest, "FROM:").ok_or_else(|| syntax("MAIL FROM:<address> [SIZE=n] [BODY=8BITMIME] [SMTPUTF8]"))?;
            let (path, params) = split_path(args)?;
            let from = if path.is_empty() { None } else { Some(check_address(path)?) };
            let mut size = None;
            for p in params.split_ascii_whitespace() {
                let (k, v) = p.split_once('=').map(|(k, v)| (k, Some(v))).unwrap_or((p, None));
                match (k.to_ascii_uppercase().as_str(), v) {
                    ("SIZE", Some(v)) => size = Some(v.parse::<u64>().map_err(|_| syntax("SIZE=<decimal number of bytes>"))?),
                    ("BODY", Some(v)) if v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME") => {}
                    ("SMTPUTF8", None) => {}
                    _ => return Err(Reply::new(555, format!("5.5.4 MAIL parameter {p} not recognised"))),
                }
            }
            Ok(Command::Mail { from, size })
        }
        "RCPT" => {
            let args = strip_prefix_ci(rest, "TO:").ok_or_else(|| syntax("RCPT TO:<address>"))?;
            let (path, params) = split_path(args)?;
            if !params.trim().is_empty() {
                return Err(Reply::new(555, format!("5.5.4 RCPT parameters not recognised: {}", params.trim())));
            }
            if path.is_empty() {
                return Err(syntax("RCPT TO:<address> (an empty address is only for MAIL FROM)"));
            }
            // `<postmaster>` without a domain is the one bare local part RFC 5321 allows.
            if path.eq_ignore_ascii_case("postmaster") {
                return Ok(Command::Rcpt("postmaster".into()));
            }
            Ok(Command::Rcpt(check_address(path)?))
        }
        "DATA" => no_args(Command::Data),
        "RSET" => no_args(Command::Rset),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(Command::Quit),
        "VRFY" => Ok(Command::Vrfy),
        "HELP" => Ok(Command::Help),
        v @ ("STARTTLS" | "AUTH" | "BDAT" | "EXPN" | "ETRN" | "TURN" | "ATRN" | "SEND" | "SOML" | "SAML") => {
            Ok(Command::NotImplemented(v.into()))
        }
        "GET" | "POST" | "PUT" | "HEAD" | "CONNECT" | "OPTIONS" | "DELETE" => Ok(Command::Http),
        "" => Err(Reply::new(500, "5.5.2 Empty command")),
        _ => Err(Reply::new(500, "5.5.1 Command not recognised")),
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    // Some clients write `MAIL FROM: <a@b>`; accepting the space costs nothing.
    head.eq_ignore_ascii_case(prefix).then(|| s[prefix.len()..].trim_start())
}

/// `<path> params` → (path without brackets and source route, params).
fn split_path(s: &str) -> Result<(&str, &str), Reply> {
    if !s.starts_with('<') {
        return Err(syntax("the address must be in angle brackets, <user@domain>"));
    }
    let end = s.find('>').ok_or_else(|| syntax("missing '>' after the address"))?;
    let mut path = &s[1..end];
    // A source route (`<@a,@b:user@c>`) is obsolete; RFC 5321 says to ignore it.
    if path.starts_with('@') {
        path = path.split_once(':').map(|(_, p)| p).ok_or_else(|| syntax("bad source route"))?;
    }
    let params = &s[end + 1..];
    if !params.is_empty() && !params.starts_with(' ') {
        return Err(syntax("a space must separate the address from parameters"));
    }
    Ok((path, params))
}

/// Checks a mailbox enough that what reaches the hook is one address (RFC 5321 lengths).
fn check_address(a: &str) -> Result<String, Reply> {
    let bad = |why: &str| Reply::new(553, format!("5.1.3 Bad address syntax: {why}"));
    let (local, domain) = a.rsplit_once('@').ok_or_else(|| bad("user@domain expected"))?;
    if local.is_empty() || local.len() > 64 {
        return Err(bad("the local part must be 1-64 bytes"));
    }
    if domain.is_empty() || domain.len() > 255 || a.len() > 254 {
        return Err(bad("too long"));
    }
    if a.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("spaces or control characters"));
    }
    let literal = domain.starts_with('[') && domain.ends_with(']');
    if !literal && !domain.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-')) {
        return Err(bad("the domain is not a host name"));
    }
    if !local.starts_with('"') && local.contains('@') {
        return Err(bad("more than one '@'"));
    }
    Ok(a.to_string())
}

/// One line read from the peer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line without its end of line; `bare_lf` when it ended in LF without CR.
    Text { bytes: Vec<u8>, bare_lf: bool },
    /// Longer than the limit (end of line included); the rest of it was read and dropped.
    TooLong,
    /// The peer closed the connection (a partial last line is dropped).
    Eof,
}

/// Reads one line of at most `max` bytes (end of line included), never holding more than that:
/// a peer that sends an endless line costs nothing but the time to read it.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let mut len = 0usize;
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(Line::Eof);
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        len += take;
        if len <= max {
            buf.extend_from_slice(&avail[..take]);
        }
        r.consume(take);
        if done {
            break;
        }
    }
    if len > max {
        return Ok(Line::TooLong);
    }
    buf.pop(); // the LF
    let bare_lf = buf.last() != Some(&b'\r');
    if !bare_lf {
        buf.pop();
    }
    Ok(Line::Text { bytes: buf, bare_lf })
}

/// What one message's DATA section came to.
#[derive(Debug, Default)]
pub(crate) struct Data {
    /// The message with dots unstuffed and CRLF line ends (emptied once it is too large).
    pub bytes: Vec<u8>,
    /// Bytes received (after unstuffing), counted even past the limit.
    pub size: usize,
    pub too_large: bool,
    pub line_too_long: bool,
    /// A line ended in a bare LF: refused, since relays disagree on what `\n.\n` means and
    /// that disagreement is how "SMTP smuggling" slips a second message past a filter.
    pub bare_lf: bool,
    max: usize,
}

impl Data {
    /// An empty DATA section that keeps at most `max` bytes.
    pub fn new(max: usize) -> Data {
        Data { max, ..Data::default() }
    }

    /// Takes one line; `true` at the terminating `.` line.
    pub fn push(&mut self, line: Line) -> bool {
        match line {
            Line::Text { bytes, bare_lf } => {
                if bare_lf {
                    self.bare_lf = true;
                } else if bytes == b"." {
                    return true;
                }
                let content = bytes.strip_prefix(b".").unwrap_or(&bytes);
                self.size += content.len() + 2;
                if self.size > self.max {
                    self.too_large = true;
                    self.bytes = Vec::new();
                } else {
                    self.bytes.extend_from_slice(content);
                    self.bytes.extend_from_slice(b"\r\n");
                }
            }
            Line::TooLong => self.line_too_long = true,
            Line::Eof => {}
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_strictly_and_refusals_are_typed() {
        assert_eq!(parse_command("EHLO relay.example"), Ok(Command::Ehlo("relay.example".into())));
        assert_eq!(
            parse_command("mail from:<a@b.example> SIZE=100 BODY=8BITMIME"),
            Ok(Command::Mail { from: Some("a@b.example".into()), size: Some(100) })
        );
        assert_eq!(parse_command("MAIL FROM: <>"), Ok(Command::Mail { from: None, size: None }));
        assert_eq!(parse_command("RCPT TO:<@hop.example:reply+abc@r.example>"), Ok(Command::Rcpt("reply+abc@r.example".into())));
        assert_eq!(parse_command("RCPT TO:<Postmaster>"), Ok(Command::Rcpt("postmaster".into())));
        assert_eq!(parse_command("STARTTLS"), Ok(Command::NotImplemented("STARTTLS".into())));
        assert_eq!(parse_command("GET / HTTP/1.1"), Ok(Command::Http));
        for (line, code) in [
            ("", 500),
            ("FOO bar", 500),
            ("HELO", 501),
            ("MAIL TO:<a@b>", 501),
            ("MAIL FROM:a@b.example", 501),
            ("MAIL FROM:<a@b.example> SIZE=lots", 501),
            ("MAIL FROM:<a@b.example> AUTH=<>", 555),
            ("RCPT TO:<a@b.example> NOTIFY=NEVER", 555),
            ("RCPT TO:<>", 501),
            ("RCPT TO:<no-domain>", 553),
            ("RCPT TO:<a b@c.example>", 553),
            ("DATA now", 501),
            ("NOOP\0", 500),
        ] {
            assert_eq!(parse_command(line).map_err(|r| r.code), Err(code), "{line:?}");
        }
    }

    #[test]
    fn replies_are_formatted_one_line_each() {
        assert_eq!(Reply::multi(250, vec!["a".into(), "SIZE 10".into()]).to_bytes(), b"250-a\r\n250 SIZE 10\r\n");
        assert_eq!(Reply::new(451, "4.3.0 x\r\n250 ok").to_bytes(), b"451 4.3.0 x  250 ok\r\n");
    }

    #[tokio::test]
    async fn lines_are_bounded_and_bare_lf_is_noticed() {
        let input: &[u8] = b"short\r\nbare\nthis line is far too long\r\nafter\r\npartial";
        let mut r = tokio::io::BufReader::with_capacity(4, input);
        assert_eq!(read_line(&mut r, 10).await.unwrap(), Line::Text { bytes: b"short".to_vec(), bare_lf: false });
        assert_eq!(read_line(&mut r, 10).await.unwrap(), Line::Text { bytes: b"bare".to_vec(), bare_lf: true });
        assert_eq!(read_line(&mut r, 10).await.unwrap(), Line::TooLong);
        assert_eq!(read_line(&mut r, 10).await.unwrap(), Line::Text { bytes: b"after".to_vec(), bare_lf: false });
        assert_eq!(read_line(&mut r, 10).await.unwrap(), Line::Eof);
    }

    #[test]
    fn data_unstuffs_dots_ends_at_the_dot_line_and_counts_past_the_limit() {
        let t = |s: &str| Line::Text { bytes: s.as_bytes().to_vec(), bare_lf: false };
        let mut d = Data::new(100);
        assert!(!d.push(t("Subject: x")));
        assert!(!d.push(t("")));
        assert!(!d.push(t("..leading dot")));
        assert!(d.push(t(".")));
        assert_eq!(d.bytes, b"Subject: x\r\n\r\n.leading dot\r\n");
        let mut d = Data::new(10);
        assert!(!d.push(t("0123456789")));
        assert!(!d.push(Line::Text { bytes: b".".to_vec(), bare_lf: true }), "a bare-LF dot does not end the data");
        assert!(d.push(t(".")));
        assert!(d.too_large && d.bare_lf && d.bytes.is_empty() && d.size == 14);
    }
}
