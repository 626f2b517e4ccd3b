//! The frontdesk broker server: the broker and status monitor over WebSocket, SQLite persistence,
//! signed tokens, an agent console client and a simulated center.

pub mod attachments;
pub mod console;
pub mod heap;
pub mod http;
pub mod limits;
pub mod mail;
pub mod sip;
pub mod mailroom;
pub mod pg_store;
pub mod push;
pub mod server;
pub mod simulator;
pub mod sqlite_store;
mod switchboard;
pub mod cluster;
pub mod tls;
pub mod tokens;
pub mod visitors;
pub mod wire;
pub mod xmpp;

pub use server::{start, Running, ServerConfig};
