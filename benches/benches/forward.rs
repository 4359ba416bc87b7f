//! `forward_fanout/N`: one publisher packet through the full `MediaCore` pipeline (route,
//! forwarder, rewrite, output queue) to N subscriptions. Throughput is in forwards (elements).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use benches::FanoutRoom;

fn forward_fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward_fanout");
    for n in [1usize, 10, 100, 1000] {
        let mut room = FanoutRoom::new(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| b.iter(|| room.step()));
    }
    group.finish();
}

criterion_group!(benches, forward_fanout);
criterion_main!(benches);
