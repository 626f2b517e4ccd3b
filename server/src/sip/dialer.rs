//! The dialer: one UDP socket, the SIP stack's endpoint and dialog layer on it, and a task per
//! placed callback (in [`super::call`]).

use super::call::{self, Shared};
use super::{Callback, Progress, SipConfig, SipError};
use rsipstack::dialog::dialog::Dialog;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::{Method, SipMessage, StatusCode};
use rsipstack::transaction::TransactionReceiver;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::TransportLayer;
use rsipstack::EndpointBuilder;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Places callbacks over SIP; owns its UDP socket and stops everything when dropped.
pub struct Dialer {
    shared: Arc<Shared>,
    local: SocketAddr,
    stop: CancellationToken,
}

impl Dialer {
    /// Binds the socket and starts the SIP stack; fails on a bad trunk URI or an unusable address.
    pub async fn bind(cfg: SipConfig) -> Result<Dialer, SipError> {
        if cfg.listen.ip().is_unspecified() {
            return Err(SipError::Unspecified(cfg.listen));
        }
        let trunk = call::trunk_uri(&cfg.trunk.uri)?;
        let stop = CancellationToken::new();
        let transport = TransportLayer::new(stop.child_token());
        let udp = UdpConnection::create_connection(cfg.listen, None, Some(stop.child_token()))
            .await
            .map_err(|e| SipError::Bind { addr: cfg.listen, source: std::io::Error::other(e.to_string()) })?;
        let local = udp.get_addr().get_socketaddr().map_err(|e| SipError::Stack(e.to_string()))?;
        transport.add_transport(udp.into());
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(stop.clone())
            .with_transport_layer(transport)
            .with_user_agent(concat!("frontdesk/", env!("CARGO_PKG_VERSION")))
            .build();
        let incoming = endpoint.incoming_transactions().map_err(|e| SipError::Stack(e.to_string()))?;
        let layer = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let inner = endpoint.inner.clone();
        let serving = stop.clone();
        tokio::spawn(async move {
            // The endpoint stays alive in this task until the dialer stops.
            let _endpoint = endpoint;
            tokio::select! {
                r = inner.serve() => if let Err(e) = r { warn!(error = %e, "SIP endpoint stopped") },
                _ = serving.cancelled() => {}
            }
        });
        tokio::spawn(route_incoming(incoming, layer.clone(), stop.clone()));
        let shared = Arc::new(Shared { cfg, layer, local, trunk });
        Ok(Dialer { shared, local, stop })
    }

    /// The address the socket is bound to (the port the OS chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Places one callback: rings the agent, then the customer, then connects them (see
    /// `docs/sip.md` for the ladder). Progress arrives on the handle; dropping the handle does not
    /// end the call, [`CallHandle::cancel`] does.
    pub fn place(&self, callback: Callback) -> CallHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = self.stop.child_token();
        tokio::spawn(call::run(self.shared.clone(), callback, tx, cancel.clone()));
        CallHandle { progress: rx, cancel }
    }
}

impl Drop for Dialer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One placed callback: its progress, and the way to end it early.
pub struct CallHandle {
    progress: mpsc::UnboundedReceiver<Progress>,
    cancel: CancellationToken,
}

impl CallHandle {
    /// The next step of the call; `None` after `Ended` or `Failed`.
    pub async fn next(&mut self) -> Option<Progress> {
        self.progress.recv().await
    }

    /// Ends the call from our side: CANCELs ringing legs and BYEs answered ones.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

/// Parses one datagram the way the socket does, so malformed input can be tested: an error,
/// never a panic.
pub fn parse_datagram(bytes: &[u8]) -> Result<SipMessage, SipError> {
    // The stack's parser is not ours to vouch for: a panic in it must still only drop the datagram.
    match std::panic::catch_unwind(|| SipMessage::try_from(bytes)) {
        Ok(Ok(msg)) => Ok(msg),
        Ok(Err(e)) => Err(SipError::Malformed(e.to_string())),
        Err(_) => Err(SipError::Malformed("parser panicked".into())),
    }
}

/// Hands requests from the network to the dialog they belong to; we take no calls ourselves.
async fn route_incoming(mut incoming: TransactionReceiver, layer: Arc<DialogLayer>, stop: CancellationToken) {
    loop {
        let mut tx = tokio::select! {
            tx = incoming.recv() => match tx { Some(tx) => tx, None => return },
            _ = stop.cancelled() => return,
        };
        match layer.match_dialog(&tx) {
            Some(Dialog::Invite(mut dialog)) => {
                tokio::spawn(async move {
                    if let Err(e) = dialog.handle(&mut tx).await {
                        debug!(error = %e, "in-dialog request");
                    }
                });
            }
            _ => {
                let status = match tx.original.method {
                    Method::Ack => continue,
                    Method::Options => StatusCode::OK,
                    Method::Invite => StatusCode::Forbidden,
                    _ => StatusCode::CallTransactionDoesNotExist,
                };
                debug!(method = %tx.original.method, %status, "request outside any call");
                tokio::spawn(async move { tx.reply(status).await.ok() });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:+4930123456@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1\r\n\
        From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
        Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn a_whole_invite_parses() {
        assert!(parse_datagram(INVITE).is_ok());
    }

    /// The socket's own loop calls the same parser without our `catch_unwind`: a panic here would
    /// stop the transport, so the test fails on one even though `parse_datagram` survives it.
    fn parse_datagram(bytes: &[u8]) -> Result<SipMessage, SipError> {
        let r = super::parse_datagram(bytes);
        assert!(!matches!(&r, Err(SipError::Malformed(m)) if m == "parser panicked"), "the parser panicked on {:?}", String::from_utf8_lossy(bytes));
        r
    }

    #[test]
    fn malformed_datagrams_are_errors_not_panics() {
        // Every truncation of a real message, then the same with bytes flipped, invalid UTF-8
        // spliced in, and a datagram larger than any UDP payload.
        for n in 0..INVITE.len() {
            let _ = parse_datagram(&INVITE[..n]);
        }
        let mut seed: u32 = 0x1234_5678;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..5_000 {
            let mut m = INVITE.to_vec();
            for _ in 0..1 + rand() % 8 {
                let at = rand() as usize % m.len();
                m[at] = rand() as u8;
            }
            let cut = rand() as usize % (m.len() + 1);
            let _ = parse_datagram(&m[..cut]);
        }
        assert!(parse_datagram(&[0xff, 0xfe, 0xc3, 0x28]).is_err());
        assert!(parse_datagram(b"").is_err());
        assert!(parse_datagram(b"\r\n\r\n").is_err());
        assert!(parse_datagram(&vec![b'A'; 70_000]).is_err());
        let huge = [&INVITE[..INVITE.len() - 5], &vec![b'x'; 100_000][..]].concat();
        let _ = parse_datagram(&huge);
        let lying = String::from_utf8_lossy(INVITE).replace("Content-Length: 4", "Content-Length: 99999");
        let _ = parse_datagram(lying.as_bytes());
    }
}
