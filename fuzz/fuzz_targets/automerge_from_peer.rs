//! What a device does with Automerge bytes another device produced (they are
//! signed by an authorised device, but that device may be buggy, newer, or
//! compromised). Any bytes must end in a document or an error, never a
//! panic. The three paths, as in `core::vault`:
//!
//! 1. a change of a case this device does not hold yet
//!    (`sync::apply_change`): `CaseDoc::load(actor, None, [bytes])`, then
//!    `missing_deps`, `read`;
//! 2. a whole case received from another device (`cases::import_case`,
//!    `merge_case_bytes`): `CaseDoc::load(actor, Some(bytes), [])`, `read`,
//!    and a merge into the case held here;
//! 3. a change of a case held here (`sync::apply_change`): `apply_changes`
//!    into the small base case, then `missing_deps`, `save_after` of what is
//!    new, which is stored as a chunk — so it must load again, after the
//!    snapshot, into the same document — and `read`, `history`, `conflicts`
//!    (what the app shows next).
#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_core::case::doc::CaseDoc;
use outreach_fuzz::{ACTOR, small_case_bytes};

fn shown(doc: &mut CaseDoc) {
    let _ = doc.read();
    let _ = doc.history();
    let _ = doc.conflicts();
}

fn base() -> CaseDoc {
    CaseDoc::load(&ACTOR, Some(small_case_bytes()), std::iter::empty())
        .expect("the base case loads")
}

/// `CaseDoc` catches panics inside Automerge's decoders (known upstream
/// bugs, `fuzz/known-crashes/`) and turns them into load errors, as
/// production needs. libFuzzer's panic hook would abort on those caught
/// panics too, so it is replaced by one that stays silent for panics raised
/// inside automerge/hexane and reports any other; a panic that escapes the
/// target still fails the run (libfuzzer-sys aborts on it).
fn quiet_for_caught_decoder_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let inside = info
                .location()
                .is_some_and(|l| l.file().contains("hexane") || l.file().contains("automerge"));
            if !inside {
                eprintln!("{info}");
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    quiet_for_caught_decoder_panics();
    // 1. First change(s) of a case new to this device.
    if let Ok(mut doc) = CaseDoc::load(&ACTOR, None, [data]) {
        let _ = doc.missing_deps();
        shown(&mut doc);
    }

    // 2. A whole document from a peer, read and merged into ours.
    if let Ok(mut other) = CaseDoc::load(&ACTOR, Some(data), std::iter::empty()) {
        shown(&mut other);
        let mut ours = base();
        if ours.merge(&mut other).is_ok() {
            shown(&mut ours);
        }
    }

    // 3. Changes of a case held here.
    let mut ours = base();
    let before = ours.heads();
    if ours.apply_changes(data).is_ok() && ours.missing_deps().is_empty() && ours.heads() != before
    {
        let chunk = ours.save_after(&before);
        shown(&mut ours);
        // What is stored must reopen as the same document.
        let reopened = CaseDoc::load(&ACTOR, Some(small_case_bytes()), [chunk.as_slice()])
            .expect("a received change that applied reloads from its stored chunk");
        assert_eq!(
            reopened.to_json(),
            ours.to_json(),
            "a received change reloads as the same document"
        );
    }
});
