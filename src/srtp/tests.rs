use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    hex::decode(s).expect("test vector is hex")
}

/// RFC 3711 Appendix B.3's master key and salt.
fn rfc3711_master() -> MasterKey {
    let mut ks = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
    ks.extend(hex("0EC675AD498AFEEBB6960B3AABE6"));
    MasterKey::new(Suite::AesCm128HmacSha1_80, &ks).expect("30 octets")
}

#[test]
fn rfc3711_b3_key_derivation_gives_the_published_session_keys() {
    let master = rfc3711_master();
    let mut key = [0u8; 16];
    let mut salt = [0u8; 14];
    let mut auth = [0u8; 94];
    derive(&master, LABEL_ENCRYPTION, &mut key);
    derive(&master, LABEL_SALT, &mut salt);
    derive(&master, LABEL_AUTH, &mut auth);
    assert_eq!(key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
    assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
    assert_eq!(
        auth.to_vec(),
        hex(
            "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE
             E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
             6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2"
        )
    );
}

#[test]
fn rfc3711_b2_aes_cm_keystream_matches_the_published_blocks() {
    let aes = Aes128::new_from_slice(&hex("2B7E151628AED2A6ABF7158809CF4F3C")).expect("16");
    let iv: [u8; 16] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000")
        .try_into()
        .expect("16");
    let mut ks = [0u8; 48];
    keystream_xor(&aes, &iv, &mut ks, true);
    assert_eq!(
        ks.to_vec(),
        hex(
            "E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB
             41E95B3BB0A2E8DD477901E4FCA894C0"
        )
    );
}

/// The packet libsrtp's own validation protects with the RFC 3711 B.3 master key
/// (SSRC 0xcafebabe, sequence 0x1234, ROC 0).
const PLAIN: &str = "800f1234decafbadcafebabe abababababababababababababababab";

#[test]
fn aes_cm_128_hmac_sha1_80_protects_the_reference_packet_bit_exact() {
    let mut ctx = Context::new(&rfc3711_master());
    let plain = hex(PLAIN);
    let mut buf = [0u8; 64];
    buf[..plain.len()].copy_from_slice(&plain);
    let len = ctx.protect(&mut buf, plain.len()).expect("protects");
    assert_eq!(
        buf[..len].to_vec(),
        hex("800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb")
    );
    let mut rx = Context::new(&rfc3711_master());
    let n = rx.unprotect(&mut buf[..len]).expect("authentic");
    assert_eq!(buf[..n].to_vec(), plain);
}

#[test]
fn aead_aes_128_gcm_protects_the_reference_packet_bit_exact() {
    // libsrtp's GCM validation: key 00..0f, salt a0..ab, the same plain packet.
    let mut ks = hex("000102030405060708090a0b0c0d0e0f");
    ks.extend(hex("a0a1a2a3a4a5a6a7a8a9aaab"));
    let master = MasterKey::new(Suite::AeadAes128Gcm, &ks).expect("28 octets");
    let mut ctx = Context::new(&master);
    let plain = hex(PLAIN);
    let mut buf = [0u8; 64];
    buf[..plain.len()].copy_from_slice(&plain);
    let len = ctx.protect(&mut buf, plain.len()).expect("protects");
    assert_eq!(
        buf[..len].to_vec(),
        hex(
            "800f1234decafbadcafebabe c5002ede04cfdd2eb91159e0880aa06e d2976826f796b201df3131a127e8a392"
        )
    );
    let mut rx = Context::new(&master);
    let n = rx.unprotect(&mut buf[..len]).expect("authentic");
    assert_eq!(buf[..n].to_vec(), plain);
}

fn packet(seq: u16, ssrc: u32, fill: u8) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[fill; 160]);
    p
}

fn protected(ctx: &mut Context, p: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; p.len() + 16];
    buf[..p.len()].copy_from_slice(p);
    let len = ctx.protect(&mut buf, p.len()).expect("protects");
    buf.truncate(len);
    buf
}

#[test]
fn every_suite_round_trips_across_the_sequence_number_wrap_out_of_order() {
    for suite in Suite::ALL {
        let master = MasterKey::from_random(suite, [7u8; 30]);
        let mut tx = Context::new(&master);
        let mut rx = Context::new(&master);
        let seqs = [65_533u16, 65_534, 65_535, 0, 1, 2];
        let sent: Vec<Vec<u8>> = seqs
            .iter()
            .map(|&s| protected(&mut tx, &packet(s, 42, s as u8)))
            .collect();
        assert_ne!(
            sent[0][12..172],
            packet(65_533, 42, 253)[12..],
            "payload is encrypted"
        );
        // Delivered out of order, the wrap included: each still decrypts to its plain packet.
        for i in [0usize, 2, 1, 4, 3, 5] {
            let mut b = sent[i].clone();
            let n = rx
                .unprotect(&mut b)
                .unwrap_or_else(|e| panic!("{suite:?} {i}: {e}"));
            assert_eq!(
                b[..n],
                packet(seqs[i], 42, seqs[i] as u8)[..],
                "{suite:?} packet {i}"
            );
        }
    }
}

#[test]
fn a_replayed_or_tampered_packet_is_refused_and_leaves_the_stream_intact() {
    for suite in Suite::ALL {
        let master = MasterKey::from_random(suite, [9u8; 30]);
        let mut tx = Context::new(&master);
        let mut rx = Context::new(&master);
        let first = protected(&mut tx, &packet(10, 1, 0xd5));
        let second = protected(&mut tx, &packet(11, 1, 0xd5));
        let mut b = first.clone();
        rx.unprotect(&mut b).expect("first is authentic");
        let mut again = first.clone();
        assert_eq!(
            rx.unprotect(&mut again),
            Err(SrtpError::Replayed { index: 10 })
        );
        let mut forged = second.clone();
        forged[20] ^= 1;
        assert_eq!(rx.unprotect(&mut forged), Err(SrtpError::Authentication));
        let mut b = second.clone();
        assert!(rx.unprotect(&mut b).is_ok(), "the real packet still passes");
    }
}

#[test]
fn a_packet_under_another_key_is_refused() {
    let mut tx = Context::new(&MasterKey::from_random(Suite::AesCm128HmacSha1_80, [1; 30]));
    let mut rx = Context::new(&MasterKey::from_random(Suite::AesCm128HmacSha1_80, [2; 30]));
    let mut b = protected(&mut tx, &packet(1, 1, 0));
    assert_eq!(rx.unprotect(&mut b), Err(SrtpError::Authentication));
}

#[test]
fn short_garbage_and_a_buffer_without_room_are_errors_not_panics() {
    let mut ctx = Context::new(&rfc3711_master());
    for len in 0..40 {
        let mut junk = vec![0x90u8; len];
        assert!(ctx.unprotect(&mut junk).is_err(), "{len} octets of junk");
    }
    let p = packet(1, 1, 0);
    let mut exact = p.clone();
    assert_eq!(
        ctx.protect(&mut exact, p.len()),
        Err(SrtpError::NoRoom {
            len: 172,
            capacity: 172
        })
    );
    assert_eq!(
        MasterKey::new(Suite::AesCm128HmacSha1_80, &[0; 29])
            .expect_err("short")
            .to_string(),
        "expected 30 octets of key and salt for AES_CM_128_HMAC_SHA1_80, found 29"
    );
}

#[test]
fn a_sequence_number_sent_twice_is_not_protected_twice_so_no_keystream_is_reused() {
    for suite in Suite::ALL {
        let mut tx = Context::new(&MasterKey::from_random(suite, [5u8; 30]));
        protected(&mut tx, &packet(7, 3, 0x11));
        let mut again = packet(7, 3, 0x22);
        again.resize(again.len() + 16, 0);
        assert_eq!(
            tx.protect(&mut again, 172),
            Err(SrtpError::Replayed { index: 7 }),
            "{suite:?}"
        );
        // The next packet still goes out (`protected` panics otherwise), and so does a
        // late one that was never sent.
        protected(&mut tx, &packet(9, 3, 0));
        protected(&mut tx, &packet(8, 3, 0));
    }
}
