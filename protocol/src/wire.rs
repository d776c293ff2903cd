//! Pull pages built from stored item bytes without decoding them.
//!
//! The server stores every log item as its postcard encoding ([`Item`]) and
//! a page is those bytes plus a little framing, so it copies each stored
//! item once, straight into the reply: a pull holds about its page in
//! memory, never a decoded copy and a re-encoded one besides. The framing
//! is postcard's, so the page decodes as an ordinary [`PullResponse`]
//! (tested below).

use serde::{Deserialize, Serialize};

use crate::{Change, Cursor, Envelope, EnvelopeNeed, Id, RotationDue, SafetyState, Signer};

/// An [`crate::Item`] to encode from a borrowed change or envelope (the
/// same bytes as the owned item, without copying a large ciphertext first).
/// Variants in the order of [`crate::Item`]'s.
#[derive(Serialize)]
pub enum ItemOf<'a> {
    Change(&'a Change),
    Envelope(&'a Envelope),
}

/// Borrowing mirrors of [`crate::Change`], [`crate::Envelope`] and
/// [`crate::Item`], field for field: postcard encodes a `Vec<u8>` and a
/// `&[u8]` alike, so these check an item's framing without copying it.
#[allow(dead_code)]
#[derive(Deserialize)]
struct ChangeRef<'a> {
    client_id: Id,
    case_id: Id,
    epoch: u32,
    author: Id,
    ciphertext: &'a [u8],
    signature: &'a [u8],
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct EnvelopeRef<'a> {
    case_id: Id,
    epoch: u32,
    recipient: Id,
    sealed_by: Id,
    enc: &'a [u8],
    ciphertext: &'a [u8],
    signature: &'a [u8],
    starts_epoch: bool,
}

#[allow(dead_code)]
#[derive(Deserialize)]
enum ItemRef<'a> {
    Change(#[serde(borrow)] ChangeRef<'a>),
    Envelope(#[serde(borrow)] EnvelopeRef<'a>),
    Removed { case_id: Id },
    Erased { case_id: Id },
}

/// Whether `bytes` is exactly one encoded [`crate::Item`] (checked without
/// copying it). Says nothing about signatures or content.
pub fn item_is_well_formed(bytes: &[u8]) -> bool {
    matches!(postcard::take_from_bytes::<ItemRef>(bytes), Ok((_, [])))
}

/// Room kept at the front of a page for the entry count (a varint of a
/// `u64` is at most 10 bytes).
const HEAD: usize = 10;

/// Appends postcard's varint encoding of `v` (7 bits a byte, low first).
fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A [`crate::PullResponse`] written entry by entry from stored bytes.
pub struct PageWriter {
    buf: Vec<u8>,
    entries: u64,
    item_bytes: usize,
}

impl Default for PageWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything of a [`crate::PullResponse`] after its entries, as
/// [`PageWriter::finish`] appends it.
pub struct PageTail<'a> {
    pub signers: &'a [Signer],
    pub needs: &'a [EnvelopeNeed],
    pub next: Cursor,
    pub more: bool,
    pub rotations: &'a [RotationDue],
    pub safety: &'a SafetyState,
    pub log_id: &'a crate::Id,
}

impl PageWriter {
    pub fn new() -> Self {
        Self {
            buf: vec![0; HEAD],
            entries: 0,
            item_bytes: 0,
        }
    }

    /// Appends one entry; `item` must be one encoded [`crate::Item`] (see
    /// [`item_is_well_formed`]).
    pub fn push(&mut self, seq: u64, item: &[u8]) {
        let need = item.len() + HEAD;
        if self.buf.capacity() - self.buf.len() < need {
            // A large item gets exactly its room (no doubling of a page
            // that is about to end); small ones grow as usual.
            if need > self.buf.len() {
                self.buf.reserve_exact(need);
            } else {
                self.buf.reserve(need);
            }
        }
        push_varint(&mut self.buf, seq);
        self.buf.extend_from_slice(item);
        self.entries += 1;
        self.item_bytes += item.len();
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes of items in the page so far.
    pub fn item_bytes(&self) -> usize {
        self.item_bytes
    }

    /// The encoded page: the entries, then the other fields.
    pub fn finish(mut self, tail: &PageTail) -> Vec<u8> {
        // A struct's fields are encoded one after the other, as a tuple's.
        self.buf.extend_from_slice(&crate::encode(&(
            tail.signers,
            tail.needs,
            tail.next,
            tail.more,
            tail.rotations,
            tail.safety,
            tail.log_id,
        )));
        let mut count = Vec::with_capacity(HEAD);
        push_varint(&mut count, self.entries);
        let start = HEAD - count.len();
        self.buf[start..HEAD].copy_from_slice(&count);
        self.buf.drain(..start);
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Change, Entry, Envelope, Item, PullResponse, Role};

    fn items() -> Vec<Item> {
        vec![
            Item::Change(Change {
                client_id: [1; 16],
                case_id: [2; 16],
                epoch: 0,
                author: [3; 16],
                ciphertext: vec![9; 300],
                signature: vec![8; 64],
            }),
            Item::Envelope(Envelope {
                case_id: [2; 16],
                epoch: 7,
                recipient: [4; 16],
                sealed_by: [3; 16],
                starts_epoch: false,
                enc: vec![5; 32],
                ciphertext: vec![6; 48],
                signature: vec![7; 64],
            }),
            Item::Removed { case_id: [2; 16] },
            Item::Erased { case_id: [2; 16] },
        ]
    }

    #[test]
    fn a_written_page_decodes_as_the_response_it_stands_for() {
        let items = items();
        let signers = vec![Signer {
            device_id: [3; 16],
            sign_pk: [1; 32],
            user_id: [4; 16],
            user_name: "Amy".into(),
            role: Role::Practitioner,
            team: Some("north".into()),
            revoked_at: None,
        }];
        let next = Cursor { seq: 300, sub: 5 };
        for n in [0, 1, 4, 200] {
            let mut page = PageWriter::new();
            let mut entries = Vec::new();
            for i in 0..n {
                let item = items[i % items.len()].clone();
                let bytes = crate::encode(&item);
                assert!(item_is_well_formed(&bytes));
                let seq = 1 + (i as u64) * 1000;
                page.push(seq, &bytes);
                entries.push(Entry { seq, item });
            }
            let safety = SafetyState {
                alerts: vec![],
                timers: vec![crate::SafetyTimer {
                    timer_id: [1; 16],
                    case_id: [2; 16],
                    user_id: [4; 16],
                    user_name: "Amy".into(),
                    team: Some("north".into()),
                    device_id: [3; 16],
                    started_at: 10,
                    until: 20,
                    alert_at: 30,
                    note: Some(crate::SealedNote {
                        epoch: 0,
                        ciphertext: vec![1; 40],
                    }),
                }],
            };
            let bytes = page.finish(&PageTail {
                signers: &signers,
                needs: &[],
                next,
                more: n > 1,
                rotations: &[],
                safety: &safety,
                log_id: &[5; 16],
            });
            let decoded: PullResponse = crate::decode(&bytes).unwrap();
            let expected = PullResponse {
                entries,
                signers: signers.clone(),
                needs: vec![],
                next,
                more: n > 1,
                rotations: vec![],
                safety: safety.clone(),
                log_id: [5; 16],
            };
            assert_eq!(format!("{decoded:?}"), format!("{expected:?}"));
        }
    }

    #[test]
    fn a_borrowed_item_encodes_as_the_owned_one() {
        let Item::Change(c) = items()[0].clone() else {
            unreachable!()
        };
        let Item::Envelope(e) = items()[1].clone() else {
            unreachable!()
        };
        assert_eq!(
            crate::encode(&ItemOf::Change(&c)),
            crate::encode(&Item::Change(c.clone()))
        );
        assert_eq!(
            crate::encode(&ItemOf::Envelope(&e)),
            crate::encode(&Item::Envelope(e.clone()))
        );
    }

    #[test]
    fn a_damaged_item_is_not_well_formed() {
        let bytes = crate::encode(&Item::Removed { case_id: [2; 16] });
        assert!(item_is_well_formed(&bytes));
        assert!(!item_is_well_formed(&bytes[..bytes.len() - 1]));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(!item_is_well_formed(&longer));
        assert!(!item_is_well_formed(&[9]));
    }
}
