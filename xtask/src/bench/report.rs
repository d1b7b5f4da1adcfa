//! The bench's report: one row per figure, printed as a table and optionally written as JSON.

use std::path::Path;

use anyhow::Result;
use serde_json::{Value, json};

/// One row of the report.
#[derive(Debug, PartialEq)]
pub struct Row {
    pub figure: String,
    pub value: String,
    pub target: String,
    /// Target over value (or value over target), so that above 1 is better; None when no target.
    pub ratio: Option<f64>,
}

pub fn row(
    figure: impl Into<String>,
    value: impl Into<String>,
    target: impl Into<String>,
    ratio: Option<f64>,
) -> Row {
    Row {
        figure: figure.into(),
        value: value.into(),
        target: target.into(),
        ratio,
    }
}

/// The table as printed: a header line and one line per row, figures left-aligned to the
/// longest, the rest right-aligned; it starts with a newline to stand apart from the progress.
pub fn table(rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.figure.len()).max().unwrap_or(10);
    let mut out = format!(
        "\n{:width$}  {:>32}  {:>28}  {:>7}\n",
        "figure", "value", "target / limit", "ratio"
    );
    for r in rows {
        let ratio = r
            .ratio
            .map(|x| format!("{x:.2}"))
            .unwrap_or_else(|| "-".into());
        out += &format!(
            "{:width$}  {:>32}  {:>28}  {:>7}\n",
            r.figure, r.value, r.target, ratio
        );
    }
    out
}

pub fn to_json(rows: &[Row]) -> Value {
    rows.iter()
        .map(
            |r| json!({"figure": r.figure, "value": r.value, "target": r.target, "ratio": r.ratio}),
        )
        .collect()
}

/// Prints the table, and writes the JSON to `json` when given.
pub fn print(rows: &[Row], json: Option<&Path>) -> Result<()> {
    print!("{}", table(rows));
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(&to_json(rows))?)?;
        println!("\nwritten to {}", path.display());
    }
    Ok(())
}

/// The `p` quantile (0..=1) of sorted values, nearest rank; 0 for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        let rows = [
            row("a", "1 s", "< 2 s", Some(2.0)),
            row("longer figure", "x", "-", None),
        ];
        let pad = |s: &str, w: usize| format!("{s:>w$}");
        let want = [
            String::new(),
            format!(
                "figure         {}  {}  {}",
                pad("value", 32),
                pad("target / limit", 28),
                pad("ratio", 7)
            ),
            format!(
                "a              {}  {}  {}",
                pad("1 s", 32),
                pad("< 2 s", 28),
                pad("2.00", 7)
            ),
            format!(
                "longer figure  {}  {}  {}",
                pad("x", 32),
                pad("-", 28),
                pad("-", 7)
            ),
            String::new(),
        ]
        .join("\n");
        assert_eq!(table(&rows), want);
    }

    #[test]
    fn json_rows() {
        let rows = [row("a", "1", "2", Some(0.5)), row("b", "3", "-", None)];
        assert_eq!(
            to_json(&rows),
            json!([
                {"figure": "a", "value": "1", "target": "2", "ratio": 0.5},
                {"figure": "b", "value": "3", "target": "-", "ratio": null},
            ])
        );
    }

    #[test]
    fn percentiles() {
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        for (values, p, want) in [
            (&[][..], 0.5, 0.0),
            (&[7.0][..], 0.99, 7.0),
            (&ten[..], 0.0, 1.0),
            // (10 - 1) * 0.5 = 4.5 rounds to index 5.
            (&ten[..], 0.5, 6.0),
            (&ten[..], 0.99, 10.0),
            (&ten[..], 1.0, 10.0),
        ] {
            assert_eq!(percentile(values, p), want, "{values:?} {p}");
        }
    }
}
