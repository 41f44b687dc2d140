//! Reading and writing the operators file. The parsing and editing are pure
//! ([`crate::operators`]); only the file system calls live here, with the other I/O.

use std::io::{self, Write};
use std::path::Path;

use crate::operators::Operators;

impl Operators {
    /// Reads and validates the operators file. A missing file means no operators (a fresh
    /// install answers calls before anyone has an account); any other read error, and every
    /// problem in the file, is an error (`file:line:col: …`).
    pub fn load(path: &Path) -> Result<Operators, Vec<String>> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Operators::parse(&text, &file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Operators::default()),
            Err(e) => Err(vec![format!("{file}: cannot read the operators file: {e}")]),
        }
    }
}

/// The file's text, or `""` when it does not exist yet.
pub fn read_or_empty(path: &Path) -> io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e),
    }
}

/// Replaces the file with `text` atomically: a temporary file beside it, flushed to disk,
/// then renamed over it, so a crash or a reload in between never sees half a file. An
/// existing file's permissions are kept (it holds HA1 digests: whoever restricted it meant
/// it).
pub fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
