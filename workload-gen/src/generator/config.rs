//! Sizes, shape and seed of a generated data set.

use crate::error::ConfigError;
use chrono::NaiveDate;

/// Sizes, shape and seed of a generated data set. Made by [`GeneratorConfig::builder`] (or
/// [`Default`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GeneratorConfig {
    /// Number of persons.
    pub persons: u32,
    /// Number of `follows` edges. The original's data set had about 2 million.
    pub edges: u64,
    /// The seed: the same seed gives the same data set on every machine.
    pub seed: u64,
    /// Skew of the in-degree: the followed person's rank is `persons * u^skew` for a uniform
    /// `u`, a power law whose top ranks collect most followers. `1.0` is uniform; larger is more
    /// skewed.
    pub skew: f64,
    /// Tail index of the Pareto weight that sets each person's out-degree (smaller is more
    /// skewed; must be above 1).
    pub out_degree_tail: f64,
    /// First day of the period the creation dates are spread over.
    pub start_date: NaiveDate,
    /// Length of that period in days.
    pub period_days: u32,
    /// How many followers' edges are mixed together before they are written, so consecutive
    /// lines (and the driver's batches) come from many different followers.
    pub mix_window: u32,
}

impl Default for GeneratorConfig {
    /// About 2 million edges like the original's data set, among 100 000 persons, with creation
    /// dates spread over 2019.
    fn default() -> Self {
        Self {
            persons: 100_000,
            edges: 2_000_000,
            seed: 1,
            skew: 2.5,
            out_degree_tail: 1.5,
            start_date: NaiveDate::from_ymd_opt(2019, 1, 1).expect("a valid date"),
            period_days: 365,
            mix_window: 1_024,
        }
    }
}

impl GeneratorConfig {
    /// A builder holding the defaults.
    ///
    /// ```
    /// use workload_gen::generator::{generate, GeneratorConfig};
    ///
    /// let config = GeneratorConfig::builder().persons(200).edges(2_000).seed(7).build()?;
    /// assert_eq!(generate(&config)?.edges.len(), 2_000);
    /// let refused = GeneratorConfig::builder().persons(1).build().unwrap_err();
    /// assert_eq!(refused.field, "persons");
    /// # Ok::<(), workload_gen::ConfigError>(())
    /// ```
    pub fn builder() -> GeneratorConfigBuilder {
        GeneratorConfigBuilder {
            config: Self::default(),
        }
    }

    /// Checks that the data set can be generated: at least two persons, no more edges than
    /// distinct (follower, followed) pairs, sensible shape parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, reason: String| Err(ConfigError::new(field, reason));
        if self.persons < 2 {
            return bad("persons", format!("{} is fewer than 2", self.persons));
        }
        let pairs = u64::from(self.persons) * u64::from(self.persons - 1);
        if self.edges > pairs {
            return bad(
                "edges",
                format!(
                    "{} edges exceed the {pairs} distinct pairs of {} persons",
                    self.edges, self.persons
                ),
            );
        }
        if !(self.skew.is_finite() && self.skew >= 1.0) {
            return bad("skew", format!("{} is not a finite number >= 1", self.skew));
        }
        if !(self.out_degree_tail.is_finite() && self.out_degree_tail > 1.0) {
            return bad(
                "out_degree_tail",
                format!("{} is not a finite number > 1", self.out_degree_tail),
            );
        }
        if !(1..=36_500).contains(&self.period_days) {
            return bad(
                "period_days",
                format!("{} is outside 1..=36500 (100 years)", self.period_days),
            );
        }
        if self.mix_window == 0 {
            return bad("mix_window", "must be at least 1".into());
        }
        Ok(())
    }
}

/// Builds a [`GeneratorConfig`]: each setter replaces one default (see the field of the same
/// name), and [`build`](Self::build) checks that the data set can be generated.
#[derive(Debug, Clone)]
#[must_use]
pub struct GeneratorConfigBuilder {
    config: GeneratorConfig,
}

/// Setters named after the fields they set, each documented on the field.
macro_rules! setters {
    ($($field:ident: $ty:ty),* $(,)?) => {
        $(
            #[doc = concat!("Sets [`GeneratorConfig::", stringify!($field), "`].")]
            pub fn $field(mut self, value: $ty) -> Self {
                self.config.$field = value;
                self
            }
        )*
    };
}

impl GeneratorConfigBuilder {
    setters! {
        persons: u32,
        edges: u64,
        seed: u64,
        skew: f64,
        out_degree_tail: f64,
        start_date: NaiveDate,
        period_days: u32,
        mix_window: u32,
    }

    /// The configuration, if the data set can be generated; else the first field that stops it.
    pub fn build(self) -> Result<GeneratorConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}
