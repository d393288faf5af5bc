//! Every metric this crate records through the `metrics` facade is described, with a unit, by
//! `kinesis_source::metrics::describe()`.

#[test]
fn every_recorded_metric_is_described_with_a_unit() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    local_services::metric_names::assert_all_described(&src, 20, kinesis_source::metrics::describe);
}
