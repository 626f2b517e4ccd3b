//! Email as a medium: [`outbound`] sends agents' replies through the centre's relay with
//! threading headers and a tokenised `Reply-To`; [`inbound`] receives the clients' replies that
//! the relay passes back and hands them, parsed, to a hook the broker supplies.
//!
//! Nothing here knows the broker: the broker keeps the token → interaction map, decides what a
//! reply threads into, and commits before [`inbound::Deliver::deliver`] returns.

pub mod inbound;
pub mod outbound;
mod smtp;

pub use inbound::{
    deliver_fn, parse_message, reply_token, trim_quoted, Attachments, Deliver, DeliveryError, InboundConfig, InboundMail, SmtpListener,
};
pub use outbound::{new_message_id, new_reply_token, ConfigError, Credentials, Mailer, MailerConfig, OutgoingMail, SendError, TlsMode};
