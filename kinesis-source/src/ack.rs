//! Acknowledged-prefix bookkeeping: the rule that keeps checkpoints behind the work.
//!
//! Records of a shard are *delivered* in shard order. They may be *acknowledged* in any order
//! (a consumer can write several batches at once, and a later one can finish first). The
//! checkpoint of a shard is the last record of the longest delivered prefix whose records are
//! all acknowledged. When a shard has been read to its end and all of it is acknowledged, its
//! checkpoint becomes [`Checkpoint::ShardEnd`], which is what lets its children start.
//!
//! The user records of one KPL aggregate (see [`crate::kpl`]) share a sequence number and are
//! told apart by their sub-sequence numbers. A prefix that ends inside an aggregate gives a
//! [`Checkpoint::AfterSubSequence`]; a restart resumes at the aggregate and skips the user
//! records it covers. Once every user record is acknowledged the checkpoint moves past the
//! aggregate.

use crate::checkpoint::Checkpoint;
use crate::record::{Record, SequenceNumber, ShardId};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use stream2neptune_common::{lock, Classify, ErrorKind};

/// An acknowledgement that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// The shard never delivered anything through this tracker.
    #[error("shard {shard} has delivered no records to acknowledge")]
    UnknownShard {
        /// The shard named in the acknowledgement.
        shard: ShardId,
    },
    /// The record is not in flight: never delivered, or already acknowledged and checkpointed.
    #[error("record {sequence} of shard {shard} is not in flight (never delivered, or already acknowledged)")]
    NotInFlight {
        /// The shard named in the acknowledgement.
        shard: ShardId,
        /// The sequence number named in the acknowledgement.
        sequence: SequenceNumber,
        /// The sub-sequence number named, for a user record of a KPL aggregate.
        sub_sequence: Option<u64>,
    },
}

impl AckError {
    /// Always false: retrying the same acknowledgement cannot succeed (see [`Classify`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// Acknowledgement errors are the caller's mistakes: [`ErrorKind::Usage`].
impl Classify for AckError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Usage
    }
}

#[derive(Debug, Default)]
struct ShardAcks {
    /// Slot number of the front of `pending`.
    base: u64,
    /// Delivered records not yet covered by the checkpoint, in delivery order.
    pending: VecDeque<Pending>,
    /// Where each pending record sits (slot number), by sequence and sub-sequence number.
    slots: HashMap<(SequenceNumber, Option<u64>), u64>,
    /// The shard was read to its end: nothing will be delivered after `pending`.
    ended: bool,
    /// The current acknowledged-prefix checkpoint.
    checkpoint: Option<Checkpoint>,
    /// `checkpoint` changed since it was last taken by [`AckTracker::take_changed`].
    changed: bool,
}

/// One delivered record (or user record of an aggregate) not yet covered by the checkpoint.
#[derive(Debug)]
struct Pending {
    sequence: SequenceNumber,
    sub_sequence: Option<u64>,
    /// The last delivered record with this sequence number: once it is covered, so is the
    /// whole Kinesis record.
    closes: bool,
    acked: bool,
}

impl ShardAcks {
    fn push(&mut self, sequence: &SequenceNumber, sub_sequence: Option<u64>, closes: bool) {
        let slot = self.base + self.pending.len() as u64;
        self.slots.insert((sequence.clone(), sub_sequence), slot);
        self.pending.push_back(Pending {
            sequence: sequence.clone(),
            sub_sequence,
            closes,
            acked: false,
        });
    }

    fn advance(&mut self) {
        let mut last = None;
        while self.pending.front().is_some_and(|p| p.acked) {
            let p = self.pending.pop_front().expect("front exists");
            let key = (p.sequence, p.sub_sequence);
            self.slots.remove(&key);
            self.base += 1;
            let (sequence, sub_sequence) = key;
            last = Some(match (p.closes, sub_sequence) {
                (false, Some(sub_sequence)) => Checkpoint::AfterSubSequence {
                    sequence,
                    sub_sequence,
                },
                _ => Checkpoint::AfterSequence(sequence),
            });
        }
        if let Some(cp) = last {
            self.checkpoint = Some(cp);
            self.changed = true;
        }
        if self.ended && self.pending.is_empty() && self.checkpoint != Some(Checkpoint::ShardEnd) {
            self.checkpoint = Some(Checkpoint::ShardEnd);
            self.changed = true;
        }
    }
}

/// Tracks, per shard, which delivered records were acknowledged, and derives checkpoints that
/// only cover the contiguous acknowledged prefix.
///
/// All operations are O(1) amortised per record.
#[derive(Debug, Default)]
pub struct AckTracker {
    shards: HashMap<ShardId, ShardAcks>,
}

impl AckTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts tracking `shard` from a stored checkpoint, so that [`AckTracker::checkpoint`] reports
    /// it until new acknowledgements move it on.
    pub fn resume(&mut self, shard: &str, from: Option<Checkpoint>) {
        let entry = self.shards.entry(shard.to_owned()).or_default();
        if entry.pending.is_empty() {
            entry.ended = matches!(from, Some(Checkpoint::ShardEnd));
            entry.checkpoint = from;
        }
    }

    /// Records that `sequences` were handed to the consumer, in this order, after everything
    /// delivered before for the same shard.
    pub fn delivered<'a>(
        &mut self,
        shard: &str,
        sequences: impl IntoIterator<Item = &'a SequenceNumber>,
    ) {
        let entry = self.shards.entry(shard.to_owned()).or_default();
        for seq in sequences {
            entry.push(seq, None, true);
        }
    }

    /// Records that `records` (all of one shard, and whole: every user record of an aggregate
    /// they contain) were handed to the consumer, in this order, after everything delivered
    /// before for the same shard.
    pub fn delivered_records(&mut self, shard: &str, records: &[Record]) {
        let entry = self.shards.entry(shard.to_owned()).or_default();
        for (i, r) in records.iter().enumerate() {
            let closes = records
                .get(i + 1)
                .is_none_or(|next| next.sequence_number != r.sequence_number);
            entry.push(&r.sequence_number, r.sub_sequence_number, closes);
        }
    }

    /// Records that `shard` was read to its end: once every delivered record is acknowledged, its
    /// checkpoint becomes [`Checkpoint::ShardEnd`].
    pub fn shard_ended(&mut self, shard: &str) {
        let entry = self.shards.entry(shard.to_owned()).or_default();
        entry.ended = true;
        entry.advance();
    }

    /// Acknowledges one delivered record put as such (not a user record of an aggregate).
    /// Returns whether the shard's checkpoint moved.
    pub fn ack(&mut self, shard: &str, sequence: &SequenceNumber) -> Result<bool, AckError> {
        self.ack_position(shard, sequence, None)
    }

    /// Acknowledges one delivered record, whole or user record of an aggregate. Returns
    /// whether the shard's checkpoint moved.
    pub fn ack_record(&mut self, record: &Record) -> Result<bool, AckError> {
        self.ack_position(
            &record.shard_id,
            &record.sequence_number,
            record.sub_sequence_number,
        )
    }

    fn ack_position(
        &mut self,
        shard: &str,
        sequence: &SequenceNumber,
        sub_sequence: Option<u64>,
    ) -> Result<bool, AckError> {
        let entry = self
            .shards
            .get_mut(shard)
            .ok_or_else(|| AckError::UnknownShard {
                shard: shard.to_owned(),
            })?;
        let not_in_flight = || AckError::NotInFlight {
            shard: shard.to_owned(),
            sequence: sequence.clone(),
            sub_sequence,
        };
        let slot = *entry
            .slots
            .get(&(sequence.clone(), sub_sequence))
            .ok_or_else(not_in_flight)?;
        let index = (slot - entry.base) as usize;
        let cell = &mut entry.pending[index].acked;
        if *cell {
            return Err(not_in_flight());
        }
        *cell = true;
        if index == 0 {
            let before = entry.checkpoint.clone();
            entry.advance();
            Ok(entry.checkpoint != before)
        } else {
            Ok(false)
        }
    }

    /// The checkpoint `shard` may be stored at now.
    pub fn checkpoint(&self, shard: &str) -> Option<Checkpoint> {
        self.shards.get(shard).and_then(|s| s.checkpoint.clone())
    }

    /// Delivered records of `shard` not yet covered by its checkpoint.
    pub fn in_flight(&self, shard: &str) -> usize {
        self.shards.get(shard).map_or(0, |s| s.pending.len())
    }

    /// Delivered records not yet covered by a checkpoint, over all shards.
    pub fn total_in_flight(&self) -> usize {
        self.shards.values().map(|s| s.pending.len()).sum()
    }

    /// Whether `shard` was read to its end and everything it delivered is acknowledged.
    pub fn is_finished(&self, shard: &str) -> bool {
        self.shards
            .get(shard)
            .is_some_and(|s| s.checkpoint == Some(Checkpoint::ShardEnd))
    }

    /// The checkpoints that moved since the last call, to be written to a store.
    pub fn take_changed(&mut self) -> Vec<(ShardId, Checkpoint)> {
        let mut out = Vec::new();
        for (shard, acks) in &mut self.shards {
            if acks.changed {
                acks.changed = false;
                if let Some(cp) = &acks.checkpoint {
                    out.push((shard.clone(), cp.clone()));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Forgets a shard whose end was checkpointed (a retired parent).
    pub fn retire(&mut self, shard: &str) {
        self.shards.remove(shard);
    }
}

/// A cloneable, thread-safe handle to acknowledge records, carried by every
/// [`RecordBatch`](crate::RecordBatch).
#[derive(Debug, Clone, Default)]
pub struct Acker {
    tracker: Arc<Mutex<AckTracker>>,
}

impl Acker {
    /// A handle over a fresh tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Acknowledges one record put as such. Returns whether its shard's checkpoint moved.
    pub fn ack(&self, shard: &str, sequence: &SequenceNumber) -> Result<bool, AckError> {
        lock(&self.tracker).ack(shard, sequence)
    }

    /// Acknowledges one delivered record, whole or user record of an aggregate. Returns
    /// whether its shard's checkpoint moved.
    pub fn ack_record(&self, record: &Record) -> Result<bool, AckError> {
        lock(&self.tracker).ack_record(record)
    }

    /// Runs `f` with the tracker locked (for sources and tests).
    pub fn with_tracker<T>(&self, f: impl FnOnce(&mut AckTracker) -> T) -> T {
        f(&mut lock(&self.tracker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seqs(n: usize) -> Vec<SequenceNumber> {
        (0..n)
            .map(|i| SequenceNumber::new(format!("{}", 1000 + i)))
            .collect()
    }

    #[test]
    fn a_later_ack_does_not_move_the_checkpoint_past_an_unacknowledged_record() {
        let mut t = AckTracker::new();
        let s = seqs(3);
        t.delivered("a", &s);
        assert!(!t.ack("a", &s[2]).unwrap());
        assert_eq!(t.checkpoint("a"), None);
        assert!(t.ack("a", &s[0]).unwrap());
        assert_eq!(
            t.checkpoint("a"),
            Some(Checkpoint::AfterSequence(s[0].clone()))
        );
        assert!(t.ack("a", &s[1]).unwrap());
        assert_eq!(
            t.checkpoint("a"),
            Some(Checkpoint::AfterSequence(s[2].clone()))
        );
        assert_eq!(t.in_flight("a"), 0);
    }

    #[test]
    fn shard_end_is_only_reached_once_everything_is_acknowledged() {
        let mut t = AckTracker::new();
        let s = seqs(2);
        t.delivered("a", &s);
        t.shard_ended("a");
        assert!(!t.is_finished("a"));
        t.ack("a", &s[1]).unwrap();
        assert!(!t.is_finished("a"));
        t.ack("a", &s[0]).unwrap();
        assert!(t.is_finished("a"));
        assert_eq!(
            t.take_changed(),
            vec![("a".to_owned(), Checkpoint::ShardEnd)]
        );
        assert!(t.take_changed().is_empty());
    }

    #[test]
    fn unknown_and_double_acks_are_errors() {
        let mut t = AckTracker::new();
        let s = seqs(2);
        assert!(matches!(
            t.ack("a", &s[0]),
            Err(AckError::UnknownShard { .. })
        ));
        t.delivered("a", &s);
        t.ack("a", &s[1]).unwrap();
        assert!(matches!(
            t.ack("a", &s[1]),
            Err(AckError::NotInFlight { .. })
        ));
        t.ack("a", &s[0]).unwrap();
        assert!(matches!(
            t.ack("a", &s[0]),
            Err(AckError::NotInFlight { .. })
        ));
    }

    proptest! {
        /// Whatever order acknowledgements arrive in, after each one the checkpoint is exactly
        /// the last record of the longest fully acknowledged prefix.
        #[test]
        fn checkpoint_is_always_the_acknowledged_prefix(
            order in (1usize..200).prop_flat_map(|n| Just((0..n).collect::<Vec<_>>()).prop_shuffle()),
            batch in 1usize..50,
        ) {
            let n = order.len();
            let s = seqs(n);
            let mut t = AckTracker::new();
            // Delivery in batches, interleaved with acks of what was delivered so far.
            let mut delivered = 0;
            let mut acked = vec![false; n];
            let mut pending_acks: Vec<usize> = Vec::new();
            let mut order_iter = order.into_iter().peekable();
            while delivered < n || !pending_acks.is_empty() || order_iter.peek().is_some() {
                if delivered < n {
                    let end = (delivered + batch).min(n);
                    t.delivered("s", &s[delivered..end]);
                    delivered = end;
                }
                // Ack everything in `order` that is already delivered, in the shuffled order.
                while let Some(&i) = order_iter.peek() {
                    if i >= delivered { break; }
                    pending_acks.push(order_iter.next().unwrap());
                }
                for i in pending_acks.drain(..) {
                    t.ack("s", &s[i]).unwrap();
                    acked[i] = true;
                    let prefix = acked.iter().take_while(|a| **a).count();
                    let expected = if prefix == 0 { None } else {
                        Some(Checkpoint::AfterSequence(s[prefix - 1].clone()))
                    };
                    prop_assert_eq!(t.checkpoint("s"), expected);
                    prop_assert_eq!(t.in_flight("s"), delivered - prefix);
                }
                if delivered == n && order_iter.peek().is_none() { break; }
            }
            t.shard_ended("s");
            prop_assert!(t.is_finished("s"));
        }

        /// With KPL aggregates (user records sharing a sequence number), whatever order the
        /// user records are acknowledged in, the checkpoint names the last record of the
        /// acknowledged prefix: the Kinesis record when the prefix ends at its last user
        /// record (or it is a plain record), else the user record inside the aggregate.
        #[test]
        fn the_checkpoint_names_the_last_user_record_of_the_acknowledged_prefix(
            sizes in proptest::collection::vec(prop_oneof![Just(0usize), 1usize..6], 1..40),
            seed in any::<u64>(),
        ) {
            use rand::{seq::SliceRandom, SeedableRng};
            // Size 0 is a plain record; k > 0 an aggregate of k user records.
            let mut records = Vec::new();
            let mut kinesis_index = Vec::new();
            for (k, &size) in sizes.iter().enumerate() {
                let seq = SequenceNumber::new(format!("{}", 500 + k));
                if size == 0 {
                    records.push(Record::new("s", seq, "key", "plain"));
                    kinesis_index.push(k);
                } else {
                    for sub in 0..size {
                        let mut r = Record::new("s", seq.clone(), "key", "user");
                        r.sub_sequence_number = Some(sub as u64);
                        records.push(r);
                        kinesis_index.push(k);
                    }
                }
            }
            let mut t = AckTracker::new();
            t.delivered_records("s", &records);
            let mut order: Vec<usize> = (0..records.len()).collect();
            order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
            let mut acked = vec![false; records.len()];
            for i in order {
                t.ack_record(&records[i]).unwrap();
                prop_assert!(t.ack_record(&records[i]).is_err(), "double ack accepted");
                acked[i] = true;
                let prefix = acked.iter().take_while(|a| **a).count();
                let expected = prefix.checked_sub(1).map(|last| {
                    let r = &records[last];
                    // From the data's own shape: the last user record of its aggregate.
                    let size = sizes[kinesis_index[last]];
                    let closes = size == 0 || r.sub_sequence_number == Some(size as u64 - 1);
                    match (closes, r.sub_sequence_number) {
                        (false, Some(sub_sequence)) => Checkpoint::AfterSubSequence {
                            sequence: r.sequence_number.clone(),
                            sub_sequence,
                        },
                        _ => Checkpoint::AfterSequence(r.sequence_number.clone()),
                    }
                });
                prop_assert_eq!(t.checkpoint("s"), expected);
            }
            t.shard_ended("s");
            prop_assert!(t.is_finished("s"));
        }

        /// Deliveries, acknowledgements and shard ends interleaved at random on three shards,
        /// with acks picked at random among everything in flight (so later records often
        /// finish first), checked after every step against a plain model: the checkpoint is
        /// the last record of the longest acknowledged prefix, `ShardEnd` only once the shard
        /// ended and all of it was acknowledged, and double acks are refused.
        #[test]
        fn random_completion_orders_never_move_a_checkpoint_past_unacknowledged_work(
            steps in proptest::collection::vec((0u8..10, 0usize..3, 1usize..8, any::<proptest::sample::Index>()), 1..400),
        ) {
            const SHARDS: [&str; 3] = ["a", "b", "c"];
            let mut t = AckTracker::new();
            // Model per shard: delivered records with their acked flag, and whether it ended.
            let mut model: Vec<(Vec<bool>, bool)> = vec![(Vec::new(), false); 3];
            let seq = |i: usize| SequenceNumber::new(format!("{}", 10_000 + i));
            for (op, shard, n, pick) in steps {
                let name = SHARDS[shard];
                let (acked, ended) = &mut model[shard];
                match op {
                    // Deliver a batch of n records (unless the shard ended).
                    0..=2 if !*ended => {
                        let from = acked.len();
                        let seqs: Vec<_> = (from..from + n).map(seq).collect();
                        t.delivered(name, &seqs);
                        acked.extend(std::iter::repeat_n(false, n));
                    }
                    // End the shard.
                    3 if !*ended => {
                        t.shard_ended(name);
                        *ended = true;
                    }
                    // Ack a random delivered record; acked ones must be refused.
                    _ if !acked.is_empty() => {
                        let i = pick.index(acked.len());
                        let r = t.ack(name, &seq(i));
                        if acked[i] {
                            prop_assert!(r.is_err(), "double ack of {} accepted", i);
                        } else {
                            prop_assert!(r.is_ok());
                            acked[i] = true;
                        }
                    }
                    _ => {}
                }
                for (k, (acked, ended)) in model.iter().enumerate() {
                    let prefix = acked.iter().take_while(|a| **a).count();
                    let expected = if *ended && prefix == acked.len() {
                        Some(Checkpoint::ShardEnd)
                    } else if prefix == 0 {
                        None
                    } else {
                        Some(Checkpoint::AfterSequence(seq(prefix - 1)))
                    };
                    prop_assert_eq!(t.checkpoint(SHARDS[k]), expected);
                    prop_assert_eq!(t.in_flight(SHARDS[k]), acked.len() - prefix);
                }
            }
        }
    }
}
