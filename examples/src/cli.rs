//! Command-line pieces the binaries share.

use neptune_batch::{GValue, WriteMode};

/// How edges are written, as a command-line value (`plain`, `conditional`, `merge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WriteModeArg {
    /// The original's chained `addE`.
    Plain,
    /// The original's `fold().coalesce(unfold(), addE…)` idiom.
    Conditional,
    /// `mergeE` keyed by id.
    Merge,
}

impl WriteModeArg {
    /// The mode to use: the original's `ConditionalCreate` switch, when set, wins.
    pub fn resolve(self, conditional_create: bool) -> WriteMode {
        match (conditional_create, self) {
            (true, _) | (_, WriteModeArg::Conditional) => WriteMode::Conditional,
            (_, WriteModeArg::Plain) => WriteMode::Plain,
            (_, WriteModeArg::Merge) => WriteMode::Merge,
        }
    }
}

/// A query result value as text: strings as they are, integers in decimal, anything else in
/// its debug form; nothing for a missing value.
pub fn value_text(value: &Option<GValue>) -> String {
    value
        .as_ref()
        .map(|g| {
            g.as_str()
                .map(str::to_owned)
                .or_else(|| g.as_i64().map(|n| n.to_string()))
                .unwrap_or_else(|| format!("{g:?}"))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_create_wins_over_the_write_mode() {
        assert_eq!(WriteModeArg::Merge.resolve(true), WriteMode::Conditional);
        assert_eq!(WriteModeArg::Plain.resolve(false), WriteMode::Plain);
        assert_eq!(WriteModeArg::Merge.resolve(false), WriteMode::Merge);
    }
}
