//! [`VersionEdit`]: one change to the set of live tables, as the manifest
//! stores it. The encoding is specified in `docs/format/manifest.md`.

#![deny(clippy::indexing_slicing)]

use bytes::Bytes;

use crate::filename::MAX_FILE_NUMBER;
use crate::key::{DEFAULT_KEYSPACE, KeyspaceId, MAX_SEQNO, SeqNo};

/// Field tags. On disk: never renumber; retired tags stay as comments.
mod tag {
    pub const FORMAT_VERSION: u8 = 1;
    pub const LOG_NUMBER: u8 = 2;
    pub const NEXT_FILE_NUMBER: u8 = 3;
    pub const LAST_SEQNO: u8 = 4;
    pub const MERGE_OPERATOR: u8 = 5;
    pub const ADD_TABLE: u8 = 6;
    pub const DELETE_TABLE: u8 = 7;
    // Format 2 (keyspaces).
    pub const KEYSPACE: u8 = 8;
    pub const CREATE_KEYSPACE: u8 = 9;
    pub const DROP_KEYSPACE: u8 = 10;
    pub const NEXT_KEYSPACE_ID: u8 = 11;
}

/// The manifest format version this code writes.
pub(crate) const MANIFEST_FORMAT_VERSION: u32 = 2;

/// The oldest manifest format version this code reads: format 1 has one
/// keyspace, which opens as the default keyspace.
pub(crate) const OLDEST_FORMAT_VERSION: u32 = 1;

/// Whether this build reads manifests of format `version`.
pub(crate) fn is_supported(version: u32) -> bool {
    (OLDEST_FORMAT_VERSION..=MANIFEST_FORMAT_VERSION).contains(&version)
}

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

/// A change to one keyspace's durable state. Every field is optional; an
/// edit applies the fields it has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VersionEdit {
    /// The keyspace changed.
    pub keyspace: KeyspaceId,
    /// The keyspace is created by this edit, with this name.
    pub create: Option<String>,
    /// The keyspace is dropped by this edit, with all its tables.
    pub drop: bool,
    /// WALs numbered below this hold no write of the keyspace that is not
    /// in its tables.
    pub log_number: Option<u64>,
    /// The keyspace's merge operator's name, fixed when it is created.
    pub merge_operator: Option<String>,
    pub added: Vec<TableMeta>,
    pub deleted: Vec<u64>,
}

impl VersionEdit {
    /// An edit of `keyspace` that changes nothing yet.
    pub(crate) fn of(keyspace: KeyspaceId) -> Self {
        VersionEdit {
            keyspace,
            ..VersionEdit::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.create.is_none()
            && !self.drop
            && self.log_number.is_none()
            && self.merge_operator.is_none()
            && self.added.is_empty()
            && self.deleted.is_empty()
    }
}

/// One manifest record: the database-wide counters it sets and the edits
/// of the keyspaces it changes, applied together (all or nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ManifestRecord {
    pub format_version: Option<u32>,
    pub next_file_number: Option<u64>,
    pub last_seqno: Option<SeqNo>,
    /// The next unused keyspace id (ids are never reused).
    pub next_keyspace_id: Option<KeyspaceId>,
    /// At most one edit per keyspace.
    pub edits: Vec<VersionEdit>,
}

impl From<VersionEdit> for ManifestRecord {
    fn from(edit: VersionEdit) -> Self {
        ManifestRecord {
            edits: vec![edit],
            ..ManifestRecord::default()
        }
    }
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

impl ManifestRecord {
    /// Encodes the record as a manifest record payload: the database-wide
    /// fields, then each edit's fields after a `KEYSPACE` tag naming it
    /// (omitted for a first, non-empty edit of the default keyspace, so a
    /// database with one keyspace writes format 1's bytes).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(v) = self.format_version {
            out.push(tag::FORMAT_VERSION);
            out.extend_from_slice(&v.to_le_bytes());
        }
        if let Some(v) = self.next_file_number {
            out.push(tag::NEXT_FILE_NUMBER);
            put_u64(&mut out, v);
        }
        if let Some(v) = self.last_seqno {
            out.push(tag::LAST_SEQNO);
            put_u64(&mut out, v);
        }
        if let Some(v) = self.next_keyspace_id {
            out.push(tag::NEXT_KEYSPACE_ID);
            out.extend_from_slice(&v.to_le_bytes());
        }
        for (i, e) in self.edits.iter().enumerate() {
            if i > 0 || e.keyspace != DEFAULT_KEYSPACE || e.is_empty() {
                out.push(tag::KEYSPACE);
                out.extend_from_slice(&e.keyspace.to_le_bytes());
            }
            if let Some(name) = &e.create {
                out.push(tag::CREATE_KEYSPACE);
                put_bytes(&mut out, name.as_bytes());
            }
            if e.drop {
                out.push(tag::DROP_KEYSPACE);
            }
            if let Some(v) = e.log_number {
                out.push(tag::LOG_NUMBER);
                put_u64(&mut out, v);
            }
            if let Some(name) = &e.merge_operator {
                out.push(tag::MERGE_OPERATOR);
                put_bytes(&mut out, name.as_bytes());
            }
            for t in &e.added {
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
            for n in &e.deleted {
                out.push(tag::DELETE_TABLE);
                put_u64(&mut out, *n);
            }
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

    /// Decodes a manifest record payload. Keyspace fields before any
    /// `KEYSPACE` tag belong to the default keyspace (all of format 1's
    /// do). The error says what was wrong.
    pub(crate) fn decode(payload: &Bytes) -> Result<ManifestRecord, &'static str> {
        let mut d = Decoder {
            data: payload,
            pos: 0,
        };
        let mut record = ManifestRecord::default();
        // The edit the keyspace fields go to, created at its first field.
        let mut current: Option<VersionEdit> = None;
        while d.pos < payload.len() {
            let t = d.u8()?;
            match t {
                tag::FORMAT_VERSION => record.format_version = Some(d.u32()?),
                tag::NEXT_FILE_NUMBER => record.next_file_number = Some(d.u64()?),
                tag::LAST_SEQNO => record.last_seqno = Some(d.u64()?),
                tag::NEXT_KEYSPACE_ID => record.next_keyspace_id = Some(d.u32()?),
                tag::KEYSPACE => {
                    let id = d.u32()?;
                    record.edits.extend(current.take());
                    if record.edits.iter().any(|e| e.keyspace == id) {
                        return Err("a keyspace edited twice in one record");
                    }
                    current = Some(VersionEdit::of(id));
                }
                _ => {
                    let e = current.get_or_insert_with(|| VersionEdit::of(DEFAULT_KEYSPACE));
                    decode_keyspace_field(t, &mut d, e)?;
                }
            }
        }
        record.edits.extend(current);
        record.check()?;
        Ok(record)
    }

    /// Rejects what no writer produces: file and sequence numbers that
    /// would make later arithmetic overflow or a key's trailer lose bits
    /// (a checksum-valid forged record must not), and keyspace operations
    /// on the default keyspace.
    fn check(&self) -> Result<(), &'static str> {
        let files = self
            .next_file_number
            .into_iter()
            .chain(self.edits.iter().flat_map(|e| {
                e.log_number
                    .into_iter()
                    .chain(e.added.iter().map(|t| t.number))
                    .chain(e.deleted.iter().copied())
            }));
        if files.into_iter().any(|n| n > MAX_FILE_NUMBER) {
            return Err("file number out of range");
        }
        let seqnos = self.last_seqno.into_iter().chain(
            self.edits
                .iter()
                .flat_map(|e| e.added.iter().map(|t| t.max_seqno)),
        );
        if seqnos.into_iter().any(|s| s > MAX_SEQNO) {
            return Err("sequence number out of range");
        }
        let default_changed = self
            .edits
            .iter()
            .any(|e| e.keyspace == DEFAULT_KEYSPACE && (e.create.is_some() || e.drop));
        if default_changed {
            return Err("the default keyspace cannot be created or dropped");
        }
        Ok(())
    }
}

/// Decodes one keyspace field with tag `t` into `e`.
fn decode_keyspace_field(
    t: u8,
    d: &mut Decoder<'_>,
    e: &mut VersionEdit,
) -> Result<(), &'static str> {
    match t {
        tag::LOG_NUMBER => e.log_number = Some(d.u64()?),
        tag::MERGE_OPERATOR => {
            let b = d.bytes()?;
            let name = std::str::from_utf8(&b).map_err(|_| "merge operator name not utf-8")?;
            e.merge_operator = Some(name.to_owned());
        }
        tag::CREATE_KEYSPACE => {
            let b = d.bytes()?;
            let name = std::str::from_utf8(&b).map_err(|_| "keyspace name not utf-8")?;
            e.create = Some(name.to_owned());
        }
        tag::DROP_KEYSPACE => e.drop = true,
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
            e.added.push(t);
        }
        tag::DELETE_TABLE => e.deleted.push(d.u64()?),
        _ => return Err("unknown field tag"),
    }
    Ok(())
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

    fn sample() -> ManifestRecord {
        ManifestRecord {
            format_version: Some(MANIFEST_FORMAT_VERSION),
            next_file_number: Some(12),
            last_seqno: Some(300),
            next_keyspace_id: Some(4),
            edits: vec![
                VersionEdit {
                    log_number: Some(9),
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
                    ..VersionEdit::of(DEFAULT_KEYSPACE)
                },
                VersionEdit {
                    create: Some("index".into()),
                    log_number: Some(9),
                    ..VersionEdit::of(3)
                },
                VersionEdit {
                    drop: true,
                    ..VersionEdit::of(2)
                },
            ],
        }
    }

    #[test]
    fn numbers_no_writer_produces_are_rejected() {
        // Found by the `manifest_replay` fuzz target: a forged
        // NEXT_FILE_NUMBER of u64::MAX overflowed file-number arithmetic.
        let cases: [fn(&mut ManifestRecord); 7] = [
            |r| r.next_file_number = Some(u64::MAX),
            |r| r.edits[0].log_number = Some(MAX_FILE_NUMBER + 1),
            |r| r.edits[0].added[0].number = MAX_FILE_NUMBER + 1,
            |r| r.last_seqno = Some(MAX_SEQNO + 1),
            |r| r.edits[0].added[0].max_seqno = u64::MAX,
            |r| r.edits[0].drop = true,
            |r| r.edits[0].create = Some("default".into()),
        ];
        for forge in cases {
            let mut r = sample();
            forge(&mut r);
            let bytes = Bytes::from(r.encode());
            assert!(ManifestRecord::decode(&bytes).is_err(), "{r:?}");
        }
        assert!(ManifestRecord::decode(&Bytes::from(sample().encode())).is_ok());
    }

    #[test]
    fn golden_bytes() {
        let r = ManifestRecord::from(VersionEdit {
            log_number: Some(2),
            deleted: vec![5],
            ..VersionEdit::of(DEFAULT_KEYSPACE)
        });
        #[rustfmt::skip]
        let want: &[u8] = &[
            2, 2, 0, 0, 0, 0, 0, 0, 0, // log number 2
            7, 5, 0, 0, 0, 0, 0, 0, 0, // delete table 5
        ];
        assert_eq!(
            r.encode(),
            want,
            "one default-keyspace edit: format 1's bytes"
        );
        let r = ManifestRecord::from(VersionEdit {
            create: Some("ix".into()),
            ..VersionEdit::of(1)
        });
        #[rustfmt::skip]
        let want: &[u8] = &[
            8, 1, 0, 0, 0,                // keyspace 1
            9, 2, 0, 0, 0, b'i', b'x',    // created, named "ix"
        ];
        assert_eq!(r.encode(), want);
    }

    #[test]
    fn round_trips() {
        let r = sample();
        assert_eq!(ManifestRecord::decode(&Bytes::from(r.encode())), Ok(r));
    }

    #[test]
    fn a_keyspace_edited_twice_in_one_record_is_refused() {
        let mut r = sample();
        r.edits[2].keyspace = 3;
        assert!(ManifestRecord::decode(&Bytes::from(r.encode())).is_err());
    }

    #[test]
    fn truncations_and_bad_tags_never_decode_to_the_original() {
        // Records are checksummed by the log framing; here we only require
        // that no cut decodes to the full record and none panics.
        let r = sample();
        let bytes = r.encode();
        for cut in 1..bytes.len() {
            let got = ManifestRecord::decode(&Bytes::copy_from_slice(&bytes[..cut]));
            assert_ne!(got.as_ref().ok(), Some(&r), "cut at {cut}");
        }
        let mut bad = bytes;
        bad[0] = 99;
        assert!(ManifestRecord::decode(&Bytes::from(bad)).is_err());
    }

    #[test]
    fn leading_format_version_is_read_alone() {
        let mut bytes = sample().encode();
        assert_eq!(
            ManifestRecord::leading_format_version(&bytes),
            Some(MANIFEST_FORMAT_VERSION)
        );
        bytes[1] = 9;
        bytes.push(200); // a field of that future version
        assert_eq!(ManifestRecord::leading_format_version(&bytes), Some(9));
        assert_eq!(ManifestRecord::leading_format_version(&bytes[..4]), None);
        let no_version = ManifestRecord::from(VersionEdit {
            log_number: Some(1),
            ..VersionEdit::of(DEFAULT_KEYSPACE)
        });
        assert_eq!(
            ManifestRecord::leading_format_version(&no_version.encode()),
            None
        );
    }
}
