//! The per-packet building blocks: `rtp_parse` (our `RtpIn` from header fields and a VP8
//! payload), `seq_rewrite` (one sequence number through `SeqRewriter`), `vp8_patch` (copying a
//! 1,000-byte payload into the transport's buffer with the descriptor patched).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use sfu::core::seq_rewriter::{Extender, SeqRewriter};
use sfu::core::testing::PacketBuilder;
use sfu::core::vp8::{Vp8Descriptor, Vp8Patch};
use sfu::core::{Codec, RtpIn, RtpOut};

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
    let out = RtpOut {
        ssrc: 1,
        seq: 1,
        timestamp: 1,
        marker: false,
        payload_type: 96,
        audio_level: None,
        payload: pkt.payload.clone(),
        vp8_patch: Some((
            desc,
            Vp8Patch {
                picture_id: Some(99),
                tl0_pic_idx: Some(1),
                key_idx: Some(2),
            },
        )),
    };
    let mut buf = Vec::with_capacity(1500);
    let mut group = c.benchmark_group("vp8_patch");
    group.throughput(Throughput::Bytes(1000));
    group.bench_function("1000B", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&out).write_payload(&mut buf);
            black_box(&buf);
        })
    });
    group.finish();
}

criterion_group!(benches, rtp_parse, seq_rewrite, vp8_patch);
criterion_main!(benches);
