//! Careful reads: a bundle path is read only when it is a regular file, never
//! through a link, never more than a cap; a file the user named is followed but
//! still only read when regular.

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::{OutputError, io, kind_of};

/// Largest file read back, from a bundle or from the machine apply compares with (the
/// biggest generated file is a few kilobytes).
pub const READ_CAP: u64 = 1 << 20;

/// Reads a regular file of at most `cap` bytes: `None` when it does not exist. A
/// symlink, FIFO, device or folder at `path` is an error naming it; the open never
/// follows a link and never waits on a FIFO, and the read stops at the cap.
pub fn read_regular(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, OutputError> {
    use rustix::fs::OFlags;
    let flags = (OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC).bits();
    let file = match fs::OpenOptions::new().read(true).custom_flags(flags.cast_signed()).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            // ELOOP from O_NOFOLLOW: the last component is a link.
            if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(OutputError::Symlink(path.display().to_string()));
            }
            return Err(io(path)(e));
        }
    };
    let meta = file.metadata().map_err(io(path))?;
    if !meta.is_file() {
        return Err(OutputError::NotRegular { path: path.display().to_string(), kind: kind_of(meta.file_type()) });
    }
    if meta.len() > cap {
        return Err(OutputError::TooLarge { path: path.display().to_string(), cap });
    }
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io(path))?;
    if bytes.len() as u64 > cap {
        return Err(OutputError::TooLarge { path: path.display().to_string(), cap });
    }
    Ok(Some(bytes))
}

/// Reads a file the user named (`--answers`, `--token-file`, `--ca`...): links are
/// followed, since the user chose the path, but only a regular file is read (never
/// a FIFO or a device, which would hang or never end), at most `cap` bytes, as UTF-8.
pub fn read_user_file(path: &Path, cap: u64) -> Result<String, OutputError> {
    use rustix::fs::OFlags;
    let flags = (OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC).bits();
    let file = fs::OpenOptions::new().read(true).custom_flags(flags.cast_signed()).open(path).map_err(io(path))?;
    let meta = file.metadata().map_err(io(path))?;
    if !meta.is_file() {
        return Err(OutputError::NotRegular { path: path.display().to_string(), kind: kind_of(meta.file_type()) });
    }
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io(path))?;
    if bytes.len() as u64 > cap {
        return Err(OutputError::TooLarge { path: path.display().to_string(), cap });
    }
    String::from_utf8(bytes)
        .map_err(|_| io(path)(std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")))
}

/// Refuses a symlink at `dir/rel` or at any folder between `dir` and it (the folder
/// itself may be a link: the user named it).
pub fn refuse_symlinks(dir: &Path, rel: &str) -> Result<(), OutputError> {
    let mut path = dir.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return Err(OutputError::Symlink(path.display().to_string())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(&path)(e)),
        }
    }
    Ok(())
}

/// Why an answers file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AnswersFileError {
    /// Missing, not a regular file, too large or unreadable.
    #[error("cannot read answers file {}: {source}", .path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: OutputError,
    },
}

/// Reads an answers file's text: a regular file of at most
/// [`crate::answers_file::MAX_FILE_BYTES`] (a FIFO, a device or a runaway file must not
/// hang the command).
pub fn read_answers_file(path: &Path) -> Result<String, AnswersFileError> {
    read_user_file(path, crate::answers_file::MAX_FILE_BYTES)
        .map_err(|source| AnswersFileError::Unreadable { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_cannot_be_read_is_a_usage_error() {
        let e = crate::error::Error::from(read_answers_file(Path::new("/nonexistent/answers.yaml")).unwrap_err());
        assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
        assert!(e.to_string().starts_with("cannot read answers file /nonexistent/answers.yaml: "), "{e}");
    }
}
