//! The practice rules, in one place: when a woman is due a contact, where
//! she is on the programme clock, and whose sign-off counts. They live above
//! the record model and below the vault, so the shell, the mobile API, both
//! apps and the report card all give the same answer — and a supervisor,
//! an inspector or a court can read each rule once, here and in
//! `docs/ARCHITECTURE.md`.

pub mod authority;
pub mod due;
pub mod programme;

pub use authority::{
    Directory, DirectoryEntry, VerifiedCache, judge_case, may_sign_off, recorded_by, review_state,
};
pub use due::{
    ContactDue, ContactFacts, DEFAULT_CONTACT_EVERY_DAYS, contact_due, contact_due_from,
    contact_facts,
};
pub use programme::{ENDING_SOON_DAYS, PROGRAMME_MONTHS, ending_soon, ending_soon_at, planned_end};
