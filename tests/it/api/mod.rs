//! The public API: options and misuse, event listeners, and the database
//! against a `BTreeMap` model.

mod entry_limits;
mod event_listener;
mod model_proptest;
mod options_validation;
