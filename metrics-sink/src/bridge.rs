//! A `metrics` facade recorder that forwards to any [`MetricsSink`].

use crate::datum::{Dimension, MetricDatum, Unit};
use crate::error::MetricsError;
use crate::sink::MetricsSink;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

/// Turns what libraries record through the `metrics` facade (`counter!`, `gauge!`,
/// `histogram!`) into [`MetricDatum`]s for a [`MetricsSink`]:
///
/// * a counter increment of `n` becomes a datum of value `n` (unit Count unless described
///   otherwise), so sums over a period are the counter's increase;
/// * a gauge change becomes a datum with the gauge's new value;
/// * a histogram sample becomes a datum with that value;
/// * labels become dimensions; units come from `describe_*!` (nanoseconds are converted to
///   microseconds, which CloudWatch knows).
///
/// Install it once per program with [`MetricsBridge::install`], or for a scope with
/// `metrics::with_local_recorder`.
pub struct MetricsBridge {
    // Both maps are read on every facade call, so they are behind `RwLock`s, whose readers
    // never wait for each other (the workspace's `lock` is for mutexes); each write is one
    // insert, so a lock poisoned by a panicking writer still holds a whole map and is read
    // through.
    sink: Arc<dyn MetricsSink>,
    units: RwLock<HashMap<String, metrics::Unit>>,
    dimensions: Vec<Dimension>,
    /// One handle per kind and key, so a gauge's value and a counter's last absolute value are
    /// shared by every call site that names them.
    handles: RwLock<HashMap<(Kind, Key), Arc<Handle>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl std::fmt::Debug for MetricsBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsBridge")
            .field("dimensions", &self.dimensions)
            .finish()
    }
}

impl MetricsBridge {
    /// A bridge into `sink`.
    pub fn new(sink: Arc<dyn MetricsSink>) -> Self {
        Self {
            sink,
            units: RwLock::new(HashMap::new()),
            dimensions: Vec::new(),
            handles: RwLock::new(HashMap::new()),
        }
    }

    /// Adds a dimension to every datum (labels of the same name win).
    pub fn with_dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.dimensions.push(Dimension {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// Makes this the program's global recorder. Fails if one is installed already.
    pub fn install(self) -> Result<(), MetricsError> {
        metrics::set_global_recorder(self).map_err(|_| MetricsError::RecorderInstalled)
    }

    fn handle(&self, kind: Kind, key: &Key, default_unit: Unit) -> Arc<Handle> {
        let id = (kind, key.clone());
        if let Some(h) = self
            .handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            return h.clone();
        }
        let fresh = self.new_handle(key, default_unit);
        self.handles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id)
            .or_insert(fresh)
            .clone()
    }

    fn new_handle(&self, key: &Key, default_unit: Unit) -> Arc<Handle> {
        let described = self
            .units
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key.name())
            .copied();
        let (unit, scale) = match described {
            Some(u) => convert_unit(u),
            None => (default_unit, 1.0),
        };
        let mut template = MetricDatum::new(key.name(), unit, 0.0);
        for d in &self.dimensions {
            template = template.dimension(&d.name, &d.value);
        }
        for label in key.labels() {
            template = template.dimension(label.key(), label.value());
        }
        Arc::new(Handle {
            sink: self.sink.clone(),
            template,
            scale,
            // 0 is both 0u64 (a counter's last absolute value) and 0.0f64 (a gauge's value).
            state: AtomicU64::new(0),
        })
    }

    fn describe(&self, key: KeyName, unit: Option<metrics::Unit>) {
        if let Some(unit) = unit {
            self.units
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.as_str().to_owned(), unit);
        }
    }
}

/// CloudWatch's unit for a facade unit, and the factor that converts values to it.
fn convert_unit(unit: metrics::Unit) -> (Unit, f64) {
    use metrics::Unit as M;
    match unit {
        M::Count => (Unit::Count, 1.0),
        M::Percent => (Unit::Percent, 1.0),
        M::Seconds => (Unit::Seconds, 1.0),
        M::Milliseconds => (Unit::Milliseconds, 1.0),
        M::Microseconds => (Unit::Microseconds, 1.0),
        M::Nanoseconds => (Unit::Microseconds, 1e-3),
        M::Bytes => (Unit::Bytes, 1.0),
        M::Kibibytes => (Unit::Kilobytes, 1.0),
        M::Mebibytes => (Unit::Megabytes, 1.0),
        M::Gibibytes => (Unit::Megabytes, 1024.0),
        M::Tebibytes => (Unit::Megabytes, 1024.0 * 1024.0),
        M::CountPerSecond => (Unit::CountPerSecond, 1.0),
        _ => (Unit::None, 1.0),
    }
}

struct Handle {
    sink: Arc<dyn MetricsSink>,
    template: MetricDatum,
    scale: f64,
    /// A counter's last absolute value, or a gauge's current value (f64 bits).
    state: AtomicU64,
}

impl Handle {
    fn emit(&self, value: f64) {
        let mut datum = self.template.clone();
        datum.value = value * self.scale;
        datum.timestamp = std::time::SystemTime::now();
        self.sink.record(datum);
    }

    fn update_gauge(&self, f: impl Fn(f64) -> f64) {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let next = f(f64::from_bits(current));
            match self.state.compare_exchange_weak(
                current,
                next.to_bits(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return self.emit(next),
                Err(actual) => current = actual,
            }
        }
    }
}

impl metrics::CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.emit(value as f64);
    }

    fn absolute(&self, value: u64) {
        // Only the increase since the last absolute value is an increment.
        let previous = self.state.fetch_max(value, Ordering::AcqRel);
        if value > previous {
            self.emit((value - previous) as f64);
        }
    }
}

impl metrics::GaugeFn for Handle {
    fn increment(&self, value: f64) {
        self.update_gauge(|g| g + value);
    }

    fn decrement(&self, value: f64) {
        self.update_gauge(|g| g - value);
    }

    fn set(&self, value: f64) {
        self.update_gauge(|_| value);
    }
}

impl metrics::HistogramFn for Handle {
    fn record(&self, value: f64) {
        self.emit(value);
    }
}

impl Recorder for MetricsBridge {
    fn describe_counter(&self, key: KeyName, unit: Option<metrics::Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<metrics::Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<metrics::Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let handle = self.handle(Kind::Counter, key, Unit::Count);
        Counter::from_arc(handle)
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(Kind::Gauge, key, Unit::None))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(Kind::Histogram, key, Unit::None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryMetrics;

    #[test]
    fn facade_counters_gauges_and_histograms_land_in_the_sink_with_labels_as_dimensions() {
        let memory = MemoryMetrics::new();
        let bridge = MetricsBridge::new(Arc::new(memory.clone())).with_dimension("clusterId", "c1");
        metrics::with_local_recorder(&bridge, || {
            metrics::describe_histogram!("WriteDuration", metrics::Unit::Milliseconds, "write");
            metrics::describe_histogram!("LatencyNs", metrics::Unit::Nanoseconds, "ns");
            metrics::counter!("EdgesSubmitted", "shard" => "s-1").increment(100);
            metrics::counter!("EdgesSubmitted", "shard" => "s-1").increment(20);
            metrics::counter!("Absolute").absolute(10);
            metrics::counter!("Absolute").absolute(7);
            metrics::counter!("Absolute").absolute(15);
            metrics::gauge!("Lag").set(5.0);
            metrics::gauge!("Lag").increment(2.5);
            metrics::gauge!("Lag").decrement(1.0);
            metrics::histogram!("WriteDuration").record(42.0);
            metrics::histogram!("LatencyNs").record(5_000.0);
        });
        let all = memory.all();
        let edges: Vec<_> = all.iter().filter(|d| d.name == "EdgesSubmitted").collect();
        assert_eq!(edges.len(), 2);
        assert_eq!(edges[0].unit, Unit::Count);
        let dims: Vec<_> = edges[0]
            .dimensions
            .iter()
            .map(|d| (d.name.as_str(), d.value.as_str()))
            .collect();
        assert_eq!(dims, vec![("clusterId", "c1"), ("shard", "s-1")]);
        assert_eq!(memory.sum("EdgesSubmitted"), 120.0);
        assert_eq!(memory.values("Absolute"), vec![10.0, 5.0]);
        assert_eq!(memory.values("Lag"), vec![5.0, 7.5, 6.5]);
        let write = all.iter().find(|d| d.name == "WriteDuration").unwrap();
        assert_eq!((write.unit, write.value), (Unit::Milliseconds, 42.0));
        let ns = all.iter().find(|d| d.name == "LatencyNs").unwrap();
        assert_eq!((ns.unit, ns.value), (Unit::Microseconds, 5.0));
    }
}
