//! [`VersionEdit`]: one change to the set of live tables, as the manifest
//! stores it. The encoding is specified in `docs/format/manifest.md`.

#![deny(clippy::indexing_slicing)]

use bytes::Bytes;

use crate::filename::MAX_FILE_NUMBER;
use crate::key::{MAX_SEQNO, SeqNo};

/// Field tags. On disk: never renumber; retired tags stay as comments.
mod tag {
    pub const FORMAT_VERSION: u8 = 1;
    pub const LOG_NUMBER: u8 = 2;
    pub const NEXT_FILE_NUMBER: u8 = 3;
    pub const LAST_SEQNO: u8 = 4;
    pub const MERGE_OPERATOR: u8 = 5;
    pub const ADD_TABLE: u8 = 6;
    pub const DELETE_TABLE: u8 = 7;
}

/// The manifest format version this code writes and reads.
pub(crate) const MANIFEST_FORMAT_VERSION: u32 = 1;

/// What the manifest knows about one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableMeta {
    /// File number (`NNNNNN.rkt`).
    pub number: u64,
    /// The sorted run the table belongs to.
    pub run: u64,
    /// File size in bytes.
    pub size: u64,
    /// Smallest and largest user key in the table.
    pub smallest: Bytes,
    pub largest: Bytes,
    /// Smallest and largest sequence number in the table.
    pub min_seqno: SeqNo,
    pub max_seqno: SeqNo,
    /// Number of entries.
    pub entries: u64,
}

/// A change to the database's durable state. Every field is optional; an
/// edit applies the fields it has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VersionEdit {
    pub format_version: Option<u32>,
    /// WALs numbered below this hold nothing that is not in a table.
    pub log_number: Option<u64>,
    pub next_file_number: Option<u64>,
    pub last_seqno: Option<SeqNo>,
    /// The merge operator's name, fixed when the database is created.
    pub merge_operator: Option<String>,
    pub added: Vec<TableMeta>,
    pub deleted: Vec<u64>,
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

impl VersionEdit {
    /// Encodes the edit as a manifest record payload.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(v) = self.format_version {
            out.push(tag::FORMAT_VERSION);
            out.extend_from_slice(&v.to_le_bytes());
        }
        if let Some(v) = self.log_number {
            out.push(tag::LOG_NUMBER);
            put_u64(&mut out, v);
        }
        if let Some(v) = self.next_file_number {
            out.push(tag::NEXT_FILE_NUMBER);
            put_u64(&mut out, v);
        }
        if let Some(v) = self.last_seqno {
            out.push(tag::LAST_SEQNO);
            put_u64(&mut out, v);
        }
        if let Some(name) = &self.merge_operator {
            out.push(tag::MERGE_OPERATOR);
            put_bytes(&mut out, name.as_bytes());
        }
        for t in &self.added {
            out.push(tag::ADD_TABLE);
            put_u64(&mut out, t.number);
            put_u64(&mut out, t.run);
            put_u64(&mut out, t.size);
            put_bytes(&mut out, &t.smallest);
            put_bytes(&mut out, &t.largest);
            put_u64(&mut out, t.min_seqno);
            put_u64(&mut out, t.max_seqno);
            put_u64(&mut out, t.entries);
        }
        for n in &self.deleted {
            out.push(tag::DELETE_TABLE);
            put_u64(&mut out, *n);
        }
        out
    }

    /// The version a payload declares in a leading `FORMAT_VERSION` field,
    /// read without decoding the rest: a newer format may also hold fields
    /// this build does not know, and the version is what to report then.
    pub(crate) fn leading_format_version(payload: &[u8]) -> Option<u32> {
        match payload {
            [tag::FORMAT_VERSION, a, b, c, d, ..] => Some(u32::from_le_bytes([*a, *b, *c, *d])),
            _ => None,
        }
    }

    /// Decodes a manifest record payload. The error says what was wrong.
    pub(crate) fn decode(payload: &Bytes) -> Result<VersionEdit, &'static str> {
        let mut d = Decoder {
            data: payload,
            pos: 0,
        };
        let mut edit = VersionEdit::default();
        while d.pos < payload.len() {
            match d.u8()? {
                tag::FORMAT_VERSION => edit.format_version = Some(d.u32()?),
                tag::LOG_NUMBER => edit.log_number = Some(d.u64()?),
                tag::NEXT_FILE_NUMBER => edit.next_file_number = Some(d.u64()?),
                tag::LAST_SEQNO => edit.last_seqno = Some(d.u64()?),
                tag::MERGE_OPERATOR => {
                    let b = d.bytes()?;
                    let name =
                        std::str::from_utf8(&b).map_err(|_| "merge operator name not utf-8")?;
                    edit.merge_operator = Some(name.to_owned());
                }
                tag::ADD_TABLE => {
                    let t = TableMeta {
                        number: d.u64()?,
                        run: d.u64()?,
                        size: d.u64()?,
                        smallest: d.bytes()?,
                        largest: d.bytes()?,
                        min_seqno: d.u64()?,
                        max_seqno: d.u64()?,
                        entries: d.u64()?,
                    };
                    if t.smallest > t.largest || t.min_seqno > t.max_seqno {
                        return Err("table with an inverted key or sequence range");
                    }
                    edit.added.push(t);
                }
                tag::DELETE_TABLE => edit.deleted.push(d.u64()?),
                _ => return Err("unknown field tag"),
            }
        }
        edit.check_ranges()?;
        Ok(edit)
    }

    /// Rejects file numbers and sequence numbers no writer produces, so a
    /// checksum-valid but forged edit cannot make later arithmetic overflow
    /// or a key's trailer lose bits.
    fn check_ranges(&self) -> Result<(), &'static str> {
        let files = [self.log_number, self.next_file_number]
            .into_iter()
            .flatten()
            .chain(self.added.iter().map(|t| t.number))
            .chain(self.deleted.iter().copied());
        if files.into_iter().any(|n| n > MAX_FILE_NUMBER) {
            return Err("file number out of range");
        }
        let seqnos = self
            .last_seqno
            .into_iter()
            .chain(self.added.iter().map(|t| t.max_seqno));
        if seqnos.into_iter().any(|s| s > MAX_SEQNO) {
            return Err("sequence number out of range");
        }
        Ok(())
    }
}

struct Decoder<'a> {
    data: &'a Bytes,
    pos: usize,
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or("field runs past the record")?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        self.take(1)?.first().copied().ok_or("missing byte")
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(b.try_into().map_err(|_| "short u32")?))
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| "short u64")?))
    }

    fn bytes(&mut self) -> Result<Bytes, &'static str> {
        let n = self.u32()? as usize;
        let start = self.pos;
        self.take(n)?;
        Ok(self.data.slice(start..start + n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VersionEdit {
        VersionEdit {
            format_version: Some(MANIFEST_FORMAT_VERSION),
            log_number: Some(9),
            next_file_number: Some(12),
            last_seqno: Some(300),
            merge_operator: Some("u64add".into()),
            added: vec![TableMeta {
                number: 10,
                run: 10,
                size: 4096,
                smallest: Bytes::from_static(b"a"),
                largest: Bytes::from_static(b"z"),
                min_seqno: 1,
                max_seqno: 300,
                entries: 77,
            }],
            deleted: vec![3],
        }
    }

    #[test]
    fn numbers_no_writer_produces_are_rejected() {
        // Found by the `manifest_replay` fuzz target: a forged
        // NEXT_FILE_NUMBER of u64::MAX overflowed file-number arithmetic.
        let cases: [fn(&mut VersionEdit); 5] = [
            |e| e.next_file_number = Some(u64::MAX),
            |e| e.log_number = Some(MAX_FILE_NUMBER + 1),
            |e| e.added[0].number = MAX_FILE_NUMBER + 1,
            |e| e.last_seqno = Some(MAX_SEQNO + 1),
            |e| e.added[0].max_seqno = u64::MAX,
        ];
        for forge in cases {
            let mut e = sample();
            forge(&mut e);
            let bytes = Bytes::from(e.encode());
            assert!(VersionEdit::decode(&bytes).is_err(), "{e:?}");
        }
        assert!(VersionEdit::decode(&Bytes::from(sample().encode())).is_ok());
    }

    #[test]
    fn golden_bytes() {
        let e = VersionEdit {
            log_number: Some(2),
            deleted: vec![5],
            ..Default::default()
        };
        #[rustfmt::skip]
        let want: &[u8] = &[
            2, 2, 0, 0, 0, 0, 0, 0, 0, // log number 2
            7, 5, 0, 0, 0, 0, 0, 0, 0, // delete table 5
        ];
        assert_eq!(e.encode(), want);
    }

    #[test]
    fn round_trips() {
        let e = sample();
        assert_eq!(VersionEdit::decode(&Bytes::from(e.encode())), Ok(e));
    }

    #[test]
    fn truncations_and_bad_tags_never_decode_to_the_original() {
        // Records are checksummed by the log framing; here we only require
        // that no cut decodes to the full edit and none panics.
        let e = sample();
        let bytes = e.encode();
        for cut in 1..bytes.len() {
            let r = VersionEdit::decode(&Bytes::copy_from_slice(&bytes[..cut]));
            assert_ne!(r.as_ref().ok(), Some(&e), "cut at {cut}");
        }
        let mut bad = bytes;
        bad[0] = 99;
        assert!(VersionEdit::decode(&Bytes::from(bad)).is_err());
    }

    #[test]
    fn leading_format_version_is_read_alone() {
        let mut bytes = sample().encode();
        assert_eq!(
            VersionEdit::leading_format_version(&bytes),
            Some(MANIFEST_FORMAT_VERSION)
        );
        bytes[1] = 9;
        bytes.push(200); // a field of that future version
        assert_eq!(VersionEdit::leading_format_version(&bytes), Some(9));
        assert_eq!(VersionEdit::leading_format_version(&bytes[..4]), None);
        let no_version = VersionEdit {
            log_number: Some(1),
            ..Default::default()
        };
        assert_eq!(
            VersionEdit::leading_format_version(&no_version.encode()),
            None
        );
    }
}
