//! A measurement, not a check (run by hand for benches/RESULTS.md):
//! `cargo test -p sfu --test cluster -- --ignored --nocapture join_latency`.
//! Join latency of a fresh room's first join straight at its owner versus through another
//! node (one `wrong_node` answer and a second connection), and the spread of 30 rooms over
//! three nodes. Each line: median, p90 and max over the samples.

use tokio::time::Instant;

use crate::harness::{join_via, start_nodes, Redis};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement for benches/RESULTS.md, run by hand"]
async fn join_latency_direct_and_through_a_redirect() {
    let redis = Redis::start().await;
    let nodes = start_nodes(&redis, 3, &[]).await;
    let mut direct = Vec::new();
    let mut redirected = Vec::new();
    let mut per_node = [0usize; 3];
    // A new room's first join: one placement script, then the room starts at the entry node
    // or the join is sent to the chosen one.
    let mut first_here = Vec::new();
    let mut first_elsewhere = Vec::new();
    for i in 0..30 {
        let room = format!("m-{i}");
        // Entries scattered so that some first joins land on the chosen node and some do not.
        let entry = nodes[(i + i / 3) % 3].addr;
        let started = Instant::now();
        let (client, at, redirects) = join_via(entry, &room, "first").await.expect("join");
        match redirects {
            0 => first_here.push(started.elapsed()),
            _ => first_elsewhere.push(started.elapsed()),
        }
        per_node[nodes.iter().position(|n| n.addr == at).expect("a node")] += 1;
        // A second participant of the now-running room: through the owner, then through
        // a node that does not run it.
        let other = nodes
            .iter()
            .find(|n| n.addr != at)
            .expect("three nodes")
            .addr;
        let started = Instant::now();
        let (c2, _, r2) = join_via(at, &room, "direct").await.expect("join");
        direct.push(started.elapsed());
        let started = Instant::now();
        let (c3, _, r3) = join_via(other, &room, "redirected").await.expect("join");
        redirected.push(started.elapsed());
        assert_eq!((r2, r3), (0, 1));
        drop((client, c2, c3));
    }
    let stats = |name: &str, samples: &mut Vec<std::time::Duration>| {
        if samples.is_empty() {
            println!("{name}: n=0");
            return;
        }
        samples.sort();
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{name}: n={} median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
            samples.len(),
            ms(samples[samples.len() / 2]),
            ms(samples[samples.len() * 9 / 10]),
            ms(samples[samples.len() - 1])
        );
    };
    stats(
        "first join of a new room, placed at the entry node",
        &mut first_here,
    );
    stats(
        "first join of a new room, placed on another node",
        &mut first_elsewhere,
    );
    stats("join at the owner", &mut direct);
    stats(
        "join through another node (wrong_node + reconnect)",
        &mut redirected,
    );
    println!("30 rooms placed over 3 nodes: {per_node:?}");
}
