//! What kind of failure an error is: the one question a retry loop and a program's exit status
//! both ask.

/// What kind of failure an error is, whatever crate it comes from.
///
/// A retry loop reads it to decide whether to try again; a program maps it to an exit status
/// (the workspace's binaries: `Retriable` 1, `Permanent` 65, `Unreachable` 69, `Usage` 78). Each
/// library's public errors implement [`Classify`], and errors that wrap another take its kind,
/// so nobody needs to downcast a chain of causes to find out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The moment is at fault, not the request: throttling, a write conflict, a read-only
    /// replica during a failover, a lost answer. The same request can succeed later.
    Retriable,
    /// A service did not answer at all: a refused or reset connection, a timeout, a name that
    /// does not resolve. The same request can succeed once it is back.
    Unreachable,
    /// The input is bad in itself (an undecodable record, a file that does not parse, an item
    /// the service refuses as such): it fails the same way every time.
    Permanent,
    /// The settings or arguments cannot work (an invalid value, a file that cannot be written,
    /// missing credentials, an unknown stream): someone has to change them.
    Usage,
}

impl ErrorKind {
    /// Whether trying again, unchanged, may succeed ([`Retriable`](Self::Retriable) or
    /// [`Unreachable`](Self::Unreachable)).
    pub fn is_retriable(self) -> bool {
        matches!(self, ErrorKind::Retriable | ErrorKind::Unreachable)
    }

    /// The name: `retriable`, `unreachable`, `permanent`, `usage`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Retriable => "retriable",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Permanent => "permanent",
            ErrorKind::Usage => "usage",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that knows its [`ErrorKind`].
///
/// ```
/// use stream2neptune_common::{Classify, ErrorKind};
///
/// #[derive(Debug, thiserror::Error)]
/// enum FetchError {
///     #[error("no answer from {0}")]
///     NoAnswer(String),
///     #[error("bad record: {0}")]
///     Bad(String),
/// }
///
/// impl Classify for FetchError {
///     fn kind(&self) -> ErrorKind {
///         match self {
///             FetchError::NoAnswer(_) => ErrorKind::Unreachable,
///             FetchError::Bad(_) => ErrorKind::Permanent,
///         }
///     }
/// }
///
/// assert!(FetchError::NoAnswer("graph".into()).kind().is_retriable());
/// assert_eq!(FetchError::Bad("x".into()).kind(), ErrorKind::Permanent);
/// ```
pub trait Classify: std::error::Error {
    /// What kind of failure this is.
    fn kind(&self) -> ErrorKind;
}

/// Operating-system errors: those of the network mean a service did not answer; a port in
/// use, an address not available or a permission refused are settings; anything else is taken
/// as lasting (a missing file, a bad argument).
impl Classify for std::io::Error {
    fn kind(&self) -> ErrorKind {
        use std::io::ErrorKind as Io;
        match std::io::Error::kind(self) {
            Io::ConnectionRefused
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::NotConnected
            | Io::TimedOut
            | Io::HostUnreachable
            | Io::NetworkUnreachable
            | Io::BrokenPipe => ErrorKind::Unreachable,
            Io::Interrupted | Io::WouldBlock => ErrorKind::Retriable,
            Io::AddrInUse
            | Io::AddrNotAvailable
            | Io::PermissionDenied
            | Io::ReadOnlyFilesystem => ErrorKind::Usage,
            _ => ErrorKind::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_errors_are_unreachable_and_settings_are_usage() {
        let io = |k| std::io::Error::from(k);
        assert_eq!(
            Classify::kind(&io(std::io::ErrorKind::ConnectionRefused)),
            ErrorKind::Unreachable
        );
        assert_eq!(
            Classify::kind(&io(std::io::ErrorKind::AddrInUse)),
            ErrorKind::Usage
        );
        assert_eq!(
            Classify::kind(&io(std::io::ErrorKind::NotFound)),
            ErrorKind::Permanent
        );
        assert!(ErrorKind::Unreachable.is_retriable() && ErrorKind::Retriable.is_retriable());
        assert!(!ErrorKind::Permanent.is_retriable() && !ErrorKind::Usage.is_retriable());
    }
}
