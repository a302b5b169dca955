//! Generator errors: every one points at the proto source and says how to fix it.

use std::fmt;

/// Where in a `.proto` file a problem is (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One problem in the user's input: where, in which RPC, what is wrong, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Option<Location>,
    /// The fully qualified RPC (`pkg.Service.Method`) the problem belongs to, if any.
    pub rpc: Option<String>,
    pub message: String,
    /// One sentence on how to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic {
            location: None,
            rpc: None,
            message: message.into(),
            help: None,
        }
    }

    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    pub fn rpc(mut self, rpc: impl Into<String>) -> Self {
        self.rpc = Some(rpc.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        write!(f, "error: ")?;
        if let Some(rpc) = &self.rpc {
            write!(f, "{rpc}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Why generation failed.
///
/// `Debug` prints what `Display` does, as the CLI prints it (every diagnostic with its file,
/// line and fix): a build script's `fn main() -> Result<(), Box<dyn Error>>` shows an error
/// with `Debug`, and a dump of the structure would bury the fix.
pub enum Error {
    /// The protos or their HttpRules are invalid: one diagnostic per problem, all reported at once.
    Invalid(Vec<Diagnostic>),
    /// Reading or writing a file failed.
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A template or the code formatter failed on the model: a bug in protogate, never user input.
    Internal(String),
}

impl Error {
    pub(crate) fn invalid(diagnostic: Diagnostic) -> Self {
        Error::Invalid(vec![diagnostic])
    }

    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(diagnostics) => {
                for (i, d) in diagnostics.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{d}")?;
                }
                Ok(())
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Internal(message) => write!(
                f,
                "internal error in protogate: {message}\n  help: this is a bug; please report it with the proto files that trigger it"
            ),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A build script's `main` returning `Box<dyn Error>` prints the error with `Debug`: it
    /// reads as the CLI's message, location and fix included.
    #[test]
    fn debug_prints_the_message_a_user_reads() {
        let error = Error::invalid(
            Diagnostic::new("GET rule has a body")
                .at(Some(Location {
                    file: "a.proto".to_string(),
                    line: 3,
                    column: 5,
                }))
                .rpc("pkg.S.M")
                .help("remove `body`"),
        );
        let shown = "a.proto:3:5: error: pkg.S.M: GET rule has a body\n  help: remove `body`";
        assert_eq!(format!("{error}"), shown);
        assert_eq!(format!("{error:?}"), shown);
        let boxed: Box<dyn std::error::Error> = Box::new(error);
        assert_eq!(format!("{boxed:?}"), shown);
    }
}
