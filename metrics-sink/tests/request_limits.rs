//! Any input is split into `PutMetricData` requests within every CloudWatch limit, and nothing
//! is lost or invented on the way.

use metrics_sink::aggregate::{Aggregate, AggregatedDatum, SeriesKey};
use metrics_sink::limits::MAX_DIMENSIONS;
use metrics_sink::requests::{
    estimated_size, request_overhead, split_into_requests, RequestLimits,
};
use metrics_sink::{Dimension, Unit};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn datum() -> impl Strategy<Value = AggregatedDatum> {
    // Contents do not matter to the split, lengths do: strings are built from a length and a
    // character (which may need percent-encoding), which is also quick to generate.
    let text = |max: usize| {
        (
            1..=max,
            prop::sample::select(vec!['a', 'Z', '%', ' ', '/', '&']),
        )
            .prop_map(|(n, c)| c.to_string().repeat(n))
    };
    let name = text(255);
    let dims =
        proptest::collection::vec((text(250), text(1024)), 0..=MAX_DIMENSIONS).prop_map(|d| {
            // Dimension names are unique within a datum.
            d.into_iter()
                .enumerate()
                .map(|(i, (n, v))| (format!("{i:02}{}", &n[..n.len().min(253)]), v))
                .collect::<BTreeMap<_, _>>()
        });
    let values = prop_oneof![
        proptest::collection::vec((-1e12f64..1e12, 1.0f64..1e6), 1..600)
            .prop_map(Aggregate::Values),
        (-1e9f64..1e9, 0f64..1e9, 1f64..1e6).prop_map(|(min, span, count)| Aggregate::Statistics {
            min,
            max: min + span,
            sum: (min + span / 2.0) * count,
            count,
        }),
    ];
    (name, dims, any::<bool>(), 0u64..1_000, values).prop_map(|(name, dims, hr, t, aggregate)| {
        AggregatedDatum {
            key: SeriesKey {
                name,
                dimensions: dims
                    .into_iter()
                    .map(|(name, value)| Dimension { name, value })
                    .collect(),
                unit: Unit::Count,
                high_resolution: hr,
                period_start: 1_700_000_000 + t,
            },
            aggregate,
        }
    })
}

/// Every (key, value) with its total count, or the statistic set per key.
fn contents(data: &[AggregatedDatum]) -> BTreeMap<String, Vec<(u64, u64)>> {
    let mut out: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for d in data {
        let key = format!("{:?}", d.key);
        let entry = out.entry(key).or_default();
        match &d.aggregate {
            Aggregate::Values(v) => entry.extend(v.iter().map(|(x, c)| (x.to_bits(), c.to_bits()))),
            Aggregate::Statistics {
                min,
                max,
                sum,
                count,
            } => entry.extend([
                (min.to_bits(), max.to_bits()),
                (sum.to_bits(), count.to_bits()),
            ]),
            other => panic!("an aggregate this test does not know: {other:?}"),
        }
    }
    for v in out.values_mut() {
        v.sort_unstable();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn any_input_is_split_into_requests_within_every_limit(
        data in proptest::collection::vec(datum(), 0..1_300),
        namespace in "[a-zA-Z0-9/_-]{1,255}",
        max_bytes in 200_000usize..=1_000_000,
    ) {
        let limits = RequestLimits::builder().max_bytes(max_bytes).build().unwrap();
        let before = contents(&data);
        let requests = split_into_requests(&namespace, data, &limits);
        for request in &requests {
            prop_assert!(!request.is_empty());
            prop_assert!(request.len() <= 1_000, "{} datums", request.len());
            let size: usize = request_overhead(&namespace)
                + request.iter().map(estimated_size).sum::<usize>();
            prop_assert!(size <= max_bytes, "{size} bytes > {max_bytes}");
            for d in request {
                prop_assert!(d.key.dimensions.len() <= 30);
                if let Aggregate::Values(v) = &d.aggregate {
                    prop_assert!(!v.is_empty() && v.len() <= 150, "{} values", v.len());
                }
            }
        }
        let all: Vec<AggregatedDatum> = requests.into_iter().flatten().collect();
        prop_assert_eq!(contents(&all), before);
    }
}

#[test]
fn the_size_estimate_bounds_the_real_query_encoding() {
    // A worst case for the form encoding: every character percent-encoded.
    let d = AggregatedDatum {
        key: SeriesKey {
            name: "%".repeat(255),
            dimensions: (0..30)
                .map(|i| Dimension {
                    name: format!("{i:%>255}"),
                    value: "&".repeat(1024),
                })
                .collect(),
            unit: Unit::Milliseconds,
            high_resolution: true,
            period_start: 1_700_000_000,
        },
        aggregate: Aggregate::Values(
            (0..150)
                .map(|i| (-1.234_567_890_123_456_7e-300 * f64::from(i), 1e300))
                .collect(),
        ),
    };
    let enc = |s: &str| {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { 1 } else { 3 })
            .sum::<usize>()
    };
    let p = "MetricData.member.1000.";
    let mut real = p.len() + "MetricName=".len() + enc(&d.key.name) + 1;
    for (i, dim) in d.key.dimensions.iter().enumerate() {
        real += 2 * (p.len() + format!("Dimensions.member.{}.Name=", i + 1).len() + 1);
        real += enc(&dim.name) + enc(&dim.value);
    }
    if let Aggregate::Values(v) = &d.aggregate {
        for (i, (x, c)) in v.iter().enumerate() {
            real +=
                p.len() + format!("Values.member.{}=", i + 1).len() + enc(&format!("{x:e}")) + 1;
            real +=
                p.len() + format!("Counts.member.{}=", i + 1).len() + enc(&format!("{c:e}")) + 1;
        }
    }
    real += p.len() + "Timestamp=2023-11-14T22%3A13%3A20Z&".len();
    real += p.len() + "Unit=Milliseconds&".len() + p.len() + "StorageResolution=1&".len();
    let estimate = estimated_size(&d);
    println!("estimate {estimate} bytes, worst-case form encoding {real} bytes");
    assert!(estimate >= real, "estimate {estimate} < {real}");
    assert!(estimate < 1_000_000);
}
