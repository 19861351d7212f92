//! Seal+open cost per suite and payload size, against raw ring AES-128-GCM
//! on the same buffers (the baseline the ESP framing, replay check and
//! trailer handling are measured against). `cargo bench -p hip-esp`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hip_esp::{InboundSa, OutboundSa, Suite};
use ring::aead;

const SIZES: [usize; 4] = [64, 512, 1400, 8192];

fn esp(c: &mut Criterion) {
    let mut g = c.benchmark_group("seal+open");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        // Baseline: raw AEAD seal + open of `size` bytes, in place, same key size.
        let key =
            aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &[7; 16]).unwrap());
        let mut buf = vec![0u8; size + 16];
        g.bench_with_input(
            BenchmarkId::new("raw-ring-aes128gcm", size),
            &size,
            |b, &size| {
                let mut n = 0u64;
                b.iter(|| {
                    n += 1;
                    let mut nonce = [0u8; 12];
                    nonce[4..].copy_from_slice(&n.to_be_bytes());
                    let (data, tag_out) = buf.split_at_mut(size);
                    let tag = key
                        .seal_in_place_separate_tag(
                            aead::Nonce::assume_unique_for_key(nonce),
                            aead::Aad::from(&[1u8; 8]),
                            data,
                        )
                        .unwrap();
                    tag_out.copy_from_slice(tag.as_ref());
                    key.open_in_place(
                        aead::Nonce::assume_unique_for_key(nonce),
                        aead::Aad::from(&[1u8; 8]),
                        &mut buf[..],
                    )
                    .unwrap();
                })
            },
        );
        for suite in Suite::ALL {
            let enc = vec![3u8; suite.enc_key_len()];
            let auth = vec![4u8; suite.auth_key_len()];
            let out = OutboundSa::new(1, suite, &enc, &auth, [5; 16]).unwrap();
            let inb = InboundSa::new(1, suite, &enc, &auth).unwrap();
            let head = out.headroom();
            let mut buf = vec![0u8; head + size + out.tailroom()];
            g.bench_with_input(
                BenchmarkId::new(format!("{suite:?}"), size),
                &size,
                |b, &size| {
                    b.iter(|| {
                        let s = out.seal(&mut buf, head..head + size, 17).unwrap();
                        inb.open(&mut buf[s.range]).unwrap();
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, esp);
criterion_main!(benches);
