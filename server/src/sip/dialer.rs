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
