//! Counts heap allocations per forwarded packet in steady state (target: 0), with dhat's
//! counting global allocator. Run: `cargo bench -p benches --bench alloc_per_forward`.

use benches::FanoutRoom;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    for fanout in [1usize, 10, 100, 1000] {
        let mut room = FanoutRoom::new(fanout);
        // Warm-up: queues reach their working size, the first ticks have run.
        for _ in 0..100 {
            room.step();
        }
        let packets = 3_000;
        let forwarded_before = room.forwarded;
        let before = dhat::HeapStats::get().total_blocks;
        for _ in 0..packets {
            room.step();
        }
        let allocations = dhat::HeapStats::get().total_blocks - before;
        let forwarded = room.forwarded - forwarded_before;
        println!(
            "alloc_per_forward/{fanout}: {allocations} allocations for {forwarded} forwards \
             ({:.4} per forwarded packet)",
            allocations as f64 / forwarded.max(1) as f64
        );
    }
}
