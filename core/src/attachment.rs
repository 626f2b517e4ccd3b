//! Files a party sends in a conversation: which kinds are taken, how big, and what a chat message
//! says about the file it carries.
//!
//! A file is addressed by the chat message that carries it (interaction and message number), so it
//! has no id of its own to guess and is readable by exactly those who may read that transcript.

use crate::protocol::{ErrorBody, ErrorCode};
use serde::{Deserialize, Serialize};

/// What a chat message says about the file it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Attachment {
    /// File name as the sender gave it, without any directory part.
    pub name: String,
    /// Media type (one of the policy's allowed types).
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// Longest file name kept, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// Which files are taken.
#[derive(Debug, Clone)]
pub struct AttachmentPolicy {
    /// Largest file taken, in bytes (0 turns attachments off).
    pub max_bytes: usize,
    /// Media types taken. Types a browser would run as a page or script (HTML, SVG, JavaScript)
    /// are never taken, whatever this says, because the file is served back to other parties.
    pub types: Vec<String>,
}

impl Default for AttachmentPolicy {
    fn default() -> Self {
        AttachmentPolicy {
            max_bytes: 10 << 20,
            types: ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"].map(String::from).to_vec(),
        }
    }
}

/// Types that run in a browser when opened, so no policy may allow them.
const NEVER: &[&str] = &["text/html", "image/svg+xml", "application/xhtml+xml", "text/javascript", "application/javascript", "text/xml", "application/xml"];

impl AttachmentPolicy {
    /// Checks a file against the policy and answers what its message will say about it. The bytes
    /// must look like the type claimed, so a page cannot be sent as "image/png".
    pub fn check(&self, name: &str, content_type: &str, data: &[u8]) -> Result<Attachment, ErrorBody> {
        let bad = |code, msg: String| Err(ErrorBody::new(code, msg));
        if self.max_bytes == 0 {
            return bad(ErrorCode::Unavailable, "this center takes no attachments".into());
        }
        if data.is_empty() {
            return bad(ErrorCode::Invalid, "the file is empty".into());
        }
        if data.len() > self.max_bytes {
            return bad(ErrorCode::TooLarge, format!("the file is {} bytes; at most {} are taken", data.len(), self.max_bytes));
        }
        let ctype = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if NEVER.contains(&ctype.as_str()) || !self.types.iter().any(|t| t.eq_ignore_ascii_case(&ctype)) {
            return bad(ErrorCode::Forbidden, format!("files of type {ctype:?} are not taken; taken: {}", self.types.join(", ")));
        }
        if !looks_like(&ctype, data) {
            return bad(ErrorCode::Invalid, format!("the file's content is not {ctype}"));
        }
        let name = clean_name(name);
        if name.is_empty() {
            return bad(ErrorCode::Invalid, "the file needs a name".into());
        }
        Ok(Attachment { name, content_type: ctype, size: data.len() as u64 })
    }
}

/// The last path component, without control characters, cut to [`MAX_NAME_BYTES`] on a character
/// boundary: the name is shown to the other party and offered as a download name.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut out = String::new();
    for c in base.chars().filter(|c| !c.is_control() && *c != '"') {
        if out.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    out.trim().to_owned()
}

/// Whether the bytes start as a file of that type does (its magic number); text must be UTF-8.
fn looks_like(ctype: &str, data: &[u8]) -> bool {
    match ctype {
        "image/png" => data.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => data.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/gif" => data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a"),
        "image/webp" => data.len() >= 12 && data.starts_with(b"RIFF") && &data[8..12] == b"WEBP",
        "application/pdf" => data.starts_with(b"%PDF-"),
        t if t.starts_with("text/") => std::str::from_utf8(data).is_ok(),
        // A type the deployment added and this list does not know: taken as declared.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn a_picture_within_the_limits_is_taken_under_its_base_name() {
        let a = AttachmentPolicy::default().check("C:\\Users\\me\\shot \"1\".png", "image/PNG", PNG).unwrap();
        assert_eq!(a, Attachment { name: "shot 1.png".into(), content_type: "image/png".into(), size: PNG.len() as u64 });
    }

    #[test]
    fn too_big_forbidden_or_disguised_files_are_refused_with_their_reason() {
        let p = AttachmentPolicy { max_bytes: 16, ..Default::default() };
        assert_eq!(p.check("a.png", "image/png", &[0x89; 17]).unwrap_err().code, ErrorCode::TooLarge);
        assert_eq!(p.check("a.html", "text/html", b"<script>").unwrap_err().code, ErrorCode::Forbidden);
        assert_eq!(p.check("a.exe", "application/octet-stream", b"MZ").unwrap_err().code, ErrorCode::Forbidden);
        assert_eq!(p.check("a.png", "image/png", b"<html>hello").unwrap_err().code, ErrorCode::Invalid);
        assert_eq!(p.check("a.txt", "text/plain", b"\xff\xfe").unwrap_err().code, ErrorCode::Invalid);
        assert_eq!(p.check("", "text/plain", b"hi").unwrap_err().code, ErrorCode::Invalid);
        assert_eq!(p.check("a.txt", "text/plain", b"").unwrap_err().code, ErrorCode::Invalid);
        // No configuration can let a page through: the file is served back to other parties.
        let open = AttachmentPolicy { max_bytes: 100, types: vec!["image/svg+xml".into()] };
        assert_eq!(open.check("a.svg", "image/svg+xml", b"<svg/>").unwrap_err().code, ErrorCode::Forbidden);
        let off = AttachmentPolicy { max_bytes: 0, ..Default::default() };
        assert_eq!(off.check("a.png", "image/png", PNG).unwrap_err().code, ErrorCode::Unavailable);
    }

    #[test]
    fn a_long_name_is_cut_on_a_character_boundary() {
        let a = AttachmentPolicy::default().check(&"é".repeat(150), "text/plain", b"x").unwrap();
        assert_eq!(a.name.len(), MAX_NAME_BYTES);
        assert!(a.name.chars().all(|c| c == 'é'));
    }
}
