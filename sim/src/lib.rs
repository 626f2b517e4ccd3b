//! Contact-center simulator (filled in by the hold-time work).
