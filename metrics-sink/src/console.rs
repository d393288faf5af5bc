//! [`ConsoleSink`]: a sink that shows one live line on a terminal, for local runs, and which
//! metrics feed it ([`ConsoleLayout`]).

use crate::datum::{check_name, MetricDatum};
use crate::error::MetricsError;
use crate::names;
use crate::sink::{FlushReport, MetricsSink};
use crate::ConfigError;
use async_trait::async_trait;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stream2neptune_common::lock;

/// Which metrics feed which part of the line. The defaults are this workspace's names; made by
/// [`ConsoleLayout::builder`] (or [`Default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsoleLayout {
    /// Summed per second: "edges/s".
    pub throughput: String,
    /// Percentiles of these values: "write p50/p99" (milliseconds).
    pub latency: String,
    /// Latest value: "lag" (milliseconds).
    pub lag: String,
    /// Summed: "retries".
    pub retries: String,
    /// Summed: "errors".
    pub errors: String,
}

impl Default for ConsoleLayout {
    fn default() -> Self {
        Self {
            throughput: names::EDGES_SUBMITTED.into(),
            latency: names::WRITE_DURATION.into(),
            lag: names::MILLIS_BEHIND_LATEST.into(),
            retries: names::RETRY_COUNT.into(),
            errors: names::WRITE_ERRORS.into(),
        }
    }
}

impl ConsoleLayout {
    /// A builder holding the defaults.
    ///
    /// ```
    /// use metrics_sink::console::{ConsoleLayout, ConsoleSink};
    ///
    /// let layout = ConsoleLayout::builder().throughput("RecordsPut").build()?;
    /// let sink = ConsoleSink::new(layout);
    /// # Ok::<(), metrics_sink::ConfigError>(())
    /// ```
    pub fn builder() -> ConsoleLayoutBuilder {
        ConsoleLayoutBuilder {
            layout: Self::default(),
        }
    }

    /// Checks that every part names a metric CloudWatch would take (1 to 255 characters, no
    /// control character).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, name) in [
            ("throughput", &self.throughput),
            ("latency", &self.latency),
            ("lag", &self.lag),
            ("retries", &self.retries),
            ("errors", &self.errors),
        ] {
            check_name(field, name, 255).map_err(|e| ConfigError::new(field, e.reason))?;
        }
        Ok(())
    }
}

/// Builds a [`ConsoleLayout`]: each setter names the metric of one part of the line (see the
/// field of the same name).
#[derive(Debug, Clone)]
#[must_use]
pub struct ConsoleLayoutBuilder {
    layout: ConsoleLayout,
}

impl ConsoleLayoutBuilder {
    /// Sets [`ConsoleLayout::throughput`].
    pub fn throughput(mut self, metric: impl Into<String>) -> Self {
        self.layout.throughput = metric.into();
        self
    }

    /// Sets [`ConsoleLayout::latency`].
    pub fn latency(mut self, metric: impl Into<String>) -> Self {
        self.layout.latency = metric.into();
        self
    }

    /// Sets [`ConsoleLayout::lag`].
    pub fn lag(mut self, metric: impl Into<String>) -> Self {
        self.layout.lag = metric.into();
        self
    }

    /// Sets [`ConsoleLayout::retries`].
    pub fn retries(mut self, metric: impl Into<String>) -> Self {
        self.layout.retries = metric.into();
        self
    }

    /// Sets [`ConsoleLayout::errors`].
    pub fn errors(mut self, metric: impl Into<String>) -> Self {
        self.layout.errors = metric.into();
        self
    }

    /// The layout, if every part names a valid metric.
    pub fn build(self) -> Result<ConsoleLayout, ConfigError> {
        self.layout.validate()?;
        Ok(self.layout)
    }
}

/// The figures of one window, as shown on the line.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ConsoleSnapshot {
    /// Throughput over the window.
    pub per_second: f64,
    /// Median latency in the window (`None` if nothing was measured).
    pub p50: Option<f64>,
    /// 99th percentile latency in the window.
    pub p99: Option<f64>,
    /// Latest lag seen (kept across windows).
    pub lag: Option<f64>,
    /// Retries since the start.
    pub retries: f64,
    /// Errors since the start.
    pub errors: f64,
    /// Throughput total since the start.
    pub total: f64,
}

impl std::fmt::Display for ConsoleSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1} ms"));
        let lag = self
            .lag
            .map_or_else(|| "-".to_owned(), |v| format!("{:.1} s", v / 1_000.0));
        write!(
            f,
            "edges/s {:.0} | write p50 {} p99 {} | lag {} | retries {} | errors {} | total {}",
            self.per_second,
            ms(self.p50),
            ms(self.p99),
            lag,
            self.retries,
            self.errors,
            self.total
        )
    }
}

#[derive(Default)]
struct Window {
    throughput: f64,
    latencies: Vec<f64>,
    lag: Option<f64>,
    retries: f64,
    errors: f64,
    total: f64,
}

/// Keeps the figures of the current window; [`ConsoleSink::take_snapshot`] turns them into one
/// line and starts a new window. [`ConsoleSink::spawn_renderer`] redraws the line every second.
pub struct ConsoleSink {
    layout: ConsoleLayout,
    window: Mutex<(Instant, Window)>,
}

impl std::fmt::Debug for ConsoleSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSink")
            .field("layout", &self.layout)
            .finish()
    }
}

impl Default for ConsoleSink {
    fn default() -> Self {
        Self::new(ConsoleLayout::default())
    }
}

impl ConsoleSink {
    /// A sink with `layout`.
    pub fn new(layout: ConsoleLayout) -> Self {
        Self {
            layout,
            window: Mutex::new((Instant::now(), Window::default())),
        }
    }

    /// The figures since the last snapshot, measured over the time that actually passed.
    pub fn take_snapshot(&self) -> ConsoleSnapshot {
        let now = Instant::now();
        let mut guard = lock(&self.window);
        let elapsed = now - guard.0;
        guard.0 = now;
        Self::snapshot(&mut guard.1, elapsed)
    }

    /// The figures since the last snapshot, as if `elapsed` had passed.
    pub fn take_snapshot_over(&self, elapsed: Duration) -> ConsoleSnapshot {
        let mut guard = lock(&self.window);
        guard.0 = Instant::now();
        Self::snapshot(&mut guard.1, elapsed)
    }

    fn snapshot(w: &mut Window, elapsed: Duration) -> ConsoleSnapshot {
        let mut lat = std::mem::take(&mut w.latencies);
        lat.sort_by(f64::total_cmp);
        // Nearest-rank percentile.
        let pct = |p: f64| {
            (!lat.is_empty()).then(|| {
                let rank = ((p / 100.0) * lat.len() as f64).ceil() as usize;
                lat[rank.clamp(1, lat.len()) - 1]
            })
        };
        let secs = elapsed.as_secs_f64();
        let snapshot = ConsoleSnapshot {
            per_second: if secs > 0.0 { w.throughput / secs } else { 0.0 },
            p50: pct(50.0),
            p99: pct(99.0),
            lag: w.lag,
            retries: w.retries,
            errors: w.errors,
            total: w.total,
        };
        w.throughput = 0.0;
        snapshot
    }

    /// Redraws the line on `out` every `every` (carriage return, no newline) until the sink is
    /// dropped by everyone else; ends with a newline.
    pub fn spawn_renderer<W: Write + Send + 'static>(
        self: &Arc<Self>,
        mut out: W,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(sink) = weak.upgrade() else { break };
                let line = sink.take_snapshot().to_string();
                let _ = write!(out, "\r{line:<100}");
                let _ = out.flush();
            }
            let _ = writeln!(out);
        })
    }
}

#[async_trait]
impl MetricsSink for ConsoleSink {
    fn record(&self, datum: MetricDatum) {
        let mut guard = lock(&self.window);
        let w = &mut guard.1;
        let l = &self.layout;
        let name = datum.name.as_str();
        if name == l.throughput {
            w.throughput += datum.value;
            w.total += datum.value;
        }
        if name == l.latency {
            w.latencies.push(datum.value);
        }
        if name == l.lag {
            w.lag = Some(datum.value);
        }
        if name == l.retries {
            w.retries += datum.value;
        }
        if name == l.errors {
            w.errors += datum.value;
        }
    }

    async fn flush(&self) -> Result<FlushReport, MetricsError> {
        Ok(FlushReport::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Unit;

    #[test]
    fn the_line_shows_rate_percentiles_lag_retries_and_errors() {
        let sink = ConsoleSink::default();
        for _ in 0..20 {
            sink.record(MetricDatum::new(names::EDGES_SUBMITTED, Unit::Count, 100.0));
        }
        for v in 1..=100 {
            sink.record(MetricDatum::new(
                names::WRITE_DURATION,
                Unit::Milliseconds,
                v as f64,
            ));
        }
        sink.record(MetricDatum::new(
            names::MILLIS_BEHIND_LATEST,
            Unit::Milliseconds,
            1_500.0,
        ));
        sink.record(MetricDatum::new(names::RETRY_COUNT, Unit::Count, 3.0));
        sink.record(MetricDatum::new(names::WRITE_ERRORS, Unit::Count, 1.0));
        let s = sink.take_snapshot_over(Duration::from_secs(2));
        assert_eq!(s.per_second, 1_000.0);
        assert_eq!((s.p50, s.p99), (Some(50.0), Some(99.0)));
        assert_eq!(
            s.to_string(),
            "edges/s 1000 | write p50 50.0 ms p99 99.0 ms | lag 1.5 s | retries 3 | errors 1 | total 2000"
        );
        // A new window: the rate and latencies restart, totals and lag carry on.
        let next = sink.take_snapshot_over(Duration::from_secs(1));
        assert_eq!(
            (next.per_second, next.p50, next.lag),
            (0.0, None, Some(1_500.0))
        );
        assert_eq!(next.total, 2_000.0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_renderer_redraws_one_line_until_the_sink_is_dropped() {
        #[derive(Clone, Default)]
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let out = Shared::default();
        let sink = Arc::new(ConsoleSink::default());
        let task = sink.spawn_renderer(out.clone(), Duration::from_secs(1));
        sink.record(MetricDatum::new(names::EDGES_SUBMITTED, Unit::Count, 10.0));
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        drop(sink);
        tokio::time::sleep(Duration::from_secs(2)).await;
        task.await.unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches('\r').count(), 3, "{text:?}");
        assert!(text.ends_with('\n'));
        assert!(text.contains("total 10"));
    }
}
