//! The OBA report card (issue 13): `Vault::report` over 100 cases × 200
//! visits must take under a second — a supervisor's whole team, every
//! visit read, every figure computed. Measured as the shell runs it: open
//! and unlock the vault (the KDF measured apart and subtracted), the report,
//! then each rendering.

use std::time::{Duration, Instant};

use outreach_core::case::doc::{Author, CaseDoc, Patch};
use outreach_core::crypto::KdfParams;
use outreach_core::report::{Format, ReportQuery, render};
use outreach_core::vault::Vault;
use serde_json::json;

use crate::{PASS, case_bytes, ms, options};

pub fn bench_report(cases: usize, visits: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let mut vault = Vault::create(&dir, PASS, options(KdfParams::FLOOR), None).unwrap();
    let template = case_bytes(visits, 1);
    let author = Author {
        by: "Bench".into(),
        role: None,
        device: "bench".into(),
    };
    for i in 0..cases {
        let mut doc = CaseDoc::load(&[2; 16], Some(&template), std::iter::empty()).unwrap();
        let id = format!("00000000-0000-4000-9000-{i:012x}");
        // A team, a practitioner of four, an opening date, scaling and goals.
        let scales: serde_json::Map<String, serde_json::Value> = (0..6)
            .map(|k| {
                (
                    format!("s{k}"),
                    json!({"date": format!("2026-{:02}-10", 1 + k * 2), "score": (i + k) % 11}),
                )
            })
            .collect();
        doc.apply(
            &author,
            "copy",
            chrono::Utc::now(),
            &[Patch::new(
                Vec::<String>::new(),
                json!({
                    "id": id,
                    "programme": {
                        "team": "Bench",
                        "practitioners": [format!("Practitioner {}", i % 4)],
                        "opened_at": "2025-12-01T09:00:00Z",
                    },
                    "scales": scales,
                    "goals": {"g1": {"domain": "housing", "status": if i % 3 == 0 { "achieved" } else { "in-progress" }}},
                }),
            )],
        )
        .unwrap();
        let id = vault.import_case(&doc.save()).unwrap();
        let raw = vault.resolve_case(&id).unwrap();
        vault.compact(raw).unwrap();
    }
    drop(vault);
    let query = ReportQuery {
        from: Some("2026-01-01".into()),
        to: Some("2026-12-31".into()),
        ..Default::default()
    };
    let mut kdf = Vec::new();
    let mut unlocked = Vec::new();
    let mut reports = Vec::new();
    let mut renders: Vec<(Format, Vec<Duration>, usize)> =
        Format::ALL.iter().map(|f| (*f, Vec::new(), 0)).collect();
    let mut warm = Vec::new();
    let mut contacts = 0;
    for _ in 0..5 {
        let t = Instant::now();
        outreach_core::crypto::derive_key(PASS.as_bytes(), &[0; 16], KdfParams::FLOOR).unwrap();
        kdf.push(t.elapsed());
        let t = Instant::now();
        let mut v = Vault::open(&dir).unwrap();
        v.unlock(PASS, None).unwrap();
        unlocked.push(t.elapsed());
        let t = Instant::now();
        let r = v.report(&query).unwrap();
        reports.push(t.elapsed());
        assert_eq!(r.cases as usize, cases);
        contacts = r.how_much.contacts_completed + r.how_much.contacts_attempted;
        // Again on the same vault: the cases are in memory now (as in the
        // console after its first page), so this is the figures' own cost.
        let t = Instant::now();
        v.report(&query).unwrap();
        warm.push(t.elapsed());
        for (format, times, bytes) in &mut renders {
            let t = Instant::now();
            let out = render(&r, *format, false);
            times.push(t.elapsed());
            *bytes = out.len();
        }
    }
    let med = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let kdf = med(&mut kdf);
    let open = med(&mut unlocked).saturating_sub(kdf);
    let (min, max) = (
        reports.iter().min().copied().unwrap_or_default(),
        reports.iter().max().copied().unwrap_or_default(),
    );
    let report = med(&mut reports);
    println!(
        "report card, {cases} cases × {visits} visits ({contacts} contacts in the period): report {} (min {}, max {}; n = 5), open + unlock {} excluding the KDF, target < 1 s",
        ms(report),
        ms(min),
        ms(max),
        ms(open)
    );
    println!(
        "  the same report again, cases already read into memory: {}",
        ms(med(&mut warm))
    );
    for (format, times, bytes) in &mut renders {
        println!(
            "  render {}: {} ({} KiB)",
            format.as_str(),
            ms(med(times)),
            *bytes / 1024
        );
    }
}
