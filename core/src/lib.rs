//! Outreach core: the on-device vault and the Pause case records.
//!
//! Layers, bottom up, each using only those below it: [`crypto`] (pure
//! functions and key types), [`store`] (SQLite of sealed blobs), [`case`]
//! (the record model as Automerge documents), [`vault`] (lifecycle and keys;
//! the typed API the shells call). [`export`] builds the subject access
//! export and [`recover`] rebuilds cases from the server's data with the
//! organisation's recovery key (no vault); both sit above `case` and
//! `practice`, beside `vault`. No FFI types here: the bindings crate wraps
//! this one.

pub mod case;
pub mod crypto;
pub mod error;
pub mod export;
pub mod practice;
pub mod recover;
pub mod report;
pub mod safety;
pub mod store;
pub mod sync;
pub mod vault;

pub use error::{Error, PlatformKeyError, Result, ValidationError};
