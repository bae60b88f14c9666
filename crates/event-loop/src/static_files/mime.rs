//! The extension → media type table of static answers: read from `mimefile` (default
//! `/etc/mime.types`, as uWSGI), with a built-in table of the common web types when no
//! file can be read.

use std::collections::HashMap;
use std::path::Path;

/// The types a site's static directory usually holds, for hosts without
/// `/etc/mime.types` (slim containers). Extensions in lower case.
const BUILT_IN: &[(&str, &str)] = &[
    ("html", "text/html"),
    ("htm", "text/html"),
    ("css", "text/css"),
    ("js", "text/javascript"),
    ("mjs", "text/javascript"),
    ("json", "application/json"),
    ("map", "application/json"),
    ("txt", "text/plain"),
    ("csv", "text/csv"),
    ("xml", "application/xml"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("ico", "image/vnd.microsoft.icon"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    ("eot", "application/vnd.ms-fontobject"),
    ("pdf", "application/pdf"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tar", "application/x-tar"),
    ("wasm", "application/wasm"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("wav", "audio/wav"),
    ("webmanifest", "application/manifest+json"),
];

/// Extension → media type.
#[derive(Debug, Default)]
pub(crate) struct MimeTypes {
    by_ext: HashMap<String, String>,
}

impl MimeTypes {
    /// The table of `files` (each in `mime.types` form: `type ext ext ...`, `#` comments),
    /// or of `/etc/mime.types` when none is given; the built-in table when none can be
    /// read. A later file's extension wins over an earlier one's.
    pub(crate) fn load(files: &[String]) -> MimeTypes {
        let default = [String::from("/etc/mime.types")];
        let given = !files.is_empty();
        let files = if given { files } else { &default[..] };
        let mut table = MimeTypes::default();
        for file in files {
            match std::fs::read_to_string(Path::new(file)) {
                Ok(text) => table.add_mime_types(&text),
                // The default file missing is ordinary (slim images): no warning.
                Err(e) if given => log::warn!("mimefile {file}: {e}; not read"),
                Err(_) => {}
            }
        }
        if table.by_ext.is_empty() {
            for (ext, ty) in BUILT_IN {
                table.by_ext.insert((*ext).to_string(), (*ty).to_string());
            }
        }
        table
    }

    fn add_mime_types(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(ty) = words.next() else { continue };
            for ext in words {
                self.by_ext.insert(ext.to_ascii_lowercase(), ty.to_string());
            }
        }
    }

    /// The type of a file by its name's extension (the text after the last `.`, any case),
    /// as uWSGI's `uwsgi_get_mime_type`.
    pub(crate) fn of(&self, name: &[u8]) -> Option<&str> {
        let dot = name.iter().rposition(|&c| c == b'.')?;
        let ext = std::str::from_utf8(&name[dot + 1..]).ok()?;
        if ext.is_empty() || ext.contains('/') {
            return None;
        }
        self.by_ext
            .get(ext)
            .or_else(|| self.by_ext.get(&ext.to_ascii_lowercase()))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mime_types_file_is_read_and_the_built_in_table_stands_in() {
        let mut t = MimeTypes::default();
        t.add_mime_types(
            "# comment\ntext/css\t\tcss\nimage/jpeg jpeg jpg jpe # photo\n\nempty/type\n",
        );
        assert_eq!(t.of(b"/a/site.css"), Some("text/css"));
        assert_eq!(t.of(b"x.JPG"), Some("image/jpeg"));
        assert_eq!(t.of(b"x.empty"), None);
        assert_eq!(t.of(b"README"), None);
        assert_eq!(t.of(b"dir.d/README"), None);
        let built_in = MimeTypes::load(&["/nonexistent/mime.types".to_string()]);
        assert_eq!(built_in.of(b"app.js"), Some("text/javascript"));
        assert_eq!(built_in.of(b"logo.svg"), Some("image/svg+xml"));
    }
}
