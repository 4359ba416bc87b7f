//! The VP8 payload descriptor writer and reader (RFC 7741 §4.2), the frame header and the
//! synthetic payload layout a subscriber parses.

use loadtest::packet_tag::{PacketTag, TAG_LEN};
use loadtest::subscriber::read_payload;
use loadtest::vp8::{self, Vp8Descriptor};
use signalling_proto::MediaKind;

fn long(tid: u8, sync: bool, start: bool) -> Vp8Descriptor {
    Vp8Descriptor {
        non_reference: tid == 2,
        start_of_partition: start,
        partition_id: 0,
        picture_id: Some(0x1234),
        tl0_pic_idx: Some(0xAB),
        tid: Some(tid),
        layer_sync: sync,
        key_idx: Some(5),
    }
}

// The long form is X|N|S, I|L|T|K, M + 15-bit picture id, TL0PICIDX, TID|Y|KEYIDX: the bytes
// of RFC 7741's figure, and it parses back to the same fields.
#[test]
fn long_form_has_the_rfc_layout_and_round_trips() {
    let d = long(2, true, true);
    let mut out = Vec::new();
    d.write_long(&mut out);
    assert_eq!(out, [0xB0, 0xF0, 0x92, 0x34, 0xAB, 0xA5]);
    assert_eq!(Vp8Descriptor::parse(&out), Some((d, 6)));
    assert!(d.starts_frame());
}

// The reader accepts the forms an SFU may forward: no extension byte, 7-bit picture id,
// TID without KEYIDX.
#[test]
fn parser_reads_short_forms() {
    assert_eq!(
        Vp8Descriptor::parse(&[0x10]).map(|(d, n)| (d.start_of_partition, n)),
        Some((true, 1))
    );
    let (d, n) = Vp8Descriptor::parse(&[0x80, 0xA0, 0x12, 0x40]).unwrap();
    assert_eq!(
        (d.picture_id, d.tid, d.key_idx, n),
        (Some(0x12), Some(1), None, 4)
    );
    assert_eq!(
        Vp8Descriptor::parse(&[0x80, 0x80, 0x80]),
        None,
        "truncated picture id"
    );
    assert_eq!(Vp8Descriptor::parse(&[]), None);
}

// A keyframe header has the P bit clear and the start code; a delta frame's P bit is set.
#[test]
fn frame_headers_mark_keyframes() {
    let mut key = Vec::new();
    vp8::write_frame_header(&mut key, true, 1000, 1280, 720);
    assert_eq!(key.len(), vp8::frame_header_len(true));
    assert!(vp8::is_keyframe_header(&key));
    assert_eq!(&key[6..], &[0x00, 0x05, 0xD0, 0x02]);
    let mut delta = Vec::new();
    vp8::write_frame_header(&mut delta, false, 1000, 1280, 720);
    assert_eq!(delta.len(), vp8::frame_header_len(false));
    assert!(!vp8::is_keyframe_header(&delta));
}

// Three temporal layers follow 0,2,1,2; the first upper-layer frames after a keyframe are
// layer-sync frames.
#[test]
fn temporal_pattern_is_0212_with_sync_after_keyframes_and_every_8_frames() {
    let tids: Vec<u8> = (0..8).map(|n| vp8::temporal_pattern(n, 3).0).collect();
    assert_eq!(tids, [0, 2, 1, 2, 0, 2, 1, 2]);
    // libwebrtc's pattern: the TL2 and TL1 frames opening each 8-frame cycle reference only
    // TL0, and the first cycle after a keyframe references only the keyframe.
    let syncs: Vec<u64> = (0..24).filter(|&n| vp8::temporal_pattern(n, 3).1).collect();
    assert_eq!(syncs, [1, 2, 3, 9, 10, 17, 18]);
    assert_eq!(vp8::temporal_pattern(3, 1), (0, false));
}

fn tag(kind: MediaKind, keyframe: bool) -> PacketTag {
    PacketTag {
        kind,
        spatial: 2,
        keyframe,
        publisher: 7,
        group: 3,
        counter: 99,
        sent_at_us: 1_700_000_000_000_000,
    }
}

// The subscriber finds the tag after the descriptor and the keyframe header (first packet),
// after the descriptor alone (continuation), and after the Opus TOC byte (audio).
#[test]
fn subscriber_reads_tags_of_every_packet_kind() {
    let mut first = Vec::new();
    long(0, false, true).write_long(&mut first);
    vp8::write_frame_header(&mut first, true, 3000, 640, 360);
    tag(MediaKind::Video, true).write(&mut first);
    first.resize(1100, 0);
    assert_eq!(
        read_payload(&first),
        Some((tag(MediaKind::Video, true), true))
    );

    let mut next = Vec::new();
    long(0, false, false).write_long(&mut next);
    tag(MediaKind::Video, true).write(&mut next);
    assert_eq!(
        read_payload(&next),
        Some((tag(MediaKind::Video, true), false))
    );

    let mut audio = vec![0xFC];
    tag(MediaKind::Audio, false).write(&mut audio);
    audio.resize(120, 0);
    assert_eq!(
        read_payload(&audio),
        Some((tag(MediaKind::Audio, false), false))
    );

    assert_eq!(read_payload(&[0x10, 1, 2, 3]), None, "not ours");
    assert_eq!(TAG_LEN, 24);
}
