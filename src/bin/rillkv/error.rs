//! The CLI's error: what went wrong and which exit code it means.

use std::fmt;
use std::io;
use std::process::ExitCode;

use rillkv::ErrorKind;

/// Exit code for a missing key or found damage.
pub const EXIT_NOT_OK: u8 = 1;
/// Exit code for usage, I/O and other errors.
pub const EXIT_ERROR: u8 = 2;

/// An error that ends the command.
#[derive(Debug)]
pub enum CliError {
    /// Bad arguments, or arguments that do not fit the database.
    Usage(String),
    /// From the database.
    Db(rillkv::Error),
    /// Writing output or a file.
    Io(String, io::Error),
}

impl CliError {
    pub fn usage(msg: impl Into<String>) -> Self {
        CliError::Usage(msg.into())
    }

    /// Prints the error to stderr and returns its exit code. A closed
    /// pipe (`rillkv scan DIR | head`) ends quietly.
    pub fn report(&self) -> ExitCode {
        if let CliError::Io(_, e) = self
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            return ExitCode::SUCCESS;
        }
        eprintln!("rillkv: error: {self}");
        ExitCode::from(match self {
            CliError::Db(e) if e.kind() == ErrorKind::Corruption => EXIT_NOT_OK,
            _ => EXIT_ERROR,
        })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => f.write_str(m),
            CliError::Db(e) => write!(f, "{e}"),
            CliError::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<rillkv::Error> for CliError {
    fn from(e: rillkv::Error) -> Self {
        CliError::Db(e)
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        CliError::Io("cannot write output".to_owned(), e)
    }
}
