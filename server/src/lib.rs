//! The frontdesk broker server.
