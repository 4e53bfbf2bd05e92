//! Encryption at rest for packages and their spool files: XChaCha20-Poly1305 in the STREAM
//! construction (Hoang, Reyhanitabar, Rogaway, Vizár), 64 KiB chunks, each authenticated with
//! its position and a last-chunk flag, so truncation, reordering and tampering are all
//! detected. Nothing is held in memory beyond one chunk.
//!
//! File layout: `MAGIC` (8 bytes), a random 19-byte nonce prefix, then the chunks (each
//! [`CHUNK`] bytes of plaintext + 16 bytes of tag; the last one may be shorter).

use anyhow::{bail, Context, Result};
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::XChaCha20Poly1305;
use rand::RngCore;
use std::io::{self, Read, Write};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const MAGIC: &[u8; 8] = b"PIPKG\x01\0\0";
const PREFIX: usize = 19;
/// Bytes of a key.
pub const KEY_BYTES: usize = 32;

/// A new random key (for spool files that live as long as one build).
pub fn random_key() -> [u8; KEY_BYTES] {
    let mut k = [0u8; KEY_BYTES];
    rand::rng().fill_bytes(&mut k);
    k
}

fn cipher(key: &[u8]) -> Result<XChaCha20Poly1305> {
    XChaCha20Poly1305::new_from_slice(key)
        .map_err(|_| anyhow::anyhow!("A package key must be {KEY_BYTES} bytes"))
}

/// Encrypts everything written to it; [`EncryptWriter::finish`] writes the last chunk. Dropped
/// without `finish`, the output is truncated and will not decrypt.
pub struct EncryptWriter<W: Write> {
    inner: W,
    enc: Option<EncryptorBE32<XChaCha20Poly1305>>,
    buf: Vec<u8>,
}

impl<W: Write> EncryptWriter<W> {
    /// Writes the header to `inner` and returns the writer.
    pub fn new(mut inner: W, key: &[u8]) -> Result<Self> {
        let mut prefix = [0u8; PREFIX];
        rand::rng().fill_bytes(&mut prefix);
        inner
            .write_all(MAGIC)
            .context("Cannot write an encrypted file")?;
        inner
            .write_all(&prefix)
            .context("Cannot write an encrypted file")?;
        let enc = EncryptorBE32::from_aead(cipher(key)?, (&prefix).into());
        Ok(EncryptWriter {
            inner,
            enc: Some(enc),
            buf: Vec::with_capacity(CHUNK),
        })
    }

    /// Encrypts the rest as the last chunk and returns the inner writer, flushed.
    pub fn finish(mut self) -> Result<W> {
        let enc = self.enc.take().context("Encrypted file already finished")?;
        let ct = enc
            .encrypt_last(self.buf.as_slice())
            .map_err(|_| anyhow::anyhow!("Encryption failed"))?;
        self.inner
            .write_all(&ct)
            .context("Cannot write an encrypted file")?;
        self.inner
            .flush()
            .context("Cannot write an encrypted file")?;
        // `self` has no Drop impl, so the inner writer can be moved out.
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            if self.buf.len() == CHUNK {
                let enc = self
                    .enc
                    .as_mut()
                    .ok_or_else(|| io::Error::other("encrypted file already finished"))?;
                let ct = enc
                    .encrypt_next(self.buf.as_slice())
                    .map_err(|_| io::Error::other("encryption failed"))?;
                self.inner.write_all(&ct)?;
                self.buf.clear();
            }
            let n = rest.len().min(CHUNK - self.buf.len());
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Only whole chunks can be written before `finish`.
        self.inner.flush()
    }
}

/// Decrypts a file written by [`EncryptWriter`], chunk by chunk.
pub struct DecryptReader<R: Read> {
    inner: R,
    dec: Option<DecryptorBE32<XChaCha20Poly1305>>,
    /// The next ciphertext chunk, read ahead to tell the last one.
    ahead: Vec<u8>,
    /// Decrypted bytes not yet handed out (for the `Read` impl).
    out: Vec<u8>,
    pos: usize,
}

fn read_full(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut v)?;
    Ok(v)
}

impl<R: Read> DecryptReader<R> {
    /// Reads the header; fails on a file that is not ours.
    pub fn new(mut inner: R, key: &[u8]) -> Result<Self> {
        let head =
            read_full(&mut inner, MAGIC.len() + PREFIX).context("Cannot read an encrypted file")?;
        if head.len() != MAGIC.len() + PREFIX || &head[..MAGIC.len()] != MAGIC {
            bail!("Not an encrypted package (bad header)");
        }
        let prefix: [u8; PREFIX] = head[MAGIC.len()..].try_into().context("Bad nonce prefix")?;
        let dec = DecryptorBE32::from_aead(cipher(key)?, (&prefix).into());
        let ahead = read_full(&mut inner, CHUNK + TAG).context("Cannot read an encrypted file")?;
        Ok(DecryptReader {
            inner,
            dec: Some(dec),
            ahead,
            out: Vec::new(),
            pos: 0,
        })
    }

    /// The next chunk of plaintext; `None` after the last one. An error means the file is
    /// truncated, tampered with, or encrypted under another key.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let Some(dec) = self.dec.as_mut() else {
            return Ok(None);
        };
        let next =
            read_full(&mut self.inner, CHUNK + TAG).context("Cannot read an encrypted file")?;
        let current = std::mem::replace(&mut self.ahead, next);
        if self.ahead.is_empty() {
            let dec = self.dec.take().context("Decryptor gone")?;
            let pt = dec.decrypt_last(current.as_slice()).map_err(|_| {
                anyhow::anyhow!("The package does not decrypt (truncated, altered or another key)")
            })?;
            return Ok(Some(pt));
        }
        if current.len() != CHUNK + TAG {
            bail!("The package does not decrypt (a short chunk before the end)");
        }
        let pt = dec.decrypt_next(current.as_slice()).map_err(|_| {
            anyhow::anyhow!("The package does not decrypt (truncated, altered or another key)")
        })?;
        Ok(Some(pt))
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            match self
                .next_chunk()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e:#}")))?
            {
                None => return Ok(0),
                Some(c) => {
                    self.out = c;
                    self.pos = 0;
                }
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(len: usize) {
        let key = random_key();
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = EncryptWriter::new(Vec::new(), &key).expect("writer");
        for part in data.chunks(1000) {
            w.write_all(part).expect("write");
        }
        let ct = w.finish().expect("finish");
        let mut back = Vec::new();
        DecryptReader::new(ct.as_slice(), &key)
            .expect("reader")
            .read_to_end(&mut back)
            .expect("decrypt");
        assert_eq!(back, data, "length {len}");
    }

    #[test]
    fn round_trips_at_chunk_edges() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5] {
            roundtrip(len);
        }
    }

    #[test]
    fn truncation_tampering_and_another_key_are_refused() {
        let key = random_key();
        let mut w = EncryptWriter::new(Vec::new(), &key).expect("writer");
        w.write_all(&vec![42u8; 2 * CHUNK + 10]).expect("write");
        let ct = w.finish().expect("finish");
        let read = |bytes: &[u8], key: &[u8]| -> std::io::Result<Vec<u8>> {
            let mut out = Vec::new();
            DecryptReader::new(bytes, key)
                .map_err(|e| io::Error::other(e.to_string()))?
                .read_to_end(&mut out)?;
            Ok(out)
        };
        assert!(read(&ct, &key).is_ok());
        // Cut at a chunk boundary: the last chunk flag catches it.
        let cut = MAGIC.len() + PREFIX + CHUNK + TAG;
        assert!(
            read(&ct[..cut], &key).is_err(),
            "truncated at a chunk boundary"
        );
        assert!(
            read(&ct[..ct.len() - 1], &key).is_err(),
            "truncated by one byte"
        );
        let mut flipped = ct.clone();
        flipped[cut + 5] ^= 1;
        assert!(read(&flipped, &key).is_err(), "a flipped bit");
        assert!(read(&ct, &random_key()).is_err(), "another key");
        assert!(read(b"not a package at all, really", &key).is_err());
    }

    #[test]
    fn unfinished_writer_output_does_not_decrypt() {
        let key = random_key();
        let mut out = Vec::new();
        {
            let mut w = EncryptWriter::new(&mut out, &key).expect("writer");
            w.write_all(&vec![1u8; CHUNK + 10]).expect("write");
            // dropped without finish
        }
        let mut back = Vec::new();
        let r = DecryptReader::new(out.as_slice(), &key)
            .and_then(|mut r| r.read_to_end(&mut back).map_err(anyhow::Error::from));
        assert!(r.is_err());
    }
}
