//! The per-packet building blocks: `rtp_parse` (our `RtpIn` from header fields and a VP8
//! payload), `seq_rewrite` (one sequence number through `SeqRewriter`), `vp8_patch` (the
//! descriptor bytes a forward rewrites, and copying a 1,000-byte payload with them written).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use sfu::core::seq_rewriter::{Extender, SeqRewriter};
use sfu::core::testing::PacketBuilder;
use sfu::core::vp8::{Vp8Descriptor, Vp8Patch};
use sfu::core::{Codec, RtpIn};

fn rtp_parse(c: &mut Criterion) {
    let pkt = PacketBuilder::vp8()
        .picture_id(1234)
        .tl0_pic_idx(7)
        .tid(1)
        .layer_sync(true)
        .len(1000)
        .build();
    let mut group = c.benchmark_group("rtp_parse");
    group.throughput(Throughput::Elements(1));
    group.bench_function("vp8", |b| {
        b.iter(|| {
            RtpIn::new(
                black_box(pkt.header),
                Codec::Vp8,
                black_box(pkt.payload.clone()),
            )
        })
    });
    group.finish();
}

fn seq_rewrite(c: &mut Criterion) {
    let mut ext = Extender::<16>::new();
    let mut seq = SeqRewriter::<16>::new();
    let mut raw: u16 = 65_000;
    seq.resync(ext.extend(u64::from(raw)));
    c.bench_function("seq_rewrite", |b| {
        b.iter(|| {
            raw = raw.wrapping_add(1);
            let v = ext.extend(u64::from(black_box(raw)));
            // Every 8th packet is filtered out (a dropped temporal layer frame).
            if raw.is_multiple_of(8) {
                black_box(seq.skip(v)).ok();
            } else {
                black_box(seq.map(v)).ok();
            }
        })
    });
}

fn vp8_patch(c: &mut Criterion) {
    let pkt = PacketBuilder::vp8()
        .picture_id(1234)
        .tl0_pic_idx(7)
        .tid(0)
        .key_idx(3)
        .len(1000)
        .build();
    let desc = Vp8Descriptor::parse(&pkt.payload).expect("valid descriptor");
    let patch = Vp8Patch {
        picture_id: Some(99),
        tl0_pic_idx: Some(1),
        key_idx: Some(2),
    };
    let mut buf = Vec::with_capacity(1500);
    let mut group = c.benchmark_group("vp8_patch");
    group.throughput(Throughput::Bytes(1000));
    group.bench_function("1000B", |b| {
        b.iter(|| {
            // The core's part (which bytes change, once per forward) and the copy with the
            // edits written that str0m makes while it serialises the packet.
            let edits = black_box(&patch).edits(&desc, &pkt.payload);
            buf.clear();
            buf.extend_from_slice(&pkt.payload);
            edits.apply(&mut buf);
            black_box(&buf);
        })
    });
    group.finish();
}

criterion_group!(benches, rtp_parse, seq_rewrite, vp8_patch);
criterion_main!(benches);
