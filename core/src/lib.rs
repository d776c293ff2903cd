//! Outreach core: the on-device vault and the Pause case records.
//!
//! Layers, bottom up, each using only those below it: [`crypto`] (pure
//! functions and key types), [`store`] (SQLite of sealed blobs), [`case`]
//! (the record model as Automerge documents), [`vault`] (lifecycle and keys;
//! the typed API the shells call). No FFI types here: the bindings crate wraps
//! this one.

pub mod case;
pub mod crypto;
pub mod error;
pub mod practice;
pub mod store;
pub mod sync;
pub mod vault;

pub use error::{Error, PlatformKeyError, Result, ValidationError};
