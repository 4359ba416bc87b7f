//! `policy_install/N`: build the forwarding policy for a room of N participants spread over
//! 20 breakout groups (everyone shifted to the next group, as a host's reshuffle does) and
//! install it: every route of the room is re-evaluated with `allowed()`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

use benches::BreakoutRoom;

fn policy_install(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy_install");
    group.sample_size(20);
    for n in [100u64, 1000] {
        let mut room = BreakoutRoom::new(n, 20);
        let mut version = 1;
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                version += 1;
                // Alternate between two layouts so every install moves everyone.
                let policy = BreakoutRoom::policy(n, 20, version % 2, version);
                room.core.install_policy(room.now, policy);
                while !matches!(room.core.poll_output(), sfu::core::Output::Timeout(_)) {}
            })
        });
    }
    group.finish();
}

criterion_group!(benches, policy_install);
criterion_main!(benches);
