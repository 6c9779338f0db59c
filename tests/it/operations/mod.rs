//! Operations on a running database (issue 18): `checkpoint`.

mod checkpoint;
