//! [`ShardHistogram`]: a Prometheus histogram fed with the growth of the shards'
//! [`FixedHistogram`]s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};

use crate::shard::FixedHistogram;

/// A Prometheus histogram whose buckets are the sum of the shards' [`FixedHistogram`]s: the
/// server adds what each shard's buckets grew by ([`ShardHistogram::grow`]), as it does for
/// counters, and a scrape reads the totals. (The `prometheus` crate's own `Histogram` can only
/// take single observations.)
#[derive(Clone, Debug)]
pub struct ShardHistogram {
    desc: Desc,
    /// Upper bounds in the exported unit, increasing; `+Inf` is implied.
    bounds: Arc<[f64]>,
    totals: Arc<Mutex<HistogramTotals>>,
}

#[derive(Debug, Default)]
struct HistogramTotals {
    /// Per bucket (not cumulative), plus one for the values above the last bound.
    counts: Vec<u64>,
    /// In the exported unit.
    sum: f64,
}

impl ShardHistogram {
    /// A histogram with `bounds` in the exported unit (they must increase).
    pub fn new(name: &str, help: &str, bounds: Vec<f64>) -> Result<Self, prometheus::Error> {
        if !bounds.windows(2).all(|w| w[0] < w[1]) {
            return Err(prometheus::Error::Msg(format!(
                "{name}: bucket bounds must increase"
            )));
        }
        let desc = Desc::new(name.into(), help.into(), Vec::new(), HashMap::new())?;
        let totals = HistogramTotals {
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        };
        Ok(ShardHistogram {
            desc,
            bounds: bounds.into(),
            totals: Arc::new(Mutex::new(totals)),
        })
    }

    /// Adds what a shard's histogram grew by from `last` to `now`; `divisor` turns its unit
    /// into the exported one (nanoseconds to seconds: 1e9). A bucket that went backwards (a
    /// restarted source) adds nothing.
    pub fn grow<const N: usize>(
        &self,
        last: &FixedHistogram<N>,
        now: &FixedHistogram<N>,
        divisor: f64,
    ) {
        let mut totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        let grown = now
            .counts
            .iter()
            .zip(&last.counts)
            .chain(std::iter::once((&now.above, &last.above)))
            .map(|(after, before)| after.saturating_sub(*before));
        for (total, more) in totals.counts.iter_mut().zip(grown) {
            *total += more;
        }
        totals.sum += now.sum.saturating_sub(last.sum) as f64 / divisor;
    }

    /// How many values were counted.
    pub fn count(&self) -> u64 {
        let totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        totals.counts.iter().sum()
    }
}

impl Collector for ShardHistogram {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        let mut cumulative = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(&totals.counts)
            .map(|(&bound, &count)| {
                cumulative += count;
                let mut bucket = proto::Bucket::default();
                bucket.set_upper_bound(bound);
                bucket.set_cumulative_count(cumulative);
                bucket
            })
            .collect();
        let mut histogram = proto::Histogram::default();
        histogram.set_bucket(buckets);
        histogram.set_sample_count(totals.counts.iter().sum());
        histogram.set_sample_sum(totals.sum);
        let mut metric = proto::Metric::default();
        metric.set_histogram(histogram);
        let mut family = MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(MetricType::HISTOGRAM);
        family.set_metric(vec![metric]);
        vec![family]
    }
}
