//! A small XML element tree read from a stream with quick-xml, with limits against hostile input.

use quick_xml::events::Event;
use quick_xml::Reader;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};

/// Deepest nesting accepted inside a stanza.
pub const MAX_DEPTH: usize = 32;
/// Largest stanza accepted, in bytes.
pub const MAX_STANZA_BYTES: u64 = 64 * 1024;

/// Bytes read from the socket for one stanza (or stream header) before reading stops: the stanza limit
/// and room for what the buffered reader read ahead (8 KiB) before the budget was reset.
pub const READ_BUDGET: u64 = MAX_STANZA_BYTES + 16 * 1024;

/// How many bytes a [`Limited`] reader may still read; reset before each stanza.
#[derive(Debug, Clone, Default)]
pub struct Budget(Arc<AtomicU64>);

impl Budget {
    /// A budget of [`READ_BUDGET`].
    pub fn new() -> Self {
        let b = Budget::default();
        b.reset();
        b
    }

    /// Allows [`READ_BUDGET`] more bytes from now.
    pub fn reset(&self) {
        self.0.store(READ_BUDGET, Ordering::Relaxed);
    }
}

/// The error a [`Limited`] reader returns once its budget is spent.
#[derive(Debug, thiserror::Error)]
#[error("stanza exceeds the read budget")]
pub struct BudgetSpent;

/// A reader that refuses to read more than its [`Budget`]: quick-xml buffers a whole event before
/// returning it, so without this an unterminated attribute would be buffered without end.
#[derive(Debug)]
pub struct Limited<R> {
    inner: R,
    budget: Budget,
}

impl<R> Limited<R> {
    /// Reads from `inner` within `budget`.
    pub fn new(inner: R, budget: Budget) -> Self {
        Limited { inner, budget }
    }

    /// The inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Limited<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let left = self.budget.0.load(Ordering::Relaxed);
        if left == 0 {
            return Poll::Ready(Err(std::io::Error::other(BudgetSpent)));
        }
        let room = (buf.remaining() as u64).min(left) as usize;
        let mut part = ReadBuf::new(buf.initialize_unfilled_to(room));
        let r = Pin::new(&mut self.inner).poll_read(cx, &mut part);
        let n = part.filled().len();
        if let Poll::Ready(Ok(())) = r {
            buf.advance(n);
            self.budget.0.fetch_sub(n as u64, Ordering::Relaxed);
        }
        r
    }
}

fn read_error(e: quick_xml::Error) -> XmlError {
    if let quick_xml::Error::Io(io) = &e {
        if io.get_ref().is_some_and(|i| i.is::<BudgetSpent>()) {
            return XmlError::TooBig;
        }
    }
    XmlError::Syntax(e.to_string())
}

/// One element: qualified name, attributes, children and text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Element {
    /// Qualified name as written (`stream:features`, `iq`).
    pub name: String,
    /// Attributes, unescaped.
    pub attrs: Vec<(String, String)>,
    /// Child elements.
    pub children: Vec<Element>,
    /// Concatenated character data.
    pub text: String,
}

impl Element {
    /// An attribute's value.
    pub fn attr(&self, k: &str) -> Option<&str> {
        self.attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
    }

    /// Local name (without prefix).
    pub fn local(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }

    /// The element's own `xmlns`.
    pub fn ns(&self) -> Option<&str> {
        self.attr("xmlns")
    }

    /// First child with a local name.
    pub fn child(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.local() == local)
    }
}

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed.
    #[error("not well-formed: {0}")]
    Syntax(String),
    /// DTDs are refused (no entity expansion, no external entities).
    #[error("DTDs are not allowed")]
    Dtd,
    /// Too deep or too big.
    #[error("stanza exceeds limits")]
    TooBig,
    /// The peer closed the stream or the connection.
    #[error("stream closed")]
    Closed,
}

fn attrs(e: &quick_xml::events::BytesStart<'_>) -> Result<(String, Vec<(String, String)>), XmlError> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut v = vec![];
    for a in e.attributes() {
        let a = a.map_err(|x| XmlError::Syntax(x.to_string()))?;
        let k = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let val = a.unescape_value().map_err(|x| XmlError::Syntax(x.to_string()))?.into_owned();
        v.push((k, val));
    }
    Ok((name, v))
}

fn general_ref(r: &quick_xml::events::BytesRef<'_>) -> Result<char, XmlError> {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return Ok(c);
    }
    match r.as_ref() {
        b"amp" => Ok('&'),
        b"lt" => Ok('<'),
        b"gt" => Ok('>'),
        b"quot" => Ok('"'),
        b"apos" => Ok('\''),
        _ => Err(XmlError::Syntax("unknown entity".into())),
    }
}

/// Reads up to and including the stream header (`<stream:stream …>`), returning it without children.
pub async fn read_header<R: AsyncBufRead + Unpin>(r: &mut Reader<R>, buf: &mut Vec<u8>) -> Result<Element, XmlError> {
    loop {
        buf.clear();
        match r.read_event_into_async(buf).await.map_err(read_error)? {
            Event::Decl(_) | Event::Comment(_) | Event::Text(_) => continue,
            Event::DocType(_) => return Err(XmlError::Dtd),
            Event::Start(e) => {
                let (name, attrs) = attrs(&e)?;
                return Ok(Element { name, attrs, ..Default::default() });
            }
            Event::Eof => return Err(XmlError::Closed),
            _ => return Err(XmlError::Syntax("expected a stream header".into())),
        }
    }
}

/// Reads the next complete top-level element of the stream; `Err(Closed)` at `</stream:stream>`.
pub async fn read_stanza<R: AsyncBufRead + Unpin>(r: &mut Reader<R>, buf: &mut Vec<u8>) -> Result<Element, XmlError> {
    let mut stack: Vec<Element> = vec![];
    let start = r.buffer_position();
    loop {
        buf.clear();
        let ev = r.read_event_into_async(buf).await.map_err(read_error)?;
        if r.buffer_position() - start > MAX_STANZA_BYTES {
            return Err(XmlError::TooBig);
        }
        let done = match ev {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooBig);
                }
                let (name, attrs) = attrs(&e)?;
                stack.push(Element { name, attrs, ..Default::default() });
                None
            }
            Event::Empty(e) => {
                let (name, attrs) = attrs(&e)?;
                let el = Element { name, attrs, ..Default::default() };
                match stack.last_mut() {
                    Some(p) => {
                        p.children.push(el);
                        None
                    }
                    None => Some(el),
                }
            }
            Event::End(_) => match stack.pop() {
                None => return Err(XmlError::Closed),
                Some(el) => match stack.last_mut() {
                    Some(p) => {
                        p.children.push(el);
                        None
                    }
                    None => Some(el),
                },
            },
            Event::Text(t) => {
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&t.xml_content().map_err(|e| XmlError::Syntax(e.to_string()))?);
                }
                None
            }
            Event::CData(t) => {
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&String::from_utf8_lossy(&t));
                }
                None
            }
            Event::GeneralRef(g) => {
                let c = general_ref(&g)?;
                if let Some(p) = stack.last_mut() {
                    p.text.push(c);
                }
                None
            }
            Event::DocType(_) => return Err(XmlError::Dtd),
            Event::Eof => return Err(XmlError::Closed),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => None,
        };
        if let Some(el) = done {
            return Ok(el);
        }
    }
}

/// Parses one complete element from a byte slice (XMPP over WebSocket sends one per message).
pub async fn parse_one(bytes: &[u8]) -> Result<Element, XmlError> {
    if bytes.len() as u64 > MAX_STANZA_BYTES {
        return Err(XmlError::TooBig);
    }
    let mut r = Reader::from_reader(bytes);
    let mut buf = vec![];
    read_stanza(&mut r, &mut buf).await
}

/// Escapes text and attribute values.
pub fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}
