//! Property: replicas of one case edited independently, then merged in any
//! order, converge to the same document, keep every record added anywhere,
//! and report the same conflicts.

use outreach_core::case::doc::{Author, CaseDoc, Patch};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Op {
    SetField { field: usize, value: u8 },
    AddVisit { key: u8, wellbeing: u8 },
    EditVisitNote { key: u8, note: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..4, 0u8..5).prop_map(|(field, value)| Op::SetField { field, value }),
        (0u8..6, 0u8..=10).prop_map(|(key, wellbeing)| Op::AddVisit { key, wellbeing }),
        (0u8..6, 0u8..5).prop_map(|(key, note)| Op::EditVisitNote { key, note }),
    ]
}

const FIELDS: [&str; 4] = ["phone", "address", "legal_name", "preferred_name"];

fn apply(doc: &mut CaseDoc, replica: usize, op: &Op) {
    let author = Author {
        by: format!("p{replica}"),
        role: None,
        device: format!("d{replica}"),
    };
    let at = "2026-11-27T12:00:00Z".parse().unwrap();
    let patch = match op {
        Op::SetField { field, value } => {
            Patch::new(["profile"], json!({ FIELDS[*field]: format!("v{value}") }))
        }
        Op::AddVisit { key, wellbeing } => Patch::new(
            ["visits".to_string(), format!("r{replica}-v{key}")],
            json!({"kind": "home", "outcome": "completed", "at": "2026-11-20T10:00:00Z", "note": "n", "wellbeing": wellbeing}),
        ),
        Op::EditVisitNote { key, note } => {
            // Like the typed API, edit only a visit this replica has: one of
            // the shared starting visits, or one it added itself.
            let id = if key % 2 == 0 {
                format!("o-v{}", key / 2)
            } else {
                format!("r{replica}-v{key}")
            };
            if !doc.exists(&["visits", &id]) {
                return;
            }
            Patch::new(
                ["visits".to_string(), id, "note".to_string()],
                json!(format!("note {note}")),
            )
        }
    };
    doc.apply(&author, "edit", at, &[patch]).unwrap();
}

fn merged(replicas: &mut [CaseDoc], order: &[usize]) -> CaseDoc {
    let mut out = replicas[order[0]].fork(&[200; 16]);
    for &i in &order[1..] {
        let mut other = replicas[i].fork(&[201 + i as u8; 16]);
        out.merge(&mut other).unwrap();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn replicas_converge_in_any_merge_order(
        ops in prop::collection::vec(prop::collection::vec(op(), 0..8), 3),
        order in Just(vec![0usize, 1, 2]).prop_shuffle(),
    ) {
        let at = "2026-11-27T12:00:00Z".parse().unwrap();
        let origin_author = Author { by: "o".into(), role: None, device: "o".into() };
        let mut origin = CaseDoc::create(&[100; 16], "case", &origin_author, at, &[]).unwrap();
        for k in 0..3 {
            origin.apply(&origin_author, "visit", at, &[Patch::new(["visits".to_string(), format!("o-v{k}")],
                json!({"kind": "home", "outcome": "completed", "at": "2026-11-01T10:00:00Z", "note": "start"}))]).unwrap();
        }
        let mut replicas: Vec<CaseDoc> = (0..3).map(|i| origin.fork(&[i as u8 + 1; 16])).collect();
        for (i, ops) in ops.iter().enumerate() {
            for op in ops {
                apply(&mut replicas[i], i, op);
            }
        }
        let mut forward = merged(&mut replicas, &[0, 1, 2]);
        let mut shuffled = merged(&mut replicas, &order);
        prop_assert_eq!(forward.to_json(), shuffled.to_json());
        let mut fc: Vec<_> = forward.conflicts().into_iter().map(|c| c.field).collect();
        let mut sc: Vec<_> = shuffled.conflicts().into_iter().map(|c| c.field).collect();
        fc.sort();
        sc.sort();
        prop_assert_eq!(fc, sc);
        // Every visit added on any replica is present after the merge.
        let visits = forward.read().unwrap().visits;
        for (i, ops) in ops.iter().enumerate() {
            for op in ops {
                if let Op::AddVisit { key, .. } = op {
                    let id = format!("r{i}-v{key}");
                    prop_assert!(visits.contains_key(&id), "lost {}", id);
                }
            }
        }
        prop_assert!(forward.read().unwrap().unreadable.is_empty());
    }
}
