//! Splitting aggregated data into `PutMetricData` requests that respect every service limit.
//!
//! Written here because the limits (1000 datums and 1 MB per request, 150 values per datum)
//! are specific to CloudWatch and no crate exposes the split on its own.

use crate::aggregate::{Aggregate, AggregatedDatum};
use crate::ConfigError;

/// CloudWatch's limits on one `PutMetricData` request, or lower ones. Made by
/// [`RequestLimits::builder`]; the default is CloudWatch's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLimits {
    /// Datums per request (CloudWatch: 1000).
    pub max_datums: usize,
    /// Values (and counts) per datum (CloudWatch: 150).
    pub max_values: usize,
    /// Size of the request body (CloudWatch: 1 MB). Compared with [`estimated_size`], an upper
    /// bound of the encoded size in any of the SDK's protocols.
    pub max_bytes: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_datums: 1_000,
            max_values: 150,
            max_bytes: 1_000_000,
        }
    }
}

impl RequestLimits {
    /// A builder holding CloudWatch's limits.
    ///
    /// ```
    /// use metrics_sink::requests::RequestLimits;
    ///
    /// let limits = RequestLimits::builder().max_datums(500).build()?;
    /// assert_eq!((limits.max_datums, limits.max_values), (500, 150));
    /// assert_eq!(RequestLimits::builder().max_values(151).build().unwrap_err().field, "limits.max_values");
    /// # Ok::<(), metrics_sink::ConfigError>(())
    /// ```
    pub fn builder() -> RequestLimitsBuilder {
        RequestLimitsBuilder {
            limits: Self::default(),
        }
    }

    /// Checks the limits against CloudWatch's; the error names the field as a field of
    /// [`CloudWatchConfig`](crate::CloudWatchConfig) (`limits.max_datums`, ...).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=1_000).contains(&self.max_datums) {
            return Err(ConfigError::new(
                "limits.max_datums",
                format!("{} is outside 1..=1000", self.max_datums),
            ));
        }
        if !(1..=150).contains(&self.max_values) {
            return Err(ConfigError::new(
                "limits.max_values",
                format!("{} is outside 1..=150", self.max_values),
            ));
        }
        if !(200_000..=1_000_000).contains(&self.max_bytes) {
            return Err(ConfigError::new(
                "limits.max_bytes",
                format!(
                    "{} is outside 200000..=1000000 (a valid datum can take 150 kB)",
                    self.max_bytes
                ),
            ));
        }
        Ok(())
    }
}

/// Builds [`RequestLimits`]; [`build`](Self::build) checks them against CloudWatch's.
#[derive(Debug, Clone)]
#[must_use]
pub struct RequestLimitsBuilder {
    limits: RequestLimits,
}

impl RequestLimitsBuilder {
    /// Sets [`RequestLimits::max_datums`].
    pub fn max_datums(mut self, datums: usize) -> Self {
        self.limits.max_datums = datums;
        self
    }

    /// Sets [`RequestLimits::max_values`].
    pub fn max_values(mut self, values: usize) -> Self {
        self.limits.max_values = values;
        self
    }

    /// Sets [`RequestLimits::max_bytes`].
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_bytes = bytes;
        self
    }

    /// The limits, if each is within CloudWatch's.
    pub fn build(self) -> Result<RequestLimits, ConfigError> {
        self.limits.validate()?;
        Ok(self.limits)
    }
}

/// Bytes the request envelope can take besides its datums (namespace aside).
const REQUEST_OVERHEAD: usize = 512;

/// An upper bound of the bytes `datum` adds to a request. The bound holds for the
/// query (form-encoded, every character percent-encoded at worst: 3 bytes per byte), JSON and
/// CBOR encodings: each member is counted with its longest form-encoded key
/// (`MetricData.member.1000.Dimensions.member.30.Value=`, about 50 bytes).
pub fn estimated_size(datum: &AggregatedDatum) -> usize {
    const KEY: usize = 64;
    const NUMBER: usize = KEY + 32;
    let key = &datum.key;
    let mut size = 256 + KEY + 3 * key.name.len();
    for d in &key.dimensions {
        size += 2 * KEY + 3 * (d.name.len() + d.value.len());
    }
    size += match &datum.aggregate {
        Aggregate::Values(values) => values.len() * 2 * NUMBER,
        Aggregate::Statistics { .. } => 4 * NUMBER,
    };
    size
}

/// The bytes of a request for `namespace` holding nothing yet.
pub fn request_overhead(namespace: &str) -> usize {
    REQUEST_OVERHEAD + 3 * namespace.len()
}

/// Splits `data` into requests within `limits`: a datum with more distinct values than
/// `max_values` becomes several datums with the same key (CloudWatch adds them up), and datums
/// go into requests in order until the next would break the datum count or the size bound.
/// Nothing is dropped: the values and counts that come out are exactly those that went in.
pub fn split_into_requests(
    namespace: &str,
    data: Vec<AggregatedDatum>,
    limits: &RequestLimits,
) -> Vec<Vec<AggregatedDatum>> {
    let max_values = limits.max_values.max(1);
    let max_datums = limits.max_datums.max(1);
    let mut requests = Vec::new();
    let mut current: Vec<AggregatedDatum> = Vec::new();
    let mut current_bytes = request_overhead(namespace);
    for datum in data {
        let pieces: Vec<AggregatedDatum> = match datum.aggregate {
            Aggregate::Values(values) if values.len() > max_values => values
                .chunks(max_values)
                .map(|chunk| AggregatedDatum {
                    key: datum.key.clone(),
                    aggregate: Aggregate::Values(chunk.to_vec()),
                })
                .collect(),
            aggregate => vec![AggregatedDatum {
                key: datum.key,
                aggregate,
            }],
        };
        for piece in pieces {
            let size = estimated_size(&piece);
            if !current.is_empty()
                && (current.len() >= max_datums || current_bytes + size > limits.max_bytes)
            {
                requests.push(std::mem::take(&mut current));
                current_bytes = request_overhead(namespace);
            }
            current_bytes += size;
            current.push(piece);
        }
    }
    if !current.is_empty() {
        requests.push(current);
    }
    requests
}
