//! In-memory aggregation of data points per metric, dimension set, unit, resolution and period.

use crate::datum::{Dimension, MetricDatum, Unit};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How data points of one key and period are summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Aggregation {
    /// Distinct values with their counts (CloudWatch `Values`/`Counts`): keeps percentiles.
    #[default]
    Values,
    /// Minimum, maximum, sum and count (CloudWatch `StatisticValues`): smallest, no percentiles.
    StatisticSet,
}

/// What is aggregated together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// Metric name.
    pub name: String,
    /// Dimensions, sorted by name.
    pub dimensions: Vec<Dimension>,
    /// Unit.
    pub unit: Unit,
    /// Whether stored at one-second resolution.
    pub high_resolution: bool,
    /// Start of the period, in whole seconds since the epoch (1 s or 60 s periods).
    pub period_start: u64,
}

/// The summary of one key's data points.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Aggregate {
    /// Distinct values and how often each was seen, sorted by value.
    Values(Vec<(f64, f64)>),
    /// A statistic set.
    Statistics {
        /// Smallest value.
        min: f64,
        /// Largest value.
        max: f64,
        /// Sum of the values.
        sum: f64,
        /// Number of values.
        count: f64,
    },
}

/// One datum ready to be sent: a key and its aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatedDatum {
    /// What it measures.
    pub key: SeriesKey,
    /// The data.
    pub aggregate: Aggregate,
}

impl AggregatedDatum {
    /// The period start as a time.
    pub fn timestamp(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.key.period_start)
    }

    /// Number of data points it stands for.
    pub fn sample_count(&self) -> f64 {
        match &self.aggregate {
            Aggregate::Values(v) => v.iter().map(|(_, c)| c).sum(),
            Aggregate::Statistics { count, .. } => *count,
        }
    }
}

enum Accumulator {
    Values(HashMap<u64, f64>),
    Statistics {
        min: f64,
        max: f64,
        sum: f64,
        count: f64,
    },
}

/// Collects data points until they are drained for sending.
pub struct Aggregator {
    mode: Aggregation,
    series: BTreeMap<SeriesKey, Accumulator>,
}

impl Aggregator {
    /// An empty aggregator.
    pub fn new(mode: Aggregation) -> Self {
        Self {
            mode,
            series: BTreeMap::new(),
        }
    }

    /// Number of distinct series held.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Adds one data point (assumed valid).
    pub fn add(&mut self, datum: &MetricDatum) {
        let secs = datum
            .timestamp
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let period = if datum.high_resolution { 1 } else { 60 };
        let key = SeriesKey {
            name: datum.name.clone(),
            dimensions: datum.dimensions.clone(),
            unit: datum.unit,
            high_resolution: datum.high_resolution,
            period_start: secs - secs % period,
        };
        let v = datum.value;
        let mode = self.mode;
        let acc = self.series.entry(key).or_insert_with(|| match mode {
            Aggregation::Values => Accumulator::Values(HashMap::new()),
            Aggregation::StatisticSet => Accumulator::Statistics {
                min: v,
                max: v,
                sum: 0.0,
                count: 0.0,
            },
        });
        match acc {
            // `+ 0.0` turns -0.0 into 0.0 so both count as one value.
            Accumulator::Values(map) => *map.entry((v + 0.0).to_bits()).or_default() += 1.0,
            Accumulator::Statistics {
                min,
                max,
                sum,
                count,
            } => {
                *min = min.min(v);
                *max = max.max(v);
                *sum += v;
                *count += 1.0;
            }
        }
    }

    /// Takes everything held, in key order.
    pub fn drain(&mut self) -> Vec<AggregatedDatum> {
        std::mem::take(&mut self.series)
            .into_iter()
            .map(|(key, acc)| AggregatedDatum {
                key,
                aggregate: match acc {
                    Accumulator::Values(map) => {
                        let mut values: Vec<(f64, f64)> = map
                            .into_iter()
                            .map(|(b, c)| (f64::from_bits(b), c))
                            .collect();
                        values.sort_by(|a, b| a.0.total_cmp(&b.0));
                        Aggregate::Values(values)
                    }
                    Accumulator::Statistics {
                        min,
                        max,
                        sum,
                        count,
                    } => Aggregate::Statistics {
                        min,
                        max,
                        sum,
                        count,
                    },
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_of_one_second_and_key_become_one_datum_with_value_counts() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        let mut agg = Aggregator::new(Aggregation::Values);
        for v in [5.0, 7.0, 5.0] {
            agg.add(
                &MetricDatum::new("m", Unit::Count, v)
                    .at(t)
                    .high_resolution(),
            );
        }
        agg.add(
            &MetricDatum::new("m", Unit::Count, 1.0)
                .at(t + Duration::from_secs(1))
                .high_resolution(),
        );
        agg.add(
            &MetricDatum::new("m", Unit::Count, 1.0)
                .at(t)
                .dimension("a", "b")
                .high_resolution(),
        );
        let out = agg.drain();
        assert_eq!(out.len(), 3);
        let first = out
            .iter()
            .find(|d| d.key.period_start == 1_700_000_000 && d.key.dimensions.is_empty())
            .unwrap();
        assert_eq!(
            first.aggregate,
            Aggregate::Values(vec![(5.0, 2.0), (7.0, 1.0)])
        );
        assert!(agg.is_empty());
    }

    #[test]
    fn standard_resolution_points_are_grouped_by_minute_into_statistic_sets() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_050);
        let mut agg = Aggregator::new(Aggregation::StatisticSet);
        for (s, v) in [(0, 3.0), (5, -1.0), (9, 10.0)] {
            agg.add(&MetricDatum::new("m", Unit::Milliseconds, v).at(t + Duration::from_secs(s)));
        }
        let out = agg.drain();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].key.period_start, 1_700_000_040, "the minute's start");
        assert_eq!(
            out[0].aggregate,
            Aggregate::Statistics {
                min: -1.0,
                max: 10.0,
                sum: 12.0,
                count: 3.0
            }
        );
    }
}
