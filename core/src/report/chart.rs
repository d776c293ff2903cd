//! The report's charts as inline SVG (no script, no fetch): contacts per
//! month, time to sign-off, and the team's median scaling by month. Every
//! chart carries its numbers as text too (labels and a `<desc>`), so colour
//! is never the only carrier and a screen reader reads the data. Small
//! numbers are drawn as the tables show them: a count from 1 to 4 as a
//! dashed bar of fixed height labelled "< 5", a month with fewer than 5
//! readings without its median.

use std::fmt::Write as _;

use super::render::{SMALL, count_shown, esc};
use super::{Bucket, MonthContacts, MonthScaling, SMALL_NUMBER};

const W: f64 = 640.0;
const H: f64 = 260.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 44.0;
const COMPLETED: &str = "#1f4e79";
const ATTEMPTED: &str = "#8fb8de";
const LINE: &str = "#7a3b00";

fn small(n: u64, exact: bool) -> bool {
    !exact && (1..SMALL_NUMBER).contains(&n)
}

/// The height a bar is drawn at: its value, or a fixed stand-in when small.
fn drawn(n: u64, exact: bool) -> f64 {
    if small(n, exact) { 2.5 } else { n as f64 }
}

fn open(o: &mut String, id: &str, caption: &str, desc: &str) {
    let _ = write!(
        o,
        "<figure id=\"{id}\">\n<figcaption id=\"{id}-caption\">{}</figcaption>\n\
<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\">\n\
<title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>\n",
        esc(caption),
        esc(caption),
        esc(desc)
    );
}

fn close(o: &mut String) {
    o.push_str("</svg>\n</figure>\n");
}

/// The y axis from 0 to `max` with a few gridlines.
fn axis(o: &mut String, max: f64, steps: u32, label: &str) {
    let plot_h = H - TOP - BOTTOM;
    for i in 0..=steps {
        let v = max * f64::from(i) / f64::from(steps);
        let y = TOP + plot_h - plot_h * f64::from(i) / f64::from(steps);
        let _ = writeln!(
            o,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d0d7de\"/>\
<text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            if max >= 10.0 || v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            }
        );
    }
    let _ = writeln!(
        o,
        "<text x=\"12\" y=\"{:.1}\" font-size=\"11\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        esc(label)
    );
}

/// A rounded-up axis maximum: four gridline steps of a round size.
fn nice_max(max: f64) -> f64 {
    let raw = max / 4.0;
    let mut unit = 1.0;
    loop {
        for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0] {
            let step: f64 = m * unit;
            if step >= raw && (step.fract() == 0.0) {
                return step * 4.0;
            }
        }
        unit *= 10.0;
    }
}

fn bar(o: &mut String, x: f64, w: f64, y: f64, h: f64, fill: &str, is_small: bool) {
    if is_small {
        let _ = writeln!(
            o,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{fill}\" fill-opacity=\"0.35\" stroke=\"{fill}\" stroke-dasharray=\"3 2\"/>"
        );
    } else {
        let _ = writeln!(
            o,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{fill}\"/>"
        );
    }
}

/// Label every k-th of `n` x positions so at most ~12 labels show.
fn every(n: usize) -> usize {
    n.div_ceil(12).max(1)
}

fn month_label(m: &str) -> String {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mm) = m.split_once('-').unwrap_or((m, "01"));
    let i = mm.parse::<usize>().unwrap_or(1).clamp(1, 12) - 1;
    format!("{} {}", NAMES[i], y.get(2..).unwrap_or(y))
}

pub(super) fn contacts_by_month(months: &[MonthContacts], exact: bool) -> String {
    let desc: Vec<String> = months
        .iter()
        .map(|m| {
            format!(
                "{}: {} completed, {} attempted",
                m.month,
                count_shown(m.completed, exact),
                count_shown(m.attempted, exact)
            )
        })
        .collect();
    let mut o = String::new();
    open(
        &mut o,
        "chart-contacts",
        "Contacts per month (completed and attempted)",
        &desc.join("; "),
    );
    let max = months
        .iter()
        .map(|m| drawn(m.completed, exact) + drawn(m.attempted, exact))
        .fold(0.0, f64::max);
    let max = nice_max(max);
    axis(&mut o, max, 4, "contacts");
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = months.len().max(1);
    let slot = plot_w / n as f64;
    let bw = (slot * 0.7).max(1.0);
    let label_every = every(n);
    for (i, m) in months.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bw) / 2.0;
        let hc = drawn(m.completed, exact) / max * plot_h;
        let ha = drawn(m.attempted, exact) / max * plot_h;
        let base = TOP + plot_h;
        if m.completed > 0 {
            bar(
                &mut o,
                x,
                bw,
                base - hc,
                hc,
                COMPLETED,
                small(m.completed, exact),
            );
        }
        if m.attempted > 0 {
            bar(
                &mut o,
                x,
                bw,
                base - hc - ha,
                ha,
                ATTEMPTED,
                small(m.attempted, exact),
            );
        }
        if n <= 24 {
            let _ = writeln!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{} / {}</text>",
                x + bw / 2.0,
                base - hc - ha - 4.0,
                esc(&count_shown(m.completed, exact)),
                esc(&count_shown(m.attempted, exact))
            );
        }
        if i % label_every == 0 {
            let _ = writeln!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
                x + bw / 2.0,
                base + 16.0,
                esc(&month_label(&m.month))
            );
        }
    }
    let ly = H - 10.0;
    let _ = writeln!(
        o,
        "<rect x=\"{LEFT}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{COMPLETED}\"/>\
<text x=\"{:.1}\" y=\"{ly:.1}\" font-size=\"11\">completed</text>\
<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{ATTEMPTED}\"/>\
<text x=\"{:.1}\" y=\"{ly:.1}\" font-size=\"11\">attempted (labels: completed / attempted)</text>",
        ly - 9.0,
        LEFT + 14.0,
        LEFT + 90.0,
        ly - 9.0,
        LEFT + 104.0
    );
    close(&mut o);
    o
}

pub(super) fn sign_off_days(buckets: &[Bucket], exact: bool) -> String {
    let desc: Vec<String> = buckets
        .iter()
        .map(|b| format!("{}: {}", b.label, count_shown(b.count, exact)))
        .collect();
    let mut o = String::new();
    open(
        &mut o,
        "chart-sign-off",
        "Time from recording a contact to its sign-off (contacts in the period)",
        &desc.join("; "),
    );
    let max = nice_max(
        buckets
            .iter()
            .map(|b| drawn(b.count, exact))
            .fold(0.0, f64::max),
    );
    axis(&mut o, max, 4, "contacts");
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = buckets.len().max(1);
    let slot = plot_w / n as f64;
    let bw = slot * 0.6;
    for (i, b) in buckets.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bw) / 2.0;
        let h = drawn(b.count, exact) / max * plot_h;
        let base = TOP + plot_h;
        if b.count > 0 {
            bar(&mut o, x, bw, base - h, h, COMPLETED, small(b.count, exact));
        }
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\
<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x + bw / 2.0,
            base - h - 4.0,
            esc(&count_shown(b.count, exact)),
            x + bw / 2.0,
            base + 16.0,
            esc(&b.label)
        );
    }
    close(&mut o);
    o
}

pub(super) fn scaling_by_month(months: &[MonthScaling], exact: bool) -> String {
    let shown = |m: &MonthScaling| m.median.filter(|_| !small(m.readings, exact));
    let desc: Vec<String> = months
        .iter()
        .map(|m| match (m.readings, shown(m)) {
            (0, _) => format!("{}: no readings", m.month),
            (_, Some(x)) => format!("{}: median {x} of {} readings", m.month, m.readings),
            (_, None) => format!("{}: {SMALL} readings", m.month),
        })
        .collect();
    let mut o = String::new();
    open(
        &mut o,
        "chart-scaling",
        "Scaling over time: the team's median 0–10 reading by month",
        &desc.join("; "),
    );
    axis(&mut o, 10.0, 5, "median score");
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = months.len().max(1);
    let slot = plot_w / n as f64;
    let label_every = every(n);
    let point = |i: usize, v: f64| {
        (
            LEFT + slot * i as f64 + slot / 2.0,
            TOP + plot_h - v / 10.0 * plot_h,
        )
    };
    let mut prev: Option<(f64, f64)> = None;
    for (i, m) in months.iter().enumerate() {
        let base = TOP + plot_h;
        let cx = LEFT + slot * i as f64 + slot / 2.0;
        match shown(m) {
            Some(v) => {
                let (x, y) = point(i, v);
                if let Some((px, py)) = prev {
                    let _ = writeln!(
                        o,
                        "<line x1=\"{px:.1}\" y1=\"{py:.1}\" x2=\"{x:.1}\" y2=\"{y:.1}\" stroke=\"{LINE}\" stroke-width=\"2\"/>"
                    );
                }
                let _ = writeln!(
                    o,
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{LINE}\"/>\
<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{v}</text>",
                    y - 8.0
                );
                prev = Some((x, y));
            }
            None => {
                prev = None;
                if m.readings > 0 {
                    let _ = writeln!(
                        o,
                        "<text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">n {}</text>",
                        base - 6.0,
                        esc(SMALL)
                    );
                }
            }
        }
        if i % label_every == 0 {
            let _ = writeln!(
                o,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
                base + 16.0,
                esc(&month_label(&m.month))
            );
        }
    }
    close(&mut o);
    o
}
