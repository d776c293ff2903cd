//! Cases: the Pause record model, its Automerge document, validation and the
//! queries practitioners and supervisors run over a caseload.

pub mod contact;
pub mod doc;
pub mod model;
pub mod validate;
