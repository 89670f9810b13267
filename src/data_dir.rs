//! The gateway's data folder: created owner-only, written atomically, so a
//! crash never leaves a half-written key or cache file behind.

use std::io::Write;
use std::path::Path;

/// Creates `dir` (and its parents), readable by the owner only.
pub(crate) fn create_private(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates the file `path`, readable and writable by the owner only; fails
/// with `AlreadyExists` when it is there, so a file another process made
/// meanwhile is never replaced.
pub(crate) fn create_new_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// A fresh random 32-byte key as a key file holds it (base64).
pub(crate) fn new_key_text() -> zeroize::Zeroizing<String> {
    use base64::Engine as _;
    let key = zeroize::Zeroizing::new(rand::random::<[u8; 32]>());
    zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(*key))
}

/// The text of the private file `path`, which is created holding `fresh()`
/// (and its folder, owner-only) when missing; `created` says which. Two
/// processes starting at once agree: the loser of the race reads the
/// winner's file.
pub(crate) fn read_or_create(
    path: &Path,
    fresh: impl FnOnce() -> zeroize::Zeroizing<String>,
) -> std::io::Result<(zeroize::Zeroizing<String>, bool)> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok((zeroize::Zeroizing::new(text), false)),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private(dir)?;
    }
    match create_new_private(path) {
        Ok(mut file) => {
            let text = fresh();
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            Ok((text, true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((
            zeroize::Zeroizing::new(std::fs::read_to_string(path)?),
            false,
        )),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder, then
/// renames it into place: readers see the old file or the whole new one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = (|| {
        let mut file = create_new_private(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
